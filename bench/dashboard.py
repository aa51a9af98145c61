"""The Grafana dashboard drawn over a real run: the sandbox, our service, a Prometheus
scraping its /metrics every second, and a few minutes of mixed traffic; then each panel
of monitoring/grafana-dashboard.json is drawn from Prometheus into docs/dashboard.png.

    make bench-dashboard     (or: .venv/bin/python -m bench.dashboard [--seconds 150])

The traffic: two calls a second, most answered, some busy (…486), some never answered
(…480), some over the trunk that answers 503 (failing over to the next carrier); a burst
of 40 calls in the middle on a trunk of 16 channels, so the queue grows and drains; a
verification every 4 s, to a person who presses 1 (…1771) or one who never does (…1773),
each with one wrong code checked. The bench never learns a code, so none is approved:
conversion reads 0, as it would for traffic pumping.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.compare import api_body, bench_config
from bench.dashboard_png import DASHBOARD, render, run_prometheus
from sandbox.api import ApiProcess
from sandbox.lab import CHECKOUT, VAR, running
from sandbox.run import ARI_PASSWORD

OUT = CHECKOUT / "docs" / "dashboard.png"
CHANNELS = 16
"""The trunk's channels: the burst of 40 queues behind them."""


def dashboard_api() -> ApiProcess:
    """The service on the bench config, with a trunk small enough to queue a burst."""
    data = yaml.safe_load(bench_config().read_text())
    data["carriers"]["74445609"] |= {"max_channels": CHANNELS, "max_cps": 20}
    data["storage"]["path"] = "bench-dashboard.sqlite3"
    config = VAR / "bench-dashboard.yaml"
    config.write_text(yaml.safe_dump(data))
    api = ApiProcess(log_path=VAR / "log" / "api-bench-dashboard.log", config=config,
                     key_path=VAR / "api-key-bench-dashboard")
    api.start_fresh()
    return api


def call(n: int) -> dict[str, Any]:
    body = api_body(True, n)
    kind = n % 20
    if kind == 3:
        body["to"] = f"+1212{n % 10000:04d}486"
    elif kind == 7:
        body["to"] = "+12125550480"
    elif kind == 11:
        body["carrier_id"] = "flaky"
    return body


async def traffic(url: str, key: str, seconds: int) -> dict[str, int]:
    sent: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async def post(path: str, body: Any) -> Any:
            async with http.post(f"{url}{path}", json=body) as response:
                sent[f"{path.split('/')[1]} {response.status}"] = \
                    sent.get(f"{path.split('/')[1]} {response.status}", 0) + 1
                return await response.json()

        async def verification(n: int) -> None:
            person = "1771" if n % 2 == 0 else "1773"
            started = await post("/verify", {"to": f"+1212{n % 1000:03d}{person}"})
            if "id" in started:
                await asyncio.sleep(5)
                await post(f"/verify/{started['id']}/check", {"code": "000000"})

        tasks: list[asyncio.Task[Any]] = []
        begin = time.monotonic()
        tick = 0
        while time.monotonic() - begin < seconds:
            tasks.append(asyncio.create_task(post("/voice/call/play", call(tick))))
            if tick % 8 == 0:
                tasks.append(asyncio.create_task(verification(tick)))
            if tick == seconds:  # half way (two ticks a second): the burst
                tasks += [asyncio.create_task(post("/voice/call/play", call(10_000 + i)))
                          for i in range(40)]
            tick += 1
            await asyncio.sleep(max(0.0, begin + tick * 0.5 - time.monotonic()))
        await asyncio.gather(*tasks)
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=150)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with running(ARI_PASSWORD) as lab:
        api = dashboard_api()
        try:
            storage = VAR / "bench-prometheus"
            with run_prometheus(f"127.0.0.1:{api.url.rsplit(':', 1)[1]}", storage,
                                key_file=api.key_path) as prometheus:
                start = time.time()
                print(f"[bench] {args.seconds} s of traffic, Prometheus at {prometheus}",
                      flush=True)
                sent = asyncio.run(traffic(api.url, api.ensure_key(), args.seconds))
                print(f"[bench] answers: {json.dumps(sent, sort_keys=True)}", flush=True)
                time.sleep(30)  # the last calls end, verifications' calls too
                out = render(json.loads(DASHBOARD.read_text()), prometheus, start, time.time(),
                             args.out)
        finally:
            api.stop()
            lab.instance("pbx").cli("channel request hangup all")
    print(f"[bench] wrote {out.relative_to(CHECKOUT)}")


if __name__ == "__main__":
    main()
