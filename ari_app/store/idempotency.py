"""Idempotency keys: the call first placed with each key, and a hash of the body it came
with. A key is written in the same transaction as its call (calls repository)."""

from __future__ import annotations

from ari_app.store.database import Database
from ari_app.store.records import Idempotency


class SqlIdempotency:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def first(self, key: str) -> tuple[Idempotency, str] | None:
        """The key as first used (with its body's hash), and the id of its call."""
        row = await self._db.fetchone(
            "SELECT body_hash, request_id FROM idempotency WHERE key=?", (key,))
        return None if row is None else (Idempotency(key, str(row[0])), str(row[1]))
