"""Carriers, limits, failover, callbacks and idempotency against the real sandbox."""

from __future__ import annotations

import copy
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pytest
import yaml

from ari_app.callbacks import verify
from sandbox.api import ApiProcess
from sandbox.lab import CONFIG, VAR, Lab
from tests.e2e.observe import (
    SHORT,
    active_calls,
    calls_processed,
    carrier_cap,
    max_overlap,
    recording,
    refused_over_cap,
    seed,
    timestamp,
)
from tests.support.http_sink import serving
from tests.support.waiting import eventually

ACME = {"id": "acme", "name": "Acme (registers)", "host": "127.0.0.1", "port": 5070,
        "username": "acme", "password": "acme-trunk-pass", "register": True,
        "caller_ids": ["+15550100"], "max_channels": 5, "dtmf_mode": "info"}
CALLBACK_SECRET = yaml.safe_load(CONFIG.read_text())["callbacks"]["secret"]


def call(carrier: str, to: str = "12125551212", playlist: Any = None,
         **extra: Any) -> dict[str, Any]:
    body = copy.deepcopy(seed("tts"))
    body |= {"carrier_id": carrier, "to": to, **extra}
    if playlist is not None:
        body["playlist"] = playlist
    return body


def carrier_cli(lab: Lab, command: str) -> str:
    return lab.instance("carrier").cli(command)


def test_a_carrier_added_through_the_api_registers_and_carries_calls(service: ApiProcess,
                                                                      lab: Lab) -> None:
    code, created = service.request("POST", "/carriers", ACME)
    assert code == 201, created
    assert "password" not in created and created["password_set"]

    def registered() -> dict[str, Any] | None:
        live = service.request("GET", "/carriers/acme")[1]["live"]
        return live if live["registration"] == "Registered" else None

    live = eventually(registered)
    assert live, service.request("GET", "/carriers/acme")
    # The carrier's own view: our PBX holds a registration with its account.
    assert "acme/sip:acme@127.0.0.1:5060" in carrier_cli(lab, "pjsip show contacts")
    assert eventually(lambda: service.request("GET", "/carriers/acme")[1]["live"]["contact"]
                      == "Reachable")

    request_id = service.place(call("acme"))
    status = service.wait_final(request_id)
    assert status["state"] == "completed", status
    assert [a["carrier_id"] for a in status["attempts"]] == ["acme"]
    assert recording(request_id).stat().st_size > 8000

    # A bad change is refused, naming the field; the carrier keeps working as it was.
    carriers_yaml = (VAR / "carriers.yaml").read_text()
    code, refused = service.request("PUT", "/carriers/acme", ACME | {"host": "bad host;x"})
    assert code == 422 and refused["field"] == "host", refused
    assert (VAR / "carriers.yaml").read_text() == carriers_yaml
    # Its callees' keys come as SIP INFO: a person behind a gate presses 1 (the sandbox's
    # ...1771) and hears the code.
    again = service.wait_final(service.place(call(
        "acme", to="12125551771", delivery={"gate": {"keys": "1", "timeout": 5}})))
    assert again["state"] == "completed", again
    assert again["delivery"]["verdict"] == "confirmed", again["delivery"]

    # Removed: gone from Asterisk, and calls naming it are refused.
    code, _ = service.request("DELETE", "/carriers/acme")
    assert code == 200
    assert "carrier-acme" not in lab.instance("pbx").cli("pjsip show endpoints")
    code, body = service.post(call("acme"))
    assert code == 422 and body["field"] == "carrier_id"


def test_a_carrier_answering_503_fails_over_to_the_next_of_its_group(service: ApiProcess) -> None:
    status = service.wait_final(service.place(call("flaky", playlist=SHORT)))

    assert status["state"] == "completed", status
    attempts = [(a["carrier_id"], a["sip_code"], a["outcome"]) for a in status["attempts"]]
    assert attempts == [("flaky", 503, "failed"), ("74445609", None, "completed")]
    assert status["attempts"][0]["cause"] == 34


def test_busy_is_final_and_never_fails_over(service: ApiProcess, lab: Lab) -> None:
    before = calls_processed(lab, "carrier")
    status = service.wait_final(service.place(call("74445609", to="12125550486")))

    assert status["state"] == "busy"
    assert [(a["carrier_id"], a["sip_code"]) for a in status["attempts"]] == [("74445609", 486)]
    assert calls_processed(lab, "carrier") == before + 1


