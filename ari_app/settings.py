"""Settings: one YAML file, parsed once into frozen, typed values.

Every problem in the file is collected and reported together. Every value that
can reach an Asterisk `.conf` file is checked (config_reader.py), so the templates
can print values as they are: nothing that changes Asterisk config syntax gets through.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

import yaml

from ari_app.config_reader import (
    HOST,
    MISSING,
    NAME,
    NUMBER,
    PREFIX,
    SIP_USER,
    Address,
    Reader,
    Secret,
)
from ari_app.destinations import Policy, prefix_digits
from ari_app.errors import ConfigError
from ari_app.speech import ENGINES

# gTTS is left out by default: it needs the internet.
DEFAULT_ENGINES = ("flite", "espeak-ng")

ENV_VAR = "ARI_APP_CONFIG"

CODECS = frozenset({"ulaw", "alaw", "g722", "gsm", "opus", "g729", "slin"})
# TLS needs certificate settings this version does not render yet.
TRANSPORTS = frozenset({"udp", "tcp"})
COUNTRY = re.compile(r"^([1-9][0-9]{0,2})?$")
URL = re.compile(r"^https?://[^\s/?#]+(/[^\s]*)?$")
NUMBER_FORMATS = frozenset({"e164", "00", "digits", "national"})


@dataclass(frozen=True)
class AriSettings:
    url: str
    username: str
    password: Secret
    app: str


@dataclass(frozen=True)
class AmiSettings:
    host: str
    port: int
    username: str
    secret: Secret


@dataclass(frozen=True)
class AsteriskSettings:
    """Where the rendered Asterisk config makes Asterisk listen."""

    sip: Address
    http: Address
    ami: Address


@dataclass(frozen=True)
class MediaSettings:
    dir: Path
    asterisk_dir: str
    allowed_hosts: frozenset[str]
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    host_map: Mapping[str, Address]
    fetch_timeout: float
    max_bytes: int
    cache_seconds: int


@dataclass(frozen=True)
class TtsSettings:
    engines: tuple[str, ...]
    by_language: Mapping[str, tuple[str, ...]]
    commands: Mapping[str, str]
    gtts_endpoint: str | None
    asterisk_sounds: Path | None
    rate: int
    timeout: float


@dataclass(frozen=True)
class CallSettings:
    ring_timeout: int
    max_duration: int
    hangup_delay_ms: int
    max_channels: int
    """Global cap on live calls, whatever the carriers allow: protects Asterisk."""
    queue_timeout: int
    """A call still queued after this many seconds ends failed (`queue-timeout`)."""
    holdback_after: int
    """Consecutive failed attempts (503, 5xx, no SIP answer) before a carrier is held back."""
    holdback_seconds: int


@dataclass(frozen=True)
class CallbackSettings:
    url: str | None
    """Default callback URL for requests that name none."""
    secret: Secret | None
    timeout: float
    give_up_after: int


@dataclass(frozen=True)
class Window:
    calls: int
    seconds: int


@dataclass(frozen=True)
class LimitSettings:
    """Velocity limits: at most `calls` in any `seconds`, per key of each kind."""

    per_number: tuple[Window, ...]
    per_prefix: tuple[Window, ...]
    prefix_drop: int
    """The prefix of a number is the number without its last `prefix_drop` digits."""
    per_key: tuple[Window, ...]
    per_client: tuple[Window, ...]


@dataclass(frozen=True)
class BreakerSettings:
    max_calls_per_minute: int
    max_spend_per_hour: float | None
    cost_per_call: Mapping[str, float]
    """Estimated cost of one call by destination prefix (longest match); `default` else."""


@dataclass(frozen=True)
class DestinationSettings:
    policy: Policy
    national_country: str | None


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

    def dial_string(self, number: str) -> str:
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


@dataclass(frozen=True)
class Settings:
    ari: AriSettings
    ami: AmiSettings
    asterisk: AsteriskSettings
    listen: Address
    storage_path: Path
    media: MediaSettings
    tts: TtsSettings
    calls: CallSettings
    callbacks: CallbackSettings
    carriers: Mapping[str, Carrier]
    destinations: DestinationSettings = DestinationSettings(Policy(()), None)
    limits: LimitSettings = LimitSettings((), (), 3, (), ())
    breaker: BreakerSettings = BreakerSettings(120, None, MappingProxyType({"default": 0.05}))
    carriers_file: Path | None = None
    """The YAML file of carriers the API manages (`POST /carriers`...)."""
    managed: frozenset[str] = frozenset()
    """Ids of the carriers that come from `carriers_file`."""
    config_dir: Path | None = None
    """Where the rendered Asterisk config is written when carriers change."""
    source: Path | None = None
    """The main config file these settings were loaded from."""


class Current:
    """The settings in force: replaced whole when carriers change through the API."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings


