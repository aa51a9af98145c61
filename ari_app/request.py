"""A `POST /voice/call/play` body, validated into one immutable CallRequest.

Everything is checked before anything is stored or dialled: the number, the carrier,
the caller ID, the playlist (playlist.py) and the delivery options
(delivery_options.py). Errors name the offending field and never quote text to be
spoken, which may be a verification code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ari_app.delivery import PLAIN, DeliveryOptions
from ari_app.delivery_options import parse_delivery
from ari_app.destinations import normalize
from ari_app.entries import Entry
from ari_app.errors import InvalidField
from ari_app.playlist import parse_entries
from ari_app.settings import Settings

_TO = re.compile(r"^\+?[0-9]{3,20}$")
_CALLER = re.compile(r"^\+?[0-9]{1,20}$")
_TOP_FIELDS = frozenset({"to", "from", "carrier_id", "playlist", "callback_url", "delivery"})
_CALLBACK = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[\x21-\x7e]*)?$")


@dataclass(frozen=True)
class CallRequest:
    to: str
    caller_id: str
    carrier_id: str
    playlist: tuple[Entry, ...]
    callback_url: str | None = None
    delivery: DeliveryOptions = PLAIN


@dataclass(frozen=True)
class CallFields:
    """Who is called, from which number, over which carrier, and who is told: the fields a
    call and a verification share."""

    to: str
    caller_id: str
    carrier_id: str
    callback_url: str | None


def json_object(body: object, known: frozenset[str]) -> Mapping[str, object]:
    """A request body that is a JSON object of `known` fields only (each refusal names the
    field)."""
    if not isinstance(body, Mapping):
        raise InvalidField("the body must be a JSON object", field="body")
    for name in body:
        if name not in known:
            raise InvalidField(f"unknown field '{name}'", field=str(name)[:50])
    return body


def parse_request(body: object, settings: Settings) -> CallRequest:
    body = json_object(body, _TOP_FIELDS)
    fields = parse_call_fields(body, settings)
    base = settings.carriers[fields.carrier_id].media_base_url
    entries = parse_entries(body.get("playlist"), "playlist", settings, base)
    delivery = parse_delivery(body.get("delivery"), base=settings.delivery, settings=settings,
                              media_base=base)
    return CallRequest(to=fields.to, caller_id=fields.caller_id, carrier_id=fields.carrier_id,
                       playlist=entries, callback_url=fields.callback_url, delivery=delivery)


def parse_call_fields(body: Mapping[str, object], settings: Settings) -> CallFields:
    to = body.get("to")
    if not isinstance(to, str) or not _TO.match(to):
        raise InvalidField("'to' must be 3 to 20 digits with an optional leading '+'", field="to")
    to = normalize(to, settings.destinations.national_country)
    carrier_id = body.get("carrier_id")
    if isinstance(carrier_id, int) and not isinstance(carrier_id, bool):
        carrier_id = str(carrier_id)
    if not isinstance(carrier_id, str) or carrier_id not in settings.carriers:
        raise InvalidField("unknown carrier_id", field="carrier_id")
    return CallFields(to=to, caller_id=_caller_id(body.get("from"), settings, carrier_id),
                      carrier_id=carrier_id,
                      callback_url=_callback_url(body.get("callback_url"), settings))


def _callback_url(value: object, settings: Settings) -> str | None:
    """The request's callback URL, else the configured default; signing needs the secret."""
    if value is None:
        return settings.callbacks.url
    if not isinstance(value, str) or len(value) > 500 or not _CALLBACK.match(value):
        raise InvalidField("'callback_url' must be an http(s) URL", field="callback_url")
    if settings.callbacks.secret is None:
        raise InvalidField("callbacks are not configured on this service (callbacks.secret)",
                           field="callback_url")
    return value


def parse_playlist(body: object, settings: Settings) -> tuple[Entry, ...]:
    """Only the playlist of a body (for previews); `to`, `from` and `carrier_id` are ignored."""
    body = json_object(body, _TOP_FIELDS)
    carrier = settings.carriers.get(str(body.get("carrier_id", "")))
    return parse_entries(body.get("playlist"), "playlist", settings,
                         carrier.media_base_url if carrier else None)


def _caller_id(value: object, settings: Settings, carrier_id: str) -> str:
    carrier = settings.carriers[carrier_id]
    if value is None or value == "me":
        return carrier.default_caller_id or ""
    if not isinstance(value, str) or not _CALLER.match(value):
        raise InvalidField("'from' must be \"me\" or a number (digits, optional leading '+')",
                           field="from")
    if value not in carrier.caller_ids:
        raise InvalidField("'from' is not a caller ID this carrier allows (its caller_ids)",
                           field="from")
    return value
