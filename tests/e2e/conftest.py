"""End-to-end fixtures: the real sandbox (Asterisk 22 + simulated carrier) and the real service.

The service runs as its own process (`python -m ari_app serve`) so tests can
restart it. Everything listens on loopback only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from sandbox.api import ApiProcess
from sandbox.lab import VAR, Lab, running
from sandbox.run import ARI_PASSWORD


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
    # Tests marked `last` look at what the whole run left behind (logs): run them last.
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.fail("the end-to-end tests need root (chroot and a bind mount): run `make test`")
    # A clean database (with its API keys) and API-managed carriers for every run.
    for stale in VAR.glob("*.sqlite3*"):
        stale.unlink()
    for stale in [*VAR.glob("carriers.yaml*"), VAR / "api-key"]:
        stale.unlink(missing_ok=True)
    with running(ARI_PASSWORD) as lab:
        yield lab


@pytest.fixture(scope="session")
def service(lab: Lab) -> Iterator[ApiProcess]:
    service = ApiProcess(log_path=VAR / "log" / "api-test.log")
    service.start()
    try:
        yield service
    finally:
        service.stop()