def load(path: Path | str | None = None) -> Settings:
    """Load settings from `path`, or $ARI_APP_CONFIG; raise ConfigError listing every problem."""
    chosen = path or os.environ.get(ENV_VAR)
    if not chosen:
        raise ConfigError([f"no config file: pass --config FILE or set {ENV_VAR}"])
    file = Path(chosen)
    settings = parse(_read_yaml(file), base=file.resolve().parent)
    return dataclasses.replace(settings, source=file.resolve())


def read_carriers_file(path: Path) -> object:
    """The carriers file's mapping; a missing file is no carriers yet."""
    try:
        return _read_yaml(path) or {}
    except ConfigError as exc:
        if isinstance(exc.__cause__, FileNotFoundError):
            return {}
        raise


def _read_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML ({exc})"]) from exc


def parse(data: object, *, base: Path, managed: object = None) -> Settings:
    """Turn the YAML document into Settings; relative paths are taken from `base`.

    `managed` replaces the content of `carriers_file` (to check a change before writing it).
    """
    problems: list[str] = []
    top = Reader(data, "", problems)

    ari_r = top.section("ari")
    ari = AriSettings(
        url=ari_r.text("url", "http://127.0.0.1:8088", conf=False),
        username=ari_r.text("username", "ari-app", pattern=NAME),
        password=ari_r.secret("password"),
        app=ari_r.text("app", "ari-app", pattern=NAME),
    )
    if not re.match(r"^https?://[^/\s?#]+/?$", ari.url):
        ari_r.problem(ari_r.key("url"), "must be http(s)://HOST:PORT (no path)")
    ari_r.finish()

    ami_r = top.section("ami")
    ami = AmiSettings(
        host=ami_r.text("host", "127.0.0.1", pattern=HOST),
        port=ami_r.integer("port", 5038, 1, 65535),
        username=ami_r.text("username", "ari-app", pattern=NAME),
        secret=ami_r.secret("secret"),
    )
    ami_r.finish()

    ast_r = top.section("asterisk")
    asterisk = AsteriskSettings(
        sip=ast_r.address("sip", "127.0.0.1:5060"),
        http=ast_r.address("http", "127.0.0.1:8088"),
        ami=ast_r.address("ami", "127.0.0.1:5038"),
    )
    config_dir = _optional_path(ast_r.text("config_dir", None, conf=False), base)
    ast_r.finish()

    http_r = top.section("http")
    listen = http_r.address("listen", "127.0.0.1:8080")
    http_r.finish()

    storage_r = top.section("storage")
    storage_path = base / storage_r.text("path", "var/ari-app.sqlite3", conf=False)
    storage_r.finish()

    media = _media(top.section("media"), base)
    tts_r = top.section("tts")
    tts = TtsSettings(
        engines=tts_r.texts("engines", DEFAULT_ENGINES),
        by_language=_engine_orders(tts_r.section("languages")),
        commands=_commands(tts_r.section("commands")),
        gtts_endpoint=tts_r.text("gtts_endpoint", None, conf=False) or None,
        asterisk_sounds=_optional_path(tts_r.text("asterisk_sounds", None, conf=False), base),
        rate=tts_r.integer("rate", 150, 80, 400),
        timeout=tts_r.number("timeout", 10, 1, 120),
    )
    if tts.gtts_endpoint and not re.match(r"^https?://[^\s]+$", tts.gtts_endpoint):
        tts_r.problem("tts.gtts_endpoint", "must be an http(s) URL")
    for index, name in enumerate(tts.engines):
        if name not in ENGINES:
            tts_r.problem(f"tts.engines[{index}]", f"unknown engine (known: {', '.join(ENGINES)})")
    if not tts.engines:
        tts_r.problem("tts.engines", "needs at least one engine")
    tts_r.finish()

    calls_r = top.section("calls")
    calls = CallSettings(
        ring_timeout=calls_r.integer("ring_timeout", 30, 5, 300),
        max_duration=calls_r.integer("max_duration", 300, 10, 3600),
        hangup_delay_ms=calls_r.integer("hangup_delay_ms", 700, 0, 5000),
        max_channels=calls_r.integer("max_channels", 200, 1, 10_000),
        queue_timeout=calls_r.integer("queue_timeout", 900, 10, 86_400),
        holdback_after=calls_r.integer("holdback_after", 3, 1, 100),
        holdback_seconds=calls_r.integer("holdback_seconds", 60, 1, 3600),
    )
    calls_r.finish()

    cb_r = top.section("callbacks")
    callbacks = CallbackSettings(
        url=cb_r.text("url", None, conf=False) or None,
        secret=cb_r.secret("secret") if cb_r.data.get("secret") is not None else None,
        timeout=cb_r.number("timeout", 5, 0.5, 60),
        give_up_after=cb_r.integer("give_up_after", 3600, 10, 7 * 86400),
    )
    if callbacks.url is not None and not URL.match(callbacks.url):
        cb_r.problem("callbacks.url", "must be an http(s) URL")
    if callbacks.url is not None and callbacks.secret is None:
        cb_r.problem("callbacks.secret", "is required to sign callbacks")
    if callbacks.secret is not None and len(callbacks.secret.reveal()) < 16:
        cb_r.problem("callbacks.secret", "must be at least 16 characters")
    cb_r.finish()

    dest_r = top.section("destinations")
    national = dest_r.text("national_country", None, pattern=COUNTRY) or None
    destinations = DestinationSettings(
        policy=Policy(
            allowed=_prefixes(dest_r, "allowed_countries"),
            allow_ranges=_prefixes(dest_r, "allow_ranges"),
            deny=_prefixes(dest_r, "deny"),
        ),
        national_country=national,
    )
    dest_r.finish()

    lim_r = top.section("limits")
    limits = LimitSettings(
        per_number=_windows(lim_r, "per_number", ((3, 600), (5, 3600))),
        per_prefix=_windows(lim_r, "per_prefix", ((20, 3600),)),
        prefix_drop=lim_r.integer("prefix_drop", 3, 1, 8),
        per_key=_windows(lim_r, "per_key", ((120, 60),)),
        per_client=_windows(lim_r, "per_client", ((60, 60),)),
    )
    lim_r.finish()

    br_r = top.section("breaker")
    spend = br_r.raw("max_spend_per_hour", None)
    breaker = BreakerSettings(
        max_calls_per_minute=br_r.integer("max_calls_per_minute", 120, 1, 100_000),
        max_spend_per_hour=None if spend is None
        else br_r.number("max_spend_per_hour", None, 0.01, 1e9),
        cost_per_call=_costs(br_r.section("cost_per_call")),
    )
    br_r.finish()

    carriers = _carriers(top.section("carriers"))
    file_text = top.text("carriers_file", None, conf=False)
    carriers_file = base / file_text if file_text else None
    managed_ids: set[str] = set()
    if carriers_file is not None:
        if managed is None:
            try:
                managed = read_carriers_file(carriers_file)
            except ConfigError as exc:
                problems.extend(exc.problems)
                managed = {}
        extra = _carriers(Reader(managed, "carriers.", problems))
        for carrier_id in sorted(set(extra) & set(carriers)):
            problems.append(f"carriers.{carrier_id}: defined both in the main config and in "
                            f"{carriers_file.name}")
        managed_ids = set(extra)
        carriers |= extra
    elif managed is not None:
        problems.append("carriers_file: not set, so carriers cannot be managed through the API")
    top.finish()
    if problems:
        raise ConfigError(problems)
    # A carrier's media_base_url host is allowed for fetching like media.allowed_hosts.
    bases = {urlsplit(c.media_base_url).hostname or "" for c in carriers.values()
             if c.media_base_url}
    media = dataclasses.replace(media, allowed_hosts=media.allowed_hosts | (bases - {""}))
    return Settings(
        ari=ari, ami=ami, asterisk=asterisk, listen=listen, storage_path=storage_path,
        media=media, tts=tts, calls=calls, callbacks=callbacks,
        destinations=destinations, limits=limits, breaker=breaker,
        carriers=MappingProxyType(carriers), carriers_file=carriers_file,
        managed=frozenset(managed_ids), config_dir=config_dir,
    )


