"""SSRF: what the media fetcher refuses, and why, against a local server and a fake resolver."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from ari_app.errors import FetchError
from ari_app.fetch import Fetcher, freshness
from tests.unit.test_media import server, settings_for, wav

__all__ = ["server"]


def resolver(*addresses: str):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)
    return resolve


async def test_mapped_host_is_fetched(tmp_path: Path, server: TestServer) -> None:
    fetcher = Fetcher(settings_for(tmp_path, server))
    assert (await fetcher.fetch("http://media.example/a.wav")).body[:4] == b"RIFF"


async def test_redirect_within_allowed_hosts_is_followed(tmp_path: Path,
                                                         server: TestServer) -> None:
    fetcher = Fetcher(settings_for(tmp_path, server))
    assert (await fetcher.fetch("http://media.example/moved.wav")).body == wav()


@pytest.mark.parametrize(("path", "message"), [
    ("/missing.wav", "HTTP 404"), ("/big.wav", "larger than"), ("/slow.wav", "longer than"),
    ("/to-loopback.wav", "not on the media allow-list"),
    ("/to-inside.wav", "private or reserved"),
    ("/to-file.wav", "scheme 'file' refused"),
    ("/loop.wav", "more than 3 redirects"),
])
async def test_refused_fetches(tmp_path: Path, server: TestServer, path: str,
                               message: str) -> None:
    fetcher = Fetcher(settings_for(tmp_path, server), resolve=resolver("10.0.0.7"))
    with pytest.raises(FetchError, match=message):
        await fetcher.fetch(f"http://media.example{path}")


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1",
                                     "169.254.169.254", "0.0.0.0", "::1", "::ffff:127.0.0.1",
                                     "fe80::1", "fc00::1", "224.0.0.1"])
async def test_names_resolving_inside_are_refused(tmp_path: Path, server: TestServer,
                                                  address: str) -> None:
    fetcher = Fetcher(settings_for(tmp_path, server), resolve=resolver("93.184.216.34", address))
    with pytest.raises(FetchError, match="private or reserved"):
        await fetcher.fetch("http://inside.example/a.wav")


async def test_decimal_encoded_loopback_is_refused(tmp_path: Path, server: TestServer) -> None:
    fetcher = Fetcher(settings_for(tmp_path, server))  # the system resolver decodes it
    with pytest.raises(FetchError, match=r"resolves to 127\.0\.0\.1"):
        await fetcher.fetch("http://2130706433/a.wav")


@pytest.mark.parametrize("url", ["http://127.0.0.1/a.wav", "http://[::1]/a.wav",
                                 "ftp://media.example/a.wav", "file:///etc/passwd",
                                 "gopher://media.example/"])
async def test_other_hosts_and_schemes_are_refused(tmp_path: Path, server: TestServer,
                                                   url: str) -> None:
    fetcher = Fetcher(settings_for(tmp_path, server))
    with pytest.raises(FetchError, match=r"allow-list|refused"):
        await fetcher.fetch(url)


async def test_allowed_networks_let_a_private_address_through(tmp_path: Path,
                                                               server: TestServer) -> None:
    settings = settings_for(tmp_path, server, host_map={},
                            allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    fetcher = Fetcher(settings, resolve=resolver("127.0.0.1"))
    fetched = await fetcher.fetch(f"http://inside.example:{server.port}/a.wav")
    assert fetched.body is not None and fetched.body.startswith(b"RIFF")


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"Cache-Control": "max-age=60"}, 60.0), ({"Cache-Control": "public, no-cache"}, 0.0),
    ({"Cache-Control": "no-store"}, 0.0), ({}, None),
    ({"Expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, 0.0),
])
def test_freshness(headers: dict[str, str], seconds: float | None) -> None:
    assert freshness(headers) == seconds
