"""Status callbacks: every state change of a call, POSTed as signed JSON to its callback URL.

Events are stored with the state change they describe (the store's outbox), so none is
lost to a restart. Each is signed per delivery attempt:

    X-Ari-App-Event-Id:  the event's id, the same on every retry (deduplicate on it)
    X-Ari-App-Timestamp: Unix seconds when this attempt was signed
    X-Ari-App-Signature: v1=hex(HMAC-SHA256(secret, timestamp + "." + body))

A 2xx answer delivers the event. Anything else (or no answer) is retried with
exponential backoff and jitter until `callbacks.give_up_after` seconds have
passed since the event; then it is given up. Bodies hold states, carriers and
causes, never anything from the playlist.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable

import aiohttp

from ari_app.errors import StoreUnavailable
from ari_app.metrics import Metrics
from ari_app.settings import Current
from ari_app.store import Delivery, DeliveryResult, Outbox

log = logging.getLogger(__name__)

FIRST_RETRY = 1.0
MAX_RETRY = 300.0
_BATCH = 50
_STORE_RETRY = 1.0
"""Seconds between tries while the database does not answer."""
_LOOK_AGAIN = 30.0
_LEASE_MARGIN = 25.0
"""A claimed delivery is claimed again (by any instance) this long after its timeout."""


def sign(secret: str, timestamp: str, body: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(secret: str, timestamp: str, body: str, signature: str, *,
           tolerance: float = 300.0, now: float | None = None) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)


def retry_delay(attempts: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds before retry number `attempts` (1, 2, ...): doubling, capped, with full jitter
    over the upper half so retries of many events do not arrive together."""
    ceiling = min(MAX_RETRY, FIRST_RETRY * 2.0 ** (attempts - 1))
    return ceiling * (0.5 + 0.5 * rand())


class Notifier:
    """Sends pending callbacks; `wake()` after storing new ones."""

    def __init__(self, *, current: Current, outbox: Outbox, metrics: Metrics,
                 clock: Callable[[], float] = time.time) -> None:
        self._current = current
        self._outbox = outbox
        self._metrics = metrics
        self._clock = clock
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._send_due()
            except StoreUnavailable as exc:  # events wait in the outbox; sent once it is back
                log.warning("callbacks paused: %s", exc)
                await asyncio.sleep(_STORE_RETRY)

    async def _send_due(self) -> None:
        """Send what is due, then wait until the next is due or a new event is queued."""
        while True:
            now = self._clock()
            lease = self._current.settings.callbacks.timeout + _LEASE_MARGIN
            due = await self._outbox.claim(now, _BATCH, lease=lease)
            if due:
                await asyncio.gather(*(self._deliver(d) for d in due))
                continue
            soonest = await self._outbox.next_due()
            # Looked at again within a while anyway: events another instance queued
            # (and left behind when it stopped) are sent by this one.
            timeout = _LOOK_AGAIN if soonest is None else min(_LOOK_AGAIN,
                                                               max(0.0, soonest - now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()

    async def _deliver(self, delivery: Delivery) -> None:
        settings = self._current.settings.callbacks
        secret = settings.secret.reveal() if settings.secret else ""
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "ari-app-callbacks",
            "X-Ari-App-Event-Id": delivery.id,
            "X-Ari-App-Timestamp": timestamp,
            "X-Ari-App-Signature": sign(secret, timestamp, delivery.body),
        }
        status: int | None = None
        error: str | None = None
        try:
            async with self._http().post(
                delivery.url, data=delivery.body.encode(), headers=headers,
                timeout=aiohttp.ClientTimeout(total=settings.timeout), allow_redirects=False,
            ) as response:
                status = response.status
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            error = type(exc).__name__
        attempts = delivery.attempts + 1
        now = self._clock()
        if error is None:
            self._metrics.deliveries.labels(result="delivered").inc()
            await self._outbox.record(delivery.id, DeliveryResult(
                "delivered", attempts, last_status=status, last_error=None, delivered_at=now))
            return
        self._metrics.deliveries.labels(result="failed").inc()
        next_at = now + retry_delay(attempts)
        gave_up = next_at - delivery.created_at > settings.give_up_after
        if gave_up:
            log.warning("callback given up after %d attempts: %s", attempts, error,
                        extra={"request_id": delivery.call_id})
        await self._outbox.record(delivery.id, DeliveryResult(
            "given_up" if gave_up else "pending", attempts, last_status=status,
            last_error=error, next_at=next_at))

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
