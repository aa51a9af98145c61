"""How a call ended: Asterisk's hangup cause (Q.850) and SIP code, mapped to a state.

One table, used for every call. Causes follow res_pjsip's SIP-to-cause mapping
(486 -> 17, 480 -> 19, 408 -> 18, 503 -> 34, 603 -> 21 ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


FINAL = frozenset({State.COMPLETED, State.BUSY, State.NO_ANSWER, State.FAILED, State.CANCELED})

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


def classify(hangup: Hangup, *, answered: bool) -> State:
    """The final state of a call that Asterisk reports destroyed."""
    if answered:
        return State.COMPLETED
    return _UNANSWERED.get(hangup.cause, State.FAILED)


def from_event(event: dict[str, object]) -> Hangup:
    """Read cause, cause text and SIP code (tech_cause, Asterisk 22.7+) from ChannelDestroyed."""
    cause = event.get("cause")
    tech = event.get("tech_cause")
    return Hangup(
        cause=cause if isinstance(cause, int) else 0,
        cause_txt=str(event.get("cause_txt") or ""),
        sip_code=tech if isinstance(tech, int) and tech > 0 else None,
    )
