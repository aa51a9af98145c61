"""Our config on a PBX that has its own: a real Asterisk started from the hand-written
config of a FreePBX (tests/e2e/pbx/freepbx) or of a plain existing Asterisk
(tests/e2e/pbx/include), with only our `render --layout freepbx|include` files beside it.
Calls go out through our rendered trunks, on the PBX's own transports, and through its
own trunk; a carrier added through the API lands in our files only and Asterisk takes it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sandbox.api import ApiProcess
from sandbox.lab import CHECKOUT, CONFIG, VAR, Instance, Lab
from tests.e2e.observe import SHORT, invites, tts_call

SKELETONS = Path(__file__).parent / "pbx"
TRANSPORTS = {"freepbx": {"74445609": "0.0.0.0-udp", "tls": "0.0.0.0-tls"},
              "include": {"74445609": "transport-udp", "tls": "ari-app-tls"}}
"""The transport each layout's endpoints use: the PBX's own, or (TLS, include) ours."""


def service_config(layout: str, etc: Path) -> Path:
    data = yaml.safe_load(CONFIG.read_text())
    data["ari"] |= {"url": "http://127.0.0.1:8092", "app": f"ari-app-{layout}"}
    data["ami"]["port"] = 5042
    data["http"]["listen"] = "127.0.0.1:8083"
    data["storage"]["path"] = f"{layout}.sqlite3"
    data["media"] |= {"dir": f"media-{layout}", "asterisk_dir": f"/srv/ari-app/media-{layout}"}
    data["tts"]["asterisk_sounds"] = "asterisk-sounds"
    data["carriers_file"] = f"carriers-{layout}.yaml"
    data["asterisk"] = {"layout": layout, "config_dir": str(etc),
                        "tls": data["asterisk"]["tls"] | {"listen": "127.0.0.1:5065"}}
    if layout == "include":
        data["asterisk"]["transports"] = {"udp": "transport-udp"}
    (VAR / f"carriers-{layout}.yaml").unlink(missing_ok=True)
    path = VAR / f"{layout}.yaml"
    path.write_text(yaml.safe_dump(data))  # paths are relative to var/
    return path


def digests(folder: Path, names: list[str]) -> dict[str, str]:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in names}


@pytest.fixture(scope="module", params=["freepbx", "include"])
def pbx(request: pytest.FixtureRequest, lab: Lab) -> Iterator[tuple[str, Instance, ApiProcess]]:
    layout: str = request.param
    assert lab.root is not None
    node = Instance(f"pbx-{layout}", lab.root)
    config = service_config(layout, node.base / "etc")
    rendered = VAR / f"rendered-{layout}"
    shutil.rmtree(rendered, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "ari_app", "--config", str(config), "render",
                    "--out", str(rendered)], check=True, cwd=CHECKOUT, stdout=subprocess.DEVNULL)
    (rendered / "rtp.conf").write_text("[general]\nrtpstart = 16000\nrtpend = 16999\n")
    node.prepare({p.name: p for p in (SKELETONS / layout).glob("*.conf")}
                 | {p.name: p for p in rendered.glob("*.conf")})
    node.start()
    node.wait_booted()
    service = ApiProcess(log_path=VAR / "log" / f"api-{layout}.log", config=config,
                         url="http://127.0.0.1:8083", key_path=VAR / f"api-key-{layout}")
    service.start_fresh()
    yield layout, node, service
    service.stop()
    node.stop()


def test_calls_go_out_through_our_trunks_and_the_pbx_s_own(
        pbx: tuple[str, Instance, ApiProcess]) -> None:
    layout, node, service = pbx
    ids = {carrier: service.place(tts_call("+12125551212", SHORT) | {"carrier_id": carrier})
           for carrier in ("74445609", "tls", "house")}
    for carrier, request_id in ids.items():
        status = service.wait_final(request_id)
        assert status["state"] == "completed", (layout, carrier, status)
    assert set(invites(list(ids.values())).values()) == {1}
    for carrier, transport in TRANSPORTS[layout].items():
        shown = node.cli(f"pjsip show endpoint carrier-{carrier}")
        assert f"transport                          : {transport}" in shown, shown


def test_a_carrier_added_through_the_api_lands_in_our_files_only(
        pbx: tuple[str, Instance, ApiProcess]) -> None:
    layout, node, service = pbx
    own = sorted(p.name for p in (SKELETONS / layout).glob("*.conf"))
    before = digests(node.base / "etc", own)
    code, body = service.request("POST", "/carriers", {
        "id": "added", "host": "127.0.0.1", "port": 5070, "caller_ids": ["+15550100"]})
    assert code == 201, body
    deadline = time.monotonic() + 10
    while "carrier-added" not in node.cli("pjsip show endpoints") and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    assert "carrier-added" in node.cli("pjsip show endpoints")
    status = service.wait_final(service.place(tts_call("+12125551212", SHORT)
                                              | {"carrier_id": "added"}))
    assert status["state"] == "completed", status
    assert digests(node.base / "etc", own) == before
    assert service.request("DELETE", "/carriers/added")[0] == 200
    assert "carrier-added" not in node.cli("pjsip show endpoints")
