"""The speech plan: which words, characters and silences an entry is made of. No engine."""

from __future__ import annotations

from ari_app.entries import Speech
from ari_app.media.plan import (
    AFTER_DIGITS_MS,
    ALPHABET,
    DIGITS,
    WORDS_TO_DIGITS_MS,
    plan_speech,
)
from ari_app.speech import NUMBER_VOCABULARY


def speech(text: str, say_as: str | None = "digits", **options: int) -> Speech:
    return Speech(text=text, language="en-US", gender="female", say_as=say_as, **options)


def test_a_code_is_one_clip_per_digit_with_the_pause_between() -> None:
    plan = plan_speech(speech("Your code is 4821", pause_ms=250))
    assert plan.items == ("Your code is", WORDS_TO_DIGITS_MS, "4", 250, "8", 250, "2", 250, "1",
                          AFTER_DIGITS_MS)
    assert plan.clip_sets == (tuple(DIGITS),)  # every digit, whichever the code holds


def test_groups_get_a_double_pause_and_telephone_numbers_groups_of_three() -> None:
    grouped = plan_speech(speech("123456", pause_ms=200, group=2)).items
    assert [i for i in grouped if isinstance(i, int)] == [200, 400, 200, 400, 200,
                                                          AFTER_DIGITS_MS]
    phone = plan_speech(speech("5551234", say_as="telephone", pause_ms=100)).items
    assert [i for i in phone if isinstance(i, int)] == [100, 100, 200, 100, 100, 200,
                                                        AFTER_DIGITS_MS]


def test_characters_need_the_whole_alphabet_and_numbers_the_vocabulary() -> None:
    spelled = plan_speech(speech("Code ab12", say_as="characters", pause_ms=0))
    assert spelled.items == ("Code", WORDS_TO_DIGITS_MS, "A", "B", "1", "2", AFTER_DIGITS_MS)
    assert spelled.clip_sets == (tuple(ALPHABET),)
    number = plan_speech(speech("Total 1234", say_as="number"))
    assert number.items[2:-1] == ("1", "thousand", "2", "hundred", "30", "4")
    assert number.clip_sets == (NUMBER_VOCABULARY, tuple(DIGITS))


def test_words_alone_need_no_clip_set() -> None:
    assert plan_speech(speech("Goodbye", say_as=None)).clip_sets == ()
