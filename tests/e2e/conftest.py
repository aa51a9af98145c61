"""End-to-end fixtures: the real sandbox (Asterisk 22 + simulated carrier) and the real service.

The service runs as its own process (`python -m ari_app serve`) so tests can
restart it. Everything listens on loopback only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.api import ApiProcess
from sandbox.lab import VAR, Lab, running
from sandbox.run import ARI_PASSWORD

DATA = Path(__file__).resolve().parent.parent / "data"
Service = ApiProcess


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
def service(lab: Lab) -> Iterator[Service]:
    service = ApiProcess(log_path=VAR / "log" / "api-test.log")
    service.start()
    try:
        yield service
    finally:
        service.stop()


def calls_processed(lab: Lab, name: str) -> int:
    """How many calls an Asterisk instance has seen since it started."""
    out = lab.instance(name).cli("core show calls")
    match = re.search(r"(\d+) calls? processed", out)
    assert match, out
    return int(match.group(1))


def seed(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"seed-{name}.json").read_text())


def recording(request_id: str, timeout: float = 10) -> Path:
    """The carrier's WAV of a call; MixMonitor closes it a moment after hangup."""
    path = VAR / "recordings" / f"{request_id}.wav"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size > 44:
            size = path.stat().st_size
            time.sleep(0.3)
            if path.stat().st_size == size:
                return path
        time.sleep(0.1)
    raise AssertionError(f"no recording {path}")


def wav_seconds(path: Path) -> float:
    out = subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True)
    return float(out.stdout)
