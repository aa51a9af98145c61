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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

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
    error TEXT
);
CREATE INDEX IF NOT EXISTS calls_unfinished ON calls (state) WHERE request IS NOT NULL;
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    body_hash TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


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
class Idempotency:
    """A client's Idempotency-Key, with a hash of the body it first came with."""

    key: str
    body_hash: str


class Store(Protocol):
    async def insert(self, call_id: str, request: CallRequest,
                     idempotency: Idempotency | None = None) -> CallRecord: ...
    async def idempotent(self, key: str) -> tuple[str, str] | None:
        """(body hash, request id) of the call first placed with this key."""
    async def update(self, call_id: str, **changes: Any) -> None: ...
    async def get(self, call_id: str) -> CallRecord | None: ...
    async def unfinished(self) -> list[tuple[CallRecord, CallRequest]]: ...
    async def close(self) -> None: ...


_BY_KIND: dict[str, type[Entry]] = {kind: cls for cls, kind in KINDS.items()}


def encode_request(request: CallRequest) -> str:
    return json.dumps({
        "to": request.to, "caller_id": request.caller_id, "carrier_id": request.carrier_id,
        "playlist": [{"kind": KINDS[type(e)], **asdict(e)} for e in request.playlist],
    })


def decode_request(text: str) -> CallRequest:
    data = json.loads(text)
    playlist = tuple(_BY_KIND[e.pop("kind")](**e) for e in data["playlist"])
    return CallRequest(to=data["to"], caller_id=data["caller_id"], carrier_id=data["carrier_id"],
                       playlist=playlist)


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
        path.chmod(0o600)

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def insert(self, call_id: str, request: CallRequest,
                     idempotency: Idempotency | None = None) -> CallRecord:
        """Store a new call, and its idempotency key in the same transaction."""
        now = time.time()
        record = CallRecord(
            id=call_id, state=State.QUEUED, carrier_id=request.carrier_id,
            to_number=request.to, caller_id=request.caller_id,
            entry_types=entry_types(request.playlist), created_at=now, updated_at=now,
        )
        values = {**{c: getattr(record, c) for c in _COLUMNS}, "request": encode_request(request)}
        names = ",".join(values)
        marks = ",".join("?" for _ in values)
        def write() -> None:
            with self._db:  # one transaction
                self._db.execute("BEGIN")
                if idempotency is not None:
                    self._db.execute(
                        "INSERT INTO idempotency (key, body_hash, request_id, created_at) "
                        "VALUES (?, ?, ?, ?)",
                        (idempotency.key, idempotency.body_hash, call_id, now))
                self._db.execute(f"INSERT INTO calls ({names}) VALUES ({marks})",  # noqa: S608
                                 tuple(values.values()))

        await self._run(write)
        return record

    async def idempotent(self, key: str) -> tuple[str, str] | None:
        def read() -> Any:
            return self._db.execute("SELECT body_hash, request_id FROM idempotency WHERE key=?",
                                    (key,)).fetchone()

        row = await self._run(read)
        return None if row is None else (str(row[0]), str(row[1]))

    async def update(self, call_id: str, **changes: Any) -> None:
        unknown = set(changes) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"unknown call fields: {sorted(unknown)}")
        changes["updated_at"] = time.time()
        if changes.get("state") in FINAL:
            changes["request"] = None  # the code it may hold is no longer needed
        assignments = ",".join(f"{name}=?" for name in changes)
        await self._run(self._db.execute, f"UPDATE calls SET {assignments} WHERE id=?",  # noqa: S608
                        (*changes.values(), call_id))

    async def get(self, call_id: str) -> CallRecord | None:
        def read() -> Any:
            return self._db.execute(
                f"SELECT {','.join(_COLUMNS)} FROM calls WHERE id=?", (call_id,)  # noqa: S608
            ).fetchone()

        row = await self._run(read)
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
        await self._run(self._db.close)
        self._executor.shutdown(wait=True)
