"""The service's settings: frozen, typed values, parsed once from one YAML file (config.py).

Sections as in the file: `ari`, `ami`, `asterisk`, `http`, `storage`, `media`, `tts`,
`calls`, `callbacks`, `destinations`, `limits`, `breaker`, `verify` and `carriers`
(carriers.py).
`Current` holds the settings in force.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from ari_app.carriers import Carrier
from ari_app.config_reader import Address, Secret
from ari_app.delivery import PLAIN, DeliveryOptions
from ari_app.destinations import Policy


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
class TlsSettings:
    """The PBX's TLS transport for carriers reached over TLS (`asterisk.tls`). Paths are
    as Asterisk sees them."""

    listen: Address
    ca_file: str
    """The authorities a carrier's certificate must chain to."""
    verify_server: bool
    """Check the carrier's certificate and that it names the host we dial."""
    cert_file: str = ""
    key_file: str = ""
    """Our own certificate, for carriers that ask for one."""
    method: str = "tlsv1_2"
    """The transport's `method`: the TLS version spoken. Left unset, PJSIP speaks TLS 1.0,
    which carriers refuse (and should)."""


LAYOUTS = ("asterisk", "include", "freepbx")
"""The sets of files `render` can write (layouts.py): Asterisk's own `.conf` files whole,
only our objects for an admin's files to include, or only the custom files a FreePBX
includes."""


@dataclass(frozen=True)
class AsteriskSettings:
    """Where the rendered Asterisk config makes Asterisk listen."""

    sip: Address
    http: Address
    ami: Address
    tls: TlsSettings | None = None
    pjsip_includes: tuple[str, ...] = ()
    """The PBX's own files our pjsip.conf includes, so its objects survive every render."""
    templates: Path | None = None
    """A folder of templates that shadow the packaged ones, for every render (the CLI's and
    carrier changes')."""
    transports: Mapping[str, str] = field(default_factory=dict)
    """The PBX's own transport to use for a protocol (`udp: transport-udp`): we render none
    for that protocol, so nothing binds its port twice."""
    layout: str = "asterisk"
    """One of LAYOUTS: what `render` writes by default, and carrier changes rewrite."""
    freepbx_transport_ip: str = "0.0.0.0"
    """With the freepbx layout our endpoints use FreePBX's own transports, which it names
    `<bind ip>-<protocol>` (`0.0.0.0-udp`): the IP of those names."""


@dataclass(frozen=True)
class NodeSettings:
    """One Asterisk node the service places calls on: its ARI and AMI, and where carrier
    changes are rendered for it."""

    name: str
    ari: AriSettings
    ami: AmiSettings
    config_dir: Path | None = None


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
    drain_seconds: int = 60
    """On SIGTERM, how long live calls may go on to their end before the service stops
    (queued ones stay queued for the next start)."""


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
class FraudSettings:
    """When a destination prefix converts too little (verifications approved / started):
    the pattern that traffic pumping (IRSF) leaves behind."""

    prefix_digits: int = 5
    """A number's prefix: its first digits, country code included."""
    window: int = 3600
    grace: int = 300
    """Verifications younger than this are not counted yet: their callee may still check."""
    min_volume: int = 20
    min_rate: float = 0.2
    block_seconds: int = 0
    """Refuse new verifications to such a prefix this long; 0: alert only."""


@dataclass(frozen=True)
class VerifySettings:
    carrier: str | None = None
    """The carrier of a verification that names none."""
    default_locale: str = "en-US"
    locales: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Country calling code -> locale, over the built-in table (verify/locales.py)."""
    delivery: DeliveryOptions = PLAIN
    resend_interval: int = 30
    voice: str = "female"
    """The voice verifications speak in (`female` or `male`)."""
    fraud: FraudSettings = FraudSettings()


@dataclass(frozen=True)
class ClusterSettings:
    instance: str
    """This instance's name: unique among the instances on one database; its Stasis
    application is `<ari.app>-<instance>`."""
    heartbeat: float = 2.0
    """Seconds between this instance's heartbeats in the database."""
    dead_after: float = 10.0
    """An instance silent this long is dead: a survivor takes over its calls."""


@dataclass(frozen=True)
class Settings:
    ari: AriSettings
    ami: AmiSettings
    asterisk: AsteriskSettings
    listen: Address
    storage_path: Path
    """The SQLite database, unless `storage_url` names a PostgreSQL one."""
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
    delivery: DeliveryOptions = PLAIN
    """The delivery options of a request that gives none (and the base of one that does)."""
    source: Path | None = None
    """The main config file these settings were loaded from."""
    key_file: Path | None = None
    """The sealing key (sealing.py); None: `ari-app.key` beside the database."""
    verify: VerifySettings = VerifySettings()
    storage_url: Secret | None = None
    """`postgresql://…`: the database on a PostgreSQL server (it may hold a password)."""
    cluster: ClusterSettings | None = None
    """Set with `storage_url`: this instance among the others on that database."""
    nodes: tuple[NodeSettings, ...] = ()
    """`asterisk.nodes`: several Asterisk nodes; empty: the one of `ari`, `ami`."""

    @property
    def asterisk_nodes(self) -> tuple[NodeSettings, ...]:
        """Every node calls go to (one, named `default`, unless `asterisk.nodes` lists more),
        each with the folder its carrier changes are rendered into (its own, or
        `asterisk.config_dir`)."""
        if not self.nodes:
            return (NodeSettings("default", self.ari, self.ami, self.config_dir),)
        return tuple(replace(n, config_dir=n.config_dir or self.config_dir) for n in self.nodes)

    @property
    def stasis_app(self) -> str:
        """The Stasis application this instance registers on Asterisk: one per instance."""
        return self.ari.app if self.cluster is None else f"{self.ari.app}-{self.cluster.instance}"


class Current:
    """The settings in force, replaced whole when carriers change through the API.

    The one way objects see a change: each holds the Current it was built with and
    reads `.settings` (or a section of it) when it acts, never a copy kept from start.
    Only the carriers (and the media hosts their `media_base_url` allows) change while
    the service runs; connections (ARI, AMI, the database, the listener) take their
    settings once, when they are made.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @property
    def settings(self) -> Settings:
        return self._settings

    def replace(self, settings: Settings) -> None:
        self._settings = settings
