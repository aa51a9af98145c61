"""The engine under every repository, whichever database it is: the writer's thread and
its group commit, the reads, the ping. The repositories write one SQL over both; what
differs (connecting, placeholders, the schema's version and its lock) is the engine's
(sqlite_engine.py, postgres.py).

Writes run on one dedicated thread so the event loop never waits on the disk or the
network. Reads by key run where the engine says: SQLite's on the event loop, on a
read-only connection of their own (in WAL mode they never wait for a commit's fsync,
and a thread hand-off costs more than they do); PostgreSQL's on a thread of their own,
since a round trip to a server must never hold up the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from ari_app.errors import StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
PING_TIMEOUT = 2.0
RETRY_SECONDS = 5.0
"""How long a read or a write waits for a lost server to come back (a restart takes a
second or two) before it fails with StoreUnavailable."""


class _LostAtCommit(Exception):
    """The connection went while COMMIT was on its way: the server may have stored the
    transaction or not, so it is not written again."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What the repositories use of a connection: DB-API's execute, `?` placeholders."""

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor: ...
    def close(self) -> None: ...


class Engine(Protocol):
    name: str
    """What the messages call the database (its file, or its server and name)."""
    begin: str
    """The statement that opens a write transaction."""
    errors: tuple[type[Exception], ...]
    """What a failing statement raises: one write of a group fails alone."""
    lost: tuple[type[Exception], ...]
    """What a lost connection raises: the store is unavailable until it reconnects."""
    reads_inline: bool
    """Reads on the event loop (a local file) or on a thread (a server)."""
    snapshot: str
    """The statement that opens a read of several statements seeing one state."""
    slots_lock: str
    """The statement that makes a grant of carrier channels the only one under way."""
    slots_freed: str | None
    """The statement that tells other instances a channel was freed (NOTIFY), if any."""
    clock: str
    """An SQL expression of the database's clock (seconds since 1970): what several
    instances compare (heartbeats, pacing) is stamped by one clock, not each host's."""

    def connect(self, *, read_only: bool) -> Connection: ...
    def is_alive(self, db: Connection) -> bool: ...
    def migrate(self, db: Connection) -> int: ...
    def forget_key_hint(self, statement: str) -> str:
        """How an admin runs `statement` on this database by hand."""


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._reads = None if engine.reads_inline else ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="store-read")
        self._writer = engine.connect(read_only=False)
        engine.migrate(self._writer)
        self._reader = engine.connect(read_only=True)
        self._batch: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        """The task committing batches while writes keep coming."""

    @property
    def writer(self) -> Connection:
        """The writer's connection, made again if it was lost. On the store's thread only,
        or before the event loop runs (at start)."""
        if not self.engine.is_alive(self._writer):
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = self._connect(read_only=False)
        return self._writer

    def _reader_connection(self) -> Connection:
        if not self.engine.is_alive(self._reader):
            with contextlib.suppress(Exception):
                self._reader.close()
            self._reader = self._connect(read_only=True)
        return self._reader

    def _connect(self, *, read_only: bool) -> Connection:
        try:
            return self.engine.connect(read_only=read_only)
        except self.engine.lost as exc:
            raise StoreUnavailable(f"{self.engine.name} does not answer") from exc

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the store's thread, outside any batch: for writes that need no
        group commit. Not tried again when the connection is lost: it may have been done."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except self.engine.lost as exc:
            raise StoreUnavailable(f"{self.engine.name} does not answer") from exc

    async def _patiently(self, executor: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
        """`fn()` on `executor`, tried again while the server is away (each try on a new
        connection), for at most RETRY_SECONDS."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RETRY_SECONDS
        delay = 0.1
        retryable: tuple[type[Exception], ...] = (*self.engine.lost, StoreUnavailable)
        while True:
            try:
                return await loop.run_in_executor(executor, fn)
            except retryable as exc:
                if loop.time() + delay > deadline:
                    if isinstance(exc, StoreUnavailable):
                        raise
                    raise StoreUnavailable(f"{self.engine.name} does not answer") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """`fn(reader)`: a read by key, on the reader's connection."""
        if self._reads is None:
            return fn(self._reader)
        return await self._patiently(self._reads, lambda: fn(self._reader_connection()))

    async def read_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self.read(lambda db: db.execute(sql, params).fetchone())

    async def read_all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self.read(lambda db: db.execute(sql, params).fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """One row (or None) of a read on the store's thread."""
        return await self._patiently(self._executor,
                                     lambda: self.writer.execute(sql, params).fetchone())

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Every row of a read on the store's thread (many rows: not on the event loop)."""
        return await self._patiently(self._executor,
                                     lambda: self.writer.execute(sql, params).fetchall())

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """A write outside the group commit (rare ones: keys, the breaker, deliveries);
        the number of rows it changed."""
        return await self.run(lambda: self.writer.execute(sql, params).rowcount)

    async def alone(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(writer)` in a transaction of its own, outside any group commit: for one
        that takes a lock first (a grant of channels), so that no write of a batch holds
        row locks while it waits for that lock. Tried again like a batch when the server
        goes away before COMMIT."""
        try:
            return await self._patiently(self._executor, functools.partial(
                self._commit, [fn], alone=True))
        except _LostAtCommit as exc:
            raise StoreUnavailable(f"{self.engine.name} went away during a commit: it may "
                                   "or may not have been stored") from exc

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(writer)` in a transaction, committed (fsync) before this returns; its
        exception is raised here.

        Group commit: writes that arrive while a commit is under way wait and go together
        in the next transaction, each in a savepoint of its own (one failing does not undo
        the others), so a burst costs one commit, not one per write.

        A transaction cut off by a lost connection before its COMMIT was rolled back by the
        server, and is tried again on a new connection (for at most RETRY_SECONDS); one cut
        off during its COMMIT fails with StoreUnavailable at once.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._batch.append((fn, future))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await future

    async def ping(self, timeout: float = PING_TIMEOUT) -> None:
        """Raises unless the writer's thread and connection answer within `timeout` seconds
        (behind a commit under way, if there is one): a hung disk or server is reported,
        not waited for."""
        async with asyncio.timeout(timeout):
            await self.run(lambda: self.writer.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        if self._reads is not None:
            await asyncio.get_running_loop().run_in_executor(self._reads, self._reader.close)
            self._reads.shutdown(wait=True)
        else:
            self._reader.close()
        await asyncio.get_running_loop().run_in_executor(self._executor, self._writer.close)
        self._executor.shutdown(wait=True)

    async def _flush(self) -> None:
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                writes = [fn for fn, _ in batch]
                try:
                    results = await self._patiently(self._executor,
                                                    functools.partial(self._commit, writes))
                except _LostAtCommit as exc:
                    results = [StoreUnavailable(
                        f"{self.engine.name} went away during a commit: it may or may not "
                        "have been stored")] * len(batch)
                    log.error("lost the database during a commit (%s)", exc)
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

    def _commit(self, writes: list[Callable[[Connection], Any]], *,
                alone: bool = False) -> Any:
        """The writes in one transaction, each in a savepoint; their results (or the one
        write's result, raised if it failed, when `alone`)."""
        db = self.writer
        results: list[Any] = []
        db.execute(self.engine.begin)
        try:
            if alone or len(writes) == 1:
                # One write needs no savepoint (two round trips fewer to a server).
                try:
                    results.append(writes[0](db))
                except self.engine.lost:
                    raise
                except self.engine.errors as exc:
                    if alone:
                        raise
                    db.execute("ROLLBACK")
                    return [exc]
                writes = []
            for write in writes:
                db.execute("SAVEPOINT one")
                try:
                    results.append(write(db))
                except self.engine.lost:
                    raise
                except self.engine.errors as exc:
                    db.execute("ROLLBACK TO one")
                    results.append(exc)
                db.execute("RELEASE one")
            try:
                db.execute("COMMIT")
            except self.engine.lost as exc:
                raise _LostAtCommit(type(exc).__name__) from exc
        except BaseException:
            with contextlib.suppress(Exception):  # a lost connection has nothing to undo
                db.execute("ROLLBACK")
            raise
        return results[0] if alone else results
