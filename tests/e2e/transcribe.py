"""Transcribe the carrier's recording with pocketsphinx (its bundled English model).

A JSGF grammar of the prompt's words and the ten digits keeps recognition to
what a code call can contain. The recording is 8 kHz G.711 audio; the model
wants 16 kHz, so sox up-samples it. The model hears male voices far better
than female ones, so a female voice is first shifted down three semitones (a
crude vocal-tract-length normalisation); silence is padded on both ends so the
last word is decoded whole. A code's reading is decoded at three offsets within the
model's 10 ms frame and the words most often heard are kept: two identical calls
(same energy, 10 ms by 10 ms) were once heard "1 2 3 4 9 8" and "1 2 3 4 5 8".
"""

from __future__ import annotations

import array
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from pocketsphinx import Decoder

WORDS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}


SILENCE = 150
"""Sample level below which a 20 ms frame counts as a pause (16-bit audio)."""
MARGIN = (12, 8)
"""Frames kept before and after a digit's loud part: a digit's soft start (the /s/ of
"six") is quieter than the rest of it."""
GAP_FRAMES = 8
"""A pause of this many frames (160 ms) or more separates two pieces; between a code's
digits there are 400 ms."""
DIGIT_GRAMMAR = ("#JSGF V1.0;\ngrammar digit;\n"
                 f"public <digit> = {' | '.join(WORDS)} ;\n")


def _grammar(digits: int, readings: int, filler: set[str] | None = None) -> str:
    """`readings` times "your code is" and `digits` digits; with `filler`, any of those
    words may come before, between and after the readings."""
    reading = "your code is" + " <digit>" * digits
    if filler:
        reading = f"{reading} <filler>*"
    rules = f"<filler> = {' | '.join(sorted(filler))} ;\n" if filler else ""
    return (
        "#JSGF V1.0;\ngrammar code;\n"
        f"public <call> = {'<filler>* ' if filler else ''}"
        f"{' '.join([f'( {reading} )'] * readings)} ;\n"
        f"<digit> = {' | '.join(WORDS)} ;\n{rules}"
    )


def transcribe(wav: Path, *, digits: int, readings: int, female: bool,
               filler: set[str] | None = None) -> list[str]:
    """The words heard, e.g. ['your', 'code', 'is', 'one', ...].

    The grammar fixes the shape (the prompt, then `digits` digits, `readings`
    times) and leaves every digit free: what is checked is which digits are heard.
    `filler`: the other words the call says (a gate's prompt, an offer to repeat).
    """
    # The words heard can hang on how the audio falls on the model's 10 ms frames: one
    # recording decoded at three offsets within a frame, the words most often heard.
    grammar = _grammar(digits, readings, filler)
    heard = [tuple(_decode(wav, grammar, female=female, lead=0.5 + offset))
             for offset in (0.0, 0.0033, 0.0066)]
    return list(Counter(heard).most_common(1)[0][0])


def spoken_digits(wav: Path, *, count: int, female: bool) -> str:
    """The last `count` digits a call said when it says each digit alone, with a pause
    around it (a verification's code): the audio is cut at its pauses and each of the
    last `count` pieces is recognised as one digit word. Recognising whole utterances,
    one inserted or dropped word shifts every digit after it; one at a time it cannot
    (of 20 random codes read three times, 8 were heard whole that way; this way, in a
    male voice, 29 of 30, and the 30th as the runner-up)."""
    pcm = _pcm(wav, female=female, lead=0.0)
    samples = array.array("h", pcm)
    frame = 320  # 20 ms at 16 kHz
    loud = [max(abs(v) for v in samples[i:i + frame]) > SILENCE
            for i in range(0, len(samples) - frame, frame)]
    pieces: list[tuple[int, int]] = []  # [start, end) in frames
    quiet = 0
    for n, is_loud in enumerate([*loud, False]):
        if is_loud:
            if pieces and quiet < GAP_FRAMES and pieces[-1][1] == n - quiet:
                pieces[-1] = (pieces[-1][0], n + 1)
            else:
                pieces.append((n, n + 1))
            quiet = 0
        else:
            quiet += 1
    digits = ""
    for first, last in pieces[-count:]:
        piece = samples[max(0, first - MARGIN[0]) * frame:(last + MARGIN[1]) * frame].tobytes()
        words = _decode_pcm(_padded(piece), DIGIT_GRAMMAR)
        digits += "".join(WORDS[w] for w in words[:1] if w in WORDS) or "?"
    return digits


