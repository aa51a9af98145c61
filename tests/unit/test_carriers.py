"""A carrier's own rules: how it wants numbers dialled, and which caller ID it sends."""

from __future__ import annotations

from typing import Any

import pytest

from ari_app.carrier_admin import registration_status
from ari_app.carrier_config import read_carriers
from ari_app.carriers import Carrier
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


def existing(**fields: Any) -> tuple[Carrier, list[str]]:
    problems: list[str] = []
    found = read_carriers(Reader({"house": fields}, "carriers.", problems))
    return found["house"], problems


def test_an_existing_endpoint_is_used_by_its_own_name_and_rendered_nowhere() -> None:
    found, problems = existing(endpoint="my-trunk", caller_ids=["+15550100"], max_channels=4,
                               number_format="00", prefix="7")
    assert problems == []
    assert (found.trunk, found.rendered) == ("my-trunk", False)
    assert found.dial_number("+442071234567") == "700442071234567"
    assert found.registration_name == "my-trunk"  # FreePBX names it after the trunk
    assert existing(endpoint="my-trunk", registration="my-reg")[0].registration_name == "my-reg"
    assert carrier().registration_name is None
    assert carrier(username="u", password="p", register=True).registration_name == \
        "carrier-c1-reg"


def test_an_existing_endpoint_refuses_the_options_that_belong_to_the_pbx() -> None:
    _, problems = existing(endpoint="my-trunk", host="sip.example.com", transport="tls",
                           username="u", password="p", dtmf_mode="info")
    for key in ("host", "transport", "username", "password", "dtmf_mode"):
        assert any(p.startswith(f"carriers.house.{key}: is the PBX's own setting")
                   for p in problems), (key, problems)
    assert not any("not a known setting" in p for p in problems)
    for bad in ("carrier-x", "a@b", "has space"):
        assert any(p.startswith("carriers.house.endpoint:")
                   for p in existing(endpoint=bad)[1]), bad
    assert any(p.startswith("carriers.house.registration:")
               for p in read_problems({"host": "h.example", "registration": "r"}))


def read_problems(fields: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    read_carriers(Reader({"house": fields}, "carriers.", problems))
    return problems


def test_trunk_options_are_read_and_checked() -> None:
    found = carrier(transport="tls", media_encryption="sdes", from_user="otp",
                    from_domain="carrier.example", outbound_proxy="sip:edge.example:5061;lr",
                    caller_id_header="rpid", caller_id_privacy=True, qualify_frequency=0,
                    headers={"X-Account": "77", "P-Charge-Info": "<sip:+15550100@c.example>"})
    assert (found.port, found.media_encryption, found.caller_id_header) == (5061, "sdes", "rpid")
    assert found.headers == (("X-Account", "77"),
                             ("P-Charge-Info", "<sip:+15550100@c.example>"))
    problems = read_problems({
        "host": "h.example", "transport": "wss", "media_encryption": "zrtp",
        "caller_id_header": "diversion", "qualify_frequency": -1,
        "outbound_proxy": "http://edge", "from_domain": "bad domain",
        "headers": {"Via": "x", "X-Ari-App-Request": "spoof", "X-Ok": "${SHELL(id)}",
                    "X-Line": "a\r\nVia: x"}})
    for key in ("transport", "media_encryption", "caller_id_header", "qualify_frequency",
                "outbound_proxy", "from_domain", "headers.Via", "headers.X-Ari-App-Request",
                "headers.X-Ok", "headers.X-Line"):
        assert any(p.startswith(f"carriers.house.{key}:") for p in problems), (key, problems)


def test_health_reads_the_registration_that_belongs_to_the_carrier() -> None:
    listed = {"my-trunk": "Registered", "carrier-c1-reg": "Rejected"}
    assert registration_status(existing(endpoint="my-trunk")[0], listed) == "Registered"
    assert registration_status(existing(endpoint="other")[0], listed) == "not-registering"
    # Named, yet not listed: a typo or a registration gone, so the alert must fire.
    assert registration_status(existing(endpoint="my-trunk", registration="gone")[0],
                               listed) == "Unregistered"
    ours = carrier(username="u", password="p", register=True)
    assert registration_status(ours, listed) == "Rejected"
    assert registration_status(ours, {}) == "Unregistered"  # ours, not yet listed
    assert registration_status(carrier(), listed) == "not-registering"


def test_options_that_would_defeat_themselves_are_refused() -> None:
    problems = read_problems({"host": "h.example", "media_encryption": "sdes"})
    assert any(p.startswith("carriers.house.media_encryption: sdes sends the SRTP keys")
               for p in problems), problems
    problems = read_problems({"host": "h.example", "caller_id_privacy": True,
                              "caller_id_header": "none"})
    assert any(p.startswith("carriers.house.caller_id_privacy:") for p in problems), problems
