"""Routing ARI events to their call: by channel id, each event once."""

from __future__ import annotations

from ari_app.stasis import EventRouter


async def test_events_go_to_their_channel_once_each() -> None:
    router = EventRouter()
    queue = router.open("call-1")
    playing = {"type": "PlaybackContinuing", "timestamp": "t1",
               "playback": {"id": "call-1-play", "target_uri": "channel:call-1"}}
    # A channel in Stasis on a watched endpoint: Asterisk sends its events twice.
    for event in (playing, dict(playing), {**playing, "timestamp": "t2"},
                  {"type": "ChannelDestroyed", "channel": {"id": "call-1"}},
                  {"type": "ChannelDestroyed", "channel": {"id": "someone-else"}}):
        await router.dispatch(event)

    got = [queue.get_nowait() for _ in range(queue.qsize())]
    assert [(e["type"], e.get("timestamp")) for e in got] == [
        ("PlaybackContinuing", "t1"), ("PlaybackContinuing", "t2"), ("ChannelDestroyed", None)]
    router.close("call-1")
    await router.dispatch(playing)  # closed: dropped
    assert queue.empty()


async def test_a_copy_with_another_channel_s_event_between_is_dropped() -> None:
    router = EventRouter()
    mine, other = router.open("call-1"), router.open("call-2")
    answered = {"type": "ChannelStateChange", "channel": {"id": "call-1", "state": "Up"}}
    ringing = {"type": "Dial", "peer": {"id": "call-2"}, "dialstatus": "RINGING"}
    for event in (answered, ringing, dict(answered)):
        await router.dispatch(event)

    assert mine.qsize() == 1 and other.qsize() == 1
