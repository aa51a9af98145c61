# Two commands: `make run` (set up, then the sandbox and the service in the
# foreground) and `make test` (set up, then every check). Both run as root on
# a fresh Debian machine and install what they need.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# What the unit and service tests need (speech engines, sox, openssl for the ARI password
# hash, PostgreSQL's server programs: every store and service test runs on SQLite and on
# a PostgreSQL server of the test session's own), and what the sandbox adds (the Asterisk
# root, a SIP peer, captures).
UNIT_DEBS := espeak-ng flite sox libsox-fmt-mp3 openssl postgresql prometheus
# systemd-analyze checks the packaged unit (tests/unit/test_packaging.py): a Debian
# install has it, a container image may not.
UNIT_DEBS += systemd
DEBS := $(UNIT_DEBS) mmdebstrap sip-tester tshark
PYTEST_ARGS ?=

.PHONY: run cluster test lint unit e2e bench bench-prepare bench-compare bench-amd bench-verify \
	bench-cluster \
	bench-dead-air bench-dashboard \
	bench-venv deps lock \
	unit-deps venv sounds root render clean

run: deps venv sounds root
	$(PY) -m sandbox.lab run

# Two service instances (8081, 8082) on one PostgreSQL database, with the PBX and the
# simulated carrier: see "Several nodes" in the README.
cluster: deps venv sounds root
	$(PY) -m sandbox.cluster

test: deps venv sounds root lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check ari_app sandbox tests bench
	$(VENV)/bin/mypy

unit: unit-deps venv
	$(PY) -m pytest tests/unit tests/service $(PYTEST_ARGS)

e2e: deps venv sounds root
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

# Benchmarks print numbers; they are not part of `make test`. `make bench`: speech
# preparation, then dead air, capacity and API latency side by side with a call file
# and a direct-ARI script (under 15 minutes), answering-machine detection on a corpus
# of greetings (about 2 minutes), the verify API at 200 requests a second (about 1
# minute), SQLite beside PostgreSQL and the shared queue's grants (about 2 minutes),
# the dashboard over a real run (about 4 minutes), then the table and chart.
bench: bench-prepare bench-compare bench-amd bench-verify bench-cluster bench-dashboard
	$(PY) -m bench.report

bench-prepare: deps venv
	$(PY) -m bench.prepare

bench-compare: deps bench-venv sounds root
	$(PY) -m bench.compare --calls 50

bench-amd: deps venv sounds root
	$(PY) -m bench.amd

bench-verify: deps venv sounds root
	$(PY) -m bench.verify_api

bench-cluster: deps venv sounds root
	$(PY) -m bench.cluster

bench-dead-air: deps venv sounds root
	$(PY) -m bench.dead_air --calls 50

# The Grafana dashboard drawn over a real run (about 4 minutes): docs/dashboard.png.
bench-dashboard: deps venv sounds root
	$(PY) -m bench.dashboard

# The lock holds the bench extra too: the virtualenv has what the benchmarks need.
bench-venv: venv

# Debian packages: installed only when one is missing, so a second run is quick.
define install_debs
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	  | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "[setup] installing Debian packages:$$missing"; \
	  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then \
	    echo "[setup] no system PostgreSQL cluster: the tests start their own"; \
	    mkdir -p /etc/postgresql-common; \
	    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf; \
	  fi; \
	  export DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    echo "[setup] no service is started by this install (prometheus, postgresql)"; \
	    trap 'rm -f /usr/sbin/policy-rc.d' EXIT INT TERM; \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; \
	  fi; \
	  apt-get update -q && apt-get install -y -q --no-install-recommends \
	    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $$missing \
	    || exit $$?; \
	  case " $$missing " in *" prometheus "*) if [ -d /run/systemd/system ]; then \
	    echo "[setup] prometheus: only promtool is used; its service stays off at boot"; \
	    systemctl disable -q prometheus 2>/dev/null || true; fi;; esac; \
	fi
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "[setup] installing python3-venv"; apt-get install -y -q python3-venv; }
endef

deps:
	$(call install_debs,$(DEBS))

unit-deps:
	$(call install_debs,$(UNIT_DEBS))

# Every dependency as requirements.lock pins it (hashes checked), then the project itself,
# editable, built by the locked setuptools. `pip check` stops at a dependency that
# pyproject.toml asks for and the lock lacks.
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml requirements.lock ari_app/__init__.py  # (its version)
	@echo "[setup] Python virtualenv in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@$(VENV)/bin/pip check -q >/dev/null || { $(VENV)/bin/pip check; \
	  echo "[setup] requirements.lock is behind pyproject.toml: make lock"; exit 1; }
	@touch $@

# requirements.lock: every dependency of the service and of its test and bench extras,
# pinned with hashes, for CPython 3.11 on x86_64 Linux. After a change to the dependencies
# in pyproject.toml: `make lock` (other pins kept), `make lock LOCK_ARGS=--upgrade` (the
# newest of everything). pip-tools runs in a throwaway virtualenv, never in .venv.
LOCK_VENV := /tmp/ari-app-lock-venv
LOCK_ARGS ?=
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q --disable-pip-version-check pip-tools
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile -q --generate-hashes \
	  --allow-unsafe --extra test --extra bench --strip-extras --no-emit-index-url \
	  --no-emit-find-links $(LOCK_ARGS) -o requirements.lock pyproject.toml
	rm -rf $(LOCK_VENV)

sounds: sounds/voices/.made
sounds/voices/.made: sounds/make-sounds.sh
	sh sounds/make-sounds.sh
	@touch $@

root: venv
	$(PY) -m sandbox.lab build-root

render: venv
	$(PY) -m ari_app --config sandbox/ari-app.yaml render --out var/rendered

clean:
	rm -rf var $(VENV) sounds/voices
