"""A `POST /verify` body, validated into one immutable VerifyRequest before anything is
stored or dialled; errors name the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ari_app.delivery import PLAIN, DeliveryOptions
from ari_app.delivery_options import parse_delivery
from ari_app.errors import InvalidField
from ari_app.request import json_object, parse_call_fields
from ari_app.settings import Settings
from ari_app.verify.locales import PHRASES, country_locale
from ari_app.verify.message import localized, speech_language

_FIELDS = frozenset({"to", "from", "carrier_id", "locale", "code_length", "expires_in", "brand",
                     "repeat", "delivery", "callback_url"})
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
CODE_LENGTHS = (4, 10)
EXPIRY_SECONDS = (60, 1800)
READINGS = (1, 5)


@dataclass(frozen=True)
class VerifyRequest:
    to: str
    caller_id: str
    carrier_id: str
    locale: str
    language: str
    """The tag the engines speak the locale in."""
    gender: str = "female"
    """The voice: the deployment's verify.voice."""
    code_length: int = 6
    expires_in: int = 600
    brand: str | None = None
    repeat: int = 3
    delivery: DeliveryOptions = PLAIN
    callback_url: str | None = None


def parse_verify(body: object, settings: Settings) -> VerifyRequest:
    body = json_object(body, _FIELDS)
    carrier_id = body.get("carrier_id", settings.verify.carrier)
    if carrier_id is None:
        raise InvalidField("carrier_id is required (no verify.carrier is configured)",
                           field="carrier_id")
    fields = parse_call_fields({**body, "carrier_id": carrier_id}, settings)
    locale, language = _locale(body.get("locale"), fields.to, settings)
    brand = _brand(body.get("brand"))
    base = settings.carriers[fields.carrier_id].media_base_url
    delivery = parse_delivery(body.get("delivery"), base=settings.verify.delivery,
                              settings=settings, media_base=base)
    return VerifyRequest(
        to=fields.to, caller_id=fields.caller_id, carrier_id=fields.carrier_id, locale=locale,
        language=language, code_length=_integer(body, "code_length", 6, CODE_LENGTHS),
        expires_in=_integer(body, "expires_in", 600, EXPIRY_SECONDS),
        gender=settings.verify.voice, brand=brand,
        repeat=_integer(body, "repeat", 3, READINGS),
        delivery=localized(delivery, language, settings.verify.voice),
        callback_url=fields.callback_url)


def _brand(value: object) -> str | None:
    """Letters of any script (a brand may be "Société Générale"), ASCII digits, spaces."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 30 or not value.strip() \
            or not all(ch.isalpha() or ch in "0123456789 " for ch in value):
        raise InvalidField("brand: letters, digits and spaces, 1 to 30 characters",
                           field="brand")
    return value.strip()


def _integer(body: Mapping[str, object], name: str, default: int,
             limits: tuple[int, int]) -> int:
    value = body.get(name, default)
    low, high = limits
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidField(f"{name} must be a whole number from {low} to {high}", field=name)
    return value


def _locale(value: object, to: str, settings: Settings) -> tuple[str, str]:
    """(locale, language to speak it in): the request's, else the number's country's, else
    the default. A locale asked for by name is never replaced by another."""
    voice = settings.verify.voice
    if value is not None:
        language = speech_language(value, settings, voice) if isinstance(value, str) \
            and _LOCALE.match(value) else None
        if language is None:
            raise InvalidField(f"locale: not one this service can speak; supported: "
                               f"{', '.join(supported_locales(settings))}", field="locale")
        return str(value), language
    guessed = country_locale(to, settings.verify.locales)
    if guessed is not None:
        language = speech_language(guessed, settings, voice)
        if language is not None:
            return guessed, language
    default = settings.verify.default_locale
    return default, speech_language(default, settings, voice) or "en-US"


def supported_locales(settings: Settings) -> list[str]:
    """The languages a verification can be said in, with these engines."""
    return [tag for tag in sorted(PHRASES)
            if speech_language(tag, settings, settings.verify.voice) is not None]
