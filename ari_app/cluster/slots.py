"""Who may dial now when several instances share the carriers: the local queue of
dispatch.py (this instance's calls, oldest first), with each grant of a channel taken
from the database (store/slots.py), so that `max_channels`, `max_cps` and the global
cap hold across all instances together.

Grants are asked for by one task at a time: whenever a call starts waiting, a channel
is freed here or by another instance (LISTEN/NOTIFY, listener.py), pacing allows the
next call, or at the latest every RECHECK seconds (a notice lost to a reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from ari_app.dispatch import Dispatcher, Limits
from ari_app.errors import StoreUnavailable
from ari_app.store import SlotStore

log = logging.getLogger(__name__)
RECHECK = 2.0


class SharedDispatcher(Dispatcher):
    def __init__(self, *, slots: SlotStore, limits: Limits, cap: Callable[[], int],
                 is_open: Callable[[], bool]) -> None:
        """Pacing is the database's (store/slots.py): no clock of this process's."""
        super().__init__(limits=limits, cap=cap, is_open=is_open)
        self._slots = slots
        self._wanted = asyncio.Event()
        self._granting: asyncio.Task[None] | None = None
        self._releases: set[asyncio.Task[None]] = set()

    def pump(self) -> None:
        """Ask the database for channels for the waiting calls (soon, on the granting task)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wanted.set()
        if self._granting is None or self._granting.done():
            self._granting = asyncio.get_running_loop().create_task(self._grant_forever())

    def release(self, carrier_id: str, call_id: str) -> None:
        self._live[carrier_id] -= 1
        if self._live[carrier_id] <= 0:
            del self._live[carrier_id]
        task = asyncio.get_running_loop().create_task(self._give_back(call_id))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _give_back(self, call_id: str) -> None:
        try:
            await self._slots.release(call_id)  # tells every instance (NOTIFY)
        except StoreUnavailable:
            # The call's final state frees it too; until then it counts as live.
            log.warning("could not free a channel in the database",
                        extra={"request_id": call_id})
        self.pump()

    async def _grant_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RECHECK):
                    await self._wanted.wait()
            self._wanted.clear()
            try:
                await self._grant()
            except StoreUnavailable as exc:
                log.warning("no channels granted: %s", exc)
                await asyncio.sleep(1.0)
                self._wanted.set()

    async def _grant(self) -> None:
        if not self._is_open():
            return
        waiting = [(place.call_id, place.carrier_id) for place in self._queue.values()
                   if place.carrier_id is not None and place.granted is not None
                   and not place.granted.done()]
        if not waiting:
            return
        granted, wake = await self._slots.take(waiting, limits=self._limits, cap=self._cap())
        for call_id in granted:
            place = self._queue.get(call_id)
            if place is None or place.granted is None or place.granted.done():
                await self._slots.release(call_id)  # it stopped waiting meanwhile
                continue
            assert place.carrier_id is not None
            self._live[place.carrier_id] += 1
            del self._queue[call_id]
            place.granted.set_result(None)
        if wake is not None:
            self._timer = asyncio.get_running_loop().call_later(wake, self.pump)

    async def close(self) -> None:
        if self._granting is not None:
            self._granting.cancel()
            await asyncio.gather(self._granting, return_exceptions=True)
        await asyncio.gather(*self._releases, return_exceptions=True)
