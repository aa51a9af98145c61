"""Text to speech with offline engines from Debian: flite (English) and espeak-ng (many languages).

Engines are tried in the configured order (`tts.engines`); the first one with a
voice for the language and gender speaks, and when it fails the next one is
used (media/). Text never appears on an engine's command line, where any
local user could read it in the process list. Digits never reach an engine as
a number: each digit is a clip of its own, made once per voice.

flite's female US voice (slt) reads digits far more clearly over an 8 kHz
phone line than espeak-ng's voices, so it comes first for English by default.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from ari_app.errors import SpeechError
from ari_app.process import run

GENDERS = ("female", "male")
SAY_AS = ("digits", "characters", "telephone", "number")
NUMBER_LANGUAGES = ("en",)
# The words every English number is made of; all are made together, like the digits.
NUMBER_VOCABULARY = (*(str(n) for n in range(20)), *(str(n) for n in range(20, 100, 10)),
                     "hundred", "thousand", "million")


def number_words(value: int) -> list[str]:
    """An English number as vocabulary items.

    1234 -> ['1', 'thousand', '2', 'hundred', '30', '4']
    """
    if value < 20:
        return [str(value)]
    if value < 100:
        tens, ones = divmod(value, 10)
        return [str(tens * 10)] + ([str(ones)] if ones else [])
    for size, word in ((1_000_000, "million"), (1000, "thousand"), (100, "hundred")):
        if value >= size:
            high, rest = divmod(value, size)
            return number_words(high) + [word] + (number_words(rest) if rest else [])
    raise AssertionError(value)

# BCP 47 language -> espeak-ng voice. Keys are matched case-insensitively.
_ESPEAK_VOICES: Mapping[str, str] = MappingProxyType({
    "en": "en-us", "en-us": "en-us", "en-gb": "en-gb", "en-au": "en-us", "en-ca": "en-us",
    "es": "es", "es-es": "es", "es-mx": "es-419", "es-us": "es-419", "es-419": "es-419",
    "fr": "fr-fr", "fr-fr": "fr-fr", "fr-ca": "fr-fr", "fr-be": "fr-be", "fr-ch": "fr-ch",
    "de": "de", "de-de": "de", "de-at": "de", "de-ch": "de",
    "it": "it", "it-it": "it",
    "pt": "pt", "pt-pt": "pt", "pt-br": "pt-br",
    "nl": "nl", "nl-nl": "nl", "pl": "pl", "pl-pl": "pl", "ru": "ru", "ru-ru": "ru",
    "sv": "sv", "sv-se": "sv", "da": "da", "da-dk": "da", "nb": "nb", "no": "nb",
    "fi": "fi", "fi-fi": "fi", "cs": "cs", "cs-cz": "cs", "tr": "tr", "tr-tr": "tr",
    "el": "el", "el-gr": "el", "ro": "ro", "ro-ro": "ro", "hu": "hu", "hu-hu": "hu",
})
# espeak-ng voice variants standing for the requested gender.
_ESPEAK_VARIANTS: Mapping[str, str] = MappingProxyType({"female": "f3", "male": "m3"})
# flite speaks English only: slt is a US female voice, rms a US male voice.
_FLITE_LANGUAGES = frozenset({"en", "en-us", "en-gb", "en-au", "en-ca"})
_FLITE_VOICES: Mapping[str, str] = MappingProxyType({"female": "slt", "male": "rms"})

LANGUAGES = tuple(sorted(_ESPEAK_VOICES))
_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - private mkstemp files
_DIGIT_RUN = re.compile(r"[0-9]+")
# Under say-as characters: a word with a digit in it, or in capitals (AB12CD, XKCD).
_CODE_WORD = re.compile(r"\b(?:[A-Za-z]*[0-9][A-Za-z0-9]*|[A-Z]{2,}[A-Z0-9]*)\b")


def segments(text: str, *, characters: bool = False) -> list[tuple[bool, str]]:
    """Split text into (spelled, part): 'Code 12, ok' -> [(F,'Code'), (T,'12'), (F,'ok')].

    Digit runs are always spelled; with `characters`, so are code-like words (AB12CD).
    """
    out: list[tuple[bool, str]] = []
    position = 0
    pattern = _CODE_WORD if characters else _DIGIT_RUN
    for match in [*pattern.finditer(text), None]:
        end = match.start() if match else len(text)
        words = text[position:end].strip(" ,:;-").lstrip(".").strip()
        if any(ch.isalnum() for ch in words):
            out.append((False, words))
        if match:
            out.append((True, match.group()))
            position = match.end()
    return out


class Engine(Protocol):
    name: str

    def voice(self, language: str, gender: str) -> str | None:
        """This engine's voice for a BCP 47 language and a gender, or None."""

    async def synthesize(self, text: str, *, voice: str, speed: float) -> bytes:
        """Audio of `text` (WAV, MP3 or OGG); `speed` 1.0 is the voice's normal pace."""


