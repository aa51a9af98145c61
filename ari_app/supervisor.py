"""Background tasks that must run as long as the service (the ARI events connection, the
callback sender): run under a TaskGroup, so one that fails, or ends when it never
should, is logged at critical level and stops the whole service with ServiceFailed,
instead of vanishing while the service looks alive.

    async with Supervisor() as tasks:
        tasks.start("ari-events", ari.run())
        ...                              # start-up, then wait for the stop signal
    # leaving the block stops the tasks; a failure of one is raised here
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

from ari_app.errors import ServiceFailed

log = logging.getLogger(__name__)


async def _watched(name: str, work: Coroutine[Any, Any, None]) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.critical("background task %s failed, stopping the service: %s", name,
                     type(exc).__name__, exc_info=exc)
        raise ServiceFailed(f"background task {name} failed ({type(exc).__name__})") from exc
    log.critical("background task %s ended, stopping the service", name)
    raise ServiceFailed(f"background task {name} ended")


class Supervisor:
    def __init__(self) -> None:
        self._group = asyncio.TaskGroup()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Supervisor:
        await self._group.__aenter__()
        return self

    def start(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(self._group.create_task(_watched(name, work), name=name))

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        for task in self._tasks:
            task.cancel()
        try:
            await self._group.__aexit__(kind, exc, tb)
        except BaseExceptionGroup as group:
            # One error, not a group: a task's failure first, else what the block raised.
            failed = group.subgroup(ServiceFailed)
            first = (failed or group).exceptions[0]
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            raise first from first.__cause__  # its own cause, not the group, as the reason
