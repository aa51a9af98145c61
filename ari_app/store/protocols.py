"""What each consumer needs of the store, one narrow Protocol per repository, so a second
backend implements the same and each consumer sees only what it uses."""

from __future__ import annotations

from typing import Protocol

from ari_app.keys import ApiKey
from ari_app.request import CallRequest
from ari_app.store.records import (
    AttemptEnd,
    AttemptRecord,
    BreakerTrip,
    CallbackEvent,
    CallRecord,
    CallUpdate,
    Delivery,
    DeliveryResult,
    Idempotency,
    Origin,
    RecentCall,
)


class CallStore(Protocol):
    async def insert(self, call_id: str, request: CallRequest, *,
                     idempotency: Idempotency | None = None, origin: Origin | None = None,
                     event: CallbackEvent | None = None) -> CallRecord: ...
    async def update(self, call_id: str, update: CallUpdate, *,
                     event: CallbackEvent | None = None,
                     attempt: AttemptRecord | None = None,
                     attempt_end: AttemptEnd | None = None) -> None: ...
    async def end_attempt(self, call_id: str, end: AttemptEnd) -> None: ...
    async def get(self, call_id: str) -> CallRecord | None: ...
    async def details(self, call_id: str) -> tuple[CallRecord, list[AttemptRecord],
                                                     list[Delivery]] | None: ...
    async def attempts(self, call_id: str) -> list[AttemptRecord]: ...
    async def unfinished(self) -> list[tuple[CallRecord, CallRequest | None]]: ...


class RecentCalls(Protocol):
    async def recent(self, since: float) -> list[RecentCall]: ...


class Outbox(Protocol):
    async def pending(self, limit: int) -> list[Delivery]: ...
    async def record(self, delivery_id: str, result: DeliveryResult) -> None: ...


class KeyStore(Protocol):
    async def add(self, key: ApiKey, key_hash: str) -> None: ...
    async def get(self, key_id: str) -> tuple[ApiKey, str] | None: ...
    async def all(self) -> list[ApiKey]: ...
    async def revoke(self, key_id: str) -> bool: ...


class BreakerStore(Protocol):
    async def state(self) -> BreakerTrip | None: ...
    async def trip(self, reason: str) -> None: ...
    async def reset(self) -> None: ...


class IdempotencyStore(Protocol):
    async def first(self, key: str) -> tuple[Idempotency, str] | None: ...


class Pingable(Protocol):
    async def ping(self) -> None:
        """Raises unless the database answers."""
