"""Speech and media on real calls: languages, pauses, repeats, Asterisk sounds, engine failover,
and no trace of a code anywhere once its call is over."""

from __future__ import annotations

import array
import itertools
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from sandbox.api import ApiProcess
from sandbox.lab import CHECKOUT, CONFIG, VAR, Lab, in_root
from tests.e2e.observe import recording, wav_seconds

CARRIER = "74445609"


def body(*playlist: dict[str, Any]) -> dict[str, Any]:
    return {"to": "12125551212", "from": "me", "carrier_id": CARRIER, "playlist": list(playlist)}


def tts(text: str, language: str = "en-US", **extra: Any) -> dict[str, Any]:
    return {"type": "tts", "play": text, "options": {"language": language, "say-as": "digits"},
            **extra}


def sounds(wav: Path | bytes, *, gap: float = 0.1) -> list[tuple[float, float]]:
    """(start, end) in seconds of each stretch of sound, where stretches are parted by at
    least `gap` seconds of silence (10 ms frames; silence: every sample under 200)."""
    source = ["-"] if isinstance(wav, bytes) else [str(wav)]
    pcm = subprocess.run(["sox", "-t", "wav", *source, "-t", "raw", "-e", "signed-integer",
                          "-b", "16", "-r", "8000", "-c", "1", "-"],
                         input=wav if isinstance(wav, bytes) else None,
                         capture_output=True, check=True).stdout
    samples = array.array("h", pcm)
    frame = 80
    found: list[tuple[float, float]] = []
    for start in range(0, len(samples) - frame + 1, frame):
        if max(abs(s) for s in samples[start:start + frame]) < 200:
            continue
        at, end = start / 8000, (start + frame) / 8000
        if found and at - found[-1][1] <= gap:
            found[-1] = (found[-1][0], end)
        else:
            found.append((at, end))
    return found


def gaps(stretches: list[tuple[float, float]]) -> list[float]:
    return [b[0] - a[1] for a, b in itertools.pairwise(stretches)]


def test_a_code_in_four_languages(service: ApiProcess) -> None:
    texts = {"en-US": "Your code is 481592", "es-ES": "Su código es 481592",
             "fr-FR": "Votre code est 481592", "de-DE": "Ihr Code lautet 481592"}
    requests = {language: body(tts(text, language)) for language, text in texts.items()}
    calls = {language: service.place(request) for language, request in requests.items()}
    for language, request_id in calls.items():
        status = service.wait_final(request_id)
        assert status["state"] == "completed", (language, status)
        expected_engine = "flite" if language == "en-US" else "espeak-ng"
        assert status["speech_engines"] == [expected_engine], (language, status)
        wav = recording(request_id)
        # What the carrier heard is what was prepared, to the frame.
        assert abs(wav_seconds(wav) - status["audio_seconds"]) < 0.15, (language, status)
        # The words, then one clip per digit of the code, each as long as prepared (the
        # preview: the same clips, in the same order), with the 250 ms pause between.
        heard, prepared = sounds(wav), sounds(service.preview(requests[language]))
        assert len(heard) == len(prepared) == 1 + 6, (language, heard, prepared)
        for n, ((start, end), (p_start, p_end)) in enumerate(zip(heard, prepared, strict=True)):
            # The carrier's recording may begin one 20 ms packet into the first word (its
            # MixMonitor starts as the PBX starts speaking); 1e-9: float rounding.
            slack = 0.02 + (0.02 if n == 0 else 0.0) + 1e-9
            assert abs((end - start) - (p_end - p_start)) <= slack, (language, heard, prepared)
        assert all(0.2 <= g <= 0.3 for g in gaps(heard)[1:]), (language, gaps(heard))


