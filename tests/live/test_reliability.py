"""Reliability of the live engine against the simulator's fault injection. Each test asserts that nothing is lost
(every position ends flat or protected, every fill counted) and nothing is doubled (exactly the contracts held are
sold; client order ids never repeat an execution)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kalshikit.core.rules import protection
from kalshikit.live.kit import Kit
from kalshikit.sim import Simulator
from kalshikit.store import Journal
from tests.conftest import ROOT, eventually
from tests.live.test_kit import held, open_position

T = "KXREL-26DEC31-T50"


def exits(sim: Simulator) -> list[object]:
    return [o for o in sim.order_log() if o.client_order_id.startswith("kk-")]


def sold(sim: Simulator) -> int:
    """Contracts the kit's exit orders actually sold, from the exchange's own fills."""
    import requests

    from kalshikit.kalshi.rest import KalshiRest

    rest = KalshiRest(sim.rest_url, sim.signer())
    try:
        return sum(f.count for f in rest.fills(ticker=T) if f.book_side == "ask")
    finally:
        rest.close()
        requests.Session().close()


def subscribed(kit: Kit, ticker: str = T) -> bool:
    return ticker in kit.ws.metrics.subscriptions.get("ticker", [])


@pytest.fixture
def armed_kit(exchange: Simulator, make_kit: Callable[..., Kit]) -> Kit:
    exchange.add_market(T, yes_bid=5000, yes_ask=5100, yes_bid_size=100_000, yes_ask_size=100_000)
    kit = make_kit(default_protection=protection(stop=0.05))
    kit.start()
    open_position(exchange, kit, T)
    eventually(lambda: subscribed(kit), what="ticker subscription")
    return kit


def test_connection_dropped_every_few_hundred_ms(exchange: Simulator, armed_kit: Kit) -> None:
    for i in range(4):
        exchange.faults.drop_connections()
        eventually(lambda n=i: armed_kit.ws.metrics.reconnects > n and armed_kit.ws.metrics.state == "connected",
                   what="reconnected")
        exchange.set_quote(T, 5000 + 10 * i, 5100)
    eventually(lambda: subscribed(armed_kit), what="resubscribed after the drops")
    exchange.set_quote(T, 4400, 4500, 100_000, 100_000)
    eventually(lambda: held(exchange, T) == 0, what="exit after reconnects")
    assert len(exits(exchange)) == 1 and sold(exchange) == 1000


def test_quote_missed_while_down_is_caught_by_the_rest_fallback(exchange: Simulator, armed_kit: Kit) -> None:
    exchange.faults.drop_connections()
    exchange.set_quote(T, 4400, 4500, 100_000, 100_000)  # crosses while the socket is down
    eventually(lambda: held(exchange, T) == 0, what="exit from REST prices on reconnect")
    assert len(exits(exchange)) == 1


def test_silent_freeze_is_detected_and_reconnected(exchange: Simulator, armed_kit: Kit) -> None:
    before = armed_kit.ws.metrics.reconnects
    exchange.faults.freeze()
    eventually(lambda: armed_kit.ws.metrics.reconnects > before, timeout=10, what="silence detected")
    eventually(lambda: armed_kit.ws.metrics.state == "connected" and subscribed(armed_kit), what="back")
    assert "no frames or pings" in armed_kit.ws.metrics.last_error
    exchange.set_quote(T, 4400, 4500, 100_000, 100_000)
    eventually(lambda: held(exchange, T) == 0, what="exit on the new connection")


def test_malformed_frames_are_counted_and_skipped(exchange: Simulator, armed_kit: Kit) -> None:
    for _ in range(3):
        exchange.faults.send_malformed()
    eventually(lambda: armed_kit.ws.metrics.decode_errors >= 3, what="decode errors counted")
    assert armed_kit.ws.metrics.state == "connected" and armed_kit.ws.metrics.reconnects == 0
    exchange.set_quote(T, 4400, 4500, 100_000, 100_000)
    eventually(lambda: held(exchange, T) == 0, what="exit after malformed frames")


def test_429_storm_while_exiting(exchange: Simulator, armed_kit: Kit) -> None:
    exchange.faults.rest_errors(429, 4, path_prefix="/portfolio/events/orders")
    exchange.set_quote(T, 4400, 4500, 100_000, 100_000)
    eventually(lambda: held(exchange, T) == 0, timeout=15, what="exit through the 429s")
    assert sold(exchange) == 1000
    ids = [o.client_order_id for o in exits(exchange)]
    assert len(set(ids)) == 1, "a create after 429 is retried with the same client_order_id"


def test_order_accepted_but_reply_times_out(exchange: Simulator, armed_kit: Kit) -> None:
    exchange.faults.hang_orders(1, delay_s=None)  # executes, never answers: the client times out
    exchange.set_quote(T, 4400, 4500, 100_000, 100_000)
    eventually(lambda: held(exchange, T) == 0, what="exit executed")
    eventually(lambda: len(armed_kit.trades()) == 1, timeout=15, what="outcome resolved by lookup")
    assert sold(exchange) == 1000
    assert len({o.client_order_id for o in exits(exchange)}) == 1


def test_partial_fills_are_reissued_until_flat(exchange: Simulator, armed_kit: Kit) -> None:
    exchange.set_quote(T, 4400, 4500, 300, 100_000)  # only 3 contracts bid
    eventually(lambda: held(exchange, T) == 700, what="first partial fill")
    exchange.set_quote(T, 4300, 4500, 400, 100_000)
    eventually(lambda: held(exchange, T) == 300, what="second partial fill")
    exchange.set_quote(T, 4200, 4500, 100_000, 100_000)
    eventually(lambda: held(exchange, T) == 0, what="flat")
    ids = [o.client_order_id for o in exits(exchange)]
    assert len(ids) == len(set(ids)) >= 3
    assert sold(exchange) == 1000  # reduce-only exits never sell more than held


def test_market_closes_and_settles_with_a_position_open(exchange: Simulator, armed_kit: Kit) -> None:
    exchange.close_market(T)
    eventually(lambda: armed_kit.positions().iloc[0]["state"] == "disarmed", what="disarmed")
    exchange.settle_market(T, "no")
    eventually(lambda: len(armed_kit.trades()) == 1, what="settled")
    assert armed_kit.trades().iloc[0]["reason"] == "settlement"
    assert not exits(exchange)


def test_one_hundred_positions_in_one_hundred_markets(exchange: Simulator, make_kit: Callable[..., Kit]) -> None:
    tickers = [f"KXHUND-26DEC31-M{i:03d}" for i in range(100)]
    for t in tickers:
        exchange.add_market(t, yes_bid=5000, yes_ask=5100, yes_bid_size=100_000, yes_ask_size=100_000)
        exchange.seed_position(t, 500, 5000)
    kit = make_kit(default_protection=protection(stop=0.05))
    kit.start()
    kit.reconcile_now()
    eventually(lambda: kit.sync() and len(kit.monitor_thread.snapshot) == 100, timeout=20, what="100 adopted")
    eventually(lambda: len(kit.ws.metrics.subscriptions.get("ticker", [])) == 100, timeout=20, what="subscribed")
    for t in tickers:
        exchange.set_quote(t, 4000, 4100, 100_000, 100_000)
    eventually(lambda: all(held(exchange, t) == 0 for t in tickers), timeout=30, what="all flat")
    log = exits(exchange)
    accepted = [o for o in log if o.status == 201]
    assert len({o.client_order_id for o in log}) == 100, "one exit id per position"
    assert len(accepted) == 100, [(o.client_order_id, o.status) for o in log if o.status != 201]


# ------------------------------------------------------------------------------------------ kill -9
KIT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from kalshikit.config import Settings
    from kalshikit.core.rules import protection
    from kalshikit.live.kit import Kit
    env = {env!r}
    s = Settings.from_env(environ=env, env_file=None, stop_loss_check_interval=0.2, reconcile_interval=0.3,
                          websocket_reconnect_delay=0.1, websocket_max_reconnect_delay=0.3, http_timeout=2)
    kit = Kit(s, journal_path={journal!r}, default_protection=protection(stop=0.05))
    kit.start()
    print("started", flush=True)
    time.sleep(60)
    """
)


