"""Placing calls: one task per call prepares its media, waits its turn, dials, plays, records.

    queued -> dialing -> ringing -> answered -> completed
                    \\-> busy | no_answer | failed        (and canceled)

Each originate is an attempt on one carrier, with a channel id chosen before
originating (the request id for the first, `<request id>-<n>` after), so every
event is matched to its attempt from the first moment, and a repeated originate
of the same attempt is refused by Asterisk (409) instead of ringing twice. An
attempt the carrier refused moves the call to the next carrier of its group
(failover.py); every other ending is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ari_app.ari import Ari, Event
from ari_app.dispatch import Dispatcher
from ari_app.errors import AriError, MediaError
from ari_app.failover import Failover, carrier_failed
from ari_app.media import MediaPreparer, Prepared
from ari_app.metrics import Metrics
from ari_app.outcome import Hangup, State, classify, from_event
from ari_app.playlist import CallRequest
from ari_app.settings import Carrier, Current, Settings
from ari_app.stasis import CANCEL, LOST, RESYNC, EventRouter
from ari_app.store import Attempt, Idempotency, Origin, Store

log = logging.getLogger(__name__)

CALL_CONTEXT = "ari-app-call"
"""The dialplan context a call runs once answered (dialplan/extensions.conf.j2): it plays
the first entry at once, then enters Stasis (our application, ARI_APP_NAME), with how the
first entry went as argument."""
CALL_HEADER = "X-Ari-App-Request"
"""SIP header carrying the request id on every INVITE, for the carrier's records."""
_HANGUP_GRACE = 10.0
_TICK = "Tick"
"""Our own event, put in an attempt's queue by its timer: time to act."""


