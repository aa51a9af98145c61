"""Per-call staging: each entry of a call played from one file of that call only.

Asterisk logs every file it plays; under shared names the order of digit clips in
that log would spell the code. Under `calls/<slot>/<n>` it says nothing. One file
per entry also means one file for Asterisk to open and one playback event per
entry, where a spoken code is a dozen clips and gaps. That file is the code as
audio while the call lasts, and is emptied when it ends (a tmpfs on
`<media.dir>/calls` keeps it off the disk).

A slot (a folder with a random name) serves one live call at a time and is reused
by later calls: files are rewritten in place and emptied when the call ends, not
created and deleted per call (on ext4 that churn of inodes was a third of the
service's CPU time under load).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import uuid
from pathlib import Path

from ari_app import audio
from ari_app.media.cache import SoundCache
from ari_app.media.prepared import Prepared
from ari_app.settings import Current


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


class Staging:
    def __init__(self, *, current: Current, cache: SoundCache) -> None:
        self._current = current
        self._cache = cache
        self._free_slots: list[Path] = []

    @property
    def _calls_dir(self) -> Path:
        return self._current.settings.media.dir / "calls"

    def stage(self, prepared: Prepared) -> Prepared:
        """Each entry's sounds joined into one file of this call's slot, per format;
        Asterisk's own prompts stay as they are, played by name."""
        if self._free_slots:
            folder = self._free_slots.pop()
        else:
            folder = self._calls_dir / uuid.uuid4().hex
            folder.mkdir(parents=True)
        ours = self._cache.asterisk_prefix
        sounds: list[str] = []
        items: list[int] = []
        at = 0
        for n, count in enumerate(prepared.items_per_entry):
            names = prepared.sounds[at:at + count]
            at += count
            if not names or not all(name.startswith(ours) for name in names):
                sounds.extend(names)
                items.append(count)
                continue
            paths = [self._cache.path_of(name) for name in names]
            for ext in audio.FORMATS:
                _write(f"{folder}/{n}.{ext}", b"".join(self._cache.read(p, ext) for p in paths))
            sounds.append(f"{ours}calls/{folder.name}/{n}")
            items.append(1)
        return dataclasses.replace(prepared, sounds=tuple(sounds), items_per_entry=tuple(items),
                                   staged=folder)

    def unstage(self, prepared: Prepared) -> None:
        """Empty the call's files (the audio of a code stays on disk no longer than the
        call) and free its slot."""
        folder = prepared.staged
        if folder is None:
            return
        own = f"{self._cache.asterisk_prefix}calls/{folder.name}/"
        try:
            for name in prepared.sounds:
                if name.startswith(own):
                    for ext in audio.FORMATS:
                        os.truncate(f"{folder}/{name.removeprefix(own)}.{ext}", 0)
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)  # and the slot is not reused
            return
        self._free_slots.append(folder)

    def clean_stale(self) -> None:
        """Slots of a stopped service, with whatever calls it could not unstage left in them."""
        shutil.rmtree(self._calls_dir, ignore_errors=True)
