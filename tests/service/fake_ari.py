"""An in-memory ARI that replays event traffic recorded from the real sandbox Asterisk.

`tests/data/ari-events.json` holds the events of three real calls (made by
`sandbox/record_events.py`). The fake picks the scenario by the called number's
last digits, as the simulated carrier does, and releases each call's events in
the phases real Asterisk does: on originate, up to the dialplan playing the first
entry (`played` records it) and then StasisStart, unless `hold_after_answer`
keeps the first entry playing; the playback events on play; the rest on hangup.
Ids are rewritten to the caller's own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ari_app.ari import Event, EventHandler
from ari_app.errors import AriError

EVENTS = json.loads((Path(__file__).parent.parent / "data" / "ari-events.json").read_text())


def _rewrite(event: Any, old: str, new: str) -> Any:
    return json.loads(json.dumps(event).replace(old, new))


class FakeAri:
    def __init__(self, on_event: EventHandler, *, connected: bool = True) -> None:
        self._on_event = on_event
        self._up = asyncio.Event()
        if connected:
            self._up.set()
        self.originated: list[dict[str, Any]] = []
        self.played: list[tuple[str, tuple[str, ...]]] = []
        self.hung_up: list[str] = []
        self.live: set[str] = set()
        self.max_live = 0
        self._pending: dict[str, list[list[Event]]] = {}
        self.fail_originate: AriError | None = None
        self.hold_after_answer = False
        self._held: dict[str, list[Event]] = {}
        self.watched: set[str] = set()

    @property
    def connected(self) -> bool:
        return self._up.is_set()

    def set_connected(self, up: bool) -> None:
        if up:
            self._up.set()
        else:
            self._up.clear()

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._up.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _emit(self, events: Sequence[Event]) -> None:
        for event in events:
            await asyncio.sleep(0)
            await self._on_event(event)

    async def originate(self, *, channel_id: str, endpoint: str, context: str, caller_id: str,
                        timeout: int, variables: Mapping[str, str]) -> None:
        if self.fail_originate is not None:
            raise self.fail_originate
        self.originated.append({"channel_id": channel_id, "endpoint": endpoint,
                                "context": context, "caller_id": caller_id, "timeout": timeout,
                                "variables": dict(variables)})
        number = endpoint.split("/", 1)[1].split("@", 1)[0]
        # As the simulated carrier: the tech prefix 9503 refuses every call with 503.
        suffix = "503" if number.startswith("9503") else number[-3:]
        name = {"486": "busy", "503": "unavailable"}.get(suffix, "completed")
        recorded = _rewrite(EVENTS[name], f"call-{name}", channel_id)
        # answered and first entry playing | StasisStart | playback events | the end
        phases: list[list[Event]] = [[], [], [], []]
        phase = 0
        for event in recorded:
            if event["type"] == "StasisStart" or (
                    phase == 2 and event["type"] == "ChannelDestroyed"):
                phase += 1
            phases[phase].append(event)
            if event["type"] == "StasisStart":
                phase = 2
        self.live.add(channel_id)
        self.max_live = max(self.max_live, len(self.live))
        self._pending[channel_id] = phases[2:]
        if name != "completed":
            self.live.discard(channel_id)
            asyncio.get_running_loop().create_task(self._emit(phases[0]))
            return
        first = tuple(f"sound:{m}" for m in variables["ARI_APP_FIRST"].split("&"))

        async def answer() -> None:
            await self._emit(phases[0])
            self.played.append((channel_id, first))
            if self.hold_after_answer:
                self._held[channel_id] = phases[1]
            else:
                await self._emit(phases[1])

        asyncio.get_running_loop().create_task(answer())

    async def finish_first(self, channel_id: str) -> None:
        """The dialplan is done with the first entry of a call held after its answer."""
        await self._emit(self._held.pop(channel_id))

    def drop_held(self, channel_id: str) -> None:
        """The first entry of a held call ended while the websocket was down: its
        StasisStart is lost, and the channel is in Stasis."""
        self._held.pop(channel_id)

    async def play(self, *, channel_id: str, playback_id: str, media: Sequence[str]) -> None:
        self.played.append((channel_id, tuple(media)))
        playback = self._pending[channel_id][0]
        events = _rewrite(playback, f"{channel_id}-play", playback_id)
        asyncio.get_running_loop().create_task(self._emit(events))

    async def watch(self, endpoint: str) -> None:
        self.watched.add(endpoint)

    async def channel_app(self, channel_id: str) -> str | None:
        if channel_id not in self.live:
            return None
        return "Playback" if channel_id in self._held else "Stasis"

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.hung_up.append(channel_id)
        self._held.pop(channel_id, None)
        if channel_id in self.live:
            self.live.discard(channel_id)
            asyncio.get_running_loop().create_task(self._emit(self._pending[channel_id][1]))

    async def channels(self) -> dict[str, str]:
        return {channel_id: "Up" for channel_id in self.live}

    async def playback_exists(self, playback_id: str) -> bool:
        return False

    async def ping(self) -> bool:
        return self.connected
