"""The verify API through the whole service, against the fake ARI: the code the service makes
(read back from what its calls asked the media layer to say), checks, resends, expiry,
cancel, undeliverable, callbacks, metrics, a restart, and the database holding no code."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ari_app.api_client import verify_number
from ari_app.entries import Speech
from ari_app.settings import FraudSettings
from tests.service.rig import Rig, build_rig
from tests.support.config import sandbox_settings
from tests.support.stores import RigDatabase
from tests.support.waiting import until, until_async

NO_GATE = {"gate": False}
"""The fake callee never presses a key: the sandbox's verify gate would withhold every code."""


class Clock:
    """The real time, moved ahead by the test (the calls' own timing keeps running)."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


def start_body(to: str = "+12125551212", **extra: Any) -> dict[str, Any]:
    return {"to": to, "delivery": NO_GATE, **extra}


def spoken_codes(rig: Rig) -> list[str]:
    """The code of each verification call placed so far, as handed to the media layer."""
    return [entry.text.split()[-1] for playlist in rig.media.playlists for entry in playlist
            if isinstance(entry, Speech) and entry.secret]


async def start(client: TestClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/verify", json=start_body(**body))
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def check(client: TestClient, verification_id: str, code: str) -> tuple[int, Any]:
    response = await client.post(f"/verify/{verification_id}/check", json={"code": code})
    return response.status, await response.json()


def wrong(code: str) -> str:
    return "".join(str((int(d) + 5) % 10) for d in code)


async def first_code(rig: Rig) -> str:
    await until(lambda: len(rig.media.playlists) >= 1)
    codes = spoken_codes(rig)
    assert len(set(codes)) == 1
    return codes[0]


async def test_a_verification_says_its_code_three_times_and_accepts_it_once(rig: Rig) -> None:
    client = await rig.client()
    started = await start(client, brand="Acme")
    code = await first_code(rig)
    assert code not in json.dumps(started)
    assert started["status"] == "pending" and started["sends"] == 1
    assert started["to"] == "+12125551212" and len(code) == 6 and code.isdigit()
    (playlist,) = rig.media.playlists[:1]
    assert [e.text for e in playlist if isinstance(e, Speech) and e.secret] == \
        [f"Your Acme code is {code}", code, code]

    status, body = await check(client, started["id"], wrong(code))
    assert status == 200 and body == {"id": started["id"], "status": "pending",
                                      "attempts_left": 4}
    status, body = await check(client, started["id"], code)
    assert status == 200 and body["status"] == "approved"
    status, body = await check(client, started["id"], code)
    assert status == 409 and body["verification_status"] == "approved"
    assert body["error_id"] == "verification-ended"

    async def send_ended() -> bool:
        got = await (await client.get(f"/verify/{started['id']}")).json()
        return got["calls"][0]["ended_at"] is not None  # type: ignore[no-any-return]

    await until_async(send_ended)
    got = await (await client.get(f"/verify/{started['id']}")).json()
    assert got["status"] == "approved" and got["attempts_left"] == 4 and got["attempts"] == 1
    (send,) = got["calls"]
    assert send["state"] == "completed" and send["verdict"] == "played"
    metrics = (await (await client.get("/metrics")).read()).decode()
    assert 'ari_app_verifications_total{status="approved"} 1.0' in metrics
    assert f'"{code}"' not in metrics  # as a label value


async def test_five_wrong_codes_end_it_and_the_right_one_is_then_refused(rig: Rig) -> None:
    client = await rig.client()
    started = await start(client)
    code = await first_code(rig)
    for left in (4, 3, 2, 1):
        assert (await check(client, started["id"], wrong(code)))[1]["attempts_left"] == left
    status, body = await check(client, started["id"], wrong(code))
    assert status == 200 and body["status"] == "max_attempts_reached"
    assert body["attempts_left"] == 0
    status, body = await check(client, started["id"], code)
    assert status == 409 and body["verification_status"] == "max_attempts_reached"


async def test_an_expired_verification_refuses_the_right_code(make_rig: Callable[..., Rig]
                                                              ) -> None:
    clock = Clock()
    rig = make_rig(clock=clock)
    client = await rig.client()
    started = await start(client, expires_in=60)
    code = await first_code(rig)
    clock.ahead += 60
    status, body = await check(client, started["id"], code)
    assert status == 409 and body["verification_status"] == "expired"
    assert (await (await client.get(f"/verify/{started['id']}")).json())["status"] == "expired"


async def test_resends_say_the_same_code_thirty_seconds_apart_five_at_most(
        make_rig: Callable[..., Rig]) -> None:
    clock = Clock()
    rig = make_rig(clock=clock)
    client = await rig.client()
    started = await start(client)
    response = await client.post(f"/verify/{started['id']}/resend")
    assert response.status == 429 and response.headers["Retry-After"] == "30"
    # A second POST /verify of this key to this number is that verification's resend.
    again = await client.post("/verify", json=start_body())
    assert again.status == 429
    clock.ahead += 30
    again = await client.post("/verify", json=start_body())
    assert again.status == 200 and (await again.json())["id"] == started["id"]
    for sends in (3, 4, 5):
        clock.ahead += 30
        response = await client.post(f"/verify/{started['id']}/resend")
        assert response.status == 200 and (await response.json())["sends"] == sends
    clock.ahead += 30
    response = await client.post(f"/verify/{started['id']}/resend")
    assert response.status == 429 and "at most 5" in (await response.json())["message"]
    await until(lambda: len(spoken_codes(rig)) == 5 * 3)
    assert len(set(spoken_codes(rig))) == 1
    await until(lambda: len(rig.ari.originated) == 5)


async def test_every_call_unanswered_makes_it_undeliverable_and_erases_the_code(
        rig: Rig, rig_database: RigDatabase) -> None:
    client = await rig.client()
    started = await start(client, to="+12125550486")  # busy

    async def ended() -> bool:
        got = await (await client.get(f"/verify/{started['id']}")).json()
        return bool(got["status"] == "undeliverable")

    await until_async(ended)
    (row,) = rig_database.rows("SELECT code_hash, code_sealed, ended_at FROM verifications")
    assert row[0] is None and row[1] is None and row[2] is not None


async def test_cancel_erases_the_code(rig: Rig) -> None:
    client = await rig.client()
    started = await start(client)
    code = await first_code(rig)
    response = await client.delete(f"/verify/{started['id']}")
    assert response.status == 200 and (await response.json())["status"] == "canceled"
    assert (await check(client, started["id"], code))[1]["verification_status"] == "canceled"
    assert (await client.delete(f"/verify/{started['id']}")).status == 409


async def test_bad_bodies_name_the_field_and_call_no_one(rig: Rig) -> None:
    client = await rig.client()
    for body, field in [({"to": "abc"}, "to"), (start_body(locale="xx-XX"), "locale"),
                        (start_body(code_length=3), "code_length"),
                        (start_body(expires_in=1801), "expires_in"),
                        (start_body(brand="Acme<script>"), "brand"),
                        (start_body(brand="   "), "brand"), (start_body(brand="x" * 31), "brand"),
                        (start_body(repeat=6), "repeat"), (start_body(extra=1), "extra"),
                        (start_body(carrier_id="nope"), "carrier_id")]:
        response = await client.post("/verify", json=body)
        got = await response.json()
        assert response.status == 422 and got["field"] == field, (body, got)
    got = await (await client.post("/verify", json=start_body(locale="xx-XX"))).json()
    assert "en" in got["message"] and "fr" in got["message"]  # the supported ones
    assert rig.ari.originated == []
    assert (await client.post(f"/verify/{'0' * 8}-0000-0000-0000-{'0' * 12}/check",
                              json={"code": "123456"})).status == 404


async def test_a_code_of_letters_is_refused_without_spending_an_attempt(rig: Rig) -> None:
    client = await rig.client()
    started = await start(client)
    status, body = await check(client, started["id"], "12ab56")
    assert status == 422 and body["field"] == "code"
    status, body = await check(client, started["id"], 123456)  # type: ignore[arg-type]
    assert status == 422
    got = await (await client.get(f"/verify/{started['id']}")).json()
    assert got["attempts_left"] == 5


async def test_the_locale_chooses_the_words(rig: Rig) -> None:
    client = await rig.client()
    started = await start(client, locale="fr-FR", brand="Acme")
    assert started["locale"] == "fr-FR"
    await until(lambda: len(rig.media.playlists) >= 1)
    intro = rig.media.playlists[0][0]
    assert isinstance(intro, Speech)
    assert intro.text.startswith("Votre code Acme est ") and intro.language.startswith("fr")


async def test_another_key_cannot_see_or_check_it(rig: Rig) -> None:
    client = await rig.client()
    started = await start(client)
    other = await rig.client(carriers=("74445609",))  # a restricted key of its own
    assert (await other.get(f"/verify/{started['id']}")).status == 404
    assert (await other.post(f"/verify/{started['id']}/check",
                             json={"code": "123456"})).status == 404


async def test_callbacks_tell_each_status_and_never_the_code(
        rig: Rig, rig_database: RigDatabase) -> None:
    client = await rig.client()
    started = await start(client, callback_url="http://127.0.0.1:9/hook")
    code = await first_code(rig)
    await check(client, started["id"], code)
    bodies = [row[0] for row in rig_database.rows(
        "SELECT body FROM deliveries WHERE call_id=? ORDER BY created_at", (started["id"],))]
    assert [json.loads(b)["type"] for b in bodies] == ["verification.pending",
                                                       "verification.approved"]
    assert all(code not in body for body in bodies)


async def test_a_restart_keeps_it_checkable_and_the_database_holds_no_code(
        make_rig: Callable[..., Rig], tmp_path: Path, rig_database: RigDatabase) -> None:
    first = make_rig()
    client = await first.client()
    started = await start(client)
    code = await first_code(first)
    await first.close()
    files = {path.name: path.read_bytes() for path in rig_database.files()}
    # The scan sees what is stored (the verification's id, kept plain), but not the code.
    assert any(started["id"].encode() in data for data in files.values())
    for name, data in files.items():
        assert code.encode() not in data, name
    assert (tmp_path / "ari-app.key").stat().st_mode & 0o077 == 0

    second = build_rig(tmp_path, database=rig_database)
    client = TestClient(TestServer(second.service.http),
                        headers={"Authorization": f"Bearer {first.token}"})
    await client.start_server()
    try:
        status, body = await check(client, started["id"], code)
        assert status == 200 and body["status"] == "approved"
    finally:
        await client.close()
        await second.close()
    for path in rig_database.files():
        assert code.encode() not in path.read_bytes(), path.name


async def test_the_cli_asks_for_the_code_heard_and_checks_it(
        rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    client = await rig.client()
    api = str(client.server.make_url("")).rstrip("/")
    answers: list[str] = []

    async def ask(prompt: str) -> str:
        code = await first_code(rig)
        answers.append(wrong(code) if not answers else code)
        return answers[-1]

    status = await verify_number(api, {"to": "+12125551212", "delivery": NO_GATE},
                                 key=rig.token, ask=ask, poll=0.01)
    out = capsys.readouterr().out
    assert status == 0 and len(answers) == 2
    assert "call ended; verdict: played" in out and "4 attempt(s) left" in out
    assert out.rstrip().endswith("approved")


async def test_two_starts_at_once_make_one_verification(rig: Rig) -> None:
    client = await rig.client()
    first, second = await asyncio.gather(client.post("/verify", json=start_body()),
                                         client.post("/verify", json=start_body()))
    # One is new; the other is its resend, 30 s too soon.
    assert sorted([first.status, second.status]) == [201, 429]
    await until(lambda: len(rig.ari.originated) == 1)
    assert len(set(spoken_codes(rig))) == 1


async def test_a_refused_start_stores_nothing(rig: Rig, rig_database: RigDatabase) -> None:
    client = await rig.client()
    response = await client.post("/verify", json=start_body(to="+447700900123"))
    assert response.status == 403  # the sandbox calls North America only
    assert rig_database.rows("SELECT COUNT(*) FROM verifications") == [(0,)]
    assert rig_database.rows("SELECT COUNT(*) FROM calls") == [(0,)]
    assert rig.ari.originated == []


async def test_canceling_it_hangs_up_the_call_still_reading_the_code(rig: Rig) -> None:
    rig.ari.hold_playback = True
    client = await rig.client()
    started = await start(client)
    await until(lambda: len(rig.ari.played) >= 1)
    assert (await client.delete(f"/verify/{started['id']}")).status == 200

    async def canceled() -> bool:
        got = await (await client.get(f"/verify/{started['id']}")).json()
        return got["calls"][0]["state"] == "canceled"  # type: ignore[no-any-return]

    await until_async(canceled)


async def test_one_stored_but_never_sent_is_dropped_at_start(rig: Rig) -> None:
    from ari_app.verify.request import parse_verify
    from ari_app.verify.rules import Verification

    now = time.time()
    made = Verification(id="v-crashed", status="pending", to_number="+12125551212",
                        carrier_id="74445609", api_key=None, locale="en-US", code_length=6,
                        callback_url=None, attempts=0, sends=0, last_send_at=None,
                        created_at=now, expires_at=now + 600, updated_at=now)
    await rig.store.verifications.insert(made, parse_verify(start_body(), rig.settings),
                                         code_hash="x", code_sealed="y")
    await rig.service.verify.load()
    assert await rig.store.verifications.get("v-crashed") is None


async def test_a_prefix_that_never_converts_is_refused_for_a_while(
        make_rig: Callable[..., Rig], tmp_path: Path) -> None:
    settings = sandbox_settings(tmp_path)
    fraud = FraudSettings(min_volume=2, grace=0, block_seconds=600)
    rig = make_rig(dataclasses.replace(
        settings, verify=dataclasses.replace(settings.verify, fraud=fraud)))
    client = await rig.client()
    for to in ("+12125551001", "+12125551002"):
        await start(client, to=to)
    assert rig.service.verify.watch.evaluate() == ["12125"]  # none approved
    response = await client.post("/verify", json=start_body(to="+12125551003"))
    got = await response.json()
    assert response.status == 403 and got["field"] == "to" and "refused" in got["message"]
    await until(lambda: len(rig.ari.originated) == 2)  # the refused one never dials
    other = await client.post("/verify", json=start_body(to="+13125551003"))
    assert other.status == 201  # another prefix
