"""Media preparation against a local HTTP server: formats, the speech plan's clips, caching,
engines failing over, and each call's own staged files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from ari_app.audio import sniff
from ari_app.entries import AsteriskSound, AudioUrl, Pause, Speech
from ari_app.errors import MediaError
from ari_app.media import MediaPreparer
from ari_app.speech import Engine, Espeak, Flite, build_engines
from tests.support.media_server import HITS
from tests.support.sounds import mp3, ogg, wav

Preparers = Callable[..., MediaPreparer]


def test_sniff() -> None:
    assert sniff(wav()) == "wav"
    assert sniff(mp3()) == "mp3"
    assert sniff(ogg()) == "ogg"
    assert sniff(b"<html>") is None


def listening(engine: Engine, heard: list[str]) -> Engine:
    """`engine`, noting every text it is asked to speak."""
    speak = engine.synthesize

    async def synthesize(text: str, *, voice: str, speed: float) -> bytes:
        heard.append(text)
        return await speak(text, voice=voice, speed=speed)

    engine.synthesize = synthesize  # type: ignore[method-assign]
    return engine


CODE = Speech(text="Your code is 4321", language="en-US", gender="female", say_as="digits")


async def test_prepare_writes_every_format_once(tmp_path: Path, make_preparer: Preparers) -> None:
    media = make_preparer()
    words = Speech(text="Au revoir", language="fr-FR", gender="male", say_as=None)
    playlist = (AudioUrl("http://media.example/a.wav"), CODE,
                AudioUrl("http://media.example/a.mp3"), CODE, words, Pause(500),
                AsteriskSound("vm-goodbye"), AudioUrl("http://media.example/a.ogg"))
    prepared = await media.prepare(playlist)

    # words, gap, 4 digits with 3 gaps, a pause after the digits
    assert prepared.items_per_entry == (1, 10, 1, 10, 1, 1, 1, 1)
    assert prepared.sounds[1:11] == prepared.sounds[12:22]
    assert prepared.sounds[-2] == "vm-goodbye"
    assert prepared.engines == ("espeak-ng", "flite")
    for uri in [u for u in prepared.sounds if u != "vm-goodbye"]:
        assert uri.startswith("/srv/media/")
        base = tmp_path / uri.removeprefix("/srv/media/")
        sizes = {ext: base.with_name(f"{base.name}.{ext}").stat().st_size
                 for ext in ("sln", "ulaw", "alaw")}
        assert sizes["sln"] == 2 * sizes["ulaw"] == 2 * sizes["alaw"] > 0
    assert 2 < prepared.seconds < 20
    assert prepared.entries_done(0) == 0
    assert prepared.entries_done(11) == 2 and prepared.entries_done(len(prepared.sounds)) == 8


async def test_a_code_is_never_spoken_or_stored_whole(tmp_path: Path,
                                                      make_preparer: Preparers) -> None:
    heard: list[str] = []

    media = make_preparer([listening(Flite(timeout=10), heard)])
    first = await media.prepare([CODE])
    again = await media.prepare([Speech(text="Your code is 1234", language="en-US",
                                        gender="female", say_as="digits")])

    # Clips are made once, all ten digits whatever the code.
    assert sorted(heard) == [f"{d}." for d in "0123456789"] + ["Your code is."]
    assert first.sounds[0] == again.sounds[0]
    for path in tmp_path.rglob("*"):
        assert "4321" not in path.name and b"4321" not in (
            path.read_bytes() if path.is_file() else b"")


async def test_repeat_and_groups(make_preparer: Preparers) -> None:
    media = make_preparer()
    grouped = Speech(text="123456", language="en-US", gender="female", say_as="digits",
                     pause_ms=200, group=3, repeat=2)
    prepared = await media.prepare([grouped])
    # 6 digits, 5 gaps, the pause after; twice
    assert prepared.items_per_entry == (24,)
    gaps = [prepared.sounds[i] for i in (1, 3, 5, 7, 9)]
    assert gaps[0] == gaps[1] == gaps[3] == gaps[4] != gaps[2]  # the group gap is longer


async def test_next_engine_speaks_when_the_first_fails(make_preparer: Preparers) -> None:
    media = make_preparer([Flite(timeout=5, binary="/nonexistent/flite"),
                           Espeak(rate=150, timeout=5)])
    prepared = await media.prepare([CODE])
    assert prepared.engines == ("espeak-ng",)


async def test_one_bad_entry_fails_the_whole_playlist(make_preparer: Preparers) -> None:
    media = make_preparer()
    with pytest.raises(MediaError) as caught:
        await media.prepare((CODE, AudioUrl("http://media.example/page.wav")))
    assert caught.value.entry == 1 and "not WAV, MP3 or OGG" in str(caught.value)


async def test_all_engines_failing_names_no_text(make_preparer: Preparers) -> None:
    media = make_preparer([Espeak(rate=150, timeout=5, binary="/nonexistent/x")])
    with pytest.raises(MediaError) as caught:
        await media.prepare([CODE])
    assert caught.value.entry == 0 and "4321" not in str(caught.value)


async def test_characters_and_telephone(make_preparer: Preparers) -> None:
    media = make_preparer(build_engines(["espeak-ng"], rate=150, timeout=10))
    spelled = await media.prepare([Speech(text="Code AB12", language="en-US", gender="female",
                                          say_as="characters")])
    # words, gap, A B 1 2 with three gaps, the pause after
    assert spelled.items_per_entry == (10,)
    assert len({spelled.sounds[i] for i in (2, 4, 6, 8)}) == 4
    phone = await media.prepare([Speech(text="5551234", language="en-US", gender="female",
                                        say_as="telephone", pause_ms=200)])
    gaps = [phone.sounds[i] for i in range(1, 13, 2)]
    assert gaps[2] != gaps[0] == gaps[1] == gaps[3]  # a longer gap after every third digit


async def test_url_cache_honours_cache_control_and_etag(media_server: TestServer,
                                                       make_preparer: Preparers) -> None:
    hits = media_server.app[HITS]
    media = make_preparer()
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
        tmp_path: Path, make_preparer: Preparers) -> None:
    media = make_preparer()
    prepared = await media.prepare([CODE, AsteriskSound("beep"), CODE])
    staged = media.stage(prepared)

    assert staged.staged is not None and staged.staged.parent == tmp_path / "calls"
    assert staged.sounds[1] == "beep" and staged.items_per_entry == (1, 1, 1)
    assert staged.entries_done(2) == 2 and staged.seconds == prepared.seconds
    first = prepared.sounds[:prepared.items_per_entry[0]]
    for n in (0, 2):
        assert staged.sounds[n] == f"/srv/media/calls/{staged.staged.name}/{n}"
        for ext in ("sln", "ulaw", "alaw"):
            joined = b"".join((tmp_path / f"{u.removeprefix('/srv/media/')}.{ext}")
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
    assert again.staged == staged.staged and again.sounds == (staged.sounds[0],)
    joined = b"".join((tmp_path / f"{u.removeprefix('/srv/media/')}.sln").read_bytes()
                      for u in short.sounds)
    assert (again.staged / "0.sln").read_bytes() == joined
    assert media.stage(short).staged != again.staged  # one live call per slot


async def test_numbers_are_said_from_vocabulary_clips(make_preparer: Preparers) -> None:
    heard: list[str] = []

    media = make_preparer([listening(Espeak(rate=150, timeout=10), heard)])
    prepared = await media.prepare([Speech(text="Your total is 1234", language="en-US",
                                           gender="female", say_as="number")])
    # words, gap, 1 thousand 2 hundred 30 4, the pause after
    assert prepared.items_per_entry == (9,)
    assert "1234." not in heard and "thousand." in heard and "30." in heard
