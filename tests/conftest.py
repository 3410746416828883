"""Shared test helpers: the real-data folder (skip when absent), ``eventually`` for waiting on threads, one place for
every timeout (``scaled``, scaled by ``KALSHIKIT_TEST_TIMEOUT_FACTOR``), and a session-wide exchange simulator
(``sim``) on 127.0.0.1 that any test may use.

Tests never assert on how long something took and never sleep to let something happen: they poll for the state
they need with ``eventually``. Its timeout (and every subprocess, ``wait()`` or socket timeout of a test, through
``scaled``) is only a bound on a failure, so it is generous; on a machine slower than a busy 2-core box, set
``KALSHIKIT_TEST_TIMEOUT_FACTOR=3`` (say) and every bound, including pytest-timeout's per-test limit, grows with it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kalshikit.config import Settings
from kalshikit.sim import Simulator

ROOT = Path(__file__).resolve().parent.parent
REALDATA = ROOT.parent / "shared" / "realdata"
TIMEOUT_FACTOR_ENV = "KALSHIKIT_TEST_TIMEOUT_FACTOR"

T = TypeVar("T")


def _timeout_factor() -> float:
    raw = os.environ.get(TIMEOUT_FACTOR_ENV, "").strip()
    if not raw:
        return 1.0
    try:
        factor = float(raw)
    except ValueError:
        raise pytest.UsageError(f"{TIMEOUT_FACTOR_ENV}={raw!r} is not a number") from None
    if not factor >= 1.0:
        raise pytest.UsageError(f"{TIMEOUT_FACTOR_ENV}={raw!r}: give a factor >= 1 (timeouts only ever grow)")
    return factor


TIMEOUT_FACTOR = _timeout_factor()


def scaled(seconds: float) -> float:
    """A test's timeout (a bound on failure, never an expected duration) times ``KALSHIKIT_TEST_TIMEOUT_FACTOR``."""
    return seconds * TIMEOUT_FACTOR


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """pytest-timeout's per-test limit (pyproject's ``timeout`` or a test's own ``timeout`` mark) grows with the
    factor too."""
    if TIMEOUT_FACTOR == 1.0:
        return
    default = float(config.getini("timeout") or 0)
    for item in items:
        mark = item.get_closest_marker("timeout")
        base = float(mark.args[0]) if mark is not None and mark.args else default
        if base > 0:
            item.add_marker(pytest.mark.timeout(scaled(base)), append=False)


@pytest.fixture(scope="session")
def realdata() -> Path:
    """``../shared/realdata`` (real captured Kalshi data, never copied into the project); skip when absent."""
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not present on this machine")
    return REALDATA


def eventually(condition: Callable[[], T], timeout: float = 15.0, interval: float = 0.01, what: str = "") -> T:
    """Poll ``condition`` until it returns a truthy value (returned) or fail after ``scaled(timeout)`` seconds.

    ``timeout`` bounds a failure only: a condition that holds returns at once, so give it room for a busy machine.
    """
    limit = scaled(timeout)
    deadline = time.monotonic() + limit
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {limit:g}s waiting for {what or condition}")
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


# Intervals short enough for tests (live engine, dashboard, parity) to see several cycles in a second. The two
# timeouts among them (a REST call, WebSocket silence) are failure bounds: they grow with the factor, so that a
# machine that is merely slow is not taken for a dead connection.
FAST = {
    "stop_loss_check_interval": 0.2,
    "reconcile_interval": 0.3,
    "ui_update_interval": 0.1,
    "strategy_loop_interval": 0.5,
    "websocket_reconnect_delay": 0.1,
    "websocket_max_reconnect_delay": 0.4,
    "websocket_silence_secs": scaled(3.0),
    "http_timeout": scaled(2.0),
    "reads_per_second": 500,
    "writes_per_second": 500,
}


def kit_settings(sim: Simulator, **overrides: Any) -> Settings:
    """Settings for a Kit on ``sim`` with its demo key and the FAST intervals (``overrides`` win)."""
    return Settings.from_env(environ=sim.kit_env(), env_file=None, **{**FAST, **overrides})
