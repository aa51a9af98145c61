"""Who may dial now: each carrier's channel and calls-per-second limits, a global cap, oldest first.

Every accepted call takes a place in the queue when it is accepted (or resumed
after a restart, in the order it was accepted). When its media is ready it asks
for a carrier; it is let through once that carrier has a free channel, its
calls-per-second spacing allows, the global cap has room and ARI is connected.
Older calls go first; a call for a carrier at its limit does not hold up calls
for other carriers. The queue is durable in the store (state `queued`, with the
request); this is the order of this process.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Place:
    seq: int
    call_id: str
    carrier_id: str | None = None
    granted: asyncio.Future[None] | None = None


Limits = Callable[[str], tuple[int, float]]
"""carrier id -> (maximum live channels, maximum calls per second)."""


class Dispatcher:
    def __init__(self, *, limits: Limits, cap: Callable[[], int], is_open: Callable[[], bool],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._cap = cap
        self._is_open = is_open
        self._clock = clock
        self._seq = itertools.count()
        self._queue: dict[str, _Place] = {}
        self._live: Counter[str] = Counter()
        self._next_at: dict[str, float] = {}
        self._timer: asyncio.TimerHandle | None = None

    @property
    def depth(self) -> int:
        return len(self._queue)

    @property
    def live(self) -> int:
        return sum(self._live.values())

    def live_on(self, carrier_id: str) -> int:
        return self._live[carrier_id]

    def enqueue(self, call_id: str, *, first: bool = False) -> None:
        """Take a place at the back, or at the front for a call re-placed after a failed attempt."""
        if call_id in self._queue:
            return
        place = _Place(next(self._seq), call_id)
        if first:
            self._queue = {call_id: place, **self._queue}
        else:
            self._queue[call_id] = place

    def position(self, call_id: str) -> int | None:
        """1 for the oldest queued call; None if the call is not queued here."""
        for index, place in enumerate(self._queue.values(), start=1):
            if place.call_id == call_id:
                return index
        return None

    def forget(self, call_id: str) -> None:
        """The call ended without (another) dial: give up its place."""
        self._queue.pop(call_id, None)
        self.pump()

    async def acquire(self, call_id: str, carrier_id: str, *, retry: bool = False) -> None:
        """Wait for a channel on `carrier_id`; the caller must `release` it after the attempt."""
        self.enqueue(call_id, first=retry)
        place = self._queue[call_id]
        place.carrier_id = carrier_id
        place.granted = asyncio.get_running_loop().create_future()
        granted = place.granted
        self.pump()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release(carrier_id, call_id)  # let through and canceled in one moment
            place.granted = None
            self.pump()
            raise

    def release(self, carrier_id: str, call_id: str) -> None:
        """The call's attempt on `carrier_id` ended: its channel is free."""
        self._live[carrier_id] -= 1
        if self._live[carrier_id] <= 0:
            del self._live[carrier_id]
        self.pump()

    def pump(self) -> None:
        """Let through every waiting call the limits allow now; wake again when spacing ends."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._is_open():
            return
        now = self._clock()
        wake: float | None = None
        blocked: set[str] = set()
        total = self.live
        cap = self._cap()
        for place in list(self._queue.values()):
            if total >= cap:
                break
            carrier_id = place.carrier_id
            if carrier_id is None or place.granted is None or place.granted.done() \
                    or carrier_id in blocked:
                continue
            channels, cps = self._limits(carrier_id)
            if self._live[carrier_id] >= channels:
                blocked.add(carrier_id)
                continue
            at = self._next_at.get(carrier_id, 0.0)
            if at > now:
                blocked.add(carrier_id)
                wake = at if wake is None else min(wake, at)
                continue
            self._next_at[carrier_id] = now + 1.0 / cps
            self._live[carrier_id] += 1
            total += 1
            del self._queue[place.call_id]
            place.granted.set_result(None)
        if wake is not None:
            self._timer = asyncio.get_running_loop().call_later(wake - now, self.pump)
