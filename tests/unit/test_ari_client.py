"""The ARI client against a small local stand-in of Asterisk's HTTP and websocket interface."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from ari_app.ari.asterisk import Originate
from ari_app.ari.client import AriClient
from ari_app.ari.events import AriEvent, StasisStart
from ari_app.errors import AriError, AriUnavailable

PASSWORD = "p&ss#w+rd@1"
CALL = Originate(channel_id="call-1", trunk="trunk", number="123", caller_id="+15550100",
                 ring_timeout=30, request_id="r-1", first_entry=("/a/first", "beep"), app="otp")
ORIGINATED = {"endpoint": "PJSIP/123@trunk", "context": "ari-app-call", "extension": "s",
              "priority": "1", "callerId": "+15550100", "timeout": "30"}
VARIABLES = {"variables": {"PJSIP_HEADER(add,X-Ari-App-Request)": "r-1",
                           "ARI_APP_FIRST": "/a/first&beep", "ARI_APP_NAME": "otp"}}


@dataclass
class Stand:
    """Records what the client sent; drops the websocket on demand."""

    requests: list[web.Request] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    connects: int = 0
    rest_over_ws: bool = True
    """Answer RESTRequest messages on the websocket, as Asterisk 22.4 and later do."""


@pytest.fixture
async def stand() -> AsyncIterator[tuple[Stand, TestServer]]:
    stand = Stand()

    @web.middleware
    async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
        expected = "Basic " + base64.b64encode(f"ari-app:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            raise web.HTTPUnauthorized()
        stand.requests.append(request)
        return await handler(request)

    async def events(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        stand.connects += 1
        stand.sockets.append(ws)
        # An event the service does not use: parsed to nothing, never handed on.
        await ws.send_json({"type": "ChannelVarset", "channel": {"id": "c0"}})
        await ws.send_json({"type": "StasisStart", "channel": {"id": f"c{stand.connects}"}})
        if stand.connects == 2:  # a copy, as Asterisk sends for a channel also watched
            await ws.send_json({"type": "StasisStart", "channel": {"id": "c2"}})
        async for message in ws:
            asked = json.loads(message.data)
            if asked.get("type") == "RESTRequest" and stand.rest_over_ws:
                await ws.send_json(await answer_over_ws(request, asked))
        return ws

    async def answer_over_ws(ws_request: web.Request, asked: dict[str, Any]) -> dict[str, Any]:
        """The same handlers as over HTTP, the request marked as having come by websocket."""
        query = {q["name"]: q["value"] for q in asked.get("query_strings", [])}
        headers = {"Authorization": ws_request.headers["Authorization"], "X-Via": "websocket",
                   "Content-Type": asked.get("content_type", "application/json")}
        async with ClientSession() as http, http.request(
                asked["method"], f"{ws_request.url.origin()}/ari/{asked['uri']}", params=query,
                data=asked.get("message_body"), headers=headers) as answer:
            body = await answer.text()
        return {"type": "RESTResponse", "request_id": asked["request_id"],
                "status_code": answer.status, "uri": asked["uri"], "message_body": body or None}

    async def originate(request: web.Request) -> web.Response:
        stand.bodies.append(await request.json())
        return web.json_response({"id": request.match_info["id"], "state": "Down"})

    async def play(request: web.Request) -> web.Response:
        stand.bodies.append(await request.json())
        return web.json_response({"id": request.match_info["pb"]}, status=201)

    async def hangup(request: web.Request) -> web.Response:
        if request.match_info["id"] == "gone":
            return web.json_response({"message": "Channel not found"}, status=404)
        if request.match_info["id"] == "broken":
            return web.json_response({"message": "Internal"}, status=500)
        return web.Response(status=204)

    async def channels(request: web.Request) -> web.Response:
        return web.json_response([{"id": "a", "state": "Up"}, {"id": "b", "state": "Ringing"}])

    async def ping(request: web.Request) -> web.Response:
        return web.json_response({"ping": "pong"})

    async def event_filter(request: web.Request) -> web.Response:
        stand.bodies.append(await request.json())
        return web.json_response({"name": request.match_info["app"]})

    app = web.Application(middlewares=[auth])
    app.router.add_get("/ari/events", events)
    app.router.add_post("/ari/channels/{id}", originate)
    app.router.add_post("/ari/channels/{id}/play/{pb}", play)
    app.router.add_delete("/ari/channels/{id}", hangup)
    app.router.add_get("/ari/channels", channels)
    app.router.add_get("/ari/asterisk/ping", ping)
    app.router.add_put("/ari/applications/{app}/eventFilter", event_filter)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield stand, server
    await server.close()


def client_for(server: TestServer, events: list[Any], connects: list[int],
               password: str = PASSWORD, probe_timeout: float = 2.0,
               raw: list[Any] | None = None) -> AriClient:
    async def on_event(event: AriEvent) -> None:
        if event.channel_id == "c1" and not events:
            events.append(event)
            raise RuntimeError("a handler bug must not stop the reader")
        events.append(event)

    async def on_connect() -> None:
        connects.append(1)

    return AriClient(url=f"http://127.0.0.1:{server.port}", username="ari-app",
                     password=password, app="otp", on_event=on_event, on_connect=on_connect,
                     max_backoff=0.2, probe_timeout=probe_timeout,
                     on_raw=None if raw is None else raw.append)


async def test_rest_calls_carry_credentials_in_the_header_only(
        stand: tuple[Stand, TestServer]) -> None:
    recorded, server = stand
    ari = client_for(server, [], [])
    assert await ari.ping()
    await ari.originate(CALL)
    await ari.play(channel_id="call-1", playback_id="pb-1", sounds=["/a/b", "/a/c"])
    await ari.hangup("gone")  # already gone is fine
    assert await ari.channels() == {"a": "Up", "b": "Ringing"}
    with pytest.raises(AriError) as caught:
        await ari.hangup("broken")
    assert caught.value.status == 500
    await ari.close()

    originate = recorded.requests[1]
    assert originate.path == "/ari/channels/call-1"
    assert dict(originate.query) == ORIGINATED
    assert recorded.bodies == [VARIABLES, {"media": ["sound:/a/b", "sound:/a/c"]}]
    play = recorded.requests[2]
    assert play.path == "/ari/channels/call-1/play/pb-1" and not play.query
    assert all("ss" not in str(r.url) for r in recorded.requests)


async def test_wrong_password_is_an_error(stand: tuple[Stand, TestServer]) -> None:
    _, server = stand
    ari = client_for(server, [], [], password="wrong")
    with pytest.raises(AriError) as caught:
        await ari.channels()
    assert caught.value.status == 401
    await ari.close()


async def test_unreachable_asterisk(stand: tuple[Stand, TestServer]) -> None:
    ari = AriClient(url="http://127.0.0.1:9", username="u", password="p", app="a",
                    on_event=lambda e: asyncio.sleep(0), on_connect=lambda: asyncio.sleep(0))
    with pytest.raises(AriUnavailable):
        await ari.channels()
    await ari.close()


async def test_websocket_reconnects_and_resyncs(stand: tuple[Stand, TestServer]) -> None:
    recorded, server = stand
    events: list[Any] = []
    connects: list[int] = []
    raw: list[Any] = []
    ari = client_for(server, events, connects, raw=raw)
    task = asyncio.create_task(ari.run())
    async with asyncio.timeout(5):
        while not (ari.connected and events):
            await asyncio.sleep(0.01)
        assert connects == [1]
        await recorded.sockets[0].close()
        while len(events) < 2 or len(connects) < 2:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    # Typed, the one unused event left out, the copy dropped.
    assert events == [StasisStart("c1", (), ""), StasisStart("c2", (), "")]
    # Traffic as Asterisk sent it, for recording (the back-to-back copy is not traffic).
    assert [r["type"] for r in raw] == ["ChannelVarset", "StasisStart"] * 2
    assert connects == [1, 1] and ari.connected
    assert recorded.requests[0].query["app"] == "otp"
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert not ari.connected
    await ari.close()


async def connected(ari: AriClient) -> asyncio.Task[None]:
    task = asyncio.create_task(ari.run())
    async with asyncio.timeout(5):
        while not ari.connected:
            await asyncio.sleep(0.01)
    return task


async def stop(ari: AriClient, task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await ari.close()


async def test_rest_goes_over_the_websocket_where_asterisk_takes_it(
        stand: tuple[Stand, TestServer]) -> None:
    recorded, server = stand
    ari = client_for(server, [], [])
    task = await connected(ari)
    await ari.originate(CALL)
    await ari.play(channel_id="call-1", playback_id="pb-1", sounds=["/a/b"])
    await ari.hangup("gone")
    assert await ari.channels() == {"a": "Up", "b": "Ringing"}
    with pytest.raises(AriError) as caught:
        await ari.hangup("broken")
    assert caught.value.status == 500
    await stop(ari, task)

    rest = [r for r in recorded.requests if r.path != "/ari/events"]
    assert all(r.headers.get("X-Via") == "websocket" for r in rest)
    assert [(r.method, r.path) for r in rest] == [
        ("GET", "/ari/asterisk/ping"), ("POST", "/ari/channels/call-1"),
        ("POST", "/ari/channels/call-1/play/pb-1"), ("DELETE", "/ari/channels/gone"),
        ("GET", "/ari/channels"), ("DELETE", "/ari/channels/broken")]
    assert dict(rest[1].query) == ORIGINATED
    assert recorded.bodies == [VARIABLES, {"media": ["sound:/a/b"]}]


async def test_an_older_asterisk_gets_rest_over_http(stand: tuple[Stand, TestServer]) -> None:
    recorded, server = stand
    recorded.rest_over_ws = False
    ari = client_for(server, [], [], probe_timeout=0.2)
    task = await connected(ari)
    assert await ari.channels() == {"a": "Up", "b": "Ringing"}
    await stop(ari, task)
    assert recorded.requests[-1].path == "/ari/channels"
    assert "X-Via" not in recorded.requests[-1].headers


async def test_requests_waiting_on_a_websocket_that_drops_fail(
        stand: tuple[Stand, TestServer]) -> None:
    recorded, server = stand
    ari = client_for(server, [], [])
    task = await connected(ari)
    recorded.rest_over_ws = False  # asked, never answered: then the socket goes
    waiting = asyncio.create_task(ari.channels())
    await asyncio.sleep(0.05)
    await recorded.sockets[0].close()
    with pytest.raises(AriUnavailable):
        await asyncio.wait_for(waiting, 5)
    await stop(ari, task)


async def test_asterisk_is_asked_for_the_events_a_call_uses_only(
        stand: tuple[Stand, TestServer]) -> None:
    recorded, server = stand
    ari = AriClient(url=f"http://127.0.0.1:{server.port}", username="ari-app", password=PASSWORD,
                    app="otp", on_event=lambda e: asyncio.sleep(0),
                    on_connect=lambda: asyncio.sleep(0), events=("Dial", "ChannelDestroyed"))
    task = await connected(ari)
    await stop(ari, task)

    (filtered,) = [r for r in recorded.requests if r.path.endswith("/eventFilter")]
    assert filtered.path == "/ari/applications/otp/eventFilter"
    assert filtered.headers.get("X-Via") == "websocket"
    # The answers to REST requests on the websocket are events too: never filtered out.
    assert recorded.bodies == [{"allowed": [{"type": "Dial"}, {"type": "ChannelDestroyed"},
                                            {"type": "RESTResponse"}]}]
