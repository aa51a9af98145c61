"""An open-loop load: requests start on schedule whatever the answers do, so a slow answer
cannot slow the load down and hide itself (the mistake of closed-loop load tests)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

import aiohttp

Request = Callable[[int], tuple[str, str, Any]]
"""Request number n -> (method, path, JSON body)."""


async def open_loop(url: str, key: str, rate: int, seconds: int, request: Request, *,
                    ok: frozenset[int]) -> tuple[dict[str, Any], list[Any]]:
    """p50/p99 of `rate` requests a second for `seconds`, the errors (answers not in
    `ok`), and every answer's body in order."""
    results: list[float] = []
    answers: list[Any] = [None] * (rate * seconds)
    errors = 0
    headers = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=500)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:
        async def one(n: int) -> None:
            nonlocal errors
            method, path, body = request(n)
            started = time.perf_counter()
            async with http.request(method, f"{url}{path}", json=body) as response:
                answers[n] = await response.json()
                if response.status not in ok:
                    errors += 1
            results.append((time.perf_counter() - started) * 1000)

        tasks = []
        begin = time.perf_counter()
        for n in range(rate * seconds):
            delay = begin + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
    quantiles = statistics.quantiles(results, n=100)
    return ({"rate": rate, "seconds": seconds, "requests": len(results), "errors": errors,
             "p50_ms": round(statistics.median(results), 2),
             "p99_ms": round(quantiles[98], 2)}, answers)
