"""Answering-machine detection, measured: how often AMD() is right on a corpus of greetings,
how fast it decides, and the dead air a person hears while it listens.

    make bench-amd          (or: .venv/bin/python -m bench.amd [--sets stock,tuned])

Builds the corpus (bench/amd_corpus.py: human openings and voicemail greetings, with
and without a beep, some with line noise), starts the sandbox and the service, and
for each parameter set calls every greeting at once: the simulated carrier answers
`...1776NN` by playing greeting NN. Each call asks for machine detection with the
set's parameters; its status says what AMD() decided, why, and after how long. The
humans are called once more without detection, for the dead air they hear then.

Prints, per set, the confusion matrix (NOTSURE is a person to the service: it gets the
playlist), the decision time after the callee's first word (median, p95) and the
dead air a person hears from the answer to our first word, with and without
detection. Writes bench/results/amd.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.amd_corpus import Sample, build
from sandbox.api import ApiProcess
from sandbox.lab import CHECKOUT, VAR, running
from sandbox.run import ARI_PASSWORD

RESULTS = CHECKOUT / "bench" / "results"
CORPUS = VAR / "amd-corpus"
SETS: dict[str, dict[str, int]] = {
    # Asterisk's own defaults (amd.conf), where ours differ.
    "asterisk": {"greeting": 1500, "maximum_number_of_words": 2, "between_words_silence": 50},
    "words3": {"greeting": 1500, "maximum_number_of_words": 3, "between_words_silence": 50},
    "greeting2500": {"greeting": 2500, "maximum_number_of_words": 3,
                     "between_words_silence": 50},
    "ours": {},  # the service's defaults (ari_app/delivery.py AmdParameters)
    "quick": {"after_greeting_silence": 600},  # ours, deciding on a shorter silence
}
PLAYLIST = [{"type": "tts", "play": "Hello, this is a test call."}]
VOICEMAIL = [{"type": "tts", "play": "Goodbye."}]


@dataclass(frozen=True)
class Outcome:
    sample: Sample
    status: str
    cause: str
    decision_ms: float | None
    answer_to_audio_ms: float | None


def number(index: int) -> str:
    return f"12125{1776:04d}{index:02d}"


def place_all(api: ApiProcess, samples: list[Sample], detection: dict[str, Any] | None
              ) -> list[Outcome]:
    delivery: dict[str, Any] = {"voicemail": VOICEMAIL}
    if detection is not None:
        delivery["machine_detection"] = {"enabled": True, **detection}
    ids = [api.place({"to": number(n), "from": "me", "carrier_id": "74445609",
                      "playlist": PLAYLIST, "delivery": delivery})
           for n in range(len(samples))]
    outcomes = []
    for sample, request_id in zip(samples, ids, strict=True):
        status = api.wait_final(request_id, timeout=180)
        if status["state"] != "completed":
            raise RuntimeError(f"{sample.name}: call ended {status['state']}: {status['error']}")
        machine = status["delivery"]["machine"] or {}
        outcomes.append(Outcome(sample, machine.get("status", ""), machine.get("cause", ""),
                                machine.get("decision_ms"), status["answer_to_audio_ms"]))
    return outcomes


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)


def summary(outcomes: list[Outcome], baseline: list[Outcome]) -> dict[str, Any]:
    matrix = {kind: dict(Counter(o.status for o in outcomes if o.sample.kind == kind))
              for kind in ("human", "machine")}
    after_first_word = [o.decision_ms - o.sample.speech_onset * 1000 for o in outcomes
                        if o.decision_ms is not None]
    people = [o for o in outcomes if o.sample.kind == "human" and o.answer_to_audio_ms]
    after_last_word = [o.answer_to_audio_ms - (o.sample.speech_onset + o.sample.speech_seconds)
                       * 1000 for o in people if o.answer_to_audio_ms is not None]
    plain = [o.answer_to_audio_ms for o in baseline if o.answer_to_audio_ms is not None]
    return {
        "matrix": matrix,
        "humans_taken_for_machines": matrix["human"].get("MACHINE", 0),
        "machines_taken_for_humans": sum(n for status, n in matrix["machine"].items()
                                         if status != "MACHINE"),
        "decision_after_first_word_ms": {"median": percentile(after_first_word, 0.5),
                                         "p95": percentile(after_first_word, 0.95)},
        "person_answer_to_audio_ms": {
            "with_detection": {"median": percentile([o.answer_to_audio_ms or 0 for o in people],
                                                    0.5),
                               "p95": percentile([o.answer_to_audio_ms or 0 for o in people],
                                                 0.95)},
            "without_detection": {"median": percentile(plain, 0.5),
                                  "p95": percentile(plain, 0.95)},
            "after_their_last_word_with_detection": {
                "median": percentile(after_last_word, 0.5),
                "p95": percentile(after_last_word, 0.95)},
        },
        "causes": dict(Counter(o.cause.split("-")[0] for o in outcomes)),
        "missed": [f"{o.sample.name} ({o.status} {o.cause})" for o in outcomes
                   if (o.status == "MACHINE") != (o.sample.kind == "machine")],
    }


def link_by_number(samples: list[Sample]) -> None:
    """The carrier plays `/srv/ari-app/amd-corpus/by-number/NN` for `...1776NN`."""
    folder = CORPUS / "by-number"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for n, sample in enumerate(samples):
        shutil.copy(CORPUS / f"{sample.name}.wav", folder / f"{n:02d}.wav")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS),
                        help=f"parameter sets to measure (known: {', '.join(SETS)})")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.sets.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SETS]
    if unknown:
        raise SystemExit(f"unknown parameter sets: {', '.join(unknown)}")
    samples = build(CORPUS)
    link_by_number(samples)
    report: dict[str, Any] = {
        "samples": dict(Counter(s.kind for s in samples)),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "sets": {},
    }
    api = ApiProcess(log_path=VAR / "log" / "api-bench-amd.log")
    with running(ARI_PASSWORD):
        api.start()
        try:
            print("[bench] the people once without detection (dead air baseline)", flush=True)
            humans = [s for s in samples if s.kind == "human"]
            baseline = place_all(api, humans, None)
            for name in chosen:
                print(f"[bench] AMD parameter set {name}: {SETS[name] or 'Asterisk defaults'}",
                      flush=True)
                result = summary(place_all(api, samples, SETS[name]), baseline)
                result["parameters"] = SETS[name]
                report["sets"][name] = result
                print(json.dumps({k: v for k, v in result.items() if k != "missed"}),
                      flush=True)
        finally:
            api.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "amd.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