class Espeak:
    name = "espeak-ng"

    def __init__(self, *, rate: int, timeout: float, binary: str = "espeak-ng") -> None:
        self._rate = rate
        self._timeout = timeout
        self._binary = binary

    def voice(self, language: str, gender: str) -> str | None:
        base = _ESPEAK_VOICES.get(language.strip().lower())
        variant = _ESPEAK_VARIANTS.get(gender)
        return None if base is None or variant is None else f"{base}+{variant}"

    async def synthesize(self, text: str, *, voice: str, speed: float) -> bytes:
        rate = max(80, min(450, round(self._rate * speed)))
        wav = await run([self._binary, "--stdin", "--stdout", "-v", voice, "-s", str(rate)],
                        text.encode(), timeout=self._timeout, error=SpeechError)
        if not wav.startswith(b"RIFF"):
            raise SpeechError("espeak-ng produced no audio")
        return wav


class Flite:
    name = "flite"

    def __init__(self, *, timeout: float, binary: str = "flite") -> None:
        self._timeout = timeout
        self._binary = binary

    def voice(self, language: str, gender: str) -> str | None:
        if language.strip().lower() not in _FLITE_LANGUAGES:
            return None
        return _FLITE_VOICES.get(gender)

    async def synthesize(self, text: str, *, voice: str, speed: float) -> bytes:
        # flite seeks in its output, so it cannot write to a pipe: it writes to
        # a private file in memory-backed /dev/shm that lives only until read.
        fd, name = tempfile.mkstemp(suffix=".wav", dir=_SHM)
        os.close(fd)
        try:
            stretch = f"{1 / speed:.2f}"
            await run([self._binary, "-voice", voice, "--setf", f"duration_stretch={stretch}",
                       "-f", "-", "-o", name], text.encode(), timeout=self._timeout,
                      error=SpeechError)
            wav = Path(name).read_bytes()  # noqa: ASYNC240 - a small file in memory
        finally:
            os.unlink(name)
        if not wav.startswith(b"RIFF") or len(wav) <= 44:
            raise SpeechError("flite produced no audio")
        return wav


