"""One exception tree for the whole service.

    AriAppError
    ├── ConfigError                 settings file invalid; lists every problem
    ├── RenderError                 a template could not be rendered or written
    ├── InstallError                install-service could not do a step (not root, a command failed)
    ├── StoreError                  the database cannot be used (e.g. a newer schema)
    │   ├── CallTakenOver           another instance took the call over (this one was silent)
    │   └── IdempotencyKeyTaken     another instance stored a call with this key first
    ├── IllegalTransition           a state moved where its table does not allow: a bug
    ├── ServiceFailed               a background task of the service died
    ├── ApiError                    answered to an HTTP client (status, error_id, message, field)
    │   ├── MalformedRequest        400: body is not a JSON object
    │   ├── Unauthorized            401: no valid API key
    │   ├── Forbidden               403: the key may not do this
    │   │   └── DestinationForbidden 403: the number may not be called
    │   ├── NotFound                404
    │   ├── Conflict                409: the call already ended, or the change cannot be made
    │   │   └── VerificationEnded   409: the verification is no longer pending
    │   ├── PayloadTooLarge         413
    │   ├── InvalidField            422: a field failed validation
    │   │   └── IdempotencyMismatch 422: a key reused with another body
    │   ├── MediaUnavailable        422: a preview's media could not be prepared
    │   ├── TooManyRequests         429: a velocity limit (retry_after)
    │   ├── CarrierRejected         502: Asterisk did not take a carrier change
    │   ├── BreakerOpen             503: the circuit breaker stops all calls
    │   ├── ServiceStopping         503: the service is draining before it stops
    │   └── StoreUnavailable        503: the database server does not answer; nothing stored
    ├── MediaError                  a playlist entry could not be prepared; nothing is dialled
    │   ├── SpeechError             the speech engine failed
    │   └── FetchError              a media URL could not be fetched or converted
    ├── AriError                    Asterisk's REST interface refused or failed (status)
    │   └── AriUnavailable          no connection to ARI
    └── AmiError                    AMI unreachable, login refused, or an action failed

Library errors are wrapped where they enter (`raise ... from exc`). Messages
never contain the text being spoken, which may carry a verification code.
"""

from __future__ import annotations

from collections.abc import Sequence


class AriAppError(Exception):
    """Base of every error the service raises on purpose."""


class ConfigError(AriAppError):
    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration ({len(self.problems)} problem(s)):\n{lines}")


class RenderError(AriAppError):
    pass


class InstallError(AriAppError):
    """`ari-app install-service` stopped: nothing after the step it names was done."""


class StoreError(AriAppError):
    pass


class CallTakenOver(StoreError):
    pass


class IdempotencyKeyTaken(StoreError):
    pass


class IllegalTransition(AriAppError):
    """A state machine was asked for a move its table does not allow."""


class ServiceFailed(AriAppError):
    """A background task that must run as long as the service ended or raised."""


class ApiError(AriAppError):
    status = 400
    error_id = "bad-request"
    code = 1000

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def body(self) -> dict[str, object]:
        return {
            "code": self.code,
            "status": self.status,
            "error_id": self.error_id,
            "message": self.message,
            "field": self.field,
        }


class MalformedRequest(ApiError):
    status = 400
    error_id = "malformed-request"
    code = 1001


class InvalidField(ApiError):
    status = 422
    error_id = "invalid-field"
    code = 1002


class PayloadTooLarge(ApiError):
    status = 413
    error_id = "payload-too-large"
    code = 1003


class NotFound(ApiError):
    status = 404
    error_id = "not-found"
    code = 1004


class MediaUnavailable(ApiError):
    status = 422
    error_id = "media-unavailable"
    code = 1005


class Conflict(ApiError):
    status = 409
    error_id = "call-ended"
    code = 1006


class VerificationEnded(Conflict):
    """A check, resend or cancel of a verification that has ended: says its status (a
    second check of a right code must not read as approved)."""

    error_id = "verification-ended"
    code = 1014

    def __init__(self, status: str) -> None:
        super().__init__(f"the verification is {status}: it accepts no code and places no "
                         "call any more; start a new one", field="id")
        self.verification_status = status

    def body(self) -> dict[str, object]:
        return super().body() | {"verification_status": self.verification_status}


class IdempotencyMismatch(InvalidField):
    error_id = "idempotency-key-reused"
    code = 1007


class MediaError(AriAppError):
    """A playlist entry could not be prepared. `entry` is its index in the playlist."""

    def __init__(self, message: str, *, entry: int | None = None) -> None:
        super().__init__(message)
        self.entry = entry


class SpeechError(MediaError):
    pass


class FetchError(MediaError):
    pass


class AriError(AriAppError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AriUnavailable(AriError):
    pass


class AmiError(AriAppError):
    """AMI unreachable, login refused, or an action failed."""


class CarrierRejected(ApiError):
    """Asterisk did not take a carrier change; the previous config was restored."""

    status = 502
    error_id = "carrier-rejected"
    code = 1008


class Unauthorized(ApiError):
    status = 401
    error_id = "unauthorized"
    code = 1009


class Forbidden(ApiError):
    status = 403
    error_id = "forbidden"
    code = 1010


class DestinationForbidden(Forbidden):
    error_id = "destination-forbidden"
    code = 1011


class TooManyRequests(ApiError):
    """A velocity limit; `retry_after` seconds until it would pass."""

    status = 429
    error_id = "rate-limited"
    code = 1012

    def __init__(self, message: str, *, field: str | None = None,
                 retry_after: int = 60) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class ServiceStopping(ApiError):
    """SIGTERM: live calls are finishing; new ones go to another instance, or wait."""

    status = 503
    error_id = "service-stopping"
    code = 1015


class StoreUnavailable(ApiError):
    """The database server is down or unreachable: the request was not stored, so it was not
    accepted; the client tries again (the connection is made again on the next use)."""

    status = 503
    error_id = "store-unavailable"
    code = 1016


class BreakerOpen(ApiError):
    status = 503
    error_id = "circuit-breaker-open"
    code = 1013
