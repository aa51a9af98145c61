"""LISTEN/NOTIFY: an instance is told at once when any instance frees a carrier channel,
so a call waiting here for that carrier is let through without waiting for a poll; and
when a call it owns is to be canceled through another instance's API.

LISTEN holds a connection of its own (psycopg's `notifies()` blocks the connection it
runs on), on a thread of its own; it connects again after the server went away.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import psycopg

log = logging.getLogger(__name__)
CHANNEL = "ari_app_slots"
CANCEL = "ari_app_cancel"
"""Its payload: the id of the call to cancel."""
_POLL = 1.0
"""Seconds between looks at the stop flag while no notice comes."""


class Listener:
    def __init__(self, url: str, on_notice: Callable[[], None],
                 on_cancel: Callable[[str], object] = lambda _: None,
                 on_listening: Callable[[], None] | None = None) -> None:
        """`on_listening`: after each (re)connect, to catch up what was told meanwhile
        (by default `on_notice`)."""
        self._url = url
        self._on_notice = on_notice
        self._on_cancel = on_cancel
        self._on_listening = on_listening or on_notice
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._listen, name="listen", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        assert self._loop is not None
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5,
                                     application_name="ari-app listen") as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    conn.execute(f"LISTEN {CANCEL}")
                    # Whatever was told while not listening is caught up at once.
                    self._loop.call_soon_threadsafe(self._on_listening)
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=_POLL):
                            if notice.channel == CANCEL:
                                self._loop.call_soon_threadsafe(self._on_cancel,
                                                                notice.payload)
                            else:
                                self._loop.call_soon_threadsafe(self._on_notice)
            except psycopg.Error as exc:
                log.warning("LISTEN connection lost (%s); connecting again",
                            type(exc).__name__)
                self._stop.wait(1.0)
            except RuntimeError:  # the event loop closed: the service is stopping
                return

    async def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
