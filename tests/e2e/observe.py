"""What the end-to-end tests read off the sandbox: the calls each Asterisk processed, the
simulated carrier's recordings, its cap on our trunk and the INVITEs it received, and
the canonical requests."""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sandbox.lab import VAR, Instance, Lab

DATA = Path(__file__).resolve().parent.parent / "data"


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


def carrier_cap(lab: Lab, channels: int) -> None:
    """The carrier refuses (503) a call over `channels` live calls on our trunk, and
    counts it; the count starts again at 0."""
    lab.instance("carrier").cli(f"dialplan set global TRUNK_CAP_pbx {channels}")
    lab.instance("carrier").cli("dialplan set global OVER_CAP_pbx 0")


def refused_over_cap(lab: Lab) -> int:
    """Calls the carrier refused for being over our trunk's cap since `carrier_cap`."""
    match = re.search(r"OVER_CAP_pbx=(\d+)",
                      lab.instance("carrier").cli("dialplan show globals"))
    assert match, "the carrier's dialplan has no OVER_CAP_pbx"
    return int(match.group(1))


def invites(request_ids: list[str]) -> dict[str, int]:
    """How many INVITEs the carrier received for each of these requests (its log)."""
    log = (VAR / "asterisk" / "carrier" / "log" / "messages.log").read_text()
    counted = dict.fromkeys(request_ids, 0)
    # The NOTICE lines only: the verbose trace of Log() repeats the text.
    for found in re.findall(r"\] NOTICE\[.*: INVITE for request ([0-9a-f-]+)", log):
        if found in counted:
            counted[found] += 1
    return counted


SHORT = [{"type": "tts", "play": "Hello.", "options": {"language": "en-US"}}]
"""A playlist of about a second."""


def tts_call(to: str, playlist: list[dict[str, Any]]) -> dict[str, Any]:
    """The canonical TTS request to `to`, saying `playlist`."""
    return {**seed("tts"), "to": to, "playlist": playlist}


def active_calls(instance: Instance) -> int:
    """The calls an Asterisk instance has up now."""
    out = instance.cli("core show channels count")
    return int(out.split(" active call")[0].split()[-1]) if " active call" in out else 0


def timestamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals (start, end) that were open at one moment."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    live = peak = 0
    for _, step in edges:
        live += step
        peak = max(peak, live)
    return peak
