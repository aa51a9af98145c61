"""An in-memory ARI that replays event traffic recorded from the real sandbox Asterisk.

`tests/data/ari-events.json` holds the events of four real calls (made by
`sandbox/record_events.py`): answered, busy (486), no answer (480, rings out) and
unavailable (503). The fake picks the scenario by the called number's last digits,
as the simulated carrier does, and releases each call's events in the phases real
Asterisk does: on originate, up to the dialplan playing the first entry (`played`
records it) and then StasisStart, unless `hold_after_answer` keeps the first entry
playing (`finish_first` ends it); the playback events on play (unless `hold_playback` keeps
them); the rest on hangup.
Ids are rewritten to the caller's own; every event goes through the real parser.

Each play gets the recorded playback's events, one PlaybackContinuing per sound
but the last, then PlaybackFinished; `stop_playback` ends one `done`, as Asterisk
does. With machine detection asked, StasisStart carries what `amd` (by number)
says; `press` sends a key as ChannelDtmfReceived.

What a test may control or read is public; the rest is the fake's own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ari_app.ari import EventHandler
from ari_app.ari.asterisk import Originate, endpoint, media_uris, originate_request
from ari_app.ari.events import parse
from ari_app.errors import AriError

EVENTS = json.loads((Path(__file__).parent.parent / "data" / "ari-events.json").read_text())
SCENARIOS = {"486": "busy", "480": "no_answer", "503": "unavailable"}
"""The scenario of a number, by its last three digits; any other is answered."""
MACHINES = {"1772": ("MACHINE", "MAXWORDS-3-2")}
"""What AMD() says of a number, by its last four digits; any other is a person."""
PERSON = ("HUMAN", "HUMAN-800-800")

Raw = dict[str, Any]


def _rewrite(event: Any, old: str, new: str) -> Any:
    return json.loads(json.dumps(event).replace(old, new))


class FakeAri:
    def __init__(self, on_event: EventHandler, *, connected: bool = True) -> None:
        self._on_event = on_event
        self._up = asyncio.Event()
        if connected:
            self._up.set()
        self.originated: list[dict[str, Any]] = []
        """Each originate as it would go on the wire: channel id, query parameters, variables."""
        self.played: list[tuple[str, tuple[str, ...]]] = []
        """(channel id, media URIs) of each first entry played by the dialplan, and each play."""
        self.hung_up: list[str] = []
        self.live: set[str] = set()
        self.max_live = 0
        self.watched: set[str] = set()
        """Endpoints the application subscribed to, as ARI names them."""
        self.fail_originate: AriError | None = None
        self.hold_after_answer = False
        self.hold_playback = False
        """Keep the events of each play until `finish_playback` or `drop_playback`."""
        self._playback: dict[str, list[Raw]] = {}
        """Per channel: the recorded playback's events, a template for each play."""
        self._at_end: dict[str, list[Raw]] = {}
        self._held: dict[str, list[Raw]] = {}
        self._held_playback: dict[str, list[Raw]] = {}
        self._playing: set[str] = set()
        self.stopped: list[str] = []
        """Playback ids stopped."""
        self.variables: dict[str, dict[str, str]] = {}
        """Per channel: dialplan variables AMD() set (AMDSTATUS, AMDCAUSE)."""

    # -- what a test controls -------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._up.is_set()

    def reachable(self, channel_id: str) -> bool:
        return self.connected

    def set_connected(self, up: bool) -> None:
        if up:
            self._up.set()
        else:
            self._up.clear()

    @property
    def held(self) -> set[str]:
        """Channels whose first entry is still playing (held after the answer)."""
        return set(self._held)

    async def finish_first(self, channel_id: str) -> None:
        """The dialplan is done with the first entry of a call held after its answer."""
        await self._emit(self._held.pop(channel_id))

    def drop_held(self, channel_id: str) -> None:
        """The first entry of a held call ended while the websocket was down: its
        StasisStart is lost, and the channel is in Stasis."""
        self._held.pop(channel_id)

    async def finish_playback(self, channel_id: str) -> None:
        """The held playback of a call plays to its end."""
        await self._emit(self._held_playback.pop(channel_id))

    def drop_playback(self, channel_id: str) -> None:
        """The held playback of a call ended while the websocket was down: its events
        are lost, and the playback is gone."""
        self._held_playback.pop(channel_id)
        self._playing = {p for p in self._playing if not p.startswith(f"{channel_id}-")}

    async def press(self, channel_id: str, key: str) -> None:
        """The callee presses a key."""
        at = asyncio.get_running_loop().time()
        await self._emit([{"type": "ChannelDtmfReceived", "digit": key, "duration_ms": 100,
                           "timestamp": f"key-{at}", "channel": {"id": channel_id}}])

    def lose(self, channel_id: str) -> None:
        """Asterisk lost the channel while no one was listening: no event tells of it."""
        self.live.discard(channel_id)
        self._held.pop(channel_id, None)

    # -- the Ari protocol -----------------------------------------------------

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def close(self) -> None:
        return None

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._up.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def originate(self, call: Originate) -> None:
        if self.fail_originate is not None:
            raise self.fail_originate
        params, variables = originate_request(call)
        self.originated.append({"channel_id": call.channel_id, **params,
                                "variables": variables})
        # As the simulated carrier: the tech prefix 9503 refuses every call with 503.
        suffix = "503" if call.number.startswith("9503") else call.number[-3:]
        name = SCENARIOS.get(suffix, "completed")
        recorded = _rewrite(EVENTS[name], f"call-{name}", call.channel_id)
        if name != "completed":
            asyncio.get_running_loop().create_task(self._emit(recorded))
            return
        # answered and first entry playing | StasisStart | playback events | the end
        phases: list[list[Raw]] = [[], [], [], []]
        phase = 0
        for event in recorded:
            if event["type"] == "StasisStart" or (
                    phase == 2 and event["type"] == "ChannelDestroyed"):
                phase += 1
            phases[phase].append(event)
            if event["type"] == "StasisStart":
                event["args"] = self._stasis_args(call, variables)  # as the dialplan passes them
                phase = 2
        args = self._stasis_args(call, variables)
        if args[1]:
            self.variables[call.channel_id] = {"AMDSTATUS": args[1], "AMDCAUSE": args[2]}
        if not args[0]:  # nothing for the dialplan to play, or a machine
            phases[0] = [e for e in phases[0] if e.get("dialplan_app") != "Playback"]
        self.live.add(call.channel_id)
        self.max_live = max(self.max_live, len(self.live))
        self._playback[call.channel_id] = phases[2]
        self._at_end[call.channel_id] = phases[3]
        asyncio.get_running_loop().create_task(
            self._answer(call, phases[0], phases[1], plays=bool(args[0])))

    async def _answer(self, call: Originate, answered: list[Raw],
                      handed_over: list[Raw], *, plays: bool) -> None:
        await self._emit(answered)
        if plays:
            self.played.append((call.channel_id, tuple(media_uris(call.first_entry))))
        if self.hold_after_answer:
            self._held[call.channel_id] = handed_over
        else:
            await self._emit(handed_over)

    @staticmethod
    def _stasis_args(call: Originate, variables: dict[str, str]) -> list[str]:
        played = "SUCCESS" if call.first_entry else ""
        if "ARI_APP_AMD" not in variables:
            return [played, "", ""]
        status, cause = MACHINES.get(call.number[-4:], PERSON)
        return ["" if status == "MACHINE" else played, status, cause]

    async def play(self, *, channel_id: str, playback_id: str, sounds: Sequence[str]) -> None:
        uris = media_uris(sounds)
        self.played.append((channel_id, tuple(uris)))
        self._playing.add(playback_id)
        events = self._playback_events(channel_id, playback_id, uris)
        if self.hold_playback:
            self._held_playback[channel_id] = events
        else:
            asyncio.get_running_loop().create_task(self._emit(events))

    def _playback_events(self, channel_id: str, playback_id: str,
                         uris: Sequence[str]) -> list[Raw]:
        """The recorded playback's events, made to the measure of this play."""
        template = _rewrite(self._playback.get(channel_id, []), f"{channel_id}-play",
                            playback_id)
        continuing = [e for e in template if e["type"] == "PlaybackContinuing"][:1]
        finished = [e for e in template if e["type"] == "PlaybackFinished"][:1]
        events = []
        for n, uri in enumerate(uris[:-1]):
            for event in continuing:
                events.append({**event, "timestamp": f"{playback_id}-{n}",
                               "playback": {**event["playback"], "media_uri": uri}})
        return events + finished

    async def channel_variable(self, channel_id: str, name: str) -> str:
        return self.variables.get(channel_id, {}).get(name, "")

    async def stop_playback(self, playback_id: str) -> None:
        self.stopped.append(playback_id)
        if playback_id in self._playing:
            channel_id = playback_id.rsplit("-p", 1)[0]
            self._held_playback.pop(channel_id, None)
            self._playing.discard(playback_id)
            await self._emit([{"type": "PlaybackFinished", "timestamp": f"stop-{playback_id}",
                               "playback": {"id": playback_id, "state": "done",
                                            "target_uri": f"channel:{channel_id}"}}])

    async def watch(self, trunk: str) -> None:
        self.watched.add(endpoint(trunk))

    async def channel_app(self, channel_id: str) -> str | None:
        if channel_id not in self.live:
            return None
        return "Playback" if channel_id in self._held else "Stasis"

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.hung_up.append(channel_id)
        self._held.pop(channel_id, None)
        self._playing = {p for p in self._playing if not p.startswith(f"{channel_id}-")}
        if channel_id in self.live:
            self.live.discard(channel_id)
            asyncio.get_running_loop().create_task(
                self._emit(self._at_end.pop(channel_id, [])))

    async def channels(self) -> dict[str, str]:
        return {channel_id: "Up" for channel_id in self.live}

    async def playback_exists(self, playback_id: str) -> bool:
        return playback_id in self._playing

    async def ping(self) -> bool:
        return self.connected

    async def _emit(self, events: Sequence[Raw]) -> None:
        for raw in events:
            await asyncio.sleep(0)
            if raw["type"] == "PlaybackFinished":
                self._playing.discard(str(raw["playback"]["id"]))
            event = parse(raw)
            if event is not None:
                await self._on_event(event)
