"""ARI event handlers, named after the events: each turns one event of a call's channel
into the signal an attempt reacts to, or into nothing when it changes nothing.

The events come typed from `ari_app.ari.events`; the attempts never see them.
"""

from __future__ import annotations

from ari_app.ari.asterisk import MEDIA_REFUSED
from ari_app.ari.events import (
    AriEvent,
    ChannelDestroyed,
    ChannelDialplan,
    ChannelDtmfReceived,
    ChannelStateChange,
    Dial,
    PlaybackContinuing,
    PlaybackFinished,
    StasisStart,
)
from ari_app.call.signals import (
    Answered,
    AudioStarted,
    DetectionStarted,
    DialplanMoved,
    EntryPlayed,
    FirstEntryPlayed,
    HungUp,
    KeyPressed,
    MediaRefused,
    PartPlayed,
    PlaybackFailed,
    Ringing,
    Signal,
)
from ari_app.outcome import Hangup
from ari_app.verdict import MachineCheck


def dial(event: Dial) -> Signal | None:
    return Ringing() if event.dialstatus in ("RINGING", "PROGRESS") else None


def channel_state_change(event: ChannelStateChange) -> Signal | None:
    return Answered() if event.state == "Up" else None


def channel_dialplan(event: ChannelDialplan) -> Signal | None:
    # The context plays the first part with Playback() the moment the callee answers,
    # or after AMD() has listened.
    match event.dialplan_app:
        case "Playback":
            return AudioStarted()
        case "AMD":
            return DetectionStarted()
        case "GotoIf" | "WaitForSilence":
            return DialplanMoved()  # the step after AMD(): it has decided
        case _:
            return None  # AppDial while it rings; Stasis: StasisStart follows


def stasis_start(event: StasisStart) -> Signal:
    # The context passes Playback()'s status (empty if it played nothing), then AMD()'s
    # status and cause (empty if it did not run), then `unencrypted` if the SRTP the
    # carrier demands is missing (and nothing was played), as the application's arguments.
    playback, status, cause, media = (*event.args, "", "", "", "")[:4]
    if media == MEDIA_REFUSED:
        return MediaRefused()
    machine = MachineCheck(status=status, cause=cause, decision_ms=None) if status else None
    return FirstEntryPlayed(ok=playback != "FAILED", machine=machine)


def channel_dtmf_received(event: ChannelDtmfReceived) -> Signal:
    return KeyPressed(event.digit)


def playback_continuing(event: PlaybackContinuing) -> Signal:
    return EntryPlayed(event.playback_id)


def playback_finished(event: PlaybackFinished) -> Signal:
    # A stopped playback ends `done` too.
    if event.state == "failed":
        return PlaybackFailed(event.playback_id)
    return PartPlayed(event.playback_id)


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
        case ChannelDtmfReceived():
            return channel_dtmf_received(event)
        case ChannelDestroyed():
            return channel_destroyed(event)
