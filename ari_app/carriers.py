"""A carrier: one SIP trunk the service dials out through, its limits and its dial rules,
and how one is read from the config (`carriers.<id>`).

Every value that reaches `pjsip.conf` is checked while reading (config_reader.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ari_app.config_reader import HOST, NAME, NUMBER, PREFIX, SIP_USER, Reader, Secret

CODECS = frozenset({"ulaw", "alaw", "g722", "gsm", "opus", "g729", "slin"})
# TLS needs certificate settings this version does not render yet.
TRANSPORTS = frozenset({"udp", "tcp"})
DTMF_MODES = frozenset({"rfc4733", "info", "inband", "auto", "auto_info"})
NUMBER_FORMATS = frozenset({"e164", "00", "digits", "national"})
COUNTRY = re.compile(r"^([1-9][0-9]{0,2})?$")
"""A country calling code (1 to 3 digits), or nothing."""
_MEDIA_BASE = re.compile(r"^https?://[^/\s?#]+/[^\s?#]*$")


@dataclass(frozen=True)
class Carrier:
    id: str
    host: str
    port: int
    transport: str
    username: str | None
    password: Secret | None
    register: bool
    codecs: tuple[str, ...]
    prefix: str
    caller_ids: tuple[str, ...]
    media_base_url: str | None = None
    """Relative playlist paths of this carrier's calls are taken under this URL."""
    name: str = ""
    number_format: str = "e164"
    country_code: str = ""
    national_prefix: str = "0"
    max_channels: int = 30
    max_cps: float = 10.0
    priority: int = 100
    failover_group: str | None = None
    dtmf_mode: str = "rfc4733"
    """How the carrier sends key presses: RTP events (RFC 4733, the usual), SIP INFO,
    in the audio, or `auto` (RFC 4733 when offered, else in the audio)."""

    def dial_number(self, number: str) -> str:
        """The number as this carrier wants it, with its tech prefix.

        Numbers given with '+' are E.164 and are rewritten per `number_format`;
        numbers without '+' are passed as they are.
        """
        if number.startswith("+") and self.number_format != "e164":
            digits = number[1:]
            if self.number_format == "digits":
                number = digits
            elif self.number_format == "national" and digits.startswith(self.country_code):
                number = self.national_prefix + digits[len(self.country_code):]
            else:
                number = "00" + digits
        return f"{self.prefix}{number}"

    @property
    def trunk(self) -> str:
        """The PJSIP endpoint/aor/auth name of this carrier in Asterisk."""
        return f"carrier-{self.id}"

    @property
    def default_caller_id(self) -> str | None:
        return self.caller_ids[0] if self.caller_ids else None

    def caller_id_for(self, requested: str) -> str:
        """The requested caller ID if this carrier allows it, else its own first one (a
        call that failed over keeps a caller ID the next carrier takes)."""
        if not self.caller_ids or requested in self.caller_ids:
            return requested
        return self.default_caller_id or ""


def read_carriers(reader: Reader) -> dict[str, Carrier]:
    """Every carrier of a `carriers` mapping, by id; problems go to the reader."""
    carriers = {}
    for raw_id in reader.data:
        carrier_id = str(raw_id)
        if not NAME.match(carrier_id):
            reader.problem(reader.key(carrier_id), "carrier ids are letters, digits, '-' or '_'")
        carriers[carrier_id] = _carrier(carrier_id, reader.section(raw_id))
    reader.seen.update(reader.data)
    return carriers


def _carrier(carrier_id: str, c: Reader) -> Carrier:
    username = c.text("username", None, pattern=SIP_USER) if "username" in c.data else None
    password = c.secret("password") if "password" in c.data else None
    carrier = Carrier(
        id=carrier_id,
        host=c.text("host", pattern=HOST),
        port=c.integer("port", 5060, 1, 65535),
        transport=c.text("transport", "udp"),
        username=username,
        password=password,
        register=c.flag("register", False),
        codecs=c.texts("codecs", ("ulaw", "alaw")),
        prefix=c.text("prefix", "", pattern=PREFIX),
        caller_ids=c.texts("caller_ids", (), pattern=NUMBER),
        media_base_url=c.text("media_base_url", None, conf=False) or None,
        name=c.text("name", "", conf=False)[:100],
        number_format=c.text("number_format", "e164"),
        country_code=c.text("country_code", "", pattern=COUNTRY),
        national_prefix=c.text("national_prefix", "0", pattern=PREFIX),
        max_channels=c.integer("max_channels", 30, 1, 10_000),
        max_cps=c.number("max_cps", 10, 0.1, 1000),
        priority=c.integer("priority", 100, 0, 1000),
        failover_group=c.text("failover_group", None, pattern=NAME) or None,
        dtmf_mode=c.text("dtmf_mode", "rfc4733"),
    )
    if carrier.dtmf_mode not in DTMF_MODES:
        c.problem(c.key("dtmf_mode"), f"must be one of {', '.join(sorted(DTMF_MODES))}")
    if carrier.number_format not in NUMBER_FORMATS:
        c.problem(c.key("number_format"), f"must be one of {', '.join(sorted(NUMBER_FORMATS))}")
    if carrier.number_format == "national" and not carrier.country_code:
        c.problem(c.key("country_code"), "is required for number_format national")
    if any(ch in carrier.name for ch in "\r\n\x00"):
        c.problem(c.key("name"), "must be one line")
    base = carrier.media_base_url
    if base is not None and (not _MEDIA_BASE.match(base) or not base.endswith("/")):
        c.problem(c.key("media_base_url"), "must be an http(s) URL ending with '/'")
    if carrier.transport not in TRANSPORTS:
        c.problem(c.key("transport"), f"must be one of {', '.join(sorted(TRANSPORTS))}")
    for index, codec in enumerate(carrier.codecs):
        if codec not in CODECS:
            c.problem(f"{c.key('codecs')}[{index}]",
                      f"unknown codec '{codec}' (known: {', '.join(sorted(CODECS))})")
    if not carrier.codecs:
        c.problem(c.key("codecs"), "needs at least one codec")
    if carrier.register and not (username and password):
        c.problem(c.key("register"), "registration needs username and password")
    if (username is None) != (password is None):
        c.problem(c.key("password"), "username and password go together")
    c.finish()
    return carrier
