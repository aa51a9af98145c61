"""An attempt's progress: the moves its table allows, and a forbidden one seen as a bug."""

from __future__ import annotations

import pytest

from ari_app.call.progress import NEXT, Progress, move
from ari_app.errors import IllegalTransition


def test_a_call_answered_and_played_to_the_end() -> None:
    now = Progress.DIALING
    for step in (Progress.RINGING, Progress.ANSWERED, Progress.PLAYING, Progress.PLAYED,
                 Progress.HANGING_UP, Progress.ENDED):
        now = move(now, step)
    assert now is Progress.ENDED


def test_a_playlist_of_one_entry_is_played_by_the_dialplan_alone() -> None:
    assert move(Progress.ANSWERED, Progress.PLAYED) is Progress.PLAYED


@pytest.mark.parametrize("before", [p for p in Progress if p is not Progress.ENDED])
def test_from_any_state_the_channel_may_end(before: Progress) -> None:
    assert move(before, Progress.ENDED) is Progress.ENDED


def test_a_cancel_is_the_last_thing_we_do() -> None:
    assert move(Progress.HANGING_UP, Progress.CANCELING) is Progress.CANCELING
    assert NEXT[Progress.CANCELING] == {Progress.ENDED}
    assert Progress.CANCELING.hanging_up and Progress.HANGING_UP.hanging_up
    assert not Progress.PLAYED.hanging_up


@pytest.mark.parametrize(("before", "after"), [
    (Progress.PLAYING, Progress.ANSWERED),  # no way back
    (Progress.RINGING, Progress.PLAYING),  # not before the dialplan handed the channel over
    (Progress.HANGING_UP, Progress.PLAYING),  # nothing more is played to a channel we end
    (Progress.ENDED, Progress.HANGING_UP),
    (Progress.DIALING, Progress.PLAYED),
])
def test_a_forbidden_move_is_a_bug_that_shows(before: Progress, after: Progress) -> None:
    with pytest.raises(IllegalTransition, match=f"{before} -> {after}"):
        move(before, after)
