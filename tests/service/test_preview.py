"""Preview: the exact audio a playlist would play, over HTTP and from the command line."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import wave
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from aiohttp.test_utils import TestClient

from tests.service.rig import Rig
from tests.support.config import sandbox_config

PLAYLIST = [{"type": "tts", "play": "Your code is 42", "options": {"say-as": "digits"}},
            {"type": "pause", "play": 1000}]


@pytest.fixture
async def client(make_rig: Callable[..., Rig]) -> tuple[TestClient, Rig]:
    rig = make_rig(real_media=True)
    return await rig.client(), rig


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
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(sandbox_config(tmp_path)))
    (tmp_path / "request.json").write_text(json.dumps({"playlist": PLAYLIST}))
    out = tmp_path / "preview.wav"
    result = subprocess.run(
        [sys.executable, "-m", "ari_app", "--config", str(tmp_path / "config.yaml"), "preview",
         str(tmp_path / "request.json"), "--out", str(out)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert 2.0 < seconds(out.read_bytes()) < 6.0
