"""The strategy loop end to end on the simulator: sportsbook odds from an Odds API stub, discovery and matching of
the simulator's game markets, the edge strategy, risk limits outside it, entries, and positions that come out
protected by the intent's rules.

The games are written out by hand on both sides (tests/fixed_games.py): the markets Kalshi lists and the games the
sportsbooks list come from the fixture, not from the matcher, so the match is checked against independent data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kalshikit.config import Settings
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.live.kit import Kit
from kalshikit.sim import Simulator
from kalshikit.sim.odds_stub import OddsApiStub
from kalshikit.strategy.data import GatherConfig
from kalshikit.strategy.edge import EdgeStrategy
from kalshikit.strategy.risk import RiskLimits
from kalshikit.units import MONEY_SCALE
from tests.conftest import FAST, eventually
from tests.fixed_games import LIVE_GAMES, fixed_provider, list_games

KEY = "strategy-loop-odds-key"
SETTINGS = {**FAST, "strategy_loop_interval": 0.3}
# (YES bid, YES ask) of each game's away team; the home market mirrors it (its YES bid = 1 - the away YES ask).
AWAY_QUOTES = {"LAL": (4_000, 4_200), "GSW": (5_500, 5_700), "NYK": (3_000, 3_200)}
BOSTON = "KXNBAGAME-30JAN151930LALBOS-BOS"
LAKERS = "KXNBAGAME-30JAN151930LALBOS-LAL"


@pytest.fixture
def odds(exchange: Simulator) -> Iterator[OddsApiStub]:
    list_games(exchange, LIVE_GAMES)
    for g in LIVE_GAMES:
        (away, _), (home, _) = g.markets()
        bid, ask = AWAY_QUOTES[g.away.code]
        exchange.set_quote(away, bid, ask, 100_000, 100_000)
        exchange.set_quote(home, 10_000 - ask, 10_000 - bid, 100_000, 100_000)
    rest = KalshiRest(exchange.rest_url, reads_per_second=1000)
    with OddsApiStub(fixed_provider(rest, LIVE_GAMES), api_key=KEY, noise=0.0) as stub:
        # The books are much keener on Boston than Kalshi is (set before the first request: the kit keeps an odds
        # answer for a minute): an edge on Boston YES, and on Lakers NO.
        stub.set_shift("Boston Celtics", 0.25)
        yield stub
    rest.close()


def test_edge_strategy_trades_the_simulator_from_sportsbook_odds(
    exchange: Simulator, odds: OddsApiStub, make_kit: Callable[..., Kit]
) -> None:
    env = {**exchange.kit_env(), "ODDS_API_KEY": KEY, "ODDS_API_URL": odds.base_url}
    kit = make_kit(
        settings=Settings.from_env(environ=env, env_file=None, **SETTINGS),
        strategy=EdgeStrategy(min_edge=300, bankroll=1_000 * MONEY_SCALE, min_books=2),
        gather=GatherConfig(sports=("basketball_nba",), universe_ttl_s=1, quotes_ttl_s=0.5),
        risk=RiskLimits(max_open_positions=1),
    )
    kit.start()

    # Every market matched to its own team and game, as the fixture (not the matcher) says.
    expected = {t: (team.book, g) for g in LIVE_GAMES for t, team in g.markets()}
    last: Callable[[], Any] = lambda: kit.gatherer.last  # noqa: E731
    eventually(lambda: last() is not None and set(last().matches) == set(expected), timeout=30,
               what="every market matched to the sportsbooks' games")
    for ticker, match in last().matches.items():
        team, g = expected[ticker]
        assert (match.outcome, match.home_team, match.away_team) == (team, g.home.book, g.away.book), ticker
        assert match.commence_ns == g.commence_ns, ticker

    eventually(lambda: len(kit.monitor_thread.snapshot) >= 1, timeout=30, what="an entry filled")
    view = kit.monitor_thread.snapshot[0]
    assert (view.ticker, view.side) == (BOSTON, "yes")  # the only market the books priced away from Kalshi
    assert view.state == "armed" and "SL" in view.rules and "TP" in view.rules  # armed on the fill
    entries = [o for o in exchange.order_log() if "-en" in o.client_order_id]
    assert entries and all(o.body["time_in_force"] == "immediate_or_cancel" for o in entries)
    eventually(lambda: (kit.strategy_decisions()["action"] == "refused").any(), timeout=30,
               what="a second entry refused by max_open_positions=1")
    refused = kit.strategy_decisions().query("action == 'refused'")
    assert refused["why"].str.contains("positions open").any(), refused
    assert set(zip(refused["ticker"], refused["side"], strict=True)) <= {(LAKERS, "no"), (BOSTON, "yes")}

    # The counters are the strategy thread's: wait for them, not for something else; then compare them with its
    # decisions once the thread has stopped (a consistent reading).
    eventually(lambda: kit.status()["strategy"]["entries_sent"] >= 1 and kit.status()["strategy"]["entries_refused"]
               >= 1, what="the strategy's counters")
    kit.stop()
    status, decisions = kit.status()["strategy"], kit.strategy_decisions()
    assert status["entries_sent"] == (decisions["action"] == "sent").sum() >= 1
    assert status["entries_refused"] == (decisions["action"] == "refused").sum() >= 1
    opened = {c.position_id for c in kit.monitor_thread.closed} | {v.position_id for v in kit.monitor_thread.snapshot}
    assert len(opened) <= status["entries_sent"]
