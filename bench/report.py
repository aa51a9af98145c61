"""The latest benchmark results as a Markdown table and a PNG chart.

    .venv/bin/python -m bench.report      (make bench runs it after the measurements)

Reads bench/results/compare.json and prepare.json; writes bench/results/summary.md and
bench/results/chart.png (dead air and capacity per method).
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.lab import CHECKOUT

RESULTS = CHECKOUT / "bench" / "results"
NAMES = {"api": "our API", "call_file": "call file + dialplan", "direct_ari": "direct ARI script"}


def table(compare: dict[str, Any], prepare: dict[str, Any] | None) -> str:
    dead = compare["dead_air"]
    cap = compare.get("capacity", {})
    floor = dead["direct_ari"]["median_ms"]
    lines = [
        f"Measured {compare['date']} on {compare['machine']}, {compare['asterisk']}, "
        "all on loopback.",
        "",
        "| method | dead air median | dead air p95 | vs. direct ARI (median) | "
        "max simultaneous calls, audio right |",
        "|---|---|---|---|---|",
    ]
    for key in ("api", "call_file", "direct_ari"):
        d = dead[key]
        capacity = cap.get(key, {}).get("max_simultaneous_ok")
        lines.append(f"| {NAMES[key]} | {d['median_ms']:.2f} ms | {d['p95_ms']:.2f} ms | "
                     f"{d['median_ms'] - floor:+.2f} ms | "
                     f"{'—' if capacity is None else capacity} |")
    api_cap = cap.get("api", {})
    lines += ["", "| measure | value |", "|---|---|"]
    if api_cap:
        lines.append(f"| our service, CPU per 100 calls (client waits with `?wait=`) | "
                     f"{api_cap['service_cpu_s_per_100_calls']:.2f} s |")
        if "service_cpu_s_per_100_calls_polled_1s" in api_cap:
            lines.append(f"| our service, CPU per 100 calls (client polls every second) | "
                         f"{api_cap['service_cpu_s_per_100_calls_polled_1s']:.2f} s |")
            lines.append(f"| our service, CPU of one status read | "
                         f"{api_cap['status_read_cpu_ms']:.2f} ms |")
        lines.append(f"| our service, peak memory | {api_cap['service_peak_rss_mb']:.0f} MB |")
        lines.append(f"| PBX Asterisk, CPU per 100 calls (API run) | "
                     f"{api_cap['asterisk_cpu_s_per_100_calls']:.2f} s |")
    if cap.get("call_file"):
        lines.append(f"| PBX Asterisk, CPU per 100 calls (call-file run) | "
                     f"{cap['call_file']['asterisk_cpu_s_per_100_calls']:.2f} s |")
    for run in compare.get("api_latency", []):
        lines.append(f"| POST /voice/call/play at {run['rate']}/s for {run['seconds']} s | "
                     f"p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms, "
                     f"{run['errors']} errors of {run['requests']} |")
    if prepare:
        lines.append(f"| preparing the canonical TTS request, cold | "
                     f"{prepare['cold_ms']['median']:.0f} ms |")
        lines.append(f"| preparing it again (cached) | median {prepare['cached_ms']['median']} "
                     f"ms, p95 {prepare['cached_ms']['p95']} ms |")
    return "\n".join(lines) + "\n"


def amd_table(amd: dict[str, Any]) -> str:
    """Answering-machine detection per parameter set (bench/amd.py)."""
    samples = amd["samples"]
    lines = [
        "", f"Answering-machine detection, {amd['date']}: {samples.get('human', 0)} human "
        f"openings, {samples.get('machine', 0)} voicemail greetings.", "",
        "| AMD parameters | people taken for machines | machines taken for people | "
        "decision after the first word, median / p95 | a person's dead air, median / p95 |",
        "|---|---|---|---|---|",
    ]
    for name, result in amd["sets"].items():
        decision = result["decision_after_first_word_ms"]
        dead = result["person_answer_to_audio_ms"]["with_detection"]
        lines.append(
            f"| {name} {result['parameters'] or '(the defaults)'} | "
            f"{result['humans_taken_for_machines']} of {samples.get('human', 0)} | "
            f"{result['machines_taken_for_humans']} of {samples.get('machine', 0)} | "
            f"{decision['median']} / {decision['p95']} ms | "
            f"{dead['median']} / {dead['p95']} ms |")
    if amd["sets"]:
        plain = next(iter(amd["sets"].values()))["person_answer_to_audio_ms"]
        lines += ["", f"Without detection a person hears the first word "
                      f"{plain['without_detection']['median']} ms after the answer (median)."]
    return "\n".join(lines) + "\n"


def verify_table(verify: dict[str, Any]) -> str:
    """The verify API at its rate (bench/verify_api.py)."""
    lines = ["", f"Verify API, {verify['date']}:", "",
             "| request | rate | p50 | p99 | errors | service CPU each |",
             "|---|---|---|---|---|---|"]
    for name, run in (("POST /verify", verify["start"]),
                      ("POST /verify/{id}/check", verify["check"])):
        lines.append(f"| {name} | {run['rate']}/s for {run['seconds']} s | "
                     f"{run['p50_ms']:.2f} ms | {run['p99_ms']:.2f} ms | "
                     f"{run['errors']} of {run['requests']} | {run['cpu_ms_per_request']} ms |")
    return "\n".join(lines) + "\n"


def cluster_table(cluster: dict[str, Any]) -> str:
    lines = ["", "### SQLite beside PostgreSQL", "",
             "| engine | service CPU per 100 calls | POST /voice/call/play p50 | p99 | "
             "errors | service CPU each |", "|---|---|---|---|---|---|"]
    for engine in ("sqlite", "postgres"):
        run = cluster[engine]
        api = run["api"]
        lines.append(f"| {engine} | {run['service_cpu_s_per_100_calls']} s | "
                     f"{api['p50_ms']:.2f} ms | {api['p99_ms']:.2f} ms | "
                     f"{api['errors']} of {api['requests']} | {api['cpu_ms_per_request']} ms |")
    queue = cluster["queue"]
    lines += ["", f"Shared queue: {queue['grants_per_second']} channel grants a second "
              f"(two instances, {queue['grants']} grants in {queue['seconds']} s)."]
    return "\n".join(lines) + "\n"


def chart(compare: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dead = compare["dead_air"]
    keys = ["api", "call_file", "direct_ari"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    medians = [dead[k]["median_ms"] for k in keys]
    p95 = [dead[k]["p95_ms"] for k in keys]
    positions = range(len(keys))
    left.bar([p - 0.2 for p in positions], medians, 0.4, label="median")
    left.bar([p + 0.2 for p in positions], p95, 0.4, label="p95")
    left.set_xticks(list(positions), [NAMES[k] for k in keys], fontsize=8)
    left.set_ylabel("ms, carrier's 200 OK -> first audio")
    left.set_title("Dead air")
    left.legend()
    cap = compare.get("capacity", {})
    for key in ("api", "call_file"):
        steps = cap.get(key, {}).get("steps", [])
        right.plot([s["size"] for s in steps], [s["right_audio"] for s in steps], marker="o",
                   label=NAMES[key])
    right.set_xlabel("calls placed at once")
    right.set_ylabel("calls completed with the right audio")
    right.set_title("Capacity")
    right.legend()
    fig.suptitle(f"{compare['asterisk']}, {compare['machine']}, {compare['date']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(RESULTS / "chart.png", dpi=100)


def main() -> None:
    compare = json.loads((RESULTS / "compare.json").read_text())
    prepare_path = RESULTS / "prepare.json"
    prepare = json.loads(prepare_path.read_text()) if prepare_path.exists() else None
    text = table(compare, prepare)
    amd_path = RESULTS / "amd.json"
    if amd_path.exists():
        text += amd_table(json.loads(amd_path.read_text()))
    verify_path = RESULTS / "verify.json"
    if verify_path.exists():
        text += verify_table(json.loads(verify_path.read_text()))
    cluster_path = RESULTS / "cluster.json"
    if cluster_path.exists():
        text += cluster_table(json.loads(cluster_path.read_text()))
    (RESULTS / "summary.md").write_text(text)
    chart(compare)
    print(text)


if __name__ == "__main__":
    main()
