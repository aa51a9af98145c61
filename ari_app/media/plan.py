"""What a speech entry is made of, in order: words, single characters and silences. Pure.

Words go to a speech engine; a word never holds a digit. Each digit (or letter, for
`say-as characters`) is a clip of its own, so a code is never sent to an engine and
never cached as a whole. Clips come in whole sets (every digit, every letter, every
number word), so which ones an engine is asked for says nothing about a code.
"""

from __future__ import annotations

from dataclasses import dataclass

from ari_app.entries import Speech
from ari_app.speech import NUMBER_VOCABULARY, number_words, segments

WORDS_TO_DIGITS_MS = 300
AFTER_DIGITS_MS = 400
DIGITS = "0123456789"
ALPHABET = DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

Item = str | int
"""Words or one character to speak, or milliseconds of silence."""


@dataclass(frozen=True)
class SpeechPlan:
    items: tuple[Item, ...]
    clip_sets: tuple[tuple[str, ...], ...]
    """The sets of clips to make whole before any of their clips is used."""


def plan_speech(entry: Speech) -> SpeechPlan:
    items: list[Item] = []
    group = entry.group or (3 if entry.say_as == "telephone" else 0)
    characters = entry.say_as == "characters"
    for n, (spelled, text) in enumerate(segments(entry.text, characters=characters)):
        if not spelled:
            items.append(text)
            continue
        if n > 0:
            items.append(WORDS_TO_DIGITS_MS)
        if entry.say_as == "number" and len(text) <= 9:  # longer runs: digit by digit
            items.extend(number_words(int(text)))
            items.append(AFTER_DIGITS_MS)
            continue
        for i, character in enumerate(text.upper()):
            if i:
                gap = entry.pause_ms * 2 if group and i % group == 0 else entry.pause_ms
                if gap:
                    items.append(gap)
            items.append(character)
        items.append(AFTER_DIGITS_MS)
    sets: list[tuple[str, ...]] = []
    if entry.say_as == "number":
        sets.append(NUMBER_VOCABULARY)
    wanted = {item for item in items if isinstance(item, str) and len(item) == 1}
    if wanted:
        sets.append(tuple(ALPHABET if wanted - set(DIGITS) else DIGITS))
    return SpeechPlan(tuple(items), tuple(sets))
