"""What an attempt knows of the answering-machine detection: how long AMD() took to decide
(from its dialplan step to the next), and, after a reconnect that lost StasisStart, what
it said and whether the media was refused (read from the channel's variables)."""

from __future__ import annotations

import time
from dataclasses import replace

from ari_app.ari import Ari
from ari_app.ari.asterisk import MEDIA_REFUSED, MEDIA_VARIABLE
from ari_app.call.signals import FirstEntryPlayed, MediaRefused
from ari_app.verdict import MachineCheck


class Detection:
    def __init__(self, *, enabled: bool, ari: Ari, channel_id: str) -> None:
        self._enabled = enabled
        self._ari = ari
        self._channel_id = channel_id
        self._since: float | None = None
        """Monotonic time AMD() began listening."""
        self._decision_ms: int | None = None

    def started(self) -> None:
        self._since = time.monotonic()

    def moved_on(self) -> None:
        """The dialplan went past AMD(): its decision is made."""
        if self._since is not None and self._decision_ms is None:
            self._decision_ms = round((time.monotonic() - self._since) * 1000)

    def timed(self, machine: MachineCheck | None) -> MachineCheck | None:
        """What AMD() said, with how long it took."""
        return None if machine is None else replace(machine, decision_ms=self._decision_ms)

    async def handover(self) -> FirstEntryPlayed | MediaRefused:
        """What StasisStart would have told (it was missed): plain media where SRTP was
        demanded (nothing played), else the first part played and what AMD() said."""
        if await self._ari.channel_variable(self._channel_id, MEDIA_VARIABLE) == MEDIA_REFUSED:
            return MediaRefused()
        return FirstEntryPlayed(ok=True, machine=await self._read())

    async def _read(self) -> MachineCheck | None:
        """What AMD() said, from the channel (StasisStart, which tells it, was missed)."""
        if not self._enabled:
            return None
        status = await self._ari.channel_variable(self._channel_id, "AMDSTATUS")
        cause = await self._ari.channel_variable(self._channel_id, "AMDCAUSE")
        return MachineCheck(status, cause, None) if status else None
