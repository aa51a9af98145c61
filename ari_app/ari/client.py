"""ARI over aiohttp: the REST calls we use and a reconnecting events websocket.

Credentials travel only in the Authorization header, never in a URL, so any
password characters work and nothing leaks into Asterisk's or a proxy's logs.

REST requests go over the events websocket itself where Asterisk supports it
(20.14, 21.9, 22.4 and later: `RESTRequest` / `RESTResponse` messages), which
costs a fraction of an HTTP request on both sides; checked at every connect,
with plain HTTP as the fallback and whenever the websocket is down.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp
import orjson

from ari_app.ari.asterisk import Originate, endpoint, media_uris, originate_request
from ari_app.ari.events import parse
from ari_app.ari.protocol import ConnectHandler, EventHandler
from ari_app.errors import AriError, AriUnavailable

log = logging.getLogger(__name__)


MAX_CONNECTIONS = 48
"""REST connections to ARI at once (plus the events websocket)."""
PROBE_SECONDS = 2.0
"""How long to wait for Asterisk to answer a REST request over the websocket at connect."""


MAX_BACKOFF = 3.0
"""Seconds between reconnect attempts at most (before jitter, up to 1.5 times this). A
call whose first entry ends while the service is away is kept by the dialplan, which
tries Stasis again for 10 s (extensions.conf.j2): once Asterisk can be reached again,
the service must be back well within that. Asking a local Asterisk every few seconds
costs nothing."""

class AriClient:
    """Implements `Ari`. Call `run()` in a task to keep the websocket connected."""

    def __init__(
        self,
        *,
        url: str,
        username: str,
        password: str,
        app: str,
        on_event: EventHandler,
        on_connect: ConnectHandler,
        heartbeat: float = 10.0,
        request_timeout: float = 10.0,
        max_backoff: float = MAX_BACKOFF,
        probe_timeout: float = PROBE_SECONDS,
        events: Sequence[str] = (),
        on_raw: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> None:
        self._base = url.rstrip("/") + "/ari"
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._auth = f"Basic {token}"
        self._app = app
        self._on_event = on_event
        self._on_connect = on_connect
        self._heartbeat = heartbeat
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._max_backoff = max_backoff
        self._probe_timeout = probe_timeout
        self._events = tuple(events)
        """The event types the application is sent (all when empty)."""
        self._on_raw = on_raw
        """Sees every event as Asterisk sent it, before parsing (to record traffic)."""
        self._watching: set[str] = set()
        """Trunks whose endpoints the application is subscribed to on this connection."""
        self._session: aiohttp.ClientSession | None = None
        self._up = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        """The events websocket, once Asterisk has shown it takes REST requests too."""
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    # -- lifecycle ---------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Asterisk's HTTP server takes at most `sessionlimit` (100 by default)
            # connections; past it, it drops new ones. Requests beyond ours wait here.
            self._session = aiohttp.ClientSession(
                headers={"Authorization": self._auth}, timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
            )
        return self._session

    async def close(self) -> None:
        self._up.clear()
        if self._session is not None:
            await self._session.close()

    @property
    def connected(self) -> bool:
        return self._up.is_set()

    def reachable(self, channel_id: str) -> bool:
        return self.connected

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), timeout)
        return self._up.is_set()

    async def run(self) -> None:
        """Keep the events websocket up for ever: reconnect with backoff, resync after each."""
        ws_url = self._base.replace("http", "ws", 1) + "/events"
        params = {"app": self._app, "subscribeAll": "false"}
        backoff = 0.25
        while True:
            try:
                async with self._http().ws_connect(
                    ws_url, params=params, heartbeat=self._heartbeat,
                    timeout=aiohttp.ClientWSTimeout(ws_close=5),
                ) as ws:
                    reader = asyncio.create_task(self._read(ws), name="ari-reader")
                    try:
                        over_ws = await self._probe(ws)
                        log.info("ARI events connected; REST requests over %s", "the websocket"
                                 if over_ws else "HTTP (this Asterisk takes none on the websocket)",
                                 extra={"app": self._app})
                        self._ws = ws if over_ws else None
                        self._watching.clear()
                        await self._filter()
                        self._up.set()
                        backoff = 0.25
                        await self._guarded(self._on_connect())
                        await reader
                    finally:
                        self._ws = None
                        reader.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await reader
                        self._fail_pending()
            except asyncio.CancelledError:
                self._up.clear()
                raise
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("ARI events unavailable: %s", type(exc).__name__)
            was_up = self._up.is_set()
            self._up.clear()
            if was_up:
                log.warning("ARI events disconnected; reconnecting")
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, self._max_backoff)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        last = ""
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            # Asterisk sends a channel's events twice, back to back, while it is both in
            # Stasis and on a watched endpoint: the copy is dropped before it is parsed.
            if message.data == last:
                continue
            last = message.data
            try:
                raw = orjson.loads(message.data)
            except ValueError:
                log.warning("ARI sent a frame that is not JSON")
                continue
            if not isinstance(raw, dict):
                continue
            if raw.get("type") == "RESTResponse":
                waiting = self._pending.pop(str(raw.get("request_id")), None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(raw)
                continue
            if raw.get("type") == "ApplicationReplaced":
                # Another process registered our application name: it gets our events
                # from now on. Two services on one name starve each other: say so loudly.
                log.critical("ALERT another connection took the Stasis application %s on "
                             "%s: this service gets no more events from it; give every "
                             "service its own ari.app (or cluster.instance)",
                             self._app, self._base)
            if self._on_raw is not None:
                self._on_raw(raw)
            event = parse(raw)
            if event is not None:
                await self._guarded(self._on_event(event))

    async def _filter(self) -> None:
        """Ask Asterisk to send only the events we use: a call makes three times as many
        (channel variables, dialplan steps...), each one serialised, sent and parsed."""
        if not self._events:
            return
        try:
            # The answers to REST requests on the websocket are events too: filtered out,
            # this very request would never be answered.
            allowed = [*self._events, "RESTResponse"]
            await self._request("PUT", f"/applications/{self._app}/eventFilter",
                                body={"allowed": [{"type": t} for t in allowed]})
        except AriError as exc:  # Asterisk before 16: every event comes, which only costs
            log.warning("ARI event filter not set: %s", exc)

    async def _probe(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        """Whether this Asterisk answers REST requests sent over the websocket."""
        try:
            async with asyncio.timeout(self._probe_timeout):
                answer = await self._over_ws(ws, "GET", "/asterisk/ping", None, None)
        except (TimeoutError, AriUnavailable):
            return False
        return int(answer.get("status_code", 0)) == 200

    async def _over_ws(self, ws: aiohttp.ClientWebSocketResponse, method: str, path: str,
                       params: Mapping[str, str] | None,
                       body: Mapping[str, Any] | None) -> dict[str, Any]:
        request_id = str(next(self._ids))
        message: dict[str, Any] = {"type": "RESTRequest", "request_id": request_id,
                                   "method": method, "uri": path.lstrip("/")}
        if params:
            message["query_strings"] = [{"name": k, "value": v} for k, v in params.items()]
        if body is not None:
            message |= {"content_type": "application/json",
                        "message_body": orjson.dumps(body).decode()}
        answer = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        try:
            await ws.send_str(orjson.dumps(message).decode())
            result: dict[str, Any] = await answer
            return result
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            raise AriUnavailable(f"ARI unreachable: {type(exc).__name__}") from exc
        finally:
            self._pending.pop(request_id, None)

    def _fail_pending(self) -> None:
        for waiting in self._pending.values():
            if not waiting.done():
                waiting.set_exception(AriUnavailable("ARI unreachable: the websocket closed"))
        self._pending.clear()

    async def _guarded(self, handler: Any) -> None:
        """A failing handler must never stop the reader."""
        try:
            await handler
        except Exception:
            log.exception("ARI event handler failed")

    # -- REST --------------------------------------------------------------

    async def _request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                       body: Mapping[str, Any] | None = None, ok: tuple[int, ...] = ()) -> Any:
        ws = self._ws
        if ws is not None and not ws.closed:
            try:
                async with asyncio.timeout(self._timeout.total):
                    answer = await self._over_ws(ws, method, path, params, body)
            except TimeoutError as exc:
                raise AriUnavailable("ARI unreachable: TimeoutError") from exc
            return _answer(method, path, int(answer.get("status_code", 0)),
                           answer.get("message_body"), ok)
        try:
            async with self._http().request(method, self._base + path, params=params,
                                            json=body) as response:
                text = await response.text()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise AriUnavailable(f"ARI unreachable: {type(exc).__name__}") from exc
        return _answer(method, path, response.status,
                       text if response.content_type == "application/json" else None, ok)

    async def originate(self, call: Originate) -> None:
        params, variables = originate_request(call)
        await self._request("POST", f"/channels/{call.channel_id}", params=params,
                            body={"variables": variables})

    async def watch(self, trunk: str) -> None:
        if trunk in self._watching:
            return
        await self._request("POST", f"/applications/{self._app}/subscription",
                            params={"eventSource": f"endpoint:{endpoint(trunk)}"})
        self._watching.add(trunk)

    async def channel_app(self, channel_id: str) -> str | None:
        found = await self._request("GET", f"/channels/{channel_id}", ok=(404,))
        if not found or "id" not in found:
            return None
        return str(found.get("dialplan", {}).get("app_name", ""))

    async def play(self, *, channel_id: str, playback_id: str, sounds: Sequence[str]) -> None:
        # In the body, not the URL: the order of digit clips spells the code.
        await self._request("POST", f"/channels/{channel_id}/play/{playback_id}",
                            body={"media": media_uris(sounds)})

    async def channel_variable(self, channel_id: str, name: str) -> str:
        # 404: no such channel, or the variable is not set.
        found = await self._request("GET", f"/channels/{channel_id}/variable",
                                    params={"variable": name}, ok=(404,))
        return str(found.get("value", "")) if isinstance(found, dict) else ""

    async def stop_playback(self, playback_id: str) -> None:
        # 404: it ended on its own meanwhile.
        await self._request("DELETE", f"/playbacks/{playback_id}", ok=(404,))

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        # 404: the channel is already gone, which is what we wanted.
        await self._request("DELETE", f"/channels/{channel_id}", params={"reason": reason},
                            ok=(404,))

    async def channels(self) -> dict[str, str]:
        channels = await self._request("GET", "/channels")
        return {c["id"]: str(c.get("state", "")) for c in channels or []}

    async def playback_exists(self, playback_id: str) -> bool:
        found = await self._request("GET", f"/playbacks/{playback_id}", ok=(404,))
        return found is not None and "id" in found

    async def ping(self) -> bool:
        try:
            await self._request("GET", "/asterisk/ping")
        except AriError:
            return False
        return True


def _answer(method: str, path: str, status: int, body: str | None,
            ok: tuple[int, ...]) -> Any:
    """The JSON of a successful answer (None without a body); AriError for any other."""
    if status < 300 or status in ok:
        return orjson.loads(body) if body else None
    raise AriError(f"ARI {method} {path.split('?')[0]} answered {status}: "
                   f"{_message(body or '')}", status=status)


def _message(detail: str) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        return str(orjson.loads(detail).get("message", ""))[:200]
    return detail[:200]
