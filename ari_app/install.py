"""`ari-app install-service`: this ari-app as a systemd service.

In order: the unit (packaging/ari-app.service, its ExecStart= naming this ari-app) is
checked with `systemd-analyze verify`; the system user `ari-app` is made if missing;
/etc/ari-app/ (0750 root:ari-app) gets a config (0640: the one given with --config, else
the example with its paths in /var/lib/ari-app), never replacing one already there; the
unit goes to /etc/systemd/system/; `systemctl daemon-reload`. Nothing is started.

`--root DIR` writes every file under DIR and runs no useradd, chown or systemctl (for
packagers and tests); `--dry-run` says what would be done and changes nothing.
"""

from __future__ import annotations

import importlib.metadata
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

import ari_app
from ari_app import config
from ari_app.errors import ConfigError, InstallError

PACKAGED = Path(__file__).resolve().parent
UNIT = PACKAGED / "ari-app.service"
EXAMPLE = PACKAGED / "config.example.yaml"
USER = "ari-app"
CONFIG_DIR = Path("/etc/ari-app")
CONFIG_FILE = CONFIG_DIR / "ari-app.yaml"
UNIT_FILE = Path("/etc/systemd/system/ari-app.service")
HIDDEN = (Path("/home"), Path("/root"), Path("/run/user"))
"""What the unit's ProtectHome=yes hides from the service: its program may not live there."""
STATE_PATHS = (
    ("  path: var/ari-app.sqlite3", "  path: /var/lib/ari-app/ari-app.sqlite3"),
    ("  # key_file: var/ari-app.key", "  # key_file: /var/lib/ari-app/ari-app.key"),
    ("  dir: var/media", "  dir: /var/lib/ari-app/media"),
    ("  asterisk_dir: var/media", "  asterisk_dir: /var/lib/ari-app/media"),
    ("# carriers_file: carriers.yaml", "# carriers_file: /var/lib/ari-app/carriers.yaml"),
)
"""The example's lines naming what the service writes (a checkout's var/), as installed:
in its state folder, the one place besides the Asterisk config it may write."""

Say = Callable[[str], None]


def installed_version() -> str:
    """This ari-app's version: its installed metadata's, else (a checkout never installed)
    the package's own."""
    try:
        return importlib.metadata.version("ari-app")
    except importlib.metadata.PackageNotFoundError:
        return ari_app.__version__


def program() -> Path:
    """The ari-app program this process runs as: the unit's ExecStart= names it."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "ari-app" and argv0.is_file():
        return argv0.resolve()
    beside = Path(sys.executable).parent / "ari-app"  # `python -m ari_app` in a virtualenv
    if beside.is_file():
        return beside.absolute()
    found = shutil.which("ari-app")
    if found is None:
        raise InstallError("no ari-app program found: run install-service as the ari-app "
                           "that pip installed, e.g. /opt/ari-app/bin/ari-app install-service")
    return Path(found).resolve()


def hidden_by_protect_home(path: Path) -> list[Path]:
    """`path` and the interpreter its #! line names, where ProtectHome=yes hides them."""
    paths = [path.resolve()]
    with path.open("rb") as file:
        first = file.readline(512)
    if first.startswith(b"#!") and first[2:].split():
        paths.append(Path(first[2:].split()[0].decode()).resolve())
    return [p for p in paths if any(p.is_relative_to(home) for home in HIDDEN)]


def unit_text(executable: Path) -> str:
    """The packaged unit, its ExecStart= running `executable`."""
    if re.search(r"\s", str(executable)):
        raise InstallError(f"{executable}: a path with blanks; install ari-app where there "
                           "are none, e.g. /opt/ari-app")
    text, count = re.subn(r"^ExecStart=\S+", lambda _: f"ExecStart={executable}",
                          UNIT.read_text(encoding="utf-8"), count=1, flags=re.MULTILINE)
    if count != 1:
        raise InstallError(f"{UNIT}: no ExecStart= line")
    return text


