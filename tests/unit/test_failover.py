"""Which failures move a call to another carrier, and in which order carriers are tried."""

from __future__ import annotations

import dataclasses

import pytest

from ari_app.carriers import Carrier
from ari_app.failover import Failover, carrier_failed
from ari_app.outcome import Hangup

BASE = Carrier(id="a", host="127.0.0.1", port=5060, transport="udp", username=None,
               password=None, register=False, codecs=("ulaw",), prefix="", caller_ids=())


@pytest.mark.parametrize(("sip", "cause", "fails_over"), [
    (503, 34, True), (500, 38, True), (502, 38, True), (408, 18, True),
    (None, 34, True), (None, 38, True),  # refused before any SIP answer (transport error)
    (486, 17, False), (480, 19, False), (603, 21, False), (404, 1, False),
    (None, 19, False), (None, 16, False),  # our ring timeout; a normal clearing
])
def test_which_failures_fail_over(sip: int | None, cause: int, fails_over: bool) -> None:
    assert carrier_failed(Hangup(cause, "", sip)) is fails_over


def test_plan_is_the_requested_carrier_then_its_group_by_priority() -> None:
    carriers = {
        "a": dataclasses.replace(BASE, id="a", failover_group="g", priority=50),
        "b": dataclasses.replace(BASE, id="b", failover_group="g", priority=30),
        "c": dataclasses.replace(BASE, id="c", failover_group="g", priority=10),
        "x": dataclasses.replace(BASE, id="x", failover_group="other", priority=1),
        "solo": dataclasses.replace(BASE, id="solo"),
    }
    failover = Failover(holdback_after=2, holdback_seconds=60)
    assert [c.id for c in failover.plan("a", carriers)] == ["a", "c", "b"]
    assert [c.id for c in failover.plan("solo", carriers)] == ["solo"]


def test_a_carrier_failing_again_and_again_is_held_back() -> None:
    now = [1000.0]
    carriers = {
        "a": dataclasses.replace(BASE, id="a", failover_group="g", priority=1),
        "b": dataclasses.replace(BASE, id="b", failover_group="g", priority=2),
    }
    failover = Failover(holdback_after=2, holdback_seconds=60, clock=lambda: now[0])
    failover.record("a", failed=True)
    assert [c.id for c in failover.plan("a", carriers)] == ["a", "b"]
    failover.record("a", failed=True)
    assert failover.held_back("a")
    assert [c.id for c in failover.plan("a", carriers)] == ["b", "a"]  # still tried, last
    now[0] += 61
    assert not failover.held_back("a")
    failover.record("a", failed=True)
    failover.record("a", failed=False)  # a success forgets the failures
    failover.record("a", failed=True)
    assert not failover.held_back("a")
