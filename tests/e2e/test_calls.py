"""Real calls: the API, Asterisk 22 and the simulated carrier, all on loopback."""

from __future__ import annotations

import copy
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox.api import ApiProcess
from sandbox.lab import CHECKOUT, CONFIG, Lab
from tests.e2e.observe import (
    DATA,
    calls_processed,
    recording,
    seed,
    wav_seconds,
)
from tests.e2e.transcribe import codes_heard, in_order, transcribe

CODE = "123456"


def with_to(body: dict[str, Any], number: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    changed["to"] = number
    return changed


def test_seed_tts_call_reads_the_code(service: ApiProcess) -> None:
    request_id = service.place(seed("tts"))
    status = service.wait_final(request_id)

    assert status["state"] == "completed", status
    assert [e["played"] for e in status["entries"]] == [True, True]
    assert status["hangup"]["cause"] == 16
    assert status["answered_at"] and status["ended_at"] and status["duration"] > 3
    assert status["speech_engines"], status
    # The code exists only as an order of shared digit clips: no audio per call.
    def shared() -> list[str]:
        return sorted(p.name for p in (CHECKOUT / "var/media").rglob("*") if "calls" not in p.parts)

    media = shared()
    again = service.wait_final(service.place(seed("tts")))
    assert again["state"] == "completed"
    assert shared() == media

    words = transcribe(recording(request_id), digits=len(CODE), readings=2, female=True)
    codes = codes_heard(words)
    assert len(codes) == 2, words
    for heard in codes:
        # pocketsphinx's wideband model hears 8 kHz telephone audio poorly: the
        # /s/ of "six" lies above 4 kHz and it is heard as another digit. So one
        # digit of six may be misheard; the other five must be heard, in order.
        # A wrong code, reordered digits or a cut reading keep fewer and fail.
        assert in_order(heard, CODE) >= len(CODE) - 1, f"heard {heard} for {CODE}: {words}"


def test_seed_prerecorded_call_plays_every_file(service: ApiProcess) -> None:
    body = seed("prerecorded")
    request_id = service.place(body)
    status = service.wait_final(request_id)

    assert status["state"] == "completed", status
    assert all(e["played"] for e in status["entries"])
    assert len(status["entries"]) == len(body["playlist"])
    expected = 0.0
    for entry in body["playlist"]:
        name = entry["play"].rsplit("/", 1)[1]
        expected += wav_seconds(CHECKOUT / "sounds" / "voices" / name)
    heard = wav_seconds(recording(request_id))
    # Leading silence is trimmed from each file, so a little less than the files.
    assert 0.95 * expected <= heard <= 1.02 * expected, (heard, expected)


@pytest.mark.parametrize(
    ("number", "state", "cause", "sip"),
    [("12125550486", "busy", 17, 486), ("12125550480", "no_answer", 19, None),
     ("12125550503", "failed", 34, 503)],
)
def test_unanswered_outcomes(service: ApiProcess, number: str, state: str, cause: int,
                             sip: int | None) -> None:
    request_id = service.place(with_to(seed("tts"), number))
    status = service.wait_final(request_id, timeout=60)

    assert status["state"] == state, status
    assert status["hangup"]["cause"] == cause, status
    if sip is not None:
        assert status["hangup"]["sip_code"] == sip, status
    assert status["answered_at"] is None
    assert not any(e["played"] for e in status["entries"])


def _bad_bodies() -> list[tuple[str, Any, str]]:
    tts = seed("tts")
    missing_to = copy.deepcopy(tts)
    del missing_to["to"]
    no_text = copy.deepcopy(tts)
    del no_text["playlist"][0]["play"]
    foreign_url = seed("prerecorded")
    foreign_url["playlist"][3]["play"] = "http://evil.example/voices/1.wav"
    unknown_carrier = copy.deepcopy(tts)
    unknown_carrier["carrier_id"] = "99999999"
    empty = copy.deepcopy(tts)
    empty["playlist"] = []
    return [
        ("missing to", missing_to, "to"),
        ("letters in to", with_to(tts, "1212555ABCD"), "to"),
        ("& in to", with_to(tts, "1212555&1212"), "to"),
        ("@ in to", with_to(tts, "12125551212@evil.example"), "to"),
        ("/ in to", with_to(tts, "PJSIP/12125551212"), "to"),
        ("unknown carrier", unknown_carrier, "carrier_id"),
        ("empty playlist", empty, "playlist"),
        ("tts without text", no_text, "playlist[0].play"),
        ("host not allowed", foreign_url, "playlist[3].play"),
    ]


def test_bad_input_is_refused_and_nothing_is_dialled(service: ApiProcess, lab: Lab) -> None:
    before = (calls_processed(lab, "pbx"), calls_processed(lab, "carrier"))
    for label, body, field in _bad_bodies():
        code, answer = service.post(body)
        assert 400 <= code < 500, (label, code, answer)
        assert answer["code"] != 0 and answer["status"] == code, (label, answer)
        assert answer["field"] == field, (label, answer)
        assert answer["error_id"] and answer["message"], (label, answer)
    code, answer = service.post(None, raw=b'{"to": "12125551212", "playlist": [')
    assert code == 400 and answer["error_id"] == "malformed-request", answer
    assert (calls_processed(lab, "pbx"), calls_processed(lab, "carrier")) == before


def test_restart_keeps_every_call_and_its_outcome(service: ApiProcess, lab: Lab) -> None:
    done = service.place(with_to(seed("tts"), "12125550486"))
    final = service.wait_final(done, timeout=60)
    before = calls_processed(lab, "carrier")
    # A call accepted just before the restart must still be placed afterwards.
    pending = service.place(seed("tts"))
    service.restart()

    assert service.status(done) == final
    after = service.wait_final(pending)
    assert after["state"] in ("completed", "failed"), after
    dialled = calls_processed(lab, "carrier") - before
    assert len(after["attempts"]) == 1, after
    if after["state"] == "failed":
        # Stopped mid-call: ended as interrupted, and not dialled again after the restart.
        assert after["error"]["error_id"] == "service-restarted", after
        assert dialled <= 1
    else:
        assert dialled == 1  # caught queued: placed once, after the restart


def test_sigterm_lets_a_live_call_finish_then_the_service_exits(service: ApiProcess,
                                                                lab: Lab) -> None:
    """A rolling restart cuts no code in half: SIGTERM stops the dialling, the live call
    plays to its end, then the service exits by itself (not killed)."""
    before = calls_processed(lab, "carrier")
    body = copy.deepcopy(seed("tts"))
    body["playlist"].append({"type": "pause", "play": 4000})  # still playing at SIGTERM
    live = service.place(body)
    deadline = time.monotonic() + 30
    while service.status(live)["state"] != "answered" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.process is not None
    service.stop()  # SIGTERM, then waits for the exit
    assert service.process.returncode == 0  # it stopped by itself, within the drain
    service.start()
    status = service.status(live)
    assert status["state"] == "completed", status
    assert status["delivery"]["verdict"] == "played"
    assert calls_processed(lab, "carrier") == before + 1


def test_asterisk_logs_no_errors_from_our_config(lab: Lab) -> None:
    log = (CHECKOUT / "var/asterisk/pbx/log/messages.log").read_text()
    problems = [line for line in log.splitlines()
                if " ERROR[" in line and ("pjsip" in line.lower() or "ari" in line.lower()
                                          or "extensions.conf" in line or "manager" in line)]
    assert not problems, problems[:5]


def test_codes_never_reach_logs_or_file_names(service: ApiProcess) -> None:
    # Runs after the calls above: their code must not appear anywhere we write.
    api_log = service.log_path.read_text()
    assert CODE not in api_log
    assert "sandbox&ari#pass+word@1" not in api_log
    names = subprocess.run(["find", str(CHECKOUT / "var"), "-name", f"*{CODE}*"],
                           capture_output=True, text=True, check=True).stdout
    assert names == ""


def test_cli_call_follows_the_call_to_its_outcome(service: ApiProcess) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ari_app", "--config", str(CONFIG), "call",
         "--key-file", str(service.key_path), str(DATA / "seed-tts.json")],
        capture_output=True, text=True, timeout=120, check=False, cwd=CHECKOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("accepted: request_id ")
    states = [line.removeprefix("state: ") for line in lines if line.startswith("state: ")]
    assert states[-1] == "completed" and "answered" in states, states


