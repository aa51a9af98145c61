"""Toll-fraud defences against the real sandbox: keys, destinations, velocity limits, the
circuit breaker, caller IDs, config injection, a schemathesis run, and a scan of every log
of the whole test run for secrets.

A service of its own (port 8082, its own Stasis app, database and key) runs with the
stock limits (3 calls to one number in 10 minutes ...), a breaker at 8 calls a minute,
and the simulated carrier limited to one channel so calls queue.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from ari_app.api.auth import KEY_CACHE_SECONDS
from ari_app.api.openapi import document
from sandbox.api import ApiProcess
from sandbox.lab import CHECKOUT, CONFIG, VAR, Lab
from sandbox.run import ARI_PASSWORD
from tests.e2e.observe import calls_processed, seed

GUARD_CONFIG = VAR / "guard.yaml"
GUARD_KEY = VAR / "api-key-guard"
SHORT = [{"type": "tts", "play": "Hello.", "options": {"language": "en-US"}}]


def guard_config() -> None:
    data = yaml.safe_load(CONFIG.read_text())
    data["ari"]["app"] = "ari-app-guard"
    data["http"]["listen"] = "127.0.0.1:8082"
    data["storage"]["path"] = "guard.sqlite3"
    data["media"] |= {"dir": "media-guard", "asterisk_dir": "/srv/ari-app/media-guard"}
    data["tts"]["asterisk_sounds"] = "asterisk-sounds"
    # No default carrier for verifications either: schemathesis must not be able to place
    # a call by leaving carrier_id out of a POST /verify.
    for key in ("carriers_file", "limits", "verify"):
        data.pop(key)
    data["asterisk"].pop("config_dir")
    data["breaker"] = {"max_calls_per_minute": 8}
    data["destinations"]["deny"] = ["+12125550000"]
    data["carriers"]["74445609"]["max_channels"] = 1
    GUARD_CONFIG.write_text(yaml.safe_dump(data))  # paths are relative to var/


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ari_app", "--config", str(GUARD_CONFIG),
                           *args], capture_output=True, text=True, cwd=CHECKOUT, check=False,
                          timeout=60)


@pytest.fixture(scope="module")
def guard(lab: Lab) -> Iterator[ApiProcess]:
    guard_config()
    service = ApiProcess(log_path=VAR / "log" / "api-guard.log", config=GUARD_CONFIG,
                         url="http://127.0.0.1:8082", key_path=GUARD_KEY)
    service.start_fresh()
    yield service
    service.stop()


def call(to: str = "+12125551212", carrier: str = "74445609", **extra: Any) -> dict[str, Any]:
    return {"to": to, "from": "me", "carrier_id": carrier, "playlist": SHORT, **extra}


def test_schemathesis_finds_no_server_error_and_nothing_is_dialled(guard: ApiProcess,
                                                                  lab: Lab) -> None:
    schema = VAR / "openapi.json"
    schema.write_text(json.dumps(document()))
    # One worker: hypothesis describes its strategies with ast.parse, and two threads doing
    # that at once on Python 3.11.7 can raise a spurious "AST constructor recursion depth
    # mismatch" SystemError (CPython gh-106905), failing the run with no finding at all.
    before = calls_processed(lab, "carrier")
    result = subprocess.run(
        [str(CHECKOUT / ".venv/bin/schemathesis"), "run", str(schema), "--url", guard.url,
         "-H", f"Authorization: Bearer {guard.ensure_key()}", "--checks",
         "not_a_server_error", "--max-examples", "15", "--seed", "1", "--workers", "1",
         "--phases", "examples,coverage,fuzzing", "--request-timeout", "20",
         "--no-shrink", "--warnings", "off"],
        capture_output=True, text=True, cwd=VAR, timeout=400, check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert calls_processed(lab, "carrier") == before
    assert "Authorization" not in (VAR / "log" / "api-guard.log").read_text()


def test_requests_without_or_with_a_revoked_key_get_401(guard: ApiProcess) -> None:
    bare = {"Authorization": ""}
    assert guard.request("GET", "/carriers", headers=bare)[0] == 401
    assert guard.post(call(), headers={"Authorization": "Bearer nope"})[0] == 401
    made = cli("keys", "create", "--name", "short-lived", "--out", str(VAR / "api-key-tmp"))
    assert made.returncode == 0, made.stderr
    token = (VAR / "api-key-tmp").read_text().strip()
    assert (VAR / "api-key-tmp").stat().st_mode & 0o077 == 0
    key_id = token.split("_")[1]
    assert guard.request("GET", "/carriers", headers={"Authorization": f"Bearer {token}"})[0] \
        == 200
    listed = cli("keys", "list").stdout
    assert key_id in listed and token.split("_", 2)[2] not in listed
    assert cli("keys", "revoke", key_id).returncode == 0
    revoked_at = time.monotonic()
    while guard.request("GET", "/carriers", headers={"Authorization": f"Bearer {token}"})[0] \
            != 401 and time.monotonic() - revoked_at < 10:
        time.sleep(0.05)
    # The service re-reads a key at most once a second: revoked, it stops within that.
    assert time.monotonic() - revoked_at < KEY_CACHE_SECONDS + 1.0
    code, health = guard.request("GET", "/health", headers=bare)
    assert code == 200, health


def test_a_key_limited_to_one_carrier_cannot_use_another(guard: ApiProcess, lab: Lab) -> None:
    made = cli("keys", "create", "--name", "flaky-only", "--carrier", "flaky",
               "--out", str(VAR / "api-key-flaky"))
    assert made.returncode == 0, made.stderr
    limited = {"Authorization": f"Bearer {(VAR / 'api-key-flaky').read_text().strip()}"}
    before = calls_processed(lab, "carrier")
    code, answer = guard.post(call(), headers=limited)
    assert code == 403 and answer["field"] == "carrier_id", answer
    assert guard.request("DELETE", "/admin/breaker", headers=limited)[0] == 403
    assert calls_processed(lab, "carrier") == before


@pytest.mark.parametrize(("to", "why"), [
    ("+442071234567", "country is not allowed"), ("+19005550123", "premium rate"),
    ("+881612345678", "country is not allowed"), ("+12125550000", "deny-list"),
])
def test_refused_destinations_get_403_and_no_invite(guard: ApiProcess, lab: Lab, to: str,
                                                   why: str) -> None:
    before = calls_processed(lab, "carrier")
    code, answer = guard.post(call(to))
    assert code == 403 and answer["field"] == "to" and why in answer["message"], answer
    time.sleep(0.3)
    assert calls_processed(lab, "carrier") == before


@pytest.mark.parametrize("caller", ["+1555\r\n0100", "+15550100\nX-Evil: 1", '"+15550100"',
                                    "<sip:+15550100@evil>", "${SHELL(id)}", "+15550199"])
def test_caller_ids_with_injection_are_refused(guard: ApiProcess, lab: Lab,
                                               caller: str) -> None:
    before = calls_processed(lab, "carrier")
    code, answer = guard.post(call() | {"from": caller})
    assert code == 422 and answer["field"] == "from", answer
    assert calls_processed(lab, "carrier") == before


def test_a_config_value_with_a_newline_is_refused(tmp_path: Any) -> None:
    data = yaml.safe_load(CONFIG.read_text())
    data["carriers"]["74445609"]["host"] = "127.0.0.1\n[evil]\ntype=endpoint"
    data["ami"]["secret"] = "line\nbreak-secret"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    result = subprocess.run([sys.executable, "-m", "ari_app", "--config", str(bad),
                             "check-config"], capture_output=True, text=True, cwd=CHECKOUT,
                            check=False)
    assert result.returncode == 2
    assert "carriers.74445609.host" in result.stderr and "ami.secret" in result.stderr
    assert "break-secret" not in result.stderr and ARI_PASSWORD not in result.stderr


def test_the_fourth_call_to_one_number_in_ten_minutes_gets_429(guard: ApiProcess) -> None:
    number = "+13125550142"
    ids = [guard.place(call(number)) for _ in range(3)]
    code, answer = guard.post(call(number))
    assert code == 429 and "3 calls to this number in 10 min" in answer["message"], answer
    for request_id in ids:
        assert guard.wait_final(request_id, timeout=60)["state"] == "completed"


def test_the_breaker_trips_and_stops_dialling_until_reset(guard: ApiProcess, lab: Lab) -> None:
    accepted: list[str] = []
    for n in range(12):
        code, answer = guard.post(call(f"+1415555{n:04d}") | {"playlist": seed("tts")["playlist"]})
        if code != 202:
            break
        accepted.append(answer["request_id"])
    assert code == 503 and answer["error_id"] == "circuit-breaker-open", answer
    assert 0 < len(accepted) <= 8
    state = guard.request("GET", "/admin/breaker")[1]
    assert state["tripped"] is True and "calls in a minute" in state["reason"]
    metrics = guard.http.request("GET", f"{guard.url}/metrics", headers=guard.auth).data
    assert b"ari_app_breaker_open 1.0" in metrics
    assert "ALERT circuit breaker tripped" in (VAR / "log" / "api-guard.log").read_text()
    # One channel: the first call is live, the others queued; none goes while it is open.
    # Counted once the carrier has answered it, so its own INVITE is not taken for a new one.
    first = guard.wait_state(accepted[0], {"answered", "completed"})
    before = calls_processed(lab, "carrier")
    guard.cancel(accepted[0])
    guard.wait_final(accepted[0])
    time.sleep(2)
    assert calls_processed(lab, "carrier") == before
    assert guard.status(accepted[1])["state"] == "queued"
    assert guard.post(call("+14155559999"))[0] == 503  # still open
    assert guard.request("DELETE", "/admin/breaker")[0] == 200
    deadline = time.monotonic() + 20
    while calls_processed(lab, "carrier") == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert calls_processed(lab, "carrier") > before, first  # dialling resumed
    for request_id in accepted[1:]:
        guard.cancel(request_id)
    for request_id in accepted:
        assert guard.wait_final(request_id, timeout=60)["state"] in ("canceled", "completed")


SECRETS_FROM_CONFIG = ("ari.password", "ami.secret", "callbacks.secret")


@pytest.mark.last
def test_no_secret_appears_in_any_log_of_the_whole_run() -> None:
    """Runs after every other test: their logs and Asterisk's hold no code or secret."""
    config = yaml.safe_load(CONFIG.read_text())
    secrets = {"the code 123456": "123456", "the simulated trunk password": "acme-trunk-pass",
               "the challenging trunk's password": "challenge-me-7",
               "the 407 proxy's password": "proxy-pw-3"}
    for dotted in SECRETS_FROM_CONFIG:
        section, name = dotted.split(".")
        secrets[dotted] = str(config[section][name])
    for key_file in VAR.glob("api-key*"):
        token = key_file.read_text().strip()
        secrets[key_file.name] = token
        secrets[f"{key_file.name} secret part"] = token.split("_", 2)[2]
    logs = [*(VAR / "log").glob("*.log"), *(VAR / "log").glob("*.out"),
            *VAR.glob("asterisk/*/log/messages*"), *VAR.glob("asterisk/*/log/full*")]
    assert len(logs) >= 4, logs
    found = []
    for path in logs:
        text = path.read_text(errors="replace")
        for what, secret in secrets.items():
            if secret and re.search(re.escape(secret), text):
                found.append(f"{what} in {path.relative_to(VAR)}")
    assert not found, found
