"""Parity: the live engine trades the simulator fed from a recording and records its session; replaying that
recording with the same rules and entries fires the same triggers on the same quotes."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from kalshikit.core.rules import protection
from kalshikit.live.demo import DemoTrader
from kalshikit.live.kit import Kit
from kalshikit.replay import parity
from kalshikit.replay.parity import compare
from kalshikit.sim import Simulator
from tests.conftest import ROOT, eventually, kit_settings

RULES = {"stop": 0.03, "take_profit": 0.05, "trailing": 0.03}


@pytest.mark.slow
def test_live_session_replays_to_the_same_triggers(tmp_path: Path) -> None:
    sim = Simulator(recordings=[str(ROOT / "recordings" / "sample")], speed=3.0, heartbeat_s=1.0)
    sim.start()
    rec = tmp_path / "session"
    kit = Kit(kit_settings(sim, reconcile_interval=0.5), journal_path=tmp_path / "j.sqlite",
              default_protection=protection(**RULES), record_dir=rec, simulator=sim)
    try:
        kit.start()
        trader = DemoTrader(kit, count=3, pause_s=0.0)

        def four_exits() -> bool:  # keep up to three positions open until four have exited
            held = {v.ticker for v in kit.monitor_thread.snapshot}
            if len(held) < 3 and trader.open_one(held, time.monotonic()):
                kit.reconcile_now()
            return len(kit.trades()) >= 4

        eventually(four_exits, timeout=60, interval=0.2, what="four exits in the live session")
    finally:
        kit.stop()
        sim.stop()
    decisions = kit.decisions()
    report = parity(decisions, rec, entries=kit.entries(), **RULES)
    table = report.table
    assert len(table) >= 4, table
    on_ws = table[table["live_quote_source"] != "rest"]
    assert len(on_ws) >= 3, "most triggers come from WebSocket quotes"
    assert report.ok, table.to_string()
    assert (on_ws["status"] == "same quote").all()
    assert (on_ws["live_mark"] == on_ws["replay_mark"]).all()


def test_compare_reports_each_kind_of_difference() -> None:
    live = pd.DataFrame([
        {"ticker": "A", "kind": "trigger", "trigger": "stop_loss", "now_ns": 10, "mark": 0.40, "level": 0.41,
         "quote_recv_ns": 10, "quote_source": "ws"},
        {"ticker": "B", "kind": "trigger", "trigger": "take_profit", "now_ns": 20, "mark": 0.60, "level": 0.60,
         "quote_recv_ns": 20, "quote_source": "ws"},
        {"ticker": "C", "kind": "trigger", "trigger": "stop_loss", "now_ns": 30, "mark": 0.30, "level": 0.31,
         "quote_recv_ns": 30, "quote_source": "rest"},
        {"ticker": "A", "kind": "protect", "trigger": "", "now_ns": 1, "mark": None, "level": None,
         "quote_recv_ns": 0, "quote_source": ""},
    ])
    replayed = pd.DataFrame([
        {"ticker": "A", "kind": "trigger", "trigger": "stop_loss", "ts": pd.Timestamp(10, tz="UTC"), "mark": 0.40,
         "level": 0.41, "quote_recv_ns": 10},
        {"ticker": "B", "kind": "trigger", "trigger": "take_profit", "ts": pd.Timestamp(25, tz="UTC"), "mark": 0.61,
         "level": 0.60, "quote_recv_ns": 25},
        {"ticker": "D", "kind": "trigger", "trigger": "trailing_stop", "ts": pd.Timestamp(40, tz="UTC"),
         "mark": 0.5, "level": 0.5, "quote_recv_ns": 40},
    ])
    t = compare(live, replayed).set_index("ticker")
    assert t.loc["A", "status"] == "same quote" and t.loc["A", "live_mark"] == pytest.approx(0.40)
    assert t.loc["B", "status"] == "different quote"
    assert t.loc["C", "status"] == "live on REST price"
    assert t.loc["D", "status"] == "replay only"
