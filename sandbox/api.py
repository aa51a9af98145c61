"""The service as a separate process on the sandbox config, and a small client for it.

Used by `make run`, the end-to-end tests and the benchmarks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import urllib3
import yaml

from sandbox.lab import CHECKOUT, CONFIG, VAR

API = "http://127.0.0.1:8080"
KEY = VAR / "api-key"
FINAL = frozenset({"completed", "busy", "no_answer", "failed", "canceled"})


@dataclass
class ApiProcess:
    """`ari-app serve`; output goes to `log_path`, or the terminal when it is None."""

    log_path: Path | None = None
    config: Path = CONFIG
    url: str = API
    key_path: Path = KEY
    process: subprocess.Popen[bytes] | None = None
    http: urllib3.PoolManager = field(
        default_factory=lambda: urllib3.PoolManager(retries=False, maxsize=64))
    auth: dict[str, str] = field(default_factory=dict)

    def ensure_key(self) -> str:
        """The sandbox's API key: made on the first start, kept in `key_path` (mode 0600)."""
        if not self.key_path.exists():
            subprocess.run(
                [sys.executable, "-m", "ari_app", "--config", str(self.config), "keys",
                 "create", "--name", "sandbox", "--out", str(self.key_path)],
                cwd=CHECKOUT, check=True, stdout=subprocess.DEVNULL,
            )
        key = self.key_path.read_text(encoding="utf-8").strip()
        self.auth = {"Authorization": f"Bearer {key}"}
        return key

    def start(self, timeout: float = 30) -> None:
        self.ensure_key()
        log: IO[bytes] | None = self.log_path.open("ab") if self.log_path else None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ari_app", "--config", str(self.config), "serve"],
            cwd=CHECKOUT, stdout=log, stderr=log,
        )
        if log is not None:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ari-app serve exited with {self.process.returncode}")
            try:
                if self.http.request("GET", f"{self.url}/openapi.json", timeout=1,
                                     headers=self.auth).status == 200:
                    return
            except urllib3.exceptions.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"ari-app serve did not answer within {timeout:.0f} s")

    def start_fresh(self) -> None:
        """Start on an empty database and a new API key: a service of its own beside the
        sandbox's (the fault and security tests, the bench)."""
        database = self.config.parent / yaml.safe_load(self.config.read_text())["storage"]["path"]
        for stale in [*database.parent.glob(f"{database.name}*"), self.key_path]:
            stale.unlink(missing_ok=True)
        self.start()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as a crash or the OOM killer would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        response = self.http.request(method, f"{self.url}{path}", body=data, timeout=10,
                                     headers={"Content-Type": "application/json",
                                              **self.auth, **(headers or {})})
        return response.status, json.loads(response.data)

    def post(self, body: Any, *, raw: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        data = raw if raw is not None else json.dumps(body).encode()
        response = self.http.request("POST", f"{self.url}/voice/call/play", body=data,
                                     headers={"Content-Type": "application/json",
                                              **self.auth, **(headers or {})}, timeout=10)
        return response.status, json.loads(response.data)

    def preview(self, body: Any) -> bytes:
        """The WAV a call with this body's playlist plays (POST /voice/playlist/render)."""
        response = self.http.request("POST", f"{self.url}/voice/playlist/render",
                                     body=json.dumps(body).encode(), timeout=30,
                                     headers={"Content-Type": "application/json", **self.auth})
        if response.status != 200:
            raise RuntimeError(f"preview refused: {response.status} {response.data[:200]!r}")
        return bytes(response.data)

    def cancel(self, request_id: str) -> tuple[int, dict[str, Any]]:
        return self.request("DELETE", f"/voice/call/{request_id}")

    def status(self, request_id: str) -> dict[str, Any]:
        code, body = self.request("GET", f"/voice/call/status/{request_id}")
        if code != 200:
            raise RuntimeError(f"status of {request_id}: HTTP {code}")
        return body  # type: ignore[no-any-return]

    def place(self, body: Any) -> str:
        code, answer = self.post(body)
        if code != 202 or answer.get("data") != "accepted":
            raise RuntimeError(f"call refused: {code} {answer}")
        return str(answer["request_id"])

    def wait_final(self, request_id: str, timeout: float = 90,
                   poll: float = 0.1) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.status(request_id)
            if status["state"] in FINAL:
                return status
            time.sleep(poll)
        raise TimeoutError(f"call {request_id} not final after {timeout:.0f} s: {status}")

    def wait_state(self, request_id: str, states: set[str],
                   timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(request_id)
            if status["state"] in states:
                return status
            time.sleep(0.05)
        raise AssertionError(f"{request_id} never reached {states}: {self.status(request_id)}")
