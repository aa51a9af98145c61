"""The config file's `verify:` section, read once the rest of the settings are (it names a
carrier, locales the engines must speak, and delivery options over the deployment's)."""

from __future__ import annotations

import dataclasses
import re
from types import MappingProxyType

from ari_app.config_reader import Reader
from ari_app.delivery_options import parse_delivery
from ari_app.errors import ConfigError, InvalidField
from ari_app.settings import FraudSettings, Settings, VerifySettings
from ari_app.verify.locales import COUNTRY_LOCALES
from ari_app.verify.message import speech_language

_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_VOICE = re.compile(r"^(female|male)$")


def read_verify(raw: object, settings: Settings) -> Settings:
    """`settings` with its `verify` section; ConfigError listing every problem."""
    problems: list[str] = []
    reader = Reader(raw or {}, "verify.", problems)
    carrier = reader.text("carrier", None, conf=False) or None
    if carrier is not None and carrier not in settings.carriers:
        reader.problem("verify.carrier", "is not a configured carrier")
    voice = reader.text("voice", "female", pattern=_VOICE)
    default_locale = reader.text("default_locale", "en-US", pattern=_LOCALE)
    if not problems and speech_language(default_locale, settings, voice) is None:
        reader.problem("verify.default_locale", "no phrases or no engine for this locale")
    locales = dict(COUNTRY_LOCALES)
    table = reader.section("locales")
    for code in table.data:
        locale = table.text(code, pattern=_LOCALE)
        if not str(code).isdigit() or not 1 <= len(str(code)) <= 3:
            reader.problem(table.key(str(code)), "keys are country calling codes (1 to 3 digits)")
        elif locale and speech_language(locale, settings, voice) is None:
            reader.problem(table.key(str(code)), "no phrases or no engine for this locale")
        locales[str(code)] = locale
    delivery = settings.delivery
    try:
        delivery = parse_delivery(reader.raw("delivery", None), base=settings.delivery,
                                  settings=settings)
    except InvalidField as exc:
        problems.append(f"verify.{exc.field}: {exc.message}")
    interval = reader.integer("resend_interval", 30, 5, 600)
    fraud = _fraud(reader.section("fraud"))
    reader.finish()
    if problems:
        raise ConfigError(problems)
    return dataclasses.replace(settings, verify=VerifySettings(
        carrier=carrier, default_locale=default_locale, locales=MappingProxyType(locales),
        delivery=delivery, resend_interval=interval, voice=voice, fraud=fraud))


def _fraud(reader: Reader) -> FraudSettings:
    fraud = FraudSettings(
        prefix_digits=reader.integer("prefix_digits", 5, 1, 12),
        window=reader.integer("window", 3600, 300, 86_400),
        grace=reader.integer("grace", 300, 0, 3600),
        min_volume=reader.integer("min_volume", 20, 1, 1_000_000),
        min_rate=reader.number("min_rate", 0.2, 0.0, 1.0),
        block_seconds=reader.integer("block_seconds", 0, 0, 7 * 86_400),
    )
    reader.finish()
    return fraud