class CallService:
    """Accepts validated requests and owns the task of every call of this process."""

    def __init__(self, *, config: Current, store: Store, ari: Ari, media: MediaPreparer,
                 router: EventRouter, clock: Callable[[], float] = time.time,
                 connect_wait: float = 30.0, metrics: Metrics | None = None,
                 on_event: Callable[[], None] = lambda: None,
                 may_dial: Callable[[], bool] = lambda: True) -> None:
        self.config = config
        self.store = store
        self.ari = ari
        self.media = media
        self.router = router
        self.clock = clock
        self.connect_wait = connect_wait
        self.metrics = metrics or Metrics()
        self.on_event = on_event
        """Called after each state change is stored (wakes the callback sender)."""
        calls = config.settings.calls
        self.failover = Failover(holdback_after=calls.holdback_after,
                                 holdback_seconds=calls.holdback_seconds)
        self.dispatcher = Dispatcher(limits=self._limits,
                                     cap=lambda: self.settings.calls.max_channels,
                                     is_open=lambda: ari.connected and may_dial())
        self._tasks: set[asyncio.Task[None]] = set()
        self._live: dict[str, Call] = {}
        self.metrics.watch(live=lambda: len(self._live),
                           ari_connected=lambda: 1.0 if ari.connected else 0.0,
                           queued=lambda: self.dispatcher.depth)

    @property
    def settings(self) -> Settings:
        return self.config.settings

    def _limits(self, carrier_id: str) -> tuple[int, float]:
        carrier = self.settings.carriers.get(carrier_id)
        return (carrier.max_channels, carrier.max_cps) if carrier else (1, 1.0)

    def position(self, call_id: str) -> int | None:
        return self.dispatcher.position(call_id)

    async def wait_ended(self, call_id: str, seconds: float) -> None:
        """Return once the call has ended, or after `seconds`; at once if it is not live."""
        call = self._live.get(call_id)
        if call is not None and not call.ended.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await call.ended.wait()

    def cancel(self, call_id: str) -> bool:
        """Cancel a call of this process that has not ended; False if there is none."""
        call = self._live.get(call_id)
        if call is None:
            return False
        call.cancel()
        return True

    async def submit(self, request: CallRequest, idempotency: Idempotency | None = None,
                     origin: Origin | None = None) -> str:
        """Store the call, then start it. Returns once the call is durable."""
        call_id = str(uuid.uuid4())
        record = await self.store.insert(
            call_id, request, idempotency, origin,
            event=event_body(call_id, request.carrier_id, State.QUEUED, self.clock())
            if request.callback_url is not None else None)
        if request.callback_url is not None:
            self.on_event()
        self._start(call_id, request, record.created_at)
        return call_id

    def _start(self, call_id: str, request: CallRequest, created_at: float) -> None:
        self.dispatcher.enqueue(call_id)
        call = Call(call_id=call_id, request=request, service=self, created_at=created_at)
        task = asyncio.create_task(call.run(), name=f"call-{call_id}")
        call.task = task
        self._live[call_id] = call
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._live.pop(call_id, None))

    async def resume(self) -> None:
        """After a restart: queued calls take their places again; calls that were live end."""
        for record, request in await self.store.unfinished():
            if record.state == State.QUEUED:
                log.info("resuming queued call", extra={"request_id": record.id})
                self._start(record.id, request, record.created_at)
            else:
                log.warning("call was live when the service stopped",
                            extra={"request_id": record.id})
                self._tasks.add(asyncio.create_task(self._end_interrupted(record.id)))

    async def _end_interrupted(self, call_id: str) -> None:
        """Hang up every channel the call may still have in Asterisk, then end it `failed`."""
        attempts = await self.store.attempts(call_id)
        if await self.ari.wait_connected(self.connect_wait):
            for channel_id in sorted({call_id} | {a.channel_id for a in attempts}):
                try:
                    await self.ari.hangup(channel_id)
                except AriError:
                    log.warning("could not hang up interrupted call",
                                extra={"request_id": call_id})
        record = await self.store.get(call_id)
        carrier = record.carrier_id if record else ""
        for attempt in attempts:
            if attempt.ended_at is None:
                await self.store.end_attempt(call_id, attempt.n, ended_at=self.clock(),
                                             outcome="service-restarted")
        await self.store.update(
            call_id, state=State.FAILED, ended_at=self.clock(), error_id="service-restarted",
            error="the service restarted while the call was in progress",
            event=event_body(call_id, carrier, State.FAILED, self.clock(),
                             error_id="service-restarted"),
        )
        self.metrics.calls.labels(state=State.FAILED.value, carrier=carrier).inc()
        log.info("call ended failed", extra={"request_id": call_id, "carrier": carrier,
                                             "error_id": "service-restarted"})
        self.on_event()

    async def reconcile(self) -> None:
        """After each (re)connect: let queued calls go; resync the calls that are live.

        Events sent while the websocket was down are lost: a channel that is gone
        ended meanwhile; one still there may have been answered or finished playing.
        """
        self.dispatcher.pump()
        if not self.router.channel_ids:
            return
        try:
            live = await self.ari.channels()
        except AriError:
            log.warning("reconcile failed: cannot list channels")
            return
        for channel_id in self.router.channel_ids:
            if channel_id in live:
                self.router.resync(channel_id, live[channel_id])
            else:
                self.router.lost(channel_id)

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def event_body(call_id: str, carrier_id: str, state: State, at: float,
               **details: Any) -> dict[str, Any]:
    """A callback event: the state change, without anything from the playlist."""
    return {"type": "call.state", "request_id": call_id, "state": state.value,
            "carrier_id": carrier_id,
            "timestamp": datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds"),
            **details}


@dataclass
class _Ending:
    """How one attempt ended."""

    state: State
    hangup: Hangup | None
    error: tuple[str, str] | None


