"""Strategy replay: the edge strategy over a generated NBA tape with odds recorded from the Odds API stub (over
127.0.0.1, with the recording hook), entries where the consensus gives an edge, refusals by the risk limits, exits by
the monitor, resting GTC entries, determinism; and a replay of a live Kit session on the simulator that enters the
same markets on the same side as the session did.

The stub's games (team names, home and away, start times) come from tests/fixed_games.py, written independently of
the matcher and of the generator's team table: the recorded odds do not agree with the matcher by construction.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kalshikit.config import Settings
from kalshikit.core.events import Quote
from kalshikit.core.fees import STANDARD_FEES
from kalshikit.core.rules import protection
from kalshikit.kalshi.messages import FrameDecoder
from kalshikit.kalshi.models import Market
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.live.kit import Kit
from kalshikit.recording.reader import read_frames
from kalshikit.recording.synthetic import (
    DEFAULT_START_NS,
    SyntheticGameMarket,
    synthetic_markets,
    write_synthetic_recording,
)
from kalshikit.replay.capture import MarketCapture
from kalshikit.replay.strategy_replay import StrategyReplayResult, replay_strategy
from kalshikit.sim import Simulator
from kalshikit.sim.odds_stub import OddsApiStub
from kalshikit.strategy.base import OrderIntent, StrategyContext
from kalshikit.strategy.data import GatherConfig, match_consensus
from kalshikit.strategy.edge import EdgeStrategy
from kalshikit.strategy.odds import OddsClient
from kalshikit.strategy.odds_recording import OddsRecorder, read_odds
from kalshikit.strategy.risk import RiskLimits
from kalshikit.units import COUNT_SCALE, MONEY_SCALE, NS_PER_S, PRICE_SCALE
from tests.conftest import eventually, scaled
from tests.fixed_games import TAPE_GAMES, stub_rows, synthetic_session_provider

KEY = "replay-odds-key-0123456789"  # the stub's key for the generated odds
SEED = 5
MARKETS = 8
DURATION_S = 600
ONE = PRICE_SCALE
MIN_EDGE = 1_500  # 15 cents: only the game whose books we shift can offer that much
SHIFT = ("Boston Celtics", 0.30)
GATHER = GatherConfig(sports=("basketball_nba",))
BANKROLL = 1_000 * MONEY_SCALE


def edge_strategy(**kw: Any) -> EdgeStrategy:
    kw.setdefault("protection", protection(stop=0.05, take_profit=0.05))
    return EdgeStrategy(min_edge=MIN_EDGE, **kw)


# ============================================================================ a generated tape with recorded odds
@dataclass
class Tape:
    paths: list[Path]
    markets: list[SyntheticGameMarket]
    quotes: dict[str, list[Quote]]  # per ticker, in receive order
    odds_shifted: list[Path]
    odds_fair: list[Path]

    def quote_at(self, ticker: str, ns: int) -> Quote | None:
        last = None
        for q in self.quotes.get(ticker, ()):
            if q.recv_ns > ns:
                break
            last = q
        return last

    def ticker_of(self, team_full: str) -> str:
        return next(t for g in TAPE_GAMES for t, team in g.markets() if team.book == team_full)

    def opponent_of(self, team_full: str) -> str:
        for g in TAPE_GAMES:
            (away, away_team), (home, home_team) = g.markets()
            if team_full in (away_team.book, home_team.book):
                return home if away_team.book == team_full else away
        raise KeyError(team_full)


def _record_odds(tape: Tape, out: Path, shift: tuple[str, float] | None, every_s: int = 10) -> list[Path]:
    """Ask the stub for odds every ``every_s`` of tape time, its provider pricing each game of the fixture at the
    tape's mids then; the client's clock is the tape's, so each answer is recorded at that tape time."""
    now = {"ns": DEFAULT_START_NS}

    def mid(ticker: str) -> float | None:
        q = tape.quote_at(ticker, now["ns"])
        if q is None or q.yes_bid is None or q.yes_ask is None:
            return None
        return (q.yes_bid + q.yes_ask) / (2 * ONE)

    with OddsApiStub(lambda: stub_rows(TAPE_GAMES, mid), api_key=KEY, noise=0.01, seed=9) as stub:
        if shift is not None:
            stub.set_shift(*shift)
        with OddsRecorder(out, env="synthetic", flush_interval=None) as recorder:
            client = OddsClient(KEY, stub.base_url, cache_ttl=0.0, slow_below=0, wall_ns=lambda: now["ns"],
                                record=recorder)
            for t in range(5, DURATION_S, every_s):
                now["ns"] = DEFAULT_START_NS + t * NS_PER_S
                client.odds("basketball_nba")
    return recorder.paths


