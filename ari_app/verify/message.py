"""The call a verification places: its prompt and code in the callee's language, the code
read as digits as many times as asked with a pause between readings, and the gate's
prompt in that language too (unless the deployment wrote its own)."""

from __future__ import annotations

import dataclasses

from ari_app.delivery import ANY_KEY, DeliveryOptions
from ari_app.entries import Entry, Pause, Speech
from ari_app.settings import Settings
from ari_app.speech import order_for, supported
from ari_app.verify.locales import phrases

BETWEEN_READINGS_MS = 1200
DIGIT_PAUSE_MS = 400
"""Between digits: slower than a playlist's default, so the code can be written down."""


def speech_language(locale: str, settings: Settings, gender: str) -> str | None:
    """The language tag to speak `locale` in (itself, else its primary subtag), if it has
    phrases and a configured engine has a voice of `gender` for it; else None."""
    if phrases(locale) is None:
        return None
    for tag in (locale, locale.split("-")[0]):
        order = order_for(tag, settings.tts.engines, settings.tts.by_language)
        if supported(tag, gender, order, settings.tts.asterisk_sounds):
            return tag
    return None


def code_playlist(code: str, *, language: str, gender: str, brand: str | None,
                  readings: int) -> tuple[Entry, ...]:
    """"Your <brand> code is 4 5 9 8 1 3 … 4 5 9 8 1 3 …". The words and the first reading
    are one entry, so a gate comes before the words (a gate comes before the first entry
    holding a code); every entry is marked secret."""
    said = phrases(language)
    assert said is not None  # the language was checked when the verification was made
    intro = said.brand_code_is.format(brand=brand) if brand else said.code_is

    def speech(text: str) -> Speech:
        return Speech(text=text, language=language, gender=gender, say_as="digits",
                      pause_ms=DIGIT_PAUSE_MS, secret=True)

    entries: list[Entry] = [speech(f"{intro} {code}")]
    for _ in range(readings - 1):
        entries += [Pause(BETWEEN_READINGS_MS), speech(code)]
    return tuple(entries)


def localized(options: DeliveryOptions, language: str, gender: str) -> DeliveryOptions:
    """The gate's stock prompt said in `language`; a prompt the deployment wrote stays."""
    gate = options.gate
    said = phrases(language)
    if not gate.enabled or gate.prompt is not None or said is None or gate.keys in ("*", "#"):
        return options
    text = said.press_any if gate.keys == ANY_KEY else said.press_key.format(key=gate.keys)
    prompt = (Speech(text=text, language=language, gender=gender, say_as=None),)
    return dataclasses.replace(options, gate=dataclasses.replace(gate, prompt=prompt))
