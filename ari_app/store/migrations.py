"""The database schema as numbered migrations, applied in order at start, the same ones on
SQLite and PostgreSQL.

The engine keeps the number of the last one applied, written in the same transaction
as its changes, and holds a lock for each so that two instances starting together do
not race (SQLite: an immediate transaction; PostgreSQL: a transaction-level advisory
lock). A database made before migrations existed (version 0 with tables) is brought
to version 1 without losing a row: migration 1 creates what is missing and adds the
columns later releases added. A new change of the schema is a new migration at the
end of the list; a shipped one is never edited.

The DDL is SQLite's spelling; `REAL` means a 64-bit float (PostgreSQL's schema writes
DOUBLE PRECISION for it, postgres.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ari_app.errors import StoreError

if TYPE_CHECKING:
    from ari_app.store.database import Connection


class Schema(Protocol):
    """What a migration and `migrate` do to a database, in its engine's words."""

    def exclusive(self) -> AbstractContextManager[None]:
        """A transaction no other migrating process runs beside."""
    def version(self) -> int: ...
    def set_version(self, version: int) -> None: ...
    def script(self, ddl: str) -> None: ...
    def columns(self, table: str) -> set[str]: ...
    def insertion_order(self, table: str) -> None:
        """Give `table` a `rowid` column numbering its rows in the order they came."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Schema], None]


@contextmanager
def transaction(db: Connection, begin: str, *first: tuple[str, Sequence[Any]]) -> Iterator[None]:
    """`begin`, then the `first` statements, the block, and COMMIT (ROLLBACK if it raises)."""
    db.execute(begin)
    try:
        for sql, params in first:
            db.execute(sql, params)
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def statements(ddl: str) -> Iterator[str]:
    return (statement for statement in ddl.split(";") if statement.strip())


_BASELINE = """
CREATE TABLE IF NOT EXISTS calls (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    carrier_id TEXT NOT NULL,
    to_number TEXT NOT NULL,
    caller_id TEXT NOT NULL,
    entry_types TEXT NOT NULL,
    request TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    answered_at REAL,
    ended_at REAL,
    cause INTEGER,
    cause_txt TEXT,
    sip_code INTEGER,
    played INTEGER NOT NULL DEFAULT 0,
    answer_to_audio_ms REAL,
    speech_engines TEXT,
    audio_seconds REAL,
    error_id TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS calls_unfinished ON calls (state) WHERE request IS NOT NULL;
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    body_hash TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
    call_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    carrier_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    sip_code INTEGER,
    cause INTEGER,
    cause_txt TEXT,
    outcome TEXT,
    PRIMARY KEY (call_id, n)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL,
    url TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    next_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    delivered_at REAL
);
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    carriers TEXT,
    countries TEXT,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS breaker (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    tripped_at REAL NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_call ON deliveries (call_id);
"""
# Columns added to `calls` by releases before migrations were numbered.
_ADDED_COLUMNS = {"callback_url": "TEXT", "api_key": "TEXT", "client": "TEXT",
                  "est_cost": "REAL"}
_INDEXES = """
CREATE INDEX IF NOT EXISTS calls_to ON calls (to_number, created_at);
CREATE INDEX IF NOT EXISTS calls_key ON calls (api_key, created_at);
CREATE INDEX IF NOT EXISTS calls_client ON calls (client, created_at);
CREATE INDEX IF NOT EXISTS calls_created ON calls (created_at);
"""


def _baseline(schema: Schema) -> None:
    """The schema of every release before numbered migrations: created, or completed."""
    schema.script(_BASELINE)
    schema.insertion_order("deliveries")  # the order a call's events are sent in
    have = schema.columns("calls")
    schema.script(";".join(f"ALTER TABLE calls ADD COLUMN {column} {kind}"
                           for column, kind in _ADDED_COLUMNS.items() if column not in have))
    schema.script(_INDEXES)


def _delivery_report(schema: Schema) -> None:
    schema.script("ALTER TABLE calls ADD COLUMN delivery TEXT")


_VERIFICATIONS = """
CREATE TABLE verifications (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    to_number TEXT NOT NULL,
    carrier_id TEXT NOT NULL,
    api_key TEXT,
    locale TEXT NOT NULL,
    code_length INTEGER NOT NULL,
    code_hash TEXT,
    code_sealed TEXT,
    request TEXT NOT NULL,
    callback_url TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    sends INTEGER NOT NULL DEFAULT 0,
    last_send_at REAL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    ended_at REAL
);
CREATE INDEX verifications_pending ON verifications (to_number, api_key)
    WHERE status = 'pending';
CREATE INDEX verifications_expiry ON verifications (expires_at) WHERE status = 'pending';
CREATE INDEX verifications_created ON verifications (created_at);
CREATE TABLE sealing (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL
);
ALTER TABLE calls ADD COLUMN verification_id TEXT;
CREATE INDEX calls_verification ON calls (verification_id) WHERE verification_id IS NOT NULL;
"""


def _verifications(schema: Schema) -> None:
    schema.script(_VERIFICATIONS)


_SHARED = """
ALTER TABLE calls ADD COLUMN owner TEXT;
ALTER TABLE calls ADD COLUMN slot_carrier TEXT;
ALTER TABLE calls ADD COLUMN canceled_at REAL;
CREATE INDEX calls_owner ON calls (owner) WHERE request IS NOT NULL;
CREATE INDEX calls_slots ON calls (slot_carrier) WHERE slot_carrier IS NOT NULL;
CREATE TABLE carrier_pacing (
    carrier_id TEXT PRIMARY KEY,
    next_at REAL NOT NULL
);
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    stopped_at REAL
)
"""


def _shared(schema: Schema) -> None:
    schema.script(_SHARED)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "calls, attempts, idempotency keys, callback deliveries, API keys, breaker",
              _baseline),
    Migration(2, "each call's delivery report (verdict, keys, machine detection)",
              _delivery_report),
    Migration(3, "verifications (the code sealed and hashed while pending); each call's "
              "verification; the sealing key's fingerprint", _verifications),
    Migration(4, "several instances on one database: each call's owner, the carrier "
              "channel it holds and a cancel asked elsewhere, each carrier's pacing, the "
              "instances and their heartbeats",
              _shared),
)


def migrate(schema: Schema, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply every migration newer than the database, each in an exclusive transaction of
    its own (a second process starting at once waits its turn, then finds the work
    done). Returns the version reached."""
    known = migrations[-1].version if migrations else 0
    for migration in migrations:
        with schema.exclusive():
            have = schema.version()
            if have > known:
                raise StoreError(f"the database's schema is version {have}, newer than this "
                                 f"ari-app knows ({known}): run the newer release, or restore "
                                 "a backup")
            if migration.version > have:
                migration.apply(schema)
                schema.set_version(migration.version)
    with schema.exclusive():
        return schema.version()