def _prefixes(reader: Reader, name: str) -> tuple[str, ...]:
    """Number prefixes given as "+44", "44" or "+1 900": kept as digits only."""
    out = []
    for index, text in enumerate(reader.texts(name, (), conf=False)):
        digits = prefix_digits(text)
        if digits is None:
            reader.problem(f"{reader.key(name)}[{index}]", "must be a number prefix like +44")
            continue
        out.append(digits)
    return tuple(out)


def _windows(reader: Reader, name: str, default: tuple[tuple[int, int], ...]) -> tuple[Window, ...]:
    """A list of {calls: N, seconds: S}; an empty list turns the limit off."""
    raw = reader.raw(name, [{"calls": c, "seconds": s} for c, s in default])
    if not isinstance(raw, list):
        reader.problem(reader.key(name), "must be a list of {calls: N, seconds: S}")
        return ()
    windows = []
    for index, item in enumerate(raw):
        w = Reader(item, f"{reader.key(name)}[{index}].", reader.problems)
        windows.append(Window(calls=w.integer("calls", MISSING, 1, 1_000_000),
                              seconds=w.integer("seconds", MISSING, 1, 30 * 86400)))
        w.finish()
    return tuple(windows)


def _costs(reader: Reader) -> Mapping[str, float]:
    costs = {"default": 0.05}
    for prefix in reader.data:
        key = str(prefix)
        digits = key.lstrip("+")
        if key != "default" and not digits.isdigit():
            reader.problem(reader.key(key), "keys are number prefixes like +44, or default")
            continue
        costs["default" if key == "default" else digits] = reader.number(prefix, 0, 0, 1000)
    return MappingProxyType(costs)