def _run_kit(sim: Simulator, journal: Path, crash_at: str) -> subprocess.Popen[str]:
    env = sim.kit_env()
    script = KIT_SCRIPT.format(root=str(ROOT), env=env, journal=str(journal))
    return subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "KALSHIKIT_CRASH_AT": crash_at},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("crash_at", ["after_journal", "after_send"])
def test_kill_9_during_an_exit_then_restart(exchange: Simulator, make_kit: Callable[..., Kit], tmp_path: Path,
                                            crash_at: str) -> None:
    exchange.add_market(T, yes_bid=5000, yes_ask=5100, yes_bid_size=100_000, yes_ask_size=100_000)
    exchange.seed_position(T, 1000, 5000)
    journal = tmp_path / "journal.sqlite"
    proc = _run_kit(exchange, journal, crash_at)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        eventually(lambda: exchange.ws_connections() > 0 and journal.exists(), what="kit up")
        time.sleep(1.0)  # let it adopt the position and subscribe (there is nothing to poll from outside)
        exchange.set_quote(T, 4400, 4500, 100_000, 100_000)
        proc.wait(20)
        assert proc.returncode == -signal.SIGKILL, proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    j = Journal(journal)
    (intent,) = j.open_orders()  # journaled before the crash, outcome never recorded
    j.close()
    expected_held = 1000 if crash_at == "after_journal" else 0
    assert held(exchange, T) == expected_held
    kit = make_kit(journal=journal)
    kit.start()
    eventually(lambda: held(exchange, T) == 0, timeout=20, what="flat after restart")
    eventually(lambda: not Journal(journal).open_orders(), timeout=10, what="intent resolved")
    assert sold(exchange) == 1000
    assert {o.client_order_id for o in exits(exchange)} == {intent["client_order_id"]}
