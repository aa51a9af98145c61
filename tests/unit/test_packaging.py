"""A packaged service: the wheel carries what the service reads at run time, `--version`,
`install-service`, the systemd unit as `systemd-analyze verify` reads it, the lock file."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import ari_app
from ari_app import config, install
from ari_app.cli import main
from ari_app.errors import InstallError
from ari_app.settings import CallSettings

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(sys.executable).parent
"""The virtualenv's bin/: its ari-app program."""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline from a copy of the checkout (a build writes build/ and
    *.egg-info into its source: not into the checkout others work in)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in ("ari_app", "dialplan", "packaging"):
        shutil.copytree(ROOT / name, source / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "config.example.yaml"):
        shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "-w", str(work / "dist"),
                    str(source)], check=True, timeout=300)
    [built] = (work / "dist").glob("*.whl")
    return built


def test_the_wheel_carries_the_code_the_templates_the_example_and_the_unit(wheel: Path) -> None:
    assert wheel.name == f"ari_app-{ari_app.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {"ari_app/cli.py", "ari_app/install.py", "ari_app/render.py"} <= names
        templates = sorted(p.relative_to(ROOT) for p in (ROOT / "dialplan").rglob("*.j2"))
        assert templates
        for template in templates:  # the files themselves, not the checkout's links
            assert archive.read(f"ari_app/{template}") == (ROOT / template).read_bytes()
        assert archive.read("ari_app/config.example.yaml") == \
            (ROOT / "config.example.yaml").read_bytes()
        assert archive.read("ari_app/ari-app.service") == \
            (ROOT / "packaging/ari-app.service").read_bytes()
        info = f"ari_app-{ari_app.__version__}.dist-info"
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        metadata = archive.read(f"{info}/METADATA").decode()
    assert re.search(r"^\[console_scripts\]\nari-app = ari_app\.cli:main$", entry_points,
                     re.MULTILINE)
    assert f"\nVersion: {ari_app.__version__}\n" in metadata


