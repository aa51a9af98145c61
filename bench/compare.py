"""Side by side on one sandbox: our API, an Asterisk call file, and a minimal direct-ARI script.

    make bench        (or: .venv/bin/python -m bench.compare [--calls 50] [--steps 25,50,100,200])

All three place the same call to the simulated carrier and play the same prompts:
Asterisk's `hello-world`, then the digits 1 2 3 4 5 6 from Asterisk's digit prompts
(our API with the `asterisk` speech engine; the call file with Playback + SayDigits;
the script with one ARI play of the same sounds).

1. Dead air: the carrier's 200 OK -> the first RTP packet towards it that is not silence,
   from a loopback capture (tshark), `--calls` calls per method, five at a time.
2. Capacity: N calls at once (N = each of `--steps`, stopping at the first step that
   fails) for the API and the call file; a step passes when every call completed and the
   carrier's recording of each is as long as a lone call's (±15 %) and not silent.
   CPU seconds and peak memory of our service (its client waits for each call's end
   with `?wait=`), CPU seconds of the PBX Asterisk; then what a client polling every
   second adds: 100 calls so, and the CPU of one status read.
3. API acceptance latency at 50 and 200 requests per second for 20 s each, calls held in
   the queue by a carrier limited to one channel.
Results: bench/results/compare.json; `python -m bench.report` writes the table and chart.
Loopback only; bounded by a deadline; stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import shutil
import statistics
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.dead_air import capture, dead_air
from bench.load import open_loop
from sandbox.api import FINAL, ApiProcess
from sandbox.lab import CHECKOUT, CONFIG, VAR, Lab, asterisk_ids, running
from sandbox.run import ARI_PASSWORD

RESULTS = CHECKOUT / "bench" / "results"
BENCH_CONFIG = VAR / "bench.yaml"
ARI = "http://127.0.0.1:8088/ari"
DIGITS = "123456"
TRUNK = "carrier-74445609"
DIALPLAN = """
[bench-short]
exten => s,1,Playback(hello-world)
 same => n,Hangup()

[bench-full]
exten => s,1,Playback(hello-world)
 same => n,SayDigits(123456)
 same => n,Hangup()
"""


def number(n: int) -> str:
    # Never ending in 480, 486 or 503: the simulated carrier answers those its own way.
    return f"+1212{n % 1000000:06d}1"


# -- the three ways -------------------------------------------------------------------

def bench_config(*, queue_only: bool = False) -> Path:
    """The sandbox config for benchmarking: no velocity limits, Asterisk's digit prompts."""
    data = yaml.safe_load(CONFIG.read_text())
    data["storage"]["path"] = "bench.sqlite3"
    data["tts"] |= {"engines": ["asterisk", "flite"], "asterisk_sounds": "asterisk-sounds"}
    data["media"] |= {"dir": "media"}
    data["limits"] = {"per_number": [], "per_prefix": [], "per_key": [], "per_client": []}
    data["breaker"] = {"max_calls_per_minute": 100_000}
    data["calls"] |= {"max_channels": 1000, "hangup_delay_ms": 0}
    data.pop("carriers_file")
    data["asterisk"].pop("config_dir")
    carrier = data["carriers"]["74445609"]
    carrier |= {"max_channels": 1 if queue_only else 1000, "max_cps": 0.1 if queue_only
                else 1000}
    data["media"]["allowed_hosts"] = []
    data["media"].pop("host_map")
    BENCH_CONFIG.write_text(yaml.safe_dump(data))
    return BENCH_CONFIG


def api_body(full: bool, n: int) -> dict[str, Any]:
    playlist: list[dict[str, Any]] = [{"type": "sound", "play": "hello-world"}]
    if full:
        playlist.append({"type": "tts", "play": DIGITS, "options": {"say-as": "digits"}})
    return {"to": number(n), "from": "me", "carrier_id": "74445609", "playlist": playlist}


def fresh_api(*, queue_only: bool = False) -> ApiProcess:
    """Our service on the bench config, started on an empty database with a new key."""
    api = ApiProcess(log_path=VAR / "log" / "api-bench.log",
                     config=bench_config(queue_only=queue_only), key_path=VAR / "api-key-bench")
    api.start_fresh()
    return api


