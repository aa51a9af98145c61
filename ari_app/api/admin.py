"""Operations endpoints: health, metrics, the OpenAPI document, and the circuit breaker
(its state; its reset with an unrestricted key)."""

from __future__ import annotations

import logging

from aiohttp import web

from ari_app import metrics
from ari_app.admission import Admission
from ari_app.api import bodies
from ari_app.api.auth import require_admin
from ari_app.api.http import json_response
from ari_app.api.openapi import document
from ari_app.health import Health

log = logging.getLogger(__name__)


class AdminHandlers:
    def __init__(self, *, admission: Admission, health: Health,
                 metrics: metrics.Metrics) -> None:
        self._admission = admission
        self._health = health
        self._metrics = metrics

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/openapi.json", self.openapi),
                web.get("/health", self.health),
                web.get("/metrics", self.metrics),
                web.get("/admin/breaker", self.breaker_state),
                web.delete("/admin/breaker", self.breaker_reset)]

    async def breaker_state(self, request: web.Request) -> web.Response:
        return json_response(bodies.breaker(self._admission.tripped))

    async def breaker_reset(self, request: web.Request) -> web.Response:
        """Close the circuit breaker again: dialling resumes."""
        key = require_admin(request)
        await self._admission.reset()
        log.warning("circuit breaker reset by API key %s", key.id)
        return await self.breaker_state(request)

    async def metrics(self, request: web.Request) -> web.Response:
        self._metrics.carriers(await self._health.carriers())  # asked of AMI every 5 s at most
        return web.Response(body=self._metrics.render(),
                            headers={"Content-Type": metrics.CONTENT_TYPE})

    async def health(self, request: web.Request) -> web.Response:
        report = await self._health.report()
        return json_response(report, 200 if report["status"] == "ok" else 503)

    async def openapi(self, request: web.Request) -> web.Response:
        return json_response(document())
