"""The sandbox: a real Asterisk 22, a simulated carrier and a media server on loopback.

What `make run` and `make test` start. Nothing here is part of the service; a
production host brings its own Asterisk and carriers.

- A Debian-unstable root holding the `asterisk` package is built once by
  mmdebstrap and cached under /var/cache/ari-app (outside the checkout).
- The checkout's `var/` is bind-mounted into the root at /srv/ari-app, so each
  Asterisk instance keeps its config, database, logs and spool there and the
  cached root stays untouched.
- Two instances run inside the root as its `asterisk` user: the PBX the service
  drives (SIP 127.0.0.1:5060, ARI 127.0.0.1:8088, AMI 127.0.0.1:5038) and the
  simulated carrier (SIP 127.0.0.1:5070) that answers and records.
- `sounds/` is served on 127.0.0.1:8090; the sandbox config maps the seed's
  host `server.domain.com` onto it.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.tls import make_certificates

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent
VAR = CHECKOUT / "var"
CONFIG = HERE / "ari-app.yaml"
CACHE = Path(os.environ.get("ARI_APP_ROOT_CACHE", "/var/cache/ari-app"))
MIRROR = os.environ.get("ARI_APP_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = ("asterisk", "asterisk-core-sounds-en-wav", "asterisk-modules")
MOUNT = "/srv/ari-app"
MEDIA_PORT = 8090
HOUSE_TRUNK = "pjsip_house.conf"
"""A trunk written by hand on the PBX, as an admin's own (the `house` carrier uses it)."""
# Debian's own defaults for files the modules we load look for; copied so the
# logs stay clean and only our files change behaviour.
DEBIAN_DEFAULTS = (
    "acl.conf", "amd.conf", "ccss.conf", "cdr.conf", "cel.conf", "cli_aliases.conf",
    "features.conf", "indications.conf", "musiconhold.conf", "pjproject.conf",
    "pjsip_notify.conf", "pjsip_wizard.conf", "res_http_media_cache.conf",
    "res_stun_monitor.conf", "udptl.conf", "websocket_client.conf",
)


def say(message: str) -> None:
    print(f"[sandbox] {message}", flush=True)


def root_dir() -> Path:
    key = hashlib.sha256(" ".join(PACKAGES).encode()).hexdigest()[:12]
    return CACHE / f"asterisk-root-{key}"


def build_root() -> Path:
    """Build the Debian-unstable root once; later runs reuse it."""
    root = root_dir()
    if (root / ".complete").exists():
        return root
    if shutil.which("mmdebstrap") is None:
        raise SystemExit("mmdebstrap is missing: run `make deps` (apt-get install mmdebstrap)")
    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    say(f"building the Asterisk root in {root} (about a minute, once)")
    subprocess.run(
        [
            "mmdebstrap",
            "--variant=apt",
            "--aptopt=Acquire::Check-Valid-Until \"false\"",
            f"--include={','.join(PACKAGES)}",
            "sid",
            str(tmp),
            MIRROR,
        ],
        check=True,
    )
    (tmp / MOUNT.lstrip("/")).mkdir(parents=True, exist_ok=True)
    (tmp / ".complete").write_text(" ".join(PACKAGES) + "\n")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    say("Asterisk root ready")
    return root


def in_root(root: Path, path: str) -> Path:
    """`path` inside the root, following absolute links there (Debian's alternatives)."""
    current = root
    for part in Path(path).parts[1:]:
        current = current / part
        for _ in range(10):
            if not current.is_symlink():
                break
            target = os.readlink(current)
            current = root / target.lstrip("/") if target.startswith("/") \
                else current.parent / target
    return current


def link_sounds(root: Path) -> None:
    """var/asterisk-sounds/<language>: Asterisk's prompt folders as the service sees them."""
    sounds = VAR / "asterisk-sounds"
    shutil.rmtree(sounds, ignore_errors=True)
    sounds.mkdir(parents=True)
    for entry in (root / "usr/share/asterisk/sounds").iterdir():
        target = in_root(root, f"/usr/share/asterisk/sounds/{entry.name}")
        if (target / "digits").is_dir():
            (sounds / entry.name).symlink_to(target)


CARRIER_SOUNDS = {
    "hello": "Hello?",
    "greeting": "Hi, you have reached Alex Morgan. I am away right now. "
                "Please leave a message after the tone.",
}


