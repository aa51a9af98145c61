"""Corpus of short call greetings for benchmarking Asterisk's answering-machine detection.

    .venv/bin/python -m bench.amd_corpus [--out DIR]

AMD decides from the first seconds of audio after answer whether a person or a voicemail
picked up. To measure how often it is right, the simulated carrier plays one of these files
when it answers: human openings (short, then the person waits in silence) and voicemail
greetings (long, often ending in a beep, then the mailbox records silence). The audio is
synthesised locally (espeak-ng, flite, sox) so the corpus needs no network and, with a
fixed seed, is the same on every run on the same machine.

No text contains a digit word or a homophone of one: tests transcribe the recordings made
during calls and check that no digits were heard.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import subprocess
import sys
import tempfile
import wave
from array import array
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

VERSION = 1
RATE = 8000  # Asterisk plays .wav as slin at 8 kHz, mono, 16-bit
SEED = 20240611
TAIL_SECONDS = 6.0  # longer than the 5 s our side takes to decide
SPEECH_RANGE = {"human": (0.45, 2.5), "machine": (2.0, 9.0)}  # seconds of speech
THRESHOLD = 330  # ~1% of full scale: above TTS residue, below any spoken sound
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "var" / "amd-corpus"

HUMAN = [
    "Hello?", "Hi.", "Yeah, hello.", "Hello, this is Maria speaking.",
    "Smith residence, hello?", "Good morning, Dave here.", "Yes?", "Hello? Who is this?",
    "Hey.", "Hello, Peter speaking.", "Yeah?", "Good afternoon, Carter household.",
    "Hi there.", "Hello, who's calling?", "Jenny here.", "Hello, can I help you?",
    "Speaking.", "Hiya, what's up?", "Hello, hello?", "This is Linda.",
    "Evening, Mark speaking.", "Hello? Anybody there?", "Yep, hello.",
    "Good morning, accounts, Sarah speaking.", "Hello, you've got Tom.",
]
MACHINE = [
    "Hi, you've reached Anna. I can't take your call right now, "
    "please leave a message after the tone.",
    "The person you are calling is not available. Please record your message after the tone.",
    "Hello, this is Mike. Leave a message.",
    "You have reached the voicemail of James Wilson. I am away from my desk. "
    "Please leave your name and number and I will call you back.",
    "Hey, it's Chris. Leave a message.",
    "Sorry, we missed your call. Please leave a message and we will call you back "
    "as soon as we can.",
    "Hi, this is Laura. I'm not here right now. Leave a message and I'll call you back.",
    "Welcome, this is the mailbox of Robert Brown. Please speak after the tone.",
    "We are not home right now. Leave us a message.",
    "The subscriber you have dialed is not available at the moment. "
    "Please leave a message after the beep.",
    "Hi, you've reached Sam and Kelly. We're out at the moment. "
    "Leave your message at the beep and have a great day.",
    "You've reached the office of Doctor Harris. The office is closed. Please call again "
    "during business hours, or leave a message after the tone.",
    "Hello, I can't answer the phone right now. Please leave a message.",
    "Hey, you got Nick. You know what happens next.",
    "This is Karen Lee. I'm either on the phone or away from my desk. "
    "Leave a detailed message and I'll return your call.",
    "Your call has been forwarded. The person you called is not available. At the tone, "
    "please record your message. When you have finished recording, you may hang up.",
    "Sorry, I can't answer. Please leave a message.",
    "Hi, it's Tom. Can't talk right now. Text me or leave a message.",
    "Hello, you have reached Jessica Miller at Acme Logistics. I'm out of the office this "
    "week with limited access. Please leave a message, and I will return your call.",
    "Hi there, Paul and Emma can't answer right now. Leave your name and a short message, "
    "and we'll call you back.",
    "The mailbox you have reached is full and cannot accept messages at this time.",
    "Good day, you have reached Brian. I am travelling this week. Leave a message, thanks.",
    "Hey, it's Alex, leave it at the beep.",
    "Hello, you've reached the Johnson residence. We can't pick up right now, "
    "so please leave a message after the tone. Thank you.",
]
# Homophones count too: a recogniser may well write "to" as "two" or "for" as "four".
DIGIT_WORDS = re.compile(r"\b(zero|oh|one|two|three|four|five|six|seven|eight|nine|to|too|"
                         r"for|won|ate|nein)\b|\d", re.IGNORECASE)
ESPEAK_VOICES = ["en-us", "en", "en-gb-x-rp", "en+f3", "en+m3", "en-us+f2", "en-gb+f4"]
FLITE_VOICES = ["kal", "slt", "rms", "awb"]


@dataclass(frozen=True)
class Sample:
    name: str
    kind: str  # "human" | "machine"
    text: str
    speech_onset: float  # seconds to the first sound, measured before noise is mixed in
    speech_seconds: float
    beep: bool
    noise: bool
    seconds: float


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def _available() -> tuple[set[str], set[str]]:
    """Installed espeak-ng voice names (language and variant) and flite voices."""
    espeak: set[str] = set()
    for listing in (_run("espeak-ng", "--voices"), _run("espeak-ng", "--voices=variant")):
        for line in listing.splitlines()[1:]:
            cols = line.split()
            if len(cols) >= 5:
                espeak.update({cols[1].lower(), cols[4].rsplit("/", 1)[-1].lower()})
    # flite prints "Voices available: kal awb ..." (to stdout on some builds, stderr on others)
    lv = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=False)
    flite = set((lv.stdout + lv.stderr).split(":", 1)[-1].split())
    return espeak, flite


def _synth(text: str, rng: random.Random, voices: tuple[set[str], set[str]], raw: Path) -> None:
    """Speak `text` into `raw` with a randomly chosen voice, speed and pitch."""
    espeak, flite = voices
    # Draw every parameter whatever is installed, so the sequence of draws stays the same.
    use_flite, fv, ev = rng.random() < 0.35, rng.choice(FLITE_VOICES), rng.choice(ESPEAK_VOICES)
    speed, pitch = rng.randint(140, 190), rng.randint(25, 75)
    if use_flite and fv in flite:
        _run("flite", "-voice", fv, "-t", text, "-o", str(raw))
        return
    if not all(part in espeak for part in ev.split("+")):
        ev = "en-us"
    _run("espeak-ng", "-v", ev, "-s", str(speed), "-p", str(pitch), "-w", str(raw), text)


def _read(path: Path) -> array[int]:
    with wave.open(str(path), "rb") as w:
        pcm = array("h", w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        pcm.byteswap()  # WAV is little-endian
    return pcm


def _write(path: Path, pcm: array[int]) -> None:
    data = array("h", pcm)
    if sys.byteorder == "big":
        data.byteswap()
    with wave.open(str(path), "wb") as w:
        w.setparams((1, 2, RATE, len(data), "NONE", "not compressed"))
        w.writeframes(data.tobytes())


def _speech(text: str, kind: str, rng: random.Random, voices: tuple[set[str], set[str]],
            tmp: Path) -> array[int]:
    """Synthesised speech at 8 kHz, peak at -3 dBFS, with the TTS's own silences trimmed."""
    raw, conv = tmp / "raw.wav", tmp / "speech.wav"
    _synth(text, rng, voices, raw)
    # -D: no dither, so the silence around the speech stays digital zero.
    fmt = ["-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer"]
    _run("sox", "-D", str(raw), *fmt, str(conv), "gain", "-n", "-3", "silence", "1", "0.01",
         "1%", "reverse", "silence", "1", "0.01", "1%", "reverse")
    pcm = _read(conv)
    # Fast voices clip a lone "hi" to a blip and slow ones drag long texts past what a person
    # or a mailbox would say: stretch or squeeze (pitch kept) into the intended range.
    lo, hi = SPEECH_RANGE[kind]
    seconds = len(pcm) / RATE
    if not lo <= seconds <= hi:
        _run("sox", "-D", str(conv), *fmt, str(raw), "tempo", "-s",
             f"{seconds / min(max(seconds, lo), hi):.4f}")
        pcm = _read(raw)
    return pcm


