"""Where calls are kept: SQLite by default, behind a small interface.

A call is written before the API answers 202, and every state change after.
The request (which may hold a code) is kept only while the call is unfinished,
so a restarted service can still place it, and is erased once the call ends.
SQLite work runs on one dedicated thread so the event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

from ari_app.auth import ApiKey
from ari_app.outcome import FINAL, State
from ari_app.playlist import KINDS, CallRequest, Entry

_SCHEMA = """
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
    error TEXT,
    callback_url TEXT,
    api_key TEXT,
    client TEXT,
    est_cost REAL
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
CREATE_LATER = """
CREATE INDEX IF NOT EXISTS calls_to ON calls (to_number, created_at);
CREATE INDEX IF NOT EXISTS calls_key ON calls (api_key, created_at);
CREATE INDEX IF NOT EXISTS calls_client ON calls (client, created_at);
CREATE INDEX IF NOT EXISTS calls_created ON calls (created_at);
"""
# Columns added after the first release, for databases made before them.
_ADDED = {"callback_url": "TEXT", "api_key": "TEXT", "client": "TEXT", "est_cost": "REAL"}


@dataclass(frozen=True)
class CallRecord:
    id: str
    state: str
    carrier_id: str
    to_number: str
    caller_id: str
    entry_types: str
    created_at: float
    updated_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    cause: int | None = None
    cause_txt: str | None = None
    sip_code: int | None = None
    played: int = 0
    answer_to_audio_ms: float | None = None
    speech_engines: str | None = None
    audio_seconds: float | None = None
    error_id: str | None = None
    error: str | None = None


_COLUMNS = tuple(f.name for f in fields(CallRecord))


@dataclass(frozen=True)
class Attempt:
    """One originate of a call on one carrier."""

    n: int
    carrier_id: str
    channel_id: str
    started_at: float
    ended_at: float | None = None
    sip_code: int | None = None
    cause: int | None = None
    cause_txt: str | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class Delivery:
    """One callback event and how its delivery is going."""

    id: str
    call_id: str
    url: str
    state: str
    body: str
    created_at: float
    next_at: float
    attempts: int
    last_status: int | None
    last_error: str | None
    delivered_at: float | None


_ATTEMPTS_OF = (f"SELECT {','.join(f.name for f in fields(Attempt))} FROM attempts "  # noqa: S608
                "WHERE call_id=? ORDER BY n")
_DELIVERY_COLUMNS = ",".join(f.name for f in fields(Delivery))
_DELIVERIES_OF = (f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE call_id=? "  # noqa: S608
                  "ORDER BY created_at, rowid")


def _check_fields(changes: dict[str, Any], allowed: Sequence[str], what: str) -> None:
    """ValueError if a name in `changes` is not a field of `what` (names go into SQL)."""
    unknown = set(changes) - set(allowed)
    if unknown:
        raise ValueError(f"unknown {what} fields: {sorted(unknown)}")
_KEY_COLUMNS = "id, name, carriers, countries, created_at, revoked_at"


def _json_or_none(values: tuple[str, ...] | None) -> str | None:
    return None if values is None else json.dumps(list(values))


def _key(row: Any) -> ApiKey:
    key_id, name, carriers, countries, created_at, revoked_at = row
    return ApiKey(id=key_id, name=name,
                  carriers=None if carriers is None else tuple(json.loads(carriers)),
                  countries=None if countries is None else tuple(json.loads(countries)),
                  created_at=created_at, revoked_at=revoked_at)


@dataclass(frozen=True)
class Idempotency:
    """A client's Idempotency-Key, with a hash of the body it first came with."""

    key: str
    body_hash: str


@dataclass(frozen=True)
class Origin:
    """Who asked for a call: for velocity limits and the spend estimate."""

    api_key: str | None = None
    client: str | None = None
    est_cost: float = 0.0
    admitted_at: float = 0.0


@dataclass(frozen=True)
class RecentCall:
    to_number: str
    api_key: str | None
    client: str | None
    created_at: float
    est_cost: float