class ViaApi:
    name = "api"

    def __init__(self) -> None:
        self.api = fresh_api()

    def place(self, full: bool, n: int) -> str:
        return self.api.place(api_body(full, n))

    def wait(self, call_id: str, timeout: float) -> bool:
        """The client waits for the end of the call with `?wait=`: one request, mostly."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            wait = min(8.0, left)  # under the client's 10-s read timeout
            code, status = self.api.request(
                "GET", f"/voice/call/status/{call_id}?wait={wait:.1f}")
            if code != 200:
                return False
            if status["state"] in FINAL:
                return bool(status["state"] == "completed")
        return False

    def poll(self, call_id: str, timeout: float) -> bool:
        """The client asks once a second instead, as the original API's clients did."""
        return bool(self.api.wait_final(call_id, timeout=timeout, poll=1.0)["state"]
                    == "completed")

    def pid(self) -> int:
        assert self.api.process is not None
        return self.api.process.pid

    def close(self) -> None:
        self.api.stop()


class ViaCallFile:
    """What many admins do today: a .call file in Asterisk's outgoing spool."""

    name = "call_file"

    def __init__(self, lab: Lab) -> None:
        assert lab.root is not None
        pbx = lab.instance("pbx")
        (pbx.base / "etc" / "extensions.conf").open("a").write(DIALPLAN)
        pbx.cli("dialplan reload")
        self.spool = pbx.base / "spool"
        self.uid, self.gid = asterisk_ids(lab.root)
        for sub in ("outgoing", "outgoing_done", "bench-tmp"):
            (self.spool / sub).mkdir(exist_ok=True)
            os.chown(self.spool / sub, self.uid, self.gid)

    def place(self, full: bool, n: int) -> str:
        call_id = str(uuid.uuid4())
        text = (f"Channel: PJSIP/{number(n)}@{TRUNK}\nCallerID: <+15550100>\nMaxRetries: 0\n"
                f"WaitTime: 30\nContext: bench-{'full' if full else 'short'}\nExtension: s\n"
                f"Priority: 1\nArchive: yes\n"
                f"Setvar: PJSIP_HEADER(add,X-Ari-App-Request)={call_id}\n")
        tmp = self.spool / "bench-tmp" / f"{call_id}.call"
        tmp.write_text(text)
        os.chown(tmp, self.uid, self.gid)
        tmp.rename(self.spool / "outgoing" / tmp.name)  # atomic: Asterisk never sees half
        return call_id

    def wait(self, call_id: str, timeout: float) -> bool:
        done = self.spool / "outgoing_done" / f"{call_id}.call"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done.exists():
                return "Status: Completed" in done.read_text()
            time.sleep(0.1)
        return False

    def close(self) -> None:
        shutil.rmtree(self.spool / "bench-tmp", ignore_errors=True)


class DirectAri:
    """The floor: originate, play on StasisStart, hang up when played. Nothing else."""

    name = "direct_ari"
    app = "bench-direct"

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.done: dict[str, asyncio.Future[bool]] = {}
        self.media: dict[str, list[str]] = {}
        token = base64.b64encode(f"ari-app:{ARI_PASSWORD}".encode()).decode()

        async def start() -> None:
            self.http = aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"})
            self.ws = await self.http.ws_connect(f"{ARI.replace('http', 'ws')}/events",
                                                 params={"app": self.app})
            self.reader = asyncio.create_task(self._read())

        self.thread_pool = ThreadPoolExecutor(max_workers=1)
        self.thread_pool.submit(self.loop.run_forever)
        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    async def _read(self) -> None:
        async for message in self.ws:
            event = json.loads(message.data)
            channel = event.get("channel", {}).get("id")
            if event["type"] == "StasisStart" and channel in self.media:
                await self.http.post(f"{ARI}/channels/{channel}/play/{channel}-p",
                                     json={"media": self.media[channel]})
            elif event["type"] == "PlaybackFinished":
                target = event["playback"]["target_uri"].removeprefix("channel:")
                await self.http.delete(f"{ARI}/channels/{target}")
            elif event["type"] == "ChannelDestroyed" and channel in self.done:
                future = self.done[channel]
                if not future.done():
                    future.set_result(event.get("cause") == 16)

    def place(self, full: bool, n: int) -> str:
        call_id = str(uuid.uuid4())
        media = ["sound:hello-world"] + ([f"sound:digits/{d}" for d in DIGITS] if full else [])

        async def originate() -> None:
            self.media[call_id] = media
            self.done[call_id] = self.loop.create_future()
            async with self.http.post(
                f"{ARI}/channels/{call_id}",
                params={"endpoint": f"PJSIP/{number(n)}@{TRUNK}", "app": self.app,
                        "callerId": "+15550100", "timeout": "30"},
                json={"variables": {"PJSIP_HEADER(add,X-Ari-App-Request)": call_id}},
            ) as response:
                response.raise_for_status()

        asyncio.run_coroutine_threadsafe(originate(), self.loop).result(10)
        return call_id

    def wait(self, call_id: str, timeout: float) -> bool:
        async def wait() -> bool:
            return await asyncio.wait_for(self.done[call_id], timeout)

        try:
            return asyncio.run_coroutine_threadsafe(wait(), self.loop).result(timeout + 1)
        except TimeoutError:
            return False

    def close(self) -> None:
        async def stop() -> None:
            self.reader.cancel()
            await self.ws.close()
            await self.http.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread_pool.shutdown()


