"""Fixtures for the live engine: a fresh in-process simulator (no tape: prices move only when a test says so)
and a Kit pointed at it with short intervals, its own journal and the simulator's demo key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kalshikit.config import Settings
from kalshikit.live.kit import Kit
from kalshikit.sim import Simulator
from tests.conftest import kit_settings


@pytest.fixture
def exchange() -> Iterator[Simulator]:
    sim = Simulator(heartbeat_s=0.5)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def make_kit(exchange: Simulator, tmp_path: Path) -> Iterator[Callable[..., Kit]]:
    kits: list[Kit] = []

    def make(journal: Path | None = None, settings: Settings | None = None, **kw: Any) -> Kit:
        kit = Kit(settings or kit_settings(exchange), journal_path=journal or tmp_path / "journal.sqlite", **kw)
        kits.append(kit)
        return kit

    yield make
    for k in kits:
        k.stop()