def make_carrier_sounds(out: Path) -> None:
    """What the simulated carrier's callees say (8 kHz, as Asterisk plays `.wav`): a
    person's "hello?" and a voicemail greeting followed by a beep. Words only: a test
    transcribes what the carrier heard and must find no digit in it."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / "greeting.wav").exists():
        return
    say("making the simulated callees' voices")
    beep = out / "beep.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(beep),
                    "synth", "0.6", "sine", "1000", "vol", "0.5", "pad", "0.3", "0"], check=True)
    for name, text in CARRIER_SOUNDS.items():
        speech = out / f"{name}-speech.wav"
        subprocess.run(["espeak-ng", "-v", "en-us+m3", "-s", "170", "-w", str(speech), text],
                       check=True)
        subprocess.run(["sox", str(speech), "-r", "8000", "-c", "1", "-b", "16",
                        str(out / f"{name}-8k.wav"),
                        "reverse", "silence", "1", "0.05", "1%", "reverse"], check=True)
        parts = [out / f"{name}-8k.wav", *([beep] if name == "greeting" else [])]
        subprocess.run(["sox", *map(str, parts), str(out / f"{name}.wav")], check=True)
        speech.unlink()
        (out / f"{name}-8k.wav").unlink()


def asterisk_ids(root: Path) -> tuple[int, int]:
    """The uid and gid of `asterisk` inside the root (another name outside)."""
    for line in (root / "etc/passwd").read_text().splitlines():
        parts = line.split(":")
        if parts[0] == "asterisk":
            return int(parts[2]), int(parts[3])
    raise SystemExit(f"no asterisk user in {root}/etc/passwd")


def chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def entity_id(name: str) -> str:
    """A locally administered MAC-like id of its own for each instance, from its name."""
    digest = hashlib.sha256(name.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


@dataclass
class Instance:
    """One Asterisk process inside the root, with its own folders under var/asterisk."""

    name: str
    root: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> Path:
        return VAR / "asterisk" / self.name

    @property
    def conf_in_root(self) -> str:
        return f"{MOUNT}/asterisk/{self.name}/etc/asterisk.conf"

    def prepare(self, config_files: dict[str, Path]) -> None:
        shutil.rmtree(self.base, ignore_errors=True)
        for sub in ("etc", "lib/keys", "spool", "run", "log", "cache"):
            (self.base / sub).mkdir(parents=True)
        for name in DEBIAN_DEFAULTS:
            default = self.root / "etc/asterisk" / name
            if default.exists():
                shutil.copy(default, self.base / "etc" / name)
        template = (HERE / "asterisk.conf.in").read_text()
        (self.base / "etc/asterisk.conf").write_text(
            template.format(base=f"{MOUNT}/asterisk/{self.name}", name=self.name,
                            entityid=entity_id(self.name))
        )
        shutil.copy(HERE / "modules.conf", self.base / "etc/modules.conf")
        shutil.copy(HERE / "logger.conf", self.base / "etc/logger.conf")
        for name, source in config_files.items():
            shutil.copy(source, self.base / "etc" / name)
        for path in (self.base / "etc").iterdir():
            path.chmod(0o600)
        chown_tree(self.base, *asterisk_ids(self.root))

    def start(self) -> None:
        log = (VAR / "log" / f"asterisk-{self.name}.out").open("ab")
        self.process = subprocess.Popen(
            [
                "chroot", str(self.root), "/usr/sbin/asterisk",
                "-f", "-U", "asterisk", "-G", "asterisk", "-C", self.conf_in_root,
            ],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def cli(self, command: str, timeout: float = 30) -> str:
        result = subprocess.run(
            ["chroot", str(self.root), "/usr/sbin/asterisk", "-C", self.conf_in_root,
             "-rx", command],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
        return result.stdout

    def wait_booted(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise SystemExit(
                    f"Asterisk '{self.name}' exited with {self.process.returncode}; "
                    f"see var/log/asterisk-{self.name}.out and var/asterisk/{self.name}/log"
                )
            if (self.base / "run/asterisk.ctl").exists():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    if "fully booted" in self.cli("core waitfullybooted", timeout=timeout).lower():
                        return
            time.sleep(0.1)
        raise SystemExit(f"Asterisk '{self.name}' did not boot within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class Lab:
    """Start and stop the whole sandbox; used by `make run` and the end-to-end tests."""

    ari_url: str = "http://127.0.0.1:8088"
    ari_user: str = "ari-app"
    ari_password: str = ""
    instances: list[Instance] = field(default_factory=list)
    media_server: subprocess.Popen[bytes] | None = None
    root: Path | None = None

    def start(self) -> None:
        self.root = build_root()
        self.stop_leftovers()
        for sub in ("log", "media", "recordings"):
            (VAR / sub).mkdir(parents=True, exist_ok=True)
        make_carrier_sounds(VAR / "carrier-sounds")
        make_certificates(VAR / "tls")
        self.mount()
        uid, gid = asterisk_ids(self.root)
        chown_tree(VAR / "tls", uid, gid)
        os.chown(VAR / "recordings", uid, gid)
        link_sounds(self.root)
        rendered = VAR / "rendered"
        subprocess.run(
            [sys.executable, "-m", "ari_app", "--config", str(CONFIG),
             "render", "--out", str(rendered)],
            check=True, cwd=CHECKOUT,
        )
        pbx = Instance("pbx", self.root)
        pbx.prepare(
            {p.name: p for p in rendered.iterdir() if p.suffix == ".conf"}
            | {name: HERE / "pbx" / name for name in ("rtp.conf", HOUSE_TRUNK)}
        )
        carrier = Instance("carrier", self.root)
        carrier.prepare({p.name: p for p in (HERE / "carrier").iterdir() if p.suffix == ".conf"})
        self.instances = [pbx, carrier]
        say("starting Asterisk (PBX on 127.0.0.1:5060, simulated carrier on 127.0.0.1:5070)")
        for instance in self.instances:
            instance.start()
        self.media_server = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(MEDIA_PORT), "--bind", "127.0.0.1",
             "--directory", str(CHECKOUT / "sounds")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for instance in self.instances:
            instance.wait_booted()
        self.wait_ari()
        say("Asterisk ready: ARI answers on 127.0.0.1:8088")

    def mount(self) -> None:
        assert self.root is not None
        target = self.root / MOUNT.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        if subprocess.run(["mountpoint", "-q", str(target)], check=False).returncode == 0:
            subprocess.run(["umount", "-l", str(target)], check=True)
        subprocess.run(["mount", "--bind", str(VAR), str(target)], check=True)

    def unmount(self) -> None:
        if self.root is None:
            return
        target = self.root / MOUNT.lstrip("/")
        if subprocess.run(["mountpoint", "-q", str(target)], check=False).returncode == 0:
            subprocess.run(["umount", "-l", str(target)], check=False)

    def stop_leftovers(self) -> None:
        """Stop Asterisk processes a killed earlier run left behind in this root."""
        assert self.root is not None
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if os.readlink(proc / "root") == str(self.root):
                    os.kill(int(proc.name), signal.SIGKILL)

    def wait_ari(self, timeout: float = 30) -> None:
        token = base64.b64encode(f"{self.ari_user}:{self.ari_password}".encode()).decode()
        request = urllib.request.Request(
            f"{self.ari_url}/ari/asterisk/ping", headers={"Authorization": f"Basic {token}"}
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise SystemExit("ARI did not answer on 127.0.0.1:8088")

    def instance(self, name: str) -> Instance:
        return next(i for i in self.instances if i.name == name)

    def start_node(self, name: str, config: Path, rtp: tuple[int, int]) -> Instance:
        """A second PBX node beside the first: its config rendered from `config` (which
        sets its own SIP, HTTP and AMI addresses), its own folders, RTP ports and entity
        id (several Asterisks on one host collide otherwise)."""
        assert self.root is not None
        rendered = VAR / f"rendered-{name}"
        subprocess.run([sys.executable, "-m", "ari_app", "--config", str(config),
                        "render", "--out", str(rendered)],
                       check=True, cwd=CHECKOUT, stdout=subprocess.DEVNULL)
        (rendered / "rtp.conf").write_text(f"[general]\nrtpstart = {rtp[0]}\n"
                                           f"rtpend = {rtp[1]}\n")
        node = Instance(name, self.root)
        node.prepare({p.name: p for p in rendered.iterdir() if p.suffix == ".conf"}
                     | {HOUSE_TRUNK: HERE / "pbx" / HOUSE_TRUNK})
        say(f"starting Asterisk node {name}")
        node.start()
        node.wait_booted()
        self.instances.append(node)
        return node

    def stop(self) -> None:
        for instance in self.instances:
            instance.stop()
        if self.media_server is not None:
            self.media_server.terminate()
            self.media_server.wait()
        self.unmount()


@contextlib.contextmanager
def running(ari_password: str) -> Iterator[Lab]:
    lab = Lab(ari_password=ari_password)
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="sandbox", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build-root", help="build the cached Debian root with Asterisk")
    sub.add_parser("run", help="start the sandbox and the service in the foreground")
    args = parser.parse_args()
    if args.command == "build-root":
        say(f"Asterisk root: {build_root()}")
    elif args.command == "run":
        from sandbox.run import run_foreground

        run_foreground()


if __name__ == "__main__":
    main()
