"""The call endpoints: place a call, read its status (optionally waiting for its end),
cancel it, and preview the audio of a playlist."""

from __future__ import annotations

import logging
import re

from aiohttp import web

from ari_app import audio
from ari_app.api import bodies
from ari_app.api.auth import API_KEY
from ari_app.api.http import json_response, read_json
from ari_app.calls import CallService
from ari_app.errors import Conflict, InvalidField, MediaError, MediaUnavailable, NotFound
from ari_app.intake import Intake
from ari_app.media import MediaPreparer
from ari_app.outcome import FINAL
from ari_app.request import parse_playlist
from ari_app.settings import Current
from ari_app.store import CallStore

log = logging.getLogger(__name__)

MAX_WAIT = 60.0
"""The longest `?wait=` of a status request, in seconds."""
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


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


class CallHandlers:
    def __init__(self, *, current: Current, intake: Intake, calls: CallService,
                 store: CallStore, media: MediaPreparer) -> None:
        self._current = current
        self._intake = intake
        self._calls = calls
        self._store = store
        self._media = media

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/voice/call/play", self.play),
                web.get("/voice/call/status/{request_id}", self.status),
                web.delete("/voice/call/{request_id}", self.cancel),
                web.post("/voice/playlist/render", self.preview)]

    async def play(self, request: web.Request) -> web.Response:
        request_id = await self._intake.accept(
            await read_json(request), key=request[API_KEY], client=request.remote,
            idempotency_key=request.headers.get("Idempotency-Key"))
        log.info("call accepted", extra={"request_id": request_id})
        return json_response(bodies.done("accepted", request_id=request_id), 202)

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
        return json_response(bodies.call_status(
            record, position=self._calls.position(record.id), attempts=attempts,
            deliveries=deliveries))

    async def cancel(self, request: web.Request) -> web.Response:
        """Cancel a queued call, or hang up a live one; it ends `canceled`."""
        record = await self._store.get(_request_id(request))
        if record is None:
            raise _no_call()
        if record.state in FINAL:
            raise Conflict(f"the call already ended ({record.state})", field="request_id")
        if not await self._calls.cancel_anywhere(record.id):
            raise Conflict("the call is not running in this service", field="request_id")
        log.info("call cancel requested", extra={"request_id": record.id})
        return json_response(bodies.done("canceling", request_id=record.id), 202)

    async def preview(self, request: web.Request) -> web.Response:
        """The exact audio a call with this playlist would play, as an 8 kHz WAV."""
        playlist = parse_playlist(await read_json(request), self._current.settings)
        try:
            slin = self._media.render(await self._media.prepare(playlist))
        except MediaError as exc:
            field = f"playlist[{exc.entry}]" if exc.entry is not None else "playlist"
            raise MediaUnavailable(str(exc), field=field) from exc
        return web.Response(body=audio.wav(slin), content_type="audio/wav")
