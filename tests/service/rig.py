"""The whole service as `ari_app.app.build` wires it, with fakes where it reaches outside
the process: ARI (replaying recorded Asterisk traffic), AMI, and by default the media."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from ari_app.app import Service, build
from ari_app.ari import ConnectHandler, EventHandler
from ari_app.entries import Entry
from ari_app.fetch import Fetcher
from ari_app.keys import new_key
from ari_app.media import Prepared
from ari_app.outcome import FINAL
from ari_app.request import CallRequest, parse_request
from ari_app.settings import Current, NodeSettings, Settings
from ari_app.store import CallRecord
from tests.service.fake_ami import FakeAmi
from tests.service.fake_ari import FakeAri
from tests.support.config import sandbox_settings
from tests.support.stores import RigDatabase

MAIN = "74445609"
"""The sandbox's carrier."""


class FakeMedia:
    """Each entry becomes two sounds, so played entries are counted, not sounds."""

    def __init__(self) -> None:
        self.fail: Exception | None = None
        self.staged: list[Prepared] = []
        self.unstaged: list[Prepared] = []
        self.playlists: list[tuple[Entry, ...]] = []
        """What each call asked to prepare: its playlist and its delivery's messages."""

    def stage(self, prepared: Prepared) -> Prepared:
        self.staged.append(prepared)
        return prepared

    def unstage(self, prepared: Prepared) -> None:
        self.unstaged.append(prepared)

    def clean_stale(self) -> None:
        return None

    async def prepare(self, playlist: Sequence[Entry]) -> Prepared:
        if self.fail is not None:
            raise self.fail
        self.playlists.append(tuple(playlist))
        return Prepared(sounds=tuple(f"/media/{i}-{j}" for i in range(len(playlist))
                                     for j in range(2)),
                        items_per_entry=(2,) * len(playlist), seconds=1.0, engines=("flite",))


@dataclass
class Rig:
    service: Service
    ari: FakeAri
    ami: FakeAmi
    media: Any
    """FakeMedia, or the real MediaPreparer."""
    _clients: list[TestClient]
    token: str = ""
    """The key of the last client made."""
    nodes: list[FakeAri] = field(default_factory=list)
    """Each Asterisk node's fake ARI, in the order of `asterisk.nodes` (`ari` is the first)."""
    _closed: bool = False

    @property
    def settings(self) -> Settings:
        return self.service.current.settings

    @property
    def current(self) -> Current:
        return self.service.current

    @property
    def calls(self) -> Any:
        return self.service.calls

    @property
    def store(self) -> Any:
        return self.service.store

    @property
    def admission(self) -> Any:
        return self.service.admission

    def request(self, to: str = "12125551212", **body: Any) -> CallRequest:
        return parse_request({"to": to, "from": "me", "carrier_id": MAIN,
                              "playlist": [{"play": "Your code is 123456", "type": "tts",
                                            "options": {"language": "en-US",
                                                        "say-as": "digits"}}]} | body,
                             self.settings)

    async def final(self, call_id: str, timeout: float = 5) -> CallRecord:
        async with asyncio.timeout(timeout):
            while True:
                record = await self.store.calls.get(call_id)
                assert record is not None
                if record.state in FINAL:
                    return record
                await asyncio.sleep(0.01)

    async def client(self, *, key: bool = True, **limits: Any) -> TestClient:
        """A started test client of the API, sending a new API key (limited as `limits`
        say) unless `key` is False."""
        headers = {}
        if key:
            made, key_hash, token = new_key("tests", **limits)
            await self.store.keys.add(made, key_hash)
            headers["Authorization"] = f"Bearer {token}"
            self.token = token
        client = TestClient(TestServer(self.service.http), headers=headers)
        await client.start_server()
        self._clients.append(client)
        return client

    async def close(self) -> None:
        """Stop it as the service stops (calls still unfinished stay so in the store)."""
        if self._closed:
            return
        self._closed = True
        for client in self._clients:
            await client.close()
        await self.calls.shutdown()
        await self.service.fetcher.close()
        await self.store.close()


def build_rig(tmp: Path, settings: Settings | None = None, *, real_media: bool = False,
              clock: Callable[[], float] = time.time,
              database: RigDatabase | None = None) -> Rig:
    settings = settings or sandbox_settings(tmp)
    if database is not None:
        settings = database.settings(settings)
    made: list[FakeAri] = []

    def make_ari(_: Settings, node: NodeSettings, on_event: EventHandler,
                 on_connect: ConnectHandler) -> FakeAri:
        made.append(FakeAri(on_event))
        return made[-1]

    ami = FakeAmi(settings.config_dir)
    media: tuple[Any, Fetcher] | None = None
    if not real_media:
        media = (FakeMedia(), Fetcher(current=Current(settings)))
    service = build(settings, make_ari=make_ari, ami=ami, media=media, clock=clock,
                    connect_wait=0.2)
    return Rig(service=service, ari=made[0], ami=ami, media=service.media, _clients=[],
               nodes=made)
