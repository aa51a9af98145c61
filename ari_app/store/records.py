"""What the store keeps and what it is told, as frozen values: the rows it reads back and
the typed changes it writes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ari_app.outcome import CallError, Hangup, State

CallbackEvent = Mapping[str, Any]
"""A callback event's body, without its id (the outbox gives it one)."""


@dataclass(frozen=True)
class CallRecord:
    id: str
    state: str
    carrier_id: str
    to_number: str
    caller_id: str
    entry_types: str
    created_at: float
    updated_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    cause: int | None = None
    cause_txt: str | None = None
    sip_code: int | None = None
    played: int = 0
    answer_to_audio_ms: float | None = None
    speech_engines: str | None = None
    audio_seconds: float | None = None
    error_id: str | None = None
    error: str | None = None
    delivery: str | None = None
    """The delivery report as JSON, once the call has ended (verdict.py)."""
    canceled_at: float | None = None
    """When a cancel was asked through another instance than the call's owner."""


CALL_COLUMNS = tuple(f.name for f in fields(CallRecord))


@dataclass(frozen=True)
class CallUpdate:
    """A call's new state and what became known with it; None leaves a column as it is."""

    state: State
    answered_at: float | None = None
    ended_at: float | None = None
    hangup: Hangup | None = None
    played: int | None = None
    answer_to_audio_ms: float | None = None
    speech_engines: str | None = None
    audio_seconds: float | None = None
    error: CallError | None = None
    delivery: Mapping[str, Any] | None = None

    def columns(self) -> dict[str, object]:
        """The columns this update writes, by name."""
        values: dict[str, object] = {
            "state": self.state.value, "answered_at": self.answered_at,
            "ended_at": self.ended_at, "played": self.played,
            "answer_to_audio_ms": self.answer_to_audio_ms,
            "speech_engines": self.speech_engines, "audio_seconds": self.audio_seconds,
        }
        if self.hangup is not None:
            values |= {"cause": self.hangup.cause, "cause_txt": self.hangup.cause_txt,
                       "sip_code": self.hangup.sip_code}
        if self.error is not None:
            values |= {"error_id": self.error.id, "error": self.error.message}
        if self.delivery is not None:
            values["delivery"] = json.dumps(self.delivery)
        return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class AttemptRecord:
    """One originate of a call on one carrier."""

    n: int
    carrier_id: str
    channel_id: str
    started_at: float
    ended_at: float | None = None
    sip_code: int | None = None
    cause: int | None = None
    cause_txt: str | None = None
    outcome: str | None = None


ATTEMPT_COLUMNS = tuple(f.name for f in fields(AttemptRecord))


@dataclass(frozen=True)
class AttemptEnd:
    """How attempt `n` ended: its hangup, and its outcome (a final state or an error id)."""

    n: int
    ended_at: float
    outcome: str
    hangup: Hangup | None = None


@dataclass(frozen=True)
class Delivery:
    """One callback event and how its delivery is going."""

    id: str
    call_id: str
    url: str
    state: str
    body: str
    created_at: float
    next_at: float
    attempts: int
    last_status: int | None
    last_error: str | None
    delivered_at: float | None


DELIVERY_COLUMNS = tuple(f.name for f in fields(Delivery))


@dataclass(frozen=True)
class DeliveryResult:
    """How one delivery attempt went: `delivered`, or still `pending` (retried at
    `next_at`), or `given_up`."""

    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    delivered_at: float | None = None
    next_at: float | None = None


@dataclass(frozen=True)
class Idempotency:
    """A client's Idempotency-Key, with a hash of the body it first came with."""

    key: str
    body_hash: str


@dataclass(frozen=True)
class Origin:
    """Who asked for a call: for velocity limits and the spend estimate."""

    api_key: str | None = None
    client: str | None = None
    est_cost: float = 0.0
    admitted_at: float = 0.0
    verification_id: str | None = None
    """The verification the call is a send of."""


@dataclass(frozen=True)
class RecentCall:
    to_number: str
    api_key: str | None
    client: str | None
    created_at: float
    est_cost: float


@dataclass(frozen=True)
class BreakerTrip:
    tripped_at: float
    reason: str
