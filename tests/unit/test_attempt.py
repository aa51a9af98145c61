"""One attempt driven signal by signal, in the orders a real network can produce, against
a stub ARI: what it sends to Asterisk and how it ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest

from ari_app.ari.asterisk import Originate
from ari_app.ari.events import ChannelDestroyed, ChannelStateChange, StasisStart
from ari_app.call import attempt as attempt_module
from ari_app.call.attempt import Attempt
from ari_app.call.recorder import Recorder
from ari_app.call.router import Router
from ari_app.call.signals import ChannelLost, Resync
from ari_app.carrier_config import read_carriers
from ari_app.config_reader import Reader
from ari_app.entries import Pause
from ari_app.media import Prepared
from ari_app.metrics import Metrics
from ari_app.outcome import State
from ari_app.request import CallRequest
from ari_app.settings import CallSettings
from ari_app.store import CallUpdate
from tests.support.waiting import until


class StubAri:
    connected = True

    def __init__(self) -> None:
        self.originated: list[Originate] = []
        self.plays: list[Sequence[str]] = []
        self.hangups: list[str] = []
        self.variables: dict[str, str] = {}

    async def watch(self, trunk: str) -> None:
        return None

    async def originate(self, call: Originate) -> None:
        self.originated.append(call)

    async def play(self, *, channel_id: str, playback_id: str, sounds: Sequence[str]) -> None:
        self.plays.append(sounds)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.hangups.append(channel_id)

    async def channel_app(self, channel_id: str) -> str | None:
        return "Stasis"

    async def playback_exists(self, playback_id: str) -> bool:
        return True

    async def channel_variable(self, channel_id: str, name: str) -> str:
        return self.variables.get(name, "")


class MemoryCalls:
    """The part of the store a recorder writes to; `fail_on` makes one state change fail."""

    def __init__(self) -> None:
        self.states: list[State] = []
        self.fail_on: State | None = None

    async def update(self, call_id: str, update: CallUpdate, **_: Any) -> None:
        if update.state is self.fail_on:
            raise RuntimeError("the disk is full")
        self.states.append(update.state)

    async def end_attempt(self, *_: Any) -> None:
        return None


class Rig:
    def __init__(self) -> None:
        self.ari = StubAri()
        self.router = Router()
        self.store = MemoryCalls()
        carrier = read_carriers(Reader({"c1": {"host": "sip.example.com"}}, "carriers.", []))
        self.attempt = Attempt(
            call_id="call", n=0, carrier=carrier["c1"],
            request=CallRequest(to="+12125551212", caller_id="", carrier_id="c1",
                                playlist=(Pause(100), Pause(200))),
            media=Prepared(sounds=("/m/0", "/m/1"), items_per_entry=(1, 1), seconds=0.3,
                           engines=()),
            ari=self.ari, router=self.router,
            recorder=Recorder(call_id="call", carrier_id="c1", callback=False,
                              store=self.store,  # type: ignore[arg-type]
                              metrics=Metrics(), wake_callbacks=lambda: None, clock=time.time),
            settings=CallSettings(ring_timeout=30, max_duration=300, hangup_delay_ms=0,
                                  max_channels=10, queue_timeout=60, holdback_after=3,
                                  holdback_seconds=60),
            app="ari-app", clock=time.time)

    async def started(self) -> asyncio.Task[Any]:
        """The attempt running, its originate sent."""
        task = asyncio.create_task(self.attempt.run())
        await until(lambda: self.ari.originated != [])
        return task


def destroyed(cause: int = 16) -> ChannelDestroyed:
    return ChannelDestroyed("call", cause, "Normal Clearing", None, "t9")


async def test_a_cancel_just_after_the_channel_ended_still_ends_the_call_canceled() -> None:
    rig = Rig()
    task = await rig.started()
    await rig.router.route(ChannelStateChange("call", "Up", "t1"))
    await rig.router.route(destroyed())  # in the inbox, not yet seen by the attempt ...
    rig.attempt.cancel()  # ... when the API cancels
    ending = await task

    assert ending.state is State.CANCELED and ending.hangup is not None
    assert rig.store.states == [State.DIALING, State.ANSWERED]


async def test_nothing_more_is_played_to_a_call_being_canceled() -> None:
    rig = Rig()
    task = await rig.started()
    await rig.router.route(ChannelStateChange("call", "Up", "t1"))
    rig.attempt.cancel()
    await rig.router.route(StasisStart("call", ("SUCCESS",), "t2"))  # the first entry ended
    await until(lambda: rig.ari.hangups != [])
    await rig.router.route(destroyed())

    assert (await task).state is State.CANCELED
    assert rig.ari.plays == [] and rig.ari.hangups == ["call"]


async def test_an_answer_without_the_srtp_demanded_plays_nothing_and_fails() -> None:
    rig = Rig()
    task = await rig.started()
    await rig.router.route(ChannelStateChange("call", "Up", "t1"))
    await rig.router.route(StasisStart("call", ("", "", "", "unencrypted"), "t2"))
    await until(lambda: rig.ari.hangups != [])
    await rig.router.route(destroyed())
    ending = await task

    assert ending.state is State.FAILED and ending.error is not None
    assert ending.error.id == "media-not-encrypted" and rig.ari.plays == []
    assert ending.played == 0


async def test_a_refused_media_is_read_from_the_channel_when_stasis_start_was_missed(
        ) -> None:
    rig = Rig()
    rig.ari.variables["ARI_APP_MEDIA"] = "unencrypted"
    task = await rig.started()
    rig.router.send("call", Resync("Up"))  # reconnected: the channel is in Stasis already
    await until(lambda: rig.ari.hangups != [])
    await rig.router.route(destroyed())
    ending = await task

    assert ending.error is not None and ending.error.id == "media-not-encrypted"
    assert rig.ari.plays == [] and ending.answered


async def test_a_channel_lost_is_hung_up_in_case_it_was_still_on_its_way() -> None:
    rig = Rig()
    task = await rig.started()
    rig.router.send("call", ChannelLost())
    ending = await task

    assert ending.state is State.FAILED and ending.error is not None
    assert ending.error.id == "channel-lost" and rig.ari.hangups == ["call"]


async def test_a_failure_inside_the_attempt_hangs_up_before_it_is_told() -> None:
    rig = Rig()
    rig.store.fail_on = State.ANSWERED
    task = await rig.started()
    await rig.router.route(ChannelStateChange("call", "Up", "t1"))

    with pytest.raises(RuntimeError, match="disk is full"):
        await task
    assert rig.ari.hangups == ["call"]


async def test_a_resync_resends_the_hangup_but_asterisk_s_time_counts_from_the_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attempt_module, "HANGUP_GRACE", 0.4)
    rig = Rig()
    task = await rig.started()
    rig.attempt.cancel()
    await until(lambda: rig.ari.hangups != [])
    sent = time.monotonic()
    await asyncio.sleep(0.25)
    rig.router.send("call", Resync("Up"))  # reconnected: Asterisk still has the channel
    ending = await task

    assert rig.ari.hangups == ["call", "call"]
    assert ending.error is not None and ending.error.id == "hangup-lost"
    assert time.monotonic() - sent < 0.4 + 0.2  # not 0.25 + 0.4: the grace did not restart
