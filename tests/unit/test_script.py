"""The delivery's decisions, step by step, with no Asterisk: what plays, when a reading
of the code begins and ends, and the verdict each way a call can go."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ari_app.call.script import Finish, Play, Script, Step
from ari_app.delivery import PLAIN, DeliveryOptions, Gate, Layout, Repeat, to_prepare
from ari_app.entries import Entry, Pause, Speech
from ari_app.media import Prepared
from ari_app.outcome import State
from ari_app.verdict import Delivered, MachineCheck, Verdict

INTRO = Speech("Hello", "en-US", "female", None)
CODE = Speech("Your code is 123456", "en-US", "female", "digits")
BYE = Pause(500)
HUMAN = MachineCheck("HUMAN", "HUMAN-800-800", 900)
MACHINE = MachineCheck("MACHINE", "MAXWORDS-3-2", 1800)
GATE = replace(PLAIN, gate=Gate(enabled=True, keys="1", timeout=10, tries=2))


def script(playlist: tuple[Entry, ...], options: DeliveryOptions = PLAIN) -> Script:
    """Each entry (and message) is two sounds, named by entry: e0a e0b e1a ..."""
    entries = to_prepare(playlist, options)
    sounds = tuple(f"e{n}{half}" for n in range(len(entries)) for half in "ab")
    media = Prepared(sounds=sounds, items_per_entry=(2,) * len(entries), seconds=1.0,
                     engines=())
    return Script(options=options, layout=Layout.of(playlist), media=media)


def play_through(s: Script, action: Play | Finish | None, now: float = 0.0) -> Play | Finish | None:
    """The part of `action` plays to its end."""
    assert isinstance(action, Play)
    for _ in action.sounds[1:]:
        s.sound_played(action.part)
    return s.part_played(action.part, now)


def test_without_options_the_dialplan_plays_the_first_entry_and_ari_the_rest() -> None:
    s = script((INTRO, CODE, BYE))
    assert s.opening == ("e0a", "e0b")
    s.opening_started()
    rest = s.start(None)
    assert rest == Play(1, ("e1a", "e1b", "e2a", "e2b"))
    assert isinstance(play_through(s, rest), Finish)
    assert s.played == 3
    assert s.delivered().verdict(State.COMPLETED) is Verdict.PLAYED
    assert s.delivered().readings_completed == 1


def test_a_one_entry_playlist_is_all_said_by_the_dialplan() -> None:
    s = script((CODE,))
    s.opening_started()
    assert isinstance(s.start(None), Finish)
    assert s.delivered().verdict(State.COMPLETED) is Verdict.PLAYED


def test_hanging_up_into_the_code_is_partial_and_before_it_not_delivered() -> None:
    s = script((INTRO, CODE, BYE))
    s.opening_started()
    rest = s.start(None)
    assert isinstance(rest, Play)
    assert s.delivered().verdict(State.COMPLETED) is Verdict.PARTIAL  # the code has begun
    s.sound_played(rest.part)  # the code's first half
    assert s.delivered().readings_completed == 0

    before = script((INTRO, CODE))
    before.opening_started()  # hung up during the intro
    assert before.delivered().verdict(State.COMPLETED) is Verdict.NOT_DELIVERED


def test_the_gate_keeps_the_code_until_its_key() -> None:
    s = script((INTRO, CODE, BYE), GATE)
    assert s.opening == ("e0a", "e0b")  # what comes before the code plays before the gate
    prompt = s.start(HUMAN)
    assert prompt == Play(1, ("e3a", "e3b")) and s.step is Step.GATE
    assert s.key("5", at_ms=1500) is None  # not the gate's key
    reading = s.key("1", at_ms=2500)
    assert reading == Play(2, ("e1a", "e1b", "e2a", "e2b"), stop=1)
    assert s.part_played(1, 3.0) is None  # the stopped prompt's end changes nothing
    assert isinstance(play_through(s, reading), Finish)
    delivered = s.delivered()
    assert delivered.verdict(State.COMPLETED) is Verdict.CONFIRMED
    assert [(k.key, k.at_ms) for k in delivered.keys] == [("5", 1500), ("1", 2500)]
    assert delivered.machine == HUMAN


def test_no_key_after_the_tries_withholds_the_code() -> None:
    s = script((CODE,), GATE)
    assert s.opening == ()  # the code comes first: the gate's prompt is the first word
    first = s.start(None)
    assert play_through(s, first, now=5.0) is None and s.wait_until == 15.0
    second = s.timed_out()
    assert isinstance(second, Play) and second.sounds == first.sounds  # tried again
    play_through(s, second, now=20.0)
    withheld = s.timed_out()
    assert withheld == Play(3, ("e2a", "e2b")) and s.step is Step.WITHHELD
    assert isinstance(play_through(s, withheld), Finish)
    assert s.delivered().verdict(State.COMPLETED) is Verdict.WITHHELD_NO_INPUT


def test_a_key_during_the_opening_opens_the_gate() -> None:
    s = script((INTRO, CODE), GATE)
    s.opening_started()
    assert s.key("1", at_ms=800) is None  # noted; the dialplan is still speaking
    assert s.start(None) == Play(1, ("e1a", "e1b"))


def test_a_machine_gets_the_voicemail_message_and_never_the_code() -> None:
    options = replace(GATE, machine_detection=replace(PLAIN.machine_detection, enabled=True))
    s = script((CODE,), options)
    message = s.start(MACHINE)
    # playlist, gate prompt, withheld, then the voicemail message: entry 3
    assert message == Play(1, ("e3a", "e3b")) and s.step is Step.VOICEMAIL
    assert isinstance(play_through(s, message), Finish)
    delivered = s.delivered()
    assert delivered.verdict(State.COMPLETED) is Verdict.WITHHELD_MACHINE
    assert delivered.readings_completed == 0 and s.played == 0


def test_repeat_reads_the_code_again_on_its_key_then_the_rest() -> None:
    options = replace(PLAIN, repeat=Repeat(enabled=True, key="2", times=1, timeout=5))
    s = script((INTRO, CODE, BYE), options)
    s.opening_started()
    reading = s.start(None)
    assert reading == Play(1, ("e1a", "e1b"))  # up to the end of the code only
    offer = play_through(s, reading)
    assert offer == Play(2, ("e3a", "e3b")) and s.step is Step.OFFER
    again = s.key("2", at_ms=9000)
    # times: 1, so no second offer: the code and the rest play as one.
    assert again == Play(3, ("e1a", "e1b", "e2a", "e2b"), stop=2)
    assert isinstance(play_through(s, again), Finish)
    assert s.delivered().readings_completed == 2
    assert s.delivered().verdict(State.COMPLETED) is Verdict.PLAYED


def test_no_answer_to_the_offer_goes_on() -> None:
    options = replace(PLAIN, repeat=Repeat(enabled=True, key="2", times=2, timeout=5))
    s = script((INTRO, CODE, BYE), options)
    play_through(s, s.start(None))
    assert play_through(s, Play(2, ()), now=1.0) is None and s.wait_until == 6.0
    assert s.timed_out() == Play(3, ("e2a", "e2b"))
    assert s.delivered().readings_completed == 1


def test_hanging_up_during_the_second_reading_is_partial() -> None:
    options = replace(PLAIN, repeat=Repeat(enabled=True, key="2", times=1, timeout=5))
    s = script((CODE,), options)
    s.opening_started()
    offer = s.start(None)
    assert isinstance(offer, Play)
    s.key("2", at_ms=6000)
    delivered = s.delivered()
    assert (delivered.readings_started, delivered.readings_completed) == (2, 1)
    assert delivered.verdict(State.COMPLETED) is Verdict.PARTIAL


def test_unmarked_prerecorded_digits_are_all_taken_as_the_code() -> None:
    from ari_app.entries import AudioUrl
    playlist = (AudioUrl("http://x/your-code-is.wav"), AudioUrl("http://x/1.wav"))
    assert Layout.of(playlist) == Layout(2, 0, 1)
    assert script(playlist, GATE).opening == ()
    marked = (AudioUrl("http://x/your-code-is.wav"), AudioUrl("http://x/1.wav", secret=True))
    assert Layout.of(marked) == Layout(2, 1, 1)


@pytest.mark.parametrize("state", [State.BUSY, State.NO_ANSWER, State.FAILED, State.CANCELED])
def test_a_call_that_did_not_complete_delivered_nothing(state: State) -> None:
    heard = Delivered(readings_started=1, readings_completed=1)
    assert heard.verdict(state) is Verdict.NOT_DELIVERED
    assert heard.verdict(State.COMPLETED) is Verdict.PLAYED


def test_a_code_said_by_the_dialplan_is_still_offered_again() -> None:
    options = replace(PLAIN, repeat=Repeat(enabled=True, key="2", times=1, timeout=5))
    s = script((CODE, BYE), options)
    s.opening_started()
    offer = s.start(None)
    assert offer == Play(1, ("e2a", "e2b")) and s.step is Step.OFFER  # before the rest
    assert s.delivered().readings_completed == 1


def test_digits_in_plain_text_hold_a_code() -> None:
    plain = Speech("Your code is 4829", "en-US", "female", None)
    assert Layout.of((INTRO, plain)) == Layout(2, 1, 1)
    assert Layout.of((Speech("Press 1 or 2", "en-US", "female", None), CODE)) == Layout(2, 1, 1)
