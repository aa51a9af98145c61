"""What the service needs from ARI, as a Protocol a test fake can implement."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from ari_app.ari.asterisk import Originate
from ari_app.ari.events import AriEvent

EventHandler = Callable[[AriEvent], Awaitable[None]]
ConnectHandler = Callable[[], Awaitable[None]]
"""Called after each (re)connect of the events websocket."""


class Ari(Protocol):
    async def run(self) -> None:
        """Keep the events connection up until cancelled."""

    async def close(self) -> None: ...

    @property
    def connected(self) -> bool:
        """True while the events websocket is up; originate only then."""

    async def wait_connected(self, timeout: float) -> bool: ...

    def reachable(self, channel_id: str) -> bool:
        """Whether the Asterisk holding the channel can be asked now (with several nodes,
        one may be down while another lists its channels)."""

    async def originate(self, call: Originate) -> None:
        """Dial; once answered, the channel runs the call context (asterisk.py)."""

    async def watch(self, trunk: str) -> None:
        """Subscribe the application to every channel of the trunk's endpoint, from its
        creation on, also outside Stasis; once per trunk and connection."""

    async def channel_app(self, channel_id: str) -> str | None:
        """The application the channel is running now (`Playback`, `Stasis`...); None if
        there is no such channel."""

    async def play(self, *, channel_id: str, playback_id: str, sounds: Sequence[str]) -> None:
        """Play sounds (file names without extension) in order, as one playback."""

    async def channel_variable(self, channel_id: str, name: str) -> str:
        """A dialplan variable of the channel; empty if it is not set."""

    async def stop_playback(self, playback_id: str) -> None:
        """Stop a playback (a prompt the callee answered with a key); gone already is fine."""

    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...

    async def channels(self) -> dict[str, str]:
        """Every channel Asterisk has now: id -> state (`Up`, `Ringing`...)."""

    async def playback_exists(self, playback_id: str) -> bool: ...

    async def ping(self) -> bool: ...
