"""How a code is delivered: the options a request (or the deployment's config) chooses, as
frozen values, and where the code sits in a playlist.

- The gate: the callee presses a key before any entry holding a code plays.
- Machine detection: Asterisk's AMD() listens the moment the call is answered; a machine
  gets the voicemail message, never the code.
- Repeat: after the code, "press 2 to hear it again".
- The withheld and voicemail messages: what is said instead of the code.

The stock options change nothing (no gate, no detection, no repeat): a request without
`delivery` behaves as before these options existed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ari_app.entries import Entry, Speech, holds_code

DTMF_KEYS = frozenset("0123456789*#")
ANY_KEY = "any"


def _said(text: str) -> tuple[Entry, ...]:
    return (Speech(text=text, language="en-US", gender="female", say_as=None),)


NO_CODE_LEFT = _said("This was an automated verification call. No code has been left. "
                     "Goodbye.")


@dataclass(frozen=True)
class Gate:
    enabled: bool = False
    keys: str = ANY_KEY
    """`any`, or the one key that opens the gate."""
    timeout: int = 10
    """Seconds to wait for a key after the prompt ends."""
    tries: int = 2
    """How many times the prompt is played before the code is withheld."""
    prompt: tuple[Entry, ...] | None = None
    """None: the stock prompt for `keys`."""

    @property
    def spoken_prompt(self) -> tuple[Entry, ...]:
        if self.prompt is not None:
            return self.prompt
        if self.keys == ANY_KEY:
            return _said("Please press any key to hear your verification code.")
        return _said(f"Please press {_key_name(self.keys)} to hear your verification code.")

    def opens(self, key: str) -> bool:
        return self.keys == ANY_KEY or key == self.keys


@dataclass(frozen=True)
class AmdParameters:
    """AMD()'s arguments, in its order and units (milliseconds, but the threshold, which is
    an energy level, and the word count). Asterisk's defaults but three, tuned on the
    corpus of bench/amd.py (README, "Answering machines"): with Asterisk's, a person
    saying a name ("Hello, this is Maria speaking") talks past `greeting` or the word
    count and is taken for a machine (6 of 25 people); with these, none of 25 was, and
    2 of 24 machines (the shortest greetings) were taken for people."""

    initial_silence: int = 2500
    greeting: int = 2000
    after_greeting_silence: int = 800
    total_analysis_time: int = 5000
    min_word_length: int = 100
    between_words_silence: int = 80
    maximum_number_of_words: int = 3
    silence_threshold: int = 256
    maximum_word_length: int = 5000

    def arguments(self) -> tuple[int, ...]:
        return (self.initial_silence, self.greeting, self.after_greeting_silence,
                self.total_analysis_time, self.min_word_length, self.between_words_silence,
                self.maximum_number_of_words, self.silence_threshold,
                self.maximum_word_length)


AMD_LIMITS: dict[str, tuple[int, int]] = {
    "initial_silence": (500, 10_000), "greeting": (500, 10_000),
    "after_greeting_silence": (100, 5000), "total_analysis_time": (1000, 10_000),
    "min_word_length": (10, 1000), "between_words_silence": (10, 1000),
    "maximum_number_of_words": (1, 20), "silence_threshold": (1, 32767),
    "maximum_word_length": (100, 10_000),
}


@dataclass(frozen=True)
class MachineDetection:
    enabled: bool = False
    amd: AmdParameters = field(default_factory=AmdParameters)
    end_of_greeting: int = 1200
    """Milliseconds of silence that say a machine's greeting (and its beep) are over, so
    the voicemail message is recorded from its first word."""
    greeting_wait: int = 20
    """Seconds to wait at most for that silence before speaking anyway."""


@dataclass(frozen=True)
class Repeat:
    enabled: bool = False
    key: str = "2"
    times: int = 2
    """Readings offered after the first."""
    timeout: int = 5
    """Seconds to wait for the key after the offer."""
    prompt: tuple[Entry, ...] | None = None

    @property
    def spoken_prompt(self) -> tuple[Entry, ...]:
        if self.prompt is not None:
            return self.prompt
        return _said(f"To hear it again, press {_key_name(self.key)}.")


@dataclass(frozen=True)
class DeliveryOptions:
    gate: Gate = Gate()
    machine_detection: MachineDetection = MachineDetection()
    repeat: Repeat = Repeat()
    withheld: tuple[Entry, ...] = NO_CODE_LEFT
    """Said when the gate was not passed, instead of the code."""
    voicemail: tuple[Entry, ...] = NO_CODE_LEFT
    """Left on an answering machine, instead of the code."""


PLAIN = DeliveryOptions()


def _key_name(key: str) -> str:
    return {"*": "star", "#": "the pound key"}.get(key, key)


@dataclass(frozen=True)
class Layout:
    """Where a playlist's code is: the reading is the stretch from the first entry holding
    a code to the last (the whole playlist if no entry is recognisably a code: prerecorded
    digits not marked `secret` must not slip past a gate)."""

    entries: int
    first: int
    last: int

    @classmethod
    def of(cls, playlist: tuple[Entry, ...]) -> Layout:
        code = [i for i, entry in enumerate(playlist) if holds_code(entry)]
        if not code:
            return cls(len(playlist), 0, len(playlist) - 1)
        return cls(len(playlist), code[0], code[-1])


def messages(options: DeliveryOptions) -> tuple[tuple[Entry, ...], ...]:
    """The delivery's own messages, in a fixed order (prepared after the playlist): the
    gate's prompt, the repeat offer, the withheld and the voicemail message; an option not
    enabled brings none."""
    return (options.gate.spoken_prompt if options.gate.enabled else (),
            options.repeat.spoken_prompt if options.repeat.enabled else (),
            options.withheld if options.gate.enabled else (),
            options.voicemail if options.machine_detection.enabled else ())


def to_prepare(playlist: tuple[Entry, ...], options: DeliveryOptions) -> tuple[Entry, ...]:
    """The playlist followed by the delivery's messages: what a call's media is made of."""
    return playlist + tuple(entry for message in messages(options) for entry in message)
