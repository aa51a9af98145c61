"""ARI events as Asterisk sends them, parsed once, and what each means for a call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ari_app.ari.events import (
    EVENT_TYPES,
    ChannelDestroyed,
    ChannelDialplan,
    ChannelDtmfReceived,
    Dial,
    PlaybackFinished,
    StasisStart,
    parse,
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
)
from ari_app.call.stasis import signal_of
from ari_app.outcome import Hangup
from ari_app.verdict import MachineCheck

RECORDED = json.loads((Path(__file__).parents[1] / "data" / "ari-events.json").read_text())


def test_recorded_traffic_parses_into_the_signals_of_each_call() -> None:
    def signals(name: str) -> list[Any]:
        events = [parse(raw) for raw in RECORDED[name]]
        assert None not in events and {type(e).__name__ for e in events} <= set(EVENT_TYPES)
        return [s for e in events if e is not None and (s := signal_of(e)) is not None]

    assert signals("completed") == [
        Answered(), DialplanMoved(), DialplanMoved(), AudioStarted(), FirstEntryPlayed(ok=True),
        EntryPlayed("call-completed-play"), PartPlayed("call-completed-play"),
        HungUp(Hangup(16, "Normal Clearing", None))]
    # With machine detection: AMD() listens, decides (the next step), hands over.
    assert signals("person") == [
        Answered(), DialplanMoved(), DetectionStarted(), DialplanMoved(), DialplanMoved(),
        FirstEntryPlayed(ok=True, machine=MachineCheck("HUMAN", "HUMAN-800-800", None)),
        EntryPlayed("call-person-play"), PartPlayed("call-person-play"), KeyPressed("1"),
        HungUp(Hangup(16, "Normal Clearing", None))]
    machine = signals("machine")
    assert machine[:5] == [Answered(), DialplanMoved(), DetectionStarted(), DialplanMoved(),
                           DialplanMoved()]  # WaitForSilence: the greeting is waited out
    assert machine[5] == FirstEntryPlayed(ok=True, machine=MachineCheck(
        "MACHINE", "LONGGREETING-2000-2000", None))
    assert signals("busy") == [HungUp(Hangup(17, "User busy", 486))]
    assert signals("no_answer") == [Ringing(), HungUp(Hangup(19, "User alerting, no answer", 480))]
    assert signals("unavailable") == [HungUp(Hangup(34, "Circuit/channel congestion", 503))]


def test_every_event_is_of_the_call_s_channel() -> None:
    for raw in RECORDED["completed"]:
        event = parse(raw)
        assert event is not None and event.channel_id == "call-completed", raw["type"]


@pytest.mark.parametrize(("raw", "event"), [
    ({"type": "Dial", "dialstatus": "RINGING", "peer": {"id": "c"}, "timestamp": "t"},
     Dial("c", "RINGING", "t")),
    ({"type": "ChannelDestroyed", "cause": 34, "cause_txt": "Circuit/channel congestion",
      "tech_cause": 503, "channel": {"id": "c"}, "timestamp": "t"},
     ChannelDestroyed("c", 34, "Circuit/channel congestion", 503, "t")),
    ({"type": "ChannelDestroyed", "cause_txt": "", "tech_cause": 0, "channel": {"id": "c"}},
     ChannelDestroyed("c", 0, "", None, "")),  # before 22.7: no tech_cause; no cause at all
    ({"type": "StasisStart", "args": ["FAILED"], "channel": {"id": "c"}, "timestamp": "t"},
     StasisStart("c", ("FAILED",), "t")),
    ({"type": "PlaybackFinished", "playback": {"id": "p", "state": "failed",
                                               "target_uri": "channel:c"}, "timestamp": "t"},
     PlaybackFinished("c", "p", "failed", "t")),
    ({"type": "ChannelDialplan", "dialplan_app": "Playback", "channel": {"id": "c"},
      "timestamp": "t"}, ChannelDialplan("c", "Playback", "t")),
    ({"type": "ChannelDtmfReceived", "digit": "1", "duration_ms": 120, "channel": {"id": "c"},
      "timestamp": "t"}, ChannelDtmfReceived("c", "1", "t")),
])
def test_parse(raw: dict[str, Any], event: Any) -> None:
    assert parse(raw) == event


@pytest.mark.parametrize("raw", [
    {"type": "ChannelVarset", "channel": {"id": "c"}},  # not one we use
    {"type": "Dial", "dialstatus": "RINGING"},  # no channel
    {"type": "PlaybackFinished", "playback": {"id": "p", "target_uri": "bridge:b"}},
    {"type": "StasisStart", "channel": "not a mapping"},
])
def test_events_of_no_use_are_none(raw: dict[str, Any]) -> None:
    assert parse(raw) is None


def test_what_each_event_means() -> None:
    assert signal_of(Dial("c", "PROGRESS", "t")) == Ringing()
    assert signal_of(Dial("c", "ANSWER", "t")) is None
    assert signal_of(StasisStart("c", ("FAILED",), "t")) == FirstEntryPlayed(ok=False)
    # Nothing for the dialplan to play (a gate comes first): nothing failed.
    assert signal_of(StasisStart("c", ("", "", ""), "t")) == FirstEntryPlayed(ok=True)
    assert signal_of(StasisStart("c", ("", "MACHINE", "MAXWORDS-3-2"), "t")) == \
        FirstEntryPlayed(ok=True, machine=MachineCheck("MACHINE", "MAXWORDS-3-2", None))
    # SRTP demanded and missing: the dialplan played nothing and says so.
    assert signal_of(StasisStart("c", ("", "", "", "unencrypted"), "t")) == MediaRefused()
    assert signal_of(StasisStart("c", ("", "", "", ""), "t")) == FirstEntryPlayed(ok=True)
    assert signal_of(PlaybackFinished("c", "p", "failed", "t")) == PlaybackFailed("p")
    assert signal_of(PlaybackFinished("c", "p", "done", "t")) == PartPlayed("p")
    assert signal_of(ChannelDialplan("c", "Stasis", "t")) is None
    assert signal_of(ChannelDialplan("c", "AMD", "t")) == DetectionStarted()
    assert signal_of(ChannelDialplan("c", "WaitForSilence", "t")) == DialplanMoved()
    assert signal_of(ChannelDtmfReceived("c", "1", "t")) == KeyPressed("1")
