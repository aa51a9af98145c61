"""Keys, destinations, velocity limits, the circuit breaker and caller IDs (fake ARI).

The settings are the sandbox's with the stock limits (3 calls to one number in
10 minutes, 5 in an hour ...) instead of the sandbox's relaxed ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ari_app.api.auth import KEY_CACHE_SECONDS
from ari_app.config import parse
from ari_app.keys import new_key
from ari_app.settings import Settings
from tests.service.rig import Rig
from tests.support.config import sandbox_config
from tests.support.waiting import until

TTS = [{"type": "tts", "play": "Your code is 123456", "options": {"say-as": "digits"}}]


def body(to: str = "+12125551212", **extra: Any) -> dict[str, Any]:
    return {"to": to, "from": "me", "carrier_id": "74445609", "playlist": TTS, **extra}


def stock(tmp: Path, **breaker: Any) -> Settings:
    data = sandbox_config(tmp)
    del data["limits"]
    data["breaker"] = breaker
    data["destinations"] |= {"deny": ["+12125550000"]}
    return parse(data, base=tmp)


@pytest.fixture
async def api(tmp_path: Path, make_rig: Callable[..., Rig]) -> tuple[TestClient, Rig]:
    rig = make_rig(stock(tmp_path))
    return await rig.client(), rig


async def test_every_endpoint_but_health_needs_a_live_key(api: tuple[TestClient, Rig]) -> None:
    _, rig = api
    bare = await rig.client(key=False)
    made, key_hash, token = new_key("revoked-soon")
    await rig.store.keys.add(made, key_hash)
    for method, path in [("POST", "/voice/call/play"), ("GET", "/carriers"),
                         ("GET", "/metrics"), ("GET", "/openapi.json"),
                         ("GET", "/voice/call/status/x"), ("DELETE", "/admin/breaker")]:
        response = await bare.request(method, path, json=body())
        assert response.status == 401, (method, path)
        assert (await response.json())["error_id"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    for header in ("Bearer aak_000000000000_" + "x" * 43, f"Bearer {token}x", token,
                   f"Basic {token}"):
        response = await bare.post("/voice/call/play", json=body(),
                                   headers={"Authorization": header})
        assert response.status == 401, header
    assert (await bare.get("/health")).status in (200, 503)  # no key needed
    ok = await bare.get("/carriers", headers={"Authorization": f"Bearer {token}"})
    assert ok.status == 200
    assert await rig.store.keys.revoke(made.id)
    revoked_at = time.monotonic()
    while (await bare.get("/carriers", headers={"Authorization": f"Bearer {token}"})).status \
            != 401 and time.monotonic() - revoked_at < 10:
        await asyncio.sleep(0.05)
    # Keys are re-read at most once a second: a revoked key stops working within that.
    assert time.monotonic() - revoked_at < KEY_CACHE_SECONDS + 0.5
    assert rig.ari.originated == []


async def test_a_limited_key_stays_within_its_carriers_and_countries(
        api: tuple[TestClient, Rig]) -> None:
    _, rig = api
    limited = await rig.client(carriers=("flaky",), countries=("1212",))
    response = await limited.post("/voice/call/play", json=body())
    assert response.status == 403 and (await response.json())["field"] == "carrier_id"
    other = await limited.post("/voice/call/play",
                               json=body(to="+13105551212", carrier_id="flaky"))
    assert other.status == 403 and (await other.json())["error_id"] == \
        "destination-forbidden"
    fine = await limited.post("/voice/call/play", json=body(carrier_id="flaky"))
    assert fine.status == 202
    # Carrier management and the breaker need an unrestricted key.
    assert (await limited.delete("/carriers/flaky")).status == 403
    assert (await limited.delete("/admin/breaker")).status == 403


@pytest.mark.parametrize(("to", "reason"), [
    ("+442071234567", "country is not allowed"),
    ("+19005551234", "premium rate"),
    ("+881612345678", "country is not allowed"),
    ("+12125550000", "deny-list"),
])
async def test_destinations_refused_with_the_reason(api: tuple[TestClient, Rig], to: str,
                                                    reason: str) -> None:
    client, rig = api
    response = await client.post("/voice/call/play", json=body(to=to))
    answer = await response.json()

    assert response.status == 403 and answer["field"] == "to"
    assert reason in answer["message"]
    assert await rig.store.calls.recent(0) == []  # nothing stored, so nothing can dial
    assert rig.ari.originated == []


async def test_satellite_refused_even_in_an_allowed_country(tmp_path: Path) -> None:
    from ari_app.destinations import Policy

    policy = Policy(allowed=("881", "44"), allow_ranges=("4490",))
    with pytest.raises(Exception, match="satellite"):
        policy.check("+881612345678")
    policy.check("+449012345678")  # explicitly allowed premium range


async def test_the_fourth_call_to_one_number_within_ten_minutes_is_429(
        api: tuple[TestClient, Rig]) -> None:
    client, _ = api
    for _ in range(3):
        assert (await client.post("/voice/call/play", json=body())).status == 202
    fourth = await client.post("/voice/call/play", json=body())
    answer = await fourth.json()

    assert fourth.status == 429 and answer["error_id"] == "rate-limited"
    assert "3 calls to this number in 10 min" in answer["message"]
    assert 500 < int(fourth.headers["Retry-After"]) <= 600
    assert (await client.post("/voice/call/play", json=body(to="+13105551212"))).status == 202


async def test_the_breaker_trips_stops_dialling_and_needs_a_reset(
        tmp_path: Path, make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(stock(tmp_path, max_calls_per_minute=3))
    rig.ari.set_connected(False)  # calls stay queued: we see what the breaker lets out
    client = await rig.client()
    numbers = ["+13105550001", "+13105550002", "+13105550003", "+13105550004"]
    answers = [await client.post("/voice/call/play", json=body(to=n)) for n in numbers]
    assert [a.status for a in answers] == [202, 202, 202, 503]
    queued = [(await a.json())["request_id"] for a in answers[:3]]
    state = await (await client.get("/admin/breaker")).json()
    assert state["tripped"] is True and "3 calls in a minute" in state["reason"]
    metrics = await (await client.get("/metrics")).text()
    assert "ari_app_breaker_open 1.0" in metrics
    rig.ari.set_connected(True)
    rig.calls.let_through()  # as on a reconnect: the queue is asked to let calls go
    # Queued calls wait while it is open: none was let through (which takes a call
    # out of the queue at once).
    assert [rig.calls.position(i) for i in queued] == [1, 2, 3]
    refused = await client.post("/voice/call/play", json=body(to="+13105550005"))
    assert refused.status == 503
    assert (await client.delete("/admin/breaker")).status == 200
    await until(lambda: len(rig.ari.originated) == 3)  # released by the reset


@pytest.mark.parametrize("caller", ["+1555\r\n0100", '"+15550100"', "<+15550100>",
                                    "${SHELL(id)}", "+15550199", ""])
async def test_caller_ids_outside_the_carriers_list_are_refused(
        api: tuple[TestClient, Rig], caller: str) -> None:
    client, rig = api
    response = await client.post("/voice/call/play", json=body() | {"from": caller})
    assert response.status == 422 and (await response.json())["field"] == "from"
    assert rig.ari.originated == []


async def test_sizes_are_capped(api: tuple[TestClient, Rig]) -> None:
    client, _ = api
    long_text = [{"type": "tts", "play": "word " * 190, "repeat": 4}]
    response = await client.post("/voice/call/play", json=body() | {"playlist": long_text})
    assert response.status == 422 and (await response.json())["field"] == "playlist"
    too_big = await client.post("/voice/call/play", data=b"x" * (65 * 1024))
    assert too_big.status == 413


async def test_velocity_counts_survive_a_restart(tmp_path: Path,
                                                make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(stock(tmp_path))
    client = await rig.client()
    for _ in range(3):
        assert (await client.post("/voice/call/play", json=body())).status == 202
    await rig.close()
    again = make_rig(stock(tmp_path))  # a new process on the same database
    client = await again.client()
    assert (await client.post("/voice/call/play", json=body())).status == 429


async def test_concurrent_requests_never_pass_a_limit_together(
        api: tuple[TestClient, Rig]) -> None:
    client, _ = api
    answers = await asyncio.gather(*(client.post("/voice/call/play", json=body())
                                     for _ in range(10)))
    assert sorted(a.status for a in answers) == [202] * 3 + [429] * 7
