"""Who is calling: every endpoint but /health needs `Authorization: Bearer <key>` of a live
API key (keys.py). Keys are read from the store at most once a second each, so a key
created or revoked with `ari-app keys` takes effect within a second."""

from __future__ import annotations

import time

from aiohttp import web

from ari_app.api.http import Handler
from ari_app.errors import Forbidden, Unauthorized
from ari_app.keys import ApiKey, matches, parse_token
from ari_app.metrics import Metrics
from ari_app.store import KeyStore

KEY_CACHE_SECONDS = 1.0
_MAX_CACHED = 10_000
API_KEY = web.RequestKey("api_key", ApiKey)
"""The authenticated key of a request."""
OPEN_PATHS = frozenset({"/health"})


def require_admin(request: web.Request) -> ApiKey:
    """The request's key, if it may manage carriers and the breaker."""
    key = request[API_KEY]
    if not key.unrestricted:
        raise Forbidden("this needs an API key without carrier or country limits",
                        field="Authorization")
    return key


class Authenticator:
    def __init__(self, *, keys: KeyStore, metrics: Metrics) -> None:
        self._keys = keys
        self._metrics = metrics
        self._cache: dict[str, tuple[float, tuple[ApiKey, str] | None]] = {}

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        token = parse_token(request.headers.get("Authorization"))
        found = await self._key(token[0]) if token else None
        if token is None or found is None or found[0].revoked_at is not None \
                or not matches(token[1], found[1]):
            self._metrics.refused.labels(reason="unauthorized").inc()
            raise Unauthorized("a valid API key is needed: Authorization: Bearer <key>",
                               field="Authorization")
        request[API_KEY] = found[0]
        return await handler(request)

    async def _key(self, key_id: str) -> tuple[ApiKey, str] | None:
        """A key with its hash, from the store at most once a second."""
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is None or now - cached[0] > KEY_CACHE_SECONDS:
            if len(self._cache) > _MAX_CACHED:
                self._cache.clear()  # only ever this many keys: someone is guessing ids
            cached = (now, await self._keys.get(key_id))
            self._cache[key_id] = cached
        return cached[1]
