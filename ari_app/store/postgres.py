"""PostgreSQL (`storage.url: postgresql://…`), through psycopg 3.

Why psycopg 3 rather than asyncpg: the repositories are plain DB-API code that runs on
the store's thread inside the group commit (database.py); psycopg 3's connection has
the same shape as sqlite3's, so one repository runs on both engines, where asyncpg
would need a second, async copy of every one. psycopg also speaks LISTEN/NOTIFY and
works behind PgBouncer in transaction mode without settings of its own.

The repositories write SQLite's placeholders (`?`); this module turns them into
psycopg's (`%s`) once per statement, and booleans into integers (the schema keeps
flags as INTEGER on both engines). The schema's version is a row of
`ari_app_schema`; each migration takes a transaction-level advisory lock first, so two
instances starting together migrate once. Several instances share one database
(ari_app/cluster/).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ari_app.store.database import Connection, Cursor
from ari_app.store.migrations import migrate, statements, transaction

_MIGRATION_LOCK = 0x61726961_70700001
"""Advisory lock keys: 'ariapp' and a number, so they stand apart from an admin's own."""
_SLOTS_LOCK = 0x61726961_70700002
_REAL = re.compile(r"\bREAL\b")
CONNECT_TIMEOUT = 5


def describe(url: str) -> str:
    """The database as messages name it: its name and host, never its password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the PostgreSQL database of storage.url"
    host = parts.get("host") or "the local socket"
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"PostgreSQL database {parts.get('dbname') or '(default)'} at {host}{port}"


class _PgConnection:
    """A psycopg connection that takes the repositories' `?` placeholders."""

    _translated: ClassVar[dict[str, str]] = {}

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        if not params:
            return self.conn.execute(sql)
        query = self._translated.get(sql)
        if query is None:
            query = self._translated[sql] = sql.replace("%", "%%").replace("?", "%s")
        values = tuple(int(p) if isinstance(p, bool) else p for p in params)
        return self.conn.execute(query, values)

    def close(self) -> None:
        self.conn.close()


class PostgresSchema:
    """Migrations' view of one PostgreSQL connection (autocommit mode)."""

    def __init__(self, db: _PgConnection) -> None:
        self._db = db

    def exclusive(self) -> AbstractContextManager[None]:
        return transaction(self._db, "BEGIN",
                           ("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,)),
                           ("CREATE TABLE IF NOT EXISTS ari_app_schema (version INTEGER)", ()))

    def version(self) -> int:
        row = self._db.execute("SELECT version FROM ari_app_schema").fetchone()
        return 0 if row is None else int(row[0])

    def set_version(self, version: int) -> None:
        self._db.execute("DELETE FROM ari_app_schema")
        self._db.execute("INSERT INTO ari_app_schema (version) VALUES (?)", (version,))

    def script(self, ddl: str) -> None:
        for statement in statements(_REAL.sub("DOUBLE PRECISION", ddl)):
            self._db.execute(statement)

    def columns(self, table: str) -> set[str]:
        rows = self._db.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?", (table,)).fetchall()
        return {row[0] for row in rows}

    def insertion_order(self, table: str) -> None:
        self._db.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS rowid BIGINT "
                         "GENERATED ALWAYS AS IDENTITY")


class PostgresEngine:
    begin = "BEGIN"
    errors: tuple[type[Exception], ...] = (psycopg.Error,)
    lost: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg.InterfaceError)
    reads_inline = False
    snapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

    slots_lock = f"SELECT pg_advisory_xact_lock({_SLOTS_LOCK})"
    """Taken by every grant of carrier channels: grants of all instances, one at a time."""
    slots_freed: str | None = "NOTIFY ari_app_slots"
    clock = "(extract(epoch FROM clock_timestamp())::float8)"

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = describe(url)

    def connect(self, *, read_only: bool) -> Connection:
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                               application_name="ari-app")
        db = _PgConnection(conn)
        if read_only:
            db.execute("SET default_transaction_read_only = on")
        return db

    def is_alive(self, db: Connection) -> bool:
        assert isinstance(db, _PgConnection)
        return not (db.conn.closed or db.conn.broken)

    def migrate(self, db: Connection) -> int:
        assert isinstance(db, _PgConnection)
        return migrate(PostgresSchema(db))

    def forget_key_hint(self, statement: str) -> str:
        return f"`psql <storage.url> -c '{statement}'`"
