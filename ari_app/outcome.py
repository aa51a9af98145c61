"""How a call ends: its public states and their allowed moves, and Asterisk's hangup cause
(Q.850) and SIP code mapped to a final state.

    queued -> dialing -> ringing -> answered -> completed
       |        |  ^--------'          \\----> failed | canceled
       |        '--> busy | no_answer | failed | canceled    (also from ringing)
       '--> failed | canceled
    dialing again: the next carrier of the group, after one refused the call.

One table, used for every call. Causes follow res_pjsip's SIP-to-cause mapping
(486 -> 17, 480 -> 19, 408 -> 18, 503 -> 34, 603 -> 21 ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ari_app.verdict import Delivered


class State(StrEnum):
    QUEUED = "queued"
    DIALING = "dialing"
    RINGING = "ringing"
    ANSWERED = "answered"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def final(self) -> bool:
        return self in FINAL

    def may_become(self, other: State) -> bool:
        return other in _NEXT[self]


FINAL = frozenset({State.COMPLETED, State.BUSY, State.NO_ANSWER, State.FAILED, State.CANCELED})
_UNANSWERED_ENDS = frozenset({State.BUSY, State.NO_ANSWER, State.FAILED, State.CANCELED})
_NEXT: dict[State, frozenset[State]] = {
    State.QUEUED: frozenset({State.DIALING, State.FAILED, State.CANCELED}),
    State.DIALING: frozenset({State.DIALING, State.RINGING, State.ANSWERED, *_UNANSWERED_ENDS}),
    State.RINGING: frozenset({State.DIALING, State.ANSWERED, *_UNANSWERED_ENDS}),
    State.ANSWERED: frozenset({State.COMPLETED, State.FAILED, State.CANCELED}),
    **{state: frozenset() for state in FINAL},
}

# Unanswered calls: cause -> state. Anything not listed is a failure.
_UNANSWERED: dict[int, State] = {
    17: State.BUSY,        # user busy (486, 600)
    21: State.BUSY,        # call rejected (603 decline, 403)
    18: State.NO_ANSWER,   # no user responding (408)
    19: State.NO_ANSWER,   # no answer (480, ring timeout)
}


@dataclass(frozen=True)
class Hangup:
    cause: int
    cause_txt: str
    sip_code: int | None


@dataclass(frozen=True)
class CallError:
    """Why a call failed, as its status shows it: a stable id and a message."""

    id: str
    message: str


@dataclass(frozen=True)
class Ending:
    """How an attempt, and so a call, ended."""

    state: State
    hangup: Hangup | None = None
    error: CallError | None = None
    answered: bool = False
    played: int = 0
    """Playlist entries played to their end."""
    answer_to_audio_ms: float | None = None
    delivered: Delivered | None = None
    """What the delivery saw (keys, machine, readings); None if nothing was dialled."""


def classify(hangup: Hangup, *, answered: bool) -> State:
    """The final state of a call that Asterisk reports destroyed."""
    if answered:
        return State.COMPLETED
    return _UNANSWERED.get(hangup.cause, State.FAILED)
