"""The one table from hangup cause to final state."""

from __future__ import annotations

import pytest

from ari_app.outcome import Hangup, State, classify, from_event


@pytest.mark.parametrize(("cause", "state"), [
    (17, State.BUSY), (21, State.BUSY), (19, State.NO_ANSWER), (18, State.NO_ANSWER),
    (34, State.FAILED), (1, State.FAILED), (38, State.FAILED), (16, State.FAILED),
    (127, State.FAILED),
])
def test_unanswered(cause: int, state: State) -> None:
    assert classify(Hangup(cause, "", None), answered=False) == state


def test_answered_calls_complete_whatever_the_cause() -> None:
    assert classify(Hangup(16, "Normal Clearing", None), answered=True) == State.COMPLETED


def test_reads_sip_code_from_tech_cause() -> None:
    hangup = from_event({"type": "ChannelDestroyed", "cause": 34,
                         "cause_txt": "Circuit/channel congestion", "tech_cause": 503})
    assert hangup == Hangup(34, "Circuit/channel congestion", 503)
    assert from_event({"cause": 16, "cause_txt": "Normal Clearing"}).sip_code is None


def test_final_states() -> None:
    assert {s for s in State if s.final} == {State.COMPLETED, State.BUSY, State.NO_ANSWER,
                                             State.FAILED, State.CANCELED}
