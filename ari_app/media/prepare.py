"""Every playlist entry made into sounds Asterisk can play, before anything dials.

- Speech: the plan (plan.py) says which words, characters and silences, in what
  order; each comes from the sound cache, made by the entry's engine and voice; if
  that engine fails, the next one speaks the whole entry.
- URLs are fetched by the service (Asterisk is never handed a user's URL) through
  fetch.py, checked by their bytes, converted and cached (cache.py).
- Pauses are cached silence; Asterisk's own prompts are played by name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from ari_app.entries import AudioUrl, Entry, Pause, Speech
from ari_app.errors import MediaError, SpeechError
from ari_app.fetch import Fetcher
from ari_app.media.cache import Sound, SoundCache
from ari_app.media.plan import plan_speech
from ari_app.media.prepared import Prepared
from ari_app.media.staging import Staging
from ari_app.settings import Current
from ari_app.speech import Engine, Speaker

log = logging.getLogger(__name__)


class MediaPreparer:
    def __init__(self, *, current: Current, speech: Speaker, fetcher: Fetcher) -> None:
        self._current = current
        self._speech = speech
        self._cache = SoundCache(current=current, fetcher=fetcher)
        self._staging = Staging(current=current, cache=self._cache)

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
            sounds=tuple(s.name for group in sounds for s in group),
            items_per_entry=tuple(len(group) for group in sounds),
            seconds=sum(s.seconds for group in sounds for s in group),
            engines=tuple(sorted({s.engine for g in sounds for s in g if s.engine})),
        )

    def stage(self, prepared: Prepared) -> Prepared:
        return self._staging.stage(prepared)

    def unstage(self, prepared: Prepared) -> None:
        self._staging.unstage(prepared)

    def clean_stale(self) -> None:
        self._staging.clean_stale()

    def render(self, prepared: Prepared) -> bytes:
        """The 8 kHz linear audio the call would play, sound after sound (for previews)."""
        out = bytearray()
        ours = self._cache.asterisk_prefix
        for n, name in enumerate(prepared.sounds):
            if not name.startswith(ours):
                raise MediaError("a preview cannot include Asterisk's own sounds",
                                 entry=prepared.entries_done(n))
            out += self._cache.read(self._cache.path_of(name), "sln")
        return bytes(out)

    async def _entry(self, entry: Entry) -> list[Sound]:
        if isinstance(entry, Speech):
            return await self._speech_entry(entry)
        if isinstance(entry, AudioUrl):
            return [await self._cache.url(entry.url)]
        if isinstance(entry, Pause):
            return [await self._cache.silence(entry.ms)]
        return [Sound(entry.name, 0.0)]

    async def _speech_entry(self, entry: Speech) -> list[Sound]:
        """The words and clips of one text, all by one voice; the next engine if it fails."""
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
        plan = plan_speech(entry)
        speed = entry.rate / 100
        for clip_set in plan.clip_sets:
            await self._cache.clip_set(engine, voice, speed, clip_set)
        sounds: dict[str | int, Sound] = {}
        missing: list[str | int] = []
        for item in dict.fromkeys(plan.items):
            known = self._cache.remembered(engine, voice, item, speed)
            if known is None:
                missing.append(item)
            else:
                sounds[item] = known
        if missing:
            made = await asyncio.gather(*(
                self._cache.clip(engine, voice, item, speed) if isinstance(item, str)
                else self._cache.silence(item)
                for item in missing))
            sounds.update(zip(missing, made, strict=True))
        return [sounds[item] for item in plan.items]
