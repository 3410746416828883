"""The strategy loop end to end on the simulator: sportsbook odds from the simulator's Odds API stub, discovery and
matching of its sports markets, the edge strategy, risk limits outside it, entries, and positions that come out
protected by the intent's rules."""

from __future__ import annotations

from pathlib import Path

from kalshikit.config import Settings
from kalshikit.live.kit import Kit
from kalshikit.strategy.data import GatherConfig
from kalshikit.strategy.edge import EdgeStrategy
from kalshikit.strategy.risk import RiskLimits
from kalshikit.units import MONEY_SCALE
from tests.conftest import FAST, eventually

SETTINGS = {**FAST, "strategy_loop_interval": 0.3, "websocket_silence_secs": 30}


def test_edge_strategy_trades_the_simulator_from_sportsbook_odds(tmp_path: Path) -> None:
    settings = Settings.from_env(environ={"KALSHI_ENV": "sim"}, env_file=None, **SETTINGS)
    kit = Kit(
        settings,
        journal_path=tmp_path / "j.sqlite",
        strategy=EdgeStrategy(min_edge=300, bankroll=1_000 * MONEY_SCALE, min_books=2),
        gather=GatherConfig(sports=("basketball_nba",), universe_ttl_s=1, quotes_ttl_s=0.5),
        risk=RiskLimits(max_open_positions=1),
    )
    try:
        kit.start()
        stub = kit.sim.odds
        assert stub is not None and kit.settings.odds_api_url == stub.base_url
        # Make the books much keener on one team than Kalshi is: an edge on that team's YES.
        eventually(lambda: kit.gatherer.last is not None and kit.gatherer.last.matches, timeout=20,
                   what="sportsbook events matched to the simulator's markets")
        match = next(iter(kit.gatherer.last.matches.values()))
        stub.set_shift(match.outcome, 0.25)
        eventually(lambda: len(kit.monitor_thread.snapshot) >= 1, timeout=30, what="an entry filled")
        view = kit.monitor_thread.snapshot[0]
        assert view.state == "armed" and "SL" in view.rules and "TP" in view.rules  # armed on the fill
        entries = [o for o in kit.sim.order_log() if "-en" in o.client_order_id]
        assert entries and all(o.body["time_in_force"] == "immediate_or_cancel" for o in entries)
        eventually(lambda: (kit.strategy_decisions()["action"] == "refused").any(), timeout=30,
                   what="a second entry refused by max_open_positions=1")
        refused = kit.strategy_decisions().query("action == 'refused'")
        assert refused["why"].str.contains("positions open").any(), refused
        status = kit.status()["strategy"]
        assert status["entries_sent"] >= 1 and status["entries_refused"] >= 1
    finally:
        kit.stop()
