"""Delivery options through the call service and the API, against the fake ARI: what is
originated, what plays on each key, what the status, callbacks and metrics say."""

from __future__ import annotations

import json

from ari_app.ari.asterisk import CALL_HEADER
from tests.service.rig import MAIN, Rig
from tests.support.waiting import until

GATE = {"gate": {"keys": "1", "timeout": 1, "tries": 1}}


async def test_a_gated_call_waits_for_the_key_then_reads_the_code(rig: Rig) -> None:
    rig.ari.hold_playback = True
    call_id = await rig.calls.submit(rig.request(delivery=GATE))
    await until(lambda: len(rig.ari.played) == 1)
    (originate,) = rig.ari.originated
    assert originate["variables"]["ARI_APP_FIRST"] == ""  # the code is first: the gate is
    # Entries: the playlist (0), the gate's prompt (1), the withheld message (2).
    assert rig.ari.played[0] == (call_id, ("sound:/media/1-0", "sound:/media/1-1"))
    rig.ari.hold_playback = False
    await rig.ari.press(call_id, "1")
    record = await rig.final(call_id)

    assert rig.ari.stopped == [f"{call_id}-p1"]  # the prompt, cut by the key
    assert rig.ari.played[1] == (call_id, ("sound:/media/0-0", "sound:/media/0-1"))
    assert record.state == "completed" and record.played == 1
    report = json.loads(record.delivery or "")
    assert report["verdict"] == "confirmed" and report["readings_completed"] == 1
    assert [k["key"] for k in report["keys"]] == ["1"] and report["machine"] is None


async def test_no_key_withholds_the_code(rig: Rig) -> None:
    call_id = await rig.calls.submit(rig.request(delivery=GATE))
    record = await rig.final(call_id, timeout=10)

    sounds = [uris for _, uris in rig.ari.played]
    assert ("sound:/media/0-0", "sound:/media/0-1") not in sounds  # never the code
    assert sounds[-1] == ("sound:/media/2-0", "sound:/media/2-1")  # the withheld message
    assert json.loads(record.delivery or "")["verdict"] == "withheld_no_input"


async def test_a_machine_gets_the_voicemail_message(rig: Rig) -> None:
    call_id = await rig.calls.submit(rig.request(
        "12125551772", delivery={"machine_detection": {"enabled": True, "greeting": 1800}}))
    record = await rig.final(call_id)

    (originate,) = rig.ari.originated
    variables = originate["variables"]
    assert variables["ARI_APP_AMD"] == "2500,1800,800,5000,100,80,3,256,5000"
    assert variables["ARI_APP_GREETING_END"] == "1200,1,20"
    assert variables[f"PJSIP_HEADER(add,{CALL_HEADER})"] == call_id
    # Entries: the playlist (0), the voicemail message (1); the dialplan played nothing.
    assert [uris for _, uris in rig.ari.played] == [("sound:/media/1-0", "sound:/media/1-1")]
    report = json.loads(record.delivery or "")
    assert report["verdict"] == "withheld_machine" and record.played == 0
    assert report["machine"]["status"] == "MACHINE"
    assert report["machine"]["cause"] == "MAXWORDS-3-2"


async def test_a_person_detected_hears_the_playlist(rig: Rig) -> None:
    call_id = await rig.calls.submit(rig.request(delivery={"machine_detection": True}))
    record = await rig.final(call_id)
    report = json.loads(record.delivery or "")
    assert report["verdict"] == "played" and report["machine"]["status"] == "HUMAN"
    assert rig.ari.played[0] == (call_id, ("sound:/media/0-0", "sound:/media/0-1"))


async def test_the_verdict_in_status_callbacks_and_metrics(rig: Rig) -> None:
    client = await rig.client()
    body = {"to": "12125551212", "from": "me", "carrier_id": MAIN,
            "playlist": [{"play": "Your code is 123456", "type": "tts",
                          "options": {"say-as": "digits"}}]}
    answer = await client.post("/voice/call/play", json=body)
    call_id = (await answer.json())["request_id"]
    await rig.final(call_id)
    status = await (await client.get(f"/voice/call/status/{call_id}")).json()
    assert status["delivery"] == {"verdict": "played", "readings_completed": 1, "keys": [],
                                  "machine": None}
    busy = await client.post("/voice/call/play", json={**body, "to": "12125550486"})
    await rig.final((await busy.json())["request_id"])
    metrics = await (await client.get("/metrics")).text()
    assert 'ari_app_deliveries_total{verdict="played"} 1.0' in metrics
    assert 'ari_app_deliveries_total{verdict="not_delivered"} 1.0' in metrics


async def test_a_bad_delivery_is_a_422_and_nothing_dials(rig: Rig) -> None:
    client = await rig.client()
    body = {"to": "12125551212", "from": "me", "carrier_id": MAIN,
            "playlist": [{"play": "Your code is 123456", "type": "tts",
                          "options": {"say-as": "digits"}}],
            "delivery": {"voicemail": [{"type": "tts", "play": "Code 123456",
                                        "options": {"say-as": "digits"}}]}}
    answer = await client.post("/voice/call/play", json=body)
    error = await answer.json()
    assert answer.status == 422 and error["field"] == "delivery.voicemail[0]"
    assert "123456" not in json.dumps(error)
    assert rig.ari.originated == []


async def test_a_machine_missed_while_the_connection_was_down_is_still_a_machine(
        rig: Rig) -> None:
    rig.ari.hold_after_answer = True
    call_id = await rig.calls.submit(rig.request(
        "12125551772", delivery={"machine_detection": True}))
    await until(lambda: call_id in rig.ari.held)
    rig.ari.drop_held(call_id)  # StasisStart lost: the channel is in Stasis meanwhile
    await rig.calls.reconcile()
    record = await rig.final(call_id)
    report = json.loads(record.delivery or "")
    assert report["verdict"] == "withheld_machine", report
    assert ("sound:/media/0-0", "sound:/media/0-1") not in [u for _, u in rig.ari.played]
