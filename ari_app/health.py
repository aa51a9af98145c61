"""Is everything the service needs working? ARI, AMI, the database, each speech engine,
and each carrier's registration and reachability as Asterisk sees them.

Engines are checked by speaking a short word, at most once a minute, so the
health endpoint is cheap to poll.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ari_app.ami import Ami
from ari_app.ari import Ari
from ari_app.ari.nodes import AriNodes
from ari_app.carriers import Carrier
from ari_app.errors import SpeechError
from ari_app.settings import Current
from ari_app.speech import Engine
from ari_app.store import Pingable

CHECK_EVERY = 60.0
CARRIERS_EVERY = 5.0
_PROBES = (("en-US", "female"), ("en-US", "male"), ("es-ES", "female"))


@dataclass
class EngineHealth:
    ok: bool
    checked_at: float
    milliseconds: float
    error: str | None = None


async def check_engine(engine: Engine) -> EngineHealth:
    voice = next((v for lang, gender in _PROBES if (v := engine.voice(lang, gender))), None)
    started = time.monotonic()
    if voice is None:
        return EngineHealth(False, time.time(), 0.0, "no voice to test with")
    try:
        await engine.synthesize("1.", voice=voice, speed=1.0)
    except SpeechError as exc:
        return EngineHealth(False, time.time(), (time.monotonic() - started) * 1000, str(exc))
    return EngineHealth(True, time.time(), (time.monotonic() - started) * 1000)


class Health:
    def __init__(self, *, current: Current, ari: Ari, database: Pingable,
                 engines: list[Engine], ami: Ami | None = None,
                 live: Callable[[Sequence[Carrier]], Awaitable[dict[str, dict[str, Any]]]]
                 | None = None) -> None:
        self._current = current
        self._ari = ari
        self._database = database
        self._engines = engines
        self._ami = ami
        self._live = live
        """Each carrier's registration and reachability, as AMI tells them."""
        self._last: dict[str, EngineHealth] = {}
        self._carriers_seen: tuple[float, dict[str, Any]] = (-CARRIERS_EVERY, {})

    async def engines(self) -> dict[str, EngineHealth]:
        for engine in self._engines:
            last = self._last.get(engine.name)
            if last is None or time.time() - last.checked_at > CHECK_EVERY:
                self._last[engine.name] = await check_engine(engine)
        return dict(self._last)

    async def carriers(self) -> dict[str, Any]:
        """Each carrier's registration and reachability, asked of AMI at most every few seconds."""
        if self._live is None:
            return {}
        at, last = self._carriers_seen
        if time.monotonic() - at > CARRIERS_EVERY:
            carriers = self._current.settings.carriers
            last = await self._live([carriers[c] for c in sorted(carriers)])
            self._carriers_seen = (time.monotonic(), last)
        return last

    async def report(self) -> dict[str, Any]:
        try:
            await self._database.ping()
            database = True
        except Exception:  # any failure of the store is what this reports
            database = False
        engines = await self.engines()
        ami = await self._ami.ping() if self._ami is not None else None
        carriers = await self.carriers()
        ok = self._ari.connected and database and any(e.ok for e in engines.values()) \
            and ami is not False
        return {
            "status": "ok" if ok else "degraded",
            "ari": {"connected": self._ari.connected} | (
                {"nodes": self._ari.connected_nodes()} if isinstance(self._ari, AriNodes)
                else {}),
            "ami": {"ok": ami},
            "database": {"ok": database},
            "carriers": carriers,
            "speech_engines": {name: {"ok": h.ok, "milliseconds": round(h.milliseconds, 1),
                                      "error": h.error} for name, h in engines.items()},
        }
