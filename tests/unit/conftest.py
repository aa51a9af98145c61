"""Fixtures of the unit tests: a local media server, and media settings and preparers over
it, each in the test's own folder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from ari_app.config_reader import Address
from ari_app.fetch import Fetcher
from ari_app.media import MediaPreparer
from ari_app.settings import Current, MediaSettings
from ari_app.speech import Engine, Speaker, build_engines
from tests.support.config import with_media
from tests.support.media_server import media_app


@pytest.fixture
async def media_server() -> AsyncIterator[TestServer]:
    server = TestServer(media_app(), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
def media_current(tmp_path: Path, media_server: TestServer) -> Callable[..., Current]:
    """Settings whose media go to `dir` (the test's folder by default), Asterisk seeing
    them as /srv/media, with `media.example` mapped onto the media server; keywords
    replace media settings."""
    def make(dir: Path | None = None, **overrides: Any) -> Current:
        values: dict[str, Any] = {
            "dir": dir or tmp_path, "asterisk_dir": "/srv/media", "allowed_networks": (),
            "allowed_hosts": frozenset({"media.example", "inside.example", "2130706433"}),
            "host_map": {"media.example": Address("127.0.0.1", media_server.port or 0)},
            "fetch_timeout": 1.0, "max_bytes": 200_000, "cache_seconds": 3600,
        }
        return with_media(tmp_path, MediaSettings(**(values | overrides)))
    return make


@pytest.fixture
async def make_preparer(
        media_current: Callable[..., Current]) -> AsyncIterator[Callable[..., MediaPreparer]]:
    """Media preparers speaking with `engines` (flite, then espeak-ng, by default)."""
    fetchers: list[Fetcher] = []

    def make(engines: list[Engine] | None = None, current: Current | None = None,
             ) -> MediaPreparer:
        current = current or media_current()
        fetchers.append(Fetcher(current=current))
        return MediaPreparer(current=current, fetcher=fetchers[-1], speech=Speaker(
            engines or build_engines(["flite", "espeak-ng"], rate=150, timeout=10)))

    yield make
    for fetcher in fetchers:
        await fetcher.close()
