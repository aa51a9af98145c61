"""Whether an accepted-looking request may become a call: the key's scope, the destination
policy, the circuit breaker and the velocity limits. Runs after validation, before the
call is stored; a refusal means nothing is stored and nothing is dialled.

Order: 403 key scope -> 403 destination -> 503 breaker open -> 429 velocity -> (trip?).
Counts are kept in memory, loaded from the calls table at start, so they hold across
restarts and cost no database round trip per request. With several instances on one
database, each request first adds the calls the other instances accepted since the
last look (one read by an index), and reads the breaker they share.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping

from ari_app.errors import BreakerOpen, Forbidden, TooManyRequests
from ari_app.keys import ApiKey
from ari_app.metrics import Metrics
from ari_app.request import CallRequest
from ari_app.settings import Current, Settings, Window
from ari_app.store import BreakerStore, BreakerTrip, Origin, RecentCall, RecentCalls

log = logging.getLogger(__name__)
CATCH_UP_MARGIN = 5.0


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


class Recent:
    """When recent calls were admitted, by key ("n:+1212…", "k:<key id>"…), for sliding
    windows; entries older than `horizon` seconds are forgotten. Also every call of the
    last hour with its estimated cost, summed as it goes, for the breaker."""

    def __init__(self, horizon: float) -> None:
        self.horizon = horizon
        self._times: dict[str, deque[float]] = defaultdict(deque)
        self._hour: deque[tuple[float, float]] = deque()
        self._hour_cost = 0.0
        self._minute: deque[float] = deque()
        self._adds = 0

    def add(self, keys: list[str], at: float, cost: float) -> None:
        for key in keys:
            self._times[key].append(at)
        self._hour.append((at, cost))
        self._hour_cost += cost
        self._minute.append(at)
        self._adds += 1
        if self._adds % 5000 == 0:
            self.prune(at)

    def remove(self, keys: list[str], at: float, cost: float) -> None:
        for key in keys:
            with contextlib.suppress(ValueError):
                self._times[key].remove(at)
        with contextlib.suppress(ValueError):
            self._hour.remove((at, cost))
            self._hour_cost -= cost
        with contextlib.suppress(ValueError):
            self._minute.remove(at)

    def count(self, key: str, since: float, enough: int) -> tuple[int, float | None]:
        """Calls after `since`, counting from the newest and stopping at `enough`;
        with the time of the oldest one counted."""
        n, oldest = 0, None
        for at in reversed(self._times.get(key, ())):
            if at <= since or n >= enough:
                break
            n, oldest = n + 1, at
        return n, oldest

    def last_hour(self, now: float) -> tuple[int, float, int]:
        """(calls in the last minute, estimated cost of the last hour, calls in the hour)."""
        while self._hour and self._hour[0][0] <= now - 3600:
            self._hour_cost -= self._hour.popleft()[1]
        while self._minute and self._minute[0] <= now - 60:
            self._minute.popleft()
        return len(self._minute), self._hour_cost, len(self._hour)

    def prune(self, now: float) -> None:
        for key in list(self._times):
            times = self._times[key]
            while times and times[0] <= now - self.horizon:
                times.popleft()
            if not times:
                del self._times[key]


class Admission:
    def __init__(self, *, current: Current, calls: RecentCalls, breaker: BreakerStore,
                 metrics: Metrics, on_change: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.time, shared: bool = False) -> None:
        self._current = current
        self._calls = calls
        self._breaker_store = breaker
        self._metrics = metrics
        self.on_change = on_change
        """Called when the breaker opens or closes."""
        self._clock = clock
        self.tripped: BreakerTrip | None = None
        self._recent = Recent(self._horizon())
        self._loaded = False
        self._shared = shared
        self._seen: dict[str, float] = {}
        """Other instances' calls counted already, by id (for `_catch_up`)."""
        self._looked_at = 0.0
        metrics.breaker_open.set_function(lambda: 1.0 if self.tripped else 0.0)

    def _horizon(self) -> float:
        limits = self._current.settings.limits
        windows = [*limits.per_number, *limits.per_prefix, *limits.per_key, *limits.per_client]
        return float(max([3600, *(w.seconds for w in windows)]))

    async def load(self) -> None:
        """Read what survives restarts: the breaker's state, and the calls inside the
        velocity windows. A tripped breaker stays tripped until an admin resets it."""
        self.tripped = await self._breaker_store.state()
        if self.tripped:
            log.critical("ALERT circuit breaker is open since an earlier run: %s; nothing is "
                         "dialled until it is reset (DELETE /admin/breaker)", self.tripped.reason)
        since = self._clock() - self._recent.horizon
        for row in await self._calls.recent(since):
            self._count(row)
        self._looked_at = self._clock()
        self._loaded = True

    def _count(self, row: RecentCall) -> None:
        """A call accepted before (or by another instance), in every window it counts in."""
        counters = self._keys(row.to_number, row.api_key, row.client)
        self._recent.add(list(counters.values()), row.created_at, row.est_cost)

    async def _catch_up(self) -> None:
        """Count the calls other instances accepted since the last look, and take the
        breaker's state they share. A call is stamped before its commit, so each look
        reaches back CATCH_UP_MARGIN seconds and skips the ids counted already."""
        now = self._clock()
        since = self._looked_at - CATCH_UP_MARGIN
        for call_id, row in await self._calls.recent_of_others(since):
            if call_id not in self._seen:
                self._seen[call_id] = row.created_at
                self._count(row)
        self._seen = {k: at for k, at in self._seen.items() if at > since}
        self._looked_at = now
        tripped = await self._breaker_store.state()
        if (tripped is None) != (self.tripped is None):
            self.tripped = tripped
            self.on_change()

    @property
    def may_dial(self) -> bool:
        """True while the breaker has not tripped (is closed)."""
        return self.tripped is None

    def _keys(self, to: str, api_key: str | None, client: str | None) -> dict[str, str]:
        """The counters a call to `to` adds to, by what they count."""
        keys = {"number": f"n:{to}",
                "prefix": f"p:{to[:-self._current.settings.limits.prefix_drop]}"}
        if api_key is not None:
            keys["key"] = f"k:{api_key}"
        if client is not None:
            keys["client"] = f"c:{client}"
        return keys

    def forget(self, origin: Origin, to: str) -> None:
        """The call was not stored after all: it does not count."""
        self._recent.remove(list(self._keys(to, origin.api_key, origin.client).values()),
                            origin.admitted_at, origin.est_cost)

    async def admit(self, request: CallRequest, key: ApiKey | None,
                    client: str | None) -> Origin:
        """Check, then count the call at once (before it is stored), so concurrent requests
        see each other: nothing here waits but a breaker trip."""
        if not self._loaded:
            await self.load()
        if self._shared:
            await self._catch_up()
        settings = self._current.settings
        if key is not None and key.carriers is not None \
                and request.carrier_id not in key.carriers:
            raise Forbidden("this API key may not use this carrier", field="carrier_id")
        settings.destinations.policy.check(request.to,
                                           key_countries=key.countries if key else None)
        if self.tripped is not None:
            raise BreakerOpen("the circuit breaker is open: no calls are placed until an "
                              "admin resets it", field=None)
        limits = settings.limits
        key_id = key.id if key else None
        counters = self._keys(request.to, key_id, client)
        self._velocity(counters["number"], limits.per_number, "to this number", "to")
        self._velocity(counters["prefix"], limits.per_prefix, "to numbers of this range", "to")
        if "key" in counters:
            self._velocity(counters["key"], limits.per_key, "with this API key", None)
        if "client" in counters:
            self._velocity(counters["client"], limits.per_client, "from this address", None)
        cost = estimate(request.to, settings.breaker.cost_per_call)
        await self._breaker(settings, cost)
        now = self._clock()
        self._recent.add(list(counters.values()), now, cost)
        return Origin(api_key=key_id, client=client, est_cost=cost, admitted_at=now)

    def _velocity(self, key: str, windows: tuple[Window, ...], what: str,
                  field: str | None) -> None:
        now = self._clock()
        for window in windows:
            count, oldest = self._recent.count(key, now - window.seconds, window.calls)
            if count >= window.calls:
                # Allowed again when the oldest of the last `calls` leaves the window.
                retry = math.ceil((oldest or now) + window.seconds - now)
                self._metrics.refused.labels(reason="rate-limited").inc()
                raise TooManyRequests(f"at most {window.calls} calls {what} in "
                                      f"{_span(window.seconds)}", field=field,
                                      retry_after=max(1, retry))

    async def _breaker(self, settings: Settings, cost: float) -> None:
        now = self._clock()
        ceiling = settings.breaker
        calls, spent, _ = self._recent.last_hour(now)
        reason = None
        if calls + 1 > ceiling.max_calls_per_minute:
            reason = f"more than {ceiling.max_calls_per_minute} calls in a minute"
        elif ceiling.max_spend_per_hour is not None \
                and spent + cost > ceiling.max_spend_per_hour:
            reason = (f"estimated spend over {ceiling.max_spend_per_hour:g} in an hour "
                      f"({spent + cost:.2f})")
        if reason is not None:
            await self.trip(reason)
            raise BreakerOpen(f"the circuit breaker tripped: {reason}; no calls are placed "
                              "until an admin resets it", field=None)

    async def trip(self, reason: str) -> None:
        await self._breaker_store.trip(reason)
        self.tripped = await self._breaker_store.state()
        self._metrics.breaker_trips.inc()
        log.critical("ALERT circuit breaker tripped: %s; dialling stopped until an admin "
                     "resets it (DELETE /admin/breaker)", reason)
        self.on_change()

    async def reset(self) -> None:
        await self._breaker_store.reset()
        if self.tripped is not None:
            log.warning("circuit breaker reset; dialling resumes")
        self.tripped = None
        self.on_change()
