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
UNIT_DEBS := espeak-ng flite sox libsox-fmt-mp3 openssl postgresql
DEBS := $(UNIT_DEBS) mmdebstrap sip-tester tshark
PYTEST_ARGS ?=

.PHONY: run cluster test lint unit e2e bench bench-prepare bench-compare bench-amd bench-verify \
	bench-cluster \
	bench-dead-air \
	bench-venv deps \
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
# then the table and chart.
bench: bench-prepare bench-compare bench-amd bench-verify bench-cluster
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

bench-venv: $(VENV)/.bench
$(VENV)/.bench: $(VENV)/.installed
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[test,bench]'
	@touch $@

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
	  apt-get update -q && apt-get install -y -q --no-install-recommends \
	    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $$missing; \
	fi
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "[setup] installing python3-venv"; apt-get install -y -q python3-venv; }
endef

deps:
	$(call install_debs,$(DEBS))

unit-deps:
	$(call install_debs,$(UNIT_DEBS))

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@echo "[setup] Python virtualenv in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

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
