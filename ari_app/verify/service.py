"""The verify service: makes the code, places its calls, checks it, and ends each verification
once, with its callback event, metric and log line.

    start       POST /verify: a new verification and its first call; a pending one of the
                same key to the same number is sent again instead (same id, same code)
    resend      another call with the same code (rules.send_refusal)
    check       the code against its keyed hash, in constant time (rules.py)
    cancel      DELETE /verify/{id}
    call_ended  a send's call ended: if none reached a person, the verification is
                undeliverable
    run         expires what is due, and watches conversion (fraud.py)

Changes to one verification go one at a time (a lock per verification), and each
stored change is conditional on the verification still being pending (store).
The code exists in plain text only in this process's memory, while a call is made
from it; the store keeps it sealed and hashed, and erases both when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ari_app.errors import DestinationForbidden, InvalidField, NotFound, TooManyRequests
from ari_app.errors import VerificationEnded as Ended
from ari_app.intake import Intake
from ari_app.keys import ApiKey
from ari_app.metrics import Metrics
from ari_app.outcome import FINAL
from ari_app.request import CallRequest
from ari_app.sealing import Sealer
from ari_app.settings import Current
from ari_app.store import VerificationStore
from ari_app.verify.fraud import ConversionWatch
from ari_app.verify.message import code_playlist
from ari_app.verify.request import VerifyRequest, parse_verify
from ari_app.verify.rules import (
    Status,
    Verification,
    after_wrong_code,
    new_code,
    send_refusal,
    undeliverable,
)

log = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0
EVALUATE_SECONDS = 10.0
_CODE = re.compile(r"^[0-9]{4,10}$")


def _call(request: VerifyRequest, code: str) -> CallRequest:
    """The call that says `code` for this verification."""
    return CallRequest(to=request.to, caller_id=request.caller_id,
                       carrier_id=request.carrier_id,
                       playlist=code_playlist(code, language=request.language,
                                              gender=request.gender, brand=request.brand,
                                              readings=request.repeat),
                       callback_url=None, delivery=request.delivery)


def event_body(verification: Verification, status: Status, at: float) -> dict[str, Any]:
    """A `verification.<status>` callback: ids and counts, never the code or the number."""
    return {"type": f"verification.{status.value}", "verification_id": verification.id,
            "status": status.value, "carrier_id": verification.carrier_id,
            "sends": verification.sends, "attempts_left": verification.attempts_left,
            "timestamp": datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")}


class VerifyService:
    def __init__(self, *, current: Current, store: VerificationStore, sealer: Sealer,
                 intake: Intake, metrics: Metrics, wake_callbacks: Callable[[], None],
                 cancel_call: Callable[[str], Awaitable[bool]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._current = current
        self._store = store
        self._sealer = sealer
        self._intake = intake
        self._metrics = metrics
        self._wake = wake_callbacks
        self._cancel_call = cancel_call
        self._clock = clock
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        """Per verification: its lock and how many hold or wait for it."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.watch = ConversionWatch(settings=lambda: current.settings.verify.fraud,
                                     metrics=metrics, clock=clock)

    async def load(self) -> None:
        """At start: the conversion window's verifications, and any pending one whose calls
        all ended while the service was down."""
        fraud = self._current.settings.verify.fraud
        for verification in await self._store.since(self._clock() - max(fraud.window, 1800)):
            self.watch.started(verification.id, verification.to_number, verification.carrier_id,
                               verification.created_at,
                               approved=verification.status == Status.APPROVED)
            if verification.status == Status.PENDING and verification.sends == 0:
                # Stored, then the service stopped before its first call: never answered
                # to the client, never announced.
                await self._store.discard(verification.id)
            elif verification.status == Status.PENDING:
                await self._settle(verification.id)

    async def start(self, body: object, key: ApiKey | None,
                    client: str | None) -> tuple[Verification, bool]:
        """The verification this request makes, and whether it is new (else a pending one
        of the same key to the same number was sent again)."""
        request = parse_verify(body, self._current.settings)
        key_id = key.id if key else None
        # One start at a time per number and key: two at once make one verification and
        # a resend of it, never two with codes of their own.
        async with self._lock(f"start {request.to} {key_id}"):
            existing = await self._store.pending_for(request.to, key_id)
            if existing is not None and existing.status_at(self._clock()) is Status.PENDING:
                return await self.resend(existing.id, key, client), False
            return await self._new(request, key, client), True

    async def _new(self, request: VerifyRequest, key: ApiKey | None,
                   client: str | None) -> Verification:
        blocked = self.watch.blocked_for(request.to)
        if blocked is not None:
            self._metrics.refused.labels(reason="low-conversion").inc()
            raise DestinationForbidden(f"verifications to this number's range are refused for "
                                       f"{blocked} s more: too few were approved", field="to")
        now = self._clock()
        code = new_code(request.code_length)
        verification = Verification(
            id=str(uuid.uuid4()), status=Status.PENDING, to_number=request.to,
            carrier_id=request.carrier_id, api_key=key.id if key else None,
            locale=request.locale, code_length=request.code_length,
            callback_url=request.callback_url, attempts=0, sends=0, last_send_at=None,
            created_at=now, expires_at=now + request.expires_in, updated_at=now)
        call = _call(request, code)
        origin = await self._intake.admit(call, key, client)  # a refusal stores nothing
        # Held until the send is counted: a call that ends at once must find it counted
        # (call_ended waits here), or the verification would never become undeliverable.
        async with self._lock(verification.id):
            try:
                await self._store.insert(verification, request,
                                         code_hash=self._sealer.digest(code, verification.id),
                                         code_sealed=self._sealer.seal(code, verification.id))
            except BaseException:
                self._intake.forget(origin, call)
                raise
            try:
                await self._intake.submit(call, origin, verification_id=verification.id)
            except BaseException:
                await self._store.discard(verification.id)
                raise
            await self._sent(verification)
        self._metrics.verifications.labels(status=Status.PENDING.value).inc()
        self.watch.started(verification.id, request.to, request.carrier_id, now)
        log.info("verification started", extra={"verification_id": verification.id,
                                                "carrier": request.carrier_id})
        return await self._get(verification.id)

    async def resend(self, verification_id: str, key: ApiKey | None,
                     client: str | None) -> Verification:
        async with self._lock(verification_id):
            verification = await self._pending(verification_id, key)
            now = self._clock()
            refusal = send_refusal(verification, now, self._current.settings.verify.resend_interval)
            if refusal is not None:
                self._metrics.refused.labels(reason="rate-limited").inc()
                retry = refusal.retry_after or math.ceil(verification.expires_at - now)
                raise TooManyRequests(refusal.reason, field="id", retry_after=max(1, retry))
            secret = await self._store.secret(verification_id)
            if secret is None:
                raise Ended((await self._get(verification_id)).status)
            _, sealed, request = secret
            call = _call(request, self._sealer.open(sealed, verification_id))
            origin = await self._intake.admit(call, key, client)
            await self._intake.submit(call, origin, verification_id=verification_id)
            await self._sent(verification)
            log.info("verification sent again", extra={"verification_id": verification_id})
            return await self._get(verification_id)

    async def check(self, verification_id: str, code: object,
                    key: ApiKey | None) -> Verification:
        if not isinstance(code, str) or not _CODE.match(code):
            raise InvalidField("code: 4 to 10 digits, as a string", field="code")
        async with self._lock(verification_id):
            verification = await self._pending(verification_id, key)
            secret = await self._store.secret(verification_id)
            if secret is None:
                raise Ended((await self._get(verification_id)).status)
            right = Sealer.same(self._sealer.digest(code, verification_id), secret[0])
            if right:
                await self._end(verification, Status.APPROVED)
            elif after_wrong_code(verification) is Status.MAX_ATTEMPTS_REACHED:
                await self._end(verification, Status.MAX_ATTEMPTS_REACHED, wrong_code=True)
            else:
                await self._store.wrong_code(verification_id, verification.attempts)
                log.info("verification: wrong code", extra={"verification_id": verification_id})
            return await self._get(verification_id)

    async def cancel(self, verification_id: str, key: ApiKey | None) -> Verification:
        async with self._lock(verification_id):
            verification = await self._pending(verification_id, key)
            await self._end(verification, Status.CANCELED)
            return await self._get(verification_id)

    async def details(self, verification_id: str, key: ApiKey | None) -> tuple[
            Verification, list[dict[str, Any]]]:
        """The verification (expired if its time is up) and each of its sends."""
        async with self._lock(verification_id):
            verification = await self._expire_if_due(await self._own(verification_id, key))
        sends = [{"call_id": call_id, "state": state,
                  "verdict": json.loads(delivery)["verdict"] if delivery else None,
                  "created_at": created_at, "ended_at": ended_at}
                 for call_id, state, delivery, created_at, ended_at
                 in await self._store.sends(verification_id)]
        return verification, sends

    def call_ended(self, call_id: str) -> None:
        """A call ended (the recorder tells every call): settle its verification, if any."""
        task = asyncio.get_running_loop().create_task(self._call_ended(call_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """Expire what is due, every second; evaluate conversion every ten."""
        evaluated = 0.0
        while True:
            try:
                for verification_id in await self._store.due(self._clock()):
                    async with self._lock(verification_id):
                        found = await self._store.get(verification_id)
                        if found is not None:
                            await self._expire_if_due(found)
                if self._clock() - evaluated >= EVALUATE_SECONDS:
                    self.watch.evaluate()
                    evaluated = self._clock()
            except Exception as exc:  # the next sweep tries again; the service goes on
                log.error("verification sweep failed (%s); retrying", type(exc).__name__)
            await asyncio.sleep(SWEEP_SECONDS)

    async def shutdown(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _call_ended(self, call_id: str) -> None:
        verification_id = await self._store.of_call(call_id)
        if verification_id is not None:
            await self._settle(verification_id)

    async def _settle(self, verification_id: str) -> None:
        async with self._lock(verification_id):
            verification = await self._store.get(verification_id)
            if verification is None or verification.status != Status.PENDING:
                return
            calls = [(state, json.loads(delivery)["verdict"] if delivery else None)
                     for _, state, delivery, _, _ in await self._store.sends(verification_id)]
            if undeliverable(verification.sends, calls):
                await self._end(verification, Status.UNDELIVERABLE)

    async def _sent(self, verification: Verification) -> None:
        """Count a send; the first one announces the verification (`verification.pending`)."""
        first = verification.sends == 0
        now = self._clock()
        await self._store.sent(verification.id, now, event=event_body(
            verification, Status.PENDING, now) if first else None)
        if first and verification.callback_url:
            self._wake()

    async def _own(self, verification_id: str, key: ApiKey | None) -> Verification:
        """The verification, if this key made it (or may manage everything)."""
        found = await self._store.get(verification_id)
        if found is None or (key is not None and found.api_key != key.id
                             and not key.unrestricted):
            raise NotFound("no verification with this id", field="id")
        return found

    async def _pending(self, verification_id: str, key: ApiKey | None) -> Verification:
        verification = await self._expire_if_due(await self._own(verification_id, key))
        if verification.status != Status.PENDING:
            raise Ended(verification.status)
        return verification

    async def _expire_if_due(self, verification: Verification) -> Verification:
        if verification.status == Status.PENDING \
                and verification.status_at(self._clock()) is Status.EXPIRED:
            await self._end(verification, Status.EXPIRED)
            return await self._get(verification.id)
        return verification

    async def _end(self, verification: Verification, status: Status, *,
                   wrong_code: bool = False) -> None:
        now = self._clock()
        shown = dataclasses.replace(verification, attempts=verification.attempts
                                    + (1 if wrong_code else 0))
        if not await self._store.finish(verification.id, status, now=now, wrong_code=wrong_code,
                                        event=event_body(shown, status, now)):
            return
        self._metrics.verifications.labels(status=status.value).inc()
        if status is Status.APPROVED:
            self.watch.approved(verification.id)
        # No call may say a code that is no longer valid: the ones still queued are
        # canceled; live ones too, but for an approved code (its callee is listening).
        for call_id, state, *_ in await self._store.sends(verification.id):
            ends = state == "queued" or (state not in FINAL and status is not Status.APPROVED)
            if ends and self._cancel_call is not None:
                await self._cancel_call(call_id)
        log.info("verification %s", status.value, extra={"verification_id": verification.id})
        if verification.callback_url:
            self._wake()

    async def _get(self, verification_id: str) -> Verification:
        found = await self._store.get(verification_id)
        if found is None:
            raise NotFound("no verification with this id", field="id")
        return found

    @contextlib.asynccontextmanager
    async def _lock(self, verification_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(verification_id, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[verification_id]
