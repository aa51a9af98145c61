"""The config file's `cluster:` section (with `storage.url` only: instances share a
PostgreSQL database)."""

from __future__ import annotations

import re
import socket

from ari_app.config_reader import Reader
from ari_app.settings import ClusterSettings

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def default_name(port: int) -> str:
    """The host's name and the API's port: unique per instance without a setting."""
    host = re.sub(r"[^a-z0-9-]", "-", socket.gethostname().lower())[:30].strip("-") or "host"
    return f"{host}-{port}"


def read_cluster(raw: object, *, port: int, shared: bool,
                 problems: list[str]) -> ClusterSettings | None:
    """The `cluster` section (None without storage.url: one instance); its problems are
    added to `problems`."""
    reader = Reader(raw or {}, "cluster.", problems)
    name = reader.text("instance", None, pattern=_NAME) or default_name(port)
    heartbeat = reader.number("heartbeat", 2, 0.1, 30)
    dead_after = reader.number("dead_after", 10, 0.5, 300)
    reader.finish()
    if dead_after < 3 * heartbeat:
        problems.append("cluster.dead_after: must be at least three heartbeats, or a slow "
                        "instance is taken for dead")
    if raw is not None and not shared:
        problems.append("cluster: instances share a database: set storage.url (PostgreSQL)")
    if not shared:
        return None
    return ClusterSettings(instance=name, heartbeat=heartbeat, dead_after=dead_after)
