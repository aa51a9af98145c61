"""Playlist entries validated into small immutable values (entries.py): the request's
playlist and the delivery's messages.

Everything is checked here, before anything is stored or dialled. Errors name
the offending field (`playlist[1].options.language`) and never quote text to
be spoken, which may be a verification code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urljoin, urlsplit

from ari_app.entries import AsteriskSound, AudioUrl, Entry, Pause, Speech
from ari_app.errors import InvalidField
from ari_app.settings import Settings
from ari_app.speech import (
    GENDERS,
    LANGUAGES,
    NUMBER_LANGUAGES,
    SAY_AS,
    order_for,
    segments,
    supported,
)

MAX_ENTRIES = 50
MAX_TEXT = 1000
MAX_TOTAL_TEXT = 3000
"""Characters of text over the whole playlist (repeats counted): about three minutes of speech."""
MAX_URL = 2000
MAX_REPEAT = 5
MAX_PAUSE = 10_000
_OPTIONS = ("language", "gender", "say-as", "pause", "group", "rate")
_SOUND = re.compile(r"^[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64}){0,3}$")
_URL_TYPES = frozenset({"url", "file", "audio"})


def parse_entries(playlist: object, where: str, settings: Settings,
                  base: str | None = None) -> tuple[Entry, ...]:
    """The list of entries at `where` (the playlist, or a delivery message), each checked."""
    if not isinstance(playlist, list) or not 1 <= len(playlist) <= MAX_ENTRIES:
        raise InvalidField(f"'{where}' must be a list of 1 to {MAX_ENTRIES} entries",
                           field=where)
    entries = tuple(_entry(raw, f"{where}[{i}]", settings, base)
                    for i, raw in enumerate(playlist))
    total = sum(len(e.text) * e.repeat for e in entries if isinstance(e, Speech))
    if total > MAX_TOTAL_TEXT:
        raise InvalidField(f"more than {MAX_TOTAL_TEXT} characters of text in '{where}'",
                           field=where)
    return entries


def _entry(raw: object, where: str, settings: Settings, base: str | None) -> Entry:
    if not isinstance(raw, Mapping):
        raise InvalidField("each playlist entry must be an object", field=where)
    for name in raw:
        if name not in ("play", "type", "options", "repeat", "secret"):
            raise InvalidField(f"unknown field '{str(name)[:50]}'", field=f"{where}.{name}"[:100])
    kind = raw.get("type", "url")
    play = raw.get("play")
    repeat = raw.get("repeat", 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
        raise InvalidField(f"'repeat' must be an integer from 1 to {MAX_REPEAT}",
                           field=f"{where}.repeat")
    if kind not in ("tts", "pause", "sound", *_URL_TYPES):
        raise InvalidField("'type' must be tts, url (the default), pause or sound",
                           field=f"{where}.type")
    secret = raw.get("secret", False)
    if not isinstance(secret, bool) or (secret and kind == "pause"):
        raise InvalidField("'secret' is true or false (a pause holds no code)",
                           field=f"{where}.secret")
    if kind == "tts":
        return replace(_speech(play, raw.get("options"), where, settings, repeat),
                       secret=secret)
    if raw.get("options") not in (None, {}):
        raise InvalidField("options apply to tts entries only", field=f"{where}.options")
    if kind in _URL_TYPES:
        return AudioUrl(_url(play, f"{where}.play", settings, base), repeat, secret)
    if kind == "pause":
        if isinstance(play, bool) or not isinstance(play, int) or not 1 <= play <= MAX_PAUSE:
            raise InvalidField(f"a pause is 1 to {MAX_PAUSE} milliseconds in 'play'",
                               field=f"{where}.play")
        return Pause(play, repeat)
    if not isinstance(play, str) or not _SOUND.match(play):
        raise InvalidField("an Asterisk sound name: letters, digits, '-', '_' and up to "
                           "three '/' (e.g. vm-goodbye, digits/5)", field=f"{where}.play")
    return AsteriskSound(play, repeat, secret)


def _speech(play: object, options: object, where: str, settings: Settings,
            repeat: int) -> Speech:
    if not isinstance(play, str) or not play.strip():
        raise InvalidField("a tts entry needs the text to speak in 'play'", field=f"{where}.play")
    if len(play) > MAX_TEXT:
        raise InvalidField(f"text longer than {MAX_TEXT} characters", field=f"{where}.play")
    if any(ord(ch) < 32 and ch not in "\t\n" for ch in play):
        raise InvalidField("text contains control characters", field=f"{where}.play")
    if not segments(play):
        raise InvalidField("the text has nothing to speak", field=f"{where}.play")
    opts: Mapping[str, Any] = {} if options is None else options  # type: ignore[assignment]
    if not isinstance(opts, Mapping):
        raise InvalidField("'options' must be an object", field=f"{where}.options")
    for name in opts:
        if name not in _OPTIONS:
            raise InvalidField(
                f"unknown option '{str(name)[:50]}' (known: {', '.join(_OPTIONS)})",
                field=f"{where}.options.{name}"[:100],
            )
    language = opts.get("language", "en-US")
    gender = opts.get("gender", "female")
    say_as = opts.get("say-as")
    if gender not in GENDERS:
        raise InvalidField(f"gender must be one of {', '.join(GENDERS)}",
                           field=f"{where}.options.gender")
    if not isinstance(language, str):
        raise InvalidField("language must be a BCP 47 tag such as en-US",
                           field=f"{where}.options.language")
    order = order_for(language, settings.tts.engines, settings.tts.by_language)
    sounds = settings.tts.asterisk_sounds
    if not supported(language, str(gender), order, sounds):
        other = next((g for g in GENDERS if supported(language, g, order, sounds)), None)
        if other is not None:
            raise InvalidField(f"no configured speech engine has a {gender} voice for "
                               f"{language}; it has a {other} one",
                               field=f"{where}.options.gender")
        raise InvalidField(f"unsupported language; supported: {', '.join(LANGUAGES)}",
                           field=f"{where}.options.language")
    if say_as is not None and say_as not in SAY_AS:
        raise InvalidField(f"say-as must be one of {', '.join(SAY_AS)}",
                           field=f"{where}.options.say-as")
    if say_as == "number" and str(language).lower().split("-")[0] not in NUMBER_LANGUAGES:
        raise InvalidField(f"say-as number is read in {', '.join(NUMBER_LANGUAGES)} only",
                           field=f"{where}.options.say-as")
    pause_ms = opts.get("pause", 250)
    if isinstance(pause_ms, bool) or not isinstance(pause_ms, int) or not 0 <= pause_ms <= 2000:
        raise InvalidField("pause (between digits) is 0 to 2000 milliseconds",
                           field=f"{where}.options.pause")
    group = opts.get("group", 0)
    if isinstance(group, bool) or not isinstance(group, int) or not 0 <= group <= 8:
        raise InvalidField("group is 0 (no groups) to 8 digits", field=f"{where}.options.group")
    rate = opts.get("rate", 100)
    if isinstance(rate, bool) or not isinstance(rate, int) or not 50 <= rate <= 200:
        raise InvalidField("rate is 50 to 200 (percent of the normal pace)",
                           field=f"{where}.options.rate")
    return Speech(text=play, language=language, gender=str(gender),
                  say_as=None if say_as is None else str(say_as), pause_ms=pause_ms,
                  group=group, repeat=repeat, rate=rate)


def _url(play: object, where: str, settings: Settings, base: str | None) -> str:
    if not isinstance(play, str) or not play:
        raise InvalidField("a url entry needs the audio file's URL in 'play'", field=where)
    if len(play) > MAX_URL or any(ord(ch) <= 32 for ch in play):
        raise InvalidField("not a valid URL", field=where)
    if base is not None and not urlsplit(play).scheme:
        # A path under the carrier's media_base_url; it may not climb out of it.
        resolved = urljoin(base, play)
        if not resolved.startswith(base) or "/../" in f"/{play}/" or "%2e" in play.lower():
            raise InvalidField("the path leaves the carrier's media_base_url", field=where)
        play = resolved
    parts = urlsplit(play)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidField("only http and https URLs are accepted", field=where)
    if parts.username or parts.password:
        raise InvalidField("URLs with credentials are not accepted", field=where)
    if parts.hostname.lower() not in settings.media.allowed_hosts:
        raise InvalidField("the URL's host is not on the media allow-list (media.allowed_hosts)",
                           field=where)
    return play
