"""The cluster on one machine (sandbox/cluster.py): PostgreSQL, the PBX, the simulated
carrier and two service instances on one database. Calls posted to both hold one
carrier's limits together, as the carrier itself counts them; an instance killed with
SIGKILL loses no call and none is dialled twice; velocity limits and idempotency keys
hold across both."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from sandbox.api import ApiProcess
from sandbox.cluster import Cluster, cluster_running
from sandbox.lab import Lab
from tests.e2e.observe import (
    SHORT,
    carrier_cap,
    invites,
    max_overlap,
    refused_over_cap,
    timestamp,
    tts_call,
)

LONG = [{"type": "tts", "play": "123456789012", "options": {"say-as": "digits"}}]
FINAL = ("completed", "failed", "busy", "no-answer", "canceled")


def spans(statuses: list[dict[str, Any]]) -> list[tuple[float, float]]:
    return [(timestamp(a["started_at"]), timestamp(a["ended_at"]))
            for status in statuses for a in status["attempts"]]


@pytest.fixture
def make_cluster(lab: Lab) -> Iterator[Callable[..., Cluster]]:
    made: list[Any] = []

    def make(**config: Any) -> Cluster:
        running = cluster_running(lab, **config)
        made.append(running)
        return running.__enter__()

    yield make
    for running in made:
        running.__exit__(None, None, None)
    carrier_cap(lab, 30)


def test_sixty_calls_on_two_instances_hold_one_carrier_limit(
        make_cluster: Callable[..., Cluster], lab: Lab) -> None:
    cluster = make_cluster(carrier={"max_channels": 5, "max_cps": 2})
    a, b = cluster.instances["a"], cluster.instances["b"]
    carrier_cap(lab, 5)  # the carrier refuses the sixth live call on our trunk
    with ThreadPoolExecutor(max_workers=10) as pool:
        ids = list(pool.map(lambda n: (a, b)[n % 2].place(tts_call(f"+1212555{2000 + n}", SHORT)),
                            range(60)))
    statuses = [(a, b)[n % 2].wait_final(request_id, timeout=180)
                for n, request_id in enumerate(ids)]
    assert [s["state"] for s in statuses] == ["completed"] * 60, \
        [s for s in statuses if s["state"] != "completed"][:3]
    assert refused_over_cap(lab) == 0
    assert max_overlap(spans(statuses)) <= 5
    assert set(invites(ids).values()) == {1}
    starts = sorted(timestamp(s["attempts"][0]["started_at"]) for s in statuses)
    # Two a second across both instances: 60 calls take at least 29.5 s to start.
    assert starts[-1] - starts[0] >= 29


def test_an_instance_killed_with_calls_live_and_queued_loses_none(
        make_cluster: Callable[..., Cluster], lab: Lab) -> None:
    cluster = make_cluster(carrier={"max_channels": 10, "max_cps": 20})
    a, b = cluster.instances["a"], cluster.instances["b"]
    carrier_cap(lab, 10)
    ids = [a.place(tts_call(f"+1212555{2100 + n}", LONG)) for n in range(30)]

    def live_on_a() -> list[str]:
        return [i for i in ids if b.status(i)["state"] not in ("queued", *FINAL)]

    deadline = time.monotonic() + 30
    while len(live_on_a()) < 10 and time.monotonic() < deadline:
        time.sleep(0.2)
    live = live_on_a()
    assert len(live) == 10
    a.kill()  # SIGKILL: no drain, no goodbye
    killed = time.monotonic()
    queued = [i for i in ids if i not in live]
    while all(b.status(i)["state"] == "queued" for i in queued):
        assert time.monotonic() - killed < 16, "no takeover within 15 s"
        time.sleep(0.2)
    statuses = {i: b.wait_final(i, timeout=180) for i in ids}
    for request_id in queued:  # placed by b
        assert statuses[request_id]["state"] == "completed", statuses[request_id]
    for request_id in live:  # ended with a stated cause, or played to their end
        status = statuses[request_id]
        assert status["state"] == "completed" or (
            status["state"] == "failed" and status["error"]["error_id"] == "instance-lost"), status
    assert set(invites(ids).values()) == {1}  # none dialled twice
    assert refused_over_cap(lab) == 0


def test_velocity_limits_and_idempotency_keys_hold_across_instances(
        make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(limits={"per_number": [{"calls": 3, "seconds": 600}]})
    a, b = cluster.instances["a"], cluster.instances["b"]
    first: ApiProcess
    for first in (a, a, a):
        assert first.post(tts_call("+12125552200", SHORT))[0] == 202
    code, refused = b.post(tts_call("+12125552200", SHORT))
    assert code == 429 and refused["field"] == "to"
    key = {"Idempotency-Key": "cluster-order-1"}
    answers = [instance.post(tts_call("+12125552201", SHORT), headers=key)
               for instance in (a, b, a, b)]
    assert [code for code, _ in answers] == [202] * 4
    ids = {answer["request_id"] for _, answer in answers}
    assert len(ids) == 1
    assert b.wait_final(ids.pop())["state"] == "completed"
