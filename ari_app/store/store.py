"""The store: its engine (SQLite or PostgreSQL) and every repository over it."""

from __future__ import annotations

from pathlib import Path

from ari_app.errors import StoreError
from ari_app.sealing import Sealer
from ari_app.settings import Settings
from ari_app.store.breaker import SqlBreaker
from ari_app.store.calls import SqlCalls
from ari_app.store.database import Database, Engine
from ari_app.store.idempotency import SqlIdempotency
from ari_app.store.instances import SqlInstances
from ari_app.store.keys import SqlKeys
from ari_app.store.outbox import SqlOutbox
from ari_app.store.slots import SqlSlots
from ari_app.store.verifications import SqlVerifications

_FORGET_KEY = "DELETE FROM sealing"


class Store:
    def __init__(self, engine: Engine, key_file: Path, *, instance: str | None = None) -> None:
        """`key_file`: the sealing key's file (sealing.py); `instance`: this instance's
        name when several share the database (its calls are marked as its own)."""
        self._db = Database(engine)
        self.sealer = Sealer.from_file(key_file)
        self._check_key(engine, key_file)
        self.calls = SqlCalls(self._db, self.sealer, owner=instance)
        self.slots = SqlSlots(self._db, owner=instance)
        self.instances = SqlInstances(self._db)
        self.outbox = SqlOutbox(self._db)
        self.keys = SqlKeys(self._db)
        self.breaker = SqlBreaker(self._db)
        self.idempotency = SqlIdempotency(self._db)
        self.verifications = SqlVerifications(self._db)

    @classmethod
    def sqlite(cls, path: Path, key_file: Path | None = None) -> Store:
        """By default the key lies beside the database."""
        from ari_app.store.sqlite import SqliteEngine
        return cls(SqliteEngine(path), key_file or path.parent / "ari-app.key")

    @classmethod
    def postgres(cls, url: str, key_file: Path, *, instance: str | None = None) -> Store:
        from ari_app.store.postgres import PostgresEngine
        return cls(PostgresEngine(url), key_file, instance=instance)

    @property
    def url(self) -> str | None:
        """The PostgreSQL server's URL (for LISTEN), None on SQLite."""
        return getattr(self._db.engine, "url", None)

    def _check_key(self, engine: Engine, key_file: Path) -> None:
        """The database remembers its key's fingerprint: another key cannot open what the
        first one sealed, nor check a code it hashed, so the service refuses to start."""
        db = self._db.writer
        db.execute("INSERT INTO sealing (id, fingerprint) VALUES (1, ?) "
                   "ON CONFLICT (id) DO NOTHING", (self.sealer.fingerprint,))
        (fingerprint,) = db.execute("SELECT fingerprint FROM sealing").fetchone()
        if fingerprint != self.sealer.fingerprint:
            raise StoreError(
                f"{key_file} is not the key {engine.name} was sealed with: put back the key "
                f"file it had (every instance on one database needs the same one). If that "
                f"key is lost for good, {engine.forget_key_hint(_FORGET_KEY)} lets the "
                "service start with this one: calls queued and verifications pending then "
                "end failed, their codes unreadable.")

    async def ping(self) -> None:
        await self._db.ping()

    async def close(self) -> None:
        await self._db.close()


def open_store(settings: Settings, *, tool: bool = False) -> Store:
    """The database the settings name, migrated. `tool`: for `ari-app keys`, beside the
    running instances, not one of them."""
    key_file = settings.key_file or settings.storage_path.parent / "ari-app.key"
    if settings.storage_url is not None:
        instance = None if tool or settings.cluster is None else settings.cluster.instance
        return Store.postgres(settings.storage_url.reveal(), key_file, instance=instance)
    return Store.sqlite(settings.storage_path, key_file)
