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
from dataclasses import dataclass
from pathlib import Path

import jinja2

from ari_app.carriers import Carrier
from ari_app.errors import RenderError
from ari_app.settings import Settings

TEMPLATES = Path(__file__).resolve().parent / "dialplan"  # a link to dialplan/ in a checkout


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


def pjsip_context(settings: Settings) -> dict[str, object]:
    carriers = rendered_carriers(settings)
    own = settings.asterisk.transports
    for c in carriers:  # config.py checks it only when this layout is the configured one
        if c.transport == "tls" and settings.asterisk.tls is None and "tls" not in own:
            raise RenderError(f"carriers.{c.id}.transport: tls needs the asterisk.tls section "
                              "(our TLS transport) or asterisk.transports.tls (the PBX's) in "
                              "the asterisk layout")
    # UDP always, so the PBX has a transport for its endpoints even with no carrier yet.
    transports = sorted(({"udp"} | {c.transport for c in carriers}) - set(own))
    return {
        "transports": [transport_context(settings, t) for t in transports],
        "carriers": [carrier_context(c, transport_name=own.get(c.transport) or
                                     TRANSPORT_NAME.format(protocol=c.transport))
                     for c in carriers],
        "includes": settings.asterisk.pjsip_includes,
        "existing": [{"id": c.id, "endpoint": c.endpoint} for c in
                     (settings.carriers[k] for k in sorted(settings.carriers))
                     if not c.rendered],
    }


def extensions_context(settings: Settings) -> dict[str, object]:
    return {"app": settings.ari.app}


def ari_context(settings: Settings) -> dict[str, object]:
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


def manager_context(settings: Settings) -> dict[str, object]:
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


Builder = Callable[[Settings], dict[str, object]]

RENDERERS: Mapping[str, Builder] = {
    "pjsip.conf": pjsip_context,
    "extensions.conf": extensions_context,
    "ari.conf": ari_context,
    "http.conf": _http,
    "manager.conf": manager_context,
}


@dataclass(frozen=True)
class Layout:
    """The files one kind of PBX takes from us, and how a file is made that does not exist
    yet (one that exists keeps its mode and owner)."""

    files: Mapping[str, tuple[str, Builder]]
    """{file name: (template, context builder)}."""
    new_mode: int = 0o600
    owner_from_dir: bool = False
    """New files get the owner and group of their folder (the PBX's, not root's)."""
    marker: str = ""
    """Each file starts with this line: a non-empty file that does not is someone else's,
    and is never replaced."""


ASTERISK = Layout({name: (f"{name}.j2", build) for name, build in RENDERERS.items()})


def layout_named(name: str) -> Layout:
    """One of settings.LAYOUTS."""
    # Imported here, not at the top: they build on this module's context builders.
    from ari_app.freepbx import FREEPBX
    from ari_app.include_layout import INCLUDE

    layouts = {"asterisk": ASTERISK, "freepbx": FREEPBX, "include": INCLUDE}
    if name not in layouts:
        raise RenderError(f"no layout {name!r} (known: {', '.join(layouts)})")
    return layouts[name]


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


def render_all(settings: Settings, *, source: str, overrides: Path | None = None,
               layout: str = "asterisk") -> dict[str, str]:
    """Render every config file of `layout` to text: {file name: content}."""
    env = environment(overrides)
    out = {}
    for name, (template_name, build) in layout_named(layout).files.items():
        try:
            template = env.get_template(template_name)
            out[name] = template.render(source=source, **build(settings))
        except jinja2.TemplateError as exc:
            raise RenderError(f"{name}: {exc}") from exc
    return out


def write_atomically(path: Path, content: str, *, new_mode: int = 0o600,
                     new_owner: tuple[int, int] | None = None) -> None:
    """Replace `path` whole or not at all; a new file is readable by its owner only, unless
    told otherwise."""
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
            os.chmod(tmp, new_mode)
            if new_owner is not None:
                with contextlib.suppress(PermissionError):
                    os.chown(tmp, *new_owner)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise RenderError(f"cannot write {path}: {exc.strerror}") from exc


def write_all(rendered: Mapping[str, str], out_dir: Path, *,
              layout: str = "asterisk") -> list[Path]:
    chosen = layout_named(layout)
    out_dir.mkdir(parents=True, exist_ok=True)
    if chosen.marker:  # all checked first: nothing is written unless every file may be
        for name in rendered:
            if not _ours(out_dir / name, chosen.marker):
                raise RenderError(f"{out_dir / name} holds lines ari-app did not write; "
                                  "nothing was written. Move them into your own template "
                                  f"(render --templates DIR, DIR/{chosen.files[name][0]}) "
                                  "and render again")
    folder = out_dir.stat()
    owner = (folder.st_uid, folder.st_gid) if chosen.owner_from_dir else None
    paths = []
    for name, content in rendered.items():
        write_atomically(out_dir / name, content, new_mode=chosen.new_mode, new_owner=owner)
        paths.append(out_dir / name)
    return paths


def _ours(path: Path, marker: str) -> bool:
    """Absent, empty (FreePBX creates every file it includes) or written by us."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return True
    return not text.strip() or text.startswith(marker)
