"""Playlist entries as small immutable values: what to speak, fetch, pause or play.

Parsing them from a request is playlist.py's; this module depends on nothing, so the
settings (whose delivery messages are entries) can use them too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Speech:
    """Text to speak. Digits are always read one by one from prepared clips, so a code
    never reaches a speech engine; `say_as="digits"` is the explicit form of that.
    `pause_ms` separates digits, `group` digits form a group with a longer pause after."""

    text: str
    language: str
    gender: str
    say_as: str | None
    pause_ms: int = 250
    group: int = 0
    repeat: int = 1
    rate: int = 100
    """Speaking pace in percent of the voice's normal pace."""
    secret: bool = False


@dataclass(frozen=True)
class AudioUrl:
    """A prerecorded file the service fetches (never Asterisk)."""

    url: str
    repeat: int = 1
    secret: bool = False
    """Marked by the client as holding a code: prerecorded digits cannot be recognised."""


@dataclass(frozen=True)
class Pause:
    """Silence, in milliseconds."""

    ms: int
    repeat: int = 1


@dataclass(frozen=True)
class AsteriskSound:
    """One of Asterisk's own recorded prompts, by name (e.g. `vm-goodbye`, `digits/5`)."""

    name: str
    repeat: int = 1
    secret: bool = False


Entry = Speech | AudioUrl | Pause | AsteriskSound
KINDS: dict[type[Entry], str] = {Speech: "tts", AudioUrl: "url", Pause: "pause",
                                 AsteriskSound: "sound"}


CODE_SAY_AS = frozenset({"digits", "characters", "telephone", "number"})
"""A tts entry read in one of these ways holds a code."""
CODE_DIGITS = 3
"""A text with this many digits or more holds a code, whatever its say-as ("press 1" does
not; the shortest codes have four)."""


def holds_code(entry: Entry) -> bool:
    """Whether the entry (may) say a verification code: tts read as digits, characters, a
    telephone number or a number, or holding digits enough for one, or any entry the
    client marked `secret`."""
    if isinstance(entry, Speech) and (entry.say_as in CODE_SAY_AS
                                      or sum(ch.isdigit() for ch in entry.text) >= CODE_DIGITS):
        return True
    return not isinstance(entry, Pause) and entry.secret
