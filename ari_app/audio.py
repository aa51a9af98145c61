"""Audio conversion to what Asterisk plays without transcoding: 8 kHz mono.

Every prepared sound is written as `<base>.sln` (16-bit linear), `<base>.ulaw`
and `<base>.alaw` side by side, and played by its base name, so Asterisk picks
the file that matches the call's codec.
"""

from __future__ import annotations

import asyncio
import io
import os
import wave
from pathlib import Path

from ari_app.errors import MediaError
from ari_app.process import run

FORMATS = {
    "sln": ("-e", "signed-integer", "-b", "16", "-t", "raw"),
    "ulaw": ("-e", "u-law", "-b", "8", "-t", "raw"),
    "alaw": ("-e", "a-law", "-b", "8", "-t", "raw"),
}
SAMPLE_RATE = 8000


async def _sox(args: list[str], data: bytes, timeout: float) -> bytes:
    return await run(["sox", *args], data, timeout=timeout, error=MediaError)


_TRIM = ["silence", "1", "0.02", "0.5%"]


async def to_slin(data: bytes, source_type: str, *, trim_end: bool = False,
                  timeout: float = 30) -> bytes:
    """Decode WAV/MP3 bytes to 8 kHz mono 16-bit linear, level normalised, leading
    silence trimmed (and trailing silence too with `trim_end`, for clips whose gaps we set)."""
    trim = [*_TRIM, "reverse", *_TRIM, "reverse"] if trim_end else _TRIM
    return await _sox(
        ["-V1", "--ignore-length", "-t", source_type, "-",
         "-r", str(SAMPLE_RATE), "-c", "1", *FORMATS["sln"], "-", *trim, "norm", "-3"],
        data, timeout,
    )


def silence(ms: int) -> bytes:
    """`ms` milliseconds of 8 kHz 16-bit linear silence."""
    return bytes(2 * SAMPLE_RATE * ms // 1000)


async def write_formats(slin: bytes, base: Path, *, timeout: float = 30) -> None:
    """Write `base.sln`, `base.ulaw` and `base.alaw`, each whole or not at all."""
    raw_in = ["-t", "raw", "-r", str(SAMPLE_RATE), "-c", "1", *FORMATS["sln"][:4], "-"]
    encoded = await asyncio.gather(
        _sox([*raw_in, "-r", str(SAMPLE_RATE), *FORMATS["ulaw"], "-"], slin, timeout),
        _sox([*raw_in, "-r", str(SAMPLE_RATE), *FORMATS["alaw"], "-"], slin, timeout),
    )
    base.parent.mkdir(parents=True, exist_ok=True)
    for ext, data in zip(("sln", "ulaw", "alaw"), (slin, *encoded), strict=True):
        tmp = base.with_name(f".{base.name}.{ext}.tmp")
        tmp.write_bytes(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, base.with_name(f"{base.name}.{ext}"))


def duration(slin: bytes) -> float:
    return len(slin) / 2 / SAMPLE_RATE


def duration_of(sln: Path) -> float:
    return sln.stat().st_size / 2 / SAMPLE_RATE


def wav(slin: bytes) -> bytes:
    """8 kHz linear audio as a WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(slin)
    return buffer.getvalue()


def sniff(data: bytes) -> str | None:
    """The audio container by its first bytes: 'wav', 'mp3', 'ogg' or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None
