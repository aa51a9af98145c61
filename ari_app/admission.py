"""Whether an accepted-looking request may become a call: the key's scope, the destination
policy, the circuit breaker and the velocity limits. Runs after validation, before the
call is stored; a refusal means nothing is stored and nothing is dialled.

Order: 403 key scope -> 403 destination -> 503 breaker open -> 429 velocity -> (trip?).
Counts come from the calls table, so they hold across restarts.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping

from ari_app.auth import ApiKey
from ari_app.errors import BreakerOpen, Forbidden, TooManyRequests
from ari_app.metrics import Metrics
from ari_app.playlist import CallRequest
from ari_app.settings import Settings, Window
from ari_app.store import Origin, Store

log = logging.getLogger(__name__)


def _span(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def estimate(number: str, table: Mapping[str, float]) -> float:
    """The estimated cost of one call to `number`: the longest matching prefix's, or default."""
    digits = number.lstrip("+")
    best = max((p for p in table if p != "default" and digits.startswith(p)), key=len,
               default="default")
    return float(table[best])


class Admission:
    def __init__(self, *, settings: Callable[[], Settings], store: Store, metrics: Metrics,
                 on_change: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._store = store
        self._metrics = metrics
        self.on_change = on_change
        """Called when the breaker opens or closes."""
        self._clock = clock
        self.tripped: tuple[float, str] | None = None
        metrics.breaker_open.set_function(lambda: 1.0 if self.tripped else 0.0)

    async def load(self) -> None:
        """The breaker's state survives restarts: it stays open until an admin resets it."""
        self.tripped = await self._store.breaker()
        if self.tripped:
            log.critical("ALERT circuit breaker is open since an earlier run: %s; nothing is "
                         "dialled until it is reset (DELETE /admin/breaker)", self.tripped[1])

    @property
    def may_dial(self) -> bool:
        """True while the breaker has not tripped (is closed)."""
        return self.tripped is None

    async def admit(self, request: CallRequest, key: ApiKey | None,
                    client: str | None) -> Origin:
        settings = self._settings()
        if key is not None and key.carriers is not None \
                and request.carrier_id not in key.carriers:
            raise Forbidden("this API key may not use this carrier", field="carrier_id")
        settings.destinations.policy.check(request.to,
                                           key_countries=key.countries if key else None)
        if self.tripped is not None:
            raise BreakerOpen("the circuit breaker is open: no calls are placed until an "
                              "admin resets it", field=None)
        limits = settings.limits
        prefix = request.to[:-limits.prefix_drop]
        await self._velocity("to_number", request.to, False, limits.per_number,
                             "to this number", "to")
        await self._velocity("to_number", prefix, True, limits.per_prefix,
                             "to numbers of this range", "to")
        if key is not None:
            await self._velocity("api_key", key.id, False, limits.per_key,
                                 "with this API key", None)
        if client is not None:
            await self._velocity("client", client, False, limits.per_client,
                                 "from this address", None)
        cost = estimate(request.to, settings.breaker.cost_per_call)
        await self._breaker(settings, cost)
        return Origin(api_key=key.id if key else None, client=client, est_cost=cost)

    async def _velocity(self, column: str, value: str, prefix: bool,
                        windows: tuple[Window, ...], what: str, field: str | None) -> None:
        now = self._clock()
        for window in windows:
            count, oldest, _ = await self._store.count_calls(
                now - window.seconds, column=column, value=value, prefix=prefix)
            if count >= window.calls:
                retry = math.ceil((oldest or now) + window.seconds - now)
                self._metrics.refused.labels(reason="rate-limited").inc()
                raise TooManyRequests(f"at most {window.calls} calls {what} in "
                                      f"{_span(window.seconds)}", field=field,
                                      retry_after=max(1, retry))

    async def _breaker(self, settings: Settings, cost: float) -> None:
        now = self._clock()
        ceiling = settings.breaker
        calls, _, _ = await self._store.count_calls(now - 60)
        reason = None
        if calls + 1 > ceiling.max_calls_per_minute:
            reason = f"more than {ceiling.max_calls_per_minute} calls in a minute"
        elif ceiling.max_spend_per_hour is not None:
            _, _, spent = await self._store.count_calls(now - 3600)
            if spent + cost > ceiling.max_spend_per_hour:
                reason = (f"estimated spend over {ceiling.max_spend_per_hour:g} in an hour "
                          f"({spent + cost:.2f})")
        if reason is not None:
            await self.trip(reason)
            raise BreakerOpen(f"the circuit breaker tripped: {reason}; no calls are placed "
                              "until an admin resets it", field=None)

    async def trip(self, reason: str) -> None:
        await self._store.trip_breaker(reason)
        self.tripped = await self._store.breaker()
        self._metrics.breaker_trips.inc()
        log.critical("ALERT circuit breaker tripped: %s; dialling stopped until an admin "
                     "resets it (DELETE /admin/breaker)", reason)
        self.on_change()

    async def reset(self) -> None:
        await self._store.reset_breaker()
        if self.tripped is not None:
            log.warning("circuit breaker reset; dialling resumes")
        self.tripped = None
        self.on_change()
