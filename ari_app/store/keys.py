"""API keys: each with the hash of its secret, never the secret."""

from __future__ import annotations

import json
import time
from typing import Any

from ari_app.keys import ApiKey
from ari_app.store.database import Database

_COLUMNS = "id, name, carriers, countries, created_at, revoked_at"


def _json_or_none(values: tuple[str, ...] | None) -> str | None:
    return None if values is None else json.dumps(list(values))


def _key(row: Any) -> ApiKey:
    key_id, name, carriers, countries, created_at, revoked_at = row
    return ApiKey(id=key_id, name=name,
                  carriers=None if carriers is None else tuple(json.loads(carriers)),
                  countries=None if countries is None else tuple(json.loads(countries)),
                  created_at=created_at, revoked_at=revoked_at)


class SqlKeys:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, key: ApiKey, key_hash: str) -> None:
        await self._db.execute(
            "INSERT INTO api_keys (id, name, hash, carriers, countries, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (key.id, key.name, key_hash, _json_or_none(key.carriers),
             _json_or_none(key.countries), key.created_at))

    async def get(self, key_id: str) -> tuple[ApiKey, str] | None:
        """The key and the hash of its secret."""
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS}, hash FROM api_keys WHERE id=?", (key_id,))  # noqa: S608
        return None if row is None else (_key(row[:-1]), str(row[-1]))

    async def all(self) -> list[ApiKey]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at")  # noqa: S608
        return [_key(row) for row in rows]

    async def revoke(self, key_id: str) -> bool:
        return bool(await self._db.execute(
            "UPDATE api_keys SET revoked_at=? WHERE id=? AND revoked_at IS NULL",
            (time.time(), key_id)))
