"""The SQLite engine under every repository: its connections, the schema's migrations at
start, and the group commit.

Writes run on one dedicated thread so the event loop never waits on the disk. Reads
by key run on the event loop, on a read-only connection of their own: in WAL mode
they never wait for a commit's fsync, and a thread hand-off costs more than they do.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ari_app.store.migrations import migrate

T = TypeVar("T")
PING_TIMEOUT = 2.0


class Database:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self.writer = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        """Used on the store's thread only (`run`, `write`)."""
        self.writer.execute("PRAGMA journal_mode=WAL")
        self.writer.execute("PRAGMA synchronous=FULL")
        # Erased requests are overwritten, not just unlinked from the b-tree.
        self.writer.execute("PRAGMA secure_delete=ON")
        migrate(self.writer)
        path.chmod(0o600)
        self.reader = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        """Used on the event loop, for reads by key."""
        self.reader.execute("PRAGMA query_only=ON")
        self._batch: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        """The task committing batches while writes keep coming."""

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the store's thread, outside any batch: for reads of many rows and
        writes that need no group commit."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """One row (or None) of a read on the store's thread."""
        return await self.run(lambda: self.writer.execute(sql, params).fetchone())

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Every row of a read on the store's thread (many rows: not on the event loop)."""
        return await self.run(lambda: self.writer.execute(sql, params).fetchall())

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """A write outside the group commit (rare ones: keys, the breaker, deliveries);
        the number of rows it changed."""
        return await self.run(lambda: self.writer.execute(sql, params).rowcount)

    async def write(self, fn: Callable[[], T]) -> T:
        """Run `fn` in a transaction, committed (fsync) before this returns; its exception
        is raised here.

        Group commit: writes that arrive while a commit is on disk wait and go together
        in the next transaction, each in a savepoint of its own (one failing does not undo
        the others), so a burst costs one fsync, not one per write.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._batch.append((fn, future))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await future

    async def ping(self, timeout: float = PING_TIMEOUT) -> None:
        """Raises unless the writer's thread and connection answer within `timeout` seconds
        (behind a commit on disk, if one is under way): a hung disk is reported, not
        waited for."""
        async with asyncio.timeout(timeout):
            await self.run(lambda: self.writer.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        self.reader.close()
        await self.run(self.writer.close)
        self._executor.shutdown(wait=True)

    async def _flush(self) -> None:
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                try:
                    results = await self.run(self._commit, [fn for fn, _ in batch])
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
            self._flusher = None

    def _commit(self, writes: list[Callable[[], Any]]) -> list[Any]:
        results: list[Any] = []
        with self.writer:  # BEGIN ... COMMIT
            self.writer.execute("BEGIN IMMEDIATE")
            for write in writes:
                self.writer.execute("SAVEPOINT one")
                try:
                    results.append(write())
                except sqlite3.Error as exc:
                    self.writer.execute("ROLLBACK TO one")
                    results.append(exc)
                self.writer.execute("RELEASE one")
        return results
