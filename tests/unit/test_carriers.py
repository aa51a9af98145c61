"""A carrier's own rules: how it wants numbers dialled, and which caller ID it sends."""

from __future__ import annotations

from typing import Any

import pytest

from ari_app.carriers import Carrier, read_carriers
from ari_app.config_reader import Reader


def carrier(**fields: Any) -> Carrier:
    problems: list[str] = []
    found = read_carriers(Reader({"c1": {"host": "sip.example.com", **fields}}, "carriers.",
                                 problems))
    assert problems == []
    return found["c1"]


@pytest.mark.parametrize(("number_format", "extra", "number", "dialled"), [
    ("e164", {}, "+442071234567", "9+442071234567"),
    ("00", {}, "+442071234567", "900442071234567"),
    ("digits", {}, "+442071234567", "9442071234567"),
    ("national", {"country_code": "44"}, "+442071234567", "902071234567"),
    ("national", {"country_code": "1", "national_prefix": ""}, "+12125551212", "92125551212"),
    ("national", {"country_code": "44"}, "+4930123456", "9004930123456"),  # abroad: 00
    ("00", {}, "02071234567", "902071234567"),  # no '+': sent as given
])
def test_number_formats(number_format: str, extra: dict[str, str], number: str,
                        dialled: str) -> None:
    found = carrier(number_format=number_format, prefix="9", **extra)
    assert found.dial_number(number) == dialled


def test_caller_id_is_the_requested_one_if_the_carrier_allows_it_else_its_own() -> None:
    strict = carrier(caller_ids=["+15550100", "+15550101"])
    assert strict.caller_id_for("+15550101") == "+15550101"
    # A call failed over from a carrier with other numbers keeps one this carrier takes.
    assert strict.caller_id_for("+442071234567") == "+15550100"
    assert carrier().caller_id_for("+442071234567") == "+442071234567"  # no list: any


def test_trunk_is_named_after_the_carrier() -> None:
    assert carrier().trunk == "carrier-c1"


def test_every_problem_of_a_carrier_is_named() -> None:
    problems: list[str] = []
    read_carriers(Reader({"bad id": {"host": "x;y", "transport": "sctp", "codecs": ["mp3"],
                                     "register": True, "number_format": "national",
                                     "dtmf_mode": "tones"}},
                         "carriers.", problems))
    for key in ("carriers.bad id:", "carriers.bad id.host:", "carriers.bad id.transport:",
                "carriers.bad id.codecs[0]:", "carriers.bad id.register:",
                "carriers.bad id.country_code:", "carriers.bad id.dtmf_mode:"):
        assert any(p.startswith(key) for p in problems), (key, problems)


def test_key_presses_come_as_rtp_events_unless_the_carrier_says_otherwise() -> None:
    assert carrier().dtmf_mode == "rfc4733"
    assert carrier(dtmf_mode="info").dtmf_mode == "info"