@pytest.fixture(scope="module")
def tape(tmp_path_factory: pytest.TempPathFactory) -> Tape:
    root = tmp_path_factory.mktemp("sports")
    paths = write_synthetic_recording(root / "tape", markets=MARKETS, duration_s=DURATION_S, seed=SEED, sports=True)
    markets = [m for m in synthetic_markets(MARKETS, DURATION_S, SEED, DEFAULT_START_NS, sports=True)
               if isinstance(m, SyntheticGameMarket)]
    listed = {(t, g.title, team.kalshi) for g in TAPE_GAMES for t, team in g.markets()}
    assert {(m.ticker, m.title, m.yes_sub_title) for m in markets} == listed, "the fixture lists the tape's games"
    quotes: dict[str, list[Quote]] = {}
    decode = FrameDecoder().decode
    for f in read_frames(paths):
        msg = decode(f.raw, f.recv_ns)
        if type(msg) is Quote:
            quotes.setdefault(msg.ticker, []).append(msg)
    t = Tape(paths, markets, quotes, [], [])
    t.odds_shifted = _record_odds(t, root / "odds-shifted", SHIFT)
    t.odds_fair = _record_odds(t, root / "odds-fair", None)
    return t


def run(tape: Tape, strategy: Any = None, odds: list[Path] | None = None, **kw: Any) -> StrategyReplayResult:
    kw.setdefault("gather", GATHER)
    kw.setdefault("risk", RiskLimits(max_open_positions=1))
    kw.setdefault("interval_s", 30.0)
    kw.setdefault("bankroll", BANKROLL)
    return replay_strategy(tape.paths, strategy or edge_strategy(), odds=tape.odds_shifted if odds is None else odds,
                           **kw)


# ============================================================================ tests on the generated tape
def test_entries_are_made_where_the_recorded_consensus_gives_an_edge(tape: Tape) -> None:
    result = run(tape)
    sent = result.entries.query("action == 'sent'")
    assert len(sent) >= 1 and result.stats["read_problems"] == []
    boston, lakers = tape.ticker_of(SHIFT[0]), tape.opponent_of(SHIFT[0])
    # The books like Boston 30 points more than Kalshi does: buy Boston YES (its ticker sorts first), or Lakers NO.
    assert set(zip(sent["ticker"], sent["side"], strict=True)) <= {(boston, "yes"), (lakers, "no")}
    assert sent.iloc[0]["ticker"] == boston and sent.iloc[0]["side"] == "yes"

    # Check every entry from the raw data: the consensus of the odds answer received last before the cycle, the
    # tape's quote then, and the fee must give at least MIN_EDGE; and the game has not started.
    snaps = read_odds(tape.odds_shifted)
    universe = [Market(m.ticker, m.event_ticker, m.title, yes_sub_title=m.yes_sub_title, status="active",
                       close_ns=m.close_ns) for m in tape.markets]
    for row in sent.itertuples():
        asof = [s for s in snaps if s.recv_ns <= row.ns][-1]
        _, odds = match_consensus(asof.events(), universe, GATHER)
        q = tape.quote_at(row.ticker, row.ns)
        assert q is not None and q.yes_ask is not None and q.yes_bid is not None
        ask = q.yes_ask if row.side == "yes" else ONE - q.yes_bid
        fair = odds[row.ticker].prob if row.side == "yes" else 1 - odds[row.ticker].prob
        fee = STANDARD_FEES.taker(ask, COUNT_SCALE) / COUNT_SCALE
        assert round(row.limit * ONE) == ask
        assert fair * ONE - ask - fee >= MIN_EDGE, row
        assert row.ns < tape.markets[0].commence_ns

    # The same tape with odds that agree with Kalshi: the consensus is there every cycle, the edge is not.
    fair = run(tape, odds=tape.odds_fair)
    assert fair.cycles["matched"].max() == MARKETS
    assert fair.entries.empty and fair.trades.empty
    # Without odds the strategy has nothing to go on.
    none = run(tape, odds=[])
    assert none.cycles["matched"].max() == 0 and none.entries.empty


