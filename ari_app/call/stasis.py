"""ARI event handlers, named after the events: each turns one event of a call's channel
into the signal an attempt reacts to, or into nothing when it changes nothing.

The events come typed from `ari_app.ari.events`; the attempts never see them.
"""

from __future__ import annotations

from ari_app.ari.events import (
    AriEvent,
    ChannelDestroyed,
    ChannelDialplan,
    ChannelStateChange,
    Dial,
    PlaybackContinuing,
    PlaybackFinished,
    StasisStart,
)
from ari_app.call.signals import (
    Answered,
    AudioStarted,
    EntryPlayed,
    FirstEntryPlayed,
    HungUp,
    PlaybackFailed,
    PlaylistPlayed,
    Ringing,
    Signal,
)
from ari_app.outcome import Hangup


def dial(event: Dial) -> Signal | None:
    return Ringing() if event.dialstatus in ("RINGING", "PROGRESS") else None


def channel_state_change(event: ChannelStateChange) -> Signal | None:
    return Answered() if event.state == "Up" else None


def channel_dialplan(event: ChannelDialplan) -> Signal | None:
    # The context plays the first entry with Playback() the moment the callee answers.
    return AudioStarted() if event.dialplan_app == "Playback" else None


def stasis_start(event: StasisStart) -> Signal:
    # The context passes Playback()'s status as the application's argument.
    return FirstEntryPlayed(ok=event.args[:1] == ("SUCCESS",))


def playback_continuing(event: PlaybackContinuing) -> Signal:
    return EntryPlayed()


def playback_finished(event: PlaybackFinished) -> Signal:
    return PlaybackFailed() if event.state == "failed" else PlaylistPlayed()


def channel_destroyed(event: ChannelDestroyed) -> Signal:
    return HungUp(Hangup(cause=event.cause, cause_txt=event.cause_txt,
                         sip_code=event.tech_cause))


def signal_of(event: AriEvent) -> Signal | None:
    match event:
        case Dial():
            return dial(event)
        case ChannelStateChange():
            return channel_state_change(event)
        case ChannelDialplan():
            return channel_dialplan(event)
        case StasisStart():
            return stasis_start(event)
        case PlaybackContinuing():
            return playback_continuing(event)
        case PlaybackFinished():
            return playback_finished(event)
        case ChannelDestroyed():
            return channel_destroyed(event)
