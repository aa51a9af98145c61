"""Speech engines: real flite and espeak-ng (Debian), and the fallback between them."""

from __future__ import annotations

import pytest

from ari_app.errors import SpeechError
from ari_app.speech import Espeak, Flite, Speaker, build_engines, spell_digits, supported


def test_digits_are_read_one_by_one() -> None:
    assert spell_digits("Your code is 123456") == "Your code is 1, 2, 3, 4, 5, 6."
    assert spell_digits("no digits") == "no digits"
    assert spell_digits("7 then 89") == "7. then 8, 9."


def test_voices_by_language_and_gender() -> None:
    espeak = Espeak(rate=150, timeout=5)
    flite = Flite(timeout=5)
    assert espeak.voice("en-US", "female") == "en-us+f3"
    assert espeak.voice("es-MX", "male") == "es-419+m3"
    assert espeak.voice("xx", "female") is None
    assert flite.voice("en-us", "female") == "slt"
    assert flite.voice("fr-FR", "female") is None
    assert supported("fr-FR", "female", ("flite", "espeak-ng"))
    assert not supported("fr-FR", "female", ("flite",))


@pytest.mark.parametrize("engine", ["flite", "espeak-ng"])
async def test_engines_produce_wav(engine: str) -> None:
    speaker = Speaker(build_engines([engine], rate=150, timeout=10))
    spoken = await speaker.speak("Your code is 42", language="en-US", gender="female",
                                 say_as="digits")
    assert spoken.engine == engine
    assert spoken.wav.startswith(b"RIFF") and len(spoken.wav) > 8000


async def test_next_engine_speaks_when_the_first_fails() -> None:
    broken = Flite(timeout=5, binary="/nonexistent/flite")
    speaker = Speaker([broken, Espeak(rate=150, timeout=5)])
    spoken = await speaker.speak("hello", language="en-US", gender="male", say_as=None)
    assert spoken.engine == "espeak-ng"


async def test_all_engines_failing_is_a_speech_error_without_the_text() -> None:
    speaker = Speaker([Espeak(rate=150, timeout=5, binary="/nonexistent/espeak")])
    with pytest.raises(SpeechError) as caught:
        await speaker.speak("Your code is 987654", language="en-US", gender="male",
                            say_as="digits")
    assert "987654" not in str(caught.value)
