"""The freepbx layout: only FreePBX's custom include files, each PJSIP file of one object type,
on FreePBX's transports, and the same objects as the asterisk layout's pjsip.conf.

Golden files in tests/unit/golden/freepbx/, rendered from the same golden/settings.yaml.
After an intended template change: UPDATE_GOLDEN=1 pytest tests/unit/test_freepbx.py
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from ari_app.carrier_admin import CarrierAdmin
from ari_app.cli import main
from ari_app.config import load
from ari_app.errors import ConfigError, Conflict, RenderError
from ari_app.freepbx import FILES, MARKER
from ari_app.layouts import render_all, write_all
from ari_app.settings import LAYOUTS, Current, Settings
from tests.support.golden import Objects, check_golden, objects

GOLDEN = Path(__file__).parent / "golden"
SETTINGS = GOLDEN / "settings.yaml"

CUSTOM_FILES = {
    "pjsip.aor_custom.conf", "pjsip.auth_custom.conf", "pjsip.endpoint_custom.conf",
    "pjsip.registration_custom.conf", "pjsip.identify_custom.conf",
    "extensions_custom.conf", "ari_additional_custom.conf", "manager_custom.conf",
}
"""Files FreePBX includes and never writes (its `fwconsole reload` only creates them empty)."""
GENERATED = {
    "pjsip.conf", "pjsip.transports.conf", "pjsip.endpoint.conf", "pjsip.aor.conf",
    "pjsip.auth.conf", "pjsip.registration.conf", "pjsip.identify.conf", "extensions.conf",
    "extensions_additional.conf", "ari.conf", "ari_additional.conf",
    "ari_general_additional.conf", "http.conf", "http_additional.conf", "manager.conf",
    "manager_additional.conf",
}
"""Files FreePBX writes or ships itself: replaced on its next reload."""
PJSIP_ORDER = ("endpoint", "aor", "auth", "registration", "identify")
"""The order FreePBX's pjsip.conf includes the typed files in (transports first)."""

@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_all(load(SETTINGS), source="golden/settings.yaml", layout="freepbx")


@pytest.mark.parametrize("name", sorted(FILES))
def test_rendered_file_matches_golden(rendered: dict[str, str], name: str) -> None:
    check_golden(GOLDEN / "freepbx" / name, rendered[name])


def test_only_freepbx_custom_files_are_written(rendered: dict[str, str]) -> None:
    assert set(rendered) == CUSTOM_FILES
    assert not set(rendered) & GENERATED
    assert all(text.startswith(MARKER + " from golden/settings.yaml;")
               for text in rendered.values())


def test_each_pjsip_file_holds_only_its_own_type(rendered: dict[str, str]) -> None:
    for kind in PJSIP_ORDER:
        found = objects(rendered[f"pjsip.{kind}_custom.conf"])
        assert found and {t for _, t, _ in found} == {kind}, kind


def test_no_general_sections_freepbx_owns(rendered: dict[str, str]) -> None:
    for name in ("extensions_custom.conf", "ari_additional_custom.conf", "manager_custom.conf"):
        assert not {"general", "globals"} & {n for n, _, _ in objects(rendered[name])}
    assert "[ari-app-call]" in rendered["extensions_custom.conf"]
    assert "Stasis(otp-calls)" in rendered["extensions_custom.conf"]
    assert "password_format = crypt" in rendered["ari_additional_custom.conf"]
    assert "ari&pass#1+2@3" not in rendered["ari_additional_custom.conf"]


def test_endpoints_and_registrations_use_freepbx_transports(rendered: dict[str, str]) -> None:
    every = [o for text in rendered.values() for o in objects(text)]
    assert "transport" not in {t for _, t, _ in every}
    used = {name: dict(options)["transport"] for name, t, options in every
            if t in ("endpoint", "registration")}
    assert used == {"carrier-74445609": "0.0.0.0-udp", "carrier-acme": "0.0.0.0-tcp",
                    "carrier-secure": "0.0.0.0-tls", "carrier-acme-reg": "0.0.0.0-tcp"}


