"""Every playlist entry made into sounds Asterisk can play, before anything dials.

- Speech is split into words and digits. Words go to the speech engine and are
  cached by everything that shapes their audio; a word never contains a digit.
  Each digit is a clip of its own, made once per engine and voice, so a code is
  never sent to an engine and never cached as a whole.
- URLs are fetched by the service (Asterisk is never handed a user's URL) through
  fetch.py, checked by their bytes, converted, and cached by a hash of the URL for
  as long as the server's caching headers allow.
- Pauses are cached silence; Asterisk sounds are played by name.
- A call plays each entry from a file of that call only, its sounds joined
  (`stage`), so Asterisk's log of played files says nothing about a code. That
  file is the code as audio while the call lasts, and is emptied when it ends
  (a tmpfs on `<media.dir>/calls` keeps it off the disk).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ari_app import audio
from ari_app.errors import FetchError, MediaError, SpeechError
from ari_app.fetch import Fetcher
from ari_app.playlist import AudioUrl, Entry, Pause, Speech
from ari_app.settings import MediaSettings
from ari_app.speech import NUMBER_VOCABULARY, Engine, Speaker, number_words, segments

log = logging.getLogger(__name__)

WORDS_TO_DIGITS_MS = 300
DIGIT_PACE = 0.87
_DIGITS = "0123456789"
_ALPHABET = _DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
AFTER_DIGITS_MS = 400
CLIP_MEMORY_BYTES = 16 * 1024 * 1024
"""Speech clips and silences kept in memory for joining into calls' files."""
KNOWN_SOUNDS = 20_000
"""Speech clips and silences remembered as made (forgotten all at once past this)."""


@dataclass(frozen=True)
class Sound:
    """One playable item: its ARI media URI, its length, the engine that spoke it."""

    uri: str
    seconds: float
    engine: str | None = None


_Maker = Callable[[Path], Awaitable[float]]
"""Writes a sound's files at a base path and returns its length in seconds."""


@dataclass(frozen=True)
class Prepared:
    media: tuple[str, ...]
    """ARI media URIs, in playing order."""
    items_per_entry: tuple[int, ...]
    seconds: float
    engines: tuple[str, ...]
    """The speech engines that spoke, for the call's status."""
    staged: Path | None = None
    """The call's own folder of links to the sounds, once staged."""

    def entries_done(self, items: int) -> int:
        """How many playlist entries are wholly played once `items` media items are."""
        done = 0
        for count in self.items_per_entry:
            if items < count:
                break
            items -= count
            done += 1
        return done


class _Clips:
    """The bytes of shared sounds, read once and kept up to a bound (least recently used
    out first). Speech clips and silences never change under their names, a hash of all
    that shapes them; fetched files can, so those are read from disk every time."""

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


def _clip_key(engine: str, voice: str, speed: float, text: str) -> str:
    return f"tts|{engine}|{voice}|{speed}|{text}"


def _silence_key(ms: int) -> str:
    return f"silence|{ms}"


def _write(path: str, data: bytes) -> None:
    """A file of a call's slot, readable by Asterisk: written anew, in place if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    try:
        os.fchmod(fd, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def sniff(data: bytes) -> str | None:
    """The audio container by its first bytes: 'wav', 'mp3', 'ogg' or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


