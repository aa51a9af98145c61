"""Fetching prerecorded media by URL without becoming a proxy into the network (SSRF).

- http and https only, hosts on `media.allowed_hosts` only;
- the name is resolved once and the connection pinned to that address, so a
  second lookup cannot point it elsewhere (DNS rebinding);
- loopback, private, link-local, multicast, reserved and unspecified addresses
  (IPv4-mapped IPv6 too) are refused unless inside `media.allowed_networks`;
  `media.host_map` is the admin's explicit pin and is trusted as it is;
- every redirect is checked again like the first URL, at most three;
- a size limit while reading and a time limit for the whole fetch.

Responses say how long they may be cached (Cache-Control, Expires) and how to ask
whether they changed (ETag, Last-Modified); media/cache.py keeps and honours that.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from ari_app.errors import FetchError
from ari_app.settings import Current, MediaSettings

MAX_REDIRECTS = 3


@dataclass(frozen=True)
class Fetched:
    """What a fetch brought: the body (None when the server said 304 Not Modified) and
    what the server said about caching it."""

    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    max_age: float | None = None
    """Seconds it may be reused without asking again; None when the server gave no rule."""


def freshness(headers: Mapping[str, str]) -> float | None:
    """Seconds a response may be reused, from Cache-Control (or Expires); 0 = ask each time."""
    directives = [d.strip().lower() for d in headers.get("Cache-Control", "").split(",")]
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    for directive in directives:
        if directive.startswith("max-age="):
            with contextlib.suppress(ValueError):
                return max(0.0, float(directive.removeprefix("max-age=")))
    if "Expires" in headers:
        try:
            expires = email.utils.parsedate_to_datetime(headers["Expires"])
        except (TypeError, ValueError):
            return 0.0
        return max(0.0, expires.timestamp() - time.time())
    return None
Resolve = Callable[[str, int], Awaitable[list[str]]]
"""host, port -> the addresses it resolves to."""


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (address.is_private or address.is_loopback or address.is_link_local
            or address.is_multicast or address.is_reserved or address.is_unspecified)


class _Pinned(AbstractResolver):
    """Answers the one name we checked with the one address we checked."""

    def __init__(self, host: str, address: str, port: int) -> None:
        self._host, self._address, self._port = host, address, port

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host != self._host:
            raise OSError(f"unexpected host {host}")
        ip = ipaddress.ip_address(self._address)
        return [ResolveResult(hostname=host, host=self._address, port=self._port,
                              family=socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        return None


class Fetcher:
    """GET a media URL within the rules above; every refusal is a FetchError saying why."""

    def __init__(self, *, current: Current, resolve: Resolve = system_resolve) -> None:
        self._current = current
        self._resolve = resolve

    @property
    def _settings(self) -> MediaSettings:
        # Read at each fetch: a carrier added with a media_base_url allows its host.
        return self._current.settings.media

    async def close(self) -> None:
        return None  # one pinned session per fetch: nothing kept open

    async def fetch(self, url: str, *, etag: str | None = None,
                    last_modified: str | None = None) -> Fetched:
        """GET `url`; with `etag` or `last_modified`, only if it changed since."""
        conditions = {}
        if etag:
            conditions["If-None-Match"] = etag
        if last_modified:
            conditions["If-Modified-Since"] = last_modified
        try:
            async with asyncio.timeout(self._settings.fetch_timeout):
                for _ in range(MAX_REDIRECTS + 1):
                    result = await self._get(url, conditions)
                    if isinstance(result, Fetched):
                        return result
                    url = result
        except TimeoutError as exc:
            raise FetchError(f"media fetch took longer than {self._settings.fetch_timeout} s") \
                from exc
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")

    async def _pin(self, url: str) -> tuple[str, str, int]:
        """Check the URL and choose the address to connect to: (host, address, port)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchError(f"scheme '{parts.scheme}' refused: http and https only")
        host = (parts.hostname or "").lower()
        if host not in self._settings.allowed_hosts:
            raise FetchError(f"host '{host[:100]}' is not on the media allow-list")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise FetchError("invalid port in the URL") from exc
        mapped = self._settings.host_map.get(host)
        if mapped is not None:
            return host, mapped.host, mapped.port
        try:
            addresses = await self._resolve(host, port)
        except OSError as exc:
            raise FetchError(f"cannot resolve '{host}'") from exc
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if forbidden(address) and not any(address in net
                                              for net in self._settings.allowed_networks):
                raise FetchError(f"'{host}' resolves to {address}, a loopback, private or "
                                 "reserved address (allow it with media.allowed_networks)")
        if not addresses:
            raise FetchError(f"'{host}' has no address")
        return host, addresses[0], port

    async def _get(self, url: str, conditions: Mapping[str, str]) -> Fetched | str:
        """What the URL holds, or the URL a redirect points to."""
        host, address, port = await self._pin(url)
        limit = self._settings.max_bytes
        connector = aiohttp.TCPConnector(resolver=_Pinned(host, address, port),
                                         use_dns_cache=False)
        try:
            async with aiohttp.ClientSession(connector=connector) as http, \
                    http.get(url, allow_redirects=False, headers=conditions) as response:
                if response.status in (301, 302, 303, 307, 308):
                    location = response.headers.get("Location")
                    if not location:
                        raise FetchError("redirect without a Location")
                    return urljoin(url, location)
                cache = Fetched(None, etag=response.headers.get("ETag"),
                                last_modified=response.headers.get("Last-Modified"),
                                max_age=freshness(response.headers))
                if response.status == 304 and conditions:
                    return cache
                if response.status != 200:
                    raise FetchError(f"media server answered HTTP {response.status}")
                if response.content_length is not None and response.content_length > limit:
                    raise FetchError(f"media file larger than {limit} bytes")
                body = bytearray()
                async for chunk in response.content.iter_chunked(65536):
                    body += chunk
                    if len(body) > limit:
                        raise FetchError(f"media file larger than {limit} bytes")
                return dataclasses.replace(cache, body=bytes(body))
        except (aiohttp.ClientError, OSError) as exc:
            if isinstance(exc, TimeoutError):
                raise
            raise FetchError(f"cannot fetch media: {type(exc).__name__}") from exc
