"""Conversion (verifications approved / started) by carrier and by destination prefix, and the
alert when a prefix with volume converts too little.

Traffic pumping (IRSF) starts verifications to numbers it is paid for and never checks
a code: a prefix whose verifications are not approved, many of them, in the last hour.
Verifications younger than `grace` are not counted yet (their callee may still be
typing the code). Kept in memory, loaded from the store at start.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from ari_app.metrics import Metrics
from ari_app.settings import FraudSettings

log = logging.getLogger(__name__)


@dataclass
class _Started:
    at: float
    prefix: str
    carrier: str
    approved: bool = False


class ConversionWatch:
    def __init__(self, *, settings: Callable[[], FraudSettings], metrics: Metrics,
                 clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._started: dict[str, _Started] = {}
        self._order: deque[str] = deque()
        self._blocked: dict[str, float] = {}
        """Prefix -> until when new verifications to it are refused."""
        self._alerted: dict[str, float] = {}

    def prefix(self, e164: str) -> str:
        return e164.lstrip("+")[:self._settings().prefix_digits]

    def started(self, verification_id: str, to: str, carrier: str, at: float,
                approved: bool = False) -> None:
        self._started[verification_id] = _Started(at, self.prefix(to), carrier, approved)
        self._order.append(verification_id)

    def approved(self, verification_id: str) -> None:
        started = self._started.get(verification_id)
        if started is not None:
            started.approved = True

    def blocked_for(self, to: str) -> int | None:
        """Seconds left of a block on the number's prefix, or None."""
        until = self._blocked.get(self.prefix(to))
        now = self._clock()
        if until is None or until <= now:
            return None
        return max(1, round(until - now))

    def rates(self) -> tuple[dict[str, tuple[int, float]], dict[str, tuple[int, float]]]:
        """(counted, conversion) by carrier and by prefix, over the window minus the grace."""
        settings = self._settings()
        now = self._clock()
        while self._order and self._started[self._order[0]].at <= now - settings.window:
            del self._started[self._order.popleft()]
        by: dict[str, dict[str, list[int]]] = {"carrier": defaultdict(lambda: [0, 0]),
                                               "prefix": defaultdict(lambda: [0, 0])}
        for started in self._started.values():
            if started.at > now - settings.grace:
                continue
            for kind, key in (("carrier", started.carrier), ("prefix", started.prefix)):
                by[kind][key][0] += 1
                by[kind][key][1] += started.approved
        def rate(counts: dict[str, list[int]]) -> dict[str, tuple[int, float]]:
            return {key: (n, ok / n) for key, (n, ok) in counts.items()}
        return rate(by["carrier"]), rate(by["prefix"])

    def evaluate(self) -> list[str]:
        """Update the conversion gauges; alert on (and maybe block) each prefix with volume
        converting below the floor. Returns the prefixes alerted on now."""
        settings = self._settings()
        now = self._clock()
        carriers, prefixes = self.rates()
        for carrier, (_, rate) in carriers.items():
            self._metrics.verify_conversion.labels(carrier=carrier).set(rate)
        alerted = []
        for prefix, (count, rate) in prefixes.items():
            if count < settings.min_volume:
                continue
            self._metrics.verify_prefix_conversion.labels(prefix=prefix).set(rate)
            if rate >= settings.min_rate or self._alerted.get(prefix, 0) > now - settings.window:
                continue
            self._alerted[prefix] = now
            alerted.append(prefix)
            self._metrics.verify_prefix_alerts.labels(prefix=prefix).inc()
            action = "alert only (verify.fraud.block_seconds is 0)"
            if settings.block_seconds:
                self._blocked[prefix] = now + settings.block_seconds
                action = f"new verifications to it refused for {settings.block_seconds} s"
            log.critical("ALERT verifications to prefix +%s convert at %.0f%% (%d started in "
                         "the last %d s, floor %.0f%%): the pattern of traffic pumping; %s",
                         prefix, rate * 100, count, settings.window, settings.min_rate * 100,
                         action)
        for prefix in list(self._blocked):
            if self._blocked[prefix] <= now:
                del self._blocked[prefix]
        return alerted