def _beep(rng: random.Random) -> array[int]:
    """Quiet gap, then a 1 kHz tone with 5 ms ramps (no click) like a mailbox's."""
    gap, n = int(rng.uniform(0.2, 0.6) * RATE), int(rng.uniform(0.4, 1.0) * RATE)
    ramp = int(0.005 * RATE)
    tone = array("h", (int(16000 * min(1.0, i / ramp, (n - i) / ramp)
                           * math.sin(2 * math.pi * 1000 * i / RATE)) for i in range(n)))
    return array("h", bytes(2 * gap)) + tone


def _make(name: str, kind: str, text: str, beep: bool, noise: bool, rng: random.Random,
          voices: tuple[set[str], set[str]], out: Path, tmp: Path) -> Sample:
    speech = _speech(text, kind, rng, voices, tmp)
    # A person often takes a moment after pick-up before speaking; a machine does not.
    lead = rng.uniform(0.1, 1.0) if kind == "human" and rng.random() < 0.6 else 0.0
    loud = [i for i, v in enumerate(speech) if abs(v) > THRESHOLD] or [0]
    pcm = array("h", bytes(2 * int(lead * RATE))) + speech
    if beep:
        pcm += _beep(rng)
    pcm += array("h", bytes(2 * int(TAIL_SECONDS * RATE)))
    level, colour = rng.uniform(0.003, 0.015), rng.choice(["whitenoise", "pinknoise"])
    wav = out / f"{name}.wav"
    if not noise:
        _write(wav, pcm)
    else:
        clean, hiss = tmp / "clean.wav", tmp / "noise.wav"
        _write(clean, pcm)
        # -R: repeatable noise; -v 1 on each input stops `-m` halving the speech level.
        _run("sox", "-R", "-D", "-n", "-r", str(RATE), "-c", "1", "-b", "16", str(hiss),
             "synth", f"{len(pcm) / RATE:.4f}", colour, "vol", f"{level:.4f}")
        _run("sox", "-R", "-D", "-m", "-v", "1", str(clean), "-v", "1", str(hiss),
             "-b", "16", str(wav))
    return Sample(name=name, kind=kind, text=text,
                  speech_onset=round(lead + loud[0] / RATE, 3),
                  speech_seconds=round((loud[-1] - loud[0] + 1) / RATE, 3),
                  beep=beep, noise=noise, seconds=round(len(pcm) / RATE, 3))


