"""What happened to one call, told once: each state change goes to the store with its
callback event (one transaction), to the metrics and to the log, from here only.

The recorder also keeps the call's public state and refuses a move that
`State.may_become` does not allow (`IllegalTransition`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ari_app.errors import IllegalTransition, StoreUnavailable
from ari_app.metrics import Metrics
from ari_app.outcome import CallError, Ending, State
from ari_app.request import CallRequest
from ari_app.store import (
    AttemptEnd,
    AttemptRecord,
    CallRecord,
    CallStore,
    CallUpdate,
    Idempotency,
    Origin,
)
from ari_app.verdict import Delivered

log = logging.getLogger(__name__)
FINAL_PATIENCE = 600.0
"""Seconds a call's outcome waits for the database to come back before it is given up."""
FINAL_RETRY = 2.0


def event_body(call_id: str, carrier_id: str, state: State, at: float,
               **details: Any) -> dict[str, Any]:
    """A callback event: the state change, without anything from the playlist."""
    return {"type": "call.state", "request_id": call_id, "state": state.value,
            "carrier_id": carrier_id,
            "timestamp": datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds"),
            **details}


class Recorder:
    def __init__(self, *, call_id: str, carrier_id: str, callback: bool, store: CallStore,
                 metrics: Metrics, wake_callbacks: Callable[[], None],
                 clock: Callable[[], float], state: State = State.QUEUED,
                 on_ended: Callable[[str], None] = lambda _: None) -> None:
        self.call_id = call_id
        self.carrier_id = carrier_id
        """The carrier of the call's latest attempt."""
        self.state = state
        self._callback = callback
        """Whether the call has a callback URL: no events are made for one without."""
        self._store = store
        self._metrics = metrics
        self._wake = wake_callbacks
        self._clock = clock
        self._on_ended = on_ended
        """Told the call's id once its final state is stored (a verification's send)."""

    @property
    def log_extra(self) -> dict[str, str]:
        return {"request_id": self.call_id, "carrier": self.carrier_id}

    async def accepted(self, request: CallRequest, *, idempotency: Idempotency | None,
                       origin: Origin | None) -> CallRecord:
        record = await self._store.insert(
            self.call_id, request, idempotency=idempotency, origin=origin,
            event=self._event(State.QUEUED, self._clock()))
        self._told()
        return record

    async def dialing(self, attempt: AttemptRecord, *, speech_engines: tuple[str, ...],
                      audio_seconds: float) -> None:
        self.carrier_id = attempt.carrier_id
        await self._change(CallUpdate(State.DIALING, speech_engines=",".join(speech_engines)
                                      or None, audio_seconds=round(audio_seconds, 3)),
                           attempt=attempt.n, new_attempt=attempt)
        self._metrics.attempts.labels(carrier=attempt.carrier_id).inc()

    async def ringing(self, attempt: int) -> None:
        await self._change(CallUpdate(State.RINGING), attempt=attempt, required=False)

    async def answered(self, attempt: int, at: float) -> None:
        await self._change(CallUpdate(State.ANSWERED, answered_at=at), attempt=attempt,
                           required=False)

    def audio_started(self, ms: float) -> None:
        self._metrics.answer_to_audio.observe(ms / 1000)

    async def attempt_ended(self, attempt: int, ending: Ending) -> None:
        """An attempt that did not end the call: the next carrier is tried."""
        await self._store.end_attempt(self.call_id, self._attempt_end(attempt, ending))

    async def ended(self, ending: Ending, *, attempt: int | None = None) -> None:
        """The call's final state, with the end of its last attempt (if it had one)."""
        self._move(ending.state)
        details: dict[str, Any] = {}
        hangup = ending.hangup
        if hangup is not None:
            details |= {"cause": hangup.cause, "sip_code": hangup.sip_code}
        if ending.error is not None:
            details["error_id"] = ending.error.id
        report = (ending.delivered or Delivered()).report(ending.state)
        details["delivery"] = report
        self._metrics.calls.labels(state=ending.state.value, carrier=self.carrier_id).inc()
        self._metrics.verdicts.labels(verdict=report["verdict"]).inc()
        log.info("call ended %s, %s", ending.state.value, report["verdict"],
                 extra=self.log_extra | {"cause": hangup.cause if hangup else None})
        now = self._clock()
        update = CallUpdate(ending.state, ended_at=now, hangup=hangup, played=ending.played,
                            answer_to_audio_ms=ending.answer_to_audio_ms, error=ending.error,
                            delivery=report)
        attempt_end = None if attempt is None else self._attempt_end(attempt, ending)
        event = self._event(ending.state, now, **details)
        waited_since: float | None = None
        while True:  # the outcome is kept: a database away for a while is waited for
            try:
                await self._store.update(self.call_id, update, event=event,
                                         attempt_end=attempt_end)
                break
            except StoreUnavailable as exc:
                if waited_since is None:
                    waited_since = self._clock()
                    log.warning("call's outcome not stored yet (%s); trying again", exc,
                                extra=self.log_extra)
                if self._clock() - waited_since > FINAL_PATIENCE:
                    raise
                await asyncio.sleep(FINAL_RETRY)
        self._told()
        self._on_ended(self.call_id)

    async def interrupted(self, error: CallError, attempts: list[AttemptRecord]) -> None:
        """A call that was live when the service stopped: its open attempts and the call
        end failed with `error`."""
        for attempt in attempts:
            if attempt.ended_at is None:
                await self._store.end_attempt(self.call_id, AttemptEnd(
                    attempt.n, ended_at=self._clock(), outcome=error.id))
        await self.ended(Ending(State.FAILED, error=error))

    async def _change(self, update: CallUpdate, *, attempt: int,
                      new_attempt: AttemptRecord | None = None, required: bool = True) -> None:
        """Store a state the call reached. `required=False`: a state the call goes on
        without (ringing, answered) when the database is away; its outcome is stored
        later. `dialing` is required: nothing is dialled that is not written first."""
        self._move(update.state)
        log.debug("call %s", update.state.value, extra=self.log_extra)
        try:
            await self._store.update(self.call_id, update, attempt=new_attempt,
                                     event=self._event(update.state, self._clock(),
                                                       attempt=attempt + 1))
        except StoreUnavailable as exc:
            if required:
                raise
            log.warning("call %s not stored (%s); the call goes on", update.state.value, exc,
                        extra=self.log_extra)
            return
        self._told()

    def _move(self, state: State) -> None:
        if not self.state.may_become(state):
            raise IllegalTransition(f"call state {self.state} -> {state}")
        self.state = state

    def _event(self, state: State, at: float, **details: Any) -> dict[str, Any] | None:
        if not self._callback:
            return None
        return event_body(self.call_id, self.carrier_id, state, at, **details)

    def _told(self) -> None:
        """Wake the callback sender, if this call has anyone to tell."""
        if self._callback:
            self._wake()

    def _attempt_end(self, attempt: int, ending: Ending) -> AttemptEnd:
        return AttemptEnd(attempt, ended_at=self._clock(), hangup=ending.hangup,
                          outcome=ending.error.id if ending.error else ending.state.value)
