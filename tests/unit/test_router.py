"""Routing ARI events to their attempt: by channel id, each event once, as signals."""

from __future__ import annotations

from ari_app.ari.events import ChannelDestroyed, ChannelStateChange, Dial, PlaybackContinuing
from ari_app.call.router import Router
from ari_app.call.signals import Answered, Cancel, EntryPlayed, HungUp, Ringing
from ari_app.outcome import Hangup


async def test_events_go_to_their_channel_once_each_as_signals() -> None:
    router = Router()
    inbox = router.open("call-1")
    playing = PlaybackContinuing("call-1", "call-1-play", "sound:/m/calls/s/1", "t1")
    # A channel in Stasis on a watched endpoint: Asterisk sends its events twice.
    for event in (playing, PlaybackContinuing("call-1", "call-1-play", "sound:/m/calls/s/1", "t1"),
                  PlaybackContinuing("call-1", "call-1-play", "sound:/m/calls/s/2", "t1"),
                  ChannelDestroyed("call-1", 16, "Normal Clearing", None, "t3"),
                  ChannelDestroyed("someone-else", 16, "Normal Clearing", None, "t3")):
        await router.route(event)

    got = [inbox.get_nowait() for _ in range(inbox.qsize())]
    # Two entries that end in the same millisecond are two entries, not a copy.
    assert got == [EntryPlayed("call-1-play"), EntryPlayed("call-1-play"),
                   HungUp(Hangup(16, "Normal Clearing", None))]
    router.close("call-1")
    await router.route(playing)  # closed: dropped
    assert inbox.empty()


async def test_a_copy_with_another_channel_s_event_between_is_dropped() -> None:
    router = Router()
    mine, other = router.open("call-1"), router.open("call-2")
    answered = ChannelStateChange("call-1", "Up", "t1")
    for event in (answered, Dial("call-2", "RINGING", "t1"),
                  ChannelStateChange("call-1", "Up", "t1")):
        await router.route(event)

    assert [mine.get_nowait()] == [Answered()] and [other.get_nowait()] == [Ringing()]
    assert mine.empty() and other.empty()


async def test_events_that_change_nothing_make_no_signal_and_commands_go_through() -> None:
    router = Router()
    inbox = router.open("call-1")
    await router.route(Dial("call-1", "", "t0"))  # dialling began: nothing to react to
    router.send("call-1", Cancel())
    router.send("gone", Cancel())
    assert [inbox.get_nowait() for _ in range(inbox.qsize())] == [Cancel()]