def order_for(language: str, default: Sequence[str],
              by_language: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The engine order for a language: its own (`es-MX`, else `es`) or the default."""
    tag = language.strip().lower()
    return tuple(by_language.get(tag) or by_language.get(tag.split("-")[0]) or default)


class Speaker:
    """The configured engines, in the configured order for each language."""

    def __init__(self, engines: Sequence[Engine],
                 by_language: Mapping[str, Sequence[Engine]] | None = None) -> None:
        self._engines = tuple(engines)
        self._by_language = {tag.lower(): tuple(order)
                             for tag, order in (by_language or {}).items()}

    def voices(self, language: str, gender: str) -> list[tuple[Engine, str]]:
        """Every engine with a voice for this language and gender, in the configured order."""
        tag = language.strip().lower()
        order = self._by_language.get(tag) or self._by_language.get(tag.split("-")[0]) \
            or self._engines
        out = []
        for engine in order:
            voice = engine.voice(language, gender)
            if voice is not None:
                out.append((engine, voice))
        return out


# BCP 47 language -> (gTTS language, Google host's top-level domain for the accent).
_GTTS_VOICES: Mapping[str, tuple[str, str]] = MappingProxyType({
    "en": ("en", "com"), "en-us": ("en", "com"), "en-gb": ("en", "co.uk"),
    "en-au": ("en", "com.au"), "en-ca": ("en", "ca"),
    "es": ("es", "es"), "es-es": ("es", "es"), "es-mx": ("es", "com.mx"),
    "es-us": ("es", "com"), "es-419": ("es", "com.mx"),
    "fr": ("fr", "fr"), "fr-fr": ("fr", "fr"), "fr-ca": ("fr", "ca"),
    "de": ("de", "de"), "de-de": ("de", "de"), "it": ("it", "it"), "it-it": ("it", "it"),
    "pt": ("pt", "pt"), "pt-pt": ("pt", "pt"), "pt-br": ("pt", "com.br"),
    "nl": ("nl", "nl"), "nl-nl": ("nl", "nl"), "pl": ("pl", "pl"), "ru": ("ru", "ru"),
})


class GoogleTts:
    """gTTS, the user's choice: natural voices, but it needs the internet and Google hears
    what it speaks (words only: digits never reach any engine). Its voices are female.
    `endpoint` replaces Google's address (a proxy, or a stand-in in tests)."""

    name = "gtts"

    def __init__(self, *, timeout: float, endpoint: str | None = None) -> None:
        self._timeout = timeout
        self._endpoint = endpoint

    def voice(self, language: str, gender: str) -> str | None:
        found = _GTTS_VOICES.get(language.strip().lower())
        return None if found is None or gender != "female" else "|".join(found)

    async def synthesize(self, text: str, *, voice: str, speed: float) -> bytes:
        lang, tld = voice.split("|")
        slow = speed < 0.8  # gTTS has two paces only
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self._fetch, text, lang, tld, slow), self._timeout)
        except TimeoutError as exc:
            raise SpeechError(f"gtts took longer than {self._timeout:.0f} s") from exc

    def _fetch(self, text: str, lang: str, tld: str, slow: bool) -> bytes:
        from gtts import gTTS, gTTSError

        endpoint = self._endpoint

        class Pointed(gTTS):  # type: ignore[misc]
            def _prepare_requests(self) -> list[Any]:
                prepared = super()._prepare_requests()
                if endpoint:
                    for request in prepared:
                        request.url = endpoint
                return prepared  # type: ignore[no-any-return]

        buffer = io.BytesIO()
        try:
            Pointed(text, lang=lang, tld=tld, slow=slow, lang_check=False,
                    timeout=self._timeout).write_to_fp(buffer)
        except (gTTSError, OSError, AssertionError) as exc:
            raise SpeechError(f"gtts failed: {type(exc).__name__}") from exc
        if not buffer.getvalue():
            raise SpeechError("gtts returned no audio")
        return buffer.getvalue()


class AsteriskPrompts:
    """Asterisk's own recorded digits and letters (`digits/5`, `letters/a`), read from its
    sounds folder as the service sees it (`tts.asterisk_sounds`). It reads single digits and
    letters only: an entry with words goes to the next engine."""

    name = "asterisk"

    def __init__(self, *, sounds: Path | None) -> None:
        self._sounds = sounds

    def voice(self, language: str, gender: str) -> str | None:
        if self._sounds is None or gender != "female":  # Debian ships Allison's voice
            return None
        primary = language.strip().lower().split("-")[0]
        return primary if (self._sounds / primary / "digits").is_dir() else None

    async def synthesize(self, text: str, *, voice: str, speed: float) -> bytes:
        character = text.rstrip(".").lower()
        if self._sounds is None or len(character) != 1 or not character.isalnum():
            raise SpeechError("Asterisk's prompts read single digits and letters only")
        folder = "digits" if character.isdigit() else "letters"
        prompt = self._sounds / voice / folder / f"{character}.wav"
        try:
            return prompt.read_bytes()
        except OSError as exc:  # which character is left out: it may be part of a code
            raise SpeechError(f"an Asterisk prompt is missing in {voice}/{folder}") from exc


ENGINES = ("flite", "espeak-ng", "gtts", "asterisk")


def build_engines(order: Sequence[str], *, rate: int, timeout: float,
                  commands: Mapping[str, str] | None = None,
                  gtts_endpoint: str | None = None,
                  asterisk_sounds: Path | None = None) -> list[Engine]:
    commands = commands or {}
    made: dict[str, Engine] = {
        "flite": Flite(timeout=timeout, binary=commands.get("flite", "flite")),
        "espeak-ng": Espeak(rate=rate, timeout=timeout,
                            binary=commands.get("espeak-ng", "espeak-ng")),
        "gtts": GoogleTts(timeout=timeout, endpoint=gtts_endpoint),
        "asterisk": AsteriskPrompts(sounds=asterisk_sounds),
    }
    return [made[name] for name in order]


def supported(language: str, gender: str, order: Sequence[str],
              asterisk_sounds: Path | None = None) -> bool:
    """Whether one of these engines has a voice for this language and gender."""
    engines = build_engines(order, rate=150, timeout=1, asterisk_sounds=asterisk_sounds)
    return any(e.voice(language, gender) for e in engines)