def test_the_risk_limits_refuse_outside_the_strategy(tape: Tape) -> None:
    result = run(tape)
    lakers = tape.opponent_of(SHIFT[0])
    refused = result.entries.query("action == 'refused'")
    # Both sides of the shifted game have the edge; one position at a time lets only the first through.
    assert len(refused) >= 1 and refused["why"].str.contains("positions open").all()
    assert (refused["ticker"] == lakers).any()
    assert lakers not in set(result.trades["ticker"]) and lakers not in set(result.open_positions.get("ticker", []))
    assert (refused["filled"] == 0).all() and (refused["status"] == "refused").all()

    tight = run(tape, risk=RiskLimits(max_order_cost=1 * MONEY_SCALE))  # an order of 10 contracts costs ~$5
    assert len(tight.entries) >= 1 and (tight.entries["action"] == "refused").all()
    assert tight.entries["why"].str.contains("max_order_cost").all()
    assert tight.trades.empty and tight.stats["final_balance"] == BANKROLL / MONEY_SCALE


def test_positions_open_protected_and_exit_through_the_monitor(tape: Tape) -> None:
    result = run(tape)
    filled = result.entries.query("filled > 0")
    assert len(filled) >= 1 and len(result.trades) == filled["position_id"].nunique()
    for row in filled.itertuples():
        assert row.fill_price <= row.limit and row.position_id
    rule_exits = result.trades[result.trades["exit_reason"].isin(["stop_loss", "take_profit"])]
    assert len(rule_exits) >= 1
    triggers = result.decisions.query("kind == 'trigger'")
    for t in result.trades.itertuples():
        entry = filled[filled["position_id"] == t.position_id].iloc[0]
        assert t.entry_ts == entry["ts"]  # opened by the entry fill, at the cycle
        if t.exit_reason == "stop_loss":
            assert t.trigger_price <= round(t.entry_price - 0.05, 4)
        elif t.exit_reason == "take_profit":
            assert t.trigger_price >= round(t.entry_price + 0.05, 4)
        else:
            assert t.exit_reason == "settlement"
        if t.exit_reason != "settlement":  # the monitor decided it, on a quote, and sent the exit order
            assert ((triggers["position_id"] == t.position_id) & (triggers["trigger"] == t.exit_reason)).any()
            g = result.gaps
            assert ((g["ticker"] == t.ticker) & (g["trigger"] == t.exit_reason) & (g["decided_ts"] == t.trigger_ts)
                    & (g["filled"] > 0)).any()
    # Cash: bankroll + net P&L of the closed trades + what the open positions are carried at.
    carried = 0.0
    for p in result.open_positions.itertuples():
        carried += p.realized - p.fees - p.count * p.entry_price
    assert result.stats["final_balance"] == pytest.approx(BANKROLL / MONEY_SCALE + result.trades["pnl"].sum()
                                                          + carried, abs=1e-6)
    # The balance a cycle shows is what the strategy sized with: it falls by the cost of what is held.
    held = result.cycles[result.cycles["positions"] > 0]
    assert (held["balance"] < BANKROLL / MONEY_SCALE).all()


@pytest.mark.parametrize("latency_ms", [0, 2_000])
def test_an_ioc_entry_fills_against_the_quote_prevailing_when_it_arrives(tape: Tape, latency_ms: int) -> None:
    result = run(tape, latency_ms=latency_ms)
    sent = result.entries.query("action == 'sent'")
    assert len(sent) >= 1
    for row in sent.itertuples():
        q = tape.quote_at(row.ticker, row.ns + latency_ms * 1_000_000)
        assert q is not None and q.yes_ask is not None and q.yes_bid is not None
        ask, size = (q.yes_ask, q.yes_ask_size) if row.side == "yes" else (ONE - q.yes_bid, q.yes_bid_size)
        if ask <= round(row.limit * ONE):  # one price level shown: all of it at that price, up to its size
            assert round(row.fill_price * ONE) == ask
            assert round(row.filled * COUNT_SCALE) == min(round(row.count * COUNT_SCALE), size)
            assert row.fees == STANDARD_FEES.taker(ask if row.side == "yes" else ONE - ask,
                                                   round(row.filled * COUNT_SCALE)) / MONEY_SCALE
        else:  # the price ran away before the order got there: nothing, and no position
            assert row.filled == 0 and row.status == "unfilled" and not row.position_id


