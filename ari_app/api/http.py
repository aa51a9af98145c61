"""aiohttp routes of the public API. Errors leave as JSON with a stable error id."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import orjson
from aiohttp import web

from ari_app import audio, metrics
from ari_app.admission import Admission
from ari_app.api.openapi import document
from ari_app.auth import ApiKey, matches, parse_token
from ari_app.calls import CallService
from ari_app.carriers import CarrierManager, public
from ari_app.errors import (
    ApiError,
    Conflict,
    Forbidden,
    IdempotencyMismatch,
    InvalidField,
    MalformedRequest,
    MediaError,
    MediaUnavailable,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
)
from ari_app.health import Health
from ari_app.media import MediaPreparer
from ari_app.outcome import FINAL
from ari_app.playlist import parse_playlist, parse_request
from ari_app.settings import Carrier, Current, Settings
from ari_app.store import Attempt, CallRecord, Delivery, Idempotency, Store

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
KEY_CACHE_SECONDS = 1.0
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API_KEY = web.RequestKey("api_key", ApiKey)


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        response = _json(exc.body(), exc.status)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, Unauthorized):
            response.headers["WWW-Authenticate"] = 'Bearer realm="ari-app"'
        return response
    except web.HTTPRequestEntityTooLarge:
        exc2 = PayloadTooLarge(f"the body is larger than {MAX_BODY} bytes", field="body")
        return _json(exc2.body(), exc2.status)
    except web.HTTPException as exc:
        if exc.status >= 400:
            body = {"code": 1000 + exc.status, "status": exc.status,
                    "error_id": exc.reason.lower().replace(" ", "-"), "message": exc.reason,
                    "field": None}
            return _json(body, exc.status)
        raise


async def _json_body(request: web.Request) -> object:
    raw = await request.read()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequest("the body is not valid JSON", field="body") from exc


MAX_WAIT = 60.0
"""The longest `?wait=` of a status request, in seconds."""


def _wait_seconds(raw: str | None) -> float:
    if raw is None:
        return 0.0
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not 0 <= wait <= MAX_WAIT:  # also NaN
        raise InvalidField(f"wait: seconds, 0 to {MAX_WAIT:.0f}", field="wait")
    return wait


def _no_call() -> NotFound:
    return NotFound("no call with this request_id", field="request_id")


def _request_id(request: web.Request) -> str:
    """The path's request id; NotFound at once if it cannot be one of ours."""
    request_id = request.match_info["request_id"]
    if not _UUID.match(request_id):
        raise _no_call()
    return request_id


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def _attempt_body(attempt: Attempt) -> dict[str, object]:
    return {"carrier_id": attempt.carrier_id, "started_at": _iso(attempt.started_at),
            "ended_at": _iso(attempt.ended_at), "sip_code": attempt.sip_code,
            "cause": attempt.cause, "cause_txt": attempt.cause_txt, "outcome": attempt.outcome}


def _delivery_body(delivery: Delivery) -> dict[str, object]:
    state = json.loads(delivery.body).get("state")
    return {"event_id": delivery.id, "state": state, "delivery": delivery.state,
            "attempts": delivery.attempts, "last_status": delivery.last_status,
            "last_error": delivery.last_error, "delivered_at": _iso(delivery.delivered_at)}


def status_body(record: CallRecord, *, position: int | None = None,
                attempts: Sequence[Attempt] = (),
                deliveries: Sequence[Delivery] = ()) -> dict[str, object]:
    types = record.entry_types.split(",")
    duration = (record.ended_at - record.answered_at
                if record.ended_at is not None and record.answered_at is not None else None)
    hangup = None
    if record.cause is not None:
        hangup = {"cause": record.cause, "cause_txt": record.cause_txt,
                  "sip_code": record.sip_code}
    error = None
    if record.error_id is not None:
        error = {"error_id": record.error_id, "message": record.error}
    return {
        "request_id": record.id,
        "state": record.state,
        "queue_position": position if record.state == "queued" else None,
        "carrier_id": record.carrier_id,
        "to": record.to_number,
        "created_at": _iso(record.created_at),
        "answered_at": _iso(record.answered_at),
        "ended_at": _iso(record.ended_at),
        "duration": None if duration is None else round(duration, 3),
        "hangup": hangup,
        "entries": [{"index": i, "type": t, "played": i < record.played}
                    for i, t in enumerate(types)],
        "answer_to_audio_ms": record.answer_to_audio_ms,
        "speech_engines": record.speech_engines.split(",") if record.speech_engines else [],
        "audio_seconds": record.audio_seconds,
        "error": error,
        "attempts": [_attempt_body(a) for a in attempts],
        "callbacks": [_delivery_body(d) for d in deliveries],
    }


