"""The SQLite store: its migrations (from an empty database and from the schema main had
before them), typed changes, the outbox written with its state change, and ping."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import threading
from pathlib import Path

import pytest

from ari_app.entries import Speech
from ari_app.errors import StoreError
from ari_app.keys import new_key
from ari_app.outcome import CallError, Hangup, State
from ari_app.request import CallRequest
from ari_app.store import AttemptEnd, AttemptRecord, CallUpdate, SqliteStore
from ari_app.store.migrations import MIGRATIONS, Migration, migrate, version

MAIN_SCHEMA = Path(__file__).parents[1] / "data" / "schema-0b6ef8b.sql"
LATEST = MIGRATIONS[-1].version
REQUEST = CallRequest(to="+12125551212", caller_id="+15550100", carrier_id="74445609",
                      playlist=(Speech("Your code is 123456", "en-US", "female", "digits"),),
                      callback_url="http://hooks.example/x")


def tables(path: Path) -> dict[str, set[str]]:
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: {r[1] for r in db.execute(f"PRAGMA table_info({n})")} for n in names}


async def test_an_empty_database_gets_every_migration(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite3")
    await store.close()
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        assert version(db) == LATEST
    assert set(tables(tmp_path / "db.sqlite3")) == {
        "calls", "attempts", "idempotency", "deliveries", "api_keys", "breaker",
        "verifications", "sealing"}


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

    store = SqliteStore(path)
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
    assert after["calls"] == before["calls"] | {"delivery", "verification_id"}
    assert {k: v for k, v in after.items() if k not in ("calls", "verifications", "sealing")} == \
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
    store = SqliteStore(path)
    await store.close()
    assert {"callback_url", "api_key", "client", "est_cost"} <= tables(path)["calls"]


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {LATEST + 1}")
    with pytest.raises(StoreError, match=f"version {LATEST + 1}, newer"):
        SqliteStore(path)


def test_services_starting_together_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    applied: list[int] = []

    def counted(migration: Migration) -> Migration:
        def apply(db: sqlite3.Connection) -> None:
            applied.append(migration.version)
            migration.apply(db)
        return dataclasses.replace(migration, apply=apply)

    migrations = tuple(counted(m) for m in MIGRATIONS)
    reached: list[int] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            db = sqlite3.connect(path, isolation_level=None, timeout=10)
            reached.append(migrate(db, migrations))
            db.close()
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
async def store(tmp_path: Path) -> SqliteStore:
    made = SqliteStore(tmp_path / "db.sqlite3")
    yield made  # type: ignore[misc]
    await made.close()


async def test_a_change_writes_its_columns_and_its_event_together(store: SqliteStore) -> None:
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
        store: SqliteStore) -> None:
    await store.calls.insert("c1", REQUEST)
    # The event cannot be written (not JSON), so neither is the state change it tells of:
    # they share one transaction. (An error that is not SQLite's fails the whole commit,
    # so every write of that group commit fails with it, and is told so.)
    with pytest.raises(TypeError):
        await store.calls.update("c1", CallUpdate(State.DIALING),
                                 event={"type": "call.state", "unwritable": object()})
    assert (await store.calls.get("c1")).state == "queued"  # type: ignore[union-attr]
    assert (await store.calls.details("c1"))[2] == []  # type: ignore[index]


async def test_one_failing_write_of_a_group_commit_spares_the_others(
        store: SqliteStore) -> None:
    await store.calls.insert("dup", REQUEST)
    results = await asyncio.gather(
        store.calls.insert("a", REQUEST), store.calls.insert("dup", REQUEST),
        store.calls.insert("b", REQUEST), return_exceptions=True)
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert [await store.calls.get(i) is not None for i in ("a", "b")] == [True, True]


async def test_keys_and_breaker(store: SqliteStore) -> None:
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


async def test_ping_answers_until_the_store_is_closed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite3")
    await store.ping()
    await store.close()
    with pytest.raises(RuntimeError):
        await store.ping()
