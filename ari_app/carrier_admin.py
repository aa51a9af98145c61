"""Carrier administration: the API edits the carriers YAML, and Asterisk follows it.

The YAML stays the source of truth. A change is checked by loading the whole
configuration with it (the same checks as at start-up), then:

 1. the carriers file is written atomically; the one before is kept as `.previous`;
 2. the Asterisk config is rendered from it and written the same way;
 3. PJSIP is reloaded over AMI, and Asterisk is asked which endpoints it has;
 4. if the reload fails, or an endpoint is missing or left over, both files are
    put back, PJSIP is reloaded again, and the change is refused.

Only then do new calls see the change. One change at a time. Carriers written in
the main config file are read-only here. Passwords are never returned.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ari_app.ami import Ami
from ari_app.carriers import TRUNK_PREFIX, Carrier
from ari_app.config import parse, read_carriers_file, yaml_problem
from ari_app.errors import (
    AmiError,
    CarrierRejected,
    ConfigError,
    Conflict,
    InvalidField,
    NotFound,
    RenderError,
)
from ari_app.layouts import layout_named, read_if_any, render_all
from ari_app.render import write_atomically
from ari_app.settings import Current, Settings

log = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_PROBLEM = re.compile(r"^carriers\.[^.\[:]+[.]?(?P<field>[^:]*): (?P<message>.*)$")


class CarrierAdmin:
    def __init__(self, *, current: Current, ami: Ami) -> None:
        self._current = current
        self._ami = ami
        self._lock = asyncio.Lock()

    @property
    def settings(self) -> Settings:
        return self._current.settings

    def get(self, carrier_id: str) -> Carrier:
        carrier = self.settings.carriers.get(carrier_id)
        if carrier is None:
            raise NotFound("no carrier with this id", field="carrier_id")
        return carrier

    def _managed_file(self) -> Path:
        path = self.settings.carriers_file
        unrendered = [n for n in self.settings.asterisk_nodes if n.config_dir is None]
        if path is None or unrendered or self.settings.source is None:
            raise Conflict("carrier management is off: set carriers_file and "
                           "asterisk.config_dir (or each node's config_dir) in the config",
                           field=None)
        return path

    async def create(self, body: object) -> Carrier:
        fields = _fields(body)
        carrier_id = fields.pop("id", None)
        async with self._lock:
            path = self._managed_file()
            if carrier_id is None:
                carrier_id = self._new_id()
            if not isinstance(carrier_id, str | int) or not _ID.match(str(carrier_id)):
                raise InvalidField("'id': letters, digits, '-' or '_', at most 40", field="id")
            carrier_id = str(carrier_id)
            if carrier_id in self.settings.carriers:
                raise Conflict("a carrier with this id exists", field="id")
            mapping = dict(_read(path))
            mapping[carrier_id] = fields
            await self._apply(path, mapping)
        log.info("carrier added", extra={"carrier": carrier_id})
        return self.settings.carriers[carrier_id]

    async def update(self, carrier_id: str, body: object) -> Carrier:
        """Replace a carrier. A body without `password` keeps the stored one."""
        fields = _fields(body)
        if fields.pop("id", carrier_id) != carrier_id:
            raise InvalidField("'id' cannot change", field="id")
        async with self._lock:
            path = self._editable(carrier_id)
            mapping = dict(_read(path))
            old = mapping.get(carrier_id) or {}
            if "password" not in fields and "password" in old \
                    and fields.get("username", old.get("username")) == old.get("username"):
                fields["password"] = old["password"]
            mapping[carrier_id] = fields
            await self._apply(path, mapping)
        log.info("carrier changed", extra={"carrier": carrier_id})
        return self.settings.carriers[carrier_id]

    async def delete(self, carrier_id: str) -> None:
        async with self._lock:
            path = self._editable(carrier_id)
            mapping = dict(_read(path))
            mapping.pop(carrier_id, None)
            await self._apply(path, mapping)
        log.info("carrier removed", extra={"carrier": carrier_id})

    def _editable(self, carrier_id: str) -> Path:
        self.get(carrier_id)
        path = self._managed_file()
        if carrier_id not in self.settings.managed:
            raise Conflict(f"this carrier is defined in {self.settings.source}; change it there",
                           field="carrier_id")
        return path

    def _new_id(self) -> str:
        while True:
            candidate = str(random.randint(10_000_000, 99_999_999))
            if candidate not in self.settings.carriers:
                return candidate

    async def _apply(self, path: Path, mapping: Mapping[str, Any]) -> None:
        settings = self._check(mapping)
        changed_ids = [c for c, carrier in settings.carriers.items()
                       if self.settings.carriers.get(c) != carrier]
        # Carriers only change the PJSIP files (on every node): pjsip.conf, the include
        # layout's pjsip_ari-app.conf, or on FreePBX its pjsip.<type>_custom.conf files.
        layout = layout_named(settings.asterisk.layout)
        rendered = render_all(settings, source=str(self.settings.source),
                              layout=settings.asterisk.layout,
                              overrides=settings.asterisk.templates)
        pjsip = {name: text for name, text in rendered.items() if name.startswith("pjsip")}
        targets: dict[Path, str] = {}
        for node in self.settings.asterisk_nodes:
            assert node.config_dir is not None
            targets.update({node.config_dir / name: text for name, text in pjsip.items()})
        try:  # everything read, and checked ours, before anything is written
            before = {p: read_if_any(p) for p in (path, *targets)}
        except RenderError as exc:
            raise Conflict(f"{exc}; nothing was changed", field=None) from exc
        foreign = [p for p in targets if not layout.is_ours(before[p])]
        if foreign:
            raise Conflict(f"{foreign[0]} holds lines ari-app did not write (asterisk.layout is "
                           f"{settings.asterisk.layout}); nothing was changed", field=None)
        written: dict[Path, str | None] = {}
        try:
            _replace(path, _dump(mapping), before, written, write_atomically)
            for target, text in targets.items():
                _replace(target, text, before, written, layout.write)
            await self._reload_and_check(settings)
        except (AmiError, RenderError) as exc:
            log.error("carrier change refused, restoring the previous config: %s", exc)
            _restore(written)
            try:
                await self._ami.reload_pjsip()
            except AmiError as again:
                log.error("reload of the restored config failed too: %s", again)
            raise CarrierRejected(f"Asterisk did not take the change ({exc}); the previous "
                                  "configuration is back in place", field=None) from exc
        self._current.replace(settings)
        for carrier_id in changed_ids:
            carrier = settings.carriers[carrier_id]
            if not carrier.rendered or carrier.qualify_frequency == 0:
                continue  # the PBX's own, or OPTIONS turned off: a carrier may count them
            try:  # reachability known now, not at the next qualify interval
                await self._ami.qualify(carrier.trunk)
            except AmiError as exc:
                log.warning("qualify after the change failed: %s", exc)

    def _check(self, mapping: Mapping[str, Any]) -> Settings:
        source = self.settings.source
        assert source is not None
        try:
            data = yaml.safe_load(source.read_text(encoding="utf-8"))
            settings = parse(data, base=source.parent, managed=dict(mapping))
        except ConfigError as exc:
            first = _PROBLEM.match(exc.problems[0])
            field = (first.group("field") or "id") if first else None
            message = "; ".join(p.split(".", 2)[-1] if p.startswith("carriers.") else p
                                for p in exc.problems)
            raise InvalidField(message, field=field) from exc
        except OSError as exc:
            raise Conflict(f"cannot read {source}: {exc.strerror}", field=None) from exc
        except yaml.YAMLError as exc:
            raise Conflict(f"{source} is not valid YAML ({yaml_problem(exc)})", field=None) from exc
        return dataclasses.replace(settings, source=self.settings.source)

    async def _reload_and_check(self, settings: Settings) -> None:
        await self._ami.reload_pjsip()
        have = await self._ami.endpoints()
        want = {c.trunk for c in settings.carriers.values() if c.rendered}
        ours = {e for e in have if e.startswith(TRUNK_PREFIX)}
        if want - have:
            missing = ", ".join(sorted(want - have))
            raise AmiError(f"endpoint(s) missing after the reload: {missing}")
        if ours - want:
            raise AmiError(f"endpoint(s) still present after the reload: "
                           f"{', '.join(sorted(ours - want))}")
        absent = [c for c in settings.carriers.values() if not c.rendered and c.trunk not in have]
        if absent:
            raise AmiError("the PBX defines no endpoint " + ", ".join(
                f"'{c.trunk}' (carriers.{c.id}.endpoint)" for c in absent))

    async def live(self, carrier: Carrier) -> dict[str, Any]:
        """Registration and reachability as Asterisk sees them now."""
        return (await self.live_all([carrier]))[carrier.id]

    async def live_all(self, carriers: Sequence[Carrier]) -> dict[str, dict[str, Any]]:
        """`live` of each carrier; Asterisk's list of registrations is read once for all."""
        try:
            registrations = await self._ami.registrations() \
                if any(c.registration_name for c in carriers) else {}
        except AmiError as exc:
            return {c.id: _ami_down(exc) for c in carriers}
        found: dict[str, dict[str, Any]] = {}
        for carrier in carriers:
            try:
                contact = await self._ami.contact(carrier.trunk)
            except AmiError as exc:
                found[carrier.id] = _ami_down(exc)
                continue
            found[carrier.id] = {
                "ami": True,
                "registration": registration_status(carrier, registrations),
                "contact": contact.status if contact else "Unknown",
                "roundtrip_ms": contact.roundtrip_ms if contact else None,
            }
        return found


