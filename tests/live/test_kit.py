"""The live engine against the simulator over 127.0.0.1: threads, adoption, protection, exits, subscriptions."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest

from kalshikit.core.rules import protection
from kalshikit.errors import RuleError
from kalshikit.live.kit import Kit
from kalshikit.sim import Simulator
from tests.conftest import eventually

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
