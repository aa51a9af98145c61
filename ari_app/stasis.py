"""Routes ARI events to the call they belong to, by the channel id we chose.

Handlers only enqueue; each call's own task reacts. Nothing here blocks the
websocket reader, and an event for a channel we do not know is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ari_app.ari import Event

log = logging.getLogger(__name__)

EVENTS = ("Dial", "ChannelStateChange", "ChannelDialplan", "StasisStart", "PlaybackContinuing",
          "PlaybackFinished", "ChannelDestroyed")
"""The ARI events a call reacts to; Asterisk is asked to send no others."""
LOST = "ChannelLost"
"""Our own event: the channel vanished while the websocket was down."""
CANCEL = "CancelRequested"
"""Our own event: the API asked to cancel the call."""
RESYNC = "ChannelResync"
"""Our own event: the websocket came back and the channel is still there, in `state`."""


class EventRouter:
    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[Event]] = {}
        self._last: dict[str, Event] = {}

    def open(self, channel_id: str) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._queues[channel_id] = queue
        return queue

    def close(self, channel_id: str) -> None:
        self._queues.pop(channel_id, None)
        self._last.pop(channel_id, None)

    @property
    def channel_ids(self) -> set[str]:
        return set(self._queues)

    def lost(self, channel_id: str) -> None:
        self._deliver(channel_id, {"type": LOST})

    def resync(self, channel_id: str, state: str) -> None:
        self._deliver(channel_id, {"type": RESYNC, "state": state})

    def cancel(self, channel_id: str) -> None:
        self._deliver(channel_id, {"type": CANCEL})

    async def dispatch(self, event: Event) -> None:
        channel_id = _channel_of(event)
        if channel_id is None or channel_id not in self._queues:
            return
        # A channel in Stasis is also one of the carrier endpoint's, which the application
        # watches: Asterisk sends each of its events twice. The client drops a copy that
        # follows at once, before parsing it; this drops one with another event between.
        if event == self._last.get(channel_id):
            return
        self._last[channel_id] = event
        self._deliver(channel_id, event)

    def _deliver(self, channel_id: str, event: Event) -> None:
        queue = self._queues.get(channel_id)
        if queue is not None:
            queue.put_nowait(event)


def _channel_of(event: Event) -> str | None:
    kind = event.get("type")
    source: Any
    if kind == "Dial":
        source = event.get("peer")
    elif kind in ("PlaybackStarted", "PlaybackContinuing", "PlaybackFinished"):
        target = str(event.get("playback", {}).get("target_uri", ""))
        return target.removeprefix("channel:") if target.startswith("channel:") else None
    else:
        source = event.get("channel")
    if isinstance(source, dict) and isinstance(source.get("id"), str):
        return str(source["id"])
    return None
