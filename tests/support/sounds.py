"""Audio made by sox, for tests that need real bytes in each format."""

from __future__ import annotations

import subprocess


def wav(seconds: float = 0.5, rate: int = 22050, tone: int = 440) -> bytes:
    return subprocess.run(["sox", "-n", "-t", "wav", "-r", str(rate), "-", "synth", str(seconds),
                           "sine", str(tone)], capture_output=True, check=True).stdout


def mp3(source: bytes | None = None) -> bytes:
    return subprocess.run(["sox", "-t", "wav", "-", "-t", "mp3", "-"],
                          input=source or wav(), capture_output=True, check=True).stdout


def ogg() -> bytes:
    return subprocess.run(["sox", "-t", "wav", "-", "-t", "ogg", "-"], input=wav(),
                          capture_output=True, check=True).stdout
