"""End-to-end fixtures: the real sandbox (Asterisk 22 + simulated carrier) and the real service.

The service runs as its own process (`python -m ari_app serve`) so tests can
restart it. Everything listens on loopback only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import urllib3

from sandbox.lab import CHECKOUT, CONFIG, VAR, Lab
from sandbox.run import API, ARI_PASSWORD

DATA = Path(__file__).resolve().parent.parent / "data"
FINAL = {"completed", "busy", "no_answer", "failed", "canceled"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@dataclass
class Service:
    """The API process; `restart()` stops it and starts a new one on the same database."""

    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    http: urllib3.PoolManager = field(default_factory=lambda: urllib3.PoolManager(retries=False))

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ari_app", "--config", str(CONFIG), "serve"],
            cwd=CHECKOUT, stdout=log, stderr=log,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"ari-app serve exited; see {self.log_path}"
            try:
                if self.http.request("GET", f"{API}/openapi.json", timeout=1).status == 200:
                    return
            except urllib3.exceptions.HTTPError:
                time.sleep(0.1)
        raise AssertionError("ari-app serve did not answer within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def restart(self) -> None:
        self.stop()
        self.start()

    def post(self, body: Any, *, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
        data = raw if raw is not None else json.dumps(body).encode()
        response = self.http.request("POST", f"{API}/voice/call/play", body=data,
                                     headers={"Content-Type": "application/json"}, timeout=10)
        return response.status, json.loads(response.data)

    def status(self, request_id: str) -> dict[str, Any]:
        response = self.http.request("GET", f"{API}/voice/call/status/{request_id}", timeout=10)
        assert response.status == 200, response.data
        return json.loads(response.data)

    def place(self, body: Any) -> str:
        code, answer = self.post(body)
        assert code == 202, answer
        assert answer["code"] == 0 and answer["data"] == "accepted"
        return str(answer["request_id"])

    def wait_final(self, request_id: str, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(request_id)
            if status["state"] in FINAL:
                return status
            time.sleep(0.2)
        raise AssertionError(f"call {request_id} not final after {timeout} s: {status}")


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.fail("the end-to-end tests need root (chroot and a bind mount): run `make test`")
    # A clean database and recordings for every run.
    for stale in ("ari-app.sqlite3", "ari-app.sqlite3-wal", "ari-app.sqlite3-shm"):
        (VAR / stale).unlink(missing_ok=True)
    lab = Lab(ari_password=ARI_PASSWORD)
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="session")
def service(lab: Lab) -> Iterator[Service]:
    service = Service(log_path=VAR / "log" / "api-test.log")
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
