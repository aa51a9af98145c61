"""An attempt's one timer: it drops a TimerFired into the attempt's inbox when the time to
act comes, so time is one more message the attempt reacts to in order."""

from __future__ import annotations

import asyncio

from ari_app.call.router import Inbox
from ari_app.call.signals import TimerFired


class Timer:
    """One timer that drops a TimerFired into the inbox, moved only when the time to act
    changes (a timeout around every wait for a message showed in profiles)."""

    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox
        self._handle: asyncio.TimerHandle | None = None
        self._at = 0.0
        self._token: TimerFired | None = None

    def set(self, at: float) -> None:
        if self._handle is not None and at == self._at:
            return
        self.cancel()
        self._token = TimerFired()
        self._handle = asyncio.get_running_loop().call_at(at, self._inbox.put_nowait,
                                                          self._token)
        self._at = at

    def is_current(self, fired: TimerFired) -> bool:
        """Whether `fired` is this timer's latest, not one of a time moved since."""
        if fired is not self._token:
            return False
        self._handle = None  # it fired: the next round sets the next one
        return True

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
