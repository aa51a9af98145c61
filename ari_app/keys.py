"""API keys: `Authorization: Bearer aak_<id>_<secret>`.

A key is shown once, when it is created. The store keeps its id, a SHA-256 of its
secret (the secret is 256 random bits, so a fast hash is enough; nothing to
brute-force), its name and what it may do: some carriers only, some destination
prefixes only. Checking compares hashes in constant time; the service re-reads a key at
most once a second, so a revoked key stops working within a second.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

_TOKEN = re.compile(r"^aak_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    carriers: tuple[str, ...] | None
    """None: every carrier."""
    countries: tuple[str, ...] | None
    """Destination prefixes (calling codes like "1" or "44", or longer); None: any allowed."""
    created_at: float
    revoked_at: float | None = None

    @property
    def unrestricted(self) -> bool:
        """May manage carriers and the circuit breaker."""
        return self.carriers is None and self.countries is None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key(name: str, *, carriers: tuple[str, ...] | None = None,
            countries: tuple[str, ...] | None = None) -> tuple[ApiKey, str, str]:
    """(key, hash of its secret, the token to give the client once)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(id=key_id, name=name, carriers=carriers, countries=countries,
                 created_at=time.time())
    return key, digest(secret), f"aak_{key_id}_{secret}"


def parse_token(header: str | None) -> tuple[str, str] | None:
    """(key id, secret) from an Authorization header, or None if it is not one of ours."""
    if header is None or not header.startswith("Bearer "):
        return None
    match = _TOKEN.match(header[len("Bearer "):].strip())
    return (match.group(1), match.group(2)) if match else None


def matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_hash)
