"""A code reaches a person, never a mailbox: the delivery options on real calls.

The simulated carrier plays each kind of callee by the number's last four digits
(sandbox/carrier/extensions.conf): 1771 a person who presses 1, 1772 a voicemail,
1773 a person who never presses, 1774 one who hangs up into the code, 1775 one who
asks to hear it again. The five calls are placed together and read one per test.
What each callee heard is the carrier's recording, transcribed with pocketsphinx.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.api import ApiProcess
from sandbox.lab import Lab
from tests.e2e.observe import calls_processed, recording, seed
from tests.e2e.transcribe import codes_heard, heard_among, in_order, transcribe

CODE = "459813"
"""No 2 (the repeat's key, which its offer names) and no 6: pocketsphinx hears "two six" in
8 kHz audio as other digits (482596 was heard exactly in 0 of 3 calls, this one in 3 of 3)."""
CARRIER = "74445609"
SAID = {"your", "code", "is",
        # the gate's prompt, the repeat's offer, the withheld and voicemail message
        "please", "press", "any", "key", "to", "hear", "verification", "it", "again",
        "this", "was", "an", "automated", "call", "no", "has", "been", "left", "goodbye"}
"""Every word the calls of this module say but the code's digits."""
MESSAGE = {"automated", "verification", "left", "goodbye"}


def call(ending: str, **delivery: Any) -> dict[str, Any]:
    return {"to": f"1212555{ending}", "from": "me", "carrier_id": CARRIER,
            "playlist": [{"type": "tts", "play": f"Your code is {CODE}",
                          "options": {"language": "en-US", "say-as": "digits"}}],
            "delivery": delivery}


GATE = {"keys": "any", "timeout": 4, "tries": 2}
DETECT = {"enabled": True}
REQUESTS = {
    "person": call("1771", gate=GATE, machine_detection=DETECT),
    "voicemail": call("1772", gate=GATE, machine_detection=DETECT),
    "silent": call("1773", gate=GATE),
    "hangs_up": call("1774", gate=GATE),
    "again": call("1775", gate=GATE, repeat={"key": "2", "times": 1}),
}


@pytest.fixture(scope="module")
def ended(service: ApiProcess) -> Iterator[dict[str, dict[str, Any]]]:
    ids = {name: service.place(body) for name, body in REQUESTS.items()}
    yield {name: service.wait_final(request_id, timeout=120) for name, request_id in ids.items()}


def heard(status: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The words a callee heard, and each reading of a code among them."""
    return heard_among(recording(status["request_id"]), SAID, digits=len(CODE), female=True)


def readings(status: dict[str, Any], count: int) -> list[str]:
    """The codes read to a callee who heard `count` readings among the other words."""
    words = transcribe(recording(status["request_id"]), digits=len(CODE), readings=count,
                       female=True, filler=SAID - {"your", "code", "is"})
    return codes_heard(words)


def read_right(code: str) -> bool:
    # pocketsphinx's wideband model hears 8 kHz telephone audio poorly: one digit of
    # six may be misheard (see test_calls.py); a wrong or cut code keeps fewer.
    return in_order(code, CODE) >= len(CODE) - 1


def test_a_person_who_presses_the_key_hears_the_code(ended: dict[str, Any]) -> None:
    status = ended["person"]
    delivery = status["delivery"]
    assert status["state"] == "completed", status
    assert delivery["verdict"] == "confirmed", delivery
    assert delivery["readings_completed"] == 1
    assert [k["key"] for k in delivery["keys"]] == ["1"]
    assert delivery["machine"]["status"] == "HUMAN", delivery
    assert delivery["machine"]["decision_ms"] > 0
    (code,) = readings(status, 1)
    assert read_right(code), code
    # The check the other callees pass finds the code here: it can fail.
    assert heard(status)[1] != []


def test_a_voicemail_gets_the_message_and_never_the_code(ended: dict[str, Any]) -> None:
    status = ended["voicemail"]
    delivery = status["delivery"]
    assert status["state"] == "completed", status
    assert delivery["verdict"] == "withheld_machine", delivery
    assert delivery["machine"]["status"] == "MACHINE" and delivery["readings_completed"] == 0
    words, codes = heard(status)
    assert codes == [], words
    assert len(MESSAGE & set(words)) >= 3, words  # the voicemail message was left


def test_a_person_who_never_presses_never_hears_the_code(ended: dict[str, Any]) -> None:
    status = ended["silent"]
    assert status["delivery"]["verdict"] == "withheld_no_input", status["delivery"]
    assert status["delivery"]["keys"] == []
    words, codes = heard(status)
    assert codes == [], words
    assert len(MESSAGE & set(words)) >= 3, words  # the withheld message was said


def test_hanging_up_into_the_code_is_partial(ended: dict[str, Any]) -> None:
    delivery = ended["hangs_up"]["delivery"]
    assert delivery["verdict"] == "partial", delivery
    assert delivery["readings_completed"] == 0
    assert [k["key"] for k in delivery["keys"]] == ["1"]


def test_pressing_2_hears_the_code_once_more(ended: dict[str, Any]) -> None:
    status = ended["again"]
    delivery = status["delivery"]
    assert delivery["verdict"] == "confirmed", delivery
    assert delivery["readings_completed"] == 2
    assert [k["key"] for k in delivery["keys"]] == ["1", "2"]
    codes = readings(status, 2)
    assert all(read_right(code) for code in codes), codes


def test_the_canonical_requests_are_played(service: ApiProcess) -> None:
    for name in ("tts", "prerecorded"):
        status = service.wait_final(service.place(seed(name)))
        assert status["state"] == "completed", status
        assert status["delivery"] == {"verdict": "played", "readings_completed": 1,
                                      "keys": [], "machine": None}, status


@pytest.mark.parametrize(("delivery", "field"), [
    ({"machine_detection": True,
      "voicemail": [{"type": "tts", "play": "Your code is 459813",
                     "options": {"say-as": "digits"}}]}, "delivery.voicemail[0]"),
    ({"gate": {"keys": "A"}}, "delivery.gate.keys"),
    ({"gate": {"timeout": 120}}, "delivery.gate.timeout"),
])
def test_a_bad_delivery_is_refused_and_nothing_dials(service: ApiProcess, lab: Lab,
                                                     delivery: dict[str, Any],
                                                     field: str) -> None:
    before = calls_processed(lab, "carrier")
    code, answer = service.post({**seed("tts"), "delivery": delivery})
    assert code == 422 and answer["field"] == field, answer
    assert CODE not in str(answer)
    assert calls_processed(lab, "carrier") == before
