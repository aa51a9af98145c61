"""The verify API's latency: p50/p99 of `POST /verify` and of a code check at 200 requests a
second, with the service's CPU time per 1000 requests.

    make bench-verify       (or: .venv/bin/python -m bench.verify_api [--rate 200 --seconds 20])

The sandbox runs; the service runs on the bench config with the carrier limited to one
channel, so the calls the verifications place wait in the queue (what is measured is
the API: validating, making and sealing the code, storing the verification and its
call). Each `POST /verify` goes to a number of its own (a second one to the same number
would be a resend). The checks then send a wrong code, one per verification: a check
reads the verification, hashes the code under the key, compares in constant time and
counts the attempt (an approval writes as much; the bench never knows a code).
Results: bench/results/verify.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from typing import Any

from bench.compare import cpu_seconds, fresh_api, number
from bench.load import open_loop
from sandbox.lab import CHECKOUT, running
from sandbox.run import ARI_PASSWORD

RESULTS = CHECKOUT / "bench" / "results"


def measure(rate: int, seconds: int) -> dict[str, Any]:
    api = fresh_api(queue_only=True)
    try:
        key = api.ensure_key()
        assert api.process is not None
        pid = api.process.pid
        cpu0 = cpu_seconds(pid)
        started, answers = asyncio.run(open_loop(
            api.url, key, rate, seconds,
            lambda n: ("POST", "/verify", {"to": number(n), "expires_in": 1800}),
            ok=frozenset({201})))
        started["cpu_ms_per_request"] = round(
            (cpu_seconds(pid) - cpu0) / started["requests"] * 1000, 3)
        ids = [a["id"] for a in answers if isinstance(a, dict) and "id" in a]
        print(f"POST /verify at {rate}/s: p50 {started['p50_ms']} ms, p99 {started['p99_ms']} "
              f"ms, {started['errors']} errors, {started['cpu_ms_per_request']} CPU-ms each",
              flush=True)
        cpu0 = cpu_seconds(pid)
        checked, _ = asyncio.run(open_loop(
            api.url, key, rate, min(seconds, len(ids) // rate),
            lambda n: ("POST", f"/verify/{ids[n]}/check", {"code": "000000"}),
            ok=frozenset({200})))
        checked["cpu_ms_per_request"] = round(
            (cpu_seconds(pid) - cpu0) / checked["requests"] * 1000, 3)
        print(f"POST /verify/{{id}}/check at {rate}/s: p50 {checked['p50_ms']} ms, p99 "
              f"{checked['p99_ms']} ms, {checked['errors']} errors, "
              f"{checked['cpu_ms_per_request']} CPU-ms each", flush=True)
        return {"start": started, "check": checked}
    finally:
        api.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    with running(ARI_PASSWORD) as lab:
        result = measure(args.rate, args.seconds)
        lab.instance("pbx").cli("channel request hangup all")
    report = {"date": time.strftime("%Y-%m-%d"), "machine": platform.machine(), **result}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "verify.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
