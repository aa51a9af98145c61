"""CallService against the fake ARI that replays recorded Asterisk traffic."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from ari_app.admission import Admission
from ari_app.api.http import Api
from ari_app.app import engines
from ari_app.auth import new_key
from ari_app.calls import CALL_HEADER, CallService
from ari_app.carriers import CarrierManager
from ari_app.errors import AriError, FetchError
from ari_app.health import Health
from ari_app.media import Prepared
from ari_app.metrics import Metrics
from ari_app.outcome import FINAL
from ari_app.playlist import CallRequest, Entry, parse_request
from ari_app.settings import Current, Settings, parse
from ari_app.stasis import EventRouter
from ari_app.store import CallRecord, SqliteStore
from tests.service.fake_ami import FakeAmi
from tests.service.fake_ari import FakeAri

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox" / "ari-app.yaml"


async def until(condition: Callable[[], bool], timeout: float = 5) -> None:
    """Wait for something the call's task does in the background."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def settings_for(tmp: Path) -> Settings:
    data = yaml.safe_load(SANDBOX.read_text())
    data["storage"]["path"] = str(tmp / "db.sqlite3")
    data["media"]["dir"] = str(tmp / "media")
    data["media"]["asterisk_dir"] = str(tmp / "media")
    return parse(data, base=tmp)


class FakeMedia:
    """Each entry becomes two media items, so played entries are counted, not items."""

    def __init__(self) -> None:
        self.fail: Exception | None = None
        self.staged: list[Prepared] = []
        self.unstaged: list[Prepared] = []

    def stage(self, prepared: Prepared) -> Prepared:
        self.staged.append(prepared)
        return prepared

    def unstage(self, prepared: Prepared) -> None:
        self.unstaged.append(prepared)

    async def prepare(self, playlist: Sequence[Entry]) -> Prepared:
        if self.fail is not None:
            raise self.fail
        return Prepared(media=tuple(f"sound:/media/{i}-{j}" for i in range(len(playlist))
                                    for j in range(2)),
                        items_per_entry=(2,) * len(playlist), seconds=1.0, engines=("flite",))


@dataclasses.dataclass
class Rig:
    settings: Settings
    store: SqliteStore
    ari: FakeAri
    media: FakeMedia
    calls: CallService
    router: EventRouter
    admission: Admission

    def request(self, to: str = "12125551212") -> CallRequest:
        body = {"to": to, "from": "me", "carrier_id": "74445609",
                "playlist": [{"play": "Your code is 123456", "type": "tts",
                              "options": {"language": "en-US", "say-as": "digits"}}]}
        return parse_request(body, self.settings)

    async def close(self) -> None:
        await self.calls.shutdown()
        await self.store.close()

    async def final(self, call_id: str, timeout: float = 5) -> CallRecord:
        async with asyncio.timeout(timeout):
            while True:
                record = await self.store.get(call_id)
                assert record is not None
                if record.state in FINAL:
                    return record
                await asyncio.sleep(0.01)


def build(tmp: Path, settings: Settings | None = None, store: SqliteStore | None = None,
          clock: Callable[[], float] = time.time) -> Rig:
    settings = settings or settings_for(tmp)
    router = EventRouter()
    store = store or SqliteStore(settings.storage_path)
    ari = FakeAri(router.dispatch)
    media = FakeMedia()
    current = Current(settings)
    metrics = Metrics()
    admission = Admission(settings=lambda: current.settings, store=store, metrics=metrics)
    calls = CallService(config=current, store=store, ari=ari, media=media, router=router,
                        connect_wait=0.2, clock=clock, metrics=metrics,
                        may_dial=lambda: admission.may_dial)
    admission.on_change = calls.dispatcher.pump
    return Rig(settings, store, ari, media, calls, router, admission)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = build(tmp_path)
    yield rig
    await rig.close()


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
    assert originate["caller_id"] == "+15550100"
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


@pytest.mark.parametrize(("number", "state", "cause"),
                         [("12125550486", "busy", 17), ("12125550503", "failed", 34)])
async def test_unanswered_calls_end_with_their_cause(rig: Rig, number: str, state: str,
                                                     cause: int) -> None:
    call_id = await rig.calls.submit(rig.request(number))
    record = await rig.final(call_id)

    assert (record.state, record.cause) == (state, cause)
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
    await asyncio.sleep(0.1)
    assert (await rig.store.get(call_id)).state == "queued"  # type: ignore[union-attr]
    assert rig.calls.position(call_id) == 1 and rig.ari.originated == []

    rig.ari.set_connected(True)
    await rig.calls.reconcile()  # what the ARI client runs on each connect
    assert (await rig.final(call_id)).state == "completed"
    assert len(rig.ari.originated) == 1