def test_the_transport_ip_is_a_setting(tmp_path: Path) -> None:
    settings = _settings(tmp_path, freepbx_transport_ip="192.0.2.10")
    out = render_all(settings, source="x", layout="freepbx")
    assert "transport = 192.0.2.10-udp" in out["pjsip.endpoint_custom.conf"]
    with pytest.raises(ConfigError, match=r"asterisk\.freepbx_transport_ip"):
        _settings(tmp_path, freepbx_transport_ip="eth0")
    with pytest.raises(ConfigError,
                       match=r"asterisk\.layout: must be one of asterisk, include, freepbx"):
        _settings(tmp_path, layout="issabel")


def test_both_layouts_define_the_same_objects(rendered: dict[str, str]) -> None:
    """FreePBX's pjsip.conf, with our typed files included, against our own pjsip.conf:
    the same objects but for our transports and the lines naming them."""
    asterisk = render_all(load(SETTINGS), source="x")["pjsip.conf"]
    freepbx = "".join(rendered[f"pjsip.{kind}_custom.conf"] for kind in PJSIP_ORDER)

    def without_transports(found: Objects) -> Objects:
        return sorted((name, t, tuple(o for o in options if o[0] != "transport"))
                      for name, t, options in found if t != "transport")

    assert without_transports(objects(freepbx)) == without_transports(objects(asterisk))
    assert len(objects(freepbx)) == 12  # 3 aors, 2 auths, 3 endpoints, 1 registration, 3 identifies


def test_tls_needs_no_transport_section_on_freepbx(tmp_path: Path) -> None:
    settings = _settings(tmp_path, layout="freepbx", tls=None)
    assert "transport = 0.0.0.0-tls" in render_all(
        settings, source="x", layout="freepbx")["pjsip.endpoint_custom.conf"]
    with pytest.raises(RenderError, match=r"carriers\.secure\.transport: .*asterisk\.tls"):
        render_all(settings, source="x")  # our own TLS transport needs its section
    with pytest.raises(ConfigError, match=r"carriers\.secure\.transport"):
        _settings(tmp_path, tls=None)


