"""The instances sharing a database: each one's heartbeat, and whether it stopped.

An instance is gone when it stopped (SIGTERM: its queued calls wait for another) or
when its heartbeat is older than `dead_after` (killed, or cut off from the database).
"""

from __future__ import annotations

from ari_app.errors import StoreError
from ari_app.store.database import Connection, Database

GONE = "(stopped_at IS NOT NULL OR heartbeat_at < ?)"


class SqlInstances:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def join(self, instance: str, app: str, *, now: float, dead_after: float) -> None:
        """Register this instance; StoreError if one of that name is alive."""

        def write(db: Connection) -> bool:
            changed = db.execute(
                "INSERT INTO instances (id, app, started_at, heartbeat_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET app=excluded.app, started_at=excluded.started_at, "
                "heartbeat_at=excluded.heartbeat_at, stopped_at=NULL "
                "WHERE instances.stopped_at IS NOT NULL OR instances.heartbeat_at < ?",
                (instance, app, now, now, now - dead_after)).rowcount
            return bool(changed)

        if not await self._db.write(write):
            raise StoreError(f"an instance named {instance} is running on this database: give "
                             "each instance its own cluster.instance")

    async def beat(self, instance: str, now: float) -> None:
        await self._db.write(lambda db: db.execute(
            "UPDATE instances SET heartbeat_at=? WHERE id=?", (now, instance)))

    async def leave(self, instance: str, now: float) -> None:
        await self._db.write(lambda db: db.execute(
            "UPDATE instances SET stopped_at=? WHERE id=?", (now, instance)))

    async def gone_with_calls(self, instance: str, *, now: float,
                              dead_after: float) -> list[str]:
        """Other instances that are gone and still own unfinished calls."""
        rows = await self._db.read_all(
            f"SELECT id FROM instances WHERE id<>? AND {GONE} AND EXISTS "  # noqa: S608
            "(SELECT 1 FROM calls WHERE owner=instances.id AND request IS NOT NULL)",
            (instance, now - dead_after))
        return [row[0] for row in rows]

    async def alive(self, *, now: float, dead_after: float) -> list[str]:
        rows = await self._db.read_all(
            "SELECT id FROM instances WHERE stopped_at IS NULL AND heartbeat_at >= ? "
            "ORDER BY id", (now - dead_after,))
        return [row[0] for row in rows]