def verify_unit(text: str) -> None:
    """Raise InstallError unless `systemd-analyze verify` takes the unit without a word
    about it: on a misspelt directive it only warns, and exits 0."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        raise InstallError("systemd-analyze not found; it checks the unit before it is "
                           "installed (Debian: apt-get install systemd)")
    with tempfile.TemporaryDirectory() as folder:
        unit = Path(folder) / UNIT_FILE.name
        unit.write_text(text, encoding="utf-8")
        result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True,
                                check=False, timeout=120)
    said = (result.stdout + result.stderr).strip()
    ours = [line for line in said.splitlines() if UNIT_FILE.name in line]
    if result.returncode != 0 or ours:
        raise InstallError(f"systemd-analyze verify refused the unit:\n{said}")


def writable(unit: str) -> list[Path]:
    """The folders the unit lets the service write: its StateDirectory= and ReadWritePaths=."""
    folders = []
    for key, value in re.findall(r"^(StateDirectory|ReadWritePaths)=(.*)$", unit, re.MULTILINE):
        for item in value.split():
            folders.append(Path("/var/lib", item) if key == "StateDirectory"
                           else Path(item.lstrip("-+")))
    return folders


def unwritable(config_text: str, unit: str) -> list[Path]:
    """What the config makes the service write that the unit keeps read-only."""
    try:
        settings = config.parse(yaml.safe_load(config_text), base=CONFIG_DIR)
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML ({config.yaml_problem(exc)})"]) from exc
    written = [settings.media.dir,
               settings.key_file or settings.storage_path.parent / "ari-app.key"]
    if settings.storage_url is None:
        written.append(settings.storage_path)
    if settings.carriers_file is not None:
        written.append(settings.carriers_file)
    written += [n.config_dir for n in settings.asterisk_nodes if n.config_dir is not None]
    allowed = writable(unit)
    return [p for p in written if not any(p.is_relative_to(folder) for folder in allowed)]


def example_config() -> str:
    """config.example.yaml with its paths in the state folder."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in STATE_PATHS:
        text, count = re.subn(rf"^{re.escape(old)}(?=\s|$)", new, text, count=1,
                              flags=re.MULTILINE)
        if count != 1:
            raise InstallError(f"{EXAMPLE}: no line {old.strip()!r} (update STATE_PATHS "
                               "in ari_app/install.py)")
    return text


