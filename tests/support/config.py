"""Settings for tests: the sandbox's config with its files in a test's own folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from ari_app.config import parse
from ari_app.settings import Current, MediaSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "sandbox" / "ari-app.yaml"


def sandbox_config(tmp: Path) -> dict[str, Any]:
    """The sandbox's config as YAML data, its database and media under `tmp`."""
    data: dict[str, Any] = yaml.safe_load(SANDBOX.read_text())
    data["storage"]["path"] = str(tmp / "db.sqlite3")
    data["media"]["dir"] = str(tmp / "media")
    data["media"]["asterisk_dir"] = str(tmp / "media")
    return data


def sandbox_settings(tmp: Path) -> Settings:
    return parse(sandbox_config(tmp), base=tmp)


def with_media(tmp: Path, media: MediaSettings) -> Current:
    """The least settings there can be, with these media settings."""
    settings = parse({"ari": {"password": "unused"}, "ami": {"secret": "unused"}}, base=tmp)
    return Current(dataclasses.replace(settings, media=media))