def majority(readings: list[str]) -> list[str]:
    """The code most readings agree on, digit by digit; then the code with the least
    certain digit changed to its runner-up, if any digit was in doubt."""
    votes = [Counter(r[n] for r in readings if r[n] != "?") for n in range(len(readings[0]))]
    if not all(votes):
        return []
    best = "".join(v.most_common(1)[0][0] for v in votes)
    doubts = sorted((v.most_common(1)[0][1] - v.most_common(2)[1][1], n)
                    for n, v in enumerate(votes) if len(v) > 1)
    return [best] + [best[:n] + votes[n].most_common(2)[1][0] + best[n + 1:]
                     for _, n in doubts[:1]]


def heard_among(wav: Path, vocabulary: set[str], *, digits: int,
                female: bool) -> tuple[list[str], list[str]]:
    """What was heard when any of `vocabulary` may come, in any order, and a code may come
    anywhere as a run of `digits` digit words: the words, and each run's digits.

    A lone digit is not in the grammar (unless in `vocabulary`): 8 kHz audio fed to
    the wideband model makes stray digits of words, but a whole run of digits needs
    the acoustic evidence of one.
    """
    run = " ".join(["<digit>"] * digits)
    grammar = ("#JSGF V1.0;\ngrammar free;\n"
               f"public <call> = ( {' | '.join(sorted(vocabulary))} | ( {run} ) )* ;\n"
               f"<digit> = {' | '.join(WORDS)} ;\n")
    words = _decode(wav, grammar, female=female)
    runs: list[str] = []
    current = ""
    for word in [*words, ""]:
        if word in WORDS and word not in vocabulary:
            current += WORDS[word]
            if len(current) == digits:
                runs.append(current)
                current = ""
        else:
            current = ""
    return words, runs


def _pcm(wav: Path, *, female: bool, lead: float) -> bytes:
    return subprocess.run(
        ["sox", str(wav), "-t", "raw", "-r", "16000", "-c", "1", "-e", "signed-integer",
         "-b", "16", "-", "pad", str(lead), "0.5", *(["pitch", "-300"] if female else [])],
        capture_output=True, check=True,
    ).stdout


def _padded(pcm: bytes, seconds: float = 0.3) -> bytes:
    silence = bytes(int(16000 * seconds) * 2)
    return silence + pcm + silence


def _decode(wav: Path, jsgf: str, *, female: bool, lead: float = 0.5) -> list[str]:
    return _decode_pcm(_pcm(wav, female=female, lead=lead), jsgf)


def _decode_pcm(pcm: bytes, jsgf: str) -> list[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".gram") as grammar:
        grammar.write(jsgf)
        grammar.flush()
        decoder = Decoder(jsgf=grammar.name, samprate=16000, loglevel="FATAL")
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return hypothesis.hypstr.split() if hypothesis is not None else []


def codes_heard(words: list[str]) -> list[str]:
    """Split the words into the codes read after each 'your code is'."""
    codes: list[str] = []
    for word in words:
        if word == "is":
            codes.append("")
        elif word in WORDS and codes:
            codes[-1] += WORDS[word]
    return codes


def in_order(heard: str, expected: str) -> int:
    """How many of the expected digits were heard in order (longest common subsequence)."""
    row = [0] * (len(expected) + 1)
    for h in heard:
        previous = 0
        for j, e in enumerate(expected, start=1):
            current = row[j]
            row[j] = previous + 1 if h == e else max(row[j], row[j - 1])
            previous = current
    return row[-1]
