"""ARI over aiohttp: the REST calls we use and a reconnecting events websocket.

Credentials travel only in the Authorization header, never in a URL, so any
password characters work and nothing leaks into Asterisk's or a proxy's logs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from ari_app.ari.protocol import ConnectHandler, EventHandler
from ari_app.errors import AriError, AriUnavailable

log = logging.getLogger(__name__)


MAX_CONNECTIONS = 48
"""REST connections to ARI at once (plus the events websocket)."""


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
        max_backoff: float = 10.0,
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
        self._session: aiohttp.ClientSession | None = None
        self._up = asyncio.Event()

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
                    log.info("ARI events connected", extra={"app": self._app})
                    self._up.set()
                    backoff = 0.25
                    await self._guarded(self._on_connect())
                    await self._read(ws)
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
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                event = json.loads(message.data)
            except ValueError:
                log.warning("ARI sent a frame that is not JSON")
                continue
            await self._guarded(self._on_event(event))

    async def _guarded(self, handler: Any) -> None:
        """A failing handler must never stop the reader."""
        try:
            await handler
        except Exception:
            log.exception("ARI event handler failed")

    # -- REST --------------------------------------------------------------

    async def _request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                       body: Mapping[str, Any] | None = None, ok: tuple[int, ...] = ()) -> Any:
        try:
            async with self._http().request(method, self._base + path, params=params,
                                            json=body) as response:
                if response.status < 300 or response.status in ok:
                    if response.content_type == "application/json":
                        return await response.json()
                    return None
                detail = await response.text()
                raise AriError(f"ARI {method} {path.split('?')[0]} answered {response.status}: "
                               f"{_message(detail)}", status=response.status)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise AriUnavailable(f"ARI unreachable: {type(exc).__name__}") from exc

    async def originate(self, *, channel_id: str, endpoint: str, app: str, caller_id: str,
                        timeout: int, variables: Mapping[str, str]) -> None:
        params = {"endpoint": endpoint, "app": app, "callerId": caller_id, "timeout": str(timeout)}
        await self._request("POST", f"/channels/{channel_id}", params=params,
                            body={"variables": dict(variables)})

    async def play(self, *, channel_id: str, playback_id: str, media: Sequence[str]) -> None:
        # In the body, not the URL: the order of digit clips spells the code.
        await self._request("POST", f"/channels/{channel_id}/play/{playback_id}",
                            body={"media": list(media)})

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


def _message(detail: str) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(detail).get("message", ""))[:200]
    return detail[:200]