def test_pause_repeat_and_an_asterisk_sound(service: ApiProcess, lab: Lab) -> None:
    assert lab.root is not None
    beep = wav_seconds(in_root(lab.root, "/usr/share/asterisk/sounds/en/beep.wav"))
    request_id = service.place(body(
        tts("Your code is 12", repeat=2),
        {"type": "pause", "play": 1500},
        {"type": "sound", "play": "beep"},
    ))
    status = service.wait_final(request_id)

    assert status["state"] == "completed", status
    assert [e["played"] for e in status["entries"]] == [True, True, True]
    wav = recording(request_id)
    assert abs(wav_seconds(wav) - (status["audio_seconds"] + beep)) < 0.15
    # The pause entry, plus the short pause that ends the digits before it.
    (pause,) = [g for g in gaps(sounds(wav)) if g >= 1.0]
    assert 1.5 <= pause <= 2.1, pause


def config_with(tmp_path: Path, tts: dict[str, Any]) -> Path:
    """The sandbox's settings with other speech settings, its paths made absolute."""
    config = yaml.safe_load(CONFIG.read_text())
    config["tts"] = {**config.get("tts", {}), **tts}
    for section in ("storage", "media", "tts"):
        for key, value in config[section].items():
            if isinstance(value, str) and value.startswith("../"):
                config[section][key] = str((CONFIG.parent / value).resolve())
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def call_with_settings(service: ApiProcess, config: Path, request: dict[str, Any]) -> Any:
    """Place one call on a service started with other settings, then restore the usual one."""
    service.stop()
    other = ApiProcess(log_path=VAR / "log" / "api-test.log", config=config)
    try:
        other.start()
        return other.wait_final(other.place(request))
    finally:
        other.stop()
        service.start()


def test_a_failing_engine_hands_over_to_the_next(service: ApiProcess, tmp_path: Path) -> None:
    config = config_with(tmp_path, {"commands": {"flite": "/nonexistent/flite"}})
    # Words no working flite ever spoke, so no cached clip can hide the failure.
    status = call_with_settings(service, config, body(tts("Failover check 9081", "en-GB")))
    assert status["state"] == "completed", status
    assert status["speech_engines"] == ["espeak-ng"], status


def test_asterisk_prompts_read_the_digits(service: ApiProcess, tmp_path: Path) -> None:
    config = config_with(tmp_path, {"engines": ["asterisk", "flite", "espeak-ng"]})
    words = {"type": "tts", "play": "Your code is", "options": {"language": "en-US"}}
    status = call_with_settings(service, config, body(words, tts("4821")))
    assert status["state"] == "completed", status
    # Words are beyond Asterisk's prompts: flite says them, Asterisk's Allison the digits.
    assert status["speech_engines"] == ["asterisk", "flite"], status
    heard = wav_seconds(recording(status["request_id"]))
    assert abs(heard - status["audio_seconds"]) < 0.15, (heard, status)


def test_no_trace_of_the_code_after_its_call(service: ApiProcess) -> None:
    # Ten digits: six turn up by chance in the ids and millisecond timestamps of the whole
    # run's rows (a clean-clone run found "735194" in one), ten do not.
    code = "7351948206"
    request_id = service.place(body(tts(f"Your code is {code}")))
    assert service.wait_final(request_id)["state"] == "completed"

    recordings = VAR / "recordings"
    for path in VAR.rglob("*"):
        assert code not in path.name, path
        # The database is checked row by row below (its file may hold freed pages).
        if path.is_file() and recordings not in path.parents and ".sqlite3" not in path.name:
            assert code.encode() not in path.read_bytes(), path
    # Asterisk logs each file it plays: only the call's own files (its slot's), never
    # shared clips (whose order would spell the code), and they are emptied after the call.
    log = (VAR / "asterisk/pbx/log/messages.log").read_text()
    played = [line for line in log.splitlines() if "Playing '" in line]
    assert played and all("/media/calls/" in line or "/media/" not in line for line in played)

    def left() -> list[Path]:
        return [p for p in (VAR / "media/calls").rglob("*") if p.is_file() and p.stat().st_size]

    deadline = time.monotonic() + 5
    while left() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left() == []
    with sqlite3.connect(VAR / "ari-app.sqlite3") as db:
        rows = db.execute("SELECT * FROM calls").fetchall()
    assert rows and not any(code in str(row) for row in rows)
    assert code not in (CHECKOUT / "var/log/api-test.log").read_text()
