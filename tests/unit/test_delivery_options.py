"""The `delivery` object: defaults from the config, a request over them, every bad field
named before anything is stored, and the options kept with a queued call."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ari_app.config import parse
from ari_app.delivery import PLAIN, Gate
from ari_app.entries import AudioUrl, Speech
from ari_app.errors import ConfigError, InvalidField
from ari_app.request import parse_request
from ari_app.settings import Settings
from ari_app.store.encoding import decode_request, encode_request

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "sandbox/ari-app.yaml"


@pytest.fixture(scope="module")
def settings() -> Settings:
    return config()


def config(**extra: Any) -> Settings:
    data = yaml.safe_load(SANDBOX.read_text()) | extra
    return parse(data, base=SANDBOX.parent)


def body(**delivery: Any) -> dict[str, Any]:
    seed = json.loads((ROOT / "tests/data/seed-tts.json").read_text())
    return {**seed, "delivery": delivery}


def refused(request: dict[str, Any], settings: Settings) -> str | None:
    with pytest.raises(InvalidField) as caught:
        parse_request(request, settings)
    assert "123456" not in caught.value.message
    return caught.value.field


def test_no_delivery_is_the_deployment_s_default(settings: Settings) -> None:
    seed = body()
    del seed["delivery"]
    assert parse_request(seed, settings).delivery == PLAIN
    assert parse_request(body(), settings).delivery == PLAIN


def test_an_option_given_as_an_object_is_on_with_the_rest_from_the_defaults(
        settings: Settings) -> None:
    options = parse_request(body(gate={"keys": "1"}, repeat=True,
                                 machine_detection={"greeting": 2000}), settings).delivery
    assert options.gate == Gate(enabled=True, keys="1", timeout=10, tries=2)
    assert options.repeat.enabled and options.repeat.key == "2"
    assert options.machine_detection.enabled and options.machine_detection.amd.greeting == 2000
    assert options.machine_detection.amd.initial_silence == \
        PLAIN.machine_detection.amd.initial_silence
    off = parse_request(body(gate=False, machine_detection={"enabled": False}), settings).delivery
    assert not off.gate.enabled and not off.machine_detection.enabled


@pytest.mark.parametrize(("delivery", "field"), [
    ({"gate": {"keys": "A"}}, "delivery.gate.keys"),
    ({"gate": {"keys": "12"}}, "delivery.gate.keys"),
    ({"gate": {"timeout": 0}}, "delivery.gate.timeout"),
    ({"gate": {"timeout": 31}}, "delivery.gate.timeout"),
    ({"gate": {"tries": True}}, "delivery.gate.tries"),
    ({"gate": {"colour": 1}}, "delivery.gate.colour"),
    ({"gate": "yes"}, "delivery.gate"),
    ({"repeat": {"key": "x"}}, "delivery.repeat.key"),
    ({"repeat": {"times": 9}}, "delivery.repeat.times"),
    ({"gate": {"keys": "2"}, "repeat": {"key": "2"}}, "delivery.repeat.key"),
    ({"machine_detection": {"total_analysis_time": 50}},
     "delivery.machine_detection.total_analysis_time"),
    ({"voicemail": [{"type": "tts", "play": "Your code is 123456",
                     "options": {"say-as": "digits"}}]}, "delivery.voicemail[0]"),
    ({"voicemail": [{"play": "http://server.domain.com/voices/1.wav", "secret": True}]},
     "delivery.voicemail[0]"),
    ({"withheld": [{"type": "tts", "play": "Bye"}, {"type": "tts", "play": "123",
                                                   "options": {"say-as": "number"}}]},
     "delivery.withheld[1]"),
    ({"gate": {"prompt": []}}, "delivery.gate.prompt"),
    ({"voicemail": [{"type": "pause", "play": 100, "secret": True}]},
     "delivery.voicemail[0].secret"),
    ({"extra": 1}, "delivery.extra"),
])
def test_a_bad_field_is_named(settings: Settings, delivery: dict[str, Any], field: str) -> None:
    assert refused(body(**delivery), settings) == field


def test_the_config_sets_the_defaults_a_request_builds_on() -> None:
    settings = config(delivery={"gate": {"keys": "5", "timeout": 8},
                                "machine_detection": {"enabled": False, "greeting": 1200}})
    options = settings.delivery
    assert options.gate == Gate(enabled=True, keys="5", timeout=8, tries=2)
    assert not options.machine_detection.enabled
    asked = parse_request(body(machine_detection=True, gate={"tries": 3}), settings).delivery
    assert asked.machine_detection.enabled and asked.machine_detection.amd.greeting == 1200
    assert asked.gate == Gate(enabled=True, keys="5", timeout=8, tries=3)


def test_a_bad_default_stops_the_config_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"delivery\.gate\.timeout"):
        config(delivery={"gate": {"timeout": 99}})


def test_the_stock_prompts_name_the_keys() -> None:
    gate = Gate(enabled=True, keys="1")
    (prompt,) = gate.spoken_prompt
    assert isinstance(prompt, Speech) and "press 1" in prompt.text and prompt.say_as is None
    (any_key,) = Gate(enabled=True).spoken_prompt
    assert isinstance(any_key, Speech) and "any key" in any_key.text


def test_the_options_are_kept_with_the_queued_call(settings: Settings) -> None:
    request = parse_request(body(
        gate={"prompt": [{"type": "tts", "play": "Press a key"}]},
        repeat={"times": 3}, machine_detection={"enabled": True, "greeting": 1800},
        voicemail=[{"play": "http://server.domain.com/voices/your-code-is.wav"}]), settings)
    assert decode_request(encode_request(request)) == request
    marked = dataclasses.replace(request, playlist=(AudioUrl("http://x/1.wav", secret=True),))
    assert decode_request(encode_request(marked)) == marked
    # A request stored before delivery options existed.
    old = json.loads(encode_request(request))
    del old["delivery"]
    assert decode_request(json.dumps(old)).delivery == PLAIN


def test_another_key_brings_the_stock_prompt_for_it() -> None:
    settings = config(delivery={"gate": {"enabled": False, "keys": "5",
                                         "prompt": [{"type": "tts", "play": "Press five."}]}})
    kept = parse_request(body(gate=True), settings).delivery.gate
    assert kept.prompt is not None and kept.keys == "5"
    changed = parse_request(body(gate={"keys": "1"}), settings).delivery.gate
    assert changed.prompt is None  # "Press five." would name the wrong key
    (said,) = changed.spoken_prompt
    assert isinstance(said, Speech) and "press 1" in said.text


def test_a_plain_text_code_is_no_message(settings: Settings) -> None:
    assert refused(body(voicemail=[{"type": "tts", "play": "It was 4821"}]), settings) == \
        "delivery.voicemail[0]"