class Store(Protocol):
    async def insert(self, call_id: str, request: CallRequest,
                     idempotency: Idempotency | None = None,
                     origin: Origin | None = None,
                     event: dict[str, Any] | None = None) -> CallRecord: ...
    async def recent_calls(self, since: float) -> list[RecentCall]:
        """Calls created after `since`: for the velocity limits after a restart."""
    async def idempotent(self, key: str) -> tuple[str, str] | None:
        """(body hash, request id) of the call first placed with this key."""
    async def update(self, call_id: str, *, event: dict[str, Any] | None = None,
                     attempt: Attempt | None = None,
                     attempt_end: tuple[int, dict[str, Any]] | None = None,
                     **changes: Any) -> None:
        """Change a call; with `event`, queue its callback, with `attempt`, record the
        attempt, with `attempt_end` (n, fields), end attempt n, in the same transaction."""
    async def get(self, call_id: str) -> CallRecord | None: ...
    async def end_attempt(self, call_id: str, n: int, **changes: Any) -> None: ...
    async def attempts(self, call_id: str) -> list[Attempt]: ...
    async def details(self, call_id: str) -> tuple[CallRecord, list[Attempt],
                                                     list[Delivery]] | None:
        """A call with its attempts and callback deliveries, in one read."""
    async def pending_deliveries(self, limit: int) -> list[Delivery]: ...
    async def delivery_done(self, delivery_id: str, **changes: Any) -> None: ...
    async def unfinished(self) -> list[tuple[CallRecord, CallRequest]]: ...
    async def add_key(self, key: ApiKey, key_hash: str) -> None: ...
    async def key(self, key_id: str) -> tuple[ApiKey, str] | None: ...
    async def keys(self) -> list[ApiKey]: ...
    async def revoke_key(self, key_id: str) -> bool: ...
    async def breaker(self) -> tuple[float, str] | None: ...
    async def trip_breaker(self, reason: str) -> None: ...
    async def reset_breaker(self) -> None: ...
    async def close(self) -> None: ...


_BY_KIND: dict[str, type[Entry]] = {kind: cls for cls, kind in KINDS.items()}


def encode_request(request: CallRequest) -> str:
    return json.dumps({
        "to": request.to, "caller_id": request.caller_id, "carrier_id": request.carrier_id,
        "playlist": [{"kind": KINDS[type(e)], **asdict(e)} for e in request.playlist],
        "callback_url": request.callback_url,
    })


def decode_request(text: str) -> CallRequest:
    data = json.loads(text)
    playlist = tuple(_BY_KIND[e.pop("kind")](**e) for e in data["playlist"])
    return CallRequest(to=data["to"], caller_id=data["caller_id"], carrier_id=data["carrier_id"],
                       playlist=playlist, callback_url=data.get("callback_url"))


def entry_types(playlist: Sequence[Entry]) -> str:
    return ",".join(KINDS[type(e)] for e in playlist)


class SqliteStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        # Erased requests are overwritten, not just unlinked from the b-tree.
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(_SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(calls)")}
        for column, kind in _ADDED.items():
            if column not in have:
                self._db.execute(f"ALTER TABLE calls ADD COLUMN {column} {kind}")
        self._db.executescript(CREATE_LATER)
        path.chmod(0o600)
        # Reads by key run on the event loop, on a connection of their own: in WAL mode
        # they never wait for a commit's fsync, and a thread hand-off costs more than they do.
        self._reader = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._reader.execute("PRAGMA query_only=ON")
        self._batch: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._flushing = False

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _write(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` in a transaction, committed (fsync) before this returns.

        Group commit: writes that arrive while a commit is on disk wait and go together
        in the next transaction, each in a savepoint of its own (one failing does not undo
        the others), so a burst costs one fsync, not one per write.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._batch.append((fn, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                try:
                    results = await self._run(self._commit, [fn for fn, _ in batch])
                except Exception as exc:  # the commit itself failed: every write did
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._flushing = False

    def _commit(self, writes: list[Callable[[], Any]]) -> list[Any]:
        results: list[Any] = []
        with self._db:  # BEGIN ... COMMIT
            self._db.execute("BEGIN IMMEDIATE")
            for write in writes:
                self._db.execute("SAVEPOINT one")
                try:
                    results.append(write())
                except sqlite3.Error as exc:
                    self._db.execute("ROLLBACK TO one")
                    results.append(exc)
                self._db.execute("RELEASE one")
        return results

    async def insert(self, call_id: str, request: CallRequest,
                     idempotency: Idempotency | None = None,
                     origin: Origin | None = None,
                     event: dict[str, Any] | None = None) -> CallRecord:
        """Store a new call, its idempotency key and its first callback event, together."""
        origin = origin or Origin()
        now = time.time()
        record = CallRecord(
            id=call_id, state=State.QUEUED, carrier_id=request.carrier_id,
            to_number=request.to, caller_id=request.caller_id,
            entry_types=entry_types(request.playlist), created_at=now, updated_at=now,
        )
        values = {**{c: getattr(record, c) for c in _COLUMNS}, "request": encode_request(request),
                  "callback_url": request.callback_url, "api_key": origin.api_key,
                  "client": origin.client, "est_cost": origin.est_cost}
        names = ",".join(values)
        marks = ",".join("?" for _ in values)
        def write() -> None:
            if idempotency is not None:
                self._db.execute(
                    "INSERT INTO idempotency (key, body_hash, request_id, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (idempotency.key, idempotency.body_hash, call_id, now))
            self._db.execute(f"INSERT INTO calls ({names}) VALUES ({marks})",  # noqa: S608
                             tuple(values.values()))
            if event is not None and request.callback_url is not None:
                self._add_delivery(call_id, event, now)

        await self._checked(write)
        return record

    async def _checked(self, write: Callable[[], Any]) -> None:
        result = await self._write(write)
        if isinstance(result, Exception):
            raise result

    def _add_delivery(self, call_id: str, event: dict[str, Any], now: float) -> None:
        event_id = str(uuid.uuid4())
        body = json.dumps({"event_id": event_id, **event}, separators=(",", ":"))
        self._db.execute(
            "INSERT INTO deliveries (id, call_id, url, state, body, created_at, next_at) "
            "SELECT ?, id, callback_url, 'pending', ?, ?, ? FROM calls "
            "WHERE id=? AND callback_url IS NOT NULL",
            (event_id, body, now, now, call_id))

    async def recent_calls(self, since: float) -> list[RecentCall]:
        def read() -> Any:
            return self._db.execute(
                "SELECT to_number, api_key, client, created_at, COALESCE(est_cost, 0) "
                "FROM calls WHERE created_at > ? ORDER BY created_at", (since,)).fetchall()

        return [RecentCall(*row) for row in await self._run(read)]

    # -- API keys ------------------------------------------------------------

    async def add_key(self, key: ApiKey, key_hash: str) -> None:
        await self._run(self._db.execute,
                        "INSERT INTO api_keys (id, name, hash, carriers, countries, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (key.id, key.name, key_hash, _json_or_none(key.carriers),
                         _json_or_none(key.countries), key.created_at))

    async def key(self, key_id: str) -> tuple[ApiKey, str] | None:
        """The key and the hash of its secret."""
        def read() -> Any:
            return self._db.execute(f"SELECT {_KEY_COLUMNS}, hash FROM api_keys "  # noqa: S608
                                    "WHERE id=?", (key_id,)).fetchone()

        row = await self._run(read)
        return None if row is None else (_key(row[:-1]), str(row[-1]))

    async def keys(self) -> list[ApiKey]:
        def read() -> Any:
            return self._db.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys "  # noqa: S608
                                    "ORDER BY created_at").fetchall()

        return [_key(row) for row in await self._run(read)]

    async def revoke_key(self, key_id: str) -> bool:
        def write() -> int:
            return self._db.execute("UPDATE api_keys SET revoked_at=? WHERE id=? AND "
                                    "revoked_at IS NULL", (time.time(), key_id)).rowcount

        return bool(await self._run(write))

    # -- the circuit breaker ---------------------------------------------------

    async def breaker(self) -> tuple[float, str] | None:
        def read() -> Any:
            return self._db.execute("SELECT tripped_at, reason FROM breaker").fetchone()

        row = await self._run(read)
        return None if row is None else (float(row[0]), str(row[1]))

    async def trip_breaker(self, reason: str) -> None:
        await self._run(self._db.execute,
                        "INSERT OR IGNORE INTO breaker (id, tripped_at, reason) VALUES (1, ?, ?)",
                        (time.time(), reason))

    async def reset_breaker(self) -> None:
        await self._run(self._db.execute, "DELETE FROM breaker")

    async def idempotent(self, key: str) -> tuple[str, str] | None:
        def read() -> Any:
            return self._db.execute("SELECT body_hash, request_id FROM idempotency WHERE key=?",
                                    (key,)).fetchone()

        row = await self._run(read)
        return None if row is None else (str(row[0]), str(row[1]))

    async def update(self, call_id: str, *, event: dict[str, Any] | None = None,
                     attempt: Attempt | None = None,
                     attempt_end: tuple[int, dict[str, Any]] | None = None,
                     **changes: Any) -> None:
        _check_fields(changes, _COLUMNS, "call")
        ended = None if attempt_end is None else self._attempt_end_sql(call_id, *attempt_end)
        now = time.time()
        changes["updated_at"] = now
        if changes.get("state") in FINAL:
            changes["request"] = None  # the code it may hold is no longer needed
        assignments = ",".join(f"{name}=?" for name in changes)

        def write() -> None:
            if attempt is not None:
                self._insert_attempt(call_id, attempt)
            if ended is not None:
                self._db.execute(*ended)
            self._db.execute(f"UPDATE calls SET {assignments} WHERE id=?",  # noqa: S608
                             (*changes.values(), call_id))
            if event is not None:
                self._add_delivery(call_id, event, now)

        await self._checked(write)

    def _insert_attempt(self, call_id: str, attempt: Attempt) -> None:
        """Record an attempt before its originate. One left by a stop before the call's
        `dialing` state was stored never dialled, and is replaced."""
        values = asdict(attempt)
        names = ",".join(["call_id", *values])
        marks = ",".join("?" for _ in range(len(values) + 1))
        self._db.execute(f"INSERT OR REPLACE INTO attempts ({names}) VALUES ({marks})",  # noqa: S608
                         (call_id, *values.values()))

    async def end_attempt(self, call_id: str, n: int, **changes: Any) -> None:
        sql, values = self._attempt_end_sql(call_id, n, changes)
        await self._checked(lambda: self._db.execute(sql, values))

    @staticmethod
    def _attempt_end_sql(call_id: str, n: int,
                         changes: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        _check_fields(changes, [f.name for f in fields(Attempt)], "attempt")
        assignments = ",".join(f"{name}=?" for name in changes)
        return (f"UPDATE attempts SET {assignments} WHERE call_id=? AND n=?",  # noqa: S608
                (*changes.values(), call_id, n))

    async def details(self, call_id: str) -> tuple[CallRecord, list[Attempt],
                                                     list[Delivery]] | None:
        db = self._reader
        db.execute("BEGIN")  # one snapshot for the three
        try:
            row = db.execute(f"SELECT {','.join(_COLUMNS)} FROM calls "  # noqa: S608
                             "WHERE id=?", (call_id,)).fetchone()
            if row is None:
                return None
            attempts = db.execute(_ATTEMPTS_OF, (call_id,)).fetchall()
            deliveries = db.execute(_DELIVERIES_OF, (call_id,)).fetchall()
        finally:
            db.execute("COMMIT")
        return (CallRecord(*row), [Attempt(*a) for a in attempts],
                [Delivery(*d) for d in deliveries])

    async def attempts(self, call_id: str) -> list[Attempt]:
        return [Attempt(*row) for row in self._reader.execute(_ATTEMPTS_OF, (call_id,))]

    async def pending_deliveries(self, limit: int) -> list[Delivery]:
        """Deliveries still to make, the soonest due first."""
        def read() -> Any:
            return self._db.execute(f"SELECT {_DELIVERY_COLUMNS} FROM deliveries "  # noqa: S608
                                    "WHERE state='pending' ORDER BY next_at, rowid LIMIT ?",
                                    (limit,)).fetchall()

        return [Delivery(*row) for row in await self._run(read)]

    async def delivery_done(self, delivery_id: str, **changes: Any) -> None:
        _check_fields(changes, [f.name for f in fields(Delivery)], "delivery")
        assignments = ",".join(f"{name}=?" for name in changes)
        await self._run(self._db.execute,
                        f"UPDATE deliveries SET {assignments} WHERE id=?",  # noqa: S608
                        (*changes.values(), delivery_id))

    async def get(self, call_id: str) -> CallRecord | None:
        row = self._reader.execute(
            f"SELECT {','.join(_COLUMNS)} FROM calls WHERE id=?", (call_id,)  # noqa: S608
        ).fetchone()
        return None if row is None else CallRecord(*row)

    async def unfinished(self) -> list[tuple[CallRecord, CallRequest]]:
        def read() -> Any:
            return self._db.execute(
                f"SELECT {','.join(_COLUMNS)}, request FROM calls "  # noqa: S608
                "WHERE request IS NOT NULL ORDER BY created_at"
            ).fetchall()

        rows = await self._run(read)
        return [(CallRecord(*row[:-1]), decode_request(row[-1])) for row in rows]

    async def close(self) -> None:
        self._reader.close()
        await self._run(self._db.close)
        self._executor.shutdown(wait=True)