def test_check_config_reports_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("http:\n  listen: nowhere\ncarriers:\n  x:\n    host: \"a\\nb\"\n")
    result = subprocess.run([sys.executable, "-m", "ari_app", "--config", str(bad),
                             "check-config"], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    for key in ("http.listen", "carriers.x.host", "ari.password", "ami.secret"):
        assert key in result.stderr, result.stderr
    good = subprocess.run([sys.executable, "-m", "ari_app", "--config", str(CONFIG),
                           "check-config"], capture_output=True, text=True, check=False)
    assert good.returncode == 0 and \
        "6 carrier(s): 74445609, challenge, flaky, house, srtp, tls" in good.stdout


def test_media_that_cannot_be_fetched_means_no_call(service: ApiProcess, lab: Lab) -> None:
    before = (calls_processed(lab, "pbx"), calls_processed(lab, "carrier"))
    body = seed("prerecorded")
    body["playlist"][5]["play"] = "http://server.domain.com/voices/missing.wav"
    status = service.wait_final(service.place(body))

    assert status["state"] == "failed", status
    assert status["error"]["error_id"] == "media-unavailable", status
    assert "playlist[5]" in status["error"]["message"] and "404" in status["error"]["message"]
    assert (calls_processed(lab, "pbx"), calls_processed(lab, "carrier")) == before


def test_cancel_a_ringing_call(service: ApiProcess) -> None:
    request_id = service.place(with_to(seed("tts"), "12125550480"))  # rings for ever
    deadline = time.monotonic() + 10
    while service.status(request_id)["state"] != "ringing" and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    code, answer = service.cancel(request_id)
    assert code == 202 and answer["data"] == "canceling", answer
    status = service.wait_final(request_id, timeout=10)

    assert status["state"] == "canceled", status
    assert time.monotonic() - started < 3  # not the 15 s ring timeout
    assert status["answered_at"] is None
    assert service.cancel(request_id)[0] == 409