def test_installed_from_the_wheel_it_finds_its_templates_and_unit(wheel: Path,
                                                                   tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-index", "--target", str(site), str(wheel)], check=True, timeout=120)
    probe = ("import ari_app, ari_app.install as i, ari_app.render as r\n"
             "print(ari_app.__file__)\n"
             "r.environment().get_template('pjsip.conf.j2')\n"
             "print(i.UNIT.is_file() and i.EXAMPLE.is_file())\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)},
                            check=True, timeout=60)
    where, found = result.stdout.split()
    assert Path(where).is_relative_to(site) and found == "True"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"ari-app {ari_app.__version__}\n"
    assert importlib.metadata.version("ari-app") == ari_app.__version__
    result = subprocess.run([SCRIPTS / "ari-app", "--version"], capture_output=True,
                            text=True, check=True, timeout=60)
    assert result.stdout == f"ari-app {ari_app.__version__}\n"


def test_version_without_metadata_is_the_package_s(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert install.installed_version() == ari_app.__version__


def test_install_service_under_a_root(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install-service", "--root", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    etc = tmp_path / "etc/ari-app"
    unit = tmp_path / "etc/systemd/system/ari-app.service"
    assert mode(etc) == 0o750 and mode(etc / "ari-app.yaml") == 0o640 and mode(unit) == 0o644
    assert f"ExecStart={install.program()} --config /etc/ari-app/ari-app.yaml serve\n" in \
        unit.read_text()
    assert "systemctl enable --now ari-app" in said and "warning: the config" not in said
    text = (etc / "ari-app.yaml").read_text()
    assert text == install.example_config()
    settings = config.parse(config.read_yaml(etc / "ari-app.yaml"), base=Path("/etc/ari-app"))
    state = Path("/var/lib/ari-app")
    assert (settings.storage_path, settings.key_file, settings.media.dir) == \
        (state / "ari-app.sqlite3", state / "ari-app.key", state / "media")
    assert settings.media.asterisk_dir == str(state / "media")
    assert "# carriers_file: /var/lib/ari-app/carriers.yaml" in text
    assert list(tmp_path.rglob(".*")) == []  # no draft left behind


def test_an_existing_config_is_never_replaced(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "etc/ari-app/ari-app.yaml"
    mine.parent.mkdir(parents=True)
    mine.write_text("ari: {password: mine}\n")
    given = tmp_path / "given.yaml"
    given.write_text("ari: {password: given}\n")
    for _ in range(2):  # and a second run (an upgrade) keeps it too
        assert main(["--config", str(given), "install-service", "--root", str(tmp_path)]) == 0
        assert "there already, kept as it is" in capsys.readouterr().out
    assert mine.read_text() == "ari: {password: mine}\n"


def test_a_config_writing_where_the_unit_forbids_is_named(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    given = tmp_path / "given.yaml"
    given.write_text((ROOT / "config.example.yaml").read_text())  # its paths in var/
    root = tmp_path / "root"
    assert main(["--config", str(given), "install-service", "--root", str(root)]) == 0
    said = capsys.readouterr().out
    assert "service write /etc/ari-app/var/ari-app.sqlite3, which the unit keeps" in said
    assert (root / "etc/ari-app/ari-app.yaml").read_text() == given.read_text()


def test_a_dry_run_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install-service", "--root", str(tmp_path / "root"), "--dry-run"]) == 0
    assert not (tmp_path / "root").exists()
    said = capsys.readouterr().out
    assert "would write" in said and "dry run: nothing changed" in said


def test_installing_into_the_machine_needs_root(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["install-service"]) == 1
    assert "install-service needs root" in capsys.readouterr().err


def test_a_program_in_a_home_folder_is_seen(tmp_path: Path) -> None:
    script = tmp_path / "ari-app"
    script.write_text("#!/home/someone/venv/bin/python\n")
    assert Path("/home/someone/venv/bin/python") in install.hidden_by_protect_home(script)


@pytest.fixture
def analyze() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing: it comes with Debian's systemd package "
                    "(make unit-deps installs it)")


@pytest.mark.usefixtures("analyze")
def test_the_packaged_unit_verifies() -> None:
    install.verify_unit(install.unit_text(install.program()))


@pytest.mark.usefixtures("analyze")
def test_verify_catches_a_misspelt_directive() -> None:
    unit = install.unit_text(install.program())
    with pytest.raises(InstallError, match="Unknown key 'ProtectSytem'"):
        install.verify_unit(unit.replace("ProtectSystem=", "ProtectSytem="))


@pytest.mark.usefixtures("analyze")
def test_verify_catches_a_program_that_is_not_there() -> None:
    with pytest.raises(InstallError, match="is not executable"):
        install.verify_unit(install.unit_text(Path("/nonexistent/bin/ari-app")))


def test_the_unit_runs_hardened_and_waits_for_the_drain() -> None:
    lines = (ROOT / "packaging/ari-app.service").read_text().splitlines()
    unit = dict(line.split("=", 1) for line in lines if "=" in line and line[0] != "#")
    assert unit["Type"] == "simple" and unit["User"] == "ari-app"
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices",
                "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
                "ProtectControlGroups", "RestrictNamespaces", "LockPersonality",
                "MemoryDenyWriteExecute"):
        assert unit[key] == "yes", key
    assert unit["ProtectSystem"] == "strict" and unit["CapabilityBoundingSet"] == ""
    assert unit["RestrictAddressFamilies"] == "AF_UNIX AF_INET AF_INET6"
    assert unit["SystemCallFilter"] == "@system-service"
    assert install.writable("\n".join(lines)) == [Path("/var/lib/ari-app"),
                                                  Path("/etc/asterisk/ari-app")]
    drain = next(f.default for f in dataclasses.fields(CallSettings) if f.name == "drain_seconds")
    assert isinstance(drain, int) and int(unit["TimeoutStopSec"]) > drain
    assert unit["KillMode"] == "mixed" and unit["Restart"] == "on-failure"


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    lock = (ROOT / "requirements.lock").read_text()
    pins = {canonicalize_name(name): block for name, block in
            re.findall(r"^([A-Za-z0-9_.-]+)==\S+ \\\n((?:    --hash=sha256:\w+.*\n)+)", lock,
                       re.MULTILINE)}
    assert len(pins) == len(re.findall(r"^\S+==", lock, re.MULTILINE))  # each has hashes
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for extra in ("test", "bench")
               for r in project["optional-dependencies"][extra]]
    for requirement in wanted:
        assert canonicalize_name(requirement.name) in pins, f"{requirement}: make lock"
        for extra in requirement.extras:  # psycopg[binary]: psycopg-binary too
            for needed in importlib.metadata.requires(requirement.name) or []:
                inner = Requirement(needed)
                if inner.marker is not None and inner.marker.evaluate({"extra": extra}):
                    assert canonicalize_name(inner.name) in pins, f"{inner}: make lock"
    assert "psycopg-binary" in pins and "setuptools" in pins and "wheel" in pins


def test_the_config_dir_nodes_fall_back_to_is_checked_too() -> None:
    data = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    data["asterisk"]["config_dir"] = "/srv/pbx"  # the unit lets it write /etc/asterisk/ari-app
    data["asterisk"]["nodes"] = [{"name": "pbx1"},
                                 {"name": "pbx2", "config_dir": "/etc/asterisk/ari-app"}]
    unit = (ROOT / "packaging/ari-app.service").read_text()
    found = install.unwritable(yaml.safe_dump(data), unit)
    assert Path("/srv/pbx") in found and Path("/etc/asterisk/ari-app") not in found
