"""The call service: accepts validated calls and runs one session per call of this process.

    submit     store the call (before the API answers), then start its session
    cancel     hang up or stop a call of this process
    resume     after a restart: queued calls take their places again, live ones end
    adopt      the calls of an instance that died: the same, by a survivor
    reconcile  after each (re)connect to ARI: let queued calls go, resync live ones
    wait_ended until a call has ended (for `?wait=` on its status)

A call's life is in `ari_app.call`: the session runs its carrier plan, each attempt
one originate, the recorder tells what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ari_app.ari import Ari
from ari_app.call.recorder import Recorder
from ari_app.call.router import Router
from ari_app.call.session import Session
from ari_app.call.signals import ChannelLost, Resync
from ari_app.cluster.slots import SharedDispatcher
from ari_app.dispatch import Dispatcher
from ari_app.errors import AriError, StoreUnavailable
from ari_app.failover import Failover
from ari_app.media import MediaPreparer
from ari_app.metrics import Metrics
from ari_app.outcome import CallError, Ending, State
from ari_app.request import CallRequest
from ari_app.settings import Current
from ari_app.store import CallRecord, CallStore, Idempotency, Origin, SlotStore

log = logging.getLogger(__name__)

SERVICE_RESTARTED = CallError("service-restarted",
                              "the service restarted while the call was in progress")
UNREADABLE = CallError("request-unreadable",
                       "the call's stored request does not open with storage.key_file")
INSTANCE_LOST = CallError("instance-lost",
                          "the instance placing the call stopped answering; another hung "
                          "up its channel")


@dataclass(frozen=True)
class CarrierLoad:
    """A carrier as the calls of this process use it now."""

    live_calls: int
    held_back_seconds: float | None
    """Seconds until a carrier held back after failures is tried first again."""


class CallService:
    def __init__(self, *, current: Current, store: CallStore, ari: Ari, media: MediaPreparer,
                 router: Router, metrics: Metrics, wake_callbacks: Callable[[], None],
                 may_dial: Callable[[], bool] = lambda: True,
                 clock: Callable[[], float] = time.time, connect_wait: float = 30.0,
                 slots: SlotStore | None = None,
                 ask_owner: Callable[[str], Awaitable[None]] | None = None) -> None:
        """`slots`: carrier channels granted from the database, when several instances
        share it (cluster/slots.py); else this process grants them alone. `ask_owner`:
        tells the instance that owns a call to cancel it (listener.py)."""
        self._ask_owner = ask_owner
        self._current = current
        self._store = store
        self._ari = ari
        self._media = media
        self._router = router
        self._metrics = metrics
        self._wake_callbacks = wake_callbacks
        """Called after each stored state change of a call with a callback URL."""
        self._clock = clock
        self._connect_wait = connect_wait
        calls = current.settings.calls
        self._failover = Failover(holdback_after=calls.holdback_after,
                                  holdback_seconds=calls.holdback_seconds)
        def is_open() -> bool:
            return ari.connected and may_dial() and not self.draining

        def cap() -> int:
            return current.settings.calls.max_channels

        self._dispatcher = Dispatcher(limits=self._limits, cap=cap, is_open=is_open) \
            if slots is None else SharedDispatcher(slots=slots, limits=self._limits, cap=cap,
                                                   is_open=is_open)
        self.draining = False
        """Set by `drain`: nothing more is dialled; live calls go on to their end."""
        self.on_ended: Callable[[str], None] = lambda _: None
        """Told each call's id once its final state is stored (verifications listen)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._sessions: dict[str, Session] = {}
        metrics.watch(live=lambda: len(self._sessions),
                      ari_connected=lambda: 1.0 if ari.connected else 0.0,
                      queued=lambda: self._dispatcher.depth)

    def _limits(self, carrier_id: str) -> tuple[int, float]:
        carrier = self._current.settings.carriers.get(carrier_id)
        return (carrier.max_channels, carrier.max_cps) if carrier else (1, 1.0)

    def position(self, call_id: str) -> int | None:
        """The call's place in the queue of this process (1: next); None if not queued."""
        return self._dispatcher.position(call_id)

    def carrier_load(self, carrier_id: str) -> CarrierLoad:
        return CarrierLoad(live_calls=self._dispatcher.live_on(carrier_id),
                           held_back_seconds=self._failover.held().get(carrier_id))

    def let_through(self) -> None:
        """Let queued calls go if they may now (the breaker was reset)."""
        self._dispatcher.pump()

    async def wait_ended(self, call_id: str, seconds: float) -> None:
        """Return once the call has ended, or after `seconds`; at once if it is not live."""
        session = self._sessions.get(call_id)
        if session is not None and not session.ended.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await session.ended.wait()

    def cancel(self, call_id: str) -> bool:
        """Cancel a call of this process that has not ended; False if there is none."""
        session = self._sessions.get(call_id)
        if session is None:
            return False
        session.cancel()
        return True

    async def cancel_anywhere(self, call_id: str) -> bool:
        """Cancel the call here, or have the instance that owns it cancel it (several
        instances on one database); False if no one can."""
        if self.cancel(call_id):
            return True
        if self._ask_owner is None:
            return False
        await self._ask_owner(call_id)
        return True

    async def submit(self, request: CallRequest, *, idempotency: Idempotency | None = None,
                     origin: Origin | None = None) -> str:
        """Store the call, then start it. Returns once the call is durable."""
        call_id = str(uuid.uuid4())
        recorder = self._recorder(call_id, request.carrier_id,
                                  callback=request.callback_url is not None)
        record = await recorder.accepted(request, idempotency=idempotency, origin=origin)
        self._start(call_id, request, record.created_at, recorder)
        return call_id

    def _recorder(self, call_id: str, carrier_id: str, *, callback: bool,
                  state: State = State.QUEUED) -> Recorder:
        return Recorder(call_id=call_id, carrier_id=carrier_id, callback=callback,
                        store=self._store,
                        metrics=self._metrics, wake_callbacks=self._wake_callbacks,
                        clock=self._clock, state=state,
                        on_ended=lambda call_id: self.on_ended(call_id))

    def _start(self, call_id: str, request: CallRequest, created_at: float,
               recorder: Recorder) -> None:
        self._dispatcher.enqueue(call_id)
        session = Session(call_id=call_id, request=request, created_at=created_at,
                          recorder=recorder, dispatcher=self._dispatcher, failover=self._failover,
                          media=self._media, ari=self._ari, router=self._router,
                          current=self._current, clock=self._clock)
        self._sessions[call_id] = session
        task = session.start()
        task.add_done_callback(lambda _: self._sessions.pop(call_id, None))
        self._keep(task)

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def channels_lost(self, channel_ids: list[str]) -> None:
        """Their Asterisk node is gone: the calls on them end (`channel-lost`)."""
        for channel_id in channel_ids:
            self._router.send(channel_id, ChannelLost())

    def listening(self) -> None:
        """The LISTEN connection is (back) up: what was told while it was down is caught
        up: freed channels (a grant is asked), and cancels (read from the calls)."""
        self._dispatcher.pump()
        self._keep(asyncio.get_running_loop().create_task(self._cancels_asked()))

    async def _cancels_asked(self) -> None:
        try:
            for call_id in await self._store.cancels_asked():
                self.cancel(call_id)
        except StoreUnavailable as exc:
            log.warning("cancels asked meanwhile not read: %s", exc)

    def channels_freed(self) -> None:
        """Another instance freed a carrier channel: a waiting call may go."""
        self._dispatcher.pump()

    async def resume(self) -> None:
        """After a restart: queued calls take their places again; calls that were live end."""
        await self.adopt(await self._store.unfinished(), SERVICE_RESTARTED)

    async def adopt(self, calls: list[tuple[CallRecord, CallRequest | None]],
                    error: CallError) -> None:
        """Unfinished calls this instance now owns (its own after a restart, or a dead
        instance's): queued ones are placed (they never dialled); live ones are hung up
        and end failed with `error` (they may have reached the callee: not dialled again)."""
        for record, request in calls:
            # Events are queued only for a call stored with a callback URL (outbox.py).
            callback = request is None or request.callback_url is not None
            if request is None:
                log.error("call's request does not open with the sealing key: it ends failed",
                          extra={"request_id": record.id})
                recorder = self._recorder(record.id, record.carrier_id, callback=callback,
                                          state=State(record.state))
                self._keep(asyncio.create_task(recorder.ended(Ending(State.FAILED,
                                                                     error=UNREADABLE))))
            elif record.state == State.QUEUED and record.canceled_at is not None:
                log.info("call canceled while its instance was gone",
                         extra={"request_id": record.id})
                recorder = self._recorder(record.id, record.carrier_id, callback=callback)
                self._keep(asyncio.create_task(recorder.ended(Ending(State.CANCELED))))
            elif record.state == State.QUEUED:
                log.info("resuming queued call", extra={"request_id": record.id})
                self._start(record.id, request, record.created_at,
                            self._recorder(record.id, request.carrier_id, callback=callback))
            else:
                log.warning("call was live when its instance stopped: %s", error.id,
                            extra={"request_id": record.id})
                recorder = self._recorder(record.id, record.carrier_id, callback=callback,
                                          state=State(record.state))
                self._keep(asyncio.create_task(self._end_interrupted(recorder, error)))

    async def _end_interrupted(self, recorder: Recorder, error: CallError) -> None:
        """Hang up every channel the call may still have in Asterisk, then end it failed."""
        call_id = recorder.call_id
        attempts = await self._store.attempts(call_id)
        if await self._ari.wait_connected(self._connect_wait):
            for channel_id in sorted({call_id} | {a.channel_id for a in attempts}):
                try:
                    await self._ari.hangup(channel_id)
                except AriError:
                    log.warning("could not hang up interrupted call",
                                extra={"request_id": call_id})
        await recorder.interrupted(error, attempts)

    async def reconcile(self) -> None:
        """After each (re)connect: let queued calls go; resync the calls that are live.

        Events sent while the websocket was down are lost: a channel that is gone
        ended meanwhile; one still there may have been answered or finished playing.
        """
        self._dispatcher.pump()
        # Taken before asking: a channel whose originate is still on its way (on another
        # node) is not in the answer, and must not be taken for lost.
        known = list(self._router.channel_ids)
        if not known:
            return
        try:
            live = await self._ari.channels()
        except AriError:
            log.warning("reconcile failed: cannot list channels")
            return
        for channel_id in known:
            if channel_id in live:
                self._router.send(channel_id, Resync(live[channel_id]))
            elif self._ari.reachable(channel_id):  # else its node is down: it waits
                self._router.send(channel_id, ChannelLost())

    async def drain(self, seconds: float, hurry: asyncio.Event | None = None) -> int:
        """Stop dialling and wait for the calls on a channel to end, at most `seconds` (or
        until `hurry` is set); the number still live then. Queued calls stay queued in
        the store: the next start places them."""
        self.draining = True
        hurry = hurry or asyncio.Event()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                # Polled: the channel count has no event of its own, and this runs once,
                # at the end of the service's life.
                while self._dispatcher.live and not hurry.is_set():  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
        return self._dispatcher.live

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if isinstance(self._dispatcher, SharedDispatcher):
            await self._dispatcher.close()
