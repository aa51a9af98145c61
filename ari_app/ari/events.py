"""The ARI events the service uses, parsed once into frozen values, in Asterisk's own words.

`parse` is the only reader of an event's JSON: every other module sees these
types. Each event names the channel it concerns (for a playback, the channel it
plays on), so it can be routed to its call; fields nobody reads are left behind.
`timestamp` is kept: two events equal in every field kept here are one event
that Asterisk sent twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Dial:
    """A dial of our channel progressed (`dialstatus`: RINGING, PROGRESS, ANSWER, BUSY...)."""

    channel_id: str
    dialstatus: str
    timestamp: str


@dataclass(frozen=True)
class ChannelStateChange:
    channel_id: str
    state: str
    """Down, Ringing, Up..."""
    timestamp: str


@dataclass(frozen=True)
class ChannelDialplan:
    """The channel started a dialplan application (`Playback`, `Stasis`...)."""

    channel_id: str
    dialplan_app: str
    timestamp: str


@dataclass(frozen=True)
class StasisStart:
    channel_id: str
    args: tuple[str, ...]
    timestamp: str


@dataclass(frozen=True)
class PlaybackContinuing:
    """A playback of several media went on to the next one."""

    channel_id: str
    playback_id: str
    media_uri: str
    """The media that ended (each entry is a file of its own: two continuations of one
    playback differ by it, even within one millisecond)."""
    timestamp: str


@dataclass(frozen=True)
class PlaybackFinished:
    channel_id: str
    playback_id: str
    state: str
    """`done`, or `failed` when Asterisk could not play it."""
    timestamp: str


@dataclass(frozen=True)
class ChannelDtmfReceived:
    """The callee pressed a key (sent when the key is released). Asterisk publishes it
    whatever the channel runs, so a key pressed during the dialplan's Playback comes too."""

    channel_id: str
    digit: str
    timestamp: str


@dataclass(frozen=True)
class ChannelDestroyed:
    channel_id: str
    cause: int
    """Q.850 hangup cause; 0 when Asterisk gave none."""
    cause_txt: str
    tech_cause: int | None
    """The SIP code behind the cause (Asterisk 22.7 and later), when there was one."""
    timestamp: str


AriEvent = (Dial | ChannelStateChange | ChannelDialplan | StasisStart | PlaybackContinuing
            | PlaybackFinished | ChannelDtmfReceived | ChannelDestroyed)

EVENT_TYPES = ("Dial", "ChannelStateChange", "ChannelDialplan", "StasisStart",
               "PlaybackContinuing", "PlaybackFinished", "ChannelDtmfReceived",
               "ChannelDestroyed")
"""The event types the service reads; Asterisk is asked to send no others."""


def parse(raw: Mapping[str, Any]) -> AriEvent | None:
    """The typed event; None for a type the service does not use, or one that concerns
    no channel."""
    kind = raw.get("type")
    timestamp = str(raw.get("timestamp", ""))
    if kind in ("PlaybackContinuing", "PlaybackFinished"):
        playback = _mapping(raw.get("playback"))
        target = str(playback.get("target_uri", ""))
        if not target.startswith("channel:"):
            return None
        target_id = target.removeprefix("channel:")
        playback_id = str(playback.get("id", ""))
        if kind == "PlaybackContinuing":
            return PlaybackContinuing(target_id, playback_id, str(playback.get("media_uri", "")),
                                      timestamp)
        return PlaybackFinished(target_id, playback_id, str(playback.get("state", "")),
                                timestamp)
    channel = _mapping(raw.get("peer") if kind == "Dial" else raw.get("channel"))
    channel_id = channel.get("id")
    if not isinstance(channel_id, str):
        return None
    if kind == "Dial":
        return Dial(channel_id, str(raw.get("dialstatus") or ""), timestamp)
    if kind == "ChannelStateChange":
        return ChannelStateChange(channel_id, str(channel.get("state", "")), timestamp)
    if kind == "ChannelDialplan":
        return ChannelDialplan(channel_id, str(raw.get("dialplan_app") or ""), timestamp)
    if kind == "StasisStart":
        args = raw.get("args")
        return StasisStart(channel_id, tuple(str(a) for a in args)
                           if isinstance(args, list) else (), timestamp)
    if kind == "ChannelDtmfReceived":
        return ChannelDtmfReceived(channel_id, str(raw.get("digit", "")), timestamp)
    if kind == "ChannelDestroyed":
        cause, tech = raw.get("cause"), raw.get("tech_cause")
        return ChannelDestroyed(
            channel_id,
            cause=cause if isinstance(cause, int) else 0,
            cause_txt=str(raw.get("cause_txt") or ""),
            tech_cause=tech if isinstance(tech, int) and tech > 0 else None,
            timestamp=timestamp,
        )
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
