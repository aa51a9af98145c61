"""Reading one YAML mapping into typed values, with every problem recorded by its dotted key.

What `config.py` and `carriers.py` read the settings with. Values that reach Asterisk `.conf`
files are checked here, so the templates can print them as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Characters with a meaning in Asterisk config files: comments, sections,
# templates, directives, continuation and line breaks.
_CONF_UNSAFE = re.compile(r"[\x00-\x1f\x7f;\[\]#()\\\"'=<>{}$`]")
# Secrets may hold punctuation (& # + @ ...); only line breaks, NUL and the
# comment character could change the meaning of a config line.
_SECRET_UNSAFE = re.compile(r"[\x00-\x1f\x7f;]")
NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
SIP_USER = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")
NUMBER = re.compile(r"^\+?[0-9]{1,20}$")
PREFIX = re.compile(r"^[0-9+]{0,10}$")

class Secret:
    """A password that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


MISSING: Any = object()


class Reader:
    """Reads one YAML mapping, recording problems under dotted key names."""

    def __init__(self, data: object, prefix: str, problems: list[str]) -> None:
        self.prefix = prefix
        self.problems = problems
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.problem(prefix.rstrip("."), "must be a mapping")
            data = {}
        self.data: Mapping[str, Any] = data
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def raw(self, name: str, default: Any) -> Any:
        self.seen.add(name)
        value = self.data.get(name, default)
        if value is MISSING:
            self.problem(self.key(name), "is required")
        return value

    def section(self, name: str) -> Reader:
        return Reader(self.raw(name, {}), self.key(name) + ".", self.problems)

    def text(self, name: str, default: Any = MISSING, *, pattern: re.Pattern[str] | None = None,
             conf: bool = True) -> str:
        value = self.raw(name, default)
        if value is MISSING or (value is None and default is None):
            return ""
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.problem(self.key(name), "must be a string")
            return ""
        return self.check_text(self.key(name), value, pattern=pattern, conf=conf)

    def check_text(self, key: str, value: str, *, pattern: re.Pattern[str] | None,
                   conf: bool) -> str:
        if conf and _CONF_UNSAFE.search(value):
            self.problem(key, "contains a character that would change Asterisk config syntax "
                              "(line break, ; [ ] # ( ) = quotes, $ or similar)")
        elif pattern is not None and not pattern.match(value):
            self.problem(key, f"has an invalid value (expected {describe(pattern)})")
        return value

    def secret(self, name: str, default: Any = MISSING) -> Secret:
        value = self.raw(name, default)
        if value is MISSING or value is None:
            return Secret("")
        if not isinstance(value, str | int) or isinstance(value, bool):
            self.problem(self.key(name), "must be a string")
            return Secret("")
        value = str(value)
        if _SECRET_UNSAFE.search(value) or value != value.strip():
            self.problem(self.key(name), "may not contain line breaks, control characters, ';' "
                                         "or leading/trailing spaces")
        return Secret(value)

    def integer(self, name: str, default: Any, low: int, high: int) -> int:
        value = self.raw(name, default)
        if value is MISSING:
            return low
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(self.key(name), f"must be an integer from {low} to {high}")
            return low
        return value

    def number(self, name: str, default: Any, low: float, high: float) -> float:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not low <= value <= high:
            self.problem(self.key(name), f"must be a number from {low} to {high}")
            return low
        return float(value)

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            self.problem(self.key(name), "must be true or false")
            return default
        return value

    def texts(self, name: str, default: tuple[str, ...], *,
              pattern: re.Pattern[str] | None = None, conf: bool = True) -> tuple[str, ...]:
        value = self.raw(name, list(default))
        if not isinstance(value, list):
            self.problem(self.key(name), "must be a list")
            return ()
        out = []
        for index, item in enumerate(value):
            if isinstance(item, int) and not isinstance(item, bool):
                item = str(item)
            if not isinstance(item, str):
                self.problem(f"{self.key(name)}[{index}]", "must be a string")
                continue
            out.append(self.check_text(f"{self.key(name)}[{index}]", item, pattern=pattern,
                                       conf=conf))
        return tuple(out)

    def address(self, name: str, default: str) -> Address:
        value = self.text(name, default)
        host, sep, port = value.rpartition(":")
        if not sep or not HOST.match(host) or not port.isdigit() or not 0 < int(port) < 65536:
            self.problem(self.key(name), "must be HOST:PORT, e.g. 127.0.0.1:8080")
            return Address("127.0.0.1", 1)
        return Address(host, int(port))

    def finish(self) -> None:
        for extra in sorted(set(self.data) - self.seen, key=str):
            self.problem(self.key(str(extra)), "is not a known setting")


def describe(pattern: re.Pattern[str]) -> str:
    return {
        NAME: "letters, digits, '-' or '_', at most 40",
        HOST: "a host name or IP address",
        SIP_USER: "a SIP user name: letters, digits, '.', '_', '+', '-'",
        NUMBER: "digits with an optional leading '+'",
        PREFIX: "at most 10 digits or '+'",
    }.get(pattern, pattern.pattern)


def optional_path(text: str, base: Path) -> Path | None:
    """A path given relative to the settings file's folder, or None when not given."""
    return base / text if text else None
