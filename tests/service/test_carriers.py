"""Carrier management through the API: the YAML, the rendered Asterisk config, the reload."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from ari_app.config import load
from ari_app.layouts import render_all, write_all
from sandbox.lab import HERE, HOUSE_TRUNK
from tests.service.fake_ami import FakeAmi
from tests.service.rig import Rig
from tests.support.config import sandbox_config

ACME = {"id": "acme", "name": "Acme Telecom", "host": "sip.acme.example", "port": 5060,
        "username": "acme-user", "password": "acme-secret-pass", "register": True,
        "codecs": ["alaw"], "prefix": "99", "caller_ids": ["+15550177"], "max_channels": 4,
        "max_cps": 2, "priority": 5, "failover_group": "otp", "number_format": "00"}

HOUSE = HERE / "pbx" / HOUSE_TRUNK


@pytest.fixture
async def api(tmp_path: Path,
              make_rig: Callable[..., Rig]) -> tuple[TestClient, Rig, FakeAmi]:
    """A service whose carriers may be managed: a carriers file and a rendered config."""
    data = sandbox_config(tmp_path)
    data["carriers_file"] = "carriers.yaml"
    data["asterisk"]["config_dir"] = "etc"
    config = tmp_path / "ari-app.yaml"
    config.write_text(yaml.safe_dump(data))
    settings = load(config)
    write_all(render_all(settings, source=str(config)), tmp_path / "etc")
    shutil.copy(HOUSE, tmp_path / "etc")  # the sandbox PBX's own trunk, as lab.py gives it
    rig = make_rig(settings)
    return await rig.client(), rig, rig.ami


def files(tmp: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in [tmp / "carriers.yaml", tmp / "etc" / "pjsip.conf"]
            if p.exists()}


async def test_a_carrier_added_is_written_rendered_reloaded_and_usable(
        api: tuple[TestClient, Rig, FakeAmi], tmp_path: Path) -> None:
    client, rig, ami = api
    response = await client.post("/carriers", json=ACME)
    body = await response.json()

    assert response.status == 201, body
    assert body["id"] == "acme" and body["password_set"] and "password" not in body
    assert "acme-secret-pass" not in await response.text()
    assert ami.reloads == 1 and "carrier-acme" in ami.loaded
    assert ami.qualified == ["carrier-acme"]
    assert yaml.safe_load((tmp_path / "carriers.yaml").read_text())["acme"]["host"] == \
        "sip.acme.example"
    assert (tmp_path / "carriers.yaml").stat().st_mode & 0o077 == 0
    pjsip = (tmp_path / "etc" / "pjsip.conf").read_text()
    assert "[carrier-acme-reg]" in pjsip and "client_uri = sip:acme-user@sip.acme.example" in pjsip
    assert rig.settings.carriers["acme"].max_channels == 4

    shown = await (await client.get("/carriers/acme")).json()
    assert shown["live"]["registration"] == "Registered" and shown["live"]["contact"] == \
        "Reachable"
    listed = await (await client.get("/carriers")).json()
    assert [c["id"] for c in listed["carriers"]] == ["74445609", "acme", "challenge", "flaky",
                                                    "house", "srtp", "tls"]
    assert [c["managed"] for c in listed["carriers"]] == [False, True, *[False] * 5]

    call = {"to": "+12125551212", "from": "+15550177", "carrier_id": "acme",
            "playlist": [{"type": "tts", "play": "Hello"}]}
    accepted = await client.post("/voice/call/play", json=call)
    assert accepted.status == 202
    await rig.final((await accepted.json())["request_id"])
    assert rig.ari.originated[-1]["endpoint"] == "PJSIP/990012125551212@carrier-acme"


async def test_carrier_id_is_generated_when_not_given(
        api: tuple[TestClient, Rig, FakeAmi]) -> None:
    client, _, _ = api
    body: dict[str, Any] = {k: v for k, v in ACME.items() if k != "id"}
    created = await (await client.post("/carriers", json=body)).json()
    assert created["id"].isdigit() and len(created["id"]) == 8


@pytest.mark.parametrize(("change", "field"), [
    ({"host": "bad host\n[evil]"}, "host"), ({"codecs": ["ulaw", "mp3"]}, "codecs[1]"),
    ({"transport": "carrier-pigeon"}, "transport"), ({"colour": "blue"}, "colour"),
    ({"password": "line\nbreak"}, "password"), ({"max_channels": 0}, "max_channels"),
])
async def test_an_invalid_carrier_is_refused_naming_the_field(
        api: tuple[TestClient, Rig, FakeAmi], tmp_path: Path, change: dict[str, Any],
        field: str) -> None:
    client, rig, ami = api
    before = files(tmp_path)
    response = await client.post("/carriers", json=ACME | change)
    body = await response.json()

    assert response.status == 422, body
    assert body["field"] == field and body["error_id"] == "invalid-field"
    assert "acme-secret-pass" not in await response.text()
    assert files(tmp_path) == before and ami.reloads == 0
    assert "acme" not in rig.settings.carriers


@pytest.mark.parametrize("refusal", ["Module res_pjsip.so failed to reload", "lose:carrier-acme"])
async def test_a_change_asterisk_does_not_take_is_rolled_back(
        api: tuple[TestClient, Rig, FakeAmi], tmp_path: Path, refusal: str) -> None:
    client, rig, ami = api
    before = files(tmp_path)
    ami.refuse = refusal
    response = await client.post("/carriers", json=ACME)
    body = await response.json()

    assert response.status == 502 and body["error_id"] == "carrier-rejected", body
    assert files(tmp_path) == before  # the previous config is back ...
    assert ami.reloads == 2 and "carrier-acme" not in ami.loaded  # ... and reloaded
    assert "acme" not in rig.settings.carriers


async def test_update_keeps_the_password_and_delete_removes(
        api: tuple[TestClient, Rig, FakeAmi], tmp_path: Path) -> None:
    client, rig, ami = api
    assert (await client.post("/carriers", json=ACME)).status == 201
    changed = {k: v for k, v in ACME.items() if k != "password"} | {"max_channels": 8}
    response = await client.put("/carriers/acme", json=changed)
    assert response.status == 200, await response.text()
    stored = yaml.safe_load((tmp_path / "carriers.yaml").read_text())["acme"]
    assert stored["password"] == "acme-secret-pass" and stored["max_channels"] == 8
    assert (tmp_path / "carriers.yaml.previous").exists()

    assert (await client.delete("/carriers/acme")).status == 200
    assert "carrier-acme" not in ami.loaded
    assert (await client.get("/carriers/acme")).status == 404
    assert "acme" not in rig.settings.carriers


async def test_carriers_of_the_main_config_are_read_only(
        api: tuple[TestClient, Rig, FakeAmi]) -> None:
    client, _, _ = api
    response = await client.delete("/carriers/74445609")
    assert response.status == 409
    response = await client.post("/carriers", json=ACME | {"id": "74445609"})
    assert response.status == 409


async def test_health_reports_ami_and_each_carrier(
        api: tuple[TestClient, Rig, FakeAmi]) -> None:
    client, _, ami = api
    report = await (await client.get("/health")).json()
    assert report["ami"] == {"ok": True}
    assert report["carriers"]["74445609"]["contact"] == "Reachable"
    ami.up = False
    report = await (await client.get("/health")).json()
    assert report["status"] == "degraded" and report["ami"] == {"ok": False}


async def test_health_reads_the_registrations_once_for_every_carrier(
        api: tuple[TestClient, Rig, FakeAmi]) -> None:
    client, _, ami = api
    assert (await client.post("/carriers", json=ACME)).status == 201
    assert (await client.post("/carriers", json=ACME | {"id": "acme2"})).status == 201
    report = await (await client.get("/health")).json()
    assert report["carriers"]["acme"]["registration"] == "Registered"
    assert report["carriers"]["acme2"]["registration"] == "Registered"
    assert ami.registration_reads == 1


async def test_a_carrier_on_the_pbx_s_own_endpoint_is_checked_and_rendered_nowhere(
        api: tuple[TestClient, Rig, FakeAmi], tmp_path: Path) -> None:
    client, _, _ = api
    before = (tmp_path / "etc" / "pjsip.conf").read_text()
    response = await client.post("/carriers", json={"id": "mine", "endpoint": "no-such-trunk",
                                                    "caller_ids": ["+15550100"]})
    body = await response.json()
    assert (response.status, body["error_id"]) == (502, "carrier-rejected"), body
    assert "the PBX defines no endpoint 'no-such-trunk' (carriers.mine.endpoint)" in \
        body["message"]
    assert (tmp_path / "etc" / "pjsip.conf").read_text() == before  # put back

    response = await client.post("/carriers", json={"id": "mine", "endpoint": "house-trunk",
                                                    "caller_ids": ["+15550100"]})
    body = await response.json()
    assert response.status == 201, body
    assert body["endpoint"] == "house-trunk"
    assert "[house-trunk]" not in (tmp_path / "etc" / "pjsip.conf").read_text()
    live = (await (await client.get("/carriers/mine")).json())["live"]
    assert (live["contact"], live["registration"]) == ("Reachable", "not-registering")
    response = await client.post("/carriers", json={"id": "bad", "endpoint": "house-trunk",
                                                    "host": "sip.example.com"})
    body = await response.json()
    assert response.status == 422 and body["field"] == "host", body
