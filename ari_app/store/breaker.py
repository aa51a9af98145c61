"""The circuit breaker's state: one row while it is tripped, none while it is closed, so
a trip outlives restarts until an admin resets it."""

from __future__ import annotations

import time

from ari_app.store.database import Database
from ari_app.store.records import BreakerTrip


class SqlBreaker:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def state(self) -> BreakerTrip | None:
        row = await self._db.read_one("SELECT tripped_at, reason FROM breaker")
        return None if row is None else BreakerTrip(float(row[0]), str(row[1]))

    async def trip(self, reason: str) -> None:
        """Trip it, unless it is tripped already (the first reason stays)."""
        await self._db.execute(
            "INSERT INTO breaker (id, tripped_at, reason) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            (time.time(), reason))

    async def reset(self) -> None:
        await self._db.execute("DELETE FROM breaker")
