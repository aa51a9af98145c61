"""SQLite beside PostgreSQL: the service's CPU per 100 calls and the API's latency at 200
requests a second on each engine, and how many channel grants a second the shared
queue makes with two instances contending.

    make bench-cluster      (or: .venv/bin/python -m bench.cluster [--rate 200 --seconds 20])

PostgreSQL is a server of the bench's own (Debian's packages, var/bench-postgres, a unix
socket, fsync on as in production); the service runs on it as one instance of a
cluster, so every grant of a channel goes through the database (cluster/slots.py).
- CPU per 100 calls: 100 short calls (a prompt and six digits), 20 at a time, each
  completed, on a carrier that takes them all; the service's CPU time over them.
- API latency: `POST /voice/call/play` at `--rate` for `--seconds`, the calls waiting in
  the queue of a one-channel carrier (what is measured is accepting: validating,
  admitting, storing).
- Grants a second: two stores (two instances) on the PostgreSQL database, 2000 queued
  calls each, each granting one channel at a time and freeing it at once, carrier
  limits of 100 channels and 10 000 calls a second: the queue's own ceiling, without
  Asterisk.
Results: bench/results/cluster.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from bench.compare import api_body, bench_config, cpu_seconds, latency
from sandbox.api import ApiProcess
from sandbox.lab import CHECKOUT, VAR, running
from sandbox.postgres import PostgresServer
from sandbox.run import ARI_PASSWORD

RESULTS = CHECKOUT / "bench" / "results"
PG_DIR = VAR / "bench-postgres"


def config(engine: str, url: str, *, queue_only: bool, cluster: bool = True) -> Path:
    data = yaml.safe_load(bench_config(queue_only=queue_only).read_text())
    if engine == "postgres":
        data["storage"] = {"url": url, "key_file": "bench-postgres.key"}
        if cluster:
            data["cluster"] = {"instance": "bench"}
    path = VAR / f"bench-{engine}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def fresh(engine: str, postgres: PostgresServer, *, queue_only: bool,
          cluster: bool = True) -> ApiProcess:
    url = ""
    if engine == "postgres":
        postgres.sql("DROP DATABASE IF EXISTS bench")
        url = postgres.create_database("bench")
        (VAR / "bench-postgres.key").unlink(missing_ok=True)
    api = ApiProcess(log_path=VAR / "log" / f"api-bench-{engine}.log",
                     config=config(engine, url, queue_only=queue_only, cluster=cluster),
                     key_path=VAR / f"api-key-bench-{engine}")
    api.key_path.unlink(missing_ok=True)
    if engine == "sqlite":
        for stale in VAR.glob("bench.sqlite3*"):
            stale.unlink()
    api.start()
    return api


def cpu_per_100_calls(api: ApiProcess, calls: int = 100) -> float:
    assert api.process is not None
    pid = api.process.pid
    api.ensure_key()
    cpu0 = cpu_seconds(pid)
    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(lambda n: api.place(api_body(True, n)), range(calls)))
        finals = list(pool.map(lambda i: api.wait_final(i, timeout=120)["state"], ids))
    if finals != ["completed"] * calls:
        raise SystemExit(f"not every call completed: {sorted(set(finals))}")
    return round((cpu_seconds(pid) - cpu0) / calls * 100, 3)


def engine_run(engine: str, postgres: PostgresServer, rate: int, seconds: int, *,
               cluster: bool = True) -> dict[str, Any]:
    api = fresh(engine, postgres, queue_only=False, cluster=cluster)
    try:
        cpu = cpu_per_100_calls(api)
    finally:
        api.stop()
    api = fresh(engine, postgres, queue_only=True, cluster=cluster)
    try:
        assert api.process is not None
        pid = api.process.pid
        cpu0 = cpu_seconds(pid)
        result = asyncio.run(latency(api.url, api.ensure_key(), rate, seconds))
        result["cpu_ms_per_request"] = round(
            (cpu_seconds(pid) - cpu0) / result["requests"] * 1000, 3)
    finally:
        api.stop()
    print(f"{engine}: {cpu} CPU-s per 100 calls; POST /voice/call/play at {rate}/s: p50 "
          f"{result['p50_ms']} ms, p99 {result['p99_ms']} ms, {result['errors']} errors, "
          f"{result['cpu_ms_per_request']} CPU-ms each", flush=True)
    return {"service_cpu_s_per_100_calls": cpu, "api": result}


async def grants_per_second(url: str, queued: int = 2000) -> dict[str, Any]:
    from ari_app.entries import Speech
    from ari_app.request import CallRequest
    from ari_app.store import Store

    request = CallRequest(to="+12125550100", caller_id="+15550100", carrier_id="t",
                          playlist=(Speech("hello", "en-US", "female", "none"),))
    key = PG_DIR / "grants.key"
    stores = [Store.postgres(url, key, instance=name) for name in ("a", "b")]

    def limits(carrier: str) -> tuple[int, float]:
        return 100, 10_000.0

    async def fill(store: Store, name: str) -> list[str]:
        ids = [f"{name}-{n}" for n in range(queued)]
        await asyncio.gather(*(store.calls.insert(i, request) for i in ids))
        return ids

    async def drain(store: Store, ids: list[str], granted: Callable[[], None]) -> None:
        for call_id in ids:
            # Paced by the other instance's grant a moment ago: asked again at once.
            granted_now: list[str] = []
            while not granted_now:
                granted_now, _ = await store.slots.take([(call_id, "t")], limits=limits,
                                                        cap=1000)
            granted()
            await store.slots.release(call_id)

    batches = [await fill(store, name) for store, name in zip(stores, "ab", strict=True)]
    count = 0

    def granted() -> None:
        nonlocal count
        count += 1

    started = time.perf_counter()
    await asyncio.gather(*(drain(s, ids, granted) for s, ids in zip(stores, batches,
                                                                      strict=True)))
    elapsed = time.perf_counter() - started
    for store in stores:
        await store.close()
    result = {"grants": count, "seconds": round(elapsed, 2),
              "grants_per_second": round(count / elapsed)}
    print(f"shared queue: {result['grants_per_second']} grants a second (two instances, "
          f"each grant freed at once; {count} in {elapsed:.1f} s)", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--engines", default="sqlite,postgres",
                        help="which engines to measure, comma-separated")
    parser.add_argument("--no-fsync", action="store_true",
                        help="PostgreSQL without fsync, full-page writes and synchronous "
                             "commit (to see what the disk costs; not for production)")
    parser.add_argument("--no-cluster", action="store_true",
                        help="PostgreSQL as a lone instance: no grants through the "
                             "database, no catch-up reads")
    args = parser.parse_args()
    shutil.rmtree(PG_DIR, ignore_errors=True)
    postgres = PostgresServer(PG_DIR, durable=not args.no_fsync)
    postgres.start()
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"),
                              "machine": platform.machine()}
    try:
        with running(ARI_PASSWORD) as lab:
            lab.instance("carrier").cli("dialplan set global TRUNK_CAP_pbx 5000")
            for engine in args.engines.split(","):
                report[engine] = engine_run(engine, postgres, args.rate, args.seconds,
                                            cluster=not args.no_cluster)
                lab.instance("pbx").cli("channel request hangup all")
        postgres.sql("DROP DATABASE IF EXISTS grants")
        report["queue"] = asyncio.run(grants_per_second(postgres.create_database("grants")))
    finally:
        postgres.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    variant = "" if args.engines == "sqlite,postgres" and not (args.no_fsync or args.no_cluster) \
        else "-variant"
    (RESULTS / f"cluster{variant}.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