class Api:
    def __init__(self, *, config: Current, calls: CallService, store: Store,
                 media: MediaPreparer, health: Health, carriers: CarrierManager,
                 admission: Admission) -> None:
        self._config = config
        self._carriers = carriers
        self._admission = admission
        self._admit_lock = asyncio.Lock()
        self._keys: dict[str, tuple[float, tuple[ApiKey, str] | None]] = {}
        self._calls = calls
        self._store = store
        self._media = media
        self._health = health
        self._key_locks = tuple(asyncio.Lock() for _ in range(64))

    def app(self) -> web.Application:
        app = web.Application(middlewares=[errors, self.authenticate], client_max_size=MAX_BODY)
        app.router.add_post("/voice/call/play", self.play)
        app.router.add_get("/voice/call/status/{request_id}", self.status)
        app.router.add_delete("/voice/call/{request_id}", self.cancel)
        app.router.add_post("/voice/playlist/render", self.preview)
        app.router.add_post("/carriers", self.carrier_create)
        app.router.add_get("/carriers", self.carrier_list)
        app.router.add_get("/carriers/{carrier_id}", self.carrier_get)
        app.router.add_put("/carriers/{carrier_id}", self.carrier_update)
        app.router.add_delete("/carriers/{carrier_id}", self.carrier_delete)
        app.router.add_get("/openapi.json", self.openapi)
        app.router.add_get("/health", self.health_report)
        app.router.add_get("/metrics", self.metrics_page)
        app.router.add_get("/admin/breaker", self.breaker_state)
        app.router.add_delete("/admin/breaker", self.breaker_reset)
        return app

    @web.middleware
    async def authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every endpoint but /health needs `Authorization: Bearer <key>` of a live key."""
        if request.path == "/health":
            return await handler(request)
        token = parse_token(request.headers.get("Authorization"))
        found = await self._key(token[0]) if token else None
        if token is None or found is None or found[0].revoked_at is not None \
                or not matches(token[1], found[1]):
            self._calls.metrics.refused.labels(reason="unauthorized").inc()
            raise Unauthorized("a valid API key is needed: Authorization: Bearer <key>",
                               field="Authorization")
        request[API_KEY] = found[0]
        return await handler(request)

    async def _key(self, key_id: str) -> tuple[ApiKey, str] | None:
        """A key with its hash, read from the store at most once a second per key: a key
        created or revoked with `ari-app keys` takes effect within a second."""
        now = time.monotonic()
        cached = self._keys.get(key_id)
        if cached is None or now - cached[0] > KEY_CACHE_SECONDS:
            if len(self._keys) > 10_000:
                self._keys.clear()  # only ever this many keys: someone is guessing ids
            cached = (now, await self._store.key(key_id))
            self._keys[key_id] = cached
        return cached[1]

    @staticmethod
    def _admin(request: web.Request) -> None:
        key = request[API_KEY]
        if not key.unrestricted:
            raise Forbidden("this needs an API key without carrier or country limits",
                            field="Authorization")

    async def _submit(self, request: web.Request, body: object,
                      idempotency: Idempotency | None) -> str:
        """Validate, admit and store one call. Admissions go one at a time (each counts
        the calls admitted before it); stores are committed together (group commit)."""
        call = parse_request(body, self._settings)
        async with self._admit_lock:  # in memory, quick; the store's commit is outside
            origin = await self._admission.admit(call, request[API_KEY], request.remote)
        try:
            return await self._calls.submit(call, idempotency, origin)
        except Exception:
            self._admission.forget(origin, call.to)
            raise

    async def play(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return self._accepted(await self._submit(request, body, None))
        if not _KEY.match(key):
            raise InvalidField("Idempotency-Key: 1 to 200 printable ASCII characters",
                               field="Idempotency-Key")
        body_hash = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        # One lock per key (of a fixed set): concurrent duplicates place exactly one call.
        async with self._key_locks[hash(key) % len(self._key_locks)]:
            first = await self._store.idempotent(key)
            if first is not None:
                if first[0] != body_hash:
                    raise IdempotencyMismatch("this Idempotency-Key came with another body",
                                              field="Idempotency-Key")
                return self._accepted(first[1])
            return self._accepted(await self._submit(request, body,
                                                     Idempotency(key, body_hash)))

    def _accepted(self, request_id: str) -> web.Response:
        log.info("call accepted", extra={"request_id": request_id})
        return _json({"code": 0, "status": 200, "data": "accepted", "request_id": request_id},
                     202)

    async def preview(self, request: web.Request) -> web.Response:
        """The exact audio a call with this playlist would play, as an 8 kHz WAV."""
        playlist = parse_playlist(await _json_body(request), self._settings)
        try:
            prepared = await self._media.prepare(playlist)
            slin = self._media.render(prepared)
        except MediaError as exc:
            field = f"playlist[{exc.entry}]" if exc.entry is not None else "playlist"
            raise MediaUnavailable(str(exc), field=field) from exc
        return web.Response(body=audio.wav(slin), content_type="audio/wav")

    async def _record(self, request: web.Request) -> CallRecord:
        record = await self._store.get(_request_id(request))
        if record is None:
            raise _no_call()
        return record

    @property
    def _settings(self) -> Settings:
        return self._config.settings

    async def status(self, request: web.Request) -> web.Response:
        """The call as stored; with `?wait=<seconds>` (at most MAX_WAIT), answered when the
        call ends or when the time is up, whichever comes first: one request instead of a
        poll every second."""
        wait = _wait_seconds(request.query.get("wait"))
        request_id = _request_id(request)
        if wait:
            await self._calls.wait_ended(request_id, wait)
        found = await self._store.details(request_id)
        if found is None:
            raise _no_call()
        record, attempts, deliveries = found
        return _json(status_body(record, position=self._calls.position(record.id),
                                 attempts=attempts, deliveries=deliveries))

    async def cancel(self, request: web.Request) -> web.Response:
        """Cancel a queued call, or hang up a live one; it ends `canceled`."""
        record = await self._record(request)
        if record.state in FINAL:
            raise Conflict(f"the call already ended ({record.state})", field="request_id")
        if not self._calls.cancel(record.id):
            raise Conflict("the call is not running in this service", field="request_id")
        log.info("call cancel requested", extra={"request_id": record.id})
        return _json({"code": 0, "status": 200, "data": "canceling", "request_id": record.id},
                     202)

    def _carrier_body(self, carrier: Carrier) -> dict[str, object]:
        body = public(carrier, managed=carrier.id in self._settings.managed)
        body["live_calls"] = self._calls.dispatcher.live_on(carrier.id)
        body["held_back_seconds"] = self._calls.failover.held().get(carrier.id)
        return body

    async def carrier_create(self, request: web.Request) -> web.Response:
        self._admin(request)
        carrier = await self._carriers.create(await _json_body(request))
        return _json(self._carrier_body(carrier), 201)

    async def carrier_list(self, request: web.Request) -> web.Response:
        carriers = self._settings.carriers
        return _json({"carriers": [self._carrier_body(carriers[k]) for k in sorted(carriers)]})

    async def carrier_get(self, request: web.Request) -> web.Response:
        carrier = self._carriers.get(request.match_info["carrier_id"])
        return _json(self._carrier_body(carrier) | {"live": await self._carriers.live(carrier)})

    async def carrier_update(self, request: web.Request) -> web.Response:
        self._admin(request)
        carrier = await self._carriers.update(request.match_info["carrier_id"],
                                              await _json_body(request))
        return _json(self._carrier_body(carrier))

    async def carrier_delete(self, request: web.Request) -> web.Response:
        self._admin(request)
        carrier_id = request.match_info["carrier_id"]
        await self._carriers.delete(carrier_id)
        return _json({"code": 0, "status": 200, "data": "deleted", "carrier_id": carrier_id})

    async def breaker_state(self, request: web.Request) -> web.Response:
        tripped = self._admission.tripped
        return _json({"tripped": tripped is not None,
                      "tripped_at": _iso(tripped[0]) if tripped else None,
                      "reason": tripped[1] if tripped else None})

    async def breaker_reset(self, request: web.Request) -> web.Response:
        """Close the circuit breaker again: dialling resumes."""
        self._admin(request)
        await self._admission.reset()
        log.warning("circuit breaker reset by API key %s", request[API_KEY].id)
        return await self.breaker_state(request)

    async def metrics_page(self, request: web.Request) -> web.Response:
        return web.Response(body=self._calls.metrics.render(),
                            headers={"Content-Type": metrics.CONTENT_TYPE})

    async def health_report(self, request: web.Request) -> web.Response:
        report = await self._health.report()
        return _json(report, 200 if report["status"] == "ok" else 503)

    async def openapi(self, request: web.Request) -> web.Response:
        return _json(document())
