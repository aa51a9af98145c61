"""gTTS against a local stand-in of its HTTP endpoint (never the internet)."""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ari_app.audio import sniff
from ari_app.entries import Speech
from ari_app.errors import SpeechError
from ari_app.media import MediaPreparer
from ari_app.settings import Current
from ari_app.speech import Espeak, GoogleTts
from tests.support.sounds import mp3, wav


@pytest.fixture
async def google() -> AsyncIterator[tuple[TestServer, list[str]]]:
    heard: list[str] = []
    audio = base64.b64encode(mp3(wav(0.4, rate=24000, tone=300))).decode()

    async def batchexecute(request: web.Request) -> web.Response:
        form = urllib.parse.parse_qs(await request.text())
        heard.append(form["f.req"][0])
        line = '[["wrb.fr","jQ1olc","[\\"' + audio + '\\"]",null,null,null,"generic"]]'
        return web.Response(text=")]}'\n\n" + line + "\n")

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_post("/batchexecute", batchexecute)
    app.router.add_post("/broken", broken)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server, heard
    await server.close()


async def test_gtts_speaks_through_the_endpoint(google: tuple[TestServer, list[str]]) -> None:
    server, heard = google
    engine = GoogleTts(timeout=5, endpoint=f"http://127.0.0.1:{server.port}/batchexecute")
    voice = engine.voice("en-GB", "female")
    assert voice == "en|co.uk" and engine.voice("en-GB", "male") is None
    audio = await engine.synthesize("Your code is.", voice=voice, speed=1.0)
    assert sniff(audio) == "mp3"
    assert len(heard) == 1 and "Your code is" in heard[0]


async def test_gtts_failure_is_a_speech_error(google: tuple[TestServer, list[str]]) -> None:
    server, _ = google
    engine = GoogleTts(timeout=5, endpoint=f"http://127.0.0.1:{server.port}/broken")
    with pytest.raises(SpeechError, match="gtts failed"):
        await engine.synthesize("hello.", voice="en|com", speed=1.0)


async def test_only_words_reach_google_and_it_falls_back(
        tmp_path: Path, google: tuple[TestServer, list[str]],
        media_current: Callable[..., Current], make_preparer: Callable[..., MediaPreparer],
) -> None:
    server, heard = google
    good = GoogleTts(timeout=5, endpoint=f"http://127.0.0.1:{server.port}/batchexecute")
    media = make_preparer([good])
    code = Speech(text="Your code is 846213", language="en-US", gender="female",
                  say_as="digits")
    prepared = await media.prepare([code])
    assert prepared.engines == ("gtts",)
    # Google hears the words, and every digit once: nothing of which digits the code has.
    spoken = sorted(urllib.parse.unquote(r).split('\\"')[1] for r in heard)
    assert spoken == [f"{d}." for d in "0123456789"] + ["Your code is."], spoken

    broken = GoogleTts(timeout=5, endpoint=f"http://127.0.0.1:{server.port}/broken")
    media = make_preparer([broken, Espeak(rate=150, timeout=5)],
                          current=media_current(tmp_path / "b"))
    assert (await media.prepare([code])).engines == ("espeak-ng",)
