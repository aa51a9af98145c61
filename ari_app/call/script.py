"""What a call says, and when: the decisions of the delivery (gate, machine, repeat) as one
explicit step at a time, with no I/O. The attempt tells it what happened (the channel
handed over, a part played, a key, a timer) and does what it answers (play a part,
stop one first, or finish: everything is said).

    OPENING --start--> VOICEMAIL (a machine)                       --played--> SAID
                   \\-> GATE (prompt, then a wait for the key; again up to `tries`)
                         |--key--> PLAYLIST   |--no key--> WITHHELD --played--> SAID
                   \\-> PLAYLIST (the rest of the playlist; with repeat, up to the end
                        of the reading) --played--> OFFER --key--> PLAYLIST (the reading
                        again) ... --no key--> PLAYLIST (what follows the reading) --> SAID

The dialplan plays the opening before the channel is ours: the first entry, or with a
gate the entries before the code. A playlist part is one playback of several sounds;
each sound's end (EntryPlayed) moves the position, which says when a reading of the
code begins and ends. Parts are numbered; an event of a part no longer current (one
stopped by a key) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ari_app.delivery import DeliveryOptions, Layout, messages
from ari_app.media import Prepared
from ari_app.media.prepared import entries_done
from ari_app.verdict import Delivered, KeyPress, MachineCheck


class Step(StrEnum):
    OPENING = "opening"
    PLAYLIST = "playlist"
    GATE = "gate"
    OFFER = "offer"
    WITHHELD = "withheld"
    VOICEMAIL = "voicemail"
    SAID = "said"


@dataclass(frozen=True)
class Play:
    part: int
    sounds: tuple[str, ...]
    stop: int | None = None
    """A part still playing, to stop first."""


@dataclass(frozen=True)
class Finish:
    """Everything is said: hang up after a moment."""


Action = Play | Finish | None


class Script:
    def __init__(self, *, options: DeliveryOptions, layout: Layout, media: Prepared) -> None:
        self._options = options
        self._layout = layout
        self._media = media
        start = layout.entries
        ranges = []
        for message in messages(options):
            ranges.append((start, start + len(message)))
            start += len(message)
        self._gate_prompt, self._offer, self._withheld, self._voicemail = ranges
        self.step = Step.OPENING
        self.wait_until: float | None = None
        """When a wait for a key ends (monotonic); None when no key is awaited."""
        self._part = 0
        self._playing: int | None = None
        self._part_from = 0
        """A playlist part's first entry."""
        self._part_items = 0
        self._position = 0
        """The playlist entry playing now (or next): entries before it have ended."""
        self._reading = False
        self._prompts = 0
        self._repeats_left = options.repeat.times if options.repeat.enabled else 0
        self._gate_passed = False
        self._machine: MachineCheck | None = None
        self._keys: list[KeyPress] = []
        self._started = 0
        self._completed = 0
        self.played = 0
        """Playlist entries played to their end (the furthest any pass got)."""

    @property
    def _gated(self) -> bool:
        return self._options.gate.enabled

    @property
    def opening(self) -> tuple[str, ...]:
        """What the dialplan plays the moment a person answers."""
        return self._media.sounds_of(0, self._opening_entries)

    @property
    def _opening_entries(self) -> int:
        return self._layout.first if self._gated else 1

    @property
    def playing(self) -> int | None:
        """The part playing now, if any."""
        return self._playing

    def delivered(self) -> Delivered:
        return Delivered(gated=self._gated, gate_passed=self._gate_passed,
                         machine=self._machine, readings_started=self._started,
                         readings_completed=self._completed, keys=tuple(self._keys))

    def opening_started(self) -> None:
        """The dialplan began the opening: with no gate, it may be the code's first entry."""
        if self.step is Step.OPENING and self._opening_entries:
            self._enter(0)

    def start(self, machine: MachineCheck | None) -> Action:
        """The channel is ours: the opening is played, or a machine was detected."""
        self._machine = machine
        if machine is not None and machine.machine:
            return self._say(Step.VOICEMAIL, self._voicemail)
        self._move_to(self._opening_entries)
        if self._gated and not self._gate_passed:
            return self._prompt_gate()
        if self._gated:
            self._position = self._layout.first
        return self._continue()

    def key(self, key: str, at_ms: int) -> Action:
        self._keys.append(KeyPress(key, at_ms))
        if self.step in (Step.OPENING, Step.GATE) and self._gated and not self._gate_passed:
            if not self._options.gate.opens(key):
                return None
            self._gate_passed = True  # a key during the opening counts: a person is there
            if self.step is Step.GATE:
                return self._read_again(stop=self._stop_waiting())
        if self.step is Step.OFFER and key == self._options.repeat.key:
            self._repeats_left -= 1
            return self._read_again(stop=self._stop_waiting())
        return None

    def sound_played(self, part: int | None) -> None:
        """One sound of `part` ended."""
        if part != self._playing or self.step is not Step.PLAYLIST:
            return
        self._part_items += 1
        done = entries_done(self._media.items_per_entry[self._part_from:], self._part_items)
        self._move_to(self._part_from + done)

    def part_played(self, part: int | None, now: float) -> Action:
        if part != self._playing:
            return None
        self._playing = None
        match self.step:
            case Step.PLAYLIST:
                self._move_to(self._part_end())
                return self._after_pass()
            case Step.GATE:
                self.wait_until = now + self._options.gate.timeout
            case Step.OFFER:
                self.wait_until = now + self._options.repeat.timeout
            case Step.WITHHELD | Step.VOICEMAIL:
                return self._finish()
        return None

    def timed_out(self) -> Action:
        """The wait for a key is over."""
        self.wait_until = None
        if self.step is Step.GATE:
            if self._prompts < self._options.gate.tries:
                return self._prompt_gate()
            return self._say(Step.WITHHELD, self._withheld)
        if self.step is Step.OFFER:
            self._repeats_left = 0
            return self._continue()
        return None

    def _prompt_gate(self) -> Action:
        self._prompts += 1
        return self._say(Step.GATE, self._gate_prompt)

    def _read_again(self, *, stop: int | None) -> Action:
        self._position = self._layout.first
        return self._continue(stop=stop)

    def _stop_waiting(self) -> int | None:
        self.wait_until = None
        return self._playing

    def _continue(self, *, stop: int | None = None) -> Action:
        """Play the playlist on from the position, up to the next decision."""
        self._part_from, self._part_items = self._position, 0
        if self._position >= self._part_end():
            return self._after_pass()
        self._enter(self._position)
        return self._play(Step.PLAYLIST, self._media.sounds_of(self._position, self._part_end()),
                          stop=stop)

    def _part_end(self) -> int:
        """Where the playing pass stops: after the reading, when a repeat may be offered
        (also when the reading ended with the opening: the offer comes first)."""
        if self._repeats_left and self._part_from <= self._layout.last + 1:
            return self._layout.last + 1
        return self._layout.entries

    def _after_pass(self) -> Action:
        if self._position == self._layout.last + 1 and self._repeats_left:
            return self._say(Step.OFFER, self._offer)
        if self._position < self._layout.entries:
            return self._continue()
        return self._finish()

    def _say(self, step: Step, entries: tuple[int, int], *, stop: int | None = None) -> Action:
        return self._play(step, self._media.sounds_of(*entries), stop=stop)

    def _play(self, step: Step, sounds: tuple[str, ...], *, stop: int | None = None) -> Play:
        self.step = step
        self._part += 1
        self._playing = self._part
        return Play(self._part, sounds, stop=stop)

    def _finish(self) -> Finish:
        self.step = Step.SAID
        return Finish()

    def _enter(self, entry: int) -> None:
        """Entry `entry` begins: the code's first entry begins a reading."""
        if entry == self._layout.first and not self._reading:
            self._reading = True
            self._started += 1

    def _move_to(self, position: int) -> None:
        """Entries before `position` have ended; in a playing part, the one at it begins."""
        while self._position < position:
            self._enter(self._position)  # an entry that ended had begun
            if self._position == self._layout.last and self._reading:
                self._reading = False
                self._completed += 1
            self._position += 1
            self.played = max(self.played, self._position)
        if self._playing is not None and self.step is Step.PLAYLIST \
                and self._position < self._part_end():
            self._enter(self._position)
