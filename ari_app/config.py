"""Reading the config file into Settings: one function per section, every problem of the
whole file collected and reported together (ConfigError).

Every value that can reach an Asterisk `.conf` file is checked (config_reader.py), so
the templates can print values as they are: nothing that changes Asterisk config
syntax gets through.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

import yaml

from ari_app.asterisk_config import check_tls, read_asterisk
from ari_app.carrier_config import COUNTRY, read_carriers
from ari_app.carriers import Carrier
from ari_app.cluster.config import read_cluster
from ari_app.config_reader import HOST, MISSING, NAME, Address, Reader, optional_path
from ari_app.delivery import PLAIN, DeliveryOptions
from ari_app.delivery_options import parse_delivery
from ari_app.destinations import Policy, prefix_digits
from ari_app.errors import ConfigError, InvalidField
from ari_app.node_config import read_nodes
from ari_app.settings import (
    AmiSettings,
    AriSettings,
    BreakerSettings,
    CallbackSettings,
    CallSettings,
    DestinationSettings,
    LimitSettings,
    MediaSettings,
    Settings,
    TtsSettings,
    Window,
)
from ari_app.speech import ENGINES
from ari_app.store.config import read_storage
from ari_app.verify.config import read_verify

ENV_VAR = "ARI_APP_CONFIG"
DEFAULT_ENGINES = ("flite", "espeak-ng")
"""gTTS is left out by default: it needs the internet."""
_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s]*)?$")


def load(path: Path | str | None = None) -> Settings:
    """Load settings from `path`, or $ARI_APP_CONFIG; raise ConfigError listing every problem."""
    chosen = path or os.environ.get(ENV_VAR)
    if not chosen:
        raise ConfigError([f"no config file: pass --config FILE or set {ENV_VAR}"])
    file = Path(chosen)
    settings = parse(read_yaml(file), base=file.resolve().parent)
    return dataclasses.replace(settings, source=file.resolve())


def read_carriers_file(path: Path) -> object:
    """The carriers file's mapping; a missing file is no carriers yet."""
    try:
        return read_yaml(path) or {}
    except ConfigError as exc:
        if isinstance(exc.__cause__, FileNotFoundError):
            return {}
        raise


def read_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML ({yaml_problem(exc)})"]) from exc


def yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong and where, without the line itself: it may hold a password."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    return f"{problem}, line {mark.line + 1} column {mark.column + 1}" if mark else problem


def parse(data: object, *, base: Path, managed: object = None) -> Settings:
    """Turn the YAML document into Settings; relative paths are taken from `base`.

    `managed` replaces the content of `carriers_file` (to check a change before writing it).
    """
    problems: list[str] = []
    top = Reader(data, "", problems)
    ari = _ari(top.section("ari"))
    ami = _ami(top.section("ami"))
    asterisk, config_dir, nodes_raw = read_asterisk(top.section("asterisk"), base)
    nodes = read_nodes(nodes_raw, ari=top.raw("ari", {}), ami=top.raw("ami", {}), base=base,
                       problems=problems, read_ari=_ari, read_ami=_ami)
    listen = _listen(top.section("http"))
    storage_path, storage_url, key_file = read_storage(top.section("storage"), base)
    media = _media(top.section("media"), base)
    tts = _tts(top.section("tts"), base)
    calls = _calls(top.section("calls"))
    callbacks = _callbacks(top.section("callbacks"))
    destinations = _destinations(top.section("destinations"))
    limits = _limits(top.section("limits"))
    breaker = _breaker(top.section("breaker"))
    carriers, carriers_file, managed_ids = _carriers(top, base, managed)
    delivery = top.raw("delivery", None)
    verify = top.raw("verify", None)
    cluster = read_cluster(top.raw("cluster", None), port=listen.port,
                           shared=storage_url is not None, problems=problems)
    top.finish()
    check_tls(asterisk, carriers.values(), problems)
    if problems:
        raise ConfigError(problems)
    # A carrier's media_base_url host is allowed for fetching like media.allowed_hosts.
    bases = {urlsplit(c.media_base_url).hostname or "" for c in carriers.values()
             if c.media_base_url}
    media = dataclasses.replace(media, allowed_hosts=media.allowed_hosts | (bases - {""}))
    settings = Settings(
        ari=ari, ami=ami, asterisk=asterisk, listen=listen, storage_path=storage_path,
        storage_url=storage_url, media=media, tts=tts, calls=calls, callbacks=callbacks,
        destinations=destinations, limits=limits, breaker=breaker,
        carriers=MappingProxyType(carriers), carriers_file=carriers_file,
        managed=frozenset(managed_ids), config_dir=config_dir, key_file=key_file,
        nodes=nodes, cluster=cluster,
    )
    return read_verify(verify, dataclasses.replace(settings,
                                                   delivery=_delivery(delivery, settings)))


def _delivery(raw: object, settings: Settings) -> DeliveryOptions:
    """The deployment's delivery defaults, checked as a request's `delivery` is (its
    messages are spoken by the engines configured above)."""
    try:
        return parse_delivery(raw, base=PLAIN, settings=settings)
    except InvalidField as exc:
        raise ConfigError([f"{exc.field}: {exc.message}"]) from exc


def _ari(reader: Reader) -> AriSettings:
    ari = AriSettings(
        url=reader.text("url", "http://127.0.0.1:8088", conf=False),
        username=reader.text("username", "ari-app", pattern=NAME),
        password=reader.secret("password"),
        app=reader.text("app", "ari-app", pattern=NAME),
    )
    if not re.match(r"^https?://[^/\s?#]+/?$", ari.url):
        reader.problem(reader.key("url"), "must be http(s)://HOST:PORT (no path)")
    reader.finish()
    return ari


