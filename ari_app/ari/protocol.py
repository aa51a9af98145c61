"""What the service needs from ARI, as a Protocol a test fake can implement."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

Event = Mapping[str, Any]
"""One event from the /events websocket, as Asterisk sends it (`type`, `channel`...)."""

EventHandler = Callable[[Event], Awaitable[None]]
ConnectHandler = Callable[[], Awaitable[None]]


class Ari(Protocol):
    @property
    def connected(self) -> bool:
        """True while the events websocket is up; originate only then."""

    async def wait_connected(self, timeout: float) -> bool: ...

    async def originate(
        self,
        *,
        channel_id: str,
        endpoint: str,
        context: str,
        caller_id: str,
        timeout: int,
        variables: Mapping[str, str],
    ) -> None:
        """Dial `endpoint`; once answered, the channel runs `context`, extension `s`."""

    async def watch(self, endpoint: str) -> None:
        """Subscribe the application to every channel of `endpoint` (`PJSIP/<name>`), from
        its creation on, also outside Stasis; once per endpoint and connection."""

    async def channel_app(self, channel_id: str) -> str | None:
        """The application the channel is running now (`Playback`, `Stasis`...); None if
        there is no such channel."""

    async def play(self, *, channel_id: str, playback_id: str, media: Sequence[str]) -> None: ...

    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...

    async def channels(self) -> dict[str, str]:
        """Every channel Asterisk has now: id -> state (`Up`, `Ringing`...)."""

    async def playback_exists(self, playback_id: str) -> bool: ...

    async def ping(self) -> bool: ...
