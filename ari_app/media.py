"""Every playlist entry made into a sound Asterisk can play, before anything dials.

- Speech that may carry a code is written under `calls/` with a random name and
  deleted when the call ends; other speech is cached by a hash of what shapes it.
- URLs are fetched by the service (Asterisk is never handed a user's URL), from
  allowed hosts only, with a size and a time limit, checked by their bytes,
  converted and cached by a hash of the URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from ari_app import audio
from ari_app.errors import FetchError, MediaError
from ari_app.playlist import AudioUrl, Entry, Speech
from ari_app.settings import MediaSettings
from ari_app.speech import Speaker


@dataclass(frozen=True)
class Sound:
    """One prepared sound: its files' base path, its length, the engine that spoke it."""

    base: Path
    seconds: float
    engine: str | None = None


_Maker = Callable[[Path], Awaitable[Sound]]


@dataclass(frozen=True)
class Prepared:
    media: tuple[str, ...]
    """ARI media URIs, in playlist order."""
    secret_bases: tuple[Path, ...]
    """Files to delete when the call ends."""
    seconds: float
    engines: tuple[str, ...]
    """The speech engines that spoke, for the call's status."""


def sniff(data: bytes) -> str | None:
    """The audio container by its first bytes: 'wav', 'mp3' or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


class Fetcher:
    """GET a media URL from an allowed host, within the size and time limits."""

    def __init__(self, settings: MediaSettings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._settings.fetch_timeout)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def fetch(self, url: str) -> bytes:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host not in self._settings.allowed_hosts:
            raise FetchError("host not on the media allow-list")
        target, headers = url, {}
        mapped = self._settings.host_map.get(host)
        if mapped is not None:
            target = urlunsplit((parts.scheme, str(mapped), parts.path, parts.query, ""))
            headers["Host"] = parts.netloc
        limit = self._settings.max_bytes
        try:
            async with self._http().get(target, headers=headers, allow_redirects=False) as resp:
                if resp.status != 200:
                    raise FetchError(f"media server answered HTTP {resp.status}")
                if resp.content_length is not None and resp.content_length > limit:
                    raise FetchError(f"media file larger than {limit} bytes")
                body = bytearray()
                async for chunk in resp.content.iter_chunked(65536):
                    body += chunk
                    if len(body) > limit:
                        raise FetchError(f"media file larger than {limit} bytes")
        except TimeoutError as exc:  # before OSError, of which it is a subclass
            raise FetchError(f"media fetch took longer than {self._settings.fetch_timeout} s") \
                from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise FetchError(f"cannot fetch media: {type(exc).__name__}") from exc
        return bytes(body)


class MediaPreparer:
    def __init__(self, *, settings: MediaSettings, speech: Speaker, fetcher: Fetcher) -> None:
        self._settings = settings
        self._speech = speech
        self._fetcher = fetcher
        # Cache fills are serialised per name; a fixed set of locks keeps memory flat.
        self._locks = tuple(asyncio.Lock() for _ in range(64))

    def _uri(self, base: Path) -> str:
        relative = base.relative_to(self._settings.dir)
        return f"sound:{self._settings.asterisk_dir}/{relative.as_posix()}"

    async def prepare(self, call_id: str, playlist: Sequence[Entry]) -> Prepared:
        """Make every entry playable; a failure raises MediaError naming the entry."""
        unique = list(dict.fromkeys(playlist))  # an entry given twice is prepared once
        results = await asyncio.gather(
            *(self._one(call_id, n, entry) for n, entry in enumerate(unique)),
            return_exceptions=True,
        )
        sounds: dict[Entry, Sound] = {}
        failure: MediaError | None = None
        for entry, result in zip(unique, results, strict=True):
            if isinstance(result, Sound):
                sounds[entry] = result
            elif failure is None:
                failure = result if isinstance(result, MediaError) else MediaError(
                    f"unexpected {type(result).__name__}")
                failure.entry = playlist.index(entry)
        secrets = tuple(sound.base for entry, sound in sounds.items()
                        if isinstance(entry, Speech) and entry.secret)
        if failure is not None:
            for base in secrets:
                audio.remove_formats(base)
            raise failure
        return Prepared(
            media=tuple(self._uri(sounds[e].base) for e in playlist),
            secret_bases=secrets,
            seconds=sum(sounds[e].seconds for e in playlist),
            engines=tuple(sorted({s.engine for s in sounds.values() if s.engine})),
        )

    def discard(self, prepared: Prepared) -> None:
        for base in prepared.secret_bases:
            audio.remove_formats(base)

    async def _one(self, call_id: str, n: int, entry: Entry) -> Sound:
        if isinstance(entry, Speech):
            if entry.secret:
                base = self._settings.dir / "calls" / f"{call_id}-{n}-{uuid.uuid4().hex[:8]}"
                return await self._speak(entry, base)
            key = "|".join((*self._speech.engines, entry.language, entry.gender,
                            str(entry.say_as), entry.text))
            return await self._cached(self._settings.dir / "tts" / _digest(key),
                                      lambda base: self._speak(entry, base))
        return await self._cached(self._settings.dir / "url" / _digest(entry.url),
                                  lambda base: self._download(entry, base))

    async def _cached(self, base: Path, make: _Maker) -> Sound:
        """The sound at `base` if an earlier call made it, else made now (once at a time)."""
        async with self._locks[hash(base.name) % len(self._locks)]:
            sln = base.with_name(base.name + ".sln")
            if sln.exists() and base.with_name(base.name + ".alaw").exists():
                return Sound(base, audio.duration_of(sln))
            return await make(base)

    async def _speak(self, entry: Speech, base: Path) -> Sound:
        spoken = await self._speech.speak(entry.text, language=entry.language,
                                          gender=entry.gender, say_as=entry.say_as)
        slin = await audio.to_slin(spoken.wav, "wav")
        await audio.write_formats(slin, base)
        return Sound(base, audio.duration(slin), spoken.engine)

    async def _download(self, entry: AudioUrl, base: Path) -> Sound:
        data = await self._fetcher.fetch(entry.url)
        kind = sniff(data)
        if kind is None:
            raise FetchError("media is neither WAV nor MP3 (checked by its content)")
        slin = await audio.to_slin(data, kind)
        if not slin:
            raise FetchError("media holds no audio")
        await audio.write_formats(slin, base)
        return Sound(base, audio.duration(slin))


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]
