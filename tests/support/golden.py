"""Golden-output checks of rendered config: a file compared whole with its golden copy,
the random salt of the ARI password hash aside. UPDATE_GOLDEN=1 writes the copies anew
after an intended template change. Also the sections of a rendered file, as Asterisk
reads them, for checks across layouts."""

from __future__ import annotations

import os
import re
from pathlib import Path

_HASH = re.compile(r"\$6\$[^$\s]+\$[A-Za-z0-9./]+")

Objects = list[tuple[str, str, tuple[tuple[str, str], ...]]]


def stable(text: str) -> str:
    """The ARI password hash has a random salt: compared as a placeholder."""
    return _HASH.sub("$6$<salt>$<hash>", text)


def check_golden(golden: Path, rendered: str) -> None:
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(stable(rendered))
    assert stable(rendered) == golden.read_text()


def objects(text: str) -> Objects:
    """Each `[name]` section as (name, type, options), as Asterisk reads them."""
    found: list[tuple[str, list[tuple[str, str]]]] = []
    for line in (raw.strip() for raw in text.splitlines()):
        if not line or line.startswith((";", "#")):
            continue
        if line.startswith("["):
            found.append((line[1:line.index("]")], []))
            continue
        key, _, value = line.partition("=")
        assert found, f"an option outside any section: {line}"
        # Asterisk would cut the value at a bare ';' (a comment): ours are escaped.
        assert not re.search(r"(?<!\\);", value), f"an unescaped ';' in: {line}"
        found[-1][1].append((key.strip(), value.strip()))
    return [(name, dict(options).get("type", ""), tuple(options)) for name, options in found]
