"""The verify API against the real sandbox: the service makes a code, calls the simulated
carrier, and the code is taken from the carrier's recording (pocketsphinx) and checked.

Four verifications start together, each to a callee who presses 1 at the gate
(numbers ending 1771); with them one play-API call reads a known code. The two whose
codes are approved, and so known for sure, have ten digits, to be looked for in files. Then: the
code heard is approved, once; five wrong codes end one; one is restarted across a
service restart and sent again (same code); one expires. Last, every file under var/
(the database, its write-ahead log, every log) and every callback body is scanned for
the codes, as a new user would look.
"""

from __future__ import annotations

import http.server
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from ari_app.callbacks import verify as verify_signature
from sandbox.api import ApiProcess
from sandbox.lab import CONFIG, VAR
from tests.e2e.observe import recording
from tests.e2e.transcribe import in_order, majority, spoken_digits
from tests.support.http_sink import serving
from tests.support.waiting import eventually

LONG = 10
PLAY_CODE = "7305182946"
"""Read by the play-API call: ten digits, so a chance match in any binary file is nil."""
NUMBERS = {"approve": "+12125551771", "wrong": "+12125561771", "expire": "+12125571771",
           "restart": "+12125581771"}
AUDIO = {".wav", ".sln", ".sln16", ".ulaw", ".alaw", ".gsm", ".g722", ".raw"}


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        if signed(self.headers["X-Ari-App-Timestamp"], body,
                  self.headers["X-Ari-App-Signature"]):
            self.bodies.append(body)  # a body not signed right is not counted
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def signed(timestamp: str, body: str, signature: str) -> bool:
    secret = yaml.safe_load(CONFIG.read_text())["callbacks"]["secret"]
    return verify_signature(secret, timestamp, body, signature)


@pytest.fixture(scope="module")
def hooks() -> Iterator[tuple[str, list[str]]]:
    _Receiver.bodies = []
    with serving(_Receiver, "/hooks/verify") as url:
        yield url, _Receiver.bodies


def verify(service: ApiProcess, method: str, path: str = "", body: Any = None
           ) -> tuple[int, dict[str, Any]]:
    return service.request(method, f"/verify{path}", body)


def last_call_ended(service: ApiProcess, verification_id: str,
                    sends: int = 1) -> dict[str, Any]:
    """The verification once its `sends`-th call has ended."""
    def ended() -> dict[str, Any] | None:
        _, got = verify(service, "GET", f"/{verification_id}")
        calls = got.get("calls", [])
        return got if len(calls) >= sends and calls[-1]["ended_at"] else None
    found = eventually(ended, timeout=90)
    assert found, verify(service, "GET", f"/{verification_id}")
    return found


def codes_heard(call_id: str, *, length: int = 6, readings: int = 3) -> list[str]:
    """The code a call read (in the sandbox's male verify voice), as heard: best guess
    first, then the runner-up."""
    digits = spoken_digits(recording(call_id), count=length * readings, female=False)
    return majority([digits[n * length:(n + 1) * length] for n in range(readings)])


@pytest.fixture(scope="module")
def started(service: ApiProcess, hooks: tuple[str, list[str]]) -> dict[str, Any]:
    url, _ = hooks
    made: dict[str, Any] = {}
    for name, number in NUMBERS.items():
        body = {"to": number, "callback_url": url,
                **({"expires_in": 60} if name == "expire" else {}),
                # One reading, where the code is not proven right by an approval.
                **({"repeat": 1} if name in ("expire", "wrong") else {}),
                # Ten digits where the code is approved, then looked for in every file:
                # six digits turn up by chance among the digits of logs and databases
                # (one run in nine found one, in a hex id or a timestamp), ten do not.
                **({"code_length": LONG} if name in ("approve", "restart") else {})}
        status, got = verify(service, "POST", "", body)
        assert status == 201, got
        made[name] = got
    made["play"] = service.place({
        "to": "+12125550100", "from": "me", "carrier_id": "74445609",
        "playlist": [{"type": "tts", "play": f"Your code is {PLAY_CODE}",
                      "options": {"language": "en-US", "say-as": "digits"}}]})
    made["approved"] = {}
    return made


def approve(service: ApiProcess, verification_id: str, heard: list[str]) -> str:
    """Check the code heard (its runner-up too, if the first guess was wrong by one digit:
    8 kHz audio through pocketsphinx); the code approved."""
    for guess in heard:
        status, checked = verify(service, "POST", f"/{verification_id}/check", {"code": guess})
        assert status == 200, checked
        if checked["status"] == "approved":
            return guess
        assert checked["status"] == "pending"
    raise AssertionError(f"no code heard was approved: {heard}")