class Installer:
    """The steps, each said as it is done (or, with `dry_run`, as it would be)."""

    def __init__(self, *, root: Path | None, dry_run: bool, say: Say) -> None:
        self.root = root
        self.system = root is None
        """Installing into this machine: users, owners and systemctl too."""
        self.dry_run = dry_run
        self.say = say

    def install(self, source: Path | None) -> None:
        if self.system and not self.dry_run and os.geteuid() != 0:
            raise InstallError("install-service needs root (--root DIR writes the files under "
                               "DIR instead; --dry-run shows what it would do)")
        executable = program()
        self.say(f"[install] ari-app {installed_version()}: {executable}")
        hidden = hidden_by_protect_home(executable)
        if hidden:
            problem = (f"{', '.join(map(str, hidden))}: in a home folder, which the unit's "
                       "ProtectHome=yes hides from the service; install ari-app into a "
                       "virtualenv made by a Python outside them (e.g. /usr/bin/python3 -m "
                       "venv /opt/ari-app)")
            if self.system and not self.dry_run:
                raise InstallError(problem)
            self.say(f"[install] warning: {problem}")
        unit = unit_text(executable)
        self.say("[install] checking the unit: systemd-analyze verify")
        verify_unit(unit)
        self._user()
        self._folder(CONFIG_DIR, 0o750)
        config_text = self._config(source)
        try:
            for path in unwritable(config_text, unit):
                self.say(f"[install] warning: the config makes the service write {path}, "
                         "which the unit keeps read-only: move it into /var/lib/ari-app, or "
                         "allow it (systemctl edit ari-app: [Service] ReadWritePaths=FOLDER)")
        except ConfigError as exc:
            self.say(f"[install] warning: {CONFIG_FILE} does not load yet: {exc}")
        self._write(UNIT_FILE, unit, 0o644, replace=True, shared=False)
        if not self.system:
            self.say("[install] --root: no systemctl daemon-reload")
        elif Path("/run/systemd/system").is_dir():  # sd_booted(): systemd runs this machine
            self._run(["systemctl", "daemon-reload"])
        else:
            self.say("[install] systemd does not run here (an image being built?): no "
                     "daemon-reload; it reads the unit when it starts")
        done = ("dry run: nothing changed. Once installed, set" if self.dry_run
                else "done; nothing is started. Set")
        self.say(f"[install] {done} the passwords and carriers in {CONFIG_FILE}, then:")
        self.say(f"  {executable} --config {CONFIG_FILE} check-config")
        self.say(f"  usermod -aG {USER} asterisk        # Asterisk reads the media it prepares")
        self.say("  systemctl enable --now ari-app      # logs: journalctl -u ari-app -f -o cat")

    def _path(self, path: Path) -> Path:
        return path if self.root is None else self.root / path.relative_to("/")

    def _run(self, command: list[str]) -> None:
        if self.dry_run:
            self.say(f"[install] would run: {shlex.join(command)}")
            return
        self.say(f"[install] running: {shlex.join(command)}")
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise InstallError(f"{shlex.join(command)} failed ({result.returncode}): "
                               f"{(result.stderr or result.stdout).strip()}")

    def _user(self) -> None:
        if not self.system:
            self.say(f"[install] --root: no user made ({USER}: the package's scripts make it)")
            return
        try:
            pwd.getpwnam(USER)
        except KeyError:
            self._run(["useradd", "--system", "--user-group", "--home-dir", "/var/lib/ari-app",
                       "--no-create-home", "--shell", "/usr/sbin/nologin", USER])
        else:
            self.say(f"[install] user {USER}: there already")

    def _own(self, path: Path, mode: int, *, shared: bool) -> None:
        """`mode`; owned by root, and by group ari-app when `shared` (the service reads it)
        and installing into this machine."""
        os.chmod(path, mode)
        if self.system:
            shutil.chown(path, user=0, group=USER if shared else 0)

    def _folder(self, folder: Path, mode: int) -> None:
        target = self._path(folder)
        self.say(f"[install] {'would make' if self.dry_run else 'folder'} {target} "
                 f"({mode:04o}{', root:' + USER if self.system else ''})")
        if not self.dry_run:
            target.mkdir(parents=True, exist_ok=True)
            self._own(target, mode, shared=True)

    def _config(self, source: Path | None) -> str:
        """Write the config unless there is one; its text either way."""
        target = self._path(CONFIG_FILE)
        if target.exists():
            self.say(f"[install] {target}: there already, kept as it is")
            return target.read_text(encoding="utf-8")
        if source is None:
            text = example_config()
            self.say("[install] config: the example, its paths in /var/lib/ari-app")
        else:
            text = source.read_text(encoding="utf-8")
            self.say(f"[install] config: {source} (its relative paths now start at {CONFIG_DIR})")
        self._write(CONFIG_FILE, text, 0o640, replace=False, shared=True)
        return text

    def _write(self, path: Path, text: str, mode: int, *, replace: bool, shared: bool) -> None:
        """Write `path` whole: a file beside it, then renamed (or, when not `replace`,
        linked: an existing file is never replaced)."""
        target = self._path(path)
        self.say(f"[install] {'would write' if self.dry_run else 'writing'} {target} "
                 f"({mode:04o})")
        if self.dry_run:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, draft = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
            self._own(Path(draft), mode, shared=shared)
            if replace:
                os.replace(draft, target)
            else:
                try:
                    os.link(draft, target)
                except FileExistsError as exc:
                    raise InstallError(f"{target}: appeared meanwhile; kept") from exc
        finally:
            Path(draft).unlink(missing_ok=True)


def install_service(*, root: Path | None = None, source: Path | None = None,
                    dry_run: bool = False, say: Say = print) -> None:
    """Install this ari-app as a systemd service (see the module's docstring)."""
    Installer(root=root, dry_run=dry_run, say=say).install(source)
