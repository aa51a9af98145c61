"""One call's session: from its place in the queue to its final state.

It runs the carrier plan: the requested carrier, then the rest of its failover
group (failover.py). For each carrier it waits its turn in the queue
(dispatch.py), prepares and stages the media once (before the first INVITE, so a
call whose media cannot be made never rings), runs an attempt, and decides from
how the attempt ended whether the next carrier is tried. Every ending but a
carrier's refusal is final.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ari_app.ari import Ari
from ari_app.call.attempt import Attempt
from ari_app.call.recorder import Recorder
from ari_app.call.router import Router
from ari_app.carriers import Carrier
from ari_app.delivery import to_prepare
from ari_app.dispatch import Dispatcher
from ari_app.errors import MediaError
from ari_app.failover import Failover, carrier_failed
from ari_app.media import MediaPreparer, Prepared
from ari_app.outcome import CallError, Ending, State
from ari_app.request import CallRequest
from ari_app.settings import Current

log = logging.getLogger(__name__)

QUEUE_TIMEOUT = CallError("queue-timeout", "the call waited longer than calls.queue_timeout "
                          "for a free channel or for Asterisk")
CARRIER_REMOVED = CallError("carrier-removed", "the carrier was removed before the call was "
                            "placed")
INTERNAL_ERROR = CallError("internal-error", "internal error")


class Session:
    def __init__(self, *, call_id: str, request: CallRequest, created_at: float,
                 recorder: Recorder, dispatcher: Dispatcher, failover: Failover,
                 media: MediaPreparer, ari: Ari, router: Router, current: Current,
                 clock: Callable[[], float]) -> None:
        self.id = call_id
        self._request = request
        self._created_at = created_at
        self._recorder = recorder
        self._dispatcher = dispatcher
        self._failover = failover
        self._media = media
        self._ari = ari
        self._router = router
        self._current = current
        self._clock = clock
        self._attempt: Attempt | None = None
        """The attempt running now; None while the call waits or is between attempts."""
        self._latest: Attempt | None = None
        """The last attempt made, running or not."""
        self._staged: Prepared | None = None
        self._cancel_requested = False
        self._task: asyncio.Task[None] | None = None
        self.ended = asyncio.Event()
        """Set once the final state is stored."""

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self._run(), name=f"call-{self.id}")
        return self._task

    def cancel(self) -> None:
        """Waiting or between attempts: stop the task. During an attempt: hang up. The call
        ends `canceled` either way; an ended call stays as it ended."""
        if self._recorder.state.final:
            return
        self._cancel_requested = True
        if self._attempt is not None:
            self._attempt.cancel()
        elif self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        try:
            await self._place()
        except asyncio.CancelledError:
            if not self._cancel_requested:
                raise  # the service is stopping: the call stays queued for the next start
            await self._end(Ending(State.CANCELED))
        except Exception:
            # One call's bug must not touch the others or the loop.
            log.exception("call failed unexpectedly", extra=self._recorder.log_extra)
            if not self._recorder.state.final:
                await self._end(self._latest.ending(State.FAILED, error=INTERNAL_ERROR)
                                if self._latest is not None
                                else Ending(State.FAILED, error=INTERNAL_ERROR))
            else:  # its final state was not stored: the next start ends it (service-restarted)
                self.ended.set()
        finally:
            if self._staged is not None:
                self._media.unstage(self._staged)
            self._dispatcher.forget(self.id)

    async def _place(self) -> None:
        """Attempt the carriers of the plan in turn until one attempt ends the call."""
        carriers = self._current.settings.carriers
        plan = self._failover.plan(self._request.carrier_id, carriers) \
            if self._request.carrier_id in carriers else []
        if not plan:
            await self._end(Ending(State.FAILED, error=CARRIER_REMOVED))
            return
        n = 0
        while n < len(plan):
            carrier = plan[n]
            if not await self._wait_turn(carrier, retry=n > 0):
                return
            try:
                staged = await self._staged_media()
                if staged is None:
                    return
                ending = await self._try(n, carrier, staged)
            finally:
                self._dispatcher.release(carrier.id, self.id)
            if ending is None:
                continue  # ARI went away before the originate: wait for a turn again
            if self._refused(carrier, ending) and n + 1 < len(plan):
                hangup = ending.hangup
                log.warning("carrier refused the call (SIP %s, cause %s); failing over to %s",
                            hangup.sip_code if hangup else None, hangup.cause if hangup else None,
                            plan[n + 1].id, extra=self._recorder.log_extra)
                await self._recorder.attempt_ended(n, ending)
                n += 1
                continue
            await self._end(ending, attempt=n)
            return

    async def _wait_turn(self, carrier: Carrier, *, retry: bool) -> bool:
        """Wait in the queue for a channel on `carrier`; False if the call ended waiting."""
        timeout = self._current.settings.calls.queue_timeout
        left = self._created_at + timeout - self._clock()
        try:
            if left <= 0:
                raise TimeoutError
            async with asyncio.timeout(left):
                await self._dispatcher.acquire(self.id, carrier.id, retry=retry)
        except TimeoutError:
            await self._end(Ending(State.FAILED, error=QUEUE_TIMEOUT))
            return False
        return True

    async def _staged_media(self) -> Prepared | None:
        """The call's media, prepared and staged at its first turn (a queued call costs
        nothing but its place); None if it cannot be, and the call has ended failed."""
        if self._staged is None:
            try:
                prepared = await self._media.prepare(
                    to_prepare(self._request.playlist, self._request.delivery))
            except MediaError as exc:
                where = "" if exc.entry is None else f"playlist[{exc.entry}]: " \
                    if exc.entry < len(self._request.playlist) else "a delivery message: "
                log.warning("media not ready, not dialling: %s%s", where, exc,
                            extra=self._recorder.log_extra)
                await self._end(Ending(State.FAILED, error=CallError(
                    "media-unavailable", f"{where}{exc}")))
                return None
            self._staged = self._media.stage(prepared)
        return self._staged

    async def _try(self, n: int, carrier: Carrier, staged: Prepared) -> Ending | None:
        settings = self._current.settings
        self._attempt = self._latest = Attempt(
            call_id=self.id, n=n, carrier=carrier, request=self._request, media=staged,
            ari=self._ari, router=self._router, recorder=self._recorder,
            settings=settings.calls, app=settings.stasis_app, clock=self._clock)
        try:
            return await self._attempt.run()
        finally:
            self._attempt = None

    def _refused(self, carrier: Carrier, ending: Ending) -> bool:
        """Whether the carrier, not the callee, failed the attempt (so the next carrier may
        be tried; never for a canceled one); a carrier's failures and successes count
        towards holding it back."""
        if ending.hangup is None:
            return False
        refused = not ending.answered and carrier_failed(ending.hangup)
        self._failover.record(carrier.id, failed=refused)
        return refused and ending.state is not State.CANCELED

    async def _end(self, ending: Ending, *, attempt: int | None = None) -> None:
        try:
            await self._recorder.ended(ending, attempt=attempt)
        finally:
            self.ended.set()
