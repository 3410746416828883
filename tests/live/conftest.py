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

FAST = {
    "stop_loss_check_interval": 0.2,
    "reconcile_interval": 0.3,
    "ui_update_interval": 0.1,
    "strategy_loop_interval": 0.5,
    "websocket_reconnect_delay": 0.1,
    "websocket_max_reconnect_delay": 0.4,
    "websocket_silence_secs": 1.5,
    "http_timeout": 2.0,
    "reads_per_second": 500,
    "writes_per_second": 500,
}


@pytest.fixture
def exchange() -> Iterator[Simulator]:
    sim = Simulator(heartbeat_s=0.5)
    sim.start()
    yield sim
    sim.stop()


def kit_settings(sim: Simulator, **overrides: Any) -> Settings:
    env = {
        "KALSHI_ENV": "sim",
        "KALSHI_REST_URL": sim.rest_url,
        "KALSHI_WS_URL": sim.ws_url,
        "KALSHI_API_KEY_ID": sim.key_id,
        "KALSHI_PRIVATE_KEY_PATH": str(sim.private_key_path),
    }
    return Settings.from_env(environ=env, env_file=None, **{**FAST, **overrides})


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
