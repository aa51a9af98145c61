"""The one table from hangup cause to final state, and the moves a call's state may make."""

from __future__ import annotations

import itertools

import pytest

from ari_app.outcome import FINAL, Hangup, State, classify


@pytest.mark.parametrize(("cause", "state"), [
    (17, State.BUSY), (21, State.BUSY), (19, State.NO_ANSWER), (18, State.NO_ANSWER),
    (34, State.FAILED), (1, State.FAILED), (38, State.FAILED), (16, State.FAILED),
    (127, State.FAILED),
])
def test_unanswered(cause: int, state: State) -> None:
    assert classify(Hangup(cause, "", None), answered=False) == state


def test_answered_calls_complete_whatever_the_cause() -> None:
    assert classify(Hangup(16, "Normal Clearing", None), answered=True) == State.COMPLETED


def test_a_call_moves_forward_and_dials_again_only_to_fail_over() -> None:
    path = [State.QUEUED, State.DIALING, State.RINGING, State.DIALING, State.RINGING,
            State.ANSWERED, State.COMPLETED]
    assert all(a.may_become(b) for a, b in itertools.pairwise(path))
    assert not State.ANSWERED.may_become(State.DIALING)  # answered: never a second carrier
    assert not State.RINGING.may_become(State.QUEUED)
    assert not State.QUEUED.may_become(State.ANSWERED)


def test_an_answered_call_ends_completed_failed_or_canceled() -> None:
    ends = {s for s in State if State.ANSWERED.may_become(s)}
    assert ends == {State.COMPLETED, State.FAILED, State.CANCELED}


def test_a_queued_call_ends_only_failed_or_canceled() -> None:
    assert {s for s in FINAL if State.QUEUED.may_become(s)} == {State.FAILED, State.CANCELED}


def test_an_ended_call_moves_nowhere() -> None:
    for ended in FINAL:
        assert ended.final
        assert not any(ended.may_become(other) for other in State), ended
