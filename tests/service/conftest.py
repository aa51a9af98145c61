"""Fixtures of the service tests: rigs of the whole service over fakes, closed after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.service.rig import Rig, build_rig
from tests.support.stores import RigDatabase


@pytest.fixture
async def make_rig(tmp_path: Path,
                   rig_database: RigDatabase) -> AsyncIterator[Callable[..., Rig]]:
    """Builds rigs (`build_rig` arguments, tmp_path given) on the test's database: every
    service test runs once on SQLite and once on PostgreSQL. Each rig is closed after
    the test."""
    rigs: list[Rig] = []

    def make(*args: Any, **kwargs: Any) -> Rig:
        rigs.append(build_rig(tmp_path, *args, database=rig_database, **kwargs))
        return rigs[-1]

    yield make
    for rig in reversed(rigs):
        await rig.close()


@pytest.fixture
def rig(make_rig: Callable[..., Rig]) -> Rig:
    """The service on the sandbox's settings."""
    return make_rig()
