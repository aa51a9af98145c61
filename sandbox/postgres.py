"""A PostgreSQL server of our own, from Debian's packages, for the tests and benchmarks:
its own data directory, reached only by a unix socket in that directory (no TCP port,
so it never collides with a server the machine already runs).

PostgreSQL refuses to run as root: as root, its programs run as Debian's `postgres`
user, who owns the directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin/"),
                  key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


def _bin(name: str) -> str:
    if not BIN_DIRS:
        raise RuntimeError("PostgreSQL is not installed (Debian package `postgresql`; "
                           "`make test` installs it)")
    return str(BIN_DIRS[-1] / name)


class PostgresServer:
    def __init__(self, directory: Path, *, durable: bool = False) -> None:
        """`durable`: fsync every commit, as a production server does (the benchmarks);
        without it, the tests' server skips fsync."""
        self.dir = directory
        self.data = directory / "data"
        self.log = directory / "postgres.log"
        self._durable = durable
        self._as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.dir}"

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as_owner, *command], check=True, capture_output=True,
                       timeout=120)

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self._as_owner:
            shutil.chown(self.dir, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._run(_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                      "-E", "UTF8", "--locale=C", "--no-instructions")
        options = f"-k {self.dir} -c listen_addresses='' -c max_connections=200"
        if not self._durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def sql(self, statement: str, database: str = "postgres") -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cursor = conn.execute(statement)  # type: ignore[arg-type,unused-ignore]
            return cursor.fetchall() if cursor.description else []

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def temporary(prefix: str) -> Iterator[PostgresServer]:
    """A server in a new folder under /tmp (not pytest's: as root, PostgreSQL runs as
    `postgres`, who cannot enter root's private folders), removed after."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    server = PostgresServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