def test_render_command_writes_exactly_the_custom_files(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "etc"
    assert main(["--config", str(SETTINGS), "render", "--layout", "freepbx",
                 "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == CUSTOM_FILES
    assert capsys.readouterr().out.count("wrote ") == len(CUSTOM_FILES)
    for path in out.iterdir():  # as `fwconsole chown` leaves /etc/asterisk
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        assert (path.stat().st_uid, path.stat().st_gid) == (out.stat().st_uid,
                                                            out.stat().st_gid)


def test_the_configured_layout_is_the_default(tmp_path: Path) -> None:
    config = tmp_path / "ari-app.yaml"
    data = yaml.safe_load(SETTINGS.read_text())
    data["asterisk"]["layout"] = "freepbx"
    config.write_text(yaml.safe_dump(data))
    assert main(["--config", str(config), "render", "--out", str(tmp_path / "a")]) == 0
    assert {p.name for p in (tmp_path / "a").iterdir()} == CUSTOM_FILES
    assert main(["--config", str(config), "render", "--layout", "asterisk",
                 "--out", str(tmp_path / "b")]) == 0
    assert "pjsip.conf" in {p.name for p in (tmp_path / "b").iterdir()}


def test_an_admins_own_file_is_never_replaced(tmp_path: Path, rendered: dict[str, str]) -> None:
    (tmp_path / "pjsip.aor_custom.conf").write_text("")  # as `fwconsole reload` makes it
    (tmp_path / "pjsip.aor_custom.conf").chmod(0o664)
    (tmp_path / "extensions_custom.conf").write_text("[from-internal-custom]\nexten => 1,1,Noop\n")
    with pytest.raises(RenderError, match=r"extensions_custom\.conf holds lines ari-app"):
        write_all(rendered, tmp_path, layout="freepbx")
    assert {p.name for p in tmp_path.iterdir()} == {"pjsip.aor_custom.conf",
                                                    "extensions_custom.conf"}
    (tmp_path / "extensions_custom.conf").unlink()
    write_all(rendered, tmp_path, layout="freepbx")
    assert stat.S_IMODE((tmp_path / "pjsip.aor_custom.conf").stat().st_mode) == 0o664
    write_all(rendered, tmp_path, layout="freepbx")  # ours: replaced again


def test_every_layout_has_files() -> None:
    assert all(render_all(load(SETTINGS), source="x", layout=name) for name in LAYOUTS)


class EndpointsAmi:
    """AMI as a FreePBX answers it: our endpoints from pjsip.endpoint_custom.conf, and the
    trunks FreePBX defines itself."""

    def __init__(self, config_dir: Path) -> None:
        self.file = config_dir / "pjsip.endpoint_custom.conf"
        self.reloads = 0

    async def reload_pjsip(self) -> None:
        self.reloads += 1

    async def endpoints(self) -> set[str]:
        mine = {n for n, t, _ in objects(self.file.read_text())} if self.file.exists() else set()
        return mine | {"house-trunk"}

    async def qualify(self, endpoint: str) -> None:
        pass


async def test_carrier_changes_rewrite_the_custom_pjsip_files(tmp_path: Path) -> None:
    settings = _settings(tmp_path, layout="freepbx", tls=None, config_dir="etc",
                         carriers_file="carriers.yaml")
    write_all(render_all(settings, source="x", layout="freepbx"), tmp_path / "etc",
              layout="freepbx")
    ami = EndpointsAmi(tmp_path / "etc")
    admin = CarrierAdmin(current=Current(settings), ami=ami)  # type: ignore[arg-type]
    await admin.create({"id": "beta", "host": "sip.beta.example", "transport": "tls"})
    endpoints = (tmp_path / "etc" / "pjsip.endpoint_custom.conf").read_text()
    assert "[carrier-beta]\ntype = endpoint\ntransport = 0.0.0.0-tls\n" in endpoints
    assert "[carrier-beta]\ntype = aor" in (tmp_path / "etc/pjsip.aor_custom.conf").read_text()
    assert ami.reloads == 1 and not (tmp_path / "etc" / "pjsip.conf").exists()
    assert "extensions_custom.conf.previous" not in {p.name for p in (tmp_path / "etc").iterdir()}


def _settings(tmp_path: Path, *, carriers_file: str | None = None, **asterisk: Any) -> Settings:
    """The golden settings with these `asterisk` keys (None: removed), from a file in
    `tmp_path` (so relative paths are under it)."""
    data = yaml.safe_load(SETTINGS.read_text())
    if carriers_file is not None:
        data["carriers_file"] = carriers_file
    for key, value in asterisk.items():
        if value is None:
            data["asterisk"].pop(key, None)
        else:
            data["asterisk"][key] = value
    config = tmp_path / "ari-app.yaml"
    config.write_text(yaml.safe_dump(data))
    return load(config)


async def test_carrier_changes_never_replace_an_admin_s_file_nor_half_apply(
        tmp_path: Path) -> None:
    settings = _settings(tmp_path, layout="freepbx", tls=None, config_dir="etc",
                         carriers_file="carriers.yaml")
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "pjsip.endpoint_custom.conf").write_text("[mine]\ntype = endpoint\n")
    admin = CarrierAdmin(current=Current(settings),
                         ami=EndpointsAmi(etc))  # type: ignore[arg-type]
    with pytest.raises(Conflict, match=r"pjsip\.endpoint_custom\.conf holds lines ari-app "
                                       r"did not write \(asterisk\.layout is freepbx\)"):
        await admin.create({"id": "beta", "host": "sip.beta.example"})
    assert (etc / "pjsip.endpoint_custom.conf").read_text() == "[mine]\ntype = endpoint\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ari-app.yaml", "etc"]

    (etc / "pjsip.endpoint_custom.conf").write_text("")  # as FreePBX creates it
    (etc / "pjsip.auth_custom.conf").write_bytes(b"\xff\xfe not text")
    with pytest.raises(Conflict, match=r"cannot read .*pjsip\.auth_custom\.conf"):
        await admin.create({"id": "beta", "host": "sip.beta.example"})
    assert not (tmp_path / "carriers.yaml").exists()  # read all first: nothing written
    assert (etc / "pjsip.endpoint_custom.conf").read_text() == ""

    (etc / "pjsip.auth_custom.conf").unlink()
    await admin.create({"id": "beta", "host": "sip.beta.example"})
    made = etc / "pjsip.aor_custom.conf"  # new: as FreePBX's own are, not owner-only
    assert stat.S_IMODE(made.stat().st_mode) == 0o640
    assert "[carrier-beta]" in made.read_text()