def test_the_code_heard_on_the_call_is_approved_once(service: ApiProcess,
                                                    started: dict[str, Any]) -> None:
    verification = last_call_ended(service, started["approve"]["id"])
    (send,) = verification["calls"]
    assert send["state"] == "completed" and send["verdict"] == "confirmed", send
    code = approve(service, verification["id"], codes_heard(send["call_id"], length=LONG))
    started["approved"]["approve"] = code
    status, again = verify(service, "POST", f"/{verification['id']}/check", {"code": code})
    assert status == 409 and again["verification_status"] == "approved"
    assert verify(service, "GET", f"/{verification['id']}")[1]["status"] == "approved"


def test_five_wrong_codes_end_it_and_then_the_right_one_is_refused(
        service: ApiProcess, started: dict[str, Any]) -> None:
    verification = last_call_ended(service, started["wrong"]["id"])
    heard = codes_heard(verification["calls"][0]["call_id"], readings=1)
    assert heard, "no code heard"
    # Every digit moved by five: wrong even if the guess was off by a digit.
    wrong = "".join(str((int(d) + 5) % 10) for d in heard[0])
    for left in (4, 3, 2, 1, 0):
        status, checked = verify(service, "POST", f"/{verification['id']}/check",
                                 {"code": wrong})
        assert status == 200 and checked["attempts_left"] == left, checked
    assert checked["status"] == "max_attempts_reached"
    for guess in heard:
        status, refused = verify(service, "POST", f"/{verification['id']}/check",
                                 {"code": guess})
        assert status == 409 and refused["verification_status"] == "max_attempts_reached"


def test_a_restart_between_start_and_check_keeps_it_and_a_resend_says_the_same_code(
        service: ApiProcess, started: dict[str, Any]) -> None:
    verification_id = started["restart"]["id"]
    first = last_call_ended(service, verification_id)
    for name in NUMBERS:  # no call of this module is live while the service restarts
        last_call_ended(service, started[name]["id"])
    service.wait_final(started["play"])
    service.restart()

    def resend() -> dict[str, Any] | None:
        # 429 until verify.resend_interval (30 s) has passed since the first call.
        status, resent = verify(service, "POST", f"/{verification_id}/resend")
        assert status in (200, 429), resent
        return resent if status == 200 else None

    resent = eventually(resend, timeout=40, every=1)
    assert resent and resent["sends"] == 2, resent
    second = last_call_ended(service, verification_id, sends=2)
    calls = second["calls"]
    assert [c["verdict"] for c in calls] == ["confirmed", "confirmed"], calls
    code = approve(service, verification_id, codes_heard(calls[1]["call_id"], length=LONG))
    started["approved"]["restart"] = code
    # The first call, before the restart, read the same code.
    heard_first = codes_heard(first["calls"][0]["call_id"], length=LONG)
    assert heard_first and in_order(heard_first[0], code) >= LONG - 1, (heard_first, code)


def test_an_expired_verification_refuses_the_code(service: ApiProcess,
                                                 started: dict[str, Any]) -> None:
    verification = last_call_ended(service, started["expire"]["id"])
    heard = codes_heard(verification["calls"][0]["call_id"], readings=1)
    created = datetime.fromisoformat(verification["created_at"]).timestamp()
    time.sleep(max(0.0, created + 60.5 - time.time()))  # expires_in: 60
    status, refused = verify(service, "POST", f"/{verification['id']}/check",
                             {"code": heard[0] if heard else "000000"})
    assert status == 409 and refused["verification_status"] == "expired", refused
    assert verify(service, "GET", f"/{verification['id']}")[1]["status"] == "expired"


def test_no_file_under_var_and_no_callback_holds_a_code(
        service: ApiProcess, started: dict[str, Any], hooks: tuple[str, list[str]]) -> None:
    codes = [PLAY_CODE, *started["approved"].values()]
    assert len(codes) == 3, started["approved"]  # the approvals above ran
    _, bodies = hooks
    # Signed as call events are: 4 pending, 4 ends.
    assert eventually(lambda: len(bodies) >= 8, timeout=30), bodies
    for body in bodies:
        assert not any(code in body for code in codes), body
    assert {b.split('"type":"')[1].split('"')[0] for b in bodies} >= {
        "verification.pending", "verification.approved", "verification.expired",
        "verification.max_attempts_reached"}
    found = []
    for path in VAR.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        if any(code in str(path.relative_to(VAR)) for code in codes):
            found.append(f"{path}: in its name")
        if path.suffix in AUDIO or _is_audio(path):
            continue  # sound, not text: a recording holds the code as speech, by design
        data = path.read_bytes()
        found += [f"{path}: holds a code" for code in codes if code.encode() in data]
    assert found == []


def _is_audio(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"RIFF"
