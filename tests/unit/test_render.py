"""Golden-output tests: each rendered .conf file compared whole with tests/unit/golden/.

After an intended template change: UPDATE_GOLDEN=1 pytest tests/unit/test_render.py
"""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ari_app.config import load, parse
from ari_app.config_reader import Address
from ari_app.errors import ConfigError, RenderError
from ari_app.layouts import render_all, write_all
from ari_app.render import RENDERERS, password_hash, write_atomically
from tests.support.golden import check_golden

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_all(load(GOLDEN / "settings.yaml"), source="golden/settings.yaml")


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_rendered_file_matches_golden(rendered: dict[str, str], name: str) -> None:
    check_golden(GOLDEN / name, rendered[name])


def test_ari_password_is_stored_as_a_sha512_crypt_hash(rendered: dict[str, str]) -> None:
    settings = load(GOLDEN / "settings.yaml")
    password = settings.ari.password.reveal()
    line = next(x for x in rendered["ari.conf"].splitlines() if x.startswith("password ="))
    stored = line.split("=", 1)[1].strip()
    assert password not in rendered["ari.conf"] and stored.startswith("$6$")
    assert sha512_crypt(password, salt=stored.split("$")[2]) == stored
    assert password_hash(password) != stored  # a fresh salt each time


def sha512_crypt(password: str, *, salt: str) -> str:
    """SHA-512 crypt by OpenSSL: another implementation than Python's `crypt` module."""
    return subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"], input=password,
                          capture_output=True, text=True, check=True).stdout.strip()


def test_the_hash_is_made_without_the_crypt_module_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "crypt", None)  # as on Python 3.13, which has none
    with pytest.raises(ImportError):
        import crypt  # noqa: F401
    hashed = password_hash("sandbox&ari#pass+word@1")
    assert hashed.startswith("$6$")
    assert sha512_crypt("sandbox&ari#pass+word@1", salt=hashed.split("$")[2]) == hashed


def test_listeners_are_on_loopback(rendered: dict[str, str]) -> None:
    assert "bindaddr = 127.0.0.1" in rendered["http.conf"]
    assert "bindaddr = 127.0.0.1" in rendered["manager.conf"]
    assert "bind = 127.0.0.1:5060" in rendered["pjsip.conf"]


def test_missing_value_is_an_error_not_an_empty_string(tmp_path: Path) -> None:
    (tmp_path / "http.conf.j2").write_text("bindaddr = {{ no_such_value }}\n")
    with pytest.raises(RenderError, match=r"http\.conf"):
        render_all(load(GOLDEN / "settings.yaml"), source="x", overrides=tmp_path)


def test_operator_templates_override_packaged_ones(tmp_path: Path) -> None:
    (tmp_path / "extensions.conf.j2").write_text("; site dialplan for {{ app }}\n")
    out = render_all(load(GOLDEN / "settings.yaml"), source="x", overrides=tmp_path)
    assert out["extensions.conf"] == "; site dialplan for otp-calls\n"


def test_writes_are_atomic_and_private(tmp_path: Path, rendered: dict[str, str]) -> None:
    paths = write_all(rendered, tmp_path)
    assert sorted(p.name for p in paths) == sorted(RENDERERS)
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    existing = tmp_path / "ari.conf"
    existing.chmod(0o640)
    write_atomically(existing, "new\n")
    assert existing.read_text() == "new\n"
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_on_an_existing_pbx_its_own_transports_are_used_and_none_rendered() -> None:
    data = yaml.safe_load((GOLDEN / "settings.yaml").read_text())
    data["asterisk"]["transports"] = {"udp": "transport-udp", "tcp": "transport-tcp",
                                      "tls": "transport-tls"}
    del data["asterisk"]["tls"]  # the PBX's TLS transport has its own certificates
    pjsip = render_all(parse(data, base=GOLDEN), source="x")["pjsip.conf"]
    assert "type = transport" not in pjsip
    assert re.findall(r"^transport = (.+)$", pjsip, re.MULTILINE) == \
        ["transport-udp", "transport-tcp", "transport-tcp", "transport-tls"]
    data["asterisk"]["transports"] = {"sctp": "x", "udp": "a b"}
    with pytest.raises(ConfigError) as refused:
        parse(data, base=GOLDEN)
    assert {p.split(":")[0] for p in refused.value.problems} >= {
        "asterisk.transports.sctp", "asterisk.transports.udp", "carriers.secure.transport"}


def test_rendering_another_layout_where_carrier_changes_write_is_refused(
        tmp_path: Path) -> None:
    data = yaml.safe_load((GOLDEN / "settings.yaml").read_text())
    data["asterisk"]["config_dir"] = "etc"
    config = tmp_path / "ari-app.yaml"
    config.write_text(yaml.safe_dump(data))
    refused = subprocess.run([sys.executable, "-m", "ari_app", "--config", str(config), "render",
                              "--layout", "freepbx", "--out", str(tmp_path / "etc")],
                             capture_output=True, text=True, check=False)
    assert refused.returncode == 2 and "asterisk.layout: is asterisk" in refused.stderr
    assert not (tmp_path / "etc").exists()


def test_a_yaml_error_names_the_line_never_shows_it(tmp_path: Path) -> None:
    config = tmp_path / "ari-app.yaml"
    config.write_text('ami:\n  secret: "s3cret-value\n  username: x\n')
    result = subprocess.run([sys.executable, "-m", "ari_app", "--config", str(config),
                             "check-config"], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "line" in result.stderr, result.stderr
    assert "s3cret-value" not in result.stderr + result.stdout


def test_our_tls_transport_listens_where_sip_does_by_default() -> None:
    data = yaml.safe_load((GOLDEN / "settings.yaml").read_text())
    data["asterisk"] |= {"sip": "10.0.0.5:5060", "tls": {"ca_file": "/etc/ssl/ca.pem"}}
    tls = parse(data, base=GOLDEN).asterisk.tls
    assert tls is not None and tls.listen == Address("10.0.0.5", 5061)


def test_our_tls_transport_speaks_tls_1_2_unless_told_1_3() -> None:
    data = yaml.safe_load((GOLDEN / "settings.yaml").read_text())
    data["asterisk"]["tls"] = {"ca_file": "/etc/ssl/ca.pem"}
    assert "method = tlsv1_2\n" in render_all(parse(data, base=GOLDEN), source="t")["pjsip.conf"]
    data["asterisk"]["tls"]["version"] = 1.3
    assert "method = tlsv1_3\n" in render_all(parse(data, base=GOLDEN), source="t")["pjsip.conf"]
    data["asterisk"]["tls"]["version"] = 1.0  # PJSIP's own default, refused by carriers
    with pytest.raises(ConfigError) as caught:
        parse(data, base=GOLDEN)
    assert any(p.startswith("asterisk.tls.version:") for p in caught.value.problems)
