"""The transport under every handler: JSON in and out, and errors as JSON with a stable
error id (the ApiError tree of errors.py), whatever raised them."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from ari_app.errors import (
    ApiError,
    MalformedRequest,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
)

MAX_BODY = 64 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def read_json(request: web.Request) -> object:
    raw = await request.read()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequest("the body is not valid JSON", field="body") from exc


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        response = json_response(exc.body(), exc.status)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, Unauthorized):
            response.headers["WWW-Authenticate"] = 'Bearer realm="ari-app"'
        return response
    except web.HTTPRequestEntityTooLarge:
        too_large = PayloadTooLarge(f"the body is larger than {MAX_BODY} bytes", field="body")
        return json_response(too_large.body(), too_large.status)
    except web.HTTPException as exc:
        if exc.status >= 400:
            body = {"code": 1000 + exc.status, "status": exc.status,
                    "error_id": exc.reason.lower().replace(" ", "-"), "message": exc.reason,
                    "field": None}
            return json_response(body, exc.status)
        raise
