"""Routes ARI events to the attempt whose channel they concern, by the channel id we chose,
as signals; and the reconnect's commands (a channel lost, or still there) to the attempt
of that channel. An attempt takes a cancel directly (Attempt.cancel).

Routing only enqueues: nothing here blocks the websocket reader, and an event of a
channel no attempt has open is dropped.
"""

from __future__ import annotations

import asyncio

from ari_app.ari.events import AriEvent
from ari_app.call.signals import Command, Message
from ari_app.call.stasis import signal_of

Inbox = asyncio.Queue[Message]


class Router:
    def __init__(self) -> None:
        self._inboxes: dict[str, Inbox] = {}
        self._last: dict[str, AriEvent] = {}

    def open(self, channel_id: str) -> Inbox:
        inbox: Inbox = asyncio.Queue()
        self._inboxes[channel_id] = inbox
        return inbox

    def close(self, channel_id: str) -> None:
        self._inboxes.pop(channel_id, None)
        self._last.pop(channel_id, None)

    @property
    def channel_ids(self) -> set[str]:
        return set(self._inboxes)

    def send(self, channel_id: str, command: Command) -> None:
        inbox = self._inboxes.get(channel_id)
        if inbox is not None:
            inbox.put_nowait(command)

    async def route(self, event: AriEvent) -> None:
        inbox = self._inboxes.get(event.channel_id)
        if inbox is None:
            return
        # A channel in Stasis is also one of the carrier endpoint's, which the application
        # watches: Asterisk sends each of its events twice. The client drops a copy that
        # follows at once, before parsing it; this drops one with another event between.
        if event == self._last.get(event.channel_id):
            return
        self._last[event.channel_id] = event
        signal = signal_of(event)
        if signal is not None:
            inbox.put_nowait(signal)
