"""Calls and their attempts.

A call is written before the API answers 202, and every state change after, each
with its callback event (outbox.py) in the same transaction. The request (which may
hold a code) is kept only while the call is unfinished, so a restarted service can
still place it, and is erased once the call ends.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from ari_app.delivery import PLAIN, AmdParameters, DeliveryOptions, Gate, MachineDetection, Repeat
from ari_app.entries import KINDS, Entry
from ari_app.outcome import FINAL
from ari_app.request import CallRequest
from ari_app.store.database import Database
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
_BY_KIND: dict[str, type[Entry]] = {kind: cls for cls, kind in KINDS.items()}


def encode_request(request: CallRequest) -> str:
    return json.dumps({
        "to": request.to, "caller_id": request.caller_id, "carrier_id": request.carrier_id,
        "playlist": _encode_entries(request.playlist),
        "callback_url": request.callback_url,
        "delivery": _encode_options(request.delivery),
    })


def decode_request(text: str) -> CallRequest:
    data = json.loads(text)
    options = data.get("delivery")  # absent in requests stored before delivery options
    return CallRequest(to=data["to"], caller_id=data["caller_id"], carrier_id=data["carrier_id"],
                       playlist=_decode_entries(data["playlist"]),
                       callback_url=data.get("callback_url"),
                       delivery=PLAIN if options is None else _decode_options(options))


def _encode_entries(entries: Sequence[Entry] | None) -> list[dict[str, Any]] | None:
    if entries is None:
        return None
    return [{"kind": KINDS[type(e)], **asdict(e)} for e in entries]


def _decode_entries(entries: list[dict[str, Any]]) -> tuple[Entry, ...]:
    return tuple(_BY_KIND[e.pop("kind")](**e) for e in entries)


def _encode_options(options: DeliveryOptions) -> dict[str, Any]:
    gate, repeat, detection = options.gate, options.repeat, options.machine_detection
    return {
        "gate": {**asdict(gate), "prompt": _encode_entries(gate.prompt)},
        "repeat": {**asdict(repeat), "prompt": _encode_entries(repeat.prompt)},
        "machine_detection": asdict(detection),
        "withheld": _encode_entries(options.withheld),
        "voicemail": _encode_entries(options.voicemail),
    }


def _decode_options(data: dict[str, Any]) -> DeliveryOptions:
    gate, repeat, detection = data["gate"], data["repeat"], data["machine_detection"]
    return DeliveryOptions(
        gate=Gate(**{**gate, "prompt": gate["prompt"] and _decode_entries(gate["prompt"])}),
        repeat=Repeat(**{**repeat,
                         "prompt": repeat["prompt"] and _decode_entries(repeat["prompt"])}),
        machine_detection=MachineDetection(**{**detection,
                                              "amd": AmdParameters(**detection["amd"])}),
        withheld=_decode_entries(data["withheld"]),
        voicemail=_decode_entries(data["voicemail"]),
    )


def entry_types(playlist: Sequence[Entry]) -> str:
    return ",".join(KINDS[type(e)] for e in playlist)


class SqliteCalls:
    def __init__(self, db: Database) -> None:
        self._db = db

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
        values = {**asdict(record), "request": encode_request(request),
                  "callback_url": request.callback_url, "api_key": origin.api_key,
                  "client": origin.client, "est_cost": origin.est_cost}
        names = ",".join(values)
        marks = ",".join("?" for _ in values)
        db = self._db.writer

        def write() -> None:
            if idempotency is not None:
                db.execute("INSERT INTO idempotency (key, body_hash, request_id, created_at) "
                           "VALUES (?, ?, ?, ?)",
                           (idempotency.key, idempotency.body_hash, call_id, now))
            db.execute(f"INSERT INTO calls ({names}) VALUES ({marks})",  # noqa: S608
                       tuple(values.values()))
            if event is not None:
                add_event(db, call_id, event, now)

        await self._db.write(write)
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
        assignments = ",".join(f"{name}=?" for name in columns)
        db = self._db.writer

        def write() -> None:
            if attempt is not None:
                _insert_attempt(db, call_id, attempt)
            if attempt_end is not None:
                _end_attempt(db, call_id, attempt_end)
            db.execute(f"UPDATE calls SET {assignments} WHERE id=?",  # noqa: S608
                       (*columns.values(), call_id))
            if event is not None:
                add_event(db, call_id, event, now)

        await self._db.write(write)

    async def end_attempt(self, call_id: str, end: AttemptEnd) -> None:
        await self._db.write(lambda: _end_attempt(self._db.writer, call_id, end))

    async def get(self, call_id: str) -> CallRecord | None:
        row = self._db.reader.execute(f"{_SELECT_CALL} WHERE id=?", (call_id,)).fetchone()
        return None if row is None else CallRecord(*row)

    async def details(self, call_id: str) -> tuple[CallRecord, list[AttemptRecord],
                                                     list[Delivery]] | None:
        """A call with its attempts and callback deliveries, in one read."""
        db = self._db.reader
        db.execute("BEGIN")  # one snapshot for the three
        try:
            row = db.execute(f"{_SELECT_CALL} WHERE id=?", (call_id,)).fetchone()
            if row is None:
                return None
            attempts = db.execute(_ATTEMPTS_OF, (call_id,)).fetchall()
            deliveries = db.execute(DELIVERIES_OF, (call_id,)).fetchall()
        finally:
            db.execute("COMMIT")
        return (CallRecord(*row), [AttemptRecord(*a) for a in attempts],
                [Delivery(*d) for d in deliveries])

    async def attempts(self, call_id: str) -> list[AttemptRecord]:
        return [AttemptRecord(*row) for row in self._db.reader.execute(_ATTEMPTS_OF, (call_id,))]

    async def unfinished(self) -> list[tuple[CallRecord, CallRequest]]:
        """Calls not ended, oldest first, with their requests: for a restart."""
        rows = await self._db.fetchall(
            f"SELECT {','.join(CALL_COLUMNS)}, request FROM calls "  # noqa: S608
            "WHERE request IS NOT NULL ORDER BY created_at")
        return [(CallRecord(*row[:-1]), decode_request(row[-1])) for row in rows]

    async def recent(self, since: float) -> list[RecentCall]:
        """Calls created after `since`: for the velocity limits after a restart."""
        rows = await self._db.fetchall(
            "SELECT to_number, api_key, client, created_at, COALESCE(est_cost, 0) "
            "FROM calls WHERE created_at > ? ORDER BY created_at", (since,))
        return [RecentCall(*row) for row in rows]


def _insert_attempt(db: sqlite3.Connection, call_id: str, attempt: AttemptRecord) -> None:
    """Record an attempt before its originate. One left by a stop before the call's
    `dialing` state was stored never dialled, and is replaced."""
    values = asdict(attempt)
    names = ",".join(["call_id", *values])
    marks = ",".join("?" for _ in range(len(values) + 1))
    db.execute(f"INSERT OR REPLACE INTO attempts ({names}) VALUES ({marks})",  # noqa: S608
               (call_id, *values.values()))


def _end_attempt(db: sqlite3.Connection, call_id: str, end: AttemptEnd) -> None:
    hangup = end.hangup
    db.execute("UPDATE attempts SET ended_at=?, sip_code=?, cause=?, cause_txt=?, outcome=? "
               "WHERE call_id=? AND n=?",
               (end.ended_at, hangup.sip_code if hangup else None,
                hangup.cause if hangup else None, hangup.cause_txt if hangup else None,
                end.outcome, call_id, end.n))
