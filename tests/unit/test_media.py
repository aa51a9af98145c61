"""Media preparation against a local HTTP server: allow-list, limits, content checks, formats."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ari_app.errors import FetchError, MediaError
from ari_app.media import Fetcher, MediaPreparer, sniff
from ari_app.playlist import AudioUrl, Speech
from ari_app.settings import Address, MediaSettings
from ari_app.speech import Speaker, build_engines


def wav(seconds: float = 0.5) -> bytes:
    return subprocess.run(["sox", "-n", "-t", "wav", "-r", "22050", "-", "synth", str(seconds),
                           "sine", "440"], capture_output=True, check=True).stdout


def mp3() -> bytes:
    return subprocess.run(["sox", "-t", "wav", "-", "-t", "mp3", "-"], input=wav(),
                          capture_output=True, check=True).stdout


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(body=wav())

    def serve(body: bytes) -> web.Handler:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(body=body)
        return handler

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/a.wav")

    app = web.Application()
    app.router.add_get("/a.wav", serve(wav()))
    app.router.add_get("/a.mp3", serve(mp3()))
    app.router.add_get("/big.wav", serve(wav(20)))
    app.router.add_get("/page.wav", serve(b"<html>not audio</html>"))
    app.router.add_get("/moved.wav", moved)
    app.router.add_get("/slow.wav", slow)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


def settings_for(tmp: Path, server: TestServer, **overrides: object) -> MediaSettings:
    values: dict[str, object] = {
        "dir": tmp, "asterisk_dir": "/srv/media", "allowed_hosts": frozenset({"media.example"}),
        "host_map": {"media.example": Address("127.0.0.1", server.port or 0)},
        "fetch_timeout": 1.0, "max_bytes": 200_000,
    }
    values.update(overrides)
    return MediaSettings(**values)  # type: ignore[arg-type]


def test_sniff() -> None:
    assert sniff(wav()) == "wav"
    assert sniff(mp3()) == "mp3"
    assert sniff(b"<html>") is None


@pytest.mark.parametrize(("path", "message"), [
    ("/missing.wav", "HTTP 404"), ("/big.wav", "larger than"), ("/moved.wav", "HTTP 302"),
    ("/slow.wav", "longer than"),
])
async def test_fetch_failures(tmp_path: Path, server: TestServer, path: str,
                              message: str) -> None:
    fetcher = Fetcher(settings_for(tmp_path, server))
    with pytest.raises(FetchError, match=message):
        await fetcher.fetch(f"http://media.example{path}")
    await fetcher.close()


async def test_fetch_refuses_hosts_off_the_list(tmp_path: Path, server: TestServer) -> None:
    fetcher = Fetcher(settings_for(tmp_path, server))
    with pytest.raises(FetchError, match="allow-list"):
        await fetcher.fetch(f"http://127.0.0.1:{server.port}/a.wav")
    await fetcher.close()


async def test_prepare_writes_every_format_and_discards_codes(tmp_path: Path,
                                                              server: TestServer) -> None:
    settings = settings_for(tmp_path, server)
    fetcher = Fetcher(settings)
    media = MediaPreparer(settings=settings, fetcher=fetcher,
                          speech=Speaker(build_engines(["flite", "espeak-ng"], rate=150,
                                                       timeout=10)))
    code = Speech(text="Your code is 4321", language="en-US", gender="female", say_as="digits")
    words = Speech(text="Goodbye", language="fr-FR", gender="male", say_as=None)
    playlist = (AudioUrl("http://media.example/a.wav"), code,
                AudioUrl("http://media.example/a.mp3"), code, words)
    prepared = await media.prepare("call-1", playlist)

    assert len(prepared.media) == 5 and prepared.media[1] == prepared.media[3]
    assert all(uri.startswith("sound:/srv/media/") for uri in prepared.media)
    assert prepared.engines == ("espeak-ng", "flite")
    for uri in prepared.media:
        base = tmp_path / uri.removeprefix("sound:/srv/media/")
        sizes = {ext: base.with_name(f"{base.name}.{ext}").stat().st_size
                 for ext in ("sln", "ulaw", "alaw")}
        assert sizes["sln"] == 2 * sizes["ulaw"] == 2 * sizes["alaw"] > 0
    assert not any("4321" in p.name for p in tmp_path.rglob("*"))
    assert 0.5 < prepared.seconds < 20

    media.discard(prepared)
    assert list((tmp_path / "calls").iterdir()) == []
    assert len(list((tmp_path / "url").iterdir())) == 6  # cached: 2 files x 3 formats
    await fetcher.close()


async def test_one_bad_entry_fails_the_whole_playlist(tmp_path: Path, server: TestServer) -> None:
    settings = settings_for(tmp_path, server)
    fetcher = Fetcher(settings)
    media = MediaPreparer(settings=settings, fetcher=fetcher,
                          speech=Speaker(build_engines(["espeak-ng"], rate=150, timeout=10)))
    code = Speech(text="Your code is 4321", language="en-US", gender="female", say_as="digits")
    with pytest.raises(MediaError) as caught:
        await media.prepare("call-2", (code, AudioUrl("http://media.example/page.wav")))
    assert caught.value.entry == 1 and "neither WAV nor MP3" in str(caught.value)
    assert list((tmp_path / "calls").iterdir()) == []  # the code's audio is gone too
    await fetcher.close()