def test_channel_and_cps_limits_hold_under_a_burst_of_50(service: ApiProcess, lab: Lab) -> None:
    limited = {"id": "burst", "host": "127.0.0.1", "port": 5070, "caller_ids": ["+15550100"],
               "max_channels": 6, "max_cps": 8}
    assert service.request("POST", "/carriers", limited)[0] == 201
    peak_at_carrier = 0
    stop = threading.Event()

    def watch() -> None:  # what the carrier sees: active calls, polled
        nonlocal peak_at_carrier
        while not stop.is_set():
            peak_at_carrier = max(peak_at_carrier, active_calls(lab.instance("carrier")))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    carrier_cap(lab, 6)
    try:
        with ThreadPoolExecutor(max_workers=25) as pool:
            ids = list(pool.map(lambda _: service.place(call("burst", playlist=SHORT)),
                                range(50)))
        queued = [service.status(i) for i in ids[-10:]]
        statuses = [service.wait_final(i, timeout=180) for i in ids]
        refused = refused_over_cap(lab)
    finally:
        stop.set()
        watcher.join()
        service.request("DELETE", "/carriers/burst")
        carrier_cap(lab, 30)

    assert [s["state"] for s in statuses] == ["completed"] * 50
    assert refused == 0  # the carrier's own count never went over the cap
    assert any(s["state"] == "queued" and s["queue_position"] for s in queued), queued
    spans = [(timestamp(s["attempts"][0]["started_at"]), timestamp(s["attempts"][0]["ended_at"]))
             for s in statuses]
    assert max_overlap(spans) <= 6
    assert 0 < peak_at_carrier <= 6
    starts = sorted(start for start, _ in spans)
    # Attempts are stamped just after the dispatcher lets them through, so one may
    # appear a few milliseconds early: allow one more than the limit in any second.
    busiest = max(sum(1 for t in starts if s <= t < s + 1) for s in starts)
    assert busiest <= 8 + 1, busiest


def test_the_carrier_refuses_and_counts_calls_over_its_cap(service: ApiProcess,
                                                          lab: Lab) -> None:
    """The carrier's check is live: with a cap below our max_channels it refuses the calls
    over it with 503, and counts them."""
    limited = {"id": "overcap", "host": "127.0.0.1", "port": 5070,
               "caller_ids": ["+15550100"], "max_channels": 6}
    assert service.request("POST", "/carriers", limited)[0] == 201
    carrier_cap(lab, 2)
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            ids = list(pool.map(lambda _: service.place(call("overcap", playlist=SHORT)),
                                range(6)))
        statuses = [service.wait_final(i, timeout=60) for i in ids]
        refused = refused_over_cap(lab)
    finally:
        service.request("DELETE", "/carriers/overcap")
        carrier_cap(lab, 30)
    codes = [a["sip_code"] for s in statuses for a in s["attempts"]]
    assert refused >= 1 and codes.count(503) == refused, (refused, codes)
    assert sum(s["state"] == "completed" for s in statuses) >= 2


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.received.append((dict(self.headers), body))
        event_id = self.headers["X-Ari-App-Event-Id"]
        tries = sum(1 for h, _ in self.received if h["X-Ari-App-Event-Id"] == event_id)
        self.send_response(503 if tries == 1 else 204)  # every event fails once first
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], str]]]]:
    _Receiver.received = []
    with serving(_Receiver, "/hooks/calls") as url:
        yield url, _Receiver.received


def test_callbacks_arrive_signed_are_retried_and_verify(
        service: ApiProcess, receiver: tuple[str, list[tuple[dict[str, str], str]]]) -> None:
    url, received = receiver
    request_id = service.place(call("74445609", playlist=SHORT, callback_url=url))
    service.wait_final(request_id)

    def delivered() -> dict[str, Any] | None:
        status = service.status(request_id)
        done = status["callbacks"] and all(c["delivery"] == "delivered"
                                           for c in status["callbacks"])
        return status if done else None

    status = eventually(delivered, timeout=30)
    assert status, service.status(request_id)
    # The simulated carrier answers at once, without a 180 Ringing.
    assert [c["state"] for c in status["callbacks"]] == [
        "queued", "dialing", "answered", "completed"]
    assert all(c["attempts"] == 2 for c in status["callbacks"])
    for headers, body in received:
        assert verify(CALLBACK_SECRET, headers["X-Ari-App-Timestamp"], body,
                      headers["X-Ari-App-Signature"])
        assert not verify("another-secret-entirely", headers["X-Ari-App-Timestamp"], body,
                          headers["X-Ari-App-Signature"])
        event = json.loads(body)
        assert event["request_id"] == request_id
        assert event["event_id"] == headers["X-Ari-App-Event-Id"]
    ids = [h["X-Ari-App-Event-Id"] for h, _ in received]
    assert len(ids) == 8 and len(set(ids)) == 4  # each event twice, under one stable id


def test_twenty_concurrent_requests_with_one_key_place_one_call(service: ApiProcess,
                                                               lab: Lab) -> None:
    key = f"signup-{uuid.uuid4()}"
    body = call("74445609", playlist=SHORT)
    before = calls_processed(lab, "carrier")
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: service.post(body, headers={"Idempotency-Key": key}),
                                range(20)))

    assert {code for code, _ in answers} == {202}
    request_ids = {answer["request_id"] for _, answer in answers}
    assert len(request_ids) == 1
    assert service.wait_final(request_ids.pop())["state"] == "completed"
    time.sleep(1)
    assert calls_processed(lab, "carrier") == before + 1
