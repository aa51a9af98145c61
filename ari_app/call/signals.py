"""What an attempt reacts to, in our words: signals (what happened to its channel, made
from ARI events by stasis.py) and commands (what the service, a reconnect or the
attempt's own timer asks of it). An attempt's inbox holds both, in arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass

from ari_app.outcome import Hangup


@dataclass(frozen=True)
class Ringing:
    """The callee's phone rings (or the network reports progress)."""


@dataclass(frozen=True)
class Answered:
    """The callee picked up: the dialplan starts the first entry."""


@dataclass(frozen=True)
class AudioStarted:
    """The dialplan started playing the first entry."""


@dataclass(frozen=True)
class FirstEntryPlayed:
    """The dialplan is done with the first entry and handed the channel to us."""

    ok: bool
    """False when Asterisk could not play it."""


@dataclass(frozen=True)
class EntryPlayed:
    """One more entry of the rest of the playlist (played over ARI) ended."""


@dataclass(frozen=True)
class PlaylistPlayed:
    """The last entry ended."""


@dataclass(frozen=True)
class PlaybackFailed:
    """Asterisk could not play the rest of the playlist."""


@dataclass(frozen=True)
class HungUp:
    """The channel is gone."""

    hangup: Hangup


Signal = (Ringing | Answered | AudioStarted | FirstEntryPlayed | EntryPlayed | PlaylistPlayed
          | PlaybackFailed | HungUp)


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