def test_decisions_are_deterministic(tape: Tape) -> None:
    a, b = run(tape), run(tape)
    pd.testing.assert_frame_equal(a.entries, b.entries)
    pd.testing.assert_frame_equal(a.trades, b.trades)
    pd.testing.assert_frame_equal(a.decisions, b.decisions)
    pd.testing.assert_frame_equal(a.cycles, b.cycles)
    assert a.summary == b.summary
    c = run(tape, interval_s=45.0)  # another cadence is another replay: the cycles fall elsewhere
    assert list(c.cycles["ns"]) != list(a.cycles["ns"])
    # Another process with another string-hash seed (set iteration order) decides exactly the same.
    script = (
        "import sys\n"
        "from kalshikit.core.rules import protection\n"
        "from kalshikit.replay.strategy_replay import replay_strategy\n"
        "from kalshikit.strategy import EdgeStrategy, GatherConfig, RiskLimits\n"
        f"r = replay_strategy({[str(p) for p in tape.paths]!r}, EdgeStrategy(min_edge={MIN_EDGE}, "
        "protection=protection(stop=0.05, take_profit=0.05)), "
        f"odds={[str(p) for p in tape.odds_shifted]!r}, gather=GatherConfig(sports=('basketball_nba',)), "
        f"risk=RiskLimits(max_open_positions=1), interval_s=30.0, bankroll={BANKROLL})\n"
        "sys.stdout.write(r.entries.to_csv(index=False) + r.trades.to_csv(index=False))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True,
                           cwd=Path(__file__).resolve().parents[2], timeout=scaled(120))
    assert other.stdout == a.entries.to_csv(index=False) + a.trades.to_csv(index=False)


class RestingBid:
    """Once: a GTC bid ``below`` under the YES ask of ``ticker``, resting ``rest_s`` seconds."""

    name = "resting-bid"

    def __init__(self, ticker: str, below: int, rest_s: float) -> None:
        self.ticker, self.below, self.rest_s = ticker, below, rest_s
        self.done = False

    def decide(self, ctx: StrategyContext) -> list[OrderIntent]:
        q = ctx.quotes.get(self.ticker)
        if self.done or q is None or q.yes_ask is None:
            return []
        self.done = True
        return [OrderIntent(self.ticker, "yes", 500, q.yes_ask - self.below, time_in_force="good_till_canceled",
                            rest_seconds=self.rest_s, protection=protection(stop=0.05))]


@pytest.mark.parametrize("below", [100, 300, 2_000])
def test_a_resting_entry_fills_at_its_limit_when_later_quotes_reach_it(tape: Tape, below: int) -> None:
    ticker = tape.markets[2].ticker
    result = run(tape, RestingBid(ticker, below, 60.0), odds=[], gather=None, risk=RiskLimits(), interval_s=10.0)
    row = result.entries.iloc[0]
    limit = round(row["limit"] * ONE)
    decided = int(row["ns"])
    # What the tape offered while the bid rested: quotes after the decision, within rest_seconds, asking <= limit.
    reached = [q for q in tape.quotes[ticker]
               if decided < q.recv_ns <= decided + 60 * NS_PER_S and q.yes_ask is not None and q.yes_ask <= limit]
    if not reached:
        assert row["status"] == "unfilled" and row["filled"] == 0
        assert result.trades.empty and result.open_positions.empty
        return
    assert row["filled"] > 0 and row["fill_price"] == row["limit"] and row["fees"] == 0.0  # maker fee: 0 here
    opened = list(result.trades["entry_ts"])
    opened += list(result.open_positions["entry_ts"]) if len(result.open_positions) else []
    assert min(opened) == pd.Timestamp(reached[0].recv_ns, unit="ns", tz="UTC")  # at the first quote reaching it
    assert row["status"] in ("filled", "partial")


