"""Two instances of the service on one PostgreSQL database (fake ARI each): a carrier's
channel limit holds across both, a freed channel wakes the other instance at once
(LISTEN/NOTIFY), a dead instance's calls are taken over (queued ones placed, live ones
hung up and ended), a stopped one's queued calls are placed by the other, and velocity
limits and idempotency keys hold across both."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ari_app.cluster.listener import Listener
from ari_app.config import parse
from ari_app.settings import Settings
from tests.service.rig import MAIN, Rig
from tests.support.config import sandbox_config
from tests.support.stores import RigDatabase
from tests.support.waiting import until

pytestmark = pytest.mark.parametrize("engine", ["postgres"])


def instance_settings(tmp: Path, url: str, name: str, *, channels: int = 2,
                      per_number: int = 1000) -> Settings:
    data = sandbox_config(tmp)
    data["storage"] = {"url": url, "key_file": str(tmp / "ari-app.key")}
    data["cluster"] = {"instance": name, "heartbeat": 0.2, "dead_after": 1.0}
    data["calls"]["hangup_delay_ms"] = 0
    data["carriers"][MAIN] |= {"max_channels": channels, "max_cps": 1000}
    data["limits"]["per_number"] = [{"calls": per_number, "seconds": 600}]
    return parse(data, base=tmp)


@dataclass
class Instance:
    rig: Rig
    client: TestClient
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    listener: Listener | None = None

    async def post(self, to: str = "12125551212", **headers: str) -> dict[str, Any]:
        response = await self.client.post("/voice/call/play", headers=headers, json={
            "to": to, "from": "me", "carrier_id": MAIN,
            "playlist": [{"play": "Your code is 123456", "type": "tts",
                          "options": {"language": "en-US", "say-as": "digits"}}]})
        return {**await response.json(), "http": response.status}

    async def die(self) -> None:
        """As kill -9: no more heartbeats, nothing more heard or dialled."""
        for task in self.tasks:
            task.cancel()
        self.rig.ari.set_connected(False)
        if self.listener is not None:
            await self.listener.close()
            self.listener = None


@pytest.fixture
async def make_instance(make_rig: Callable[..., Rig], rig_database: RigDatabase,
                        tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    made: list[Instance] = []

    async def make(name: str, **settings: Any) -> Instance:
        assert rig_database.url is not None
        rig = make_rig(instance_settings(tmp_path, rig_database.url, name, **settings))
        rig.ari.hold_after_answer = True  # calls stay live until `finish_first`
        membership = rig.service.membership
        assert membership is not None
        await membership.join()
        instance = Instance(rig, await rig.client())
        instance.tasks.append(asyncio.create_task(membership.run()))
        instance.listener = Listener(rig_database.url, rig.calls.channels_freed,
                                     rig.calls.cancel, rig.calls.listening)
        instance.listener.start()
        made.append(instance)
        return instance

    yield make
    for instance in made:
        await instance.die()


async def finish(instance: Instance, channel_id: str) -> None:
    await instance.rig.ari.finish_first(channel_id)


def live(*instances: Instance) -> int:
    return sum(len(i.rig.ari.held) for i in instances)


async def test_a_carrier_limit_holds_across_instances_and_a_freed_channel_wakes_the_other(
        make_instance: Callable[..., Any]) -> None:
    a, b = await make_instance("a"), await make_instance("b")
    ids = [(await a.post(f"1212555{7100 + n}"))["request_id"] for n in range(2)]
    await until(lambda: live(a) == 2)
    waiting = (await b.post("12125557110"))["request_id"]
    await asyncio.sleep(0.5)
    assert live(a, b) == 2 and b.rig.ari.originated == []  # the carrier allows 2
    freed = time.monotonic()
    await finish(a, ids[0])
    await until(lambda: live(b) == 1, timeout=1.5)
    # Woken by the NOTIFY of the freed channel, not by its two-second recheck.
    assert time.monotonic() - freed < 1.5
    assert b.rig.ari.originated[0]["channel_id"] == waiting and live(a, b) == 2
    await finish(a, ids[1])
    await finish(b, waiting)
    for call_id in [*ids, waiting]:
        assert (await a.rig.final(call_id)).state == "completed"


async def test_a_dead_instance_calls_are_taken_over_and_none_is_dialled_twice(
        make_instance: Callable[..., Any]) -> None:
    a, b = await make_instance("a"), await make_instance("b")
    ids = [(await a.post(f"1212555{7200 + n}"))["request_id"] for n in range(4)]
    await until(lambda: live(a) == 2)  # two live, two queued behind them
    live_ids = [o["channel_id"] for o in a.rig.ari.originated]
    died = time.monotonic()
    await a.die()
    membership = b.rig.service.membership
    await until(lambda: membership.taken_over == 4, timeout=5)
    assert time.monotonic() - died < 3  # dead after 1 s silent, seen at the next beat
    queued_ids = [i for i in ids if i not in live_ids]
    await until(lambda: live(b) == 2)
    assert sorted(o["channel_id"] for o in b.rig.ari.originated) == sorted(queued_ids)
    assert set(live_ids) <= set(b.rig.ari.hung_up)  # the dead one's channels
    for call_id in live_ids:
        record = await b.rig.final(call_id)
        assert (record.state, record.error_id) == ("failed", "instance-lost")
    for call_id in queued_ids:
        await finish(b, call_id)
        assert (await b.rig.final(call_id)).state == "completed"


async def test_a_stopped_instance_queued_calls_are_placed_by_another(
        make_instance: Callable[..., Any]) -> None:
    a, b = await make_instance("a", channels=1), await make_instance("b", channels=1)
    first, queued = [(await a.post(f"1212555{7300 + n}"))["request_id"] for n in range(2)]
    await until(lambda: live(a) == 1)
    a.rig.calls.draining = True  # SIGTERM: a dials no more and tells the others
    await a.rig.service.membership.leave()
    membership = b.rig.service.membership
    await until(lambda: membership.taken_over == 1, timeout=3)
    await finish(a, first)  # a's live call plays to its end on a
    assert (await a.rig.final(first)).state == "completed"
    await until(lambda: live(b) == 1)
    await finish(b, queued)
    assert (await b.rig.final(queued)).state == "completed"
    assert [o["channel_id"] for o in a.rig.ari.originated] == [first]


async def test_velocity_limits_and_idempotency_keys_hold_across_instances(
        make_instance: Callable[..., Any]) -> None:
    a = await make_instance("a", channels=10, per_number=3)
    b = await make_instance("b", channels=10, per_number=3)
    assert (await b.post("12125557401"))["http"] == 202  # b has counted what it knew then
    assert [(await a.post())["http"] for _ in range(3)] == [202] * 3
    refused = await b.post()
    assert refused["http"] == 429 and refused["field"] == "to"
    key = {"Idempotency-Key": "order-1"}
    answers = await asyncio.gather(*(instance.post("12125557400", **key)
                                     for instance in (a, b, a, b)))  # at the same moment
    assert [answer["http"] for answer in answers] == [202] * 4
    assert len({answer["request_id"] for answer in answers}) == 1
    await until(lambda: live(a, b) == 5)
    await asyncio.sleep(0.2)
    assert len(a.rig.ari.originated) + len(b.rig.ari.originated) == 5


async def test_a_call_is_canceled_through_either_instance(
        make_instance: Callable[..., Any]) -> None:
    a, b = await make_instance("a", channels=1), await make_instance("b", channels=1)
    talking, waiting = [(await a.post(f"1212555{7500 + n}"))["request_id"] for n in range(2)]
    await until(lambda: live(a) == 1)
    for call_id in (waiting, talking):  # both a's, canceled through b
        response = await b.client.delete(f"/voice/call/{call_id}")
        assert response.status == 202, await response.text()
    for call_id in (waiting, talking):
        assert (await a.rig.final(call_id)).state == "canceled"
    assert [o["channel_id"] for o in a.rig.ari.originated] == [talking]
    assert talking in a.rig.ari.hung_up


async def test_a_call_canceled_while_its_instance_is_dead_is_not_placed_by_another(
        make_instance: Callable[..., Any]) -> None:
    a, b = await make_instance("a", channels=1), await make_instance("b", channels=1)
    talking, waiting = [(await a.post(f"1212555{7600 + n}"))["request_id"] for n in range(2)]
    await until(lambda: live(a) == 1)
    await a.die()
    assert (await b.client.delete(f"/voice/call/{waiting}")).status == 202
    membership = b.rig.service.membership
    await until(lambda: membership.taken_over == 2, timeout=5)
    assert (await b.rig.final(waiting)).state == "canceled"
    assert (await b.rig.final(talking)).error_id == "instance-lost"
    assert b.rig.ari.originated == []  # the canceled call was not placed


async def test_a_cancel_told_while_the_owner_was_not_listening_is_caught_up(
        make_instance: Callable[..., Any], rig_database: RigDatabase) -> None:
    a, b = await make_instance("a", channels=1), await make_instance("b", channels=1)
    talking, waiting = [(await a.post(f"1212555{7700 + n}"))["request_id"] for n in range(2)]
    await until(lambda: live(a) == 1)
    assert a.listener is not None
    await a.listener.close()  # a's LISTEN connection is down: the NOTIFY is missed
    assert (await b.client.delete(f"/voice/call/{waiting}")).status == 202
    await asyncio.sleep(0.3)
    assert (await a.rig.store.calls.get(waiting)).state == "queued"
    assert rig_database.url is not None
    a.listener = Listener(rig_database.url, a.rig.calls.channels_freed, a.rig.calls.cancel,
                          a.rig.calls.listening)
    a.listener.start()  # back: it reads the cancels asked meanwhile
    assert (await a.rig.final(waiting)).state == "canceled"
    await finish(a, talking)
    assert [o["channel_id"] for o in a.rig.ari.originated] == [talking]