def registration_status(carrier: Carrier, registrations: Mapping[str, str]) -> str:
    """The status of the carrier's registration. An existing endpoint with none the PBX
    lists by its name does not register (a FreePBX trunk set not to); one whose
    `registration` is named but not listed is Unregistered, so the alert fires."""
    name = carrier.registration_name
    if name is None or (carrier.endpoint is not None and carrier.registration is None
                        and name not in registrations):
        return "not-registering"
    return registrations.get(name, "Unregistered")  # named, yet Asterisk lists none


def _ami_down(exc: AmiError) -> dict[str, Any]:
    return {"ami": False, "error": str(exc), "registration": None, "contact": None}


def _fields(body: object) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidField("the body must be a JSON object", field="body")
    return {str(k): v for k, v in body.items()}


def _read(path: Path) -> Mapping[str, Any]:
    data = read_carriers_file(path)
    if not isinstance(data, Mapping):
        raise Conflict(f"{path} is not a mapping of carriers; fix it by hand", field=None)
    return {str(k): v for k, v in data.items()}


def _dump(mapping: Mapping[str, Any]) -> str:
    header = ("# Carriers managed through the API (POST/PUT/DELETE /carriers).\n"
              "# Edit by hand only while the service is stopped.\n")
    return header + yaml.safe_dump(dict(mapping), sort_keys=True, allow_unicode=True)


def _replace(path: Path, text: str, before: Mapping[Path, str | None],
             written: dict[Path, str | None], write: Callable[[Path, str], None]) -> None:
    """Write `path` if it changes, keeping what it held as `<name>.previous`; `written`
    gets what it held (None: it did not exist), for `_restore`."""
    old = before[path]
    if old == text:
        return
    if old is not None:
        write_atomically(path.with_name(path.name + ".previous"), old)
    written[path] = old
    write(path, text)


def _restore(written: Mapping[Path, str | None]) -> None:
    """Put back what each written file held; one that cannot be is logged, and the
    others are still put back."""
    for path, old in written.items():
        try:
            if old is None:
                path.unlink(missing_ok=True)
            else:
                write_atomically(path, old)
        except (OSError, RenderError) as exc:
            log.error("could not put back %s: %s", path, exc)
