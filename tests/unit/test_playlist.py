"""Request validation: the canonical bodies pass; every bad field is named; codes never echoed."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ari_app.config import load, parse
from ari_app.entries import AsteriskSound, AudioUrl, Pause, Speech
from ari_app.errors import InvalidField
from ari_app.request import parse_request
from ari_app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests/data"


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load(ROOT / "sandbox/ari-app.yaml")


def seed(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"seed-{name}.json").read_text())  # type: ignore[no-any-return]


def field_of(body: Any, settings: Settings) -> str | None:
    with pytest.raises(InvalidField) as caught:
        parse_request(body, settings)
    assert "123456" not in caught.value.message
    return caught.value.field


CANONICAL = {
    "seed-tts.json": "0e6b57e7728651e913d0dd55074c279dbac6a372642583f05a2135b78e80c3e1",
    "seed-prerecorded.json": "b0eb427baeb33ec9af3ad323cf7e1a2da4cea3871d5546635be31ee7fbb7600c",
}
"""SHA-256 of the canonical requests (../shared/examples), which must work unchanged."""


def test_local_copies_of_the_canonical_requests_are_unchanged() -> None:
    for name, digest in CANONICAL.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name
    # Beside the project's shared folder, the copies are also compared with it.
    shared = ROOT.parent / "shared" / "examples"
    for name in CANONICAL:
        if (shared / name).is_file():
            assert (DATA / name).read_bytes() == (shared / name).read_bytes(), name


def test_seed_tts(settings: Settings) -> None:
    request = parse_request(seed("tts"), settings)
    assert request.to == "+12125551212" and request.carrier_id == "74445609"  # E.164
    assert request.caller_id == "+15550100"  # "from": "me" -> the carrier's default
    speech = Speech(text="Your code is 123456", language="en-US", gender="female",
                    say_as="digits")
    assert request.playlist == (speech, speech)


def test_seed_prerecorded(settings: Settings) -> None:
    request = parse_request(seed("prerecorded"), settings)
    assert len(request.playlist) == 14
    assert request.playlist[0] == AudioUrl("http://server.domain.com/voices/your-code-is.wav")


@pytest.mark.parametrize(("change", "field"), [
    (lambda b: b.pop("to"), "to"),
    (lambda b: b.update(to=""), "to"),
    (lambda b: b.update(to="12"), "to"),
    (lambda b: b.update(to="+1 212 555 1212"), "to"),
    (lambda b: b.update(to="1212555121a"), "to"),
    (lambda b: b.update(to="12125551212&x"), "to"),
    (lambda b: b.update(to="12125551212@evil"), "to"),
    (lambda b: b.update(to="PJSIP/123"), "to"),
    (lambda b: b.update(to=12125551212), "to"),
    (lambda b: b.update(carrier_id="nope"), "carrier_id"),
    (lambda b: b.pop("carrier_id"), "carrier_id"),
    (lambda b: b.update(playlist=[]), "playlist"),
    (lambda b: b.update(playlist="x"), "playlist"),
    (lambda b: b.update(playlist=[b["playlist"][0]] * 51), "playlist"),
    (lambda b: b.update(**{"from": "+1999"}), "from"),
    (lambda b: b.update(**{"from": '"Evil" <sip:x>'}), "from"),
    (lambda b: b.update(**{"from": "123\r\nX-Evil: 1"}), "from"),
    (lambda b: b.update(extra=1), "extra"),
    (lambda b: b["playlist"][1].pop("play"), "playlist[1].play"),
    (lambda b: b["playlist"][1].update(play="  "), "playlist[1].play"),
    (lambda b: b["playlist"][1].update(play="x" * 1001), "playlist[1].play"),
    (lambda b: b["playlist"][0].update(type="video"), "playlist[0].type"),
    (lambda b: b["playlist"][0]["options"].update(language="tlh"), "playlist[0].options.language"),
    (lambda b: b["playlist"][0]["options"].update(gender="robot"), "playlist[0].options.gender"),
    (lambda b: b["playlist"][0]["options"].update({"say-as": "money"}),
     "playlist[0].options.say-as"),
    (lambda b: b["playlist"][0]["options"].update(speed=2), "playlist[0].options.speed"),
    (lambda b: b["playlist"].__setitem__(0, "text"), "playlist[0]"),
])
def test_bad_tts_request_names_the_field(settings: Settings, change: Any, field: str) -> None:
    body = copy.deepcopy(seed("tts"))
    change(body)
    assert field_of(body, settings) == field


@pytest.mark.parametrize("url", [
    "http://evil.example/x.wav", "ftp://server.domain.com/x.wav", "file:///etc/passwd",
    "http://user:pw@server.domain.com/x.wav", "server.domain.com/x.wav",
    "http://server.domain.com/a b.wav",
])
def test_urls_outside_the_allow_list_are_refused(settings: Settings, url: str) -> None:
    body = seed("prerecorded")
    body["playlist"][2]["play"] = url
    assert field_of(body, settings) == "playlist[2].play"


def test_unsupported_language_lists_the_supported_ones(settings: Settings) -> None:
    body = seed("tts")
    body["playlist"][0]["options"]["language"] = "xx-YY"
    with pytest.raises(InvalidField, match="en-us"):
        parse_request(body, settings)


def test_pause_sound_repeat_and_reading_options(settings: Settings) -> None:
    body = seed("tts")
    body["playlist"] = [
        {"type": "pause", "play": 750},
        {"type": "sound", "play": "digits/5", "repeat": 2},
        {"type": "tts", "play": "Code 123456", "repeat": 3,
         "options": {"language": "de-DE", "gender": "male", "pause": 400, "group": 3}},
    ]
    request = parse_request(body, settings)
    assert request.playlist == (
        Pause(750), AsteriskSound("digits/5", repeat=2),
        Speech(text="Code 123456", language="de-DE", gender="male", say_as=None, pause_ms=400,
               group=3, repeat=3))


@pytest.mark.parametrize(("entry", "field"), [
    ({"type": "pause", "play": 0}, "playlist[0].play"),
    ({"type": "pause", "play": "500"}, "playlist[0].play"),
    ({"type": "pause", "play": 10_001}, "playlist[0].play"),
    ({"type": "sound", "play": "../../etc/passwd"}, "playlist[0].play"),
    ({"type": "sound", "play": "a,b"}, "playlist[0].play"),
    ({"type": "sound", "play": "hello", "options": {"language": "en"}}, "playlist[0].options"),
    ({"type": "tts", "play": "hi", "repeat": 0}, "playlist[0].repeat"),
    ({"type": "tts", "play": "hi", "repeat": 6}, "playlist[0].repeat"),
    ({"type": "tts", "play": "...", "options": {}}, "playlist[0].play"),
    ({"type": "tts", "play": "1", "options": {"pause": 5000}}, "playlist[0].options.pause"),
    ({"type": "tts", "play": "1", "options": {"group": 9}}, "playlist[0].options.group"),
])
def test_bad_entries_name_the_field(settings: Settings, entry: Any, field: str) -> None:
    body = seed("tts")
    body["playlist"] = [entry]
    assert field_of(body, settings) == field


def test_rate_option_and_gender_without_a_voice(settings: Settings) -> None:
    body = seed("tts")
    body["playlist"][0]["options"]["rate"] = 80
    assert parse_request(body, settings).playlist[0].rate == 80  # type: ignore[union-attr]
    body["playlist"][0]["options"]["rate"] = 20
    assert field_of(body, settings) == "playlist[0].options.rate"
    gtts_only = dataclasses.replace(settings, tts=dataclasses.replace(settings.tts,
                                                                      engines=("gtts",)))
    body = seed("tts")
    body["playlist"][0]["options"]["gender"] = "male"
    with pytest.raises(InvalidField, match="no configured speech engine has a male voice"):
        parse_request(body, gtts_only)


def test_relative_paths_use_the_carriers_media_base_url() -> None:
    data = yaml.safe_load((ROOT / "sandbox/ari-app.yaml").read_text())
    data["carriers"]["74445609"]["media_base_url"] = "https://cdn.example/voices/en/"
    settings = parse(data, base=ROOT / "sandbox")
    assert "cdn.example" in settings.media.allowed_hosts
    body = seed("prerecorded")
    body["playlist"][1]["play"] = "1.wav"
    request = parse_request(body, settings)
    assert request.playlist[1] == AudioUrl("https://cdn.example/voices/en/1.wav")
    for escape in ("../secret.wav", "/etc/x.wav", "%2e%2e/x.wav"):
        body["playlist"][1]["play"] = escape
        assert field_of(body, settings) == "playlist[1].play", escape
    # The delivery's messages too.
    body["playlist"][1]["play"] = "1.wav"
    body["delivery"] = {"machine_detection": True, "voicemail": [{"play": "goodbye.wav"}]}
    assert parse_request(body, settings).delivery.voicemail == (
        AudioUrl("https://cdn.example/voices/en/goodbye.wav"),)
    body["delivery"]["voicemail"][0]["play"] = "../x.wav"
    assert field_of(body, settings) == "delivery.voicemail[0].play"


def test_say_as_number_is_english_only(settings: Settings) -> None:
    body = seed("tts")
    body["playlist"][0]["options"]["say-as"] = "number"
    parse_request(body, settings)
    body["playlist"][0]["options"]["language"] = "de-DE"
    assert field_of(body, settings) == "playlist[0].options.say-as"


def test_not_an_object(settings: Settings) -> None:
    assert field_of([], settings) == "body"