def _ami(reader: Reader) -> AmiSettings:
    ami = AmiSettings(
        host=reader.text("host", "127.0.0.1", pattern=HOST),
        port=reader.integer("port", 5038, 1, 65535),
        username=reader.text("username", "ari-app", pattern=NAME),
        secret=reader.secret("secret"),
    )
    reader.finish()
    return ami


def _listen(reader: Reader) -> Address:
    listen = reader.address("listen", "127.0.0.1:8080")
    reader.finish()
    return listen


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


def _tts(reader: Reader, base: Path) -> TtsSettings:
    tts = TtsSettings(
        engines=reader.texts("engines", DEFAULT_ENGINES),
        by_language=_engine_orders(reader.section("languages")),
        commands=_commands(reader.section("commands")),
        gtts_endpoint=reader.text("gtts_endpoint", None, conf=False) or None,
        asterisk_sounds=optional_path(reader.text("asterisk_sounds", None, conf=False), base),
        rate=reader.integer("rate", 150, 80, 400),
        timeout=reader.number("timeout", 10, 1, 120),
    )
    if tts.gtts_endpoint and not re.match(r"^https?://[^\s]+$", tts.gtts_endpoint):
        reader.problem("tts.gtts_endpoint", "must be an http(s) URL")
    for index, name in enumerate(tts.engines):
        if name not in ENGINES:
            reader.problem(f"tts.engines[{index}]",
                           f"unknown engine (known: {', '.join(ENGINES)})")
    if not tts.engines:
        reader.problem("tts.engines", "needs at least one engine")
    reader.finish()
    return tts


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


def _calls(reader: Reader) -> CallSettings:
    calls = CallSettings(
        ring_timeout=reader.integer("ring_timeout", 30, 5, 300),
        max_duration=reader.integer("max_duration", 300, 10, 3600),
        hangup_delay_ms=reader.integer("hangup_delay_ms", 700, 0, 5000),
        max_channels=reader.integer("max_channels", 200, 1, 10_000),
        queue_timeout=reader.integer("queue_timeout", 900, 10, 86_400),
        holdback_after=reader.integer("holdback_after", 3, 1, 100),
        holdback_seconds=reader.integer("holdback_seconds", 60, 1, 3600),
        drain_seconds=reader.integer("drain_seconds", 60, 0, 3600),
    )
    reader.finish()
    return calls


def _callbacks(reader: Reader) -> CallbackSettings:
    callbacks = CallbackSettings(
        url=reader.text("url", None, conf=False) or None,
        secret=reader.secret("secret") if reader.data.get("secret") is not None else None,
        timeout=reader.number("timeout", 5, 0.5, 60),
        give_up_after=reader.integer("give_up_after", 3600, 10, 7 * 86400),
    )
    if callbacks.url is not None and not _URL.match(callbacks.url):
        reader.problem("callbacks.url", "must be an http(s) URL")
    if callbacks.url is not None and callbacks.secret is None:
        reader.problem("callbacks.secret", "is required to sign callbacks")
    if callbacks.secret is not None and len(callbacks.secret.reveal()) < 16:
        reader.problem("callbacks.secret", "must be at least 16 characters")
    reader.finish()
    return callbacks


def _destinations(reader: Reader) -> DestinationSettings:
    national = reader.text("national_country", None, pattern=COUNTRY) or None
    destinations = DestinationSettings(
        policy=Policy(
            allowed=_prefixes(reader, "allowed_countries"),
            allow_ranges=_prefixes(reader, "allow_ranges"),
            deny=_prefixes(reader, "deny"),
        ),
        national_country=national,
    )
    reader.finish()
    return destinations


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


def _limits(reader: Reader) -> LimitSettings:
    limits = LimitSettings(
        per_number=_windows(reader, "per_number", ((3, 600), (5, 3600))),
        per_prefix=_windows(reader, "per_prefix", ((20, 3600),)),
        prefix_drop=reader.integer("prefix_drop", 3, 1, 8),
        per_key=_windows(reader, "per_key", ((120, 60),)),
        per_client=_windows(reader, "per_client", ((60, 60),)),
    )
    reader.finish()
    return limits


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


def _breaker(reader: Reader) -> BreakerSettings:
    spend = reader.raw("max_spend_per_hour", None)
    breaker = BreakerSettings(
        max_calls_per_minute=reader.integer("max_calls_per_minute", 120, 1, 100_000),
        max_spend_per_hour=None if spend is None
        else reader.number("max_spend_per_hour", None, 0.01, 1e9),
        cost_per_call=_costs(reader.section("cost_per_call")),
    )
    reader.finish()
    return breaker


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


def _carriers(top: Reader, base: Path,
              managed: object) -> tuple[dict[str, Carrier], Path | None, set[str]]:
    """The carriers of the main file and of `carriers_file` (or of `managed`, which
    stands in for it), the file's path, and the ids that come from it."""
    carriers = read_carriers(top.section("carriers"))
    file_text = top.text("carriers_file", None, conf=False)
    carriers_file = base / file_text if file_text else None
    if carriers_file is None:
        if managed is not None:
            top.problems.append("carriers_file: not set, so carriers cannot be managed "
                                "through the API")
        return carriers, None, set()
    if managed is None:
        try:
            managed = read_carriers_file(carriers_file)
        except ConfigError as exc:
            top.problems.extend(exc.problems)
            managed = {}
    extra = read_carriers(Reader(managed, "carriers.", top.problems))
    for carrier_id in sorted(set(extra) & set(carriers)):
        top.problems.append(f"carriers.{carrier_id}: defined both in the main config and in "
                            f"{carriers_file.name}")
    return carriers | extra, carriers_file, set(extra)
