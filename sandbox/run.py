"""`make run`: the sandbox and the service in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from types import FrameType

from sandbox.lab import CHECKOUT, CONFIG, Lab, say

API = "http://127.0.0.1:8080"
ARI_PASSWORD = "sandbox&ari#pass+word@1"


def start_api() -> subprocess.Popen[bytes]:
    """Start `ari-app serve` on the sandbox config and wait until it answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ari_app", "--config", str(CONFIG), "serve"], cwd=CHECKOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"ari-app serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{API}/openapi.json", timeout=1):
                return process
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("ari-app serve did not answer within 30 s")


def run_foreground() -> None:
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    lab = Lab(ari_password=ARI_PASSWORD)
    api = None
    try:
        lab.start()
        api = start_api()
        say(f"API ready on {API} (OpenAPI: {API}/openapi.json)")
        say("place a first call (the simulated carrier answers and records it):")
        print(
            f"\n  curl -s -X POST {API}/voice/call/play -H 'Content-Type: application/json' \\\n"
            "       -d @../shared/examples/seed-tts.json\n"
            f"  curl -s {API}/voice/call/status/<request_id>\n\n"
            "  recordings: var/recordings/<request_id>.wav   logs: var/log/, "
            "var/asterisk/*/log/\n  Ctrl-C stops everything.\n",
            flush=True,
        )
        while not stopping and api.poll() is None:
            time.sleep(0.2)
    finally:
        say("stopping")
        if api is not None and api.poll() is None:
            api.terminate()
            try:
                api.wait(timeout=15)
            except subprocess.TimeoutExpired:
                api.kill()
        lab.stop()
        say("stopped")
