"""A playlist made playable: what Asterisk plays, in order, and how it maps to entries."""

from __future__ import annotations

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

    def entries_done(self, items: int) -> int:
        """How many playlist entries are wholly played once `items` sounds are."""
        done = 0
        for count in self.items_per_entry:
            if items < count:
                break
            items -= count
            done += 1
        return done