Method = ViaApi | ViaCallFile | DirectAri


# -- 1. dead air ------------------------------------------------------------------------

def measure_dead_air(method: Method, calls: int) -> dict[str, Any]:
    pcap = VAR / f"bench-{method.name}.pcap"
    tshark = capture(pcap)
    failed = 0
    try:
        with ThreadPoolExecutor(max_workers=5) as pool:
            def one(n: int) -> bool:
                return method.wait(method.place(False, n), 30)

            failed = sum(1 for ok in pool.map(one, range(calls)) if not ok)
        time.sleep(0.5)
    finally:
        tshark.terminate()
        tshark.wait()
    values = dead_air(pcap)
    pcap.unlink(missing_ok=True)
    print(f"  {method.name}: {len(values)} calls measured, {failed} failed", flush=True)
    return {"calls": len(values), "failed": failed,
            "median_ms": round(statistics.median(values), 2),
            "p95_ms": round(statistics.quantiles(values, n=20)[-1], 2),
            "min_ms": round(min(values), 2), "max_ms": round(max(values), 2)}


# -- 2. capacity ------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    fields = (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]).split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def seconds_of(path: Path) -> float:
    """A recording's length (0 if sox cannot read it)."""
    found = subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True,
                           check=False).stdout
    return float(found or 0)


def recording_ok(call_id: str, expected: float) -> bool:
    path = VAR / "recordings" / f"{call_id}.wav"
    for _ in range(50):  # MixMonitor closes the file a moment after the hangup
        if path.exists() and path.stat().st_size > 44:
            break
        time.sleep(0.1)
    else:
        return False
    seconds = seconds_of(path)
    stats = subprocess.run(["sox", str(path), "-n", "trim", "0", "1.5", "stat"],
                           capture_output=True, text=True, check=False).stderr
    rms = next((float(line.split()[-1]) for line in stats.splitlines()
                if line.startswith("RMS     amplitude")), 0.0)
    return abs(seconds - expected) <= 0.15 * expected and rms > 0.005


def step(method: Method, size: int, expected: float, offset: int) -> dict[str, Any]:
    with ThreadPoolExecutor(max_workers=min(size, 50)) as pool:
        started = time.monotonic()
        ids = list(pool.map(lambda n: method.place(True, offset + n), range(size)))
        placed_s = time.monotonic() - started
        completed = list(pool.map(lambda i: method.wait(i, 90), ids))
        audio = list(pool.map(lambda i: recording_ok(i, expected), ids))
    ok = all(completed) and all(audio)
    print(f"  {method.name} x{size}: {sum(completed)} completed, {sum(audio)} with the right "
          f"audio -> {'pass' if ok else 'FAIL'}", flush=True)
    return {"size": size, "completed": sum(completed), "right_audio": sum(audio), "ok": ok,
            "placed_in_s": round(placed_s, 2)}


def capacity(method: Method, steps: list[int], pbx_pid: int,
             deadline: float) -> dict[str, Any]:
    lone = method.place(True, 9999)
    method.wait(lone, 60)
    path = VAR / "recordings" / f"{lone}.wav"
    time.sleep(1)
    expected = seconds_of(path)
    if not expected:
        raise SystemExit(f"the lone call's recording {path} is missing or unreadable")
    own = method.pid() if isinstance(method, ViaApi) else None
    cpu0 = cpu_seconds(own) if own else 0.0
    ast0 = cpu_seconds(pbx_pid)
    results, calls, best = [], 0, 0
    for size in steps:
        if time.monotonic() > deadline:
            print("  time budget spent: no more steps", flush=True)
            break
        result = step(method, size, expected, offset=calls)
        calls += size
        results.append(result)
        if not result["ok"]:
            break
        best = size
        time.sleep(2)
    report: dict[str, Any] = {"lone_call_seconds": round(expected, 2), "steps": results,
                              "max_simultaneous_ok": best, "calls": calls,
                              "asterisk_cpu_s_per_100_calls":
                                  round((cpu_seconds(pbx_pid) - ast0) / calls * 100, 2)}
    if own:
        report |= {"service_cpu_s_per_100_calls":
                   round((cpu_seconds(own) - cpu0) / calls * 100, 3),
                   "service_peak_rss_mb": round(peak_rss_mb(own), 1)}
    if isinstance(method, ViaApi):
        time.sleep(5)  # the last step's calls are gone
        report |= polling(method, offset=calls)
    return report


