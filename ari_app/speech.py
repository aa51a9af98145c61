"""Text to speech with espeak-ng (offline, from Debian).

The text goes to espeak-ng on its standard input, never on its command line,
where any local user could read it in the process list.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from types import MappingProxyType

from ari_app.errors import SpeechError

GENDERS = ("female", "male")
SAY_AS = ("digits",)

# BCP 47 language -> espeak-ng voice. Keys are matched case-insensitively.
_VOICES: Mapping[str, str] = MappingProxyType({
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
_VARIANTS: Mapping[str, str] = MappingProxyType({"female": "f3", "male": "m3"})
LANGUAGES = tuple(sorted({k for k in _VOICES if "-" in k or k in ("en", "es", "fr", "de")}))

_DIGIT_RUN = re.compile(r"[0-9]+")


def voice_for(language: str, gender: str) -> str | None:
    """The espeak-ng voice for a BCP 47 language and a gender, or None if unsupported."""
    base = _VOICES.get(language.strip().lower())
    variant = _VARIANTS.get(gender)
    if base is None or variant is None:
        return None
    return f"{base}+{variant}"


def spell_digits(text: str) -> str:
    """Make every digit a word of its own, with a pause between: '123' -> '1, 2, 3.'"""
    return _DIGIT_RUN.sub(lambda m: ", ".join(m.group()) + ".", text)


class Espeak:
    """Synthesizes speech to a WAV (espeak-ng's own rate, 22.05 kHz mono)."""

    name = "espeak-ng"

    def __init__(self, *, rate: int, timeout: float, binary: str = "espeak-ng") -> None:
        self._rate = rate
        self._timeout = timeout
        self._binary = binary

    async def synthesize(self, text: str, *, language: str, gender: str,
                         say_as: str | None) -> bytes:
        voice = voice_for(language, gender)
        if voice is None:
            raise SpeechError(f"no espeak-ng voice for {language}/{gender}")
        spoken = spell_digits(text) if say_as == "digits" else text
        # Digits are read a little slower than the words around them.
        rate = self._rate - 20 if say_as == "digits" else self._rate
        try:
            process = await asyncio.create_subprocess_exec(
                self._binary, "--stdin", "--stdout", "-v", voice, "-s", str(rate),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise SpeechError(f"cannot run {self._binary}: {exc.strerror}") from exc
        try:
            wav, err = await asyncio.wait_for(process.communicate(spoken.encode()), self._timeout)
        except TimeoutError as exc:
            process.kill()
            await process.wait()
            raise SpeechError(f"espeak-ng took longer than {self._timeout:.0f} s") from exc
        if process.returncode != 0 or not wav.startswith(b"RIFF"):
            raise SpeechError(f"espeak-ng failed (exit {process.returncode}): "
                              f"{err.decode(errors='replace')[:200]}")
        return wav
