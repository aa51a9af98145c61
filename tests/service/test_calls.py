"""The call service against the fake ARI that replays recorded Asterisk traffic."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ari_app.ari.asterisk import CALL_HEADER
from ari_app.entries import Entry
from ari_app.errors import AriError, FetchError
from ari_app.outcome import State
from ari_app.store import AttemptRecord, CallUpdate
from tests.service.rig import MAIN, Rig
from tests.support.config import sandbox_settings
from tests.support.waiting import until


async def test_answered_call_plays_the_playlist_then_hangs_up(rig: Rig) -> None:
    call_id = await rig.calls.submit(rig.request())
    record = await rig.final(call_id)

    assert record.state == "completed"
    assert record.cause == 16 and record.answered_at is not None
    assert record.played == 1 and record.speech_engines == "flite"
    assert record.answer_to_audio_ms is not None
    (originate,) = rig.ari.originated
    assert originate["channel_id"] == call_id
    assert originate["endpoint"] == "PJSIP/+12125551212@carrier-74445609"
    assert originate["callerId"] == "+15550100"
    # Answered, the channel plays the first entry in the dialplan: no round trip first.
    assert originate["context"] == "ari-app-call"
    assert originate["variables"] == {f"PJSIP_HEADER(add,{CALL_HEADER})": call_id,
                                      "ARI_APP_FIRST": "/media/0-0&/media/0-1",
                                      "ARI_APP_NAME": rig.settings.ari.app}
    assert rig.ari.watched == {"PJSIP/carrier-74445609"}
    assert rig.ari.played == [(call_id, ("sound:/media/0-0", "sound:/media/0-1"))]
    assert rig.ari.hung_up == [call_id]
    await until(lambda: rig.media.unstaged != [])  # just after the final write
    assert rig.media.staged == rig.media.unstaged


async def test_entries_after_the_first_are_played_over_ari(rig: Rig) -> None:
    request = rig.request()
    call_id = await rig.calls.submit(dataclasses.replace(
        request, playlist=(*request.playlist, *request.playlist)))
    record = await rig.final(call_id)

    assert record.state == "completed" and record.played == 2
    assert rig.ari.played == [(call_id, ("sound:/media/0-0", "sound:/media/0-1")),
                              (call_id, ("sound:/media/1-0", "sound:/media/1-1"))]


async def test_unanswered_calls_end_with_their_cause(rig: Rig) -> None:
    expected = {"12125550486": ("busy", 17, 486), "12125550480": ("no_answer", 19, 480),
                "12125550503": ("failed", 34, 503)}
    ids = {number: await rig.calls.submit(rig.request(number)) for number in expected}
    for number, call_id in ids.items():
        record = await rig.final(call_id, timeout=30)
        assert (record.state, record.cause, record.sip_code) == expected[number], number
        assert record.answered_at is None and record.played == 0
    assert rig.ari.played == []


async def test_media_failure_means_no_call(rig: Rig) -> None:
    rig.media.fail = FetchError("media server answered HTTP 404", entry=0)
    call_id = await rig.calls.submit(rig.request())
    record = await rig.final(call_id)

    assert record.state == "failed" and record.error_id == "media-unavailable"
    assert record.error is not None and "playlist[0]" in record.error
    assert rig.ari.originated == []


async def test_no_originate_while_ari_is_down_the_call_waits(rig: Rig) -> None:
    rig.ari.set_connected(False)
    call_id = await rig.calls.submit(rig.request())
    await until(lambda: rig.calls.position(call_id) == 1)
    assert (await rig.store.calls.get(call_id)).state == "queued"
    assert rig.ari.originated == []

    rig.ari.set_connected(True)
    await rig.calls.reconcile()  # what the ARI client runs on each connect
    assert (await rig.final(call_id)).state == "completed"
    assert len(rig.ari.originated) == 1


async def test_a_call_queued_too_long_fails_without_dialling(
        make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(clock=lambda: time.time() + 3600)  # the queue timeout has passed
    call_id = await rig.calls.submit(rig.request())
    record = await rig.final(call_id)

    assert record.state == "failed" and record.error_id == "queue-timeout"
    assert rig.ari.originated == []


async def test_refused_originate_fails_the_call(rig: Rig) -> None:
    rig.ari.fail_originate = AriError("ARI POST /channels answered 500: boom", status=500)
    call_id = await rig.calls.submit(rig.request())
    record = await rig.final(call_id)

    assert record.state == "failed" and record.error_id == "originate-failed"


async def test_channel_lost_during_a_disconnect_is_reconciled(rig: Rig) -> None:
    rig.ari.hold_after_answer = True
    call_id = await rig.calls.submit(rig.request())
    await until(lambda: rig.ari.played != [])
    rig.ari.lose(call_id)
    await rig.calls.reconcile()
    record = await rig.final(call_id)

    assert record.state == "failed" and record.error_id == "channel-lost"


async def test_max_duration_hangs_up(make_rig: Callable[..., Rig], tmp_path: Any) -> None:
    settings = sandbox_settings(tmp_path)
    rig = make_rig(dataclasses.replace(
        settings, calls=dataclasses.replace(settings.calls, max_duration=0.2)))
    rig.ari.hold_after_answer = True
    call_id = await rig.calls.submit(rig.request())
    record = await rig.final(call_id)

    assert rig.ari.hung_up == [call_id]
    assert record.state == "failed" and record.error_id == "max-duration"


async def test_one_broken_call_does_not_disturb_another(rig: Rig) -> None:
    original = rig.media.prepare
    calls = 0

    async def flaky(playlist: Sequence[Entry]) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug")
        return await original(playlist)

    rig.media.prepare = flaky
    broken = await rig.calls.submit(rig.request())
    good = await rig.calls.submit(rig.request())

    assert (await rig.final(broken)).error_id == "internal-error"
    assert (await rig.final(good)).state == "completed"


async def test_restart_places_queued_calls_and_ends_live_ones(
        make_rig: Callable[..., Rig]) -> None:
    before = make_rig()
    queued = "00000000-0000-4000-8000-000000000001"
    live = "00000000-0000-4000-8000-000000000002"
    await before.store.calls.insert(queued, before.request())
    await before.store.calls.insert(live, before.request())
    await before.store.calls.update(
        live, CallUpdate(State.DIALING),
        attempt=AttemptRecord(n=0, carrier_id="74445609", channel_id=live, started_at=1.0))
    await before.store.calls.update(live, CallUpdate(State.ANSWERED, answered_at=2.0))
    await before.close()

    rig = make_rig()
    await rig.calls.resume()

    assert (await rig.final(queued)).state == "completed"
    interrupted = await rig.final(live)
    assert interrupted.state == "failed" and interrupted.error_id == "service-restarted"
    (attempt,) = await rig.store.calls.attempts(live)
    assert attempt.outcome == "service-restarted" and attempt.ended_at is not None
    assert live in rig.ari.hung_up
    assert [o["channel_id"] for o in rig.ari.originated] == [queued]
    assert await rig.store.calls.unfinished() == []


async def test_cancel_before_dialling(rig: Rig) -> None:
    release = asyncio.Event()
    original = rig.media.prepare

    async def slow(playlist: Sequence[Entry]) -> Any:
        await release.wait()
        return await original(playlist)

    rig.media.prepare = slow
    call_id = await rig.calls.submit(rig.request())
    await asyncio.sleep(0.01)
    assert rig.calls.cancel(call_id)
    record = await rig.final(call_id)

    assert record.state == "canceled" and rig.ari.originated == []
    await until(lambda: not rig.calls.cancel(call_id))  # nothing left to cancel


async def test_cancel_hangs_up_a_live_call(rig: Rig) -> None:
    rig.ari.hold_after_answer = True
    call_id = await rig.calls.submit(rig.request())
    await until(lambda: rig.ari.played != [])
    assert rig.calls.cancel(call_id)
    record = await rig.final(call_id)

    assert rig.ari.hung_up == [call_id]
    assert record.state == "canceled" and record.error_id is None and record.cause == 16


async def test_playback_that_ended_while_disconnected_is_caught_up(rig: Rig) -> None:
    rig.ari.hold_after_answer = True
    call_id = await rig.calls.submit(rig.request())
    await until(lambda: rig.ari.played != [])
    rig.ari.drop_held(call_id)  # the dialplan played the entry; StasisStart was lost
    await rig.calls.reconcile()  # reconnected: the channel is in Stasis
    record = await rig.final(call_id)

    assert rig.ari.hung_up == [call_id]
    assert record.state == "completed" and record.played == 1


async def test_the_rest_that_ended_while_disconnected_is_caught_up(rig: Rig) -> None:
    request = rig.request()
    rig.ari.hold_playback = True
    call_id = await rig.calls.submit(dataclasses.replace(
        request, playlist=(*request.playlist, *request.playlist)))
    await until(lambda: len(rig.ari.played) == 2)  # the rest plays over ARI
    await asyncio.sleep(0.05)
    assert rig.ari.hung_up == []
    rig.ari.drop_playback(call_id)  # and ends while the websocket is down
    await rig.calls.reconcile()
    record = await rig.final(call_id)

    assert rig.ari.hung_up == [call_id]
    assert record.state == "completed" and record.played == 2


async def test_reconnect_during_the_first_entry_waits_for_it(rig: Rig) -> None:
    rig.ari.hold_after_answer = True
    call_id = await rig.calls.submit(rig.request())
    await until(lambda: rig.ari.played != [])
    await rig.calls.reconcile()  # the dialplan still plays the first entry
    await asyncio.sleep(0.05)
    assert rig.ari.hung_up == []
    await rig.ari.finish_first(call_id)
    record = await rig.final(call_id)

    assert record.state == "completed" and record.played == 1


async def test_a_drain_lets_the_live_call_end_and_keeps_the_queued_one(
        make_rig: Callable[..., Rig], tmp_path: Path) -> None:
    settings = sandbox_settings(tmp_path)
    one = dataclasses.replace(settings.carriers[MAIN], max_channels=1)
    rig = make_rig(dataclasses.replace(settings, carriers={**settings.carriers, MAIN: one}))
    rig.ari.hold_playback = True
    client = await rig.client()
    live = await rig.calls.submit(rig.request())
    queued = await rig.calls.submit(rig.request("12125551213"))
    await until(lambda: len(rig.ari.played) >= 1)
    draining = asyncio.create_task(rig.calls.drain(5))
    await until(lambda: rig.calls.draining)
    refused = await client.post("/voice/call/play", json={
        "to": "12125551214", "from": "me", "carrier_id": MAIN,
        "playlist": [{"type": "tts", "play": "Hello."}]})
    assert refused.status == 503 and (await refused.json())["error_id"] == "service-stopping"
    rig.ari.hold_playback = False
    assert await draining == 0  # the live call reached its end
    assert (await rig.final(live)).state == "completed"
    assert (await rig.store.calls.get(queued)).state == "queued"  # for the next start
    assert len(rig.ari.originated) == 1


async def test_a_drain_gives_up_after_its_time(rig: Rig) -> None:
    rig.ari.hold_playback = True
    await rig.calls.submit(rig.request())
    await until(lambda: len(rig.ari.played) >= 1)
    assert await rig.calls.drain(0.3) == 1  # still live: the next start ends it
