"""A verification's life, as pure rules: its statuses, when a code may still be checked or sent
again, and the code itself.

NIST SP 800-63B (out-of-band authenticators over the phone network): a code drawn from
a secure random generator, at least 20 bits (six digits) by default, valid ten minutes,
accepted once; failed checks limited.

    pending ──check right──▶ approved
       │──5th wrong check──▶ max_attempts_reached
       │──expiry────────────▶ expired
       │──DELETE────────────▶ canceled
       └──every send ended, none reached a person──▶ undeliverable

Every status but pending is final: the code is deleted as it is reached.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from enum import StrEnum

MAX_CHECKS = 5
"""Wrong codes before the verification ends (NIST asks for a limit; the hosted services
use 5)."""
MAX_SENDS = 5
REACHED = frozenset({"confirmed", "played", "partial"})
"""Delivery verdicts of a call whose code a person heard, at least in part."""


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EXPIRED = "expired"
    CANCELED = "canceled"
    MAX_ATTEMPTS_REACHED = "max_attempts_reached"
    UNDELIVERABLE = "undeliverable"


def new_code(length: int) -> str:
    """`length` decimal digits, each of the 10**length codes equally likely (`secrets`)."""
    return str(secrets.randbelow(10 ** length)).zfill(length)


@dataclass(frozen=True)
class Verification:
    id: str
    status: str
    to_number: str
    carrier_id: str
    api_key: str | None
    locale: str
    code_length: int
    callback_url: str | None
    attempts: int
    """Wrong codes checked."""
    sends: int
    last_send_at: float | None
    created_at: float
    expires_at: float
    updated_at: float
    ended_at: float | None = None

    def status_at(self, now: float) -> Status:
        """The status as of `now`: a pending one past its expiry is expired, stored or not."""
        if self.status == Status.PENDING and now >= self.expires_at:
            return Status.EXPIRED
        return Status(self.status)

    @property
    def attempts_left(self) -> int:
        return max(0, MAX_CHECKS - self.attempts)


VERIFICATION_COLUMNS = tuple(Verification.__dataclass_fields__)


@dataclass(frozen=True)
class SendRefused:
    """Why no call is placed now, and when one could be (seconds), if ever."""

    reason: str
    retry_after: int | None


def send_refusal(verification: Verification, now: float, interval: int) -> SendRefused | None:
    """None if a resend may be placed now."""
    if verification.sends >= MAX_SENDS:
        return SendRefused(f"at most {MAX_SENDS} calls per verification", None)
    if verification.last_send_at is not None:
        wait = verification.last_send_at + interval - now
        if wait > 0:
            return SendRefused(f"at most one call every {interval} s per verification",
                               math.ceil(wait))
    return None


def after_wrong_code(verification: Verification) -> Status:
    """The status once one more wrong code is counted."""
    if verification.attempts + 1 >= MAX_CHECKS:
        return Status.MAX_ATTEMPTS_REACHED
    return Status.PENDING


def undeliverable(sends: int, calls: list[tuple[str, str | None]]) -> bool:
    """Whether every send has ended and none reached a person. `calls`: each send's
    (state, verdict); a verdict is there once its call has ended."""
    if sends == 0 or len(calls) < sends:
        return False
    return all(verdict is not None and verdict not in REACHED for _, verdict in calls)
