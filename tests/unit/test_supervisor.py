"""Background tasks: one that dies stops the service loudly; a stop ends them all quietly."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ari_app.errors import ServiceFailed
from ari_app.supervisor import Supervisor


async def forever(ran: list[str], name: str) -> None:
    ran.append(name)
    try:
        await asyncio.Event().wait()
    finally:
        ran.append(f"{name} stopped")


async def test_a_task_that_fails_stops_the_others_and_the_service(
        caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    async def broken() -> None:
        await asyncio.sleep(0.01)
        raise ConnectionResetError("gone")

    with pytest.raises(ServiceFailed, match="callbacks failed") as caught:
        async with Supervisor() as tasks:
            tasks.start("ari-events", forever(ran, "ari-events"))
            tasks.start("callbacks", broken())
            await asyncio.Event().wait()  # the service's wait for a stop signal
    assert isinstance(caught.value.__cause__, ConnectionResetError)
    assert ran == ["ari-events", "ari-events stopped"]
    (record,) = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "callbacks failed" in record.getMessage()


async def test_a_task_that_ends_by_itself_is_a_failure_too() -> None:
    async def done() -> None:
        return None

    with pytest.raises(ServiceFailed, match="ari-events ended"):
        async with Supervisor() as tasks:
            tasks.start("ari-events", done())
            await asyncio.Event().wait()


async def test_leaving_the_block_stops_every_task() -> None:
    ran: list[str] = []
    async with Supervisor() as tasks:
        tasks.start("a", forever(ran, "a"))
        tasks.start("b", forever(ran, "b"))
        await asyncio.sleep(0.01)
    assert sorted(ran) == ["a", "a stopped", "b", "b stopped"]


async def test_an_error_of_the_block_itself_comes_out_as_it_is() -> None:
    ran: list[str] = []
    with pytest.raises(OSError, match="address in use"):
        async with Supervisor() as tasks:
            tasks.start("a", forever(ran, "a"))
            await asyncio.sleep(0)
            raise OSError("address in use")
    assert ran == ["a", "a stopped"]
