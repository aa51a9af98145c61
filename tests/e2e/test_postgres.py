"""The service on PostgreSQL (`storage.url`), with the real Asterisk and carrier: both
canonical requests complete, the database holds their outcome and no request, and a
PostgreSQL restart while calls are live and queued loses none of them; a request while
it is down gets a 503 and dials nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
import yaml

from sandbox.api import ApiProcess
from sandbox.lab import CONFIG, VAR, Lab
from sandbox.postgres import PostgresServer, temporary
from tests.e2e.observe import calls_processed, seed

PG_CONFIG = VAR / "postgres.yaml"
PG_LOG = VAR / "log" / "api-postgres.log"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with temporary("ari-app-e2e-pg-") as server:
        yield server


@pytest.fixture(scope="module")
def on_postgres(lab: Lab, postgres: PostgresServer) -> Iterator[tuple[ApiProcess, str]]:
    url = postgres.create_database("ari_app_e2e")
    data = yaml.safe_load(CONFIG.read_text())
    data["ari"]["app"] = "ari-app-postgres"
    data["http"]["listen"] = "127.0.0.1:8081"
    data["storage"] = {"url": url, "key_file": "postgres.key"}
    data["media"] |= {"dir": "media-postgres", "asterisk_dir": "/srv/ari-app/media-postgres"}
    data["tts"]["asterisk_sounds"] = "asterisk-sounds"
    data.pop("carriers_file")
    data["asterisk"].pop("config_dir")
    data["carriers"]["74445609"]["max_channels"] = 2  # so that calls wait in the queue
    PG_CONFIG.write_text(yaml.safe_dump(data))  # paths are relative to var/
    (VAR / "postgres.key").unlink(missing_ok=True)
    service = ApiProcess(log_path=PG_LOG, config=PG_CONFIG, url="http://127.0.0.1:8081",
                         key_path=VAR / "api-key-postgres")
    service.key_path.unlink(missing_ok=True)
    service.start()
    yield service, url
    service.stop()


def rows(url: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def to(number: str) -> dict[str, object]:
    """A short call (two digits) to `number`."""
    return {**seed("tts"), "to": number,
            "playlist": [{"play": "42", "type": "tts", "options": {"say-as": "digits"}}]}


def test_canonical_calls_complete_and_postgres_keeps_their_outcome(
        on_postgres: tuple[ApiProcess, str]) -> None:
    service, url = on_postgres
    ids = [service.place(seed("tts")), service.place(seed("prerecorded"))]
    for request_id in ids:
        status = service.wait_final(request_id)
        assert status["state"] == "completed", status
        assert all(entry["played"] for entry in status["entries"]), status
    stored = rows(url, "SELECT id, state, request IS NULL, answered_at FROM calls "
                       "WHERE id = ANY(%s) ORDER BY created_at", ids)
    assert [(r[0], r[1], r[2]) for r in stored] == [(i, "completed", True) for i in ids]
    assert all(isinstance(r[3], float) and r[3] > 1.7e9 for r in stored)  # full timestamps


def test_a_postgres_restart_mid_run_loses_no_call(
        on_postgres: tuple[ApiProcess, str], postgres: PostgresServer, lab: Lab) -> None:
    service, url = on_postgres
    before = calls_processed(lab, "carrier")
    ids = [service.place(to(f"+1212555{7000 + n}")) for n in range(4)]
    time.sleep(0.5)  # two are live on the two channels, two wait in the queue
    postgres.restart()
    ids += [service.place(to("+12125557010"))]
    finals = [service.wait_final(request_id, timeout=120) for request_id in ids]
    assert [f["state"] for f in finals] == ["completed"] * 5, finals
    assert calls_processed(lab, "carrier") - before == 5  # each dialled once
    stored = rows(url, "SELECT state FROM calls WHERE id = ANY(%s)", ids)
    assert sorted(s for (s,) in stored) == ["completed"] * 5


def test_a_request_while_postgres_is_down_gets_503_and_nothing_is_dialled(
        on_postgres: tuple[ApiProcess, str], postgres: PostgresServer, lab: Lab) -> None:
    service, url = on_postgres
    before = calls_processed(lab, "carrier")
    postgres.stop()
    restart = threading.Timer(8, postgres.start)  # longer than the store waits (5 s)
    restart.start()
    try:
        code, answer = service.post(to("+12125557020"))
    finally:
        restart.join()
    assert code == 503 and answer["error_id"] == "store-unavailable", answer
    assert "PostgreSQL database ari_app_e2e" in answer["message"]
    request_id = service.place(to("+12125557021"))
    assert service.wait_final(request_id)["state"] == "completed"
    assert calls_processed(lab, "carrier") - before == 1
    assert rows(url, "SELECT COUNT(*) FROM calls WHERE to_number = '+12125557020'") == [(0,)]
