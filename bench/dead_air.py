"""Dead air: from the carrier's 200 OK to the first RTP packet carrying audio, seen on the wire.

    make bench-dead-air          (or: .venv/bin/python -m bench.dead_air --calls 20)

Starts the sandbox and the service, captures loopback SIP and RTP with tshark
while it places the canonical TTS call N times one after another, then reads
the capture: for each call, the time from the carrier's 200 OK to the INVITE
to the first RTP packet towards the carrier whose payload is not silence.
Prints median and p95 and writes bench/results/dead-air.json. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

from sandbox.api import ApiProcess
from sandbox.lab import CHECKOUT, VAR, running
from sandbox.run import ARI_PASSWORD

RESULTS = CHECKOUT / "bench" / "results"
CARRIER_SIP = 5070
CARRIER_RTP = range(15000, 20000)
SILENCE = 64  # |sample| below this (of 32767) counts as silence


def _ulaw_table() -> list[int]:
    table = []
    for byte in range(256):
        u = ~byte & 0xFF
        magnitude = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
        table.append((0x84 - magnitude) if u & 0x80 else (magnitude - 0x84))
    return table


ULAW = _ulaw_table()


def audible(payload_hex: str) -> bool:
    data = bytes.fromhex(payload_hex.replace(":", ""))
    return any(abs(ULAW[b]) > SILENCE for b in data)


def capture(pcap: Path) -> subprocess.Popen[bytes]:
    ports = f"port {CARRIER_SIP} or portrange {CARRIER_RTP.start}-{CARRIER_RTP.stop - 1}"
    process = subprocess.Popen(
        ["tshark", "-i", "lo", "-f", f"udp and ({ports})", "-w", str(pcap), "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    for line in process.stderr:  # wait until it really captures
        if b"Capturing on" in line:
            return process
    raise RuntimeError("tshark did not start capturing")


def dead_air(pcap: Path) -> list[float]:
    """Pair each carrier 200 OK with the first audible RTP sent to the port its SDP names;
    calls may overlap."""
    fields = ["frame.time_epoch", "sip.Status-Code", "sip.CSeq.method", "udp.srcport",
              "udp.dstport", "sdp.media.port", "rtp.payload"]
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-o", "rtp.heuristic_rtp:TRUE", "-T", "fields",
         *[arg for f in fields for arg in ("-e", f)], "-E", "separator=\t"],
        capture_output=True, text=True, check=True,
    ).stdout
    answered: dict[int, float] = {}
    results = []
    for line in out.splitlines():
        when, status, method, src, dst, media_port, payload = (line.split("\t") + [""] * 7)[:7]
        if status == "200" and "INVITE" in method and src == str(CARRIER_SIP) and media_port:
            answered[int(media_port.split(",")[0])] = float(when)
        elif payload and dst.isdigit() and int(dst) in answered and int(dst) in CARRIER_RTP \
                and audible(payload):
            results.append((float(when) - answered.pop(int(dst))) * 1000)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    body = json.loads((CHECKOUT / "tests/data/seed-tts.json").read_text())
    pcap = VAR / "bench-dead-air.pcap"
    api = ApiProcess(log_path=VAR / "log" / "api-bench.log")
    service_side = []
    with running(ARI_PASSWORD):
        tshark = capture(pcap)
        try:
            api.start()
            for n in range(args.calls):
                status = api.wait_final(api.place(body))
                if status["state"] != "completed":
                    raise RuntimeError(f"call {n} ended {status['state']}: {status}")
                service_side.append(status["answer_to_audio_ms"])
                print(f"call {n + 1}/{args.calls}: completed", flush=True)
            time.sleep(0.5)
        finally:
            tshark.terminate()
            tshark.wait()
            api.stop()
    wire = dead_air(pcap)
    if len(wire) != args.calls:
        raise SystemExit(f"found {len(wire)} answered calls with audio in the capture, "
                         f"expected {args.calls}")
    report = {
        "calls": args.calls,
        "wire_answer_to_first_audio_ms": {
            "median": round(statistics.median(wire), 2),
            "p95": round(statistics.quantiles(wire, n=20)[-1], 2),
            "min": round(min(wire), 2), "max": round(max(wire), 2),
        },
        "service_stasis_start_to_playback_started_ms": {
            "median": round(statistics.median(service_side), 2),
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dead-air.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
