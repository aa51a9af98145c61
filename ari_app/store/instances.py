"""The instances sharing a database: each one's heartbeat, and whether it stopped.

An instance is gone when it stopped (SIGTERM: its queued calls wait for another) or
when its heartbeat is older than `dead_after` (killed, or cut off from the database).
Heartbeats are stamped and judged by the database's clock: a host whose clock is off
is not taken for dead, nor a dead one for alive.
"""

from __future__ import annotations

from ari_app.errors import StoreError
from ari_app.store.database import Connection, Database


class SqlInstances:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._clock = db.engine.clock

    async def join(self, instance: str, app: str, *, dead_after: float) -> None:
        """Register this instance; StoreError if one of that name is alive."""
        clock = self._clock

        def write(db: Connection) -> bool:
            return bool(db.execute(
                "INSERT INTO instances (id, app, started_at, heartbeat_at) "  # noqa: S608
                f"VALUES (?, ?, {clock}, {clock}) "
                "ON CONFLICT (id) DO UPDATE SET app=excluded.app, started_at=excluded.started_at, "
                "heartbeat_at=excluded.heartbeat_at, stopped_at=NULL "
                f"WHERE instances.stopped_at IS NOT NULL OR instances.heartbeat_at < {clock} - ?",
                (instance, app, dead_after)).rowcount)

        if not await self._db.write(write):
            raise StoreError(f"an instance named {instance} is running on this database: give "
                             "each instance its own cluster.instance")

    async def beat(self, instance: str) -> None:
        await self._db.write(lambda db: db.execute(
            f"UPDATE instances SET heartbeat_at={self._clock} WHERE id=?",  # noqa: S608
            (instance,)))

    async def leave(self, instance: str) -> None:
        await self._db.write(lambda db: db.execute(
            f"UPDATE instances SET stopped_at={self._clock} WHERE id=?",  # noqa: S608
            (instance,)))

    async def gone_with_calls(self, instance: str, *, dead_after: float) -> list[str]:
        """Other instances that are gone and still own unfinished calls."""
        rows = await self._db.read_all(
            "SELECT id FROM instances WHERE id<>? AND (stopped_at IS NOT NULL "  # noqa: S608
            f"OR heartbeat_at < {self._clock} - ?) AND EXISTS "
            "(SELECT 1 FROM calls WHERE owner=instances.id AND request IS NOT NULL)",
            (instance, dead_after))
        return [row[0] for row in rows]

    async def alive(self, *, dead_after: float) -> list[str]:
        rows = await self._db.read_all(
            "SELECT id FROM instances WHERE stopped_at IS NULL "  # noqa: S608
            f"AND heartbeat_at >= {self._clock} - ? ORDER BY id", (dead_after,))
        return [row[0] for row in rows]
