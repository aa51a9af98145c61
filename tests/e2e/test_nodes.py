"""Two PBX Asterisk nodes (`asterisk.nodes`) behind one service: calls spread over both;
a node stopped mid-call ends its calls with a stated cause and none is dialled again;
later calls complete on the other node."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from sandbox.api import ApiProcess
from sandbox.cluster import NODES, second_node
from sandbox.lab import CONFIG, VAR, Instance, Lab
from tests.e2e.observe import SHORT, active_calls, calls_processed, invites, tts_call

LONG = [{"type": "tts", "play": "12345678901234567890", "options": {"say-as": "digits"}}]
NODE_ENDED = ("asterisk-ended-channel", "channel-lost")


@pytest.fixture(scope="module")
def pbx2(lab: Lab) -> Iterator[Instance]:
    node = second_node(lab)
    yield node
    node.stop()


@pytest.fixture(scope="module")
def on_two_nodes(pbx2: Instance) -> Iterator[ApiProcess]:
    data = yaml.safe_load(CONFIG.read_text())
    data["ari"]["app"] = "ari-app-nodes"  # the session's service keeps "ari-app"
    data["http"]["listen"] = "127.0.0.1:8081"
    data["storage"]["path"] = "nodes.sqlite3"
    data["media"] |= {"dir": "media-nodes", "asterisk_dir": "/srv/ari-app/media-nodes"}
    data["tts"]["asterisk_sounds"] = "asterisk-sounds"
    data.pop("carriers_file")
    data["asterisk"] = {"nodes": NODES, "tls": data["asterisk"]["tls"]}
    path = VAR / "nodes.yaml"
    path.write_text(yaml.safe_dump(data))  # paths are relative to var/
    service = ApiProcess(log_path=VAR / "log" / "api-nodes.log", config=path,
                         url="http://127.0.0.1:8081", key_path=VAR / "api-key-nodes")
    service.start_fresh()
    yield service
    service.stop()


def test_calls_spread_over_both_nodes_and_a_stopped_node_loses_none_twice(
        on_two_nodes: ApiProcess, pbx2: Instance, lab: Lab) -> None:
    service = on_two_nodes
    pbx = lab.instance("pbx")
    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(lambda n: service.place(tts_call(f"+1212555{4000 + n}", LONG)),
                            range(4)))
    deadline = time.monotonic() + 20
    while (active_calls(pbx), active_calls(pbx2)) != (2, 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (active_calls(pbx), active_calls(pbx2)) == (2, 2)  # the fewest live calls first
    pbx2.stop()  # the node dies with two calls on it
    statuses = [service.wait_final(i, timeout=60) for i in ids]
    ended = sorted((s["state"], (s["error"] or {}).get("error_id")) for s in statuses)
    assert ended[:2] == [("completed", None)] * 2, ended
    assert [state for state, _ in ended[2:]] == ["failed"] * 2, ended
    assert {error for _, error in ended[2:]} <= set(NODE_ENDED), ended
    assert set(invites(ids).values()) == {1}  # the lost ones were not dialled again
    before = calls_processed(lab, "pbx")
    later = [service.place(tts_call(f"+1212555{4010 + n}", SHORT)) for n in range(2)]
    assert [service.wait_final(i)["state"] for i in later] == ["completed"] * 2
    assert calls_processed(lab, "pbx") - before == 2