async def test_a_call_queued_too_long_fails_without_dialling(tmp_path: Path) -> None:
    rig = build(tmp_path, clock=lambda: time.time() + 3600)  # the queue timeout has passed
    call_id = await rig.calls.submit(rig.request())
    record = await rig.final(call_id)
    await rig.store.close()

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
    rig.ari.live.discard(call_id)  # Asterisk lost it while we were not listening
    await rig.calls.reconcile()
    record = await rig.final(call_id)

    assert record.state == "failed" and record.error_id == "channel-lost"


async def test_max_duration_hangs_up(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    settings = dataclasses.replace(
        settings, calls=dataclasses.replace(settings.calls, max_duration=0.2))
    rig = build(tmp_path, settings)
    rig.ari.hold_after_answer = True
    call_id = await rig.calls.submit(rig.request())
    await until(lambda: rig.ari.hung_up != [])
    # Asterisk answers the hangup with the rest of the recorded traffic.
    playback_done = rig.ari._pending[call_id][1]
    await rig.ari._emit(playback_done)
    record = await rig.final(call_id)
    await rig.store.close()

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


async def test_restart_places_queued_calls_and_ends_live_ones(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    store = SqliteStore(settings.storage_path)
    queued = "00000000-0000-4000-8000-000000000001"
    live = "00000000-0000-4000-8000-000000000002"
    first = build(tmp_path, settings, store)
    await store.insert(queued, first.request())
    await store.insert(live, first.request())
    await store.update(live, state="answered")

    rig = build(tmp_path, settings, store)
    await rig.calls.resume()

    assert (await rig.final(queued)).state == "completed"
    interrupted = await rig.final(live)
    assert interrupted.state == "failed" and interrupted.error_id == "service-restarted"
    assert live in rig.ari.hung_up
    assert [o["channel_id"] for o in rig.ari.originated] == [queued]
    assert await store.unfinished() == []
    await store.close()


def api_for(rig: Rig, media: Any = None) -> Api:
    """The HTTP API over this rig; real speech engines behind /health."""
    ami = FakeAmi(rig.settings.config_dir)
    carriers = CarrierManager(current=rig.calls.config, ami=ami)
    health = Health(ari=rig.ari, store=rig.store, engines=engines(rig.settings), ami=ami,
                    carriers=lambda: rig.calls.config.settings.carriers, live=carriers.live_all)
    return Api(config=rig.calls.config, calls=rig.calls, store=rig.store,
               media=media or rig.media, health=health, carriers=carriers,
               admission=rig.admission)


async def client_for(rig: Rig, api: Api, **key: Any) -> TestClient:
    """A started test client of `api` that sends a new API key (limited as `key` says)."""
    made, key_hash, token = new_key("tests", **key)
    await rig.store.add_key(made, key_hash)
    client = TestClient(TestServer(api.app()), headers={"Authorization": f"Bearer {token}"})
    await client.start_server()
    return client


async def test_cancel_before_dialling(rig: Rig) -> None:
    release = asyncio.Event()
    original = rig.media.prepare

    async def slow(playlist: Sequence[Entry]) -> Any:
        await release.wait()
        return await original(playlist)

    rig.media.prepare = slow  # type: ignore[method-assign]
    call_id = await rig.calls.submit(rig.request())
    await asyncio.sleep(0.01)
    assert rig.calls.cancel(call_id)
    record = await rig.final(call_id)

    assert record.state == "canceled" and rig.ari.originated == []
    assert not rig.calls.cancel(call_id)  # nothing left to cancel


async def test_cancel_hangs_up_a_live_call(rig: Rig) -> None:
    rig.ari.hold_after_answer = True
    call_id = await rig.calls.submit(rig.request())
    await until(lambda: rig.ari.played != [])
    assert rig.calls.cancel(call_id)
    await until(lambda: rig.ari.hung_up != [])
    await rig.ari._emit(rig.ari._pending[call_id][1])  # Asterisk reports the hangup
    record = await rig.final(call_id)

    assert record.state == "canceled" and record.error_id is None and record.cause == 16


async def test_playback_that_ended_while_disconnected_is_caught_up(rig: Rig) -> None:
    rig.ari.hold_after_answer = True
    call_id = await rig.calls.submit(rig.request())
    await until(lambda: rig.ari.played != [])
    rig.ari.drop_held(call_id)  # the dialplan played the entry; StasisStart was lost
    await rig.calls.reconcile()  # reconnected: the channel is in Stasis
    await until(lambda: rig.ari.hung_up != [])
    record = await rig.final(call_id)

    assert record.state == "completed" and record.played == 1


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
