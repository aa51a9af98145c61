"""The SQLite store: one database file, its engine and every repository over it."""

from __future__ import annotations

from pathlib import Path

from ari_app.sealing import Sealer
from ari_app.store.breaker import SqliteBreaker
from ari_app.store.calls import SqliteCalls
from ari_app.store.database import Database
from ari_app.store.idempotency import SqliteIdempotency
from ari_app.store.keys import SqliteKeys
from ari_app.store.outbox import SqliteOutbox
from ari_app.store.verifications import SqliteVerifications


class SqliteStore:
    def __init__(self, path: Path, key_file: Path | None = None) -> None:
        """`key_file`: the sealing key's file (sealing.py); by default beside the database."""
        self._db = Database(path)
        self.sealer = Sealer.from_file(key_file or path.parent / "ari-app.key")
        self.calls = SqliteCalls(self._db, self.sealer)
        self.outbox = SqliteOutbox(self._db)
        self.keys = SqliteKeys(self._db)
        self.breaker = SqliteBreaker(self._db)
        self.idempotency = SqliteIdempotency(self._db)
        self.verifications = SqliteVerifications(self._db)

    async def ping(self) -> None:
        await self._db.ping()

    async def close(self) -> None:
        await self._db.close()
