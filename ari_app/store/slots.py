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
    def __init__(self, db: Database, *, owner: str | None = None) -> None:
        """`owner`: this instance; it grants and frees channels of its own calls only."""
        self._db = db
        self._owner = owner

    async def take(self, waiting: list[tuple[str, str]], *, limits: Limits,
                   cap: int) -> tuple[list[str], float | None]:
        """Grant channels to the waiting (call id, carrier id), oldest first, as far as
        every carrier's limits and the global `cap` allow across all instances. Returns
        the ids granted, and in how many seconds pacing allows the next (None: not paced).
        Pacing is stamped by the database's clock, one for every host.

        A look without the lock comes first: when no carrier of the waiting calls has
        room (the common case of a full queue), nothing is written at all. A grant is a
        transaction of its own (`Database.alone`): it waits for the lock holding no row."""
        clock = self._db.engine.clock
        lock = self._db.engine.slots_lock
        grantable, _, wake = _select(waiting, *await self._db.read(
            lambda db: _state(db, clock)), limits, cap)
        if not grantable:
            return [], wake

        def write(db: Connection) -> tuple[list[str], float | None]:
            db.execute(lock)
            granted, paced, next_wake = _select(waiting, *_state(db, clock), limits, cap)
            for call_id, carrier_id in granted:
                db.execute("UPDATE calls SET slot_carrier=? WHERE id=? "
                           "AND owner IS NOT DISTINCT FROM ?", (carrier_id, call_id, self._owner))
            for carrier_id, after in paced.items():
                db.execute("INSERT INTO carrier_pacing (carrier_id, next_at) "  # noqa: S608
                           f"VALUES (?, {clock} + ?) ON CONFLICT (carrier_id) "
                           "DO UPDATE SET next_at=excluded.next_at", (carrier_id, after))
            return [call_id for call_id, _ in granted], next_wake

        return await self._db.alone(write)

    async def release(self, call_id: str) -> None:
        """The call's attempt ended: its channel is free, and the other instances are told."""
        freed = self._db.engine.slots_freed

        def write(db: Connection) -> None:
            db.execute("UPDATE calls SET slot_carrier=NULL WHERE id=? "
                       "AND owner IS NOT DISTINCT FROM ?", (call_id, self._owner))
            if freed is not None:
                db.execute(freed)

        await self._db.write(write)


def _state(db: Connection, clock: str) -> tuple[dict[str, int], dict[str, float]]:
    """Channels held per carrier, and in how many seconds each carrier's pacing allows
    its next call (by the database's clock; 0 or less: now)."""
    live = dict(db.execute("SELECT slot_carrier, COUNT(*) FROM calls "
                           "WHERE slot_carrier IS NOT NULL GROUP BY slot_carrier").fetchall())
    pacing = dict(db.execute(f"SELECT carrier_id, next_at - {clock} "  # noqa: S608
                             "FROM carrier_pacing").fetchall())
    return live, pacing


def _select(waiting: list[tuple[str, str]], live: dict[str, int], pacing: dict[str, float],
            limits: Limits, cap: int
            ) -> tuple[list[tuple[str, str]], dict[str, float], float | None]:
    """Which waiting calls the limits let through now (oldest first; a full carrier does
    not hold up another), the seconds each granted carrier must then wait for its next
    call, and in how many seconds pacing next allows one (None: no carrier is paced)."""
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
        wait = paced.get(carrier_id, pacing.get(carrier_id, 0.0))
        if live.get(carrier_id, 0) >= channels or wait > 0:
            blocked.add(carrier_id)
            if wait > 0:
                wake = wait if wake is None else min(wake, wait)
            continue
        paced[carrier_id] = 1.0 / cps
        live[carrier_id] = live.get(carrier_id, 0) + 1
        total += 1
        granted.append((call_id, carrier_id))
    return granted, paced, wake
