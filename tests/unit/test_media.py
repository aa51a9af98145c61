"""Media preparation against a local HTTP server: allow-list, limits, content checks, formats."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ari_app.config_reader import Address
from ari_app.errors import MediaError
from ari_app.fetch import Fetcher
from ari_app.media import MediaPreparer, sniff
from ari_app.playlist import AsteriskSound, AudioUrl, Pause, Speech
from ari_app.settings import MediaSettings
from ari_app.speech import Engine, Espeak, Flite, Speaker, build_engines

HITS = web.AppKey("hits", list[str])


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
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


def settings_for(tmp: Path, server: TestServer, **overrides: object) -> MediaSettings:
    values: dict[str, object] = {
        "dir": tmp, "asterisk_dir": "/srv/media", "allowed_networks": (),
        "allowed_hosts": frozenset({"media.example", "inside.example", "2130706433"}),
        "host_map": {"media.example": Address("127.0.0.1", server.port or 0)},
        "fetch_timeout": 1.0, "max_bytes": 200_000, "cache_seconds": 3600,
    }
    values.update(overrides)
    return MediaSettings(**values)  # type: ignore[arg-type]


def ogg() -> bytes:
    return subprocess.run(["sox", "-t", "wav", "-", "-t", "ogg", "-"], input=wav(),
                          capture_output=True, check=True).stdout


def test_sniff() -> None:
    assert sniff(wav()) == "wav"
    assert sniff(mp3()) == "mp3"
    assert sniff(ogg()) == "ogg"
    assert sniff(b"<html>") is None


_FETCHERS: list[Fetcher] = []


@pytest.fixture(autouse=True)
async def close_fetchers() -> AsyncIterator[None]:
    yield
    while _FETCHERS:
        await _FETCHERS.pop().close()


def preparer(tmp: Path, server: TestServer, engines: list[Engine] | None = None) -> MediaPreparer:
    settings = settings_for(tmp, server)
    _FETCHERS.append(Fetcher(settings))
    return MediaPreparer(settings=settings, fetcher=_FETCHERS[-1], speech=Speaker(
        engines or build_engines(["flite", "espeak-ng"], rate=150, timeout=10)))


def listening(engine: Engine, heard: list[str]) -> Engine:
    """`engine`, noting every text it is asked to speak."""
    speak = engine.synthesize

    async def synthesize(text: str, *, voice: str, speed: float) -> bytes:
        heard.append(text)
        return await speak(text, voice=voice, speed=speed)

    engine.synthesize = synthesize  # type: ignore[method-assign]
    return engine


CODE = Speech(text="Your code is 4321", language="en-US", gender="female", say_as="digits")


async def test_prepare_writes_every_format_once(tmp_path: Path, server: TestServer) -> None:
    media = preparer(tmp_path, server)
    words = Speech(text="Au revoir", language="fr-FR", gender="male", say_as=None)
    playlist = (AudioUrl("http://media.example/a.wav"), CODE,
                AudioUrl("http://media.example/a.mp3"), CODE, words, Pause(500),
                AsteriskSound("vm-goodbye"), AudioUrl("http://media.example/a.ogg"))
    prepared = await media.prepare(playlist)

    # words, gap, 4 digits with 3 gaps, a pause after the digits
    assert prepared.items_per_entry == (1, 10, 1, 10, 1, 1, 1, 1)
    assert prepared.media[1:11] == prepared.media[12:22]
    assert prepared.media[-2] == "sound:vm-goodbye"
    assert prepared.engines == ("espeak-ng", "flite")
    for uri in [u for u in prepared.media if u != "sound:vm-goodbye"]:
        assert uri.startswith("sound:/srv/media/")
        base = tmp_path / uri.removeprefix("sound:/srv/media/")
        sizes = {ext: base.with_name(f"{base.name}.{ext}").stat().st_size
                 for ext in ("sln", "ulaw", "alaw")}
        assert sizes["sln"] == 2 * sizes["ulaw"] == 2 * sizes["alaw"] > 0
    assert 2 < prepared.seconds < 20
    assert prepared.entries_done(0) == 0
    assert prepared.entries_done(11) == 2 and prepared.entries_done(len(prepared.media)) == 8


async def test_a_code_is_never_spoken_or_stored_whole(tmp_path: Path, server: TestServer) -> None:
    heard: list[str] = []

    media = preparer(tmp_path, server, [listening(Flite(timeout=10), heard)])
    first = await media.prepare([CODE])
    again = await media.prepare([Speech(text="Your code is 1234", language="en-US",
                                        gender="female", say_as="digits")])

    # Clips are made once, all ten digits whatever the code.
    assert sorted(heard) == [f"{d}." for d in "0123456789"] + ["Your code is."]
    assert first.media[0] == again.media[0]
    for path in tmp_path.rglob("*"):
        assert "4321" not in path.name and b"4321" not in (
            path.read_bytes() if path.is_file() else b"")


async def test_repeat_and_groups(tmp_path: Path, server: TestServer) -> None:
    media = preparer(tmp_path, server)
    grouped = Speech(text="123456", language="en-US", gender="female", say_as="digits",
                     pause_ms=200, group=3, repeat=2)
    prepared = await media.prepare([grouped])
    # 6 digits, 5 gaps, the pause after; twice
    assert prepared.items_per_entry == (24,)
    gaps = [prepared.media[i] for i in (1, 3, 5, 7, 9)]
    assert gaps[0] == gaps[1] == gaps[3] == gaps[4] != gaps[2]  # the group gap is longer


async def test_next_engine_speaks_when_the_first_fails(tmp_path: Path, server: TestServer) -> None:
    media = preparer(tmp_path, server, [Flite(timeout=5, binary="/nonexistent/flite"),
                                        Espeak(rate=150, timeout=5)])
    prepared = await media.prepare([CODE])
    assert prepared.engines == ("espeak-ng",)


async def test_one_bad_entry_fails_the_whole_playlist(tmp_path: Path, server: TestServer) -> None:
    media = preparer(tmp_path, server)
    with pytest.raises(MediaError) as caught:
        await media.prepare((CODE, AudioUrl("http://media.example/page.wav")))
    assert caught.value.entry == 1 and "not WAV, MP3 or OGG" in str(caught.value)


async def test_all_engines_failing_names_no_text(tmp_path: Path, server: TestServer) -> None:
    media = preparer(tmp_path, server, [Espeak(rate=150, timeout=5, binary="/nonexistent/x")])
    with pytest.raises(MediaError) as caught:
        await media.prepare([CODE])
    assert caught.value.entry == 0 and "4321" not in str(caught.value)


async def test_characters_and_telephone(tmp_path: Path, server: TestServer) -> None:
    media = preparer(tmp_path, server, build_engines(["espeak-ng"], rate=150, timeout=10))
    spelled = await media.prepare([Speech(text="Code AB12", language="en-US", gender="female",
                                          say_as="characters")])
    # words, gap, A B 1 2 with three gaps, the pause after
    assert spelled.items_per_entry == (10,)
    assert len({spelled.media[i] for i in (2, 4, 6, 8)}) == 4
    phone = await media.prepare([Speech(text="5551234", language="en-US", gender="female",
                                        say_as="telephone", pause_ms=200)])
    gaps = [phone.media[i] for i in range(1, 13, 2)]
    assert gaps[2] != gaps[0] == gaps[1] == gaps[3]  # a longer gap after every third digit


async def test_url_cache_honours_cache_control_and_etag(tmp_path: Path,
                                                       server: TestServer) -> None:
    hits = server.app[HITS]
    media = preparer(tmp_path, server)
    revalidate = [AudioUrl("http://media.example/tagged.wav?cc=no-cache")]
    first = await media.prepare(revalidate)
    second = await media.prepare(revalidate)
    assert hits == ["", '"v1"'] and first == second  # asked again, 304, same sound

    hits.clear()
    fresh = [AudioUrl("http://media.example/tagged.wav?cc=max-age=600")]
    await media.prepare(fresh)
    await media.prepare(fresh)
    assert hits == [""]  # fresh for ten minutes: not asked again


async def test_staging_gives_each_entry_one_file_of_the_call_s_own(
        tmp_path: Path, server: TestServer) -> None:
    media = preparer(tmp_path, server)
    prepared = await media.prepare([CODE, AsteriskSound("beep"), CODE])
    staged = media.stage(prepared)

    assert staged.staged is not None and staged.staged.parent == tmp_path / "calls"
    assert staged.media[1] == "sound:beep" and staged.items_per_entry == (1, 1, 1)
    assert staged.entries_done(2) == 2 and staged.seconds == prepared.seconds
    first = prepared.media[:prepared.items_per_entry[0]]
    for n in (0, 2):
        assert staged.media[n] == f"sound:/srv/media/calls/{staged.staged.name}/{n}"
        for ext in ("sln", "ulaw", "alaw"):
            joined = b"".join((tmp_path / f"{u.removeprefix('sound:/srv/media/')}.{ext}")
                              .read_bytes() for u in first)
            assert (staged.staged / f"{n}.{ext}").read_bytes() == joined
    assert {p.name for p in staged.staged.iterdir()} == {
        f"{n}.{ext}" for n in (0, 2) for ext in ("sln", "ulaw", "alaw")}
    media.unstage(staged)
    assert all(p.stat().st_size == 0 for p in staged.staged.iterdir())  # no code at rest

    # The next call reuses the slot: its files are rewritten, not added to.
    short = await media.prepare([Speech(text="7", language="en-US", gender="female",
                                        say_as="digits")])
    again = media.stage(short)
    assert again.staged == staged.staged and again.media == (staged.media[0],)
    joined = b"".join((tmp_path / f"{u.removeprefix('sound:/srv/media/')}.sln").read_bytes()
                      for u in short.media)
    assert (again.staged / "0.sln").read_bytes() == joined
    assert media.stage(short).staged != again.staged  # one live call per slot


async def test_numbers_are_said_from_vocabulary_clips(tmp_path: Path, server: TestServer) -> None:
    heard: list[str] = []

    media = preparer(tmp_path, server, [listening(Espeak(rate=150, timeout=10), heard)])
    prepared = await media.prepare([Speech(text="Your total is 1234", language="en-US",
                                           gender="female", say_as="number")])
    # words, gap, 1 thousand 2 hundred 30 4, the pause after
    assert prepared.items_per_entry == (9,)
    assert "1234." not in heard and "thousand." in heard and "30." in heard
