"""The `delivery` object of a request (or the config's `delivery:` section), checked into
DeliveryOptions over a base: the deployment's defaults for a request, the stock options
for the config.

Each of `gate`, `machine_detection` and `repeat` is off (false or null), on with the
base's values (true, or an object with only some fields), or switched by `enabled`. The
messages replace the base's whole. Errors name the field (`delivery.gate.timeout`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from ari_app.delivery import (
    AMD_LIMITS,
    ANY_KEY,
    DTMF_KEYS,
    AmdParameters,
    DeliveryOptions,
    Gate,
    MachineDetection,
    Repeat,
)
from ari_app.entries import Entry, holds_code
from ari_app.errors import InvalidField
from ari_app.playlist import parse_entries
from ari_app.settings import Settings

_Option = TypeVar("_Option", Gate, MachineDetection, Repeat)
_Message = Callable[[object, str], tuple[Entry, ...]]
"""Entries checked into a delivery message (no code in them), named by where they are."""
_FIELDS = ("gate", "machine_detection", "repeat", "withheld", "voicemail")


def parse_delivery(raw: object, *, base: DeliveryOptions, settings: Settings,
                   media_base: str | None = None,
                   where: str = "delivery") -> DeliveryOptions:
    """`media_base`: the carrier's media_base_url, for relative URLs in the messages (as
    in the playlist); the config's defaults have none."""
    if raw is None:
        return base

    def message(value: object, at: str) -> tuple[Entry, ...]:
        return _no_code(parse_entries(value, at, settings, media_base), at)

    data = _mapping(raw, where, _FIELDS)
    options = replace(
        base,
        gate=_gate(data, base.gate, message, f"{where}.gate"),
        machine_detection=_detection(data, base.machine_detection,
                                     f"{where}.machine_detection"),
        repeat=_repeat(data, base.repeat, message, f"{where}.repeat"),
        withheld=_message(data, "withheld", base.withheld, message, where),
        voicemail=_message(data, "voicemail", base.voicemail, message, where),
    )
    if options.repeat.enabled and options.gate.enabled \
            and options.repeat.key == options.gate.keys:
        named = "repeat.key" if "repeat" in data else "gate.keys"
        raise InvalidField("the repeat key must differ from the gate's key",
                           field=f"{where}.{named}")
    return options


def _gate(data: Mapping[str, Any], base: Gate, message: _Message, where: str) -> Gate:
    value = _switch(data.get("gate", base), base, where)
    if not isinstance(value, Mapping):
        return value
    fields_ = _mapping(value, where, ("enabled", "prompt", "keys", "timeout", "tries"))
    keys = fields_.get("keys", base.keys)
    if keys != ANY_KEY and (not isinstance(keys, str) or keys not in DTMF_KEYS):
        raise InvalidField("keys is \"any\" or one key: 0-9, * or #", field=f"{where}.keys")
    # A prompt kept from the base names the base's key: another key brings the stock one.
    prompt = base.prompt if keys == base.keys else None
    return Gate(
        enabled=_enabled(fields_, where),
        keys=keys,
        timeout=_integer(fields_, "timeout", base.timeout, 1, 30, where),
        tries=_integer(fields_, "tries", base.tries, 1, 5, where),
        prompt=_prompt(fields_, prompt, message, where),
    )


def _detection(data: Mapping[str, Any], base: MachineDetection,
               where: str) -> MachineDetection:
    value = _switch(data.get("machine_detection", base), base, where)
    if not isinstance(value, Mapping):
        return value
    own = ("enabled", "end_of_greeting", "greeting_wait")
    fields_ = _mapping(value, where, (*own, *AMD_LIMITS))
    amd = AmdParameters(**{
        name: _integer(fields_, name, getattr(base.amd, name), *AMD_LIMITS[name], where)
        for name in AMD_LIMITS})
    return MachineDetection(
        enabled=_enabled(fields_, where), amd=amd,
        end_of_greeting=_integer(fields_, "end_of_greeting", base.end_of_greeting, 300, 5000,
                                 where),
        greeting_wait=_integer(fields_, "greeting_wait", base.greeting_wait, 1, 60, where),
    )


def _repeat(data: Mapping[str, Any], base: Repeat, message: _Message, where: str) -> Repeat:
    value = _switch(data.get("repeat", base), base, where)
    if not isinstance(value, Mapping):
        return value
    fields_ = _mapping(value, where, ("enabled", "key", "times", "timeout", "prompt"))
    key = fields_.get("key", base.key)
    if not isinstance(key, str) or key not in DTMF_KEYS:
        raise InvalidField("key is one key: 0-9, * or #", field=f"{where}.key")
    prompt = base.prompt if key == base.key else None  # as for the gate's
    return Repeat(
        enabled=_enabled(fields_, where), key=key,
        times=_integer(fields_, "times", base.times, 1, 5, where),
        timeout=_integer(fields_, "timeout", base.timeout, 1, 30, where),
        prompt=_prompt(fields_, prompt, message, where),
    )


def _switch(value: object, base: _Option, where: str) -> _Option | Mapping[str, Any]:
    """The base as it is, turned off or on; or the object of fields to read over it."""
    if value is base:
        return base
    if value is None or value is False:
        return replace(base, enabled=False)
    if value is True:
        return replace(base, enabled=True)
    if isinstance(value, Mapping):
        return value  # fields not given keep the base's values
    raise InvalidField("true, false, or an object", field=where)


def _enabled(data: Mapping[str, Any], where: str) -> bool:
    value = data.get("enabled", True)
    if not isinstance(value, bool):
        raise InvalidField("enabled is true or false", field=f"{where}.enabled")
    return value


def _prompt(data: Mapping[str, Any], base: tuple[Entry, ...] | None, message: _Message,
            where: str) -> tuple[Entry, ...] | None:
    value = data.get("prompt", base)
    if value is None or isinstance(value, tuple):
        return value
    return message(value, f"{where}.prompt")


def _message(data: Mapping[str, Any], name: str, base: tuple[Entry, ...], message: _Message,
             where: str) -> tuple[Entry, ...]:
    if name not in data:
        return base
    return message(data[name], f"{where}.{name}")


def _no_code(entries: tuple[Entry, ...], where: str) -> tuple[Entry, ...]:
    """The delivery's messages are said when no code may be (to a machine, before the
    gate): an entry that holds one is refused."""
    for i, entry in enumerate(entries):
        if holds_code(entry):
            raise InvalidField("a delivery message may not hold a code (say-as digits, "
                               "characters, telephone, number, or secret)",
                               field=f"{where}[{i}]")
    return entries


def _integer(data: Mapping[str, Any], name: str, default: int, low: int, high: int,
             where: str) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidField(f"{name} is an integer from {low} to {high}",
                           field=f"{where}.{name}")
    return value


def _mapping(value: object, where: str, known: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidField("must be an object", field=where)
    for name in value:
        if name not in known:
            raise InvalidField(f"unknown field '{str(name)[:50]}' (known: {', '.join(known)})",
                               field=f"{where}.{str(name)[:50]}")
    return value