class MediaPreparer:
    def __init__(self, *, settings: MediaSettings, speech: Speaker, fetcher: Fetcher) -> None:
        self._settings = settings
        self._speech = speech
        self._fetcher = fetcher
        # Cache fills are serialised per name; a fixed set of locks keeps memory flat.
        self._locks = tuple(asyncio.Lock() for _ in range(64))
        # Clip sets (all digits, all letters, the number words) known to be complete.
        self._complete: set[tuple[str, str, float, str]] = set()
        self._prefix = f"sound:{settings.asterisk_dir}/"
        self._clips = _Clips(CLIP_MEMORY_BYTES)
        self._known: dict[str, Sound] = {}
        self._free_slots: list[Path] = []

    async def prepare(self, playlist: Sequence[Entry]) -> Prepared:
        """Make every entry playable; a failure raises MediaError naming the entry."""
        unique = list(dict.fromkeys(playlist))  # an entry given twice is prepared once
        results = await asyncio.gather(*(self._entry(e) for e in unique), return_exceptions=True)
        ready: dict[Entry, list[Sound]] = {}
        for entry, result in zip(unique, results, strict=True):
            if isinstance(result, BaseException):
                failure = result if isinstance(result, MediaError) else MediaError(
                    f"unexpected {type(result).__name__}")
                failure.entry = playlist.index(entry)
                raise failure
            ready[entry] = result * entry.repeat
        sounds = [ready[e] for e in playlist]
        return Prepared(
            media=tuple(s.uri for group in sounds for s in group),
            items_per_entry=tuple(len(group) for group in sounds),
            seconds=sum(s.seconds for group in sounds for s in group),
            engines=tuple(sorted({s.engine for g in sounds for s in g if s.engine})),
        )

    def stage(self, prepared: Prepared) -> Prepared:
        """Each entry's sounds joined into one file of this call only, per format.

        Asterisk logs every file it plays; under shared names the order of digit clips
        in that log would spell the code. Under `calls/<slot>/<n>` it says nothing.
        One file per entry also means one file for Asterisk to open and one playback
        event per entry, where a spoken code is a dozen clips and gaps.

        A slot (a folder with a random name) serves one live call at a time and is
        reused by later calls: files are rewritten in place and emptied when the call
        ends, not created and deleted per call (on ext4 that churn of inodes was a third
        of the service's CPU time under load).
        """
        if self._free_slots:
            folder = self._free_slots.pop()
        else:
            folder = self._settings.dir / "calls" / uuid.uuid4().hex
            folder.mkdir(parents=True)
        media: list[str] = []
        items: list[int] = []
        at = 0
        for n, count in enumerate(prepared.items_per_entry):
            uris = prepared.media[at:at + count]
            at += count
            if not uris or not all(u.startswith(self._prefix) for u in uris):
                media.extend(uris)  # Asterisk's own sounds, played by name
                items.append(count)
                continue
            sources = [f"{self._settings.dir}/{u.removeprefix(self._prefix)}" for u in uris]
            for ext in audio.FORMATS:
                _write(f"{folder}/{n}.{ext}",
                       b"".join(self._clips.read(f"{s}.{ext}") for s in sources))
            media.append(f"{self._prefix}calls/{folder.name}/{n}")
            items.append(1)
        return dataclasses.replace(prepared, media=tuple(media), items_per_entry=tuple(items),
                                   staged=folder)

    def unstage(self, prepared: Prepared) -> None:
        """Empty the call's files (the audio of a code stays on disk no longer than the
        call) and free its slot."""
        folder = prepared.staged
        if folder is None:
            return
        own = f"{self._prefix}calls/{folder.name}/"
        try:
            for uri in prepared.media:
                if uri.startswith(own):
                    for ext in audio.FORMATS:
                        os.truncate(f"{folder}/{uri.removeprefix(own)}.{ext}", 0)
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)  # and the slot is not reused
            return
        self._free_slots.append(folder)

    def clean_stale(self) -> None:
        """Slots of a stopped service, with whatever calls it could not unstage left in them."""
        shutil.rmtree(self._settings.dir / "calls", ignore_errors=True)

    def render(self, prepared: Prepared) -> bytes:
        """The 8 kHz linear audio the call would play, item after item (for previews)."""
        out = bytearray()
        for n, uri in enumerate(prepared.media):
            if not uri.startswith(self._prefix):
                raise MediaError("a preview cannot include Asterisk's own sounds",
                                 entry=prepared.entries_done(n))
            out += (self._settings.dir / f"{uri.removeprefix(self._prefix)}.sln").read_bytes()
        return bytes(out)

    async def _entry(self, entry: Entry) -> list[Sound]:
        if isinstance(entry, Speech):
            return await self._speech_entry(entry)
        if isinstance(entry, AudioUrl):
            return [await self._url(entry.url)]
        if isinstance(entry, Pause):
            return [await self._silence(entry.ms)]
        return [Sound(f"sound:{entry.name}", 0.0)]

    async def _speech_entry(self, entry: Speech) -> list[Sound]:
        """The words and digit clips of one text, all by one voice; the next engine if it fails."""
        failures = []
        for engine, voice in self._speech.voices(entry.language, entry.gender):
            try:
                return await self._speak_with(engine, voice, entry)
            except SpeechError as exc:
                log.warning("speech engine %s failed, trying the next: %s", engine.name, exc)
                failures.append(f"{engine.name}: {exc}")
        if not failures:
            raise SpeechError(f"no speech engine has a {entry.gender} voice for {entry.language}")
        raise SpeechError("every speech engine failed (" + "; ".join(failures) + ")")

    async def _speak_with(self, engine: Engine, voice: str, entry: Speech) -> list[Sound]:
        plan: list[str | int] = []  # words or a character to speak, or ms of silence
        group = entry.group or (3 if entry.say_as == "telephone" else 0)
        speed = entry.rate / 100
        characters = entry.say_as == "characters"
        for n, (spelled, text) in enumerate(segments(entry.text, characters=characters)):
            if not spelled:
                plan.append(text)
                continue
            if n > 0:
                plan.append(WORDS_TO_DIGITS_MS)
            if entry.say_as == "number" and len(text) <= 9:  # longer runs: digit by digit
                plan.extend(number_words(int(text)))
                plan.append(AFTER_DIGITS_MS)
                continue
            for i, character in enumerate(text.upper()):
                if i:
                    gap = entry.pause_ms * 2 if group and i % group == 0 else entry.pause_ms
                    if gap:
                        plan.append(gap)
                plan.append(character)
            plan.append(AFTER_DIGITS_MS)
        # Whole clip sets at once, whatever the code: which digits, letters or number
        # words an engine is asked for says nothing about it.
        if entry.say_as == "number":
            await self._clip_set(engine, voice, speed, NUMBER_VOCABULARY)
        wanted = {item for item in plan if isinstance(item, str) and len(item) == 1}
        if wanted:
            await self._clip_set(engine, voice, speed,
                                 tuple(_ALPHABET if wanted - set(_DIGITS) else _DIGITS))
        sounds: dict[str | int, Sound] = {}
        missing: list[str | int] = []
        for item in dict.fromkeys(plan):
            known = self._remembered(engine, voice, item, speed)
            if known is None:
                missing.append(item)
            else:
                sounds[item] = known
        if missing:
            made = await asyncio.gather(*(
                self._clip(engine, voice, item, speed) if isinstance(item, str)
                else self._silence(item)
                for item in missing))
            sounds.update(zip(missing, made, strict=True))
        return [sounds[item] for item in plan]

    def _remembered(self, engine: Engine, voice: str, item: str | int,
                    speed: float) -> Sound | None:
        """A clip or silence already made, without waiting for anything."""
        if isinstance(item, int):
            return self._known.get(_silence_key(item))
        known = self._known.get(_clip_key(engine.name, voice, speed, item))
        return None if known is None else Sound(known.uri, known.seconds, engine.name)

    async def _clip_set(self, engine: Engine, voice: str, speed: float,
                        texts: tuple[str, ...]) -> None:
        """Every clip of a set made (once; later calls only remember that it was)."""
        key = (engine.name, voice, speed, "|".join(texts))
        if key not in self._complete:
            await asyncio.gather(*(self._clip(engine, voice, t, speed) for t in texts))
            self._complete.add(key)

    async def _clip(self, engine: Engine, voice: str, text: str, speed: float) -> Sound:
        async def make(base: Path) -> float:
            # Characters are read a little slower than the words around them.
            pace = speed * DIGIT_PACE if len(text) == 1 else speed
            spoken = await engine.synthesize(f"{text}.", voice=voice, speed=pace)
            slin = await audio.to_slin(spoken, sniff(spoken) or "wav", trim_end=True)
            await audio.write_formats(slin, base)
            return audio.duration(slin)

        sound = await self._cached(_clip_key(engine.name, voice, speed, text), make)
        return Sound(sound.uri, sound.seconds, engine.name)

    async def _silence(self, ms: int) -> Sound:
        async def make(base: Path) -> float:
            await audio.write_formats(audio.silence(ms), base)
            return ms / 1000

        return await self._cached(_silence_key(ms), make)

    def _place(self, key: str) -> tuple[Path, str]:
        """Where the sound for `key` lives: its files' base path and its ARI media URI."""
        kind = key.split("|", 1)[0]
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self._settings.dir / kind / name, f"{self._prefix}{kind}/{name}"

    async def _cached(self, key: str, make: _Maker) -> Sound:
        """The sound for `key` if made before, else made now (once at a time). Speech
        clips and silences never change under their key: once known, they are
        remembered without looking at the disk again."""
        known = self._known.get(key)
        if known is not None:
            return known
        base, uri = self._place(key)
        async with self._locks[hash(base.name) % len(self._locks)]:
            sln = base.with_name(base.name + ".sln")
            if sln.exists() and base.with_name(base.name + ".alaw").exists():
                sound = Sound(uri, audio.duration_of(sln))
            else:
                sound = Sound(uri, await make(base))
        if len(self._known) >= KNOWN_SOUNDS:
            self._known.clear()
        self._known[key] = sound
        return sound

    async def _url(self, url: str) -> Sound:
        """A fetched file, reused while the server's caching rules allow, revalidated after
        (If-None-Match / If-Modified-Since), fetched anew when it changed."""
        base, uri = self._place(f"url|{url}")
        meta = base.with_name(base.name + ".json")
        sln = base.with_name(base.name + ".sln")
        async with self._locks[hash(base.name) % len(self._locks)]:
            known: dict[str, Any] = {}
            if sln.exists() and meta.exists():
                known = json.loads(meta.read_text())
                if known.get("fresh_until", 0) > time.time():
                    return Sound(uri, audio.duration_of(sln))
            fetched = await self._fetcher.fetch(url, etag=known.get("etag"),
                                                last_modified=known.get("last_modified"))
            if fetched.body is not None:
                kind = sniff(fetched.body)
                if kind is None:
                    raise FetchError("media is not WAV, MP3 or OGG (checked by its content)")
                slin = await audio.to_slin(fetched.body, kind)
                if not slin:
                    raise FetchError("media holds no audio")
                await audio.write_formats(slin, base)
            max_age = self._settings.cache_seconds if fetched.max_age is None \
                else fetched.max_age
            meta.write_text(json.dumps({
                "etag": fetched.etag or known.get("etag"),
                "last_modified": fetched.last_modified or known.get("last_modified"),
                "fresh_until": time.time() + max_age,
            }))
            return Sound(uri, audio.duration_of(sln))
