"""Fixtures of the service tests: rigs of the whole service over fakes, closed after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.service.rig import Rig, build_rig


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[Callable[..., Rig]]:
    """Builds rigs (`build_rig` arguments, tmp_path given); each is closed after the test."""
    rigs: list[Rig] = []

    def make(*args: Any, **kwargs: Any) -> Rig:
        rigs.append(build_rig(tmp_path, *args, **kwargs))
        return rigs[-1]

    yield make
    for rig in reversed(rigs):
        await rig.close()


@pytest.fixture
def rig(make_rig: Callable[..., Rig]) -> Rig:
    """The service on the sandbox's settings."""
    return make_rig()
