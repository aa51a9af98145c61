"""Asterisk config from the settings, through the Jinja2 templates in `dialplan/`.

One context builder per `.conf` file; templates only print what the context
holds. Every value was validated when the settings were loaded (config.py),
so printing is safe. Rendering and writing are separate; writes are atomic.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import jinja2

from ari_app.carriers import Carrier
from ari_app.errors import RenderError
from ari_app.settings import Settings

TEMPLATES = Path(__file__).resolve().parent.parent / "dialplan"


TRANSPORT_NAME = "ari-app-{protocol}"


def carrier_context(carrier: Carrier, *, transport_name: str) -> dict[str, object]:
    """What the PJSIP objects of a rendered carrier print (dialplan/pjsip_objects.j2)."""
    return {
        "id": carrier.id,
        "trunk": carrier.trunk,
        "host": carrier.host,
        "port": carrier.port,
        "transport": carrier.transport,
        "transport_name": transport_name,
        "uri_params": "" if carrier.transport == "udp" else f"\\;transport={carrier.transport}",
        "username": carrier.username or "",
        "password": carrier.password.reveal() if carrier.password else "",
        "register": carrier.register,
        "codecs": ",".join(carrier.codecs),
        "dtmf_mode": carrier.dtmf_mode,
        "from_user": carrier.from_user or carrier.username or "",
        "from_domain": carrier.from_domain or "",
        "outbound_proxy": (carrier.outbound_proxy or "").replace(";", "\\;"),
        "media_encryption": carrier.media_encryption,
        "caller_id_header": carrier.caller_id_header,
        "caller_id_privacy": carrier.caller_id_privacy,
        "qualify_frequency": carrier.qualify_frequency,
    }


def transport_context(settings: Settings, protocol: str) -> dict[str, object]:
    """Our own transport for `protocol`: TLS listens where `asterisk.tls` says, with its
    certificates; the others share the SIP address."""
    tls = settings.asterisk.tls
    if protocol == "tls" and tls is not None:
        return {"name": TRANSPORT_NAME.format(protocol=protocol), "protocol": protocol,
                "bind": f"{tls.listen.host}:{tls.listen.port}", "ca_file": tls.ca_file,
                "verify_server": tls.verify_server, "cert_file": tls.cert_file,
                "key_file": tls.key_file}
    sip = settings.asterisk.sip
    return {"name": TRANSPORT_NAME.format(protocol=protocol), "protocol": protocol,
            "bind": f"{sip.host}:{sip.port}"}


def rendered_carriers(settings: Settings) -> list[Carrier]:
    """The carriers whose PJSIP objects we write, by id; the others are the PBX's own."""
    return [settings.carriers[key] for key in sorted(settings.carriers)
            if settings.carriers[key].rendered]


def _pjsip(settings: Settings) -> dict[str, object]:
    carriers = rendered_carriers(settings)
    transports = sorted({"udp"} | {c.transport for c in carriers})
    return {
        "transports": [transport_context(settings, t) for t in transports],
        "carriers": [carrier_context(c, transport_name=TRANSPORT_NAME.format(
            protocol=c.transport)) for c in carriers],
        "existing": [{"id": c.id, "endpoint": c.endpoint} for c in
                     (settings.carriers[k] for k in sorted(settings.carriers))
                     if not c.rendered],
    }


def _extensions(settings: Settings) -> dict[str, object]:
    return {"app": settings.ari.app}


def _ari(settings: Settings) -> dict[str, object]:
    return {"username": settings.ari.username,
            "password_hash": password_hash(settings.ari.password.reveal())}


def password_hash(password: str) -> str:
    """SHA-512 crypt ($6$), which ari.conf takes with `password_format = crypt`: the file
    then holds no usable password. A fresh random salt each time."""
    salt = secrets.token_urlsafe(12).replace("-", ".").replace("_", "/")[:16]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # deprecated, gone in Python 3.13: openssl below then
    except ImportError:
        result = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
                                input=password, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not result.stdout.startswith("$6$"):
            raise RenderError("cannot hash the ARI password: openssl passwd -6 failed") from None
        return result.stdout.strip()
    return crypt.crypt(password, f"$6${salt}$")


def _http(settings: Settings) -> dict[str, object]:
    return {"http": settings.asterisk.http}


def _manager(settings: Settings) -> dict[str, object]:
    host = settings.asterisk.ami.host
    try:
        address = ipaddress.ip_address(host)
        permit = "0.0.0.0/0.0.0.0" if address.is_unspecified else f"{address}/255.255.255.255"
    except ValueError:
        permit = "127.0.0.1/255.255.255.255"
    return {
        "ami": settings.asterisk.ami,
        "username": settings.ami.username,
        "secret": settings.ami.secret.reveal(),
        "permit": permit,
    }


RENDERERS: Mapping[str, Callable[[Settings], dict[str, object]]] = {
    "pjsip.conf": _pjsip,
    "extensions.conf": _extensions,
    "ari.conf": _ari,
    "http.conf": _http,
    "manager.conf": _manager,
}


def environment(overrides: Path | None = None) -> jinja2.Environment:
    """Packaged templates, optionally shadowed by an operator's own folder."""
    search = [str(overrides)] if overrides else []
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([*search, str(TEMPLATES)]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - Asterisk config, not HTML; values are validated
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_all(settings: Settings, *, source: str, overrides: Path | None = None) -> dict[str, str]:
    """Render every config file to text: {file name: content}."""
    env = environment(overrides)
    out = {}
    for name, build in RENDERERS.items():
        try:
            template = env.get_template(f"{name}.j2")
            out[name] = template.render(source=source, **build(settings))
        except jinja2.TemplateError as exc:
            raise RenderError(f"{name}: {exc}") from exc
    return out


def write_atomically(path: Path, content: str) -> None:
    """Replace `path` whole or not at all; a new file is readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        previous = path.stat()
    except FileNotFoundError:
        previous = None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if previous is not None:
            os.chmod(tmp, previous.st_mode & 0o7777)
            with contextlib.suppress(PermissionError):
                os.chown(tmp, previous.st_uid, previous.st_gid)
        else:
            os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise RenderError(f"cannot write {path}: {exc.strerror}") from exc


def write_all(rendered: Mapping[str, str], out_dir: Path) -> list[Path]:
    paths = []
    for name, content in rendered.items():
        write_atomically(out_dir / name, content)
        paths.append(out_dir / name)
    return paths
