"""An in-memory AMI: a reload reads the endpoints from the rendered pjsip.conf, as Asterisk does."""

from __future__ import annotations

import re
from pathlib import Path

from ari_app.ami import Contact
from ari_app.errors import AmiError

_ENDPOINT = re.compile(r"^\[([^\]]+)\]\ntype = endpoint$", re.MULTILINE)
_INCLUDE = re.compile(r"^#include (\S+)$", re.MULTILINE)


class FakeAmi:
    def __init__(self, config_dir: Path | None = None) -> None:
        self.config_dir = config_dir
        self.loaded: set[str] = set()
        self.reloads = 0
        self.refuse: str | None = None
        """Refuse the next reload with this message, or lose this endpoint (`lose:NAME`)."""
        self.up = True
        self.qualified: list[str] = []
        self.registration_reads = 0
        self.reload()

    def reload(self) -> None:
        if self.config_dir is not None and (self.config_dir / "pjsip.conf").exists():
            text = (self.config_dir / "pjsip.conf").read_text()
            for name in _INCLUDE.findall(text):  # the PBX's own files, as Asterisk reads them
                included = self.config_dir / name
                text += included.read_text() if included.exists() else ""
            self.loaded = set(_ENDPOINT.findall(text))

    async def ping(self) -> bool:
        return self.up

    async def reload_pjsip(self) -> None:
        self.reloads += 1
        refuse, self.refuse = self.refuse, None
        if refuse is not None and not refuse.startswith("lose:"):
            raise AmiError(refuse)
        self.reload()
        if refuse is not None:
            self.loaded.discard(refuse.removeprefix("lose:"))

    async def endpoints(self) -> set[str]:
        return set(self.loaded)

    async def registrations(self) -> dict[str, str]:
        self.registration_reads += 1
        return {f"{name}-reg": "Registered" for name in self.loaded}

    async def contact(self, endpoint: str) -> Contact | None:
        return Contact(endpoint, "Reachable", 1.5) if endpoint in self.loaded else None

    async def qualify(self, endpoint: str) -> None:
        self.qualified.append(endpoint)
