"""The `asterisk` section: where the rendered config makes Asterisk listen, which files a
render writes (the layout), the PBX's own transports and files we use, our TLS transport,
and where carrier changes are rendered."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from pathlib import Path
from types import MappingProxyType

from ari_app.carrier_config import TRANSPORTS
from ari_app.carriers import Carrier
from ari_app.config_reader import Reader, optional_path
from ari_app.settings import LAYOUTS, AsteriskSettings, TlsSettings

_PATH = re.compile(r"^/[A-Za-z0-9_./-]{1,250}$")
"""An absolute path as Asterisk reads it from pjsip.conf."""
_TRANSPORT = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
"""A PJSIP transport's name, as the PBX's own pjsip.conf gives it."""
_INCLUDE = re.compile(r"^[A-Za-z0-9_./-]{1,250}\.conf$")
"""A file name as `#include` takes it: relative to Asterisk's config folder, or absolute."""


def read_asterisk(reader: Reader, base: Path) -> tuple[AsteriskSettings, Path | None, object]:
    """Where the rendered config makes Asterisk listen, where carrier changes are
    rendered (`config_dir`), and the raw `nodes` (node_config.py)."""
    sip = reader.address("sip", "127.0.0.1:5060")
    asterisk = AsteriskSettings(
        sip=sip,
        http=reader.address("http", "127.0.0.1:8088"),
        ami=reader.address("ami", "127.0.0.1:5038"),
        tls=_tls(reader.section("tls"), sip.host) if reader.data.get("tls") is not None
        else None,
        pjsip_includes=reader.texts("pjsip_includes", (), pattern=_INCLUDE),
        transports=_transports(reader.section("transports")),
        templates=optional_path(reader.text("templates", None, conf=False), base),
        layout=reader.text("layout", "asterisk"),
        freepbx_transport_ip=reader.text("freepbx_transport_ip", "0.0.0.0"),
    )
    if asterisk.layout not in LAYOUTS:
        reader.problem(reader.key("layout"), f"must be one of {', '.join(LAYOUTS)}")
    try:  # FreePBX names its transports after the IPv4 address they bind (`0.0.0.0-udp`)
        ipaddress.IPv4Address(asterisk.freepbx_transport_ip)
    except ValueError:
        reader.problem(reader.key("freepbx_transport_ip"),
                       "must be the IPv4 address of FreePBX's transports, e.g. 0.0.0.0")
    config_dir = optional_path(reader.text("config_dir", None, conf=False), base)
    nodes = reader.raw("nodes", None)
    reader.finish()
    return asterisk, config_dir, nodes


def _transports(reader: Reader) -> MappingProxyType[str, str]:
    names = {}
    for protocol in reader.data:
        if protocol not in TRANSPORTS:
            reader.problem(reader.key(str(protocol)),
                           f"must be one of {', '.join(sorted(TRANSPORTS))}")
            continue
        names[protocol] = reader.text(protocol, pattern=_TRANSPORT)
    reader.finish()
    return MappingProxyType(names)


TLS_VERSIONS = {"1.2": "tlsv1_2", "1.3": "tlsv1_3"}
"""asterisk.tls.version: the PJSIP transport method of each. A method speaks its version
only; `sslv23` negotiates, but down to whatever OpenSSL allows, so it is not offered."""


def _tls(reader: Reader, host: str) -> TlsSettings:
    # On the SIP transport's host by default: loopback in the sandbox, the address
    # carriers reach (and calls leave from) in a deployment.
    tls = TlsSettings(
        listen=reader.address("listen", f"{host}:5061"),
        ca_file=reader.text("ca_file", "/etc/ssl/certs/ca-certificates.crt", pattern=_PATH),
        verify_server=reader.flag("verify_server", True),
        cert_file=reader.text("cert_file", None, pattern=_PATH),
        key_file=reader.text("key_file", None, pattern=_PATH),
        method=TLS_VERSIONS.get(str(reader.raw("version", "1.2")), ""),
    )
    if not tls.method:
        reader.problem(reader.key("version"), f"must be {' or '.join(TLS_VERSIONS)} (the TLS "
                       "version spoken to carriers; PJSIP's own default is 1.0)")
    if bool(tls.cert_file) != bool(tls.key_file):
        reader.problem(reader.key("key_file"), "cert_file and key_file go together")
    reader.finish()
    return tls


def check_tls(asterisk: AsteriskSettings, carriers: Iterable[Carrier], problems: list[str],
              *, layout: str | None = None) -> None:
    """A carrier over TLS needs a TLS transport: ours (`asterisk.tls`), the PBX's own
    (`asterisk.transports.tls`), or on FreePBX, FreePBX's. `layout`: the one rendered, when
    it is not the configured one."""
    if asterisk.tls is not None or "tls" in asterisk.transports or \
            (layout or asterisk.layout) == "freepbx":
        return
    for carrier in carriers:
        if carrier.rendered and carrier.transport == "tls":
            problems.append(f"carriers.{carrier.id}.transport: tls needs the asterisk.tls "
                            "section (the PBX's TLS transport and the CAs it trusts)")
