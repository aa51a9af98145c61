"""Reading a carrier from the config (`carriers.<id>`): its dial rules, its limits, and
either the trunk options we render or the name of an endpoint the PBX already has.

Every value that reaches `pjsip.conf` or an INVITE is checked here (config_reader.py).
"""

from __future__ import annotations

import re

from ari_app.carriers import TRUNK_PREFIX, Carrier
from ari_app.config_reader import HOST, NAME, NUMBER, PREFIX, SIP_USER, Reader

CODECS = frozenset({"ulaw", "alaw", "g722", "gsm", "opus", "g729", "slin"})
TRANSPORTS = frozenset({"udp", "tcp", "tls"})
DTMF_MODES = frozenset({"rfc4733", "info", "inband", "auto", "auto_info"})
NUMBER_FORMATS = frozenset({"e164", "00", "digits", "national"})
MEDIA_ENCRYPTIONS = frozenset({"none", "sdes"})
CALLER_ID_HEADERS = frozenset({"pai", "rpid", "both", "none"})
HEADER_NAMES = frozenset({"P-Charge-Info", "P-Preferred-Service", "P-Asserted-Service",
                          "User-to-User"})
"""Headers a carrier may have added to every INVITE besides any `X-…` header: account and
service hints some carriers ask for. Headers that change routing or identity are ours."""
COUNTRY = re.compile(r"^([1-9][0-9]{0,2})?$")
"""A country calling code (1 to 3 digits), or nothing."""
ENDPOINT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
"""A PJSIP object name that fits in a dial string (`PJSIP/<number>@<endpoint>`)."""
_X_HEADER = re.compile(r"^X-[A-Za-z0-9-]{1,60}$")
_HEADER_VALUE = re.compile(r"^[\x20-\x7e]{1,256}$")
_SIP_URI = re.compile(r"^sips?:[A-Za-z0-9.-]+(:[0-9]{1,5})?(;[a-z]+(=[A-Za-z0-9.-]+)?)*$")
_MEDIA_BASE = re.compile(r"^https?://[^/\s?#]+/[^\s?#]*$")
_OWN_HEADERS = frozenset({"x-ari-app-request"})
_RENDERED_ONLY = ("host", "port", "transport", "username", "password", "register", "codecs",
                  "dtmf_mode", "media_encryption", "outbound_proxy", "from_user",
                  "from_domain", "caller_id_header", "qualify_frequency")
"""Options of the PJSIP objects we render: for an existing endpoint they are the PBX's."""


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
    existing = "endpoint" in c.data
    if existing:
        for key in _RENDERED_ONLY:
            if key in c.data:
                c.problem(c.key(key), "is the PBX's own setting for an existing endpoint: set "
                                      "it there, or drop `endpoint` to have it rendered")
    username = c.text("username", None, pattern=SIP_USER) if "username" in c.data else None
    password = c.secret("password") if "password" in c.data else None
    carrier = Carrier(
        id=carrier_id,
        host=c.text("host", None, pattern=HOST) if existing else c.text("host", pattern=HOST),
        port=c.integer("port", 5061 if c.data.get("transport") == "tls" else 5060, 1, 65535),
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
        endpoint=c.text("endpoint", None, pattern=ENDPOINT) or None,
        registration=c.text("registration", None, pattern=ENDPOINT) or None,
        media_encryption=c.text("media_encryption", "none"),
        outbound_proxy=c.text("outbound_proxy", None, pattern=_SIP_URI, conf=False) or None,
        from_user=c.text("from_user", None, pattern=SIP_USER) or None,
        from_domain=c.text("from_domain", None, pattern=HOST) or None,
        caller_id_header=c.text("caller_id_header", "pai"),
        caller_id_privacy=c.flag("caller_id_privacy", False),
        qualify_frequency=c.integer("qualify_frequency", 60, 0, 3600),
        headers=_headers(c.section("headers")),
    )
    _check(carrier, c)
    c.finish()
    return carrier


def _headers(h: Reader) -> tuple[tuple[str, str], ...]:
    headers = []
    for name in h.data:
        key = h.key(str(name))
        if not isinstance(name, str) or not (name in HEADER_NAMES or _X_HEADER.match(name)) \
                or name.lower() in _OWN_HEADERS:
            h.problem(key, f"is not a header we send (allowed: X-…, "
                           f"{', '.join(sorted(HEADER_NAMES))})")
            continue
        value = h.text(name, pattern=_HEADER_VALUE, conf=False)
        if "$" in value or "," in value:  # a precaution: nothing in them is evaluated
            h.problem(key, "may not contain '$' or ','")
        headers.append((name, value))
    h.seen.update(h.data)
    return tuple(headers)


def _check(carrier: Carrier, c: Reader) -> None:
    def one_of(key: str, value: str, allowed: frozenset[str]) -> None:
        if value not in allowed:
            c.problem(c.key(key), f"must be one of {', '.join(sorted(allowed))}")

    one_of("dtmf_mode", carrier.dtmf_mode, DTMF_MODES)
    one_of("number_format", carrier.number_format, NUMBER_FORMATS)
    one_of("transport", carrier.transport, TRANSPORTS)
    one_of("media_encryption", carrier.media_encryption, MEDIA_ENCRYPTIONS)
    one_of("caller_id_header", carrier.caller_id_header, CALLER_ID_HEADERS)
    if carrier.number_format == "national" and not carrier.country_code:
        c.problem(c.key("country_code"), "is required for number_format national")
    if any(ch in carrier.name for ch in "\r\n\x00"):
        c.problem(c.key("name"), "must be one line")
    base = carrier.media_base_url
    if base is not None and (not _MEDIA_BASE.match(base) or not base.endswith("/")):
        c.problem(c.key("media_base_url"), "must be an http(s) URL ending with '/'")
    for index, codec in enumerate(carrier.codecs):
        if codec not in CODECS:
            c.problem(f"{c.key('codecs')}[{index}]",
                      f"unknown codec '{codec}' (known: {', '.join(sorted(CODECS))})")
    if not carrier.codecs:
        c.problem(c.key("codecs"), "needs at least one codec")
    if carrier.register and not (carrier.username and carrier.password):
        c.problem(c.key("register"), "registration needs username and password")
    if (carrier.username is None) != (carrier.password is None):
        c.problem(c.key("password"), "username and password go together")
    if carrier.media_encryption == "sdes" and carrier.transport != "tls" and carrier.rendered:
        c.problem(c.key("media_encryption"), "sdes sends the SRTP keys in the SDP: only over "
                                             "transport tls")
    if carrier.caller_id_privacy and carrier.caller_id_header == "none":
        c.problem(c.key("caller_id_privacy"), "a withheld caller ID still goes to the carrier "
                                              "in PAI or RPID: caller_id_header may not be none")
    if carrier.endpoint is not None and carrier.endpoint.startswith(TRUNK_PREFIX):
        c.problem(c.key("endpoint"), f"names starting '{TRUNK_PREFIX}' are the ones we render")
    if carrier.registration is not None and carrier.endpoint is None:
        c.problem(c.key("registration"), "goes with `endpoint`; a rendered carrier's "
                                         "registration is `register`")
