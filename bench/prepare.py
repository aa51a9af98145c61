"""Speech preparation time of the canonical TTS request, cold (empty cache) and cached.

    make bench-prepare     (or: .venv/bin/python -m bench.prepare)

No Asterisk needed: this is the work done before a call dials.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from ari_app.app import build_media
from ari_app.config import parse
from ari_app.request import parse_request
from ari_app.settings import Current
from sandbox.lab import CHECKOUT, CONFIG

RESULTS = CHECKOUT / "bench" / "results"


async def measure(cold_runs: int, cached_runs: int) -> dict[str, object]:
    body = json.loads((CHECKOUT / "tests/data/seed-tts.json").read_text())
    cold, cached = [], []
    for _ in range(cold_runs):
        with tempfile.TemporaryDirectory() as tmp:
            data = yaml.safe_load(CONFIG.read_text())
            data["media"]["dir"] = data["media"]["asterisk_dir"] = str(Path(tmp) / "media")
            settings = parse(data, base=CONFIG.parent)
            request = parse_request(body, settings)
            media, fetcher = build_media(Current(settings))
            start = time.perf_counter()
            await media.prepare(request.playlist)
            cold.append((time.perf_counter() - start) * 1000)
            for _ in range(cached_runs // cold_runs):
                start = time.perf_counter()
                await media.prepare(request.playlist)
                cached.append((time.perf_counter() - start) * 1000)
            await fetcher.close()
    return {
        "request": "tests/data/seed-tts.json (two TTS entries, 6 digits each)",
        "cold_ms": {"median": round(statistics.median(cold), 1), "runs": len(cold)},
        "cached_ms": {"median": round(statistics.median(cached), 2),
                      "p95": round(statistics.quantiles(cached, n=20)[-1], 2),
                      "runs": len(cached)},
    }


def main() -> None:
    report = asyncio.run(measure(cold_runs=5, cached_runs=200))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "prepare.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
