"""Placing calls: one task per call prepares its media, dials, plays and records the outcome.

    queued -> dialing -> ringing -> answered -> completed
                    \\-> busy | no_answer | failed        (and canceled)

The channel id is the request id, chosen before originating, so every event is
matched to its call from the first moment, and a repeated originate of the same
call is refused by Asterisk (409) instead of ringing the phone twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from ari_app.ari import Ari, Event
from ari_app.errors import AriError, MediaError
from ari_app.media import MediaPreparer, Prepared
from ari_app.metrics import Metrics
from ari_app.outcome import Hangup, State, classify, from_event
from ari_app.playlist import CallRequest
from ari_app.settings import Settings
from ari_app.stasis import CANCEL, LOST, EventRouter
from ari_app.store import Idempotency, Store

log = logging.getLogger(__name__)

CALL_HEADER = "X-Ari-App-Request"
"""SIP header carrying the request id on every INVITE, for the carrier's records."""
_HANGUP_GRACE = 10.0


class CallService:
    """Accepts validated requests and owns the task of every live call."""

    def __init__(self, *, settings: Settings, store: Store, ari: Ari, media: MediaPreparer,
                 router: EventRouter, clock: Callable[[], float] = time.time,
                 connect_wait: float = 30.0, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.store = store
        self.ari = ari
        self.media = media
        self.router = router
        self.clock = clock
        self.connect_wait = connect_wait
        self.metrics = metrics or Metrics()
        self._tasks: set[asyncio.Task[None]] = set()
        self._live: dict[str, Call] = {}
        self.metrics.watch(live=lambda: len(self._live),
                           ari_connected=lambda: 1.0 if ari.connected else 0.0)

    def cancel(self, call_id: str) -> bool:
        """Cancel a call of this process that has not ended; False if there is none."""
        call = self._live.get(call_id)
        if call is None:
            return False
        call.cancel()
        return True

    async def submit(self, request: CallRequest, idempotency: Idempotency | None = None) -> str:
        """Store the call, then start it. Returns once the call is durable."""
        call_id = str(uuid.uuid4())
        await self.store.insert(call_id, request, idempotency)
        self._start(call_id, request)
        return call_id

    def _start(self, call_id: str, request: CallRequest) -> None:
        call = Call(call_id=call_id, request=request, service=self)
        task = asyncio.create_task(call.run(), name=f"call-{call_id}")
        call.task = task
        self._live[call_id] = call
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._live.pop(call_id, None))

    async def resume(self) -> None:
        """After a restart: place calls that never dialled; end those that were live."""
        for record, request in await self.store.unfinished():
            if record.state == State.QUEUED:
                log.info("resuming queued call", extra={"request_id": record.id})
                self._start(record.id, request)
            else:
                log.warning("call was live when the service stopped",
                            extra={"request_id": record.id})
                self._tasks.add(asyncio.create_task(self._end_interrupted(record.id)))

    async def _end_interrupted(self, call_id: str) -> None:
        if await self.ari.wait_connected(self.connect_wait):
            try:
                await self.ari.hangup(call_id)
            except AriError:
                log.warning("could not hang up interrupted call", extra={"request_id": call_id})
        await self.store.update(
            call_id, state=State.FAILED, ended_at=self.clock(), error_id="service-restarted",
            error="the service restarted while the call was in progress",
        )

    async def reconcile(self) -> None:
        """After each (re)connect: calls whose channel vanished meanwhile are ended."""
        if not self.router.channel_ids:
            return
        try:
            live = await self.ari.channel_ids()
        except AriError:
            log.warning("reconcile failed: cannot list channels")
            return
        for channel_id in self.router.channel_ids - live:
            self.router.lost(channel_id)

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class Call:
    """One call's life, from preparing its media to its final state."""

    def __init__(self, *, call_id: str, request: CallRequest, service: CallService) -> None:
        self.id = call_id
        self.request = request
        self.s = service
        self.carrier = service.settings.carriers[request.carrier_id]
        self.state = State.QUEUED
        self.answered_at: float | None = None
        self.played = 0
        self.items_done = 0
        self.playlist_done = False
        self.error: tuple[str, str] | None = None
        self.answer_mono = 0.0
        self.first_audio_ms: float | None = None
        self.canceled = False
        self.task: asyncio.Task[None] | None = None
        self.extra = {"request_id": call_id, "carrier": request.carrier_id}

    def cancel(self) -> None:
        """Before dialling: stop the task. After: hang up; the call ends `canceled` either way."""
        self.canceled = True
        if self.state == State.QUEUED and self.task is not None:
            self.task.cancel()
        else:
            self.s.router.cancel(self.id)

    async def run(self) -> None:
        try:
            prepared = await self._prepare()
            if prepared is not None:
                staged = self.s.media.stage(prepared)
                try:
                    await self._dial_and_play(staged)
                finally:
                    self.s.media.unstage(staged)
        except asyncio.CancelledError:
            if not self.canceled:
                raise  # the service is stopping: the call stays queued for the next start
            await self._finish(State.CANCELED, None, None)
        except Exception:
            # One call's bug must not touch the others or the loop.
            log.exception("call failed unexpectedly", extra=self.extra)
            await self._finish(State.FAILED, None, ("internal-error", "internal error"))
        finally:
            self.s.router.close(self.id)

    async def _prepare(self) -> Prepared | None:
        try:
            return await self.s.media.prepare(self.request.playlist)
        except MediaError as exc:
            where = f"playlist[{exc.entry}]: " if exc.entry is not None else ""
            log.warning("media not ready, not dialling: %s%s", where, exc, extra=self.extra)
            await self._finish(State.FAILED, None, ("media-unavailable", f"{where}{exc}"))
            return None

    async def _set(self, state: State, **changes: Any) -> None:
        self.state = state
        log.info("call %s", state.value, extra=self.extra)
        await self.s.store.update(self.id, state=state, **changes)

    async def _finish(self, state: State, hangup: Hangup | None,
                      error: tuple[str, str] | None) -> None:
        self.state = state
        changes: dict[str, Any] = {"state": state, "ended_at": self.s.clock(),
                                   "played": self.played}
        if hangup is not None:
            changes |= {"cause": hangup.cause, "cause_txt": hangup.cause_txt,
                        "sip_code": hangup.sip_code}
        if error is not None:
            changes |= {"error_id": error[0], "error": error[1]}
        self.s.metrics.calls.labels(state=state.value, carrier=self.request.carrier_id).inc()
        log.info("call ended %s", state.value,
                 extra=self.extra | {"cause": hangup.cause if hangup else None})
        await self.s.store.update(self.id, **changes)

    async def _dial_and_play(self, prepared: Prepared) -> None:
        settings = self.s.settings
        ari = self.s.ari
        if not await ari.wait_connected(self.s.connect_wait):
            await self._finish(State.FAILED, None, ("ari-unavailable", "Asterisk (ARI) is not "
                                                    "connected; nothing was dialled"))
            return
        events = self.s.router.open(self.id)
        await self._set(State.DIALING, speech_engines=",".join(prepared.engines) or None,
                        audio_seconds=round(prepared.seconds, 3))
        self.s.metrics.attempts.labels(carrier=self.request.carrier_id).inc()
        try:
            await ari.originate(
                channel_id=self.id,
                endpoint=f"PJSIP/{self.carrier.prefix}{self.request.to}@{self.carrier.trunk}",
                app=settings.ari.app,
                caller_id=self.request.caller_id,
                timeout=settings.calls.ring_timeout,
                variables={f"PJSIP_HEADER(add,{CALL_HEADER})": self.id},
            )
        except AriError as exc:
            await self._finish(State.FAILED, None, ("originate-failed", str(exc)))
            return
        await self._follow(events, prepared)

    async def _follow(self, events: asyncio.Queue[Event], prepared: Prepared) -> None:
        """React to the call's events until it is destroyed, within every time limit."""
        calls = self.s.settings.calls
        now = time.monotonic
        deadline = now() + calls.ring_timeout + calls.max_duration + _HANGUP_GRACE
        hangup_at: float | None = None
        hung_up = False
        while True:
            if self.answered_at is not None and not hung_up:
                deadline = min(deadline, self.answer_mono + calls.max_duration)
            wake = deadline if hangup_at is None or hung_up else min(deadline, hangup_at)
            try:
                event = await asyncio.wait_for(events.get(), max(0.0, wake - now()))
            except TimeoutError:
                if hung_up:
                    await self._finish(State.FAILED, None, ("hangup-lost", "Asterisk never "
                                                            "reported the end of the call"))
                    return
                if hangup_at is None or now() < hangup_at:
                    self.error = self.error or ("max-duration",
                                                "the call reached calls.max_duration")
                await self._hangup()
                hung_up = True
                deadline = now() + _HANGUP_GRACE
                continue
            if await self._on_event(event, prepared):
                return
            if hangup_at is None and self.error is not None:
                hangup_at = now()
            elif hangup_at is None and self.playlist_done:
                # A moment of silence after the last word, so its end is not clipped.
                hangup_at = now() + calls.hangup_delay_ms / 1000

    async def _hangup(self) -> None:
        try:
            await self.s.ari.hangup(self.id)
        except AriError:
            log.warning("hangup failed", extra=self.extra)

    async def _on_event(self, event: Event, prepared: Prepared) -> bool:
        """React to one event; True once the call has its final state."""
        kind = event.get("type")
        if kind == "Dial":
            if event.get("dialstatus") in ("RINGING", "PROGRESS") and self.state == State.DIALING:
                await self._set(State.RINGING)
        elif kind == "StasisStart":
            await self._answered(prepared)
        elif kind == "PlaybackStarted" and self.first_audio_ms is None:
            self.first_audio_ms = (time.monotonic() - self.answer_mono) * 1000
            self.s.metrics.answer_to_audio.observe(self.first_audio_ms / 1000)
            await self.s.store.update(self.id, answer_to_audio_ms=self.first_audio_ms)
        elif kind == "PlaybackContinuing":
            self.items_done += 1
            self.played = prepared.entries_done(self.items_done)
        elif kind == "PlaybackFinished":
            if event.get("playback", {}).get("state") == "failed":
                self.error = ("playback-failed", "Asterisk could not play the last entry")
            else:
                self.played = len(self.request.playlist)
                self.playlist_done = True
        elif kind == "ChannelDestroyed":
            hangup = from_event(dict(event))
            state = classify(hangup, answered=self.answered_at is not None)
            if self.canceled:
                await self._finish(State.CANCELED, hangup, None)
                return True
            if state == State.COMPLETED and self.error is not None:
                state = State.FAILED
            await self._finish(state, hangup, self.error)
            return True
        elif kind == CANCEL:
            self.error = self.error or ("canceled", "canceled by request")
        elif kind == LOST:
            await self._finish(State.FAILED, None, ("channel-lost", "the channel vanished while "
                                                    "the connection to Asterisk was down"))
            return True
        return False

    async def _answered(self, prepared: Prepared) -> None:
        self.answer_mono = time.monotonic()
        self.answered_at = self.s.clock()
        try:
            await self.s.ari.play(channel_id=self.id, playback_id=f"{self.id}-play",
                                   media=prepared.media)
        except AriError as exc:
            self.error = ("playback-failed", str(exc))
        await self._set(State.ANSWERED, answered_at=self.answered_at)
