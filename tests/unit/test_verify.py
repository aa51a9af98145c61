"""The verify rules, pure: the code, attempts, sends, expiry, undeliverable, the sealing of codes,
the locale of a number, a POST /verify body, and the low-conversion alert."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ari_app.errors import InvalidField, StoreError
from ari_app.metrics import Metrics
from ari_app.sealing import Sealer, load_or_create_key
from ari_app.settings import FraudSettings, Settings
from ari_app.store import Store
from ari_app.verify.fraud import ConversionWatch
from ari_app.verify.locales import COUNTRY_LOCALES, PHRASES, country_locale
from ari_app.verify.message import code_playlist
from ari_app.verify.request import parse_verify
from ari_app.verify.rules import (
    MAX_CHECKS,
    Status,
    Verification,
    after_wrong_code,
    new_code,
    send_refusal,
    undeliverable,
)
from tests.support.config import sandbox_settings

NOW = 1_000_000.0


def verification(**changes: Any) -> Verification:
    made = Verification(id="v1", status="pending", to_number="+12125551212",
                        carrier_id="74445609", api_key="k1", locale="en-US", code_length=6,
                        callback_url=None, attempts=0, sends=1, last_send_at=NOW,
                        created_at=NOW, expires_at=NOW + 600, updated_at=NOW)
    return dataclasses.replace(made, **changes)


@pytest.mark.parametrize("length", [4, 6, 10])
def test_codes_have_their_length_and_only_digits(length: int) -> None:
    codes = [new_code(length) for _ in range(2000)]
    assert all(len(c) == length and c.isascii() and c.isdigit() for c in codes)


def test_codes_are_uniform_over_every_digit_and_position() -> None:
    draws = 60_000
    codes = [new_code(6) for _ in range(draws)]
    expected = draws / 10
    for position in range(6):
        counts = Counter(code[position] for code in codes)
        assert set(counts) == set("0123456789")  # leading zeros too
        chi2 = sum((counts[d] - expected) ** 2 / expected for d in "0123456789")
        # 9 degrees of freedom: a uniform source goes above 50 less than once in a million.
        assert chi2 < 50, (position, counts)
    # And no code comes up far more than chance says (1e6 codes, 60k draws).
    assert max(Counter(codes).values()) <= 5  # six times: once in 15,000 runs
    assert len(set(codes)) > draws * 0.95


def test_expiry_is_read_at_the_moment_asked() -> None:
    made = verification()
    assert made.status_at(NOW + 599.9) is Status.PENDING
    assert made.status_at(NOW + 600) is Status.EXPIRED
    assert verification(status="approved").status_at(NOW + 9999) is Status.APPROVED


def test_the_fifth_wrong_code_ends_it() -> None:
    assert after_wrong_code(verification(attempts=MAX_CHECKS - 2)) is Status.PENDING
    assert after_wrong_code(verification(attempts=MAX_CHECKS - 1)) is Status.MAX_ATTEMPTS_REACHED
    assert verification(attempts=3).attempts_left == 2


def test_sends_are_thirty_seconds_apart_and_five_at_most() -> None:
    refused = send_refusal(verification(), NOW + 10, 30)
    assert refused is not None and refused.retry_after == 20
    assert send_refusal(verification(), NOW + 30, 30) is None
    refused = send_refusal(verification(sends=5), NOW + 999, 30)
    assert refused is not None and refused.retry_after is None
    assert send_refusal(verification(sends=0, last_send_at=None), NOW, 30) is None


def test_undeliverable_when_every_send_ended_unheard() -> None:
    assert undeliverable(2, [("busy", "not_delivered"), ("completed", "withheld_machine")])
    assert not undeliverable(2, [("busy", "not_delivered")])  # one still being placed
    assert not undeliverable(1, [("ringing", None)])
    assert not undeliverable(2, [("busy", "not_delivered"), ("completed", "partial")])
    assert not undeliverable(0, [])


def test_a_sealed_code_opens_only_with_its_key_and_for_its_owner(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    sealer = Sealer.from_file(key_file)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(key_file) == load_or_create_key(key_file)  # made once
    sealed = sealer.seal("459813", "v1")
    assert "459813" not in sealed and sealed != sealer.seal("459813", "v1")  # fresh nonce
    assert sealer.open(sealed, "v1") == "459813"
    with pytest.raises(StoreError):
        sealer.open(sealed, "v2")
    with pytest.raises(StoreError):
        Sealer(b"\x01" * 32).open(sealed, "v1")
    digest = sealer.digest("459813", "v1")
    assert Sealer.same(digest, sealer.digest("459813", "v1"))
    assert not Sealer.same(digest, sealer.digest("459813", "v2"))
    assert not Sealer.same(digest, Sealer(b"\x01" * 32).digest("459813", "v1"))
    key_file.chmod(0o644)
    with pytest.raises(StoreError, match="owner only"):
        load_or_create_key(key_file)


def test_a_number_s_locale_comes_from_its_longest_country_code() -> None:
    assert country_locale("+33612345678", COUNTRY_LOCALES) == "fr-FR"
    assert country_locale("+351912345678", COUNTRY_LOCALES) == "pt-PT"
    assert country_locale("+12125551212", COUNTRY_LOCALES) == "en-US"
    assert country_locale("+9112345678", COUNTRY_LOCALES) is None  # India: many languages
    assert all(lang in PHRASES for lang in ("en", "fr", "de", "es", "ru"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return sandbox_settings(tmp_path)


def test_a_body_gets_its_defaults(settings: Settings) -> None:
    request = parse_verify({"to": "12125551212"}, settings)
    assert request.to == "+12125551212" and request.carrier_id == "74445609"
    assert (request.locale, request.code_length, request.expires_in, request.repeat) == \
        ("en-US", 6, 600, 3)
    assert request.delivery.gate.enabled  # the sandbox's verify.delivery
    assert request.delivery.gate.prompt is not None  # said in the locale's language


def test_an_unspeakable_locale_lists_the_supported_ones(settings: Settings) -> None:
    with pytest.raises(InvalidField) as raised:
        parse_verify({"to": "+12125551212", "locale": "zu-ZA"}, settings)
    assert raised.value.field == "locale" and "de, en, es" in raised.value.message


def test_the_code_is_read_as_asked(settings: Settings) -> None:
    playlist = code_playlist("4598", language="de-DE", gender="female", brand=None, readings=2)
    assert [type(e).__name__ for e in playlist] == ["Speech", "Pause", "Speech"]
    assert playlist[0].text == "Ihr Code lautet 4598"  # type: ignore[union-attr]
    assert playlist[2].text == "4598"  # type: ignore[union-attr]
    branded = code_playlist("4598", language="de", gender="male", brand="Acme", readings=1)
    assert branded[0].text == "Ihr Code für Acme lautet 4598"  # type: ignore[union-attr]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def test_a_prefix_that_never_converts_raises_an_alert_and_is_blocked(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    fraud = FraudSettings(prefix_digits=5, window=3600, grace=300, min_volume=10,
                          min_rate=0.2, block_seconds=600)
    metrics = Metrics()
    watch = ConversionWatch(settings=lambda: fraud, metrics=metrics, clock=clock)
    for n in range(10):  # a healthy prefix: every other one approved
        watch.started(f"ok{n}", f"+1212555{n:04d}", "74445609", NOW)
        if n % 2:
            watch.approved(f"ok{n}")
    for n in range(12):  # a pumped one: none approved
        watch.started(f"bad{n}", f"+88213{n:06d}", "74445609", NOW)
    assert watch.evaluate() == []  # all still within the grace
    clock.now += 301
    with caplog.at_level(logging.CRITICAL):
        assert watch.evaluate() == ["88213"]
    assert "ALERT" in caplog.text and "+88213" in caplog.text
    assert watch.blocked_for("+882130000001") == 600
    assert watch.blocked_for("+12125550001") is None
    assert watch.evaluate() == []  # told once per window
    rendered = metrics.render().decode()
    assert 'ari_app_verify_prefix_alerts_total{prefix="88213"} 1.0' in rendered
    assert 'ari_app_verify_prefix_conversion{prefix="12125"} 0.5' in rendered
    clock.now += 600
    assert watch.blocked_for("+882130000001") is None


def test_low_volume_is_not_judged() -> None:
    clock = Clock()
    watch = ConversionWatch(settings=lambda: FraudSettings(min_volume=20), metrics=Metrics(),
                            clock=clock)
    for n in range(19):
        watch.started(f"v{n}", f"+88213{n:06d}", "c", NOW)
    clock.now += 301
    assert watch.evaluate() == []


def test_a_brand_may_be_written_in_any_script_but_holds_nothing_else(settings: Settings) -> None:
    body = {"to": "12125551212", "brand": "Société Générale 2"}
    assert parse_verify(body, settings).brand == "Société Générale 2"
    for bad in ("Acme!", "Acme\nx", "", "${SHELL}", "x" * 31):
        with pytest.raises(InvalidField) as raised:
            parse_verify({**body, "brand": bad}, settings)
        assert raised.value.field == "brand"


async def test_a_database_refuses_a_key_it_was_not_sealed_with(
        tmp_path: Path, open_store: Callable[..., Store]) -> None:
    await open_store().close()
    (tmp_path / "ari-app.key").unlink()  # lost; a new one would be made
    with pytest.raises(StoreError, match=r"is not the key (db\.sqlite3|PostgreSQL database "
                                         r"test_\d+ at /tmp\S+) was sealed with"):
        open_store()