def polling(api: ViaApi, offset: int, calls: int = 100) -> dict[str, Any]:
    """What a client polling every second adds: 100 calls so, and one status read."""
    pid = api.pid()
    cpu0 = cpu_seconds(pid)
    with ThreadPoolExecutor(max_workers=50) as pool:
        ids = list(pool.map(lambda n: api.place(True, offset + n), range(calls)))
        done = sum(pool.map(lambda i: api.poll(i, 90), ids))
    polled = (cpu_seconds(pid) - cpu0) / calls * 100
    reads = 2000
    cpu0 = cpu_seconds(pid)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: api.api.status(ids[0]), range(reads)))
    per_read = (cpu_seconds(pid) - cpu0) / reads * 1000
    print(f"  api, polled every second: {polled:.2f} CPU-s per 100 calls ({done} completed); "
          f"a status read: {per_read:.2f} ms", flush=True)
    return {"service_cpu_s_per_100_calls_polled_1s": round(polled, 3),
            "status_read_cpu_ms": round(per_read, 3)}


# -- 3. API latency -----------------------------------------------------------------------

async def latency(url: str, key: str, rate: int, seconds: int) -> dict[str, Any]:
    result, _ = await open_loop(url, key, rate, seconds,
                                lambda n: ("POST", "/voice/call/play", api_body(True, n)),
                                ok=frozenset({202}))
    return result


def settle(lab: Lab, seconds: float = 15) -> None:
    """After the capacity steps (the last one overloads the machine on purpose): no call
    left on either Asterisk, and time for both to finish writing their recordings."""
    for name in ("pbx", "carrier"):
        lab.instance(name).cli("channel request hangup all")
    time.sleep(seconds)


def api_latency(lab: Lab) -> list[dict[str, Any]]:
    out = []
    for rate in (50, 200):
        api = fresh_api(queue_only=True)
        try:
            result = asyncio.run(latency(api.url, api.ensure_key(), rate, 20))
        finally:
            api.stop()
        print(f"  {rate}/s: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
              f"{result['errors']} errors", flush=True)
        out.append(result)
    lab.instance("pbx").cli("channel request hangup all")
    return out


# -- run --------------------------------------------------------------------------------

def asterisk_version(lab: Lab) -> str:
    return lab.instance("pbx").cli("core show version").split(" built")[0].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--steps", default="25,50,100,200,400,800")
    parser.add_argument("--budget", type=float, default=14 * 60, help="seconds, in all")
    parser.add_argument("--parts", default="dead_air,capacity,latency",
                        help="which measurements; the others keep their last results")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    deadline = time.monotonic() + args.budget
    steps = [int(s) for s in args.steps.split(",")]
    previous = RESULTS / "compare.json"
    report: dict[str, Any] = json.loads(previous.read_text()) if previous.exists() else {}
    report |= {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    with running(ARI_PASSWORD) as lab:
        # The carrier's own cap on our trunk (sandbox/carrier/extensions.conf) is the
        # sandbox's 30; the capacity runs need the carrier out of the way.
        lab.instance("carrier").cli("dialplan set global TRUNK_CAP_pbx 5000")
        report["asterisk"] = asterisk_version(lab)
        pbx_pid = _asterisk_pid(lab)
        call_file = ViaCallFile(lab)
        direct = DirectAri()
        api = ViaApi()
        methods: list[Method] = [api, call_file, direct]
        try:
            if "dead_air" in parts:
                print("dead air (carrier's 200 OK -> first audible RTP):", flush=True)
                report["dead_air"] = {m.name: measure_dead_air(m, args.calls)
                                      for m in methods}
            if "capacity" in parts:
                print("capacity (simultaneous calls, audio checked at the carrier):",
                      flush=True)
                share = (deadline - time.monotonic()) / 3
                report["capacity"] = {
                    m.name: capacity(m, steps, pbx_pid, time.monotonic() + share)
                    for m in (api, call_file)}
        finally:
            for method in methods:
                method.close()
        if "latency" in parts:
            settle(lab)
            print("API acceptance latency (calls held in the queue):", flush=True)
            report["api_latency"] = api_latency(lab)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "compare.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def _asterisk_pid(lab: Lab) -> int:
    """The PBX's asterisk process (chroot execs it, so the pid is the same)."""
    process = lab.instance("pbx").process
    assert process is not None
    return process.pid


if __name__ == "__main__":
    main()

