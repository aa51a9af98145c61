"""The carrier endpoints: list, read (with live registration and reachability), and, with
an unrestricted key, add, replace and remove (carrier_admin.py does the work)."""

from __future__ import annotations

from aiohttp import web

from ari_app.api import bodies
from ari_app.api.auth import require_admin
from ari_app.api.http import json_response, read_json
from ari_app.calls import CallService
from ari_app.carrier_admin import CarrierAdmin
from ari_app.carriers import Carrier
from ari_app.settings import Current


class CarrierHandlers:
    def __init__(self, *, current: Current, admin: CarrierAdmin, calls: CallService) -> None:
        self._current = current
        self._admin = admin
        self._calls = calls

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/carriers", self.create),
                web.get("/carriers", self.list),
                web.get("/carriers/{carrier_id}", self.get),
                web.put("/carriers/{carrier_id}", self.update),
                web.delete("/carriers/{carrier_id}", self.delete)]

    def _body(self, carrier: Carrier) -> dict[str, object]:
        return bodies.carrier(carrier, managed=carrier.id in self._current.settings.managed,
                              load=self._calls.carrier_load(carrier.id))

    async def create(self, request: web.Request) -> web.Response:
        require_admin(request)
        carrier = await self._admin.create(await read_json(request))
        return json_response(self._body(carrier), 201)

    async def list(self, request: web.Request) -> web.Response:
        carriers = self._current.settings.carriers
        return json_response({"carriers": [self._body(carriers[k]) for k in sorted(carriers)]})

    async def get(self, request: web.Request) -> web.Response:
        carrier = self._admin.get(request.match_info["carrier_id"])
        return json_response(self._body(carrier) | {"live": await self._admin.live(carrier)})

    async def update(self, request: web.Request) -> web.Response:
        require_admin(request)
        carrier = await self._admin.update(request.match_info["carrier_id"],
                                           await read_json(request))
        return json_response(self._body(carrier))

    async def delete(self, request: web.Request) -> web.Response:
        require_admin(request)
        carrier_id = request.match_info["carrier_id"]
        await self._admin.delete(carrier_id)
        return json_response(bodies.done("deleted", carrier_id=carrier_id))
