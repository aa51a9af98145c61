"""What a request must pass to become a call, in order: its idempotency key (a repeat gets
the first call's id, and nothing else is checked), validation (playlist.py), admission
(admission.py: key scope, destinations, breaker, velocity), then the call service
stores and starts it. A refusal at any step stores and dials nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses

from ari_app.admission import Admission
from ari_app.calls import CallService
from ari_app.errors import IdempotencyKeyTaken, ServiceStopping
from ari_app.idempotency import IdempotencyGuard, idempotency_of
from ari_app.keys import ApiKey
from ari_app.request import CallRequest, parse_request
from ari_app.settings import Current
from ari_app.store import Idempotency, Origin


class Intake:
    def __init__(self, *, current: Current, admission: Admission, calls: CallService,
                 idempotency: IdempotencyGuard) -> None:
        self._current = current
        self._admission = admission
        self._calls = calls
        self._idempotency = idempotency
        self._admit_lock = asyncio.Lock()

    async def accept(self, body: object, *, key: ApiKey | None, client: str | None,
                     idempotency_key: str | None = None) -> str:
        """The id of the call this request places, or placed already under its key."""
        idempotency = idempotency_of(idempotency_key, body)
        if idempotency is None:
            return await self._place(body, key, client, None)
        async with self._idempotency.first_use(idempotency) as first:
            if first is not None:
                return first
            try:
                return await self._place(body, key, client, idempotency)
            except IdempotencyKeyTaken:  # by another instance, at the same moment
                return await self._idempotency.winner(idempotency)

    async def _place(self, body: object, key: ApiKey | None, client: str | None,
                     idempotency: Idempotency | None) -> str:
        """Validate, admit and store one call. Admissions go one at a time (each counts
        the calls admitted before it); stores are committed together (group commit)."""
        request = parse_request(body, self._current.settings)
        return await self.place(request, key, client, idempotency=idempotency)

    async def place(self, request: CallRequest, key: ApiKey | None, client: str | None, *,
                    idempotency: Idempotency | None = None) -> str:
        """Admit and store one validated call."""
        return await self.submit(request, await self.admit(request, key, client),
                                 idempotency=idempotency)

    async def admit(self, request: CallRequest, key: ApiKey | None,
                    client: str | None) -> Origin:
        """Count the call against every limit, or refuse it; nothing is stored yet. A call
        admitted but never submitted must be `forget`-ten."""
        if self._calls.draining:
            raise ServiceStopping("the service is stopping: send the request to another "
                                  "instance, or again in a minute", field=None)
        async with self._admit_lock:  # in memory, quick; the store's commit is outside
            return await self._admission.admit(request, key, client)

    def forget(self, origin: Origin, request: CallRequest) -> None:
        self._admission.forget(origin, request.to)

    async def submit(self, request: CallRequest, origin: Origin, *,
                     idempotency: Idempotency | None = None,
                     verification_id: str | None = None) -> str:
        """Store an admitted call and start it (a verification's send comes in here)."""
        origin = dataclasses.replace(origin, verification_id=verification_id)
        try:
            return await self._calls.submit(request, idempotency=idempotency, origin=origin)
        except Exception:
            self.forget(origin, request)
            raise
