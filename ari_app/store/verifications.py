"""Verifications, with their code while they are pending: a keyed hash to check it against and
the code sealed (sealing.py) to say it again on a resend. Both are erased in the same
write that ends the verification; SQLite's secure_delete overwrites the freed bytes.

Changes are conditional on the verification still being pending, so two checks or a
check and the expiry sweep never both end one: the write that ends it wins and the
other changes nothing (its rowcount is 0).
"""

from __future__ import annotations

import time
from typing import Any

from ari_app.store.database import Connection, Database
from ari_app.store.encoding import decode_verify, encode_verify
from ari_app.store.outbox import add_event_for
from ari_app.store.records import CallbackEvent
from ari_app.verify.request import VerifyRequest
from ari_app.verify.rules import VERIFICATION_COLUMNS, Status, Verification

_SELECT = f"SELECT {','.join(VERIFICATION_COLUMNS)} FROM verifications"  # noqa: S608
_PENDING = "status = 'pending'"


class SqlVerifications:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, verification: Verification, request: VerifyRequest, *,
                     code_hash: str, code_sealed: str) -> None:
        """Store a new verification (its `verification.pending` event goes with its first
        send: one whose first call is refused is discarded, and was never announced)."""
        values: dict[str, Any] = {
            name: getattr(verification, name) for name in VERIFICATION_COLUMNS}
        values |= {"request": encode_verify(request), "code_hash": code_hash,
                   "code_sealed": code_sealed}
        names, marks = ",".join(values), ",".join("?" for _ in values)
        await self._db.write(lambda db: db.execute(
            f"INSERT INTO verifications ({names}) VALUES ({marks})",  # noqa: S608
            tuple(values.values())))

    async def discard(self, verification_id: str) -> None:
        """A verification whose first call was refused: as if it had never been made."""
        await self._db.write(lambda db: db.execute(
            "DELETE FROM verifications WHERE id=?", (verification_id,)))

    async def get(self, verification_id: str) -> Verification | None:
        row = await self._db.read_one(f"{_SELECT} WHERE id=?", (verification_id,))
        return None if row is None else Verification(*row)

    async def pending_for(self, to_number: str, api_key: str | None) -> Verification | None:
        row = await self._db.read_one(
            f"{_SELECT} WHERE {_PENDING} AND to_number=? AND api_key IS NOT DISTINCT FROM ? "
            "ORDER BY created_at DESC LIMIT 1", (to_number, api_key))
        return None if row is None else Verification(*row)

    async def secret(self, verification_id: str) -> tuple[str, str, VerifyRequest] | None:
        """(code hash, sealed code, request) of a pending verification."""
        row = await self._db.read_one(
            f"SELECT code_hash, code_sealed, request FROM verifications "  # noqa: S608
            f"WHERE id=? AND {_PENDING}", (verification_id,))
        if row is None or row[0] is None:
            return None
        return row[0], row[1], decode_verify(row[2])

    async def sent(self, verification_id: str, at: float, *,
                   event: CallbackEvent | None = None) -> None:
        def write(db: Connection) -> None:
            db.execute("UPDATE verifications SET sends=sends+1, last_send_at=?, updated_at=? "
                       "WHERE id=?", (at, at, verification_id))
            if event is not None:
                self._event(db, verification_id, event, at)

        await self._db.write(write)

    async def wrong_code(self, verification_id: str, attempts: int) -> bool:
        """Count a wrong code (the one after `attempts`); False if another change came first."""
        now = time.time()
        return await self._db.write(lambda db: db.execute(
            f"UPDATE verifications SET attempts=attempts+1, updated_at=? "  # noqa: S608
            f"WHERE id=? AND {_PENDING} AND attempts=?",
            (now, verification_id, attempts)).rowcount == 1)

    async def finish(self, verification_id: str, status: Status, *, now: float,
                     wrong_code: bool = False, event: CallbackEvent | None = None) -> bool:
        """End a pending verification and erase its code, with its callback event; False
        if it was no longer pending (another change ended it first)."""
        count = ", attempts=attempts+1" if wrong_code else ""

        def write(db: Connection) -> bool:
            changed = db.execute(
                f"UPDATE verifications SET status=?, code_hash=NULL, code_sealed=NULL, "  # noqa: S608
                f"ended_at=?, updated_at=?{count} WHERE id=? AND {_PENDING}",
                (status.value, now, now, verification_id)).rowcount == 1
            if changed and event is not None:
                self._event(db, verification_id, event, now)
            return changed

        return await self._db.write(write)

    async def sends(self, verification_id: str) -> list[tuple[str, str, str | None, float,
                                                              float | None]]:
        """Each send's call: (id, state, delivery report as JSON, created_at, ended_at)."""
        return await self._db.read_all(
            "SELECT id, state, delivery, created_at, ended_at FROM calls "
            "WHERE verification_id=? ORDER BY created_at", (verification_id,))

    async def of_call(self, call_id: str) -> str | None:
        row = await self._db.read_one("SELECT verification_id FROM calls WHERE id=?",
                                      (call_id,))
        return None if row is None else row[0]

    async def due(self, now: float) -> list[str]:
        """Pending verifications past their expiry."""
        rows = await self._db.fetchall(
            f"SELECT id FROM verifications WHERE {_PENDING} AND expires_at<=?", (now,))  # noqa: S608
        return [row[0] for row in rows]

    async def since(self, since: float) -> list[Verification]:
        """Verifications made after `since`, oldest first: for the conversion watch."""
        rows = await self._db.fetchall(f"{_SELECT} WHERE created_at>? ORDER BY created_at",
                                       (since,))
        return [Verification(*row) for row in rows]

    @staticmethod
    def _event(db: Connection, verification_id: str, event: CallbackEvent,
               now: float) -> None:
        """Queue `event` for the verification's callback URL, if it has one. Inside a write."""
        (url,) = db.execute("SELECT callback_url FROM verifications WHERE id=?",
                            (verification_id,)).fetchone()
        if url:
            add_event_for(db, verification_id, url, event, now)
