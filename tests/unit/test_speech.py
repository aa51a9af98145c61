"""Speech engines: real flite and espeak-ng (Debian), and the fallback between them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ari_app.errors import SpeechError
from ari_app.speech import Espeak, Flite, Speaker, build_engines, segments, supported


def test_text_is_split_into_words_and_digit_runs() -> None:
    assert segments("Your code is 123456.") == [(False, "Your code is"), (True, "123456")]
    assert segments("Code: 12, then 34. Bye") == [
        (False, "Code"), (True, "12"), (False, "then"), (True, "34"), (False, "Bye")]
    assert segments("no digits") == [(False, "no digits")]
    assert segments(" ... ") == []


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
    (speaker,) = build_engines([engine], rate=150, timeout=10)
    voice = speaker.voice("en-US", "female")
    assert voice is not None
    wav = await speaker.synthesize("Your code is", voice=voice, speed=1.0)
    assert wav.startswith(b"RIFF") and len(wav) > 8000


def test_speaker_lists_voices_in_engine_order() -> None:
    speaker = Speaker(build_engines(["flite", "espeak-ng"], rate=150, timeout=5))
    assert [(e.name, v) for e, v in speaker.voices("en-US", "male")] == [
        ("flite", "rms"), ("espeak-ng", "en-us+m3")]
    assert [e.name for e, _ in speaker.voices("de-DE", "female")] == ["espeak-ng"]


async def test_a_missing_engine_is_a_speech_error() -> None:
    with pytest.raises(SpeechError, match="cannot run"):
        await Espeak(rate=150, timeout=5, binary="/nonexistent/espeak").synthesize(
            "hello", voice="en-us", speed=1.0)


def test_engines_command_tries_every_engine() -> None:
    config = Path(__file__).resolve().parents[2] / "sandbox" / "ari-app.yaml"
    result = subprocess.run([sys.executable, "-m", "ari_app", "--config", str(config),
                             "engines"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == ["flite", "espeak-ng"] and result.stdout.count(" ok ") == 2


def test_engine_order_per_language() -> None:
    from ari_app.app import speaker
    from ari_app.config import parse

    settings = parse({"ari": {"password": "x"}, "ami": {"secret": "y"},
                      "tts": {"engines": ["flite", "espeak-ng"],
                              "languages": {"es": ["gtts", "espeak-ng"], "en-GB": ["espeak-ng"]}}},
                     base=Path("."))
    voices = speaker(settings)
    assert [e.name for e, _ in voices.voices("es-MX", "female")] == ["gtts", "espeak-ng"]
    assert [e.name for e, _ in voices.voices("en-gb", "female")] == ["espeak-ng"]
    assert [e.name for e, _ in voices.voices("en-US", "female")] == ["flite", "espeak-ng"]


async def test_asterisk_prompts_read_single_characters(tmp_path: Path) -> None:
    from ari_app.speech import AsteriskPrompts

    (tmp_path / "en/digits").mkdir(parents=True)
    (tmp_path / "en/letters").mkdir()
    (tmp_path / "en/digits/7.wav").write_bytes(b"RIFF7")
    (tmp_path / "en/letters/q.wav").write_bytes(b"RIFFq")
    prompts = AsteriskPrompts(sounds=tmp_path)
    assert prompts.voice("en-US", "female") == "en"
    assert prompts.voice("en-US", "male") is None and prompts.voice("fr-FR", "female") is None
    assert await prompts.synthesize("7.", voice="en", speed=1.0) == b"RIFF7"
    assert await prompts.synthesize("Q.", voice="en", speed=1.0) == b"RIFFq"
    with pytest.raises(SpeechError, match="single digits and letters"):
        await prompts.synthesize("Your code is.", voice="en", speed=1.0)
    with pytest.raises(SpeechError, match="prompt is missing in en/digits"):
        await prompts.synthesize("8.", voice="en", speed=1.0)


def test_english_numbers_from_a_fixed_vocabulary() -> None:
    from ari_app.speech import NUMBER_VOCABULARY, number_words

    assert number_words(0) == ["0"] and number_words(13) == ["13"]
    assert number_words(42) == ["40", "2"]
    assert number_words(1234) == ["1", "thousand", "2", "hundred", "30", "4"]
    assert number_words(2_000_001) == ["2", "million", "1"]
    for value in (0, 19, 20, 99, 101, 999, 1000, 65_536, 999_999_999):
        assert set(number_words(value)) <= set(NUMBER_VOCABULARY)