def _load(manifest: Path) -> list[Sample] | None:
    try:
        data = json.loads(manifest.read_text())
        samples = [Sample(**s) for s in data["samples"]] if data["version"] == VERSION else []
    except (OSError, ValueError, KeyError, TypeError):
        return None
    ok = samples and all((manifest.parent / f"{s.name}.wav").is_file() for s in samples)
    return samples if ok else None


def build(out: Path) -> list[Sample]:
    """Write `<out>/<name>.wav` and `<out>/manifest.json`, unless an up-to-date one exists."""
    manifest = out / "manifest.json"
    if (ready := _load(manifest)) is not None:
        return ready
    if bad := [t for t in HUMAN + MACHINE if DIGIT_WORDS.search(t)]:
        raise ValueError(f"greetings must not contain digit words: {bad}")
    rng = random.Random(SEED)
    voices = _available()
    # Fixed proportions rather than coin flips: about half noisy, two thirds of mailboxes beep.
    plan = [("human", t, False) for t in HUMAN]
    plan += [("machine", t, i % 3 != 2) for i, t in enumerate(MACHINE)]
    noisy = [i % 2 == 0 for i in range(len(plan))]
    rng.shuffle(noisy)
    out.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for i, ((kind, text, beep), noise) in enumerate(zip(plan, noisy, strict=True), 1):
            name = f"{kind}-{sum(p[0] == kind for p in plan[:i]):02d}"
            samples.append(_make(name, kind, text, beep, noise, rng, voices, out, Path(tmpdir)))
            if i % 10 == 0 or i == len(plan):
                print(f"[bench] making AMD corpus: {i}/{len(plan)}", flush=True)
    # The manifest goes last: its presence means every file listed is complete.
    manifest.write_text(json.dumps({"version": VERSION, "rate": RATE,
                                    "samples": [asdict(s) for s in samples]}, indent=2) + "\n")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    samples = build(args.out)
    for kind in ("human", "machine"):
        group = [s for s in samples if s.kind == kind]
        beeps, noisy = Counter(s.beep for s in group), Counter(s.noise for s in group)
        speech = [s.speech_seconds for s in group]
        print(f"{kind}: {len(group)} (beep {beeps[True]}, no beep {beeps[False]}; "
              f"noise {noisy[True]}, clean {noisy[False]}; "
              f"speech {min(speech):.1f}-{max(speech):.1f} s)")
    print(f"corpus: {args.out}")


if __name__ == "__main__":
    main()
