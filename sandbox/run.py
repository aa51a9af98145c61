"""`make run`: the sandbox and the service in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType

from sandbox.api import API, ApiProcess
from sandbox.lab import CHECKOUT, Lab, say

ARI_PASSWORD = "sandbox&ari#pass+word@1"
"""Also in sandbox/ari-app.yaml; punctuation on purpose."""


def stop_signal() -> threading.Event:
    """Set by the first SIGTERM or Ctrl-C: the foreground runs stop then."""
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return stopping


def run_foreground() -> None:
    stopping = stop_signal()
    lab = Lab(ari_password=ARI_PASSWORD)
    api = ApiProcess()
    try:
        lab.start()
        api.start()
        say(f"API ready on {API} (OpenAPI: {API}/openapi.json)")
        say("place a first call (the simulated carrier answers and records it):")
        print(
            f"\n  API key (made on the first run): {api.key_path.relative_to(CHECKOUT)}\n"
            "  export AUTH=\"Authorization: Bearer $(cat var/api-key)\"\n"
            f"  curl -s -X POST {API}/voice/call/play -H \"$AUTH\" "
            "-H 'Content-Type: application/json' \\\n"
            "       -d @tests/data/seed-tts.json\n"
            f"  curl -s -H \"$AUTH\" {API}/voice/call/status/<request_id>\n"
            f"  curl -s -H \"$AUTH\" {API}/carriers   # carrier_id 'flaky' is refused (503) "
            "and fails over\n\n"
            "  recordings: var/recordings/<request_id>.wav   logs: var/log/, "
            "var/asterisk/*/log/\n  Ctrl-C stops everything.\n",
            flush=True,
        )
        while not stopping.is_set() and api.running():
            time.sleep(0.2)
    finally:
        say("stopping")
        api.stop()
        lab.stop()
        say("stopped")
