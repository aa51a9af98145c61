"""Limits and the queue, failover between carriers, and signed status callbacks (fake ARI)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ari_app import callbacks
from ari_app.callbacks import verify
from ari_app.config import parse
from ari_app.errors import InvalidField
from ari_app.request import parse_request
from ari_app.settings import Settings
from ari_app.store import Delivery
from tests.service.rig import Rig
from tests.support.config import sandbox_config
from tests.support.stores import RigDatabase
from tests.support.waiting import until

SECRET = "a-callback-secret-for-tests"


def settings_with_failover(tmp: Path) -> Settings:
    """The sandbox settings with a second, always-refusing carrier in one failover group."""
    data = sandbox_config(tmp)
    data["callbacks"] = {"secret": SECRET}
    data["calls"]["hangup_delay_ms"] = 0
    main = data["carriers"]["74445609"]
    main |= {"failover_group": "otp", "priority": 20}
    data["carriers"]["flaky"] = {**main, "prefix": "9503", "priority": 10}
    return parse(data, base=tmp)


def body(carrier: str = "74445609", to: str = "12125551212", **extra: Any) -> dict[str, Any]:
    return {"to": to, "from": "me", "carrier_id": carrier,
            "playlist": [{"play": "Your code is 123456", "type": "tts",
                          "options": {"language": "en-US", "say-as": "digits"}}], **extra}


def limit_channels(rig: Rig, channels: int) -> None:
    """The main carrier takes at most `channels` calls at once from now on."""
    main = dataclasses.replace(rig.settings.carriers["74445609"], max_channels=channels)
    rig.current.replace(dataclasses.replace(
        rig.settings, carriers={**rig.settings.carriers, "74445609": main}))


@pytest.fixture
def rig(make_rig: Callable[..., Rig], tmp_path: Path) -> Rig:
    return make_rig(settings_with_failover(tmp_path))


async def test_a_refusing_carrier_fails_over_and_every_attempt_is_kept(rig: Rig) -> None:
    call_id = await rig.calls.submit(parse_request(body("flaky"), rig.settings))
    record = await rig.final(call_id)
    attempts = await rig.store.calls.attempts(call_id)

    assert record.state == "completed"
    assert [(a.carrier_id, a.sip_code, a.cause) for a in attempts] == [
        ("flaky", 503, 34), ("74445609", None, 16)]
    assert [a.outcome for a in attempts] == ["failed", "completed"]
    assert [o["endpoint"] for o in rig.ari.originated] == [
        "PJSIP/9503+12125551212@carrier-flaky", "PJSIP/+12125551212@carrier-74445609"]
    assert [o["channel_id"] for o in rig.ari.originated] == [call_id, f"{call_id}-1"]


async def test_busy_is_final_and_does_not_fail_over(rig: Rig) -> None:
    call_id = await rig.calls.submit(parse_request(body(to="12125550486"), rig.settings))
    record = await rig.final(call_id)

    assert record.state == "busy" and len(rig.ari.originated) == 1
    assert len(await rig.store.calls.attempts(call_id)) == 1


async def test_a_carrier_that_keeps_failing_is_held_back(rig: Rig) -> None:
    for _ in range(rig.settings.calls.holdback_after):
        await rig.final(await rig.calls.submit(parse_request(body("flaky"), rig.settings)))
    assert rig.calls.carrier_load("flaky").held_back_seconds is not None
    call_id = await rig.calls.submit(parse_request(body("flaky"), rig.settings))
    await rig.final(call_id)
    # Tried first: the healthy carrier of the group; one attempt is enough.
    assert [a.carrier_id for a in await rig.store.calls.attempts(call_id)] == ["74445609"]


async def test_channel_limit_holds_and_every_call_completes(rig: Rig) -> None:
    limit_channels(rig, 3)
    rig.ari.hold_after_answer = True
    ids = [await rig.calls.submit(parse_request(body(), rig.settings)) for _ in range(10)]
    await until(lambda: len(rig.ari.played) == 3)
    await asyncio.sleep(0.05)
    assert len(rig.ari.originated) == 3
    queued = [rig.calls.position(i) for i in ids if rig.calls.position(i) is not None]
    assert queued == list(range(1, 8))
    while len(rig.ari.played) < 10 or rig.ari.live:  # the callees listen to the end
        for channel_id in rig.ari.held:
            await rig.ari.finish_first(channel_id)
        await asyncio.sleep(0.01)
    states = [(await rig.final(i)).state for i in ids]

    assert states == ["completed"] * 10
    assert rig.ari.max_live == 3


async def test_callbacks_are_signed_retried_and_verify(rig: Rig,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(callbacks, "FIRST_RETRY", 0.02)
    received: list[tuple[dict[str, str], str]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.text()))
        tries = sum(h["X-Ari-App-Event-Id"] == request.headers["X-Ari-App-Event-Id"]
                    for h, _ in received)
        return web.Response(status=500 if tries <= 2 else 204)  # each fails twice first

    app = web.Application()
    app.router.add_post("/hook", receive)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    notifier = rig.service.notifier
    sender = asyncio.create_task(notifier.run())
    url = str(server.make_url("/hook"))
    call_id = await rig.calls.submit(parse_request(body(callback_url=url), rig.settings))
    await rig.final(call_id)

    async def stored() -> list[Delivery]:
        found = await rig.store.calls.details(call_id)
        assert found is not None
        return found[2]

    async def all_delivered() -> None:
        while any(d.state != "delivered" for d in await stored()):
            await asyncio.sleep(0.02)

    await asyncio.wait_for(all_delivered(), 10)
    sender.cancel()
    await notifier.close()
    await server.close()
    deliveries = await stored()

    states = [json.loads(d.body)["state"] for d in deliveries]
    assert states == ["queued", "dialing", "answered", "completed"]
    assert all(d.attempts == 3 and d.last_error is None for d in deliveries)
    assert len(received) == 3 * len(deliveries)
    for headers, text in received:
        assert verify(SECRET, headers["X-Ari-App-Timestamp"], text,
                      headers["X-Ari-App-Signature"])
        event = json.loads(text)
        assert event["event_id"] == headers["X-Ari-App-Event-Id"]
        assert event["request_id"] == call_id and "123456" not in text
    # Each event is retried under its own stable id.
    assert sorted({h["X-Ari-App-Event-Id"] for h, _ in received}) == sorted(d.id for d in
                                                                           deliveries)


def test_callback_url_needs_the_signing_secret(tmp_path: Path) -> None:
    data = sandbox_config(tmp_path)
    del data["callbacks"]
    settings = parse(data, base=tmp_path)
    with pytest.raises(InvalidField) as caught:
        parse_request(body(callback_url="http://127.0.0.1:9/hook"), settings)
    assert caught.value.field == "callback_url"
    with pytest.raises(InvalidField):
        parse_request(body(callback_url="ftp://example.com/x"),
                      settings_with_failover(tmp_path))


async def test_cancel_while_waiting_for_the_failover_carrier(rig: Rig) -> None:
    limit_channels(rig, 1)
    rig.ari.hold_after_answer = True
    busy_line = await rig.calls.submit(parse_request(body(), rig.settings))
    await until(lambda: len(rig.ari.played) == 1)  # 74445609's only channel is taken
    call_id = await rig.calls.submit(parse_request(body("flaky"), rig.settings))
    await until(lambda: len(rig.ari.originated) == 2)  # refused by flaky, now waiting
    await asyncio.sleep(0.05)
    assert rig.calls.cancel(call_id)
    record = await rig.final(call_id)

    assert record.state == "canceled"
    assert [a.carrier_id for a in await rig.store.calls.attempts(call_id)] == ["flaky"]
    assert len(rig.ari.originated) == 2  # never dialled on the second carrier
    assert rig.calls.cancel(busy_line)


@pytest.mark.parametrize("engine", ["postgres"])
async def test_requests_while_postgres_is_away_get_503_and_it_picks_up_after(
        rig: Rig, rig_database: RigDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is accepted that was not stored: a 503 names the cause and nothing is dialled.
    The callback sender waits out the outage instead of stopping the service, and calls
    and callbacks go on once the server is back."""
    monkeypatch.setattr("ari_app.store.database.RETRY_SECONDS", 0.3)
    server = rig_database.server
    assert server is not None
    received: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(json.loads(await request.text())["state"])
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    sink = TestServer(app, host="127.0.0.1")
    await sink.start_server()
    sender = asyncio.create_task(rig.service.notifier.run())
    client = await rig.client()
    server.stop()
    try:
        response = await client.post("/voice/call/play", json=body())
        assert response.status == 503
        error = await response.json()
        assert error["error_id"] == "store-unavailable" and "PostgreSQL" in error["message"]
        await asyncio.sleep(1.5)
        assert not sender.done() and rig.ari.originated == []
    finally:
        server.start()
    rig.service.notifier.wake()
    response = await client.post("/voice/call/play",
                                 json=body(callback_url=str(sink.make_url("/hook"))))
    assert response.status == 202
    call_id = (await response.json())["request_id"]
    assert (await rig.final(call_id)).state == "completed"
    await until(lambda: "completed" in received)
    assert len(rig.ari.originated) == 1
    sender.cancel()
    await rig.service.notifier.close()
    await sink.close()


@pytest.mark.parametrize("engine", ["postgres"])
async def test_a_call_ending_while_postgres_is_away_keeps_its_outcome(
        rig: Rig, rig_database: RigDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    """The call goes on while the database is away; its outcome is stored once it is back."""
    monkeypatch.setattr("ari_app.store.database.RETRY_SECONDS", 0.3)
    monkeypatch.setattr("ari_app.call.recorder.FINAL_RETRY", 0.1)
    server = rig_database.server
    assert server is not None
    rig.ari.hold_after_answer = True
    call_id = await rig.calls.submit(parse_request(body(), rig.settings))
    await until(lambda: call_id in rig.ari.held)
    server.stop()
    try:
        await rig.ari.finish_first(call_id)  # plays the rest and hangs up meanwhile
        await until(lambda: call_id in rig.ari.hung_up)
        await asyncio.sleep(1.0)  # its outcome waits for the database
    finally:
        server.start()
    record = await rig.final(call_id, timeout=10)
    assert record.state == "completed"
