"""Two Asterisk nodes (`asterisk.nodes`, a fake ARI each): new calls go to the connected
node with the fewest live calls, a node that is down gets none, and the calls of a node
gone for good end `channel-lost` without being dialled elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from ari_app.ari import nodes
from ari_app.config import parse
from ari_app.settings import Settings
from tests.service.rig import Rig
from tests.support.config import sandbox_config
from tests.support.waiting import until


def two_nodes(tmp: Path) -> Settings:
    data = sandbox_config(tmp)
    data["asterisk"]["nodes"] = [
        {"name": "pbx1", "ari": {"url": "http://127.0.0.1:8088"}, "ami": {"port": 5038}},
        {"name": "pbx2", "ari": {"url": "http://127.0.0.1:8089"}, "ami": {"port": 5039}}]
    data["calls"]["hangup_delay_ms"] = 0
    return parse(data, base=tmp)


@pytest.fixture
def rig(make_rig: Callable[..., Rig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Rig:
    monkeypatch.setattr(nodes, "WATCH_EVERY", 0.05)
    monkeypatch.setattr(nodes, "LOST_AFTER", 0.3)  # a node silent this long is gone
    made = make_rig(two_nodes(tmp_path))
    for node in made.nodes:
        node.hold_after_answer = True  # calls stay live until `finish_first`
    return made


def test_each_node_takes_its_ari_and_ami_over_the_shared_sections(tmp_path: Path) -> None:
    settings = two_nodes(tmp_path)
    first, second = settings.asterisk_nodes
    assert (first.name, first.ari.url, first.ami.port) == ("pbx1", "http://127.0.0.1:8088", 5038)
    assert (second.name, second.ari.url, second.ami.port) == ("pbx2", "http://127.0.0.1:8089",
                                                               5039)
    assert second.ari.password == settings.ari.password  # shared, written once


async def test_new_calls_go_to_the_node_with_the_fewest_live_calls(rig: Rig) -> None:
    pbx1, pbx2 = rig.nodes
    for n in range(4):
        await rig.calls.submit(rig.request(to=f"1212555{3000 + n}"))
    await until(lambda: len(pbx1.held) + len(pbx2.held) == 4)
    assert (len(pbx1.held), len(pbx2.held)) == (2, 2)


async def test_a_node_that_is_down_gets_no_new_call(rig: Rig) -> None:
    pbx1, pbx2 = rig.nodes
    pbx1.set_connected(False)
    ids = [await rig.calls.submit(rig.request(to=f"1212555{3100 + n}")) for n in range(3)]
    await until(lambda: len(pbx2.held) == 3)
    assert pbx1.originated == []
    for call_id in ids:
        await pbx2.finish_first(call_id)
        assert (await rig.final(call_id)).state == "completed"


async def test_the_calls_of_a_node_gone_for_good_end_and_are_not_dialled_again(
        rig: Rig) -> None:
    watching = asyncio.create_task(rig.service.ari.run())
    pbx1, pbx2 = rig.nodes
    first = await rig.calls.submit(rig.request(to="12125553200"))
    await until(lambda: len(pbx1.held) == 1)
    pbx1.set_connected(False)  # the node dies with the call live on it
    record = await rig.final(first)
    assert (record.state, record.error_id) == ("failed", "channel-lost")
    assert pbx2.originated == []  # it may have reached the callee: not dialled again
    later = await rig.calls.submit(rig.request(to="12125553201"))
    await until(lambda: len(pbx2.held) == 1)
    await pbx2.finish_first(later)
    assert (await rig.final(later)).state == "completed"
    watching.cancel()


async def test_health_and_metrics_tell_each_node(rig: Rig) -> None:
    pbx1, _ = rig.nodes
    pbx1.set_connected(False)
    client = await rig.client()
    health = await (await client.get("/health")).json()
    assert health["ari"] == {"connected": True, "nodes": {"pbx1": False, "pbx2": True}}
    metrics = await (await client.get("/metrics")).text()
    assert 'ari_app_node_connected{node="pbx1"} 0.0' in metrics
    assert 'ari_app_node_connected{node="pbx2"} 1.0' in metrics
