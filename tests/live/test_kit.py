"""The live engine against the simulator over 127.0.0.1: threads, adoption, protection, exits, subscriptions."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from kalshikit.core.rules import protection
from kalshikit.errors import CrossedLevelError, RuleError
from kalshikit.live.kit import Kit
from kalshikit.sim import Simulator
from kalshikit.strategy.base import OrderIntent
from tests.conftest import ROOT, eventually, scaled

T = "KXLIVE-26DEC31-T50"
THREADS = {"StrategyLoop", "StopLossMonitor", "UIUpdate", "WebSocketClient"}


def held(sim: Simulator, ticker: str = T) -> int:
    p = sim.position(ticker)
    return 0 if p is None else p.count


def open_position(sim: Simulator, kit: Kit, ticker: str = T, count: int = 1000, price: int = 5000) -> None:
    """Give the account a position on the exchange and wait until the kit has adopted exactly it."""
    sim.seed_position(ticker, count, price)
    kit.reconcile_now()

    def adopted() -> bool:
        kit.sync()
        return any(v.ticker == ticker and v.count == abs(count) for v in kit.monitor_thread.snapshot)

    eventually(adopted, 10, what="adoption")


def test_four_named_threads_start_and_stop_cleanly(exchange: Simulator, make_kit: Callable[..., Kit],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    kit = make_kit()
    assert kit.start() is kit
    names = {t.name for t in threading.enumerate()}
    assert names >= THREADS
    assert all(t.daemon for t in threading.enumerate() if t.name in THREADS)
    eventually(lambda: any("Connected to Kalshi WebSocket (sim, ws://127.0.0.1" in r.message for r in caplog.records),
               what="connected log line")
    kit.start()  # twice: nothing happens
    kit.stop()
    kit.stop()  # twice: nothing happens
    assert not THREADS & {t.name for t in threading.enumerate() if t.is_alive()}


def test_adopts_a_position_and_its_stop_exits_once(exchange: Simulator, make_kit: Callable[..., Kit]) -> None:
    exchange.add_market(T, yes_bid=5000, yes_ask=5100, yes_bid_size=50_000, yes_ask_size=50_000)
    kit = make_kit(default_protection=protection(stop=0.05, take_profit=0.10))
    kit.start()
    open_position(exchange, kit)
    view = kit.positions().iloc[0]
    assert (view["side"], view["count"], view["state"]) == ("yes", 10.0, "armed")
    assert view["stop"] == pytest.approx(0.45)
    eventually(lambda: T in kit.ws.metrics.subscriptions.get("ticker", []), what="ticker subscription")
    exchange.set_quote(T, 4400, 4500, 50_000, 50_000)  # bid through the stop
    eventually(lambda: held(exchange) == 0, what="flat on the exchange")
    exits = [o for o in exchange.order_log() if o.client_order_id.startswith("kk-")]
    assert len(exits) == 1
    body = exits[0].body
    assert body["reduce_only"] is True and body["time_in_force"] == "immediate_or_cancel" and body["side"] == "ask"
    eventually(lambda: len(kit.trades()) == 1, what="trade recorded")
    trade = kit.trades().iloc[0]
    assert trade["reason"] == "stop_loss" and trade["exit_price"] == pytest.approx(0.44)
    assert trade["realized"] == pytest.approx(-0.60)  # 10 contracts from 0.50 to 0.44
    eventually(lambda: T not in kit.ws.metrics.subscriptions.get("ticker", []), what="unsubscribed after close")


def test_protect_validates_and_arms(exchange: Simulator, make_kit: Callable[..., Kit]) -> None:
    exchange.add_market(T, yes_bid=5000, yes_ask=5100)
    kit = make_kit()
    kit.start()
    with pytest.raises(RuleError, match="no open position"):
        kit.protect(T, stop=0.1)
    open_position(exchange, kit)
    assert kit.positions().iloc[0]["state"] == "unprotected"
    with pytest.raises(RuleError, match="below \\$0"):
        kit.protect(T, stop=0.6)
    with pytest.raises(RuleError, match="unknown rule"):
        kit.protect(T, stopp=0.1)
    kit.protect(T, stop=0.10, trailing=0.05, take_profit=0.2)
    row = kit.positions().iloc[0]
    assert row["state"] == "armed" and row["take_profit"] == pytest.approx(0.70)
    exchange.set_quote(T, 6000, 6100)
    eventually(lambda: kit.positions().iloc[0]["trailing_peak"] == pytest.approx(0.60), what="trailing ratchet")
    exchange.set_quote(T, 5500, 5600)  # 0.60 - 0.05: the trailing stop fires
    eventually(lambda: held(exchange) == 0, what="trailing exit")
    eventually(lambda: len(kit.trades()) == 1 and kit.trades().iloc[0]["reason"] == "trailing_stop")


def test_take_profit_on_a_no_position(exchange: Simulator, make_kit: Callable[..., Kit]) -> None:
    exchange.add_market(T, yes_bid=6000, yes_ask=6100)
    kit = make_kit(default_protection=protection(stop=0.10, take_profit=0.10))
    kit.start()
    open_position(exchange, kit, count=-1000, price=3900)  # 10 NO at 0.39
    exchange.set_quote(T, 4800, 5000)  # NO bid = 1 - 0.50 = 0.50 >= 0.49
    eventually(lambda: held(exchange) == 0, what="NO exit")
    exit_order = next(o for o in exchange.order_log() if o.client_order_id.startswith("kk-"))
    assert exit_order.body["side"] == "bid"  # buying YES back closes NO
    eventually(lambda: len(kit.trades()) == 1 and kit.trades().iloc[0]["reason"] == "take_profit")


def test_flatten_pause_and_resume(exchange: Simulator, make_kit: Callable[..., Kit]) -> None:
    exchange.add_market(T, yes_bid=5000, yes_ask=5100)
    kit = make_kit(default_protection=protection(stop=0.05))
    kit.start()
    open_position(exchange, kit)
    kit.pause()
    exchange.set_quote(T, 4000, 4100)
    kit.sync()
    assert held(exchange) == 1000  # paused: no exit
    kit.resume()
    eventually(lambda: held(exchange) == 0, what="exit after resume (sweep)")
    open_position(exchange, kit, count=500, price=4000)
    kit.flatten(T)
    eventually(lambda: held(exchange) == 0, what="flattened")


def test_settlement_with_a_position_open(exchange: Simulator, make_kit: Callable[..., Kit]) -> None:
    exchange.add_market(T, yes_bid=5000, yes_ask=5100)
    kit = make_kit(default_protection=protection(stop=0.05))
    kit.start()
    open_position(exchange, kit)
    exchange.close_market(T)
    eventually(lambda: kit.positions().iloc[0]["state"] == "disarmed", what="disarmed on close")
    exchange.settle_market(T, "yes")
    eventually(lambda: len(kit.trades()) == 1, what="settled")
    trade = kit.trades().iloc[0]
    assert trade["reason"] == "settlement" and trade["realized"] == pytest.approx(5.0)  # 10 x (1.00 - 0.50)
    assert not [o for o in exchange.order_log() if o.client_order_id.startswith("kk-")]


def test_status_snapshot_and_frames(exchange: Simulator, make_kit: Callable[..., Kit]) -> None:
    exchange.add_market(T, yes_bid=5000, yes_ask=5100)
    kit = make_kit(default_protection=protection(stop=0.2))
    kit.start()
    open_position(exchange, kit)
    eventually(lambda: T in kit.ws.metrics.subscriptions.get("ticker", []), what="ticker subscription")
    for i in range(20):
        exchange.set_quote(T, 5000 + 100 * (i % 3), 5200 + 100 * (i % 3))
    eventually(lambda: kit.status()["connection"]["frames"] >= 20, what="frames counted")
    st = kit.status()
    assert st["env"] == "sim" and st["running"] and st["positions"] == 1
    prices = kit.prices()
    assert T in set(prices["ticker"]) and not prices.set_index("ticker").loc[T, "stale"]


def test_a_new_kit_with_its_own_simulator_replaces_the_previous_one(tmp_path: object) -> None:
    from kalshikit.config import Settings
    from tests.conftest import FAST

    settings = Settings.from_env(environ={"KALSHI_ENV": "sim"}, env_file=None, **FAST)
    first = Kit(settings)
    second = Kit(settings)
    try:
        first.start()
        assert first.running and first.sim is not None
        second.start()  # a re-run notebook cell: the first kit (and its simulator) must not keep trading
        assert second.running and not first.running
    finally:
        second.stop()
        first.stop()


# ---------------------------------------------------------------------------- issue 11: what a user sees
class BuyOnce:
    """A strategy that asks for one entry (10 YES up to $0.47) on its first cycle."""

    name = "buy-once"

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self.asked = False

    def decide(self, ctx: object) -> list[OrderIntent]:
        if self.asked:
            return []
        self.asked = True
        return [OrderIntent(self.ticker, "yes", 1000, 4700, reason="test entry")]


def assert_one_unit_per_column(name: str, frame: pd.DataFrame) -> None:
    """Integers only in ``*_ns`` columns (and counters); every time column tz-aware."""
    for col in frame.columns:
        dtype = frame[col].dtype
        if pd.api.types.is_integer_dtype(dtype):
            assert col.endswith("_ns") or col in ("ns", "attempt"), f"{name}.{col} holds raw integers ({dtype})"
        if pd.api.types.is_datetime64_any_dtype(dtype):
            assert isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC", f"{name}.{col}: {dtype}"


def test_every_table_has_dollars_contracts_and_timestamps(exchange: Simulator,
                                                          make_kit: Callable[..., Kit]) -> None:
    unpriced = "KXLIVE-26DEC31-T70"
    exchange.add_market(T, yes_bid=5000, yes_ask=5100, yes_bid_size=50_000, yes_ask_size=50_000)
    exchange.add_market(unpriced)  # no quote yet: its prices are NaN, not None
    kit = make_kit(default_protection=protection(stop=0.05), strategy=BuyOnce(unpriced))
    kit.start()
    open_position(exchange, kit)
    open_position(exchange, kit, unpriced, count=500, price=3000)
    positions = kit.positions().set_index("ticker")
    for col in ("entry", "yes_bid", "yes_ask", "mark", "unrealized", "stop", "take_profit", "distance"):
        assert positions[col].dtype == "float64", (col, positions[col].dtype)
    assert pd.isna(positions.loc[unpriced, "yes_bid"]) and positions.loc[unpriced, "count"] == 5.0
    assert positions.loc[T, "entry"] == pytest.approx(0.50) and positions.loc[T, "stop"] == pytest.approx(0.45)
    assert positions.loc[T, "opened"].tzinfo is not None

    eventually(lambda: len(kit.strategy_decisions()) == 1, what="the strategy's entry")
    eventually(lambda: T in kit.ws.metrics.subscriptions.get("ticker", []), what="ticker subscription")
    exchange.set_quote(T, 4400, 4500, 50_000, 50_000)
    eventually(lambda: len(kit.trades()) == 1, what="the stop's exit")
    decisions = kit.decisions()
    trigger = decisions[decisions["kind"] == "trigger"].iloc[0]
    assert trigger["mark"] == pytest.approx(0.44) and trigger["level"] == pytest.approx(0.45)
    assert trigger["ts"] == pd.Timestamp(int(trigger["now_ns"]), unit="ns", tz="UTC")
    entries = kit.entries().set_index("ticker")
    assert entries.loc[T, "count"] == 10.0 and entries.loc[T, "entry_price"] == pytest.approx(0.50)
    assert entries.loc[T, "entry_time"] == kit.trades().iloc[0]["opened"]  # a timestamp, exact to the ns
    asked = kit.strategy_decisions().iloc[0]
    assert (asked["count"], asked["limit"]) == (10.0, pytest.approx(0.47))
    assert asked["ts"] == pd.Timestamp(int(asked["ns"]), unit="ns", tz="UTC")
    trade = kit.trades().iloc[0]
    assert trade["exit_price"] == pytest.approx(0.44) and trade["closed"] > trade["opened"]
    prices = kit.prices()
    assert prices["yes_bid"].dtype == "float64" and prices.set_index("ticker").loc[T, "yes_bid"] == 0.44
    for name, frame in (("positions", kit.positions()), ("decisions", decisions), ("entries", kit.entries()),
                        ("strategy_decisions", kit.strategy_decisions()), ("trades", kit.trades()),
                        ("prices", prices)):
        assert_one_unit_per_column(name, frame)


def test_a_rule_that_cannot_be_armed_is_reported_and_the_others_protect(
    exchange: Simulator, make_kit: Callable[..., Kit]
) -> None:
    from kalshikit.live.ui_thread import status_line

    exchange.add_market(T, yes_bid=5000, yes_ask=5100, yes_bid_size=50_000, yes_ask_size=50_000)
    # A 60¢ stop cannot apply under a 50¢ entry; the trailing stop can; a take-profit above $1 is simply none.
    kit = make_kit(default_protection=protection(stop=0.60, trailing=0.05, take_profit=0.60))
    kit.start()
    open_position(exchange, kit)
    row = kit.positions().iloc[0]
    assert row["state"] == "armed" and "stop-loss" in row["rules_rejected"] and "below $0" in row["rules_rejected"]
    assert "take-profit" not in row["rules_rejected"] and pd.isna(row["take_profit"])
    assert "rules_rejected" in set(kit.decisions()["kind"])
    line = status_line(kit.snapshot())
    eventually(lambda: "RULES NOT ARMED" in status_line(kit.snapshot()), what="the status line to name it")
    line = status_line(kit.snapshot())
    assert f"RULES NOT ARMED: {T}: stop-loss" in line, line
    exchange.set_quote(T, 5600, 5700, 50_000, 50_000)
    eventually(lambda: kit.positions().iloc[0]["trailing_peak"] == pytest.approx(0.56), what="trailing ratchet")
    exchange.set_quote(T, 5100, 5200, 50_000, 50_000)  # 0.56 - 0.05: the trailing stop still protects it
    eventually(lambda: held(exchange) == 0, what="the trailing stop's exit")


def test_commands_after_stop_say_the_kit_is_not_running(exchange: Simulator, make_kit: Callable[..., Kit]) -> None:
    exchange.add_market(T, yes_bid=5000, yes_ask=5100)
    kit = make_kit()
    kit.start()
    open_position(exchange, kit)
    kit.stop()
    for command in (lambda: kit.protect(T, stop=0.1), lambda: kit.flatten(T), kit.pause,
                    lambda: kit.reconcile_now(wait=True)):
        with pytest.raises(RuntimeError, match=r"the kit is not running; call kit.start\(\) first"):
            command()
    assert len(kit.positions()) == 1  # the tables still read


def readme_notebook_code() -> str:
    """The first python block of the README's "In a notebook" section, as written there."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## In a notebook", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_notebook_section_works_as_written_on_the_simulator(tmp_path: Path) -> None:
    code = readme_notebook_code()
    assert "kit.protect(ticker" in code and "kit.reconcile_now(wait=True)" in code
    check = textwrap.dedent("""
        assert kit.sim is not None and not kit.running
        protects = kit.decisions().query("kind == 'protect'")
        assert list(protects["ticker"]) == [ticker], kit.decisions()
        try:
            kit.protect(ticker, stop=0.10)
        except RuntimeError as exc:
            assert "the kit is not running; call kit.start() first" in str(exc)
        else:
            raise AssertionError("protect() after stop() did not say the kit is not running")
        print("README notebook section: OK")
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KALSHI", "STOP_LOSS", "WEBSOCKET"))}
    env.update(KALSHIKIT_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-c", code + check], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=scaled(120))
    assert p.returncode == 0, p.stderr[-3000:]
    assert "README notebook section: OK" in p.stdout


def test_protect_right_after_adoption_reads_the_price_before_arming(exchange: Simulator,
                                                                   make_kit: Callable[..., Kit]) -> None:
    exchange.add_market(T, yes_bid=5000, yes_ask=5100, yes_bid_size=50_000, yes_ask_size=50_000)
    kit = make_kit()
    kit.start()
    open_position(exchange, kit)  # the WebSocket may not have brought its first price yet
    with pytest.raises(CrossedLevelError, match=r"stop-loss 0\.9500 is at or above the current price 0\.5000"):
        kit.protect(T, stop_price=0.95)  # a typo for 0.45 must not sell on the first quote
    kit.sync()
    assert held(exchange) == 1000 and kit.positions().iloc[0]["state"] == "unprotected"
