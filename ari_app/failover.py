"""Which carriers a call tries, in what order, and which failures move it to the next one.

A carrier that refuses (503, another 5xx), times out (408) or never answers SIP
is skipped: the call is re-placed on the next carrier of its failover group.
Busy, no answer and decline (486, 480, 603) are answers from the callee's side
and final: trying another carrier would ring the person again.
A carrier failing `holdback_after` times in a row is held back for
`holdback_seconds`: tried after the others of its group, not first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from ari_app.carriers import Carrier
from ari_app.outcome import Hangup

# Q.850 causes Asterisk gives when the carrier, not the callee, failed:
# 27 destination out of order, 34 no circuit (503), 38 network out of order,
# 41 temporary failure, 42 congestion, 47 resource unavailable, 102 recovery on timer.
_CARRIER_CAUSES = frozenset({27, 34, 38, 41, 42, 47, 102})
_FINAL_SIP = frozenset({486, 480, 600, 603, 404, 484, 403})


def carrier_failed(hangup: Hangup) -> bool:
    """True if an unanswered attempt failed at the carrier, so another carrier may work."""
    code = hangup.sip_code
    if code is not None:
        if code in _FINAL_SIP:
            return False
        return code == 408 or 500 <= code <= 599
    return hangup.cause in _CARRIER_CAUSES


class Failover:
    def __init__(self, *, holdback_after: int, holdback_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._after = holdback_after
        self._seconds = holdback_seconds
        self._clock = clock
        self._failures: dict[str, int] = {}
        self._held_until: dict[str, float] = {}

    def held_back(self, carrier_id: str) -> bool:
        return self._held_until.get(carrier_id, 0.0) > self._clock()

    def held(self) -> dict[str, float]:
        """Carriers held back now, with the seconds left."""
        now = self._clock()
        return {c: round(until - now, 1) for c, until in self._held_until.items() if until > now}

    def record(self, carrier_id: str, *, failed: bool) -> None:
        if not failed:
            self._failures.pop(carrier_id, None)
            self._held_until.pop(carrier_id, None)
            return
        self._failures[carrier_id] = self._failures.get(carrier_id, 0) + 1
        if self._failures[carrier_id] >= self._after:
            self._held_until[carrier_id] = self._clock() + self._seconds
            self._failures[carrier_id] = 0

    def plan(self, carrier_id: str, carriers: Mapping[str, Carrier]) -> list[Carrier]:
        """The requested carrier, then the rest of its group by priority; held-back ones last."""
        first = carriers[carrier_id]
        group = sorted(
            (c for c in carriers.values()
             if first.failover_group is not None and c.failover_group == first.failover_group
             and c.id != carrier_id),
            key=lambda c: (c.priority, c.id),
        )
        order = [first, *group]
        return [c for c in order if not self.held_back(c.id)] + \
               [c for c in order if self.held_back(c.id)]
