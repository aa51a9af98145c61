"""A playlist made playable: what Asterisk plays, in order, and how it maps to entries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Prepared:
    sounds: tuple[str, ...]
    """What Asterisk plays, in order: file names without extension (a path under
    `media.asterisk_dir`, or one of Asterisk's own prompts)."""
    items_per_entry: tuple[int, ...]
    seconds: float
    engines: tuple[str, ...]
    """The speech engines that spoke, for the call's status."""
    staged: Path | None = None
    """The call's own slot, once staged."""

    def sounds_of(self, start: int, stop: int) -> tuple[str, ...]:
        """The sounds of entries `start` to `stop` (excluded)."""
        first = sum(self.items_per_entry[:start])
        return self.sounds[first:first + sum(self.items_per_entry[start:stop])]

    def entries_done(self, items: int) -> int:
        """How many playlist entries are wholly played once `items` sounds are."""
        return entries_done(self.items_per_entry, items)


def entries_done(items_per_entry: Sequence[int], items: int) -> int:
    """How many of the entries are wholly played once `items` of their sounds are."""
    done = 0
    for count in items_per_entry:
        if items < count:
            break
        items -= count
        done += 1
    return done
