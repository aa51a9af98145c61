"""The queue's order and limits, on the real event loop and clock."""

from __future__ import annotations

import asyncio
import itertools
import time

from ari_app.dispatch import Dispatcher


def dispatcher(channels: int = 10, cps: float = 1000.0, cap: int = 100,
               up: list[bool] | None = None) -> Dispatcher:
    state = up if up is not None else [True]
    return Dispatcher(limits=lambda carrier: (channels, cps), cap=lambda: cap,
                      is_open=lambda: state[0])


async def test_channels_limit_holds_and_oldest_goes_first() -> None:
    d = dispatcher(channels=2)
    for n in range(5):
        d.enqueue(f"c{n}")  # accepted in this order
    await d.acquire("c0", "t")
    await d.acquire("c1", "t")
    order: list[str] = []

    async def call(name: str) -> None:
        await d.acquire(name, "t")
        order.append(name)

    # Their media gets ready in the reverse order; they still go oldest first.
    tasks = [asyncio.create_task(call(f"c{n}")) for n in (4, 3, 2)]
    await asyncio.sleep(0.01)
    assert order == [] and d.live_on("t") == 2 and d.depth == 3
    assert [d.position(f"c{n}") for n in (2, 3, 4)] == [1, 2, 3]
    for name in ("c0", "c1", "c2"):
        d.release("t", name)
        await asyncio.sleep(0.01)
        assert d.live_on("t") == 2
    assert order == ["c2", "c3", "c4"]
    await asyncio.gather(*tasks)


async def test_a_ready_call_is_not_held_up_by_one_still_preparing() -> None:
    d = dispatcher(channels=1)
    d.enqueue("preparing")
    await asyncio.wait_for(d.acquire("ready", "t"), 1)
    assert d.position("preparing") == 1


async def test_calls_per_second_are_spaced() -> None:
    d = dispatcher(cps=20)  # one call per 50 ms
    times: list[float] = []

    async def call(name: str) -> None:
        await d.acquire(name, "t")
        times.append(time.monotonic())

    await asyncio.gather(*(call(f"c{n}") for n in range(5)))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.045, gaps
    assert times[-1] - times[0] < 0.5


async def test_a_full_carrier_does_not_hold_up_another() -> None:
    d = Dispatcher(limits=lambda c: (1, 1000.0), cap=lambda: 10, is_open=lambda: True)
    await d.acquire("a1", "A")
    waiting = asyncio.create_task(d.acquire("a2", "A"))
    await asyncio.wait_for(d.acquire("b1", "B"), 1)  # passes the waiting call for A
    assert not waiting.done() and d.position("a2") == 1
    d.release("A", "a1")
    await asyncio.wait_for(waiting, 1)


async def test_global_cap_and_closed_gate() -> None:
    up = [False]
    d = dispatcher(cap=1, up=up)
    first = asyncio.create_task(d.acquire("c0", "t"))
    await asyncio.sleep(0.01)
    assert not first.done()  # ARI is down: nobody dials
    up[0] = True
    d.pump()
    await asyncio.wait_for(first, 1)
    second = asyncio.create_task(d.acquire("c1", "t"))
    await asyncio.sleep(0.01)
    assert not second.done()  # the global cap
    d.release("t", "c0")
    await asyncio.wait_for(second, 1)


async def test_canceled_waiter_leaves_the_queue() -> None:
    d = dispatcher(channels=1)
    await d.acquire("c0", "t")
    waiting = asyncio.create_task(d.acquire("c1", "t"))
    await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    d.forget("c1")
    assert d.depth == 0 and d.position("c1") is None
    d.release("t", "c0")
    assert d.live == 0


async def test_a_retried_call_goes_to_the_front() -> None:
    d = dispatcher()
    d.enqueue("old")
    d.enqueue("new")
    d.enqueue("again", first=True)
    assert [d.position(n) for n in ("again", "old", "new")] == [1, 2, 3]
