"""Shared test helpers: the real-data folder (skip when absent), ``eventually`` for waiting on threads, and a
session-wide exchange simulator (``sim``) on 127.0.0.1 that any test may use."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kalshikit.config import Settings
from kalshikit.sim import Simulator

ROOT = Path(__file__).resolve().parent.parent
REALDATA = ROOT.parent / "shared" / "realdata"

T = TypeVar("T")


@pytest.fixture(scope="session")
def realdata() -> Path:
    """``../shared/realdata`` (real captured Kalshi data, never copied into the project); skip when absent."""
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not present on this machine")
    return REALDATA


def eventually(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.01, what: str = "") -> T:
    """Poll ``condition`` until it returns a truthy value (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def sim() -> Iterator[Simulator]:
    """One simulator for the whole session: no tape (tests add markets and quotes), demo key, default faults.

    Tests share it: use your own market tickers (e.g. with a uuid), your own account (``sim.create_key(account=...)``)
    when balances or positions matter, and clear any fault you set (``sim.faults.clear()``).
    """
    s = Simulator().start()
    try:
        yield s
    finally:
        s.stop()


# Intervals short enough for tests (live engine, dashboard, parity) to see several cycles in a second.
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


def kit_settings(sim: Simulator, **overrides: Any) -> Settings:
    """Settings for a Kit on ``sim`` with its demo key and the FAST intervals (``overrides`` win)."""
    return Settings.from_env(environ=sim.kit_env(), env_file=None, **{**FAST, **overrides})
