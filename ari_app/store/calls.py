"""Calls and their attempts.

A call is written before the API answers 202, and every state change after, each
with its callback event (outbox.py) in the same transaction. The request (which may
hold a code) is kept only while the call is unfinished, so a restarted service can
still place it, and is erased once the call ends. It is sealed under the deployment's
key (sealing.py) before it is written: no code stands readable in the database, its
write-ahead log or the pages SQLite frees, at any moment.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from ari_app.errors import CallTakenOver, IdempotencyKeyTaken, StoreError
from ari_app.outcome import FINAL
from ari_app.request import CallRequest
from ari_app.sealing import SEALED, Sealer
from ari_app.store.database import Connection, Database
from ari_app.store.encoding import decode_request, encode_request, entry_types
from ari_app.store.outbox import DELIVERIES_OF, add_event
from ari_app.store.records import (
    ATTEMPT_COLUMNS,
    CALL_COLUMNS,
    AttemptEnd,
    AttemptRecord,
    CallbackEvent,
    CallRecord,
    CallUpdate,
    Delivery,
    Idempotency,
    Origin,
    RecentCall,
)

_SELECT_CALL = f"SELECT {','.join(CALL_COLUMNS)} FROM calls"  # noqa: S608
_ATTEMPTS_OF = (f"SELECT {','.join(ATTEMPT_COLUMNS)} FROM attempts "  # noqa: S608
                "WHERE call_id=? ORDER BY n")
class SqlCalls:
    def __init__(self, db: Database, sealer: Sealer, *, owner: str | None = None) -> None:
        """`owner`: this instance, when several share the database: the calls it accepts
        are its own, and it changes no call another instance has taken over."""
        self._db = db
        self._sealer = sealer
        self._owner = owner

    async def insert(self, call_id: str, request: CallRequest, *,
                     idempotency: Idempotency | None = None, origin: Origin | None = None,
                     event: CallbackEvent | None = None) -> CallRecord:
        """Store a new call, its idempotency key and its first callback event, together."""
        origin = origin or Origin()
        now = time.time()
        record = CallRecord(
            id=call_id, state="queued", carrier_id=request.carrier_id,
            to_number=request.to, caller_id=request.caller_id,
            entry_types=entry_types(request.playlist), created_at=now, updated_at=now,
        )
        values = {**asdict(record),
                  "request": self._sealer.seal(encode_request(request), call_id),
                  "callback_url": request.callback_url, "api_key": origin.api_key,
                  "client": origin.client, "est_cost": origin.est_cost,
                  "verification_id": origin.verification_id, "owner": self._owner}
        names = ",".join(values)
        marks = ",".join("?" for _ in values)

        def write(db: Connection) -> bool:
            if idempotency is not None and not db.execute(
                    "INSERT INTO idempotency (key, body_hash, request_id, created_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                    (idempotency.key, idempotency.body_hash, call_id, now)).rowcount:
                return False  # another instance placed a call with this key a moment ago
            db.execute(f"INSERT INTO calls ({names}) VALUES ({marks})",  # noqa: S608
                       tuple(values.values()))
            if event is not None:
                add_event(db, call_id, event, now)
            return True

        if not await self._db.write(write):
            raise IdempotencyKeyTaken(f"idempotency key taken by a concurrent request "
                                      f"(call {call_id} not stored)")
        return record

    async def update(self, call_id: str, update: CallUpdate, *, event: CallbackEvent | None = None,
                     attempt: AttemptRecord | None = None,
                     attempt_end: AttemptEnd | None = None) -> None:
        """Change a call; with `event`, queue its callback, with `attempt`, record that
        attempt (before its originate), with `attempt_end`, end that attempt: all in one
        transaction."""
        now = time.time()
        columns = update.columns() | {"updated_at": now}
        if update.state in FINAL:
            columns["request"] = None  # the code it may hold is no longer needed
            columns["slot_carrier"] = None
        assignments = ",".join(f"{name}=?" for name in columns)
        owned = "" if self._owner is None else " AND owner=?"
        params = (*columns.values(), call_id, *([] if self._owner is None else [self._owner]))

        def write(db: Connection) -> int:
            changed = db.execute(f"UPDATE calls SET {assignments} WHERE id=?{owned}",  # noqa: S608
                                 params).rowcount
            if not changed:
                return 0  # another instance took the call over: change nothing of it
            if attempt is not None:
                _insert_attempt(db, call_id, attempt)
            if attempt_end is not None:
                _end_attempt(db, call_id, attempt_end)
            if event is not None:
                add_event(db, call_id, event, now)
            return changed

        if not await self._db.write(write) and self._owner is not None:
            raise CallTakenOver(f"call {call_id} is another instance's now: this one was "
                                "taken for dead; it does not dial or change it")

    async def end_attempt(self, call_id: str, end: AttemptEnd) -> None:
        await self._db.write(lambda db: _end_attempt(db, call_id, end))

    async def get(self, call_id: str) -> CallRecord | None:
        row = await self._db.read_one(f"{_SELECT_CALL} WHERE id=?", (call_id,))
        return None if row is None else CallRecord(*row)

    async def details(self, call_id: str) -> tuple[CallRecord, list[AttemptRecord],
                                                     list[Delivery]] | None:
        """A call with its attempts and callback deliveries, in one read."""
        snapshot = self._db.engine.snapshot

        def read(db: Connection) -> tuple[Any, list[Any], list[Any]] | None:
            db.execute(snapshot)  # one state for the three
            try:
                row = db.execute(f"{_SELECT_CALL} WHERE id=?", (call_id,)).fetchone()
                if row is None:
                    return None
                return (row, db.execute(_ATTEMPTS_OF, (call_id,)).fetchall(),
                        db.execute(DELIVERIES_OF, (call_id,)).fetchall())
            finally:
                db.execute("COMMIT")

        found = await self._db.read(read)
        if found is None:
            return None
        row, attempts, deliveries = found
        return (CallRecord(*row), [AttemptRecord(*a) for a in attempts],
                [Delivery(*d) for d in deliveries])

    async def attempts(self, call_id: str) -> list[AttemptRecord]:
        return [AttemptRecord(*row) for row in await self._db.read_all(_ATTEMPTS_OF, (call_id,))]

    async def unfinished(self) -> list[tuple[CallRecord, CallRequest | None]]:
        """Calls not ended, oldest first, with their requests: for a restart. With
        several instances, this instance's own, taken in one statement (a survivor that
        takes them over at the same moment gets each call, or this one does)."""
        if self._owner is not None:
            return await self.take_over(self._owner)
        rows = await self._db.fetchall(
            f"SELECT {','.join(CALL_COLUMNS)}, request FROM calls "  # noqa: S608
            "WHERE request IS NOT NULL ORDER BY created_at")
        return [(CallRecord(*row[:-1]), self._request(row[0], row[-1])) for row in rows]

    async def take_over(self, instance: str, *, dead_after: float | None = None
                        ) -> list[tuple[CallRecord, CallRequest | None]]:
        """Make the unfinished calls of `instance` this instance's own, oldest first.

        With `dead_after`, only while `instance` is still gone: all its calls once its
        heartbeat is that old by the database's clock (dead), its queued ones as soon as
        it stopped (it drains its live calls itself). Queued calls give back a channel
        they may have been granted; they never dialled."""
        assert self._owner is not None
        clock = self._db.engine.clock
        still_gone = "" if dead_after is None else (
            " AND EXISTS (SELECT 1 FROM instances WHERE id=? AND (heartbeat_at < "  # noqa: S608
            f"{clock} - ? OR (stopped_at IS NOT NULL AND calls.state='queued')))")
        params: tuple[object, ...] = (self._owner, instance) + (
            () if dead_after is None else (instance, dead_after))
        sql = ("UPDATE calls SET owner=?, slot_carrier=CASE WHEN state='queued' THEN NULL "  # noqa: S608
               f"ELSE slot_carrier END WHERE owner=? AND request IS NOT NULL{still_gone} "
               f"RETURNING {','.join(CALL_COLUMNS)}, request")
        rows = await self._db.write(lambda db: db.execute(sql, params).fetchall())
        rows.sort(key=lambda row: row[CALL_COLUMNS.index("created_at")])
        return [(CallRecord(*row[:-1]), self._request(row[0], row[-1])) for row in rows]

    def _request(self, call_id: str, stored: str) -> CallRequest | None:
        """A stored request (one stored before sealing existed is plain JSON); None if it
        does not open with this key."""
        if stored.startswith(SEALED):
            try:
                stored = self._sealer.open(stored, call_id)
            except StoreError:
                return None
        return decode_request(stored)

    async def ask_owner_to_cancel(self, call_id: str) -> None:
        """Have the instance that owns the call cancel it: the cancel is written (a
        survivor that takes the call over ends it instead of placing it), then told
        (PostgreSQL's NOTIFY, heard by every instance's listener; the owner acts)."""
        now = time.time()

        def write(db: Connection) -> None:
            db.execute("UPDATE calls SET canceled_at=? WHERE id=? AND request IS NOT NULL",
                       (now, call_id))
            db.execute("SELECT pg_notify('ari_app_cancel', ?)", (call_id,))

        await self._db.write(write)

    async def cancels_asked(self) -> list[str]:
        """This instance's unfinished calls a cancel was asked for through another one."""
        rows = await self._db.read_all(
            "SELECT id FROM calls WHERE owner=? AND request IS NOT NULL "
            "AND canceled_at IS NOT NULL", (self._owner,))
        return [row[0] for row in rows]

    async def recent_of_others(self, since: float) -> list[tuple[str, RecentCall]]:
        """Calls other instances accepted after `since`, by id: their velocity counts."""
        rows = await self._db.read_all(
            "SELECT id, to_number, api_key, client, created_at, COALESCE(est_cost, 0) "
            "FROM calls WHERE created_at > ? AND owner IS DISTINCT FROM ?",
            (since, self._owner))
        return [(row[0], RecentCall(*row[1:])) for row in rows]

    async def recent(self, since: float) -> list[RecentCall]:
        """Calls created after `since`: for the velocity limits after a restart."""
        rows = await self._db.fetchall(
            "SELECT to_number, api_key, client, created_at, COALESCE(est_cost, 0) "
            "FROM calls WHERE created_at > ? ORDER BY created_at", (since,))
        return [RecentCall(*row) for row in rows]


def _insert_attempt(db: Connection, call_id: str, attempt: AttemptRecord) -> None:
    """Record an attempt before its originate. One left by a stop before the call's
    `dialing` state was stored never dialled, and is replaced."""
    values = asdict(attempt)
    names = ",".join(["call_id", *values])
    marks = ",".join("?" for _ in range(len(values) + 1))
    replace = ",".join(f"{name}=excluded.{name}" for name in values if name != "n")
    db.execute(f"INSERT INTO attempts ({names}) VALUES ({marks}) "  # noqa: S608
               f"ON CONFLICT (call_id, n) DO UPDATE SET {replace}",
               (call_id, *values.values()))


def _end_attempt(db: Connection, call_id: str, end: AttemptEnd) -> None:
    hangup = end.hangup
    db.execute("UPDATE attempts SET ended_at=?, sip_code=?, cause=?, cause_txt=?, outcome=? "
               "WHERE call_id=? AND n=?",
               (end.ended_at, hangup.sip_code if hangup else None,
                hangup.cause if hangup else None, hangup.cause_txt if hangup else None,
                end.outcome, call_id, end.n))
