"""The HTTP API over a real aiohttp server, with the fake ARI behind it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tests.service.rig import Rig
from tests.support.waiting import until

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
async def api(rig: Rig) -> tuple[TestClient, Rig]:
    return await rig.client(), rig


@pytest.mark.parametrize("name", ["seed-tts.json", "seed-prerecorded.json"])
async def test_canonical_requests_are_accepted_and_stored(api: tuple[TestClient, Rig],
                                                          name: str) -> None:
    client, rig = api
    response = await client.post("/voice/call/play", data=(DATA / name).read_bytes())
    body = await response.json()

    assert response.status == 202
    assert body["code"] == 0 and body["status"] == 200 and body["data"] == "accepted"
    record = await rig.store.calls.get(body["request_id"])
    assert record is not None and record.to_number == "+12125551212"
    status = await client.get(f"/voice/call/status/{body['request_id']}")
    assert status.status == 200
    assert (await status.json())["request_id"] == body["request_id"]


async def test_status_of_a_finished_call(api: tuple[TestClient, Rig]) -> None:
    client, rig = api
    response = await client.post("/voice/call/play", data=(DATA / "seed-tts.json").read_bytes())
    request_id = (await response.json())["request_id"]
    await rig.final(request_id)
    status = await (await client.get(f"/voice/call/status/{request_id}")).json()

    assert status["state"] == "completed"
    assert status["hangup"] == {"cause": 16, "cause_txt": "Normal Clearing", "sip_code": None}
    assert status["entries"] == [{"index": 0, "type": "tts", "played": True},
                                 {"index": 1, "type": "tts", "played": True}]
    assert status["answered_at"] and status["ended_at"] and status["duration"] >= 0
    assert "123456" not in json.dumps(status)


async def test_status_can_wait_for_the_end_of_the_call(api: tuple[TestClient, Rig]) -> None:
    client, rig = api
    rig.ari.hold_after_answer = True
    response = await client.post("/voice/call/play", data=(DATA / "seed-tts.json").read_bytes())
    request_id = (await response.json())["request_id"]
    await until(lambda: rig.ari.played != [])

    started = asyncio.get_running_loop().time()
    early = await client.get(f"/voice/call/status/{request_id}", params={"wait": "0.2"})
    assert (await early.json())["state"] == "answered"  # time up first
    assert asyncio.get_running_loop().time() - started >= 0.2

    waiting = asyncio.create_task(
        client.get(f"/voice/call/status/{request_id}", params={"wait": "30"}))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await rig.ari.finish_first(request_id)  # the call plays to its end and hangs up
    answer = await asyncio.wait_for(waiting, 5)
    assert (await answer.json())["state"] == "completed"

    for wrong in ("-1", "61", "nan", "soon"):
        refused = await client.get(f"/voice/call/status/{request_id}", params={"wait": wrong})
        assert refused.status == 422 and (await refused.json())["field"] == "wait"


@pytest.mark.parametrize("path", ["/voice/call/status/nope",
                                  "/voice/call/status/00000000-0000-4000-8000-000000000000"])
async def test_unknown_request_id_is_404(api: tuple[TestClient, Rig], path: str) -> None:
    client, _ = api
    response = await client.get(path)
    body = await response.json()
    assert response.status == 404
    assert body["error_id"] == "not-found" and body["field"] == "request_id" and body["code"]


@pytest.mark.parametrize(("raw", "status", "error_id"), [
    (b"{", 400, "malformed-request"),
    (b"\xff\xfe", 400, "malformed-request"),
    (b"[]", 422, "invalid-field"),
    (b'{"to": "1"}', 422, "invalid-field"),
    (b'{"x": ' + b'"a"' * 1 + b', "pad": "' + b"a" * 70_000 + b'"}', 413, "payload-too-large"),
])
async def test_bad_bodies_get_json_errors_and_no_call(api: tuple[TestClient, Rig],
                                                      raw: bytes, status: int,
                                                      error_id: str) -> None:
    client, rig = api
    response = await client.post("/voice/call/play", data=raw)
    body = await response.json()

    assert response.status == status, body
    assert body["error_id"] == error_id and body["status"] == status and body["code"] != 0
    assert rig.ari.originated == []


async def test_the_openapi_document_lists_exactly_the_routes(api: tuple[TestClient, Rig]) -> None:
    client, rig = api
    document = await (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, operations in document["paths"].items()
                  for method in operations}
    routed = {(route.method, route.resource.canonical)
              for route in rig.service.http.router.routes()
              if route.method != "HEAD" and route.resource is not None}
    assert documented == routed


async def test_health_reports_ari_database_and_engines(api: tuple[TestClient, Rig]) -> None:
    client, rig = api
    response = await client.get("/health")
    report = await response.json()
    assert response.status == 200 and report["status"] == "ok", report
    assert report["ari"] == {"connected": True} and report["database"] == {"ok": True}
    assert set(report["speech_engines"]) == {"flite", "espeak-ng"}
    assert all(e["ok"] for e in report["speech_engines"].values())

    rig.ari.set_connected(False)
    response = await client.get("/health")
    assert response.status == 503 and (await response.json())["status"] == "degraded"


async def test_cancel_answers(api: tuple[TestClient, Rig]) -> None:
    client, rig = api
    missing = await client.delete("/voice/call/00000000-0000-4000-8000-000000000000")
    assert missing.status == 404

    rig.ari.hold_after_answer = True
    response = await client.post("/voice/call/play", data=(DATA / "seed-tts.json").read_bytes())
    request_id = (await response.json())["request_id"]
    await until(lambda: rig.ari.played != [])
    canceling = await client.delete(f"/voice/call/{request_id}")
    assert canceling.status == 202 and (await canceling.json())["data"] == "canceling"
    assert (await rig.final(request_id)).state == "canceled"

    again = await client.delete(f"/voice/call/{request_id}")
    body = await again.json()
    assert again.status == 409 and body["error_id"] == "call-ended"


async def test_idempotency_key_places_one_call(api: tuple[TestClient, Rig]) -> None:
    client, rig = api
    body = (DATA / "seed-tts.json").read_bytes()
    headers = {"Idempotency-Key": "order-4711-attempt"}
    answers = await asyncio.gather(*(client.post("/voice/call/play", data=body, headers=headers)
                                     for _ in range(5)))
    bodies = [await a.json() for a in answers]
    assert {a.status for a in answers} == {202}
    assert len({b["request_id"] for b in bodies}) == 1
    await rig.final(bodies[0]["request_id"])
    assert len(rig.ari.originated) == 1

    later = await client.post("/voice/call/play", data=body, headers=headers)
    assert (await later.json())["request_id"] == bodies[0]["request_id"]
    other = json.loads(body)
    other["to"] = "12125559999"
    reused = await client.post("/voice/call/play", json=other, headers=headers)
    error = await reused.json()
    assert reused.status == 422 and error["error_id"] == "idempotency-key-reused"
    assert error["field"] == "Idempotency-Key"
    bad = await client.post("/voice/call/play", data=body, headers={"Idempotency-Key": "a b"})
    assert bad.status == 422 and len(rig.ari.originated) == 1


async def test_metrics(api: tuple[TestClient, Rig]) -> None:
    client, rig = api
    response = await client.post("/voice/call/play", data=(DATA / "seed-tts.json").read_bytes())
    await rig.final((await response.json())["request_id"])
    async with asyncio.timeout(5):  # the call's task clears up just after its final write
        while True:
            page = await client.get("/metrics")
            text = await page.text()
            if "ari_app_live_calls 0.0" in text:
                break
            await asyncio.sleep(0.01)

    assert page.status == 200 and page.content_type == "text/plain"
    assert 'ari_app_calls_total{carrier="74445609",state="completed"} 1.0' in text
    assert 'ari_app_attempts_total{carrier="74445609"} 1.0' in text
    assert "ari_app_ari_connected 1.0" in text
    assert "ari_app_answer_to_audio_seconds_count 1.0" in text
    assert "12125551212" not in text and "123456" not in text
