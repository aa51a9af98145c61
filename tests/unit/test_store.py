"""The store on both engines, SQLite and PostgreSQL (each test that takes `open_store` or
`store` runs on each): migrations (from an empty database, from the schema main had
before them on SQLite, two instances starting together), typed changes, the outbox
written with its state change, ping, and on PostgreSQL the one-instance lock and a
server restart."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import psycopg
import pytest

from ari_app.entries import Speech
from ari_app.errors import IdempotencyKeyTaken, StoreError, StoreUnavailable
from ari_app.keys import new_key
from ari_app.outcome import CallError, Hangup, State
from ari_app.request import CallRequest
from ari_app.store import AttemptEnd, AttemptRecord, CallUpdate, Idempotency, Store
from ari_app.store.migrations import MIGRATIONS, Migration, Schema, migrate
from ari_app.store.postgres import PostgresSchema, _PgConnection
from ari_app.store.sqlite import SqliteSchema
from sandbox.postgres import PostgresServer

MAIN_SCHEMA = Path(__file__).parents[1] / "data" / "schema-0b6ef8b.sql"
LATEST = MIGRATIONS[-1].version
REQUEST = CallRequest(to="+12125551212", caller_id="+15550100", carrier_id="74445609",
                      playlist=(Speech("Your code is 123456", "en-US", "female", "digits"),),
                      callback_url="http://hooks.example/x")


def version(db: sqlite3.Connection) -> int:
    return SqliteSchema(db).version()


def tables(path: Path) -> dict[str, set[str]]:
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: {r[1] for r in db.execute(f"PRAGMA table_info({n})")} for n in names}


TABLES = {"calls", "attempts", "idempotency", "deliveries", "api_keys", "breaker",
          "verifications", "sealing", "carrier_pacing", "instances"}


def pg_schema(url: str) -> PostgresSchema:
    return PostgresSchema(_PgConnection(psycopg.connect(url, autocommit=True)))


async def test_an_empty_database_gets_every_migration(tmp_path: Path) -> None:
    await Store.sqlite(tmp_path / "db.sqlite3").close()
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        assert version(db) == LATEST
    assert set(tables(tmp_path / "db.sqlite3")) == TABLES


async def test_an_empty_postgres_database_gets_every_migration(
        postgres_url: str, tmp_path: Path) -> None:
    await Store.postgres(postgres_url, tmp_path / "key").close()
    schema = pg_schema(postgres_url)
    with schema.exclusive():
        assert schema.version() == LATEST
    for table in TABLES:
        assert schema.columns(table), table
    # Every column SQLite calls REAL is a 64-bit float here: no timestamp loses its seconds.
    assert schema.columns("calls") == tables_of_a_new_sqlite(tmp_path)["calls"]
    rows = psycopg.connect(postgres_url).execute(
        "SELECT DISTINCT data_type FROM information_schema.columns "
        "WHERE table_name='calls' AND column_name LIKE '%_at'").fetchall()
    assert rows == [("double precision",)]


def tables_of_a_new_sqlite(tmp_path: Path) -> dict[str, set[str]]:
    path = tmp_path / "new.sqlite3"
    with sqlite3.connect(path, isolation_level=None) as db:
        migrate(SqliteSchema(db))
    return tables(path)


async def test_a_database_of_main_before_migrations_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as db:  # as the service on main left it
        db.executescript(MAIN_SCHEMA.read_text())
        db.execute(
            "INSERT INTO calls (id, state, carrier_id, to_number, caller_id, entry_types, "
            "request, created_at, updated_at, callback_url, api_key, client, est_cost) "
            "VALUES ('c1', 'queued', '74445609', '+12125551212', '+15550100', 'tts', ?, 1.0, "
            "1.0, 'http://hooks.example/x', 'k1', '127.0.0.1', 0.05)",
            (json.dumps({"to": "+12125551212", "caller_id": "+15550100",
                         "carrier_id": "74445609", "callback_url": "http://hooks.example/x",
                         "playlist": [{"kind": "tts", "text": "Your code is 123456",
                                       "language": "en-US", "gender": "female",
                                       "say_as": "digits", "pause_ms": 250, "group": 0,
                                       "repeat": 1, "rate": 100}]}),))
        db.execute("INSERT INTO breaker (id, tripped_at, reason) VALUES (1, 5.0, 'too many')")
    before = tables(path)

    store = Store.sqlite(path)
    ((record, request),) = await store.calls.unfinished()
    assert record.id == "c1" and request == REQUEST
    assert (await store.breaker.state()) is not None
    assert [c.to_number for c in await store.calls.recent(0)] == ["+12125551212"]
    await store.calls.update("c1", CallUpdate(State.CANCELED, ended_at=2.0))
    assert (await store.calls.get("c1")).state == "canceled"  # type: ignore[union-attr]
    await store.close()
    with sqlite3.connect(path) as db:
        assert version(db) == LATEST
    # Nothing was missing; what later migrations add is there too.
    after = tables(path)
    assert after["calls"] == before["calls"] | {"delivery", "verification_id", "owner",
                                                "slot_carrier", "canceled_at"}
    new = ("calls", "verifications", "sealing", "carrier_pacing", "instances")
    assert {k: v for k, v in after.items() if k not in new} == \
        {k: v for k, v in before.items() if k != "calls"}


async def test_a_database_older_still_gets_the_columns_added_since(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    old = MAIN_SCHEMA.read_text()
    for column in ("callback_url TEXT,", "api_key TEXT,", "client TEXT,", "est_cost REAL"):
        old = old.replace(f"    {column}\n", "")
    old = old.replace("    error TEXT,\n", "    error TEXT\n")
    old = "".join(line for line in old.splitlines(True)
                  if "calls_key" not in line and "calls_client" not in line)
    with sqlite3.connect(path) as db:
        db.executescript(old)
    assert "est_cost" not in tables(path)["calls"]
    await Store.sqlite(path).close()
    assert {"callback_url", "api_key", "client", "est_cost"} <= tables(path)["calls"]


def newer_than_the_code(engine: str, tmp_path: Path, postgres_url: Callable[[], str]) -> None:
    if engine == "sqlite":
        with sqlite3.connect(tmp_path / "db.sqlite3") as db:
            db.execute(f"PRAGMA user_version = {LATEST + 1}")
    else:
        schema = pg_schema(postgres_url())
        with schema.exclusive():
            schema.set_version(LATEST + 1)


def test_a_database_newer_than_the_code_is_refused(
        engine: str, open_store: Callable[..., Store], tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    newer_than_the_code(engine, tmp_path, lambda: str(request.getfixturevalue("postgres_url")))
    with pytest.raises(StoreError, match=f"version {LATEST + 1}, newer"):
        open_store()


def test_services_starting_together_migrate_once(
        engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    applied: list[int] = []

    def counted(migration: Migration) -> Migration:
        def apply(schema: Schema) -> None:
            applied.append(migration.version)
            migration.apply(schema)
        return dataclasses.replace(migration, apply=apply)

    migrations = tuple(counted(m) for m in MIGRATIONS)
    reached: list[int] = []
    errors: list[BaseException] = []
    if engine == "sqlite":
        def connect() -> Schema:
            return SqliteSchema(sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None,
                                                timeout=10))
    else:
        url = request.getfixturevalue("postgres_url")

        def connect() -> Schema:
            return pg_schema(url)

    def start() -> None:
        try:
            reached.append(migrate(connect(), migrations))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and reached == [LATEST] * 4
    assert applied == [m.version for m in MIGRATIONS]  # each once, whoever came first


@pytest.fixture
async def store(open_store: Callable[..., Store]) -> AsyncIterator[Store]:
    made = open_store()
    yield made
    await made.close()


async def test_a_change_writes_its_columns_and_its_event_together(store: Store) -> None:
    await store.calls.insert("c1", REQUEST, event={"type": "call.state", "state": "queued"})
    attempt = AttemptRecord(n=0, carrier_id="74445609", channel_id="c1", started_at=1.0)
    await store.calls.update("c1", CallUpdate(State.DIALING, speech_engines="flite",
                                              audio_seconds=2.5),
                             attempt=attempt, event={"type": "call.state", "state": "dialing"})
    await store.calls.update("c1", CallUpdate(State.ANSWERED, answered_at=3.0))
    hangup = Hangup(16, "Normal Clearing", None)
    await store.calls.update(
        "c1", CallUpdate(State.FAILED, ended_at=4.0, hangup=hangup, played=1,
                         error=CallError("max-duration", "too long")),
        attempt_end=AttemptEnd(0, ended_at=4.0, outcome="max-duration", hangup=hangup),
        event={"type": "call.state", "state": "failed"})

    found = await store.calls.details("c1")
    assert found is not None
    record, attempts, deliveries = found
    assert (record.state, record.speech_engines, record.audio_seconds, record.answered_at,
            record.ended_at, record.cause, record.played, record.error_id) == (
        "failed", "flite", 2.5, 3.0, 4.0, 16, 1, "max-duration")
    assert [(a.outcome, a.cause, a.ended_at) for a in attempts] == [("max-duration", 16, 4.0)]
    assert [json.loads(d.body)["state"] for d in deliveries] == ["queued", "dialing", "failed"]
    assert await store.calls.unfinished() == []  # the request, and its code, are gone


async def test_a_change_and_its_event_are_stored_together_or_not_at_all(
        store: Store) -> None:
    await store.calls.insert("c1", REQUEST)
    # The event cannot be written (not JSON), so neither is the state change it tells of:
    # they share one transaction. (An error that is not the database's fails the whole commit,
    # so every write of that group commit fails with it, and is told so.)
    with pytest.raises(TypeError):
        await store.calls.update("c1", CallUpdate(State.DIALING),
                                 event={"type": "call.state", "unwritable": object()})
    assert (await store.calls.get("c1")).state == "queued"  # type: ignore[union-attr]
    assert (await store.calls.details("c1"))[2] == []  # type: ignore[index]


async def test_one_failing_write_of_a_group_commit_spares_the_others(
        store: Store) -> None:
    await store.calls.insert("dup", REQUEST)
    results = await asyncio.gather(
        store.calls.insert("a", REQUEST), store.calls.insert("dup", REQUEST),
        store.calls.insert("b", REQUEST), return_exceptions=True)
    assert "unique" in str(results[1]).lower()  # SQLite's and PostgreSQL's own words
    assert [await store.calls.get(i) is not None for i in ("a", "b")] == [True, True]


async def test_keys_and_breaker(store: Store) -> None:
    key, key_hash, _ = new_key("shop", carriers=("74445609",))
    await store.keys.add(key, key_hash)
    assert await store.keys.get(key.id) == (key, key_hash)
    assert await store.keys.revoke(key.id) and not await store.keys.revoke(key.id)
    await store.breaker.trip("first")
    await store.breaker.trip("second")
    trip = await store.breaker.state()
    assert trip is not None and trip.reason == "first"
    await store.breaker.reset()
    assert await store.breaker.state() is None


async def test_ping_answers_until_the_store_is_closed(open_store: Callable[..., Store]) -> None:
    store = open_store()
    await store.ping()
    await store.close()
    with pytest.raises(RuntimeError):
        await store.ping()


async def test_a_key_stored_by_another_store_at_once_is_taken(
        open_store: Callable[..., Store]) -> None:
    first, second = open_store(), open_store()  # two instances on one database
    key = Idempotency("order-1", "hash")
    results = await asyncio.gather(first.calls.insert("c1", REQUEST, idempotency=key),
                                   second.calls.insert("c2", REQUEST, idempotency=key),
                                   return_exceptions=True)
    assert sum(isinstance(r, IdempotencyKeyTaken) for r in results) == 1
    stored = [c for c in ("c1", "c2") if await first.calls.get(c) is not None]
    assert len(stored) == 1 and await first.idempotency.first("order-1") == (key, stored[0])
    await first.close()
    await second.close()


async def test_instances_of_one_name_never_run_together(
        open_store: Callable[..., Store]) -> None:
    store = open_store()
    instances = store.instances
    await instances.join("a", "ari-app-a", dead_after=0.5)
    await instances.join("b", "ari-app-b", dead_after=0.5)
    with pytest.raises(StoreError, match="an instance named a is running"):
        await instances.join("a", "ari-app-a", dead_after=0.5)
    await asyncio.sleep(0.6)  # a is silent longer than dead_after, by the database's clock
    await instances.join("a", "ari-app-a", dead_after=0.5)
    await instances.leave("b")
    await instances.join("b", "ari-app-b", dead_after=0.5)  # stopped: free again
    assert await instances.alive(dead_after=10) == ["a", "b"]
    await instances.beat("a")
    assert await instances.gone_with_calls("b", dead_after=10) == []
    await store.close()


async def test_postgres_away_refuses_then_reconnects(
        postgres: PostgresServer, postgres_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ari_app.store.database.RETRY_SECONDS", 0.5)
    store = Store.postgres(postgres_url, tmp_path / "key")
    await store.calls.insert("before", REQUEST)
    postgres.stop()
    try:
        with pytest.raises(StoreUnavailable, match="PostgreSQL database test_"):
            await store.calls.insert("during", REQUEST)
        with pytest.raises(StoreUnavailable):
            await store.calls.get("before")
        with pytest.raises(StoreUnavailable):
            await store.ping()
    finally:
        postgres.start()
    await store.ping()
    await store.calls.insert("after", REQUEST)
    assert [(await store.calls.get(i)) is not None for i in ("before", "during", "after")] == \
        [True, False, True]
    assert [r.id for r, _ in await store.calls.unfinished()] == ["before", "after"]
    await store.close()


async def test_a_postgres_restart_is_waited_for(
        postgres: PostgresServer, postgres_url: str, tmp_path: Path) -> None:
    """A write and a read while the server restarts (about a second) wait for it and succeed."""
    store = Store.postgres(postgres_url, tmp_path / "key")
    await store.calls.insert("before", REQUEST)
    postgres.stop()
    threading.Timer(1.0, postgres.start).start()
    await store.calls.insert("during", REQUEST)
    assert (await store.calls.get("before")) is not None
    await store.calls.update("before", CallUpdate(State.CANCELED, ended_at=2.0))
    assert [r.id for r, _ in await store.calls.unfinished()] == ["during"]
    await store.close()
