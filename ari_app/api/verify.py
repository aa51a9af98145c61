"""The verify endpoints: start a verification (the service makes the code and calls), check a
code, send it again, read and cancel. No answer ever holds the code."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ari_app.api.auth import API_KEY
from ari_app.api.bodies import iso
from ari_app.api.http import json_response, read_json
from ari_app.errors import NotFound
from ari_app.request import json_object
from ari_app.verify.rules import Verification
from ari_app.verify.service import VerifyService

_CHECK_FIELDS = frozenset({"code"})
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def verification_body(verification: Verification,
                      calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": verification.id, "status": verification.status,
        "to": verification.to_number, "carrier_id": verification.carrier_id,
        "locale": verification.locale, "code_length": verification.code_length,
        "created_at": iso(verification.created_at), "expires_at": iso(verification.expires_at),
        "ended_at": iso(verification.ended_at), "sends": verification.sends,
        "last_send_at": iso(verification.last_send_at),
        "attempts": verification.attempts, "attempts_left": verification.attempts_left,
    }
    if calls is not None:
        body["calls"] = [{**c, "created_at": iso(c["created_at"]),
                          "ended_at": iso(c["ended_at"])} for c in calls]
    return body


def _id(request: web.Request) -> str:
    verification_id = request.match_info["id"]
    if not _UUID.match(verification_id):
        raise NotFound("no verification with this id", field="id")
    return verification_id


class VerifyHandlers:
    def __init__(self, *, service: VerifyService) -> None:
        self._service = service

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/verify", self.start),
                web.get("/verify/{id}", self.status),
                web.delete("/verify/{id}", self.cancel),
                web.post("/verify/{id}/check", self.check),
                web.post("/verify/{id}/resend", self.resend)]

    async def start(self, request: web.Request) -> web.Response:
        """201 with a new verification; 200 with the pending one of this key to this number,
        sent again."""
        verification, new = await self._service.start(
            await read_json(request), request[API_KEY], request.remote)
        return json_response(verification_body(verification), 201 if new else 200)

    async def status(self, request: web.Request) -> web.Response:
        verification, calls = await self._service.details(_id(request), request[API_KEY])
        return json_response(verification_body(verification, calls=calls))

    async def check(self, request: web.Request) -> web.Response:
        verification_id = _id(request)
        body = json_object(await read_json(request), _CHECK_FIELDS)
        verification = await self._service.check(verification_id, body.get("code"),
                                                  request[API_KEY])
        return json_response({"id": verification.id, "status": verification.status,
                              "attempts_left": verification.attempts_left})

    async def resend(self, request: web.Request) -> web.Response:
        verification = await self._service.resend(_id(request), request[API_KEY],
                                                   request.remote)
        return json_response(verification_body(verification))

    async def cancel(self, request: web.Request) -> web.Response:
        verification = await self._service.cancel(_id(request), request[API_KEY])
        return json_response(verification_body(verification))
