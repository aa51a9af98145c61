"""Faults, for real: the ARI connection dropping, Asterisk restarting mid-call, and the
service killed with SIGKILL while calls are queued and live. After each, every call
ends in exactly one final state and none is dialled twice.

These tests run their own service (port 8081, its own Stasis app and database)
connected to ARI through a proxy the tests can cut, with the simulated carrier
limited to one channel so calls queue.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sandbox.api import FINAL, ApiProcess
from sandbox.lab import CONFIG, VAR, Lab
from tests.e2e.observe import calls_processed, seed
from tests.e2e.proxy import Proxy

PROXY_PORT = 8188
FAULTS_CONFIG = VAR / "faults.yaml"
FAULTS_LOG = VAR / "log" / "api-faults.log"


def faults_config() -> Path:
    data = yaml.safe_load(CONFIG.read_text())
    data["ari"] |= {"url": f"http://127.0.0.1:{PROXY_PORT}", "app": "ari-app-faults"}
    data["http"]["listen"] = "127.0.0.1:8081"
    data["storage"]["path"] = "faults.sqlite3"
    data["media"] |= {"dir": "media-faults", "asterisk_dir": "/srv/ari-app/media-faults"}
    data["tts"]["asterisk_sounds"] = "asterisk-sounds"
    data.pop("carriers_file")
    data["asterisk"].pop("config_dir")
    data["carriers"]["74445609"]["max_channels"] = 1
    FAULTS_CONFIG.write_text(yaml.safe_dump(data))  # paths are relative to var/
    return FAULTS_CONFIG


@pytest.fixture(scope="module")
def proxy(lab: Lab) -> Iterator[Proxy]:
    proxy = Proxy(PROXY_PORT, 8088)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def faulty(lab: Lab, proxy: Proxy) -> Iterator[ApiProcess]:
    FAULTS_LOG.unlink(missing_ok=True)  # ended_once reads this run's log only
    service = ApiProcess(log_path=FAULTS_LOG, config=faults_config(),
                         url="http://127.0.0.1:8081", key_path=VAR / "api-key-faults")
    service.start_fresh()
    yield service
    service.stop()


def ended_once(request_ids: list[str]) -> None:
    """Each call reached a final state exactly once, by the service's own log."""
    ended: Counter[str] = Counter()
    for line in FAULTS_LOG.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message", "").startswith("call ended"):
            ended[entry.get("request_id")] += 1
    assert [ended[i] for i in request_ids] == [1] * len(request_ids), ended


def test_ari_connection_drop(faulty: ApiProcess, proxy: Proxy, lab: Lab) -> None:
    live = faulty.place(seed("tts"))
    faulty.wait_state(live, {"answered"})
    before = calls_processed(lab, "carrier")
    proxy.cut()
    try:
        time.sleep(0.5)
        queued = faulty.place(seed("tts"))  # accepted while ARI is unreachable ...
        time.sleep(2)
        status = faulty.status(queued)
        assert status["state"] == "queued" and status["queue_position"] == 1, status
        assert calls_processed(lab, "carrier") == before  # ... and not dialled
        assert "ari_app_ari_connected 0.0" in faulty.http.request(
            "GET", f"{faulty.url}/metrics", headers=faulty.auth).data.decode()
    finally:
        proxy.restore()
    first = faulty.wait_final(live)
    second = faulty.wait_final(queued)

    assert first["state"] == "completed", first  # the call went on in Asterisk meanwhile
    assert second["state"] == "completed", second
    assert calls_processed(lab, "carrier") == before + 1
    ended_once([live, queued])


def test_connection_down_when_the_first_entry_ends(faulty: ApiProcess, proxy: Proxy) -> None:
    """The dialplan plays the first entry, then hands the channel to the service: if the
    service is unreachable just then, the dialplan tries again until it is back."""
    request_id = faulty.place(seed("tts"))
    answered = faulty.wait_state(request_id, {"answered"})
    first_entry = float(str(answered["audio_seconds"])) / 2  # two entries, the same text
    proxy.cut()
    try:
        time.sleep(first_entry + 1.0)  # the entry ends, Stasis fails while we are away
    finally:
        proxy.restore()
    status = faulty.wait_final(request_id, timeout=60)

    assert status["state"] == "completed", status
    assert [e["played"] for e in status["entries"]] == [True, True], status
    ended_once([request_id])


def test_asterisk_restart_mid_call(faulty: ApiProcess, lab: Lab) -> None:
    live = faulty.place(seed("tts"))
    faulty.wait_state(live, {"answered"})
    pbx = lab.instance("pbx")
    pbx.stop()
    try:
        queued = faulty.place(seed("tts"))
        time.sleep(1)
        assert faulty.status(queued)["state"] == "queued"
    finally:
        pbx.start()
        pbx.wait_booted()
        lab.wait_ari()
    interrupted = faulty.wait_final(live)
    after = faulty.wait_final(queued)

    assert interrupted["state"] == "failed", interrupted
    # Stopped gracefully, Asterisk tears its channels down with no cause before it
    # goes; killed, it cannot, and the call is found gone on reconnect. Both say so.
    assert interrupted["error"]["error_id"] in ("asterisk-ended-channel", "channel-lost")
    assert "restart" in interrupted["error"]["message"], interrupted
    assert after["state"] == "completed", after  # went out once Asterisk was back
    assert [len(s["attempts"]) for s in (interrupted, after)] == [1, 1]
    ended_once([live, queued])


def test_service_killed_with_calls_queued_and_live(faulty: ApiProcess, lab: Lab) -> None:
    before = calls_processed(lab, "carrier")
    ids = [faulty.place(seed("tts")) for _ in range(3)]
    faulty.wait_state(ids[0], {"answered"})
    positions = [faulty.status(i)["queue_position"] for i in ids[1:]]
    assert positions == [1, 2]  # one channel: the others wait their turn
    faulty.kill()
    faulty.start()
    statuses = [faulty.wait_final(i, timeout=120) for i in ids]

    assert [s["state"] for s in statuses] == ["failed", "completed", "completed"], statuses
    assert statuses[0]["error"]["error_id"] == "service-restarted"
    assert all(s["state"] in FINAL and len(s["attempts"]) == 1 for s in statuses)
    time.sleep(1)
    assert calls_processed(lab, "carrier") == before + 3  # nothing dialled twice
    assert lab.instance("pbx").cli("core show channels count").startswith("0 active")
    ended_once(ids)
