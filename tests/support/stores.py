"""The store on either engine: a PostgreSQL server of the test session's own (started the
first time a test asks for it), and a fixture that runs a test once on SQLite and once
on PostgreSQL, each time on a new empty database."""

from __future__ import annotations

import dataclasses
import itertools
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ari_app.config_reader import Secret
from ari_app.settings import Settings
from ari_app.store import Store
from sandbox.postgres import PostgresServer, temporary

ENGINES = ["sqlite", "postgres"]
_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with temporary("ari-app-pg-") as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """A new empty database on the session's server."""
    return postgres.create_database(f"test_{next(_databases)}")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_store(engine: str, tmp_path: Path,
               request: pytest.FixtureRequest) -> Callable[..., Store]:
    """Opens the test's database on its engine (again, after a close: the same one)."""
    if engine == "sqlite":
        return lambda **_: Store.sqlite(tmp_path / "db.sqlite3")
    url = request.getfixturevalue("postgres_url")
    return lambda **kw: Store.postgres(url, tmp_path / "ari-app.key", **kw)


@dataclass(frozen=True)
class RigDatabase:
    """The database a service test's rig uses, on the test's engine, and a look inside it
    that goes around the service."""

    path: Path
    url: str | None = None
    server: PostgresServer | None = None

    def settings(self, settings: Settings) -> Settings:
        if self.url is None:
            return dataclasses.replace(settings, storage_path=self.path)
        return dataclasses.replace(settings, storage_url=Secret(self.url))

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        if self.url is None:
            with sqlite3.connect(self.path) as db:
                return db.execute(sql, params).fetchall()
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()  # type: ignore[arg-type]

    def files(self) -> list[Path]:
        """Every file the database keeps its data in, written out to disk first."""
        if self.server is None:
            return list(self.path.parent.glob(f"{self.path.name}*"))
        self.server.sql("CHECKPOINT")
        ((oid,),) = self.rows("SELECT oid FROM pg_database WHERE datname = current_database()")
        return [p for folder in (self.server.data / "base" / str(oid), self.server.data / "pg_wal")
                for p in folder.rglob("*") if p.is_file()]


@pytest.fixture
def rig_database(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> RigDatabase:
    path = tmp_path / "db.sqlite3"
    if engine == "sqlite":
        return RigDatabase(path)
    return RigDatabase(path, request.getfixturevalue("postgres_url"),
                        request.getfixturevalue("postgres"))
