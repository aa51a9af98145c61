"""The config file's `storage:` section: a SQLite file (`path`) or a PostgreSQL server
(`url`), and the key that seals codes in it."""

from __future__ import annotations

from pathlib import Path

from ari_app.config_reader import Reader, Secret


def read_storage(reader: Reader, base: Path) -> tuple[Path, Secret | None, Path]:
    """The database (a SQLite file, or a PostgreSQL server's URL), and the key that seals
    codes in it (beside the SQLite file, or in var/, unless set)."""
    url: Secret | None = None
    if reader.raw("url", None) is not None:
        url = reader.secret("url")
        if not url.reveal().startswith(("postgresql://", "postgres://")):
            reader.problem(reader.key("url"), "must be a PostgreSQL URL, "
                           "postgresql://user@host:5432/dbname (or leave it out for SQLite)")
        if reader.raw("path", None) is not None:
            reader.problem(reader.key("path"), "and storage.url both name a database: "
                           "give one (url for PostgreSQL, path for SQLite)")
    path = base / reader.text("path", "var/ari-app.sqlite3", conf=False)
    key_file = reader.text("key_file", None, conf=False)
    reader.finish()
    return path, url, base / key_file if key_file else path.parent / "ari-app.key"
