"""This instance among the others on the database: it joins (refused if an instance of
its name is alive), beats its heartbeat, and takes over the calls of an instance that
is gone.

An instance is gone when it stopped (a drain leaves its queued calls behind: a rolling
restart loses none) or when its heartbeat is `dead_after` seconds old (kill -9, a
crashed host, cut off from the database). Every survivor looks every heartbeat; each
call is taken by exactly one of them, in one UPDATE that also checks the instance is
still gone (store/calls.py `take_over`). The taker places the queued ones and hangs up
and ends the live ones (`instance-lost`): a call that may have reached the callee is
never dialled again. Takeover starts within `dead_after` plus one heartbeat of the
death.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ari_app.calls import INSTANCE_LOST, CallService
from ari_app.errors import StoreUnavailable
from ari_app.settings import ClusterSettings
from ari_app.store import CallStore
from ari_app.store.instances import SqlInstances

log = logging.getLogger(__name__)


class Membership:
    def __init__(self, *, settings: ClusterSettings, app: str, instances: SqlInstances,
                 store: CallStore, calls: CallService,
                 clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._app = app
        self._instances = instances
        self._store = store
        self._calls = calls
        self._clock = clock
        self.taken_over = 0
        """Calls taken over from gone instances (for the tests and the log)."""
        self._beating_since: float | None = None
        """When this instance's heartbeats last began to get through (its own clock)."""

    @property
    def name(self) -> str:
        return self._settings.instance

    async def join(self) -> None:
        await self._instances.join(self.name, self._app, dead_after=self._settings.dead_after)
        self._beating_since = self._clock()
        log.info("instance %s joined the cluster", self.name)

    async def run(self) -> None:
        """Beat, and take over the calls of gone instances, every heartbeat. Only after
        this instance has itself beaten without a break for `dead_after`: after an outage
        of the database, every instance's last heartbeat is old, and none is taken for
        dead before it has had its chance to beat again."""
        while True:
            try:
                await self._instances.beat(self.name)
                if self._beating_since is None:
                    self._beating_since = self._clock()
                if self._clock() - self._beating_since >= self._settings.dead_after:
                    await self.take_over()
            except StoreUnavailable as exc:
                self._beating_since = None
                log.warning("no heartbeat: %s", exc)
            except Exception as exc:  # the next beat tries again; the service goes on
                log.error("heartbeat or takeover failed (%s); trying again",
                          type(exc).__name__, exc_info=exc)
            await asyncio.sleep(self._settings.heartbeat)

    async def take_over(self) -> None:
        dead_after = self._settings.dead_after
        for gone in await self._instances.gone_with_calls(self.name, dead_after=dead_after):
            calls = await self._store.take_over(gone, dead_after=dead_after)
            if not calls:
                continue  # another survivor was first
            self.taken_over += len(calls)
            log.warning("took over %d call(s) of instance %s, which is gone", len(calls), gone)
            await self._calls.adopt(calls, INSTANCE_LOST)

    async def leave(self) -> None:
        """Stopped: what is still queued here is for the others to place."""
        try:
            await self._instances.leave(self.name)
        except StoreUnavailable as exc:
            log.warning("could not tell the cluster this instance stopped: %s", exc)
