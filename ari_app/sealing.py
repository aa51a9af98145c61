"""Secrets at rest: codes are sealed (AES-256-GCM) or kept only as a keyed hash (HMAC-SHA256),
under one key of the deployment's, so nothing readable of a code is ever written to the
database, its write-ahead log, or the pages SQLite frees.

The key is 32 random bytes in a file of mode 0600 (`storage.key_file`), made on the
first start. Lose it and pending verifications and queued calls holding a code can no
longer be opened (they end failed); keep it out of backups of the database.

Each sealed value is bound to what it belongs to (`context`, e.g. a call's id), so a
sealed code moved to another row does not open.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ari_app.errors import StoreError

KEY_BYTES = 32
SEALED = "sealed:v1:"
"""How a sealed value starts: tells it from values stored before sealing existed."""
_NONCE = 12


def load_or_create_key(path: Path) -> bytes:
    """The key in `path`, made (mode 0600, never replaced) if there is none yet. It is
    written whole to a file of its own, then linked into place: a crash never leaves an
    empty key, and of two processes starting at once, both use the first one's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as file:
                file.write(secrets.token_hex(KEY_BYTES) + "\n")
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink()
    if path.stat().st_mode & 0o077:
        raise StoreError(f"{path}: the sealing key must be readable by its owner only "
                         "(chmod 600)")
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: not a sealing key (64 hex digits)") from exc
    if len(key) != KEY_BYTES:
        raise StoreError(f"{path}: not a sealing key (64 hex digits)")
    return key


class Sealer:
    def __init__(self, key: bytes) -> None:
        # Two keys derived from one: the cipher's and the hash's are never the same bytes.
        self._aead = AESGCM(hmac.new(key, b"ari-app seal", hashlib.sha256).digest())
        self._mac_key = hmac.new(key, b"ari-app digest", hashlib.sha256).digest()

    @classmethod
    def from_file(cls, path: Path) -> Sealer:
        return cls(load_or_create_key(path))

    def seal(self, text: str, context: str) -> str:
        nonce = secrets.token_bytes(_NONCE)
        sealed = self._aead.encrypt(nonce, text.encode(), context.encode())
        return SEALED + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, value: str, context: str) -> str:
        """The text sealed for `context`; StoreError if it was not (or the key changed)."""
        if not value.startswith(SEALED):
            raise StoreError("not a sealed value")
        try:
            raw = base64.b64decode(value[len(SEALED):], validate=True)
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], context.encode()).decode()
        except (InvalidTag, ValueError) as exc:  # binascii.Error is a ValueError
            raise StoreError("a sealed value does not open with this key (was "
                             "storage.key_file replaced?)") from exc

    @property
    def fingerprint(self) -> str:
        """Names the key without revealing it: the database keeps it, so a key file that
        was replaced or lost is told at start, not found out code by code."""
        return self.digest("fingerprint", "ari-app key")[:16]

    def digest(self, text: str, context: str) -> str:
        """A keyed hash of `text` for `context`: compared, never reversed (a 6-digit code's
        plain hash could be reversed by trying all million)."""
        return hmac.new(self._mac_key, f"{context}\x00{text}".encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def same(a: str, b: str) -> bool:
        """Compare two digests in constant time."""
        return hmac.compare_digest(a.encode(), b.encode())