# ============================================================================ a live Kit session, then its replay
LIVE_SETTINGS = {
    "strategy_loop_interval": 1.0,
    "stop_loss_check_interval": 0.2,
    "reconcile_interval": 0.5,
    "ui_update_interval": 0.2,
    "websocket_reconnect_delay": 0.1,
    "websocket_max_reconnect_delay": 0.4,
    "http_timeout": 2.0,
    "reads_per_second": 500,
    "writes_per_second": 500,
}


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Callable[[], tuple[Kit, MarketCapture]]]:
    sim = Simulator(synthetic={"sports": True, "markets": MARKETS}, odds=True, tape_waits_for_subscriber=True,
                    heartbeat_s=1.0).start()
    rest = KalshiRest(sim.rest_url, reads_per_second=1000)
    sim.odds.provider = synthetic_session_provider(rest)  # the fixture's teams, not the matcher's reading of titles
    started: list[Any] = []

    def start() -> tuple[Kit, MarketCapture]:
        sim.odds.set_shift(*SHIFT)  # before the first odds request: the kit's odds cache keeps an answer 60 s
        capture = MarketCapture.on_simulator(sim, tmp_path / "market").start()  # first subscriber: the tape starts
        started.append(capture)
        eventually(lambda: len([m for m in rest.markets(status="open") if m.yes_bid and m.yes_ask]) == MARKETS,
                   timeout=20, what="every market of the tape quoted")
        settings = Settings.from_env(environ={"KALSHI_ENV": "sim"}, env_file=None, **LIVE_SETTINGS)
        kit = Kit(settings, simulator=sim, journal_path=tmp_path / "journal.sqlite", record_dir=tmp_path / "kit",
                  strategy=edge_strategy(), gather=GatherConfig(sports=("basketball_nba",), quotes_ttl_s=0),
                  risk=RiskLimits(max_open_positions=1))
        started.append(kit)
        return kit.start(), capture

    yield start
    for thing in reversed(started):
        thing.stop()
    sim.stop()
    rest.close()


def test_a_replay_of_a_live_session_enters_the_same_markets_on_the_same_side(
    session: Callable[[], tuple[Kit, MarketCapture]], tmp_path: Path
) -> None:
    kit, capture = session()
    boston = next(t for t in kit.sim.exchange.markets if t.endswith("-BOS"))
    eventually(lambda: (kit.strategy_decisions()["action"] == "sent").any(), timeout=30, what="a live entry")
    eventually(lambda: (kit.strategy_decisions()["action"] == "refused").any(), timeout=30, what="a live refusal")
    eventually(lambda: kit.strategy_thread is not None and kit.strategy_thread.cycles >= 6, timeout=30,
               what="a few cycles")
    kit.stop()
    capture.stop()
    live = kit.strategy_decisions()
    odds_paths = sorted((tmp_path / "kit").glob("odds-*.jsonl.gz"))  # written by the kit, beside its recording
    snaps = read_odds(tmp_path / "kit")
    assert odds_paths and snaps and all(s.endpoint == "odds" for s in snaps)
    assert kit.sim.odds.api_key not in b"".join(gzip.decompress(p.read_bytes()) for p in odds_paths).decode()

    result = replay_strategy(tmp_path / "market", edge_strategy(), odds=tmp_path / "kit",
                             gather=GatherConfig(sports=("basketball_nba",), quotes_ttl_s=0),
                             risk=RiskLimits(max_open_positions=1), interval_s=1.0, bankroll=10_000 * MONEY_SCALE)
    assert result.stats["markets_without_metadata"] == 0 and result.stats["read_problems"] == []
    replayed = result.entries

    def pairs(frame: pd.DataFrame, action: str) -> set[tuple[str, str]]:
        rows = frame[frame["action"] == action]
        return set(zip(rows["ticker"], rows["side"], strict=True))

    # What we assert, and why. Live cycles start when the Kit starts; replay cycles start at the first frame of the
    # market capture, so the two cadences are out of phase by up to one interval, and an answer of the Odds API
    # received during a live cycle is used by the replay only from its next cycle (no look-ahead). The edge we made
    # (books 30 points keener on Boston than Kalshi) lasts the whole session, so every (market, side) the session
    # entered or refused, the replay enters or refuses too, and its first entry in a market comes no earlier than
    # the first recorded odds and no later than one interval (+ slack) after the session's.
    assert pairs(live, "sent") and pairs(live, "sent") <= pairs(replayed, "sent")
    assert pairs(live, "refused") <= pairs(replayed, "refused")
    assert (boston, "yes") in pairs(live, "sent")
    for ticker, side in pairs(live, "sent"):
        first_live = live[(live["ticker"] == ticker) & (live["side"] == side) & (live["action"] == "sent")]["ns"].min()
        mine = replayed[(replayed["ticker"] == ticker) & (replayed["side"] == side) & (replayed["action"] == "sent")]
        first = int(mine["ns"].min())
        assert snaps[0].recv_ns <= first <= first_live + int(1.5 * NS_PER_S)
    # Sides never disagree: no market the session bought one side of is bought on the other side in the replay.
    for ticker, side in pairs(replayed, "sent"):
        assert (ticker, "no" if side == "yes" else "yes") not in pairs(live, "sent")
