"""SQLite, the embedded default for one box: a file, in WAL mode, fsync on every commit.

The schema's version is `PRAGMA user_version`; a migration runs in an immediate
transaction, so a second process starting at once waits its turn, then finds the work
done.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path

from ari_app.store.database import Connection
from ari_app.store.migrations import migrate, statements, transaction


class SqliteSchema:
    """Migrations' view of one SQLite connection (autocommit mode)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def exclusive(self) -> AbstractContextManager[None]:
        return transaction(self._db, "BEGIN IMMEDIATE")

    def version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def set_version(self, version: int) -> None:
        # PRAGMA takes no parameters; the version is our own integer.
        self._db.execute(f"PRAGMA user_version = {int(version)}")

    def script(self, ddl: str) -> None:
        for statement in statements(ddl):
            self._db.execute(statement)

    def columns(self, table: str) -> set[str]:
        return {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}

    def insertion_order(self, table: str) -> None:
        """Every SQLite table has its `rowid`: the order rows were inserted in."""


class SqliteEngine:
    begin = "BEGIN IMMEDIATE"
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)
    lost: tuple[type[Exception], ...] = ()
    reads_inline = True
    snapshot = "BEGIN"
    slots_lock = "SELECT 1"
    """A write transaction is exclusive already (BEGIN IMMEDIATE)."""
    slots_freed: str | None = None
    clock = "((julianday('now') - 2440587.5) * 86400.0)"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.name = path.name

    def connect(self, *, read_only: bool) -> Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if read_only:
            db.execute("PRAGMA query_only=ON")
            return db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        # Erased requests are overwritten, not just unlinked from the b-tree.
        db.execute("PRAGMA secure_delete=ON")
        return db

    def is_alive(self, db: Connection) -> bool:
        return True

    def migrate(self, db: Connection) -> int:
        assert isinstance(db, sqlite3.Connection)
        reached = migrate(SqliteSchema(db))
        self.path.chmod(0o600)
        return reached

    def forget_key_hint(self, statement: str) -> str:
        return f"`sqlite3 {self.path} '{statement}'`"
