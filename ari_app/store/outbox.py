"""The callback outbox: each event is a row written in the same transaction as the state
change it tells of (`add_event`, called inside the calls repository's writes), so an
event is never lost to a restart, nor sent for a change that was not stored."""

from __future__ import annotations

import json
import uuid
from typing import Any

from ari_app.store.database import Connection, Database
from ari_app.store.records import DELIVERY_COLUMNS, CallbackEvent, Delivery, DeliveryResult

_COLUMNS = ",".join(DELIVERY_COLUMNS)
DELIVERIES_OF = (f"SELECT {_COLUMNS} FROM deliveries WHERE call_id=? "  # noqa: S608
                 "ORDER BY created_at, rowid")


def add_event(db: Connection, call_id: str, event: CallbackEvent, now: float) -> None:
    """Queue `event` for the call's callback URL, if the call has one. Inside a write."""
    event_id = str(uuid.uuid4())
    body = json.dumps({"event_id": event_id, **event}, separators=(",", ":"))
    db.execute(
        "INSERT INTO deliveries (id, call_id, url, state, body, created_at, next_at) "
        "SELECT ?, id, callback_url, 'pending', ?, ?, ? FROM calls "
        "WHERE id=? AND callback_url IS NOT NULL",
        (event_id, body, now, now, call_id))


def add_event_for(db: Connection, owner_id: str, url: str, event: CallbackEvent,
                  now: float) -> None:
    """Queue `event` for `url`, on behalf of something that is not a call (a verification).
    Inside a write."""
    event_id = str(uuid.uuid4())
    body = json.dumps({"event_id": event_id, **event}, separators=(",", ":"))
    db.execute("INSERT INTO deliveries (id, call_id, url, state, body, created_at, next_at) "
               "VALUES (?, ?, ?, 'pending', ?, ?, ?)", (event_id, owner_id, url, body, now, now))


class SqlOutbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, now: float, limit: int, *, lease: float) -> list[Delivery]:
        """Deliveries due now, the soonest first, taken for `lease` seconds: another
        instance (or this one) takes them again only if no result is recorded by then
        (the sender died mid-delivery). One UPDATE: of instances claiming at once, each
        delivery goes to one (PostgreSQL re-checks `next_at` on a row another claim
        changed first; SQLite runs one write at a time)."""
        def write(db: Connection) -> list[Any]:
            return db.execute(
                f"UPDATE deliveries SET next_at=? WHERE state='pending' AND next_at<=? "  # noqa: S608
                f"AND id IN (SELECT id FROM deliveries WHERE state='pending' AND next_at<=? "
                f"ORDER BY next_at, rowid LIMIT ?) RETURNING {_COLUMNS}",
                (now + lease, now, now, limit)).fetchall()

        rows = await self._db.write(write)
        return sorted((Delivery(*row) for row in rows), key=lambda d: d.created_at)

    async def next_due(self) -> float | None:
        """When the soonest pending delivery is due (None: none is pending)."""
        row = await self._db.fetchone("SELECT MIN(next_at) FROM deliveries WHERE state='pending'")
        return None if row is None or row[0] is None else float(row[0])

    async def record(self, delivery_id: str, result: DeliveryResult) -> None:
        """How a delivery attempt went; `next_at` stays as it was when the result has none."""
        await self._db.execute(
            "UPDATE deliveries SET state=?, attempts=?, last_status=?, last_error=?, "
            "delivered_at=?, next_at=COALESCE(?, next_at) WHERE id=?",
            (result.state, result.attempts, result.last_status, result.last_error,
             result.delivered_at, result.next_at, delivery_id))
