"""The HTTP application: the middlewares (errors as JSON, then authentication) and every
route, from the handler modules. To add a route: a method on the handlers of its
module, a line in its `routes()`, and its operation in openapi.py (a test holds the
two together)."""

from __future__ import annotations

from aiohttp import web

from ari_app.api.admin import AdminHandlers
from ari_app.api.auth import Authenticator
from ari_app.api.calls import CallHandlers
from ari_app.api.carriers import CarrierHandlers
from ari_app.api.http import MAX_BODY, errors
from ari_app.api.verify import VerifyHandlers


def application(*, auth: Authenticator, calls: CallHandlers, carriers: CarrierHandlers,
                admin: AdminHandlers, verify: VerifyHandlers) -> web.Application:
    app = web.Application(middlewares=[errors, auth.middleware], client_max_size=MAX_BODY)
    app.add_routes([*calls.routes(), *carriers.routes(), *admin.routes(), *verify.routes()])
    return app
