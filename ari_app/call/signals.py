"""What an attempt reacts to, in our words: signals (what happened to its channel, made
from ARI events by stasis.py) and commands (what the service, a reconnect or the
attempt's own timer asks of it). An attempt's inbox holds both, in arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass

from ari_app.outcome import Hangup
from ari_app.verdict import MachineCheck


@dataclass(frozen=True)
class Ringing:
    """The callee's phone rings (or the network reports progress)."""


@dataclass(frozen=True)
class Answered:
    """The callee picked up: the dialplan starts the first entry."""


@dataclass(frozen=True)
class DetectionStarted:
    """The dialplan started listening for an answering machine (AMD)."""


@dataclass(frozen=True)
class DialplanMoved:
    """The dialplan went on to its next step (after AMD: its decision is made)."""


@dataclass(frozen=True)
class MediaRefused:
    """Answered, but without the SRTP the carrier's media_encryption demands: the dialplan
    played nothing (the PBX declined the plain stream) and handed the channel over."""


@dataclass(frozen=True)
class AudioStarted:
    """The dialplan started playing the first part."""


@dataclass(frozen=True)
class FirstEntryPlayed:
    """The dialplan is done (first part played, machine detected) and handed the channel
    to us."""

    ok: bool
    """False when Asterisk could not play the first part."""
    machine: MachineCheck | None = None
    """What AMD() said, if it ran."""


@dataclass(frozen=True)
class KeyPressed:
    key: str


@dataclass(frozen=True)
class EntryPlayed:
    """One more sound of a playback (played over ARI) ended."""

    playback_id: str


@dataclass(frozen=True)
class PartPlayed:
    """A playback ended: played to its end, or stopped."""

    playback_id: str


@dataclass(frozen=True)
class PlaybackFailed:
    """Asterisk could not play a playback."""

    playback_id: str


@dataclass(frozen=True)
class HungUp:
    """The channel is gone."""

    hangup: Hangup


Signal = (Ringing | Answered | DetectionStarted | DialplanMoved | MediaRefused | AudioStarted
          | FirstEntryPlayed | KeyPressed | EntryPlayed | PartPlayed | PlaybackFailed | HungUp)


@dataclass(frozen=True)
class Cancel:
    """The API asked to cancel the call."""


@dataclass(frozen=True)
class ChannelLost:
    """The channel vanished while the connection to Asterisk was down."""


@dataclass(frozen=True)
class Resync:
    """The connection to Asterisk is back and the channel is still there."""

    channel_state: str
    """As Asterisk has it now: Up, Ringing..."""


@dataclass(frozen=True, eq=False)
class TimerFired:
    """The attempt's timer went off. Compared by identity: one of a timer moved since
    is stale."""


Command = Cancel | ChannelLost | Resync | TimerFired
Message = Signal | Command
