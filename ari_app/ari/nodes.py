"""Several Asterisk nodes behind the one `Ari` the calls use (`asterisk.nodes`).

A new call goes to a connected node with the fewest live channels of ours (the first
listed on a tie); a node whose events websocket is down gets none. Everything else a
call asks (play, hang up, a variable...) goes to the node its channel is on. A node
down for `lost_after` seconds is taken as lost: its channels are reported (`on_lost`),
and their calls end with a stated cause (`channel-lost`); they are not dialled again
elsewhere, since they may have reached the callee.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence

from ari_app.ari.asterisk import Originate
from ari_app.ari.events import AriEvent, ChannelDestroyed
from ari_app.ari.protocol import Ari, EventHandler
from ari_app.errors import AriError, AriUnavailable

log = logging.getLogger(__name__)
WATCH_EVERY = 1.0
LOST_AFTER = 10.0
"""Seconds a node may be unreachable before its calls are taken as lost."""


class AriNodes:
    def __init__(self, *, lost_after: float | None = None,
                 on_lost: Callable[[list[str]], None] = lambda _: None) -> None:
        self._nodes: dict[str, Ari] = {}
        self._lost_after = LOST_AFTER if lost_after is None else lost_after
        self.on_lost = on_lost
        self._channel_node: dict[str, str] = {}
        self._playback_node: dict[str, str] = {}
        self._down_since: dict[str, float] = {}

    def add(self, name: str, make: Callable[[EventHandler], Ari],
            handler: EventHandler) -> None:
        """Node `name`, its connection made by `make` given where its events go: to
        `handler`, then here (a destroyed channel is forgotten)."""
        async def handle(event: AriEvent) -> None:
            await handler(event)
            if isinstance(event, ChannelDestroyed):
                self._channel_node.pop(event.channel_id, None)
                prefix = f"{event.channel_id}-"
                for playback_id in [p for p in self._playback_node if p.startswith(prefix)]:
                    del self._playback_node[playback_id]

        self._nodes[name] = make(handle)

    def connected_nodes(self) -> dict[str, bool]:
        """Each node, and whether its events websocket is up."""
        return {name: ari.connected for name, ari in self._nodes.items()}

    def live(self) -> Counter[str]:
        """Live channels of ours per node."""
        return Counter(self._channel_node.values())

    async def run(self) -> None:
        await asyncio.gather(*(ari.run() for ari in self._nodes.values()), self._watch())

    async def _watch(self) -> None:
        """Notice a node down too long: its calls will hear nothing more from it."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for name, ari in self._nodes.items():
                if ari.connected:
                    self._down_since.pop(name, None)
                    continue
                since = self._down_since.setdefault(name, now)
                if now - since >= self._lost_after:
                    lost = [c for c, n in self._channel_node.items() if n == name]
                    if lost:
                        log.error("Asterisk node %s has been unreachable for %.0f s: its %d "
                                  "call(s) end (channel-lost)", name, now - since, len(lost))
                        for channel_id in lost:
                            del self._channel_node[channel_id]
                        self.on_lost(lost)
            await asyncio.sleep(WATCH_EVERY)

    async def close(self) -> None:
        for ari in self._nodes.values():
            await ari.close()

    @property
    def connected(self) -> bool:
        return any(ari.connected for ari in self._nodes.values())

    def reachable(self, channel_id: str) -> bool:
        ari = self._on(channel_id)
        return self.connected if ari is None else ari.connected

    async def wait_connected(self, timeout: float) -> bool:
        """True once any node is connected, within `timeout` seconds."""
        if self.connected:
            return True
        waits = [asyncio.create_task(ari.wait_connected(timeout))
                 for ari in self._nodes.values()]
        try:
            for done in asyncio.as_completed(waits):
                if await done:
                    return True
            return False
        finally:
            for wait in waits:
                wait.cancel()

    def _choose(self) -> str:
        live = self.live()
        up = [name for name, ari in self._nodes.items() if ari.connected]
        if not up:
            raise AriUnavailable("no Asterisk node is connected")
        return min(up, key=lambda name: live[name])  # min keeps the first on a tie

    def _on(self, channel_id: str) -> Ari | None:
        name = self._channel_node.get(channel_id)
        return None if name is None else self._nodes[name]

    async def originate(self, call: Originate) -> None:
        name = self._choose()
        self._channel_node[call.channel_id] = name
        try:
            await self._nodes[name].originate(call)
        except BaseException:
            self._channel_node.pop(call.channel_id, None)
            raise

    async def watch(self, trunk: str) -> None:
        for ari in self._nodes.values():
            if ari.connected:
                await ari.watch(trunk)

    async def channel_app(self, channel_id: str) -> str | None:
        ari = self._on(channel_id)
        return None if ari is None else await ari.channel_app(channel_id)

    async def play(self, *, channel_id: str, playback_id: str, sounds: Sequence[str]) -> None:
        name = self._channel_node.get(channel_id)
        if name is None:
            raise AriError(f"channel {channel_id} is on no node of ours", status=404)
        self._playback_node[playback_id] = name
        await self._nodes[name].play(channel_id=channel_id, playback_id=playback_id,
                                     sounds=sounds)

    async def channel_variable(self, channel_id: str, name: str) -> str:
        ari = self._on(channel_id)
        return "" if ari is None else await ari.channel_variable(channel_id, name)

    async def stop_playback(self, playback_id: str) -> None:
        name = self._playback_node.pop(playback_id, None)
        if name is not None:
            await self._nodes[name].stop_playback(playback_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        """On the channel's node; a channel of another instance or of before a restart
        (on no node we know): on every connected node that has it."""
        ari = self._on(channel_id)
        if ari is not None:
            await ari.hangup(channel_id, reason)
            return
        for node in self._nodes.values():
            if node.connected:
                with contextlib.suppress(AriError):
                    await node.hangup(channel_id, reason)

    async def channels(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for ari in self._nodes.values():
            if not ari.connected:
                continue
            found |= await ari.channels()
        return found

    async def playback_exists(self, playback_id: str) -> bool:
        name = self._playback_node.get(playback_id)
        return name is not None and await self._nodes[name].playback_exists(playback_id)

    async def ping(self) -> bool:
        answers = [await ari.ping() for ari in self._nodes.values() if ari.connected]
        return any(answers)
