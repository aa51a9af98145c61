"""Sounds made once and kept: speech clips, silences and fetched files, each on disk under
a hash of everything that shapes it, in every format Asterisk may play (audio.py).

Speech clips and silences never change under their key, so once made they are
remembered (and their bytes kept in memory, up to a bound, for joining into calls'
files) without looking at the disk again. Fetched files are reused for as long as
the server's caching headers allow, then revalidated (If-None-Match /
If-Modified-Since).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ari_app import audio
from ari_app.errors import FetchError
from ari_app.fetch import Fetcher
from ari_app.settings import Current
from ari_app.speech import Engine

DIGIT_PACE = 0.87
"""Characters are read a little slower than the words around them."""
CLIP_MEMORY_BYTES = 16 * 1024 * 1024
"""Speech clips and silences kept in memory for joining into calls' files."""
KNOWN_SOUNDS = 20_000
"""Speech clips and silences remembered as made (forgotten all at once past this)."""


@dataclass(frozen=True)
class Sound:
    """One playable item: its name as Asterisk plays it (a file's path without extension,
    or the name of one of Asterisk's own prompts), its length, the engine that spoke it."""

    name: str
    seconds: float
    engine: str | None = None


_Maker = Callable[[Path], Awaitable[float]]
"""Writes a sound's files at a base path and returns its length in seconds."""


def _clip_key(engine: str, voice: str, speed: float, text: str) -> str:
    return f"tts|{engine}|{voice}|{speed}|{text}"


def _silence_key(ms: int) -> str:
    return f"silence|{ms}"


class _ClipBytes:
    """The bytes of shared sounds, read once and kept up to a bound (least recently used
    out first). Fetched files can change under their names, so those are read from disk
    every time."""

    def __init__(self, max_bytes: int) -> None:
        self._kept: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._max = max_bytes

    def read(self, path: str) -> bytes:
        data = self._kept.get(path)
        if data is not None:
            self._kept.move_to_end(path)
            return data
        with open(path, "rb") as file:
            data = file.read()
        if os.path.basename(os.path.dirname(path)) in ("tts", "silence"):
            self._kept[path] = data
            self._size += len(data)
            while self._size > self._max:
                self._size -= len(self._kept.popitem(last=False)[1])
        return data


class SoundCache:
    def __init__(self, *, current: Current, fetcher: Fetcher) -> None:
        self._current = current
        self._fetcher = fetcher
        # Cache fills are serialised per name; a fixed set of locks keeps memory flat.
        self._locks = tuple(asyncio.Lock() for _ in range(64))
        # Clip sets (all digits, all letters, the number words) known to be complete.
        self._complete: set[tuple[str, str, float, str]] = set()
        self._bytes = _ClipBytes(CLIP_MEMORY_BYTES)
        self._known: dict[str, Sound] = {}

    @property
    def _dir(self) -> Path:
        return self._current.settings.media.dir

    @property
    def asterisk_prefix(self) -> str:
        """How the names of our own sounds begin, as Asterisk sees the media folder."""
        return f"{self._current.settings.media.asterisk_dir}/"

    def path_of(self, name: str) -> str:
        """The file of one of our sounds (its name as Asterisk plays it), without extension."""
        return f"{self._dir}/{name.removeprefix(self.asterisk_prefix)}"

    def read(self, path: str, ext: str) -> bytes:
        """The bytes of one format of the sound whose file is `path` (from `path_of`)."""
        return self._bytes.read(f"{path}.{ext}")

    def remembered(self, engine: Engine, voice: str, item: str | int,
                   speed: float) -> Sound | None:
        """A clip or silence already made, without waiting for anything."""
        if isinstance(item, int):
            return self._known.get(_silence_key(item))
        known = self._known.get(_clip_key(engine.name, voice, speed, item))
        return None if known is None else Sound(known.name, known.seconds, engine.name)

    async def clip_set(self, engine: Engine, voice: str, speed: float,
                       texts: tuple[str, ...]) -> None:
        """Every clip of a set made (once; later calls only remember that it was)."""
        key = (engine.name, voice, speed, "|".join(texts))
        if key not in self._complete:
            await asyncio.gather(*(self.clip(engine, voice, t, speed) for t in texts))
            self._complete.add(key)

    async def clip(self, engine: Engine, voice: str, text: str, speed: float) -> Sound:
        async def make(base: Path) -> float:
            pace = speed * DIGIT_PACE if len(text) == 1 else speed
            spoken = await engine.synthesize(f"{text}.", voice=voice, speed=pace)
            slin = await audio.to_slin(spoken, audio.sniff(spoken) or "wav", trim_end=True)
            await audio.write_formats(slin, base)
            return audio.duration(slin)

        sound = await self._cached(_clip_key(engine.name, voice, speed, text), make)
        return Sound(sound.name, sound.seconds, engine.name)

    async def silence(self, ms: int) -> Sound:
        async def make(base: Path) -> float:
            await audio.write_formats(audio.silence(ms), base)
            return ms / 1000

        return await self._cached(_silence_key(ms), make)

    def _place(self, key: str) -> tuple[Path, str]:
        """Where the sound for `key` lives: its files' base path and its name in Asterisk."""
        kind = key.split("|", 1)[0]
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self._dir / kind / name, f"{self.asterisk_prefix}{kind}/{name}"

    async def _cached(self, key: str, make: _Maker) -> Sound:
        """The sound for `key` if made before, else made now (once at a time)."""
        known = self._known.get(key)
        if known is not None:
            return known
        base, name = self._place(key)
        async with self._locks[hash(base.name) % len(self._locks)]:
            sln = base.with_name(base.name + ".sln")
            if sln.exists() and base.with_name(base.name + ".alaw").exists():
                sound = Sound(name, audio.duration_of(sln))
            else:
                sound = Sound(name, await make(base))
        if len(self._known) >= KNOWN_SOUNDS:
            self._known.clear()
        self._known[key] = sound
        return sound

    async def url(self, url: str) -> Sound:
        """A fetched file, reused while the server's caching rules allow, revalidated after,
        fetched anew when it changed."""
        base, name = self._place(f"url|{url}")
        meta = base.with_name(base.name + ".json")
        sln = base.with_name(base.name + ".sln")
        async with self._locks[hash(base.name) % len(self._locks)]:
            known: dict[str, Any] = {}
            if sln.exists() and meta.exists():
                known = json.loads(meta.read_text())
                if known.get("fresh_until", 0) > time.time():
                    return Sound(name, audio.duration_of(sln))
            fetched = await self._fetcher.fetch(url, etag=known.get("etag"),
                                                last_modified=known.get("last_modified"))
            if fetched.body is not None:
                kind = audio.sniff(fetched.body)
                if kind is None:
                    raise FetchError("media is not WAV, MP3 or OGG (checked by its content)")
                slin = await audio.to_slin(fetched.body, kind)
                if not slin:
                    raise FetchError("media holds no audio")
                await audio.write_formats(slin, base)
            settings = self._current.settings.media
            max_age = settings.cache_seconds if fetched.max_age is None else fetched.max_age
            meta.write_text(json.dumps({
                "etag": fetched.etag or known.get("etag"),
                "last_modified": fetched.last_modified or known.get("last_modified"),
                "fresh_until": time.time() + max_age,
            }))
            return Sound(name, audio.duration_of(sln))
