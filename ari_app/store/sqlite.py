"""The SQLite store: one database file, its engine and every repository over it."""

from __future__ import annotations

from pathlib import Path

from ari_app.errors import StoreError
from ari_app.sealing import Sealer
from ari_app.store.breaker import SqliteBreaker
from ari_app.store.calls import SqliteCalls
from ari_app.store.database import Database
from ari_app.store.idempotency import SqliteIdempotency
from ari_app.store.keys import SqliteKeys
from ari_app.store.outbox import SqliteOutbox
from ari_app.store.verifications import SqliteVerifications

_FORGET_KEY = "DELETE FROM sealing"


class SqliteStore:
    def __init__(self, path: Path, key_file: Path | None = None) -> None:
        """`key_file`: the sealing key's file (sealing.py); by default beside the database."""
        self._db = Database(path)
        key_file = key_file or path.parent / "ari-app.key"
        self.sealer = Sealer.from_file(key_file)
        self._check_key(path, key_file)
        self.calls = SqliteCalls(self._db, self.sealer)
        self.outbox = SqliteOutbox(self._db)
        self.keys = SqliteKeys(self._db)
        self.breaker = SqliteBreaker(self._db)
        self.idempotency = SqliteIdempotency(self._db)
        self.verifications = SqliteVerifications(self._db)

    def _check_key(self, path: Path, key_file: Path) -> None:
        """The database remembers its key's fingerprint: another key cannot open what the
        first one sealed, nor check a code it hashed, so the service refuses to start."""
        db = self._db.writer
        row = db.execute("SELECT fingerprint FROM sealing").fetchone()
        if row is None:
            db.execute("INSERT INTO sealing (id, fingerprint) VALUES (1, ?)",
                       (self.sealer.fingerprint,))
        elif row[0] != self.sealer.fingerprint:
            raise StoreError(
                f"{key_file} is not the key {path.name} was sealed with: put back the key file "
                f"it had. If that key is lost for good, `sqlite3 {path} '{_FORGET_KEY}'` "
                "lets the service start with this one: calls queued and verifications pending "
                "then end failed, their codes unreadable.")

    async def ping(self) -> None:
        await self._db.ping()

    async def close(self) -> None:
        await self._db.close()
