"""SSRF: what the media fetcher refuses, and why, against a local server and a fake resolver."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestServer

from ari_app.errors import FetchError
from ari_app.fetch import Fetcher, freshness
from ari_app.settings import Current
from tests.support.sounds import wav

Settings = Callable[..., Current]


def resolver(*addresses: str):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)
    return resolve


async def test_mapped_host_is_fetched(media_current: Settings) -> None:
    fetcher = Fetcher(current=media_current())
    assert (await fetcher.fetch("http://media.example/a.wav")).body[:4] == b"RIFF"


async def test_redirect_within_allowed_hosts_is_followed(media_current: Settings) -> None:
    fetcher = Fetcher(current=media_current())
    assert (await fetcher.fetch("http://media.example/moved.wav")).body == wav()


@pytest.mark.parametrize(("path", "message"), [
    ("/missing.wav", "HTTP 404"), ("/big.wav", "larger than"), ("/slow.wav", "longer than"),
    ("/to-loopback.wav", "not on the media allow-list"),
    ("/to-inside.wav", "private or reserved"),
    ("/to-file.wav", "scheme 'file' refused"),
    ("/loop.wav", "more than 3 redirects"),
])
async def test_refused_fetches(media_current: Settings, path: str,
                               message: str) -> None:
    fetcher = Fetcher(current=media_current(), resolve=resolver("10.0.0.7"))
    with pytest.raises(FetchError, match=message):
        await fetcher.fetch(f"http://media.example{path}")


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1",
                                     "169.254.169.254", "0.0.0.0", "::1", "::ffff:127.0.0.1",
                                     "fe80::1", "fc00::1", "224.0.0.1"])
async def test_names_resolving_inside_are_refused(media_current: Settings,
                                                  address: str) -> None:
    fetcher = Fetcher(current=media_current(), resolve=resolver("93.184.216.34", address))
    with pytest.raises(FetchError, match="private or reserved"):
        await fetcher.fetch("http://inside.example/a.wav")


async def test_decimal_encoded_loopback_is_refused(media_current: Settings) -> None:
    fetcher = Fetcher(current=media_current())  # the system resolver decodes it
    with pytest.raises(FetchError, match=r"resolves to 127\.0\.0\.1"):
        await fetcher.fetch("http://2130706433/a.wav")


@pytest.mark.parametrize("url", ["http://127.0.0.1/a.wav", "http://[::1]/a.wav",
                                 "ftp://media.example/a.wav", "file:///etc/passwd",
                                 "gopher://media.example/"])
async def test_other_hosts_and_schemes_are_refused(media_current: Settings,
                                                   url: str) -> None:
    fetcher = Fetcher(current=media_current())
    with pytest.raises(FetchError, match=r"allow-list|refused"):
        await fetcher.fetch(url)


async def test_allowed_networks_let_a_private_address_through(
        media_current: Settings, media_server: TestServer) -> None:
    current = media_current(host_map={},
                            allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    fetcher = Fetcher(current=current, resolve=resolver("127.0.0.1"))
    fetched = await fetcher.fetch(f"http://inside.example:{media_server.port}/a.wav")
    assert fetched.body is not None and fetched.body.startswith(b"RIFF")


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"Cache-Control": "max-age=60"}, 60.0), ({"Cache-Control": "public, no-cache"}, 0.0),
    ({"Cache-Control": "no-store"}, 0.0), ({}, None),
    ({"Expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, 0.0),
])
def test_freshness(headers: dict[str, str], seconds: float | None) -> None:
    assert freshness(headers) == seconds


async def test_hosts_allowed_by_a_reload_are_fetched_without_a_restart(
        media_current: Settings) -> None:
    current = media_current(allowed_hosts=frozenset())
    fetcher = Fetcher(current=current)
    with pytest.raises(FetchError, match="allow-list"):
        await fetcher.fetch("http://media.example/a.wav")
    # What a carrier added through the API with a media_base_url on this host does.
    media = dataclasses.replace(current.settings.media, allowed_hosts=frozenset({"media.example"}))
    current.replace(dataclasses.replace(current.settings, media=media))
    assert (await fetcher.fetch("http://media.example/a.wav")).body == wav()