def _optional_path(text: str, base: Path) -> Path | None:
    return base / text if text else None


def _engine_orders(reader: Reader) -> Mapping[str, tuple[str, ...]]:
    """tts.languages: an engine order of its own for some languages (`es: [gtts, espeak-ng]`)."""
    orders = {}
    for tag in reader.data:
        order = reader.texts(tag, ())
        for index, name in enumerate(order):
            if name not in ENGINES:
                reader.problem(f"{reader.key(str(tag))}[{index}]",
                               f"unknown engine (known: {', '.join(ENGINES)})")
        if not order:
            reader.problem(reader.key(str(tag)), "needs at least one engine")
        orders[str(tag).lower()] = order
    return MappingProxyType(orders)


def _commands(reader: Reader) -> Mapping[str, str]:
    """Where each engine's program is, when not on PATH under its own name."""
    commands = {}
    for name in ENGINES:
        if name in reader.data:
            commands[name] = reader.text(name, conf=False)
            if not commands[name].startswith("/"):
                reader.problem(reader.key(name), "must be an absolute path")
    reader.finish()
    return MappingProxyType(commands)


def _media(reader: Reader, base: Path) -> MediaSettings:
    directory = base / reader.text("dir", "var/media", conf=False)
    asterisk_dir = reader.text("asterisk_dir", str(directory), conf=False) or str(directory)
    hosts = reader.texts("allowed_hosts", (), pattern=HOST)
    networks = []
    for index, text in enumerate(reader.texts("allowed_networks", (), conf=False)):
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            reader.problem(f"{reader.key('allowed_networks')}[{index}]",
                           "must be an address or network, e.g. 10.1.2.0/24")
    host_map: dict[str, Address] = {}
    map_r = reader.section("host_map")
    for host in map_r.data:
        if not isinstance(host, str) or not HOST.match(host):
            map_r.problem(map_r.key(str(host)), "must be keyed by a host name")
            continue
        host_map[host.lower()] = map_r.address(host, "")
    map_r.finish()
    settings = MediaSettings(
        dir=directory,
        asterisk_dir=asterisk_dir.rstrip("/"),
        allowed_hosts=frozenset(h.lower() for h in hosts),
        allowed_networks=tuple(networks),
        host_map=MappingProxyType(host_map),
        fetch_timeout=reader.number("fetch_timeout", 10, 0.5, 120),
        max_bytes=reader.integer("max_bytes", 5_000_000, 1_000, 100_000_000),
        cache_seconds=reader.integer("cache_seconds", 3600, 0, 30 * 86400),
    )
    reader.finish()
    return settings


def _carriers(reader: Reader) -> dict[str, Carrier]:
    carriers = {}
    for raw_id in reader.data:
        carrier_id = str(raw_id)
        if not NAME.match(carrier_id):
            reader.problem(reader.key(carrier_id), "carrier ids are letters, digits, '-' or '_'")
        c = reader.section(raw_id)
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
        )
        if carrier.number_format not in NUMBER_FORMATS:
            c.problem(c.key("number_format"),
                      f"must be one of {', '.join(sorted(NUMBER_FORMATS))}")
        if carrier.number_format == "national" and not carrier.country_code:
            c.problem(c.key("country_code"), "is required for number_format national")
        if any(ch in carrier.name for ch in "\r\n\x00"):
            c.problem(c.key("name"), "must be one line")
        base = carrier.media_base_url
        if base is not None and (not re.match(r"^https?://[^/\s?#]+/[^\s?#]*$", base)
                                 or not base.endswith("/")):
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
        carriers[carrier_id] = carrier
    reader.seen.update(reader.data)
    return carriers
