"""A local HTTP server of media files, for the fetcher and the media preparer: plain files
in each format, a slow one, redirects (allowed and not), and one with caching headers
that counts its requests (`HITS`)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.support.sounds import mp3, ogg, wav

HITS = web.AppKey("hits", list[str])
"""The If-None-Match of every request of /tagged.wav, in order."""


def media_app() -> web.Application:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(body=wav())

    def serve(body: bytes) -> web.Handler:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(body=body)
        return handler

    def redirect(location: str) -> web.Handler:
        async def handler(request: web.Request) -> web.Response:
            raise web.HTTPFound(location.replace("PORT", str(request.url.port)))
        return handler

    hits: list[str] = []

    async def tagged(request: web.Request) -> web.Response:
        hits.append(request.headers.get("If-None-Match", ""))
        rule = {"Cache-Control": request.query.get("cc", "max-age=0"), "ETag": '"v1"'}
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers=rule)
        return web.Response(body=wav(), headers=rule)

    app = web.Application()
    app[HITS] = hits
    app.router.add_get("/tagged.wav", tagged)
    app.router.add_get("/a.wav", serve(wav()))
    app.router.add_get("/a.mp3", serve(mp3()))
    app.router.add_get("/a.ogg", serve(ogg()))
    app.router.add_get("/big.wav", serve(wav(20)))
    app.router.add_get("/page.wav", serve(b"<html>not audio</html>"))
    app.router.add_get("/moved.wav", redirect("/a.wav"))
    app.router.add_get("/loop.wav", redirect("/loop.wav"))
    app.router.add_get("/to-loopback.wav", redirect("http://127.0.0.1:PORT/a.wav"))
    app.router.add_get("/to-inside.wav", redirect("http://inside.example/a.wav"))
    app.router.add_get("/to-file.wav", redirect("file:///etc/passwd"))
    app.router.add_get("/slow.wav", slow)
    return app
