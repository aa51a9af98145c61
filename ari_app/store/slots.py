"""Carrier channels granted from the database, so that limits hold across every instance
on it: a call holds a channel of its carrier (`calls.slot_carrier`) from its grant to
the end of its attempt.

A grant runs under one lock (PostgreSQL: a transaction-level advisory lock), counts the
channels held from the calls themselves (a count that never drifts, whoever died
holding one), and applies each carrier's pacing (`carrier_pacing.next_at`, the earliest
moment of its next call) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from ari_app.store.database import Connection, Database

Limits = Callable[[str], tuple[int, float]]
"""carrier id -> (maximum live channels, maximum calls per second)."""


class SqlSlots:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def take(self, waiting: list[tuple[str, str]], *, limits: Limits, cap: int,
                   now: float) -> tuple[list[str], float | None]:
        """Grant channels to the waiting (call id, carrier id), oldest first, as far as
        every carrier's limits and the global `cap` allow across all instances. Returns
        the ids granted, and when pacing allows the next one (None: not paced).

        A look without the lock comes first: when no carrier of the waiting calls has
        room (the common case of a full queue), nothing is written at all."""
        grantable, _, wake = _select(waiting, *await self._db.read(_state), limits, cap, now)
        if not grantable:
            return [], wake
        engine = self._db.engine

        def write(db: Connection) -> tuple[list[str], float | None]:
            db.execute(engine.slots_lock)
            granted, paced, next_wake = _select(waiting, *_state(db), limits, cap, now)
            for call_id, carrier_id in granted:
                db.execute("UPDATE calls SET slot_carrier=? WHERE id=?", (carrier_id, call_id))
            for carrier_id, at in paced.items():
                db.execute("INSERT INTO carrier_pacing (carrier_id, next_at) VALUES (?, ?) "
                           "ON CONFLICT (carrier_id) DO UPDATE SET next_at=excluded.next_at",
                           (carrier_id, at))
            return [call_id for call_id, _ in granted], next_wake

        return await self._db.write(write)

    async def release(self, call_id: str) -> None:
        """The call's attempt ended: its channel is free, and the other instances are told."""
        freed = self._db.engine.slots_freed

        def write(db: Connection) -> None:
            db.execute("UPDATE calls SET slot_carrier=NULL WHERE id=?", (call_id,))
            if freed is not None:
                db.execute(freed)

        await self._db.write(write)

    async def live(self) -> dict[str, int]:
        """Channels held per carrier, by every instance."""
        return dict(await self._db.read_all(
            "SELECT slot_carrier, COUNT(*) FROM calls WHERE slot_carrier IS NOT NULL "
            "GROUP BY slot_carrier"))


def _state(db: Connection) -> tuple[dict[str, int], dict[str, float]]:
    """Channels held per carrier, and each carrier's next allowed start."""
    live = dict(db.execute("SELECT slot_carrier, COUNT(*) FROM calls "
                           "WHERE slot_carrier IS NOT NULL GROUP BY slot_carrier").fetchall())
    pacing = dict(db.execute("SELECT carrier_id, next_at FROM carrier_pacing").fetchall())
    return live, pacing


def _select(waiting: list[tuple[str, str]], live: dict[str, int], pacing: dict[str, float],
            limits: Limits, cap: int, now: float
            ) -> tuple[list[tuple[str, str]], dict[str, float], float | None]:
    """Which waiting calls the limits let through now (oldest first; a full carrier does
    not hold up another), each carrier's new pacing, and when pacing next allows one."""
    live, total = dict(live), sum(live.values())
    granted: list[tuple[str, str]] = []
    paced: dict[str, float] = {}
    blocked: set[str] = set()
    wake: float | None = None
    for call_id, carrier_id in waiting:
        if total >= cap:
            break
        if carrier_id in blocked:
            continue
        channels, cps = limits(carrier_id)
        at = paced.get(carrier_id, pacing.get(carrier_id, 0.0))
        if live.get(carrier_id, 0) >= channels or at > now:
            blocked.add(carrier_id)
            if at > now:
                wake = at if wake is None else min(wake, at)
            continue
        paced[carrier_id] = now + 1.0 / cps
        live[carrier_id] = live.get(carrier_id, 0) + 1
        total += 1
        granted.append((call_id, carrier_id))
    return granted, paced, wake
