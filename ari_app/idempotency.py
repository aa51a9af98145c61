"""Idempotency keys: a request repeated with the same `Idempotency-Key` gets the first
answer instead of a second call, also when the duplicates arrive at once and after a
restart (the key is stored with its call). The same key with another body is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections.abc import AsyncIterator

from ari_app.errors import IdempotencyMismatch, InvalidField, StoreError
from ari_app.store import Idempotency, IdempotencyStore

_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_LOCKS = 64


def idempotency_of(key: str | None, body: object) -> Idempotency | None:
    """The request's key with a hash of its body; None without a key."""
    if key is None:
        return None
    if not _KEY.match(key):
        raise InvalidField("Idempotency-Key: 1 to 200 printable ASCII characters",
                           field="Idempotency-Key")
    body_hash = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return Idempotency(key, body_hash)


class IdempotencyGuard:
    def __init__(self, *, store: IdempotencyStore) -> None:
        self._store = store
        # One lock per key, of a fixed set: concurrent duplicates place exactly one call.
        self._locks = tuple(asyncio.Lock() for _ in range(_LOCKS))

    @contextlib.asynccontextmanager
    async def first_use(self, key: Idempotency) -> AsyncIterator[str | None]:
        """Holds the key while a call is placed with it: yields the id of the call first
        placed with it, or None if this is its first use."""
        async with self._locks[hash(key.key) % _LOCKS]:
            first = await self._store.first(key.key)
            yield None if first is None else _same_body(first, key)

    async def winner(self, key: Idempotency) -> str:
        """The call another instance stored with `key` while this one was placing its
        own (which was not stored): the one call of the key."""
        first = await self._store.first(key.key)
        if first is None:
            raise StoreError("an idempotency key was taken, then vanished")
        return _same_body(first, key)


def _same_body(first: tuple[Idempotency, str], key: Idempotency) -> str:
    """The id of the call first placed with the key, if it came with the same body."""
    if first[0].body_hash != key.body_hash:
        raise IdempotencyMismatch("this Idempotency-Key came with another body",
                                  field="Idempotency-Key")
    return first[1]
