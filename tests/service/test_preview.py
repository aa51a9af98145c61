"""Preview: the exact audio a playlist would play, over HTTP and from the command line."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from aiohttp.test_utils import TestClient

from ari_app.app import build_media
from tests.service.test_calls import SANDBOX, Rig, api_for, build, client_for, settings_for

PLAYLIST = [{"type": "tts", "play": "Your code is 42", "options": {"say-as": "digits"}},
            {"type": "pause", "play": 1000}]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[TestClient, Rig]]:
    rig = build(tmp_path)
    media, _ = build_media(rig.settings)
    client = await client_for(rig, api_for(rig, media))
    yield client, rig
    await client.close()
    await rig.store.close()


def seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
        return audio.getnframes() / 8000


async def test_preview_returns_the_audio_and_dials_nothing(
        client: tuple[TestClient, Rig]) -> None:
    http, rig = client
    response = await http.post("/voice/playlist/render", json={"playlist": PLAYLIST})
    assert response.status == 200 and response.content_type == "audio/wav"
    length = seconds(await response.read())
    # words, a pause, two digits, the pause after them, then a full second of silence
    assert 2.0 < length < 6.0
    assert rig.ari.originated == []


@pytest.mark.parametrize(("playlist", "status", "field"), [
    ([{"type": "sound", "play": "beep"}], 422, "playlist[0]"),
    ([{"type": "pause", "play": -1}], 422, "playlist[0].play"),
    ([], 422, "playlist"),
])
async def test_preview_errors(client: tuple[TestClient, Rig], playlist: object, status: int,
                              field: str) -> None:
    http, _ = client
    response = await http.post("/voice/playlist/render", json={"playlist": playlist})
    body = await response.json()
    assert response.status == status and body["field"] == field, body


def test_preview_command_writes_a_wav(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)  # only to reuse its paths in a config file of its own
    config = yaml.safe_load(SANDBOX.read_text())
    config["storage"]["path"] = str(settings.storage_path)
    config["media"]["dir"] = config["media"]["asterisk_dir"] = str(tmp_path / "media")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "request.json").write_text(json.dumps({"playlist": PLAYLIST}))
    out = tmp_path / "preview.wav"
    result = subprocess.run(
        [sys.executable, "-m", "ari_app", "--config", str(tmp_path / "config.yaml"), "preview",
         str(tmp_path / "request.json"), "--out", str(out)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert 2.0 < seconds(out.read_bytes()) < 6.0