class Call:
    """One call's life, from preparing its media to its final state."""

    def __init__(self, *, call_id: str, request: CallRequest, service: CallService,
                 created_at: float) -> None:
        self.id = call_id
        self.request = request
        self.s = service
        self.created_at = created_at
        self.carrier_id = request.carrier_id
        self.channel_id = call_id
        self.attempt = 0
        self.state = State.QUEUED
        self.answered_at: float | None = None
        self.played = 0
        self.items_done = 0
        self.playlist_done = False
        self.error: tuple[str, str] | None = None
        self.answer_mono = 0.0
        self.first_audio_ms: float | None = None
        self.canceled = False
        self.hangup_sent = False
        self.in_attempt = False
        """True from opening an attempt's event queue to closing it: a cancel goes there."""
        self.rest_started = False
        """True once the service was told the first entry is played (StasisStart)."""
        self.staged: Prepared | None = None
        self.task: asyncio.Task[None] | None = None
        self.ended = asyncio.Event()
        """Set once the final state is stored."""
        self.extra = {"request_id": call_id, "carrier": request.carrier_id}

    def cancel(self) -> None:
        """Between attempts (queued, or waiting for the next carrier): stop the task. During
        one: hang up. The call ends `canceled` either way; an ended call stays as it ended."""
        if self.state.final:
            return
        self.canceled = True
        if self.in_attempt:
            self.s.router.cancel(self.channel_id)
        elif self.task is not None:
            self.task.cancel()

    async def run(self) -> None:
        try:
            await self._place()
        except asyncio.CancelledError:
            if not self.canceled:
                raise  # the service is stopping: the call stays queued for the next start
            await self._finish(_Ending(State.CANCELED, None, None))
        except Exception:
            # One call's bug must not touch the others or the loop.
            log.exception("call failed unexpectedly", extra=self.extra)
            await self._finish(_Ending(State.FAILED, None, ("internal-error", "internal error")))
        finally:
            if self.staged is not None:
                self.s.media.unstage(self.staged)
            self.s.router.close(self.channel_id)
            self.s.dispatcher.forget(self.id)

    async def _prepare(self) -> Prepared | None:
        try:
            return await self.s.media.prepare(self.request.playlist)
        except MediaError as exc:
            where = f"playlist[{exc.entry}]: " if exc.entry is not None else ""
            log.warning("media not ready, not dialling: %s%s", where, exc, extra=self.extra)
            await self._finish(_Ending(State.FAILED, None, ("media-unavailable", f"{where}{exc}")))
            return None

    async def _place(self) -> None:
        """Attempt the carriers of the plan in turn until one attempt ends the call.

        Media is prepared and staged once the call's turn has come: a queued call costs
        nothing but its place. Preparing fails before any INVITE, so a call whose media
        cannot be made never rings.
        """
        plan = self.s.failover.plan(self.request.carrier_id, self.s.settings.carriers) \
            if self.request.carrier_id in self.s.settings.carriers else []
        if not plan:
            await self._finish(_Ending(State.FAILED, None, (
                "carrier-removed", "the carrier was removed before the call was placed")))
            return
        n = 0
        while n < len(plan):
            carrier = plan[n]
            if not await self._wait_turn(carrier, retry=n > 0):
                return
            try:
                if self.staged is None:
                    prepared = await self._prepare()
                    if prepared is None:
                        return
                    self.staged = self.s.media.stage(prepared)
                ending = await self._attempt(n, carrier, self.staged)
            finally:
                self.s.dispatcher.release(carrier.id)
            if ending is None:
                continue  # ARI went away before the originate: wait for a turn again
            refused = (ending.hangup is not None and self.answered_at is None
                       and carrier_failed(ending.hangup))
            if ending.hangup is not None:
                self.s.failover.record(carrier.id, failed=refused)
            if refused and not self.canceled and n + 1 < len(plan):
                log.warning("carrier refused the call (SIP %s, cause %s); failing over to %s",
                            ending.hangup.sip_code if ending.hangup else None,
                            ending.hangup.cause if ending.hangup else None, plan[n + 1].id,
                            extra=self.extra)
                await self.s.store.end_attempt(self.id, n, **self._attempt_end(ending))
                n += 1
                continue
            await self._finish(ending, attempt=n)
            return

    async def _wait_turn(self, carrier: Carrier, *, retry: bool) -> bool:
        """Wait in the queue for a channel on `carrier`; False if the call ended waiting."""
        left = self.created_at + self.s.settings.calls.queue_timeout - self.s.clock()
        try:
            if left <= 0:
                raise TimeoutError
            async with asyncio.timeout(left):
                await self.s.dispatcher.acquire(self.id, carrier.id, retry=retry)
        except TimeoutError:
            await self._finish(_Ending(State.FAILED, None, (
                "queue-timeout", "the call waited longer than calls.queue_timeout for a free "
                                 "channel or for Asterisk")))
            return False
        return True

    async def _set(self, state: State, **changes: Any) -> None:
        self.state = state
        log.debug("call %s", state.value, extra=self.extra)
        await self.s.store.update(self.id, state=state, **changes, event=self._event(
            state, self.s.clock(), attempt=self.attempt + 1))
        self._notify()

    def _event(self, state: State, at: float, **details: Any) -> dict[str, Any] | None:
        """The callback event of a state change; none for a call without a callback URL."""
        if self.request.callback_url is None:
            return None
        return event_body(self.id, self.carrier_id, state, at, **details)

    def _notify(self) -> None:
        """Wake the callback sender, if this call has anyone to tell."""
        if self.request.callback_url is not None:
            self.s.on_event()

    async def _finish(self, ending: _Ending, attempt: int | None = None) -> None:
        """The call's final state, with the end of its last attempt (`attempt`) if it had
        one, in one write."""
        self.state = ending.state
        now = self.s.clock()
        changes: dict[str, Any] = {"state": ending.state, "ended_at": now,
                                   "played": self.played,
                                   "answer_to_audio_ms": self.first_audio_ms}
        details: dict[str, Any] = {}
        if ending.hangup is not None:
            hangup = {"cause": ending.hangup.cause, "cause_txt": ending.hangup.cause_txt,
                      "sip_code": ending.hangup.sip_code}
            changes |= hangup
            details |= {"cause": ending.hangup.cause, "sip_code": ending.hangup.sip_code}
        if ending.error is not None:
            changes |= {"error_id": ending.error[0], "error": ending.error[1]}
            details["error_id"] = ending.error[0]
        self.s.metrics.calls.labels(state=ending.state.value, carrier=self.carrier_id).inc()
        log.info("call ended %s", ending.state.value,
                 extra=self.extra | {"cause": ending.hangup.cause if ending.hangup else None})
        try:
            await self.s.store.update(
                self.id, **changes, event=self._event(ending.state, now, **details),
                attempt_end=None if attempt is None else (attempt, self._attempt_end(ending)))
        finally:
            self.ended.set()
        self._notify()

    async def _attempt(self, n: int, carrier: Carrier, prepared: Prepared) -> _Ending | None:
        """One originate on `carrier` and everything after it; None if it was not sent."""
        ari = self.s.ari
        if not ari.connected:
            return None
        self.attempt = n
        self.carrier_id = carrier.id
        self.channel_id = self.id if n == 0 else f"{self.id}-{n}"
        self.extra = {"request_id": self.id, "carrier": carrier.id}
        events = self.s.router.open(self.channel_id)
        self.in_attempt = True
        await self._set(State.DIALING, speech_engines=",".join(prepared.engines) or None,
                        audio_seconds=round(prepared.seconds, 3),
                        attempt=Attempt(n=n, carrier_id=carrier.id, channel_id=self.channel_id,
                                        started_at=self.s.clock()))
        self.s.metrics.attempts.labels(carrier=carrier.id).inc()
        first = prepared.media[:prepared.items_per_entry[0]]
        try:
            # The channel runs dialplan, not Stasis, until its first entry is played: its
            # events come through the application's subscription to the carrier's endpoint.
            await ari.watch(f"PJSIP/{carrier.trunk}")
            await ari.originate(
                channel_id=self.channel_id,
                endpoint=f"PJSIP/{carrier.dial_string(self.request.to)}@{carrier.trunk}",
                context=CALL_CONTEXT,
                caller_id=self._caller_id(carrier),
                timeout=self.s.settings.calls.ring_timeout,
                variables={f"PJSIP_HEADER(add,{CALL_HEADER})": self.id,
                           "ARI_APP_FIRST": "&".join(u.removeprefix("sound:") for u in first),
                           "ARI_APP_NAME": self.s.settings.ari.app},
            )
        except AriError as exc:
            ending = _Ending(State.FAILED, None, ("originate-failed", str(exc)))
        else:
            ending = await self._follow(events, prepared)
        finally:
            self.s.router.close(self.channel_id)
            self.in_attempt = False
        return ending

    def _caller_id(self, carrier: Carrier) -> str:
        """The request's caller ID; on a failover carrier that does not allow it, its own."""
        if not carrier.caller_ids or self.request.caller_id in carrier.caller_ids:
            return self.request.caller_id
        return carrier.default_caller_id or ""

    def _attempt_end(self, ending: _Ending) -> dict[str, Any]:
        """How an attempt ended, as stored with it."""
        hangup = ending.hangup
        return {"ended_at": self.s.clock(),
                "sip_code": hangup.sip_code if hangup else None,
                "cause": hangup.cause if hangup else None,
                "cause_txt": hangup.cause_txt if hangup else None,
                "outcome": ending.error[0] if ending.error else ending.state.value}

    async def _follow(self, events: asyncio.Queue[Event], prepared: Prepared) -> _Ending:
        """React to the attempt's events until its channel is destroyed, within every limit."""
        calls = self.s.settings.calls
        now = time.monotonic
        deadline = now() + calls.ring_timeout + calls.max_duration + _HANGUP_GRACE
        hangup_at: float | None = None
        hung_up = False
        # One timer that drops a tick into the event queue, moved only when the time to
        # act changes (a timeout around every wait for an event showed in profiles).
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None
        tick: Event = {}
        timer_at = 0.0
        try:
            while True:
                if self.answered_at is not None and not hung_up:
                    deadline = min(deadline, self.answer_mono + calls.max_duration)
                wake = deadline if hangup_at is None or hung_up else min(deadline, hangup_at)
                if timer is None or wake != timer_at:
                    if timer is not None:
                        timer.cancel()
                    tick = {"type": _TICK}  # a tick of a timer moved since is ignored
                    timer, timer_at = loop.call_at(wake, events.put_nowait, tick), wake
                event = await events.get()
                if event.get("type") == _TICK:
                    if event is not tick:
                        continue
                else:
                    ending = await self._on_event(event, prepared)
                    if ending is not None:
                        return ending
                    if hangup_at is None and self.error is not None:
                        hangup_at = now()
                    elif hangup_at is None and self.playlist_done:
                        # A moment of silence after the last word, so its end is not clipped.
                        hangup_at = now() + calls.hangup_delay_ms / 1000
                    continue
                timer = None  # it fired: the next round sets the next one
                if hung_up:
                    return _Ending(State.FAILED, None, ("hangup-lost", "Asterisk never reported "
                                                        "the end of the call"))
                if hangup_at is None or timer_at < hangup_at:
                    self.error = self.error or ("max-duration",
                                                "the call reached calls.max_duration")
                await self._hangup()
                hung_up = True
                deadline = now() + _HANGUP_GRACE
        finally:
            if timer is not None:
                timer.cancel()

    async def _hangup(self) -> None:
        self.hangup_sent = True
        try:
            await self.s.ari.hangup(self.channel_id)
        except AriError:
            log.warning("hangup failed", extra=self.extra)

    async def _on_event(self, event: Event, prepared: Prepared) -> _Ending | None:
        """React to one event; the attempt's ending once its channel is gone."""
        kind = event.get("type")
        if kind == "Dial":
            if event.get("dialstatus") in ("RINGING", "PROGRESS") and self.state == State.DIALING:
                await self._set(State.RINGING)
        elif kind == "ChannelStateChange":
            if event.get("channel", {}).get("state") == "Up" and self.answered_at is None:
                await self._answered()
        elif kind == "ChannelDialplan":
            if event.get("dialplan_app") == "Playback" and self.first_audio_ms is None \
                    and self.answered_at is not None:
                self.first_audio_ms = (time.monotonic() - self.answer_mono) * 1000
                self.s.metrics.answer_to_audio.observe(self.first_audio_ms / 1000)
        elif kind == "StasisStart":
            status = (event.get("args") or [""])[0]
            await self._first_played(prepared, played=status == "SUCCESS")
        elif kind == "PlaybackContinuing":
            self.items_done += 1
            self.played = prepared.entries_done(self.items_done)
        elif kind == "PlaybackFinished":
            if event.get("playback", {}).get("state") == "failed":
                self.error = ("playback-failed", "Asterisk could not play the last entry")
            else:
                self._all_played()
        elif kind == "ChannelDestroyed":
            hangup = from_event(dict(event))
            if self.canceled:
                return _Ending(State.CANCELED, hangup, None)
            state = classify(hangup, answered=self.answered_at is not None)
            if hangup.cause == 0 and self.answered_at is not None:
                # No cause (ours is 16, the callee's too): Asterisk itself tore it down.
                self.error = ("asterisk-ended-channel", "Asterisk ended the call itself, "
                              "without a hangup cause: it was stopping or restarting")
            if state == State.COMPLETED and self.error is not None:
                state = State.FAILED
            return _Ending(state, hangup, self.error)
        elif kind == CANCEL:
            self.error = self.error or ("canceled", "canceled by request")
        elif kind == RESYNC:
            await self._resync(str(event.get("state")), prepared)
        elif kind == LOST:
            return _Ending(State.FAILED, None, ("channel-lost", "the channel vanished while the "
                                                "connection to Asterisk was down (Asterisk "
                                                "restarted, or the call ended meanwhile)"))
        return None

    async def _resync(self, channel_state: str, prepared: Prepared) -> None:
        """The websocket was down: catch up with what happened to the channel meanwhile."""
        log.info("resyncing call after reconnect", extra=self.extra)
        if self.hangup_sent:
            await self._hangup()  # the first one may not have reached Asterisk
            return
        if channel_state != "Up" or self.playlist_done or self.error is not None:
            return
        if self.answered_at is None:
            await self._answered()
        try:
            app = await self.s.ari.channel_app(self.channel_id)
            if app != "Stasis":
                return  # still playing the first entry in the dialplan: StasisStart will come
            if not self.rest_started:
                await self._first_played(prepared, played=True)
            elif not await self.s.ari.playback_exists(f"{self.channel_id}-play"):
                self._all_played()
        except AriError:
            return

    def _all_played(self) -> None:
        self.played = len(self.request.playlist)
        self.playlist_done = True

    async def _answered(self) -> None:
        self.answer_mono = time.monotonic()
        self.answered_at = self.s.clock()
        await self._set(State.ANSWERED, answered_at=self.answered_at)

    async def _first_played(self, prepared: Prepared, *, played: bool) -> None:
        """The dialplan played the first entry and handed the channel over: play the rest."""
        if self.rest_started:
            return
        self.rest_started = True
        if self.answered_at is None:
            await self._answered()  # its state change was missed
        if not played:
            self.error = ("playback-failed", "Asterisk could not play the first entry")
            return
        self.items_done = prepared.items_per_entry[0]
        rest = prepared.media[self.items_done:]
        if not rest:
            self._all_played()
            return
        self.played = prepared.entries_done(self.items_done)
        try:
            await self.s.ari.play(channel_id=self.channel_id,
                                  playback_id=f"{self.channel_id}-play", media=rest)
        except AriError as exc:
            self.error = ("playback-failed", str(exc))
