"""Data gathering for a cycle against a simulator playing a sports tape and the Odds API stub: matched odds ready
for the StrategyContext, caching between cycles, surviving the failure of either source, and the whole chain down
to an entry intent the risk manager allows."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pandas as pd
import pytest

from kalshikit.core.events import Quote
from kalshikit.core.fees import FeeSchedule, conservative_fees
from kalshikit.errors import ConfigError
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.recording.synthetic import synthetic_frames, synthetic_markets
from kalshikit.sim import Simulator
from kalshikit.sim.odds_stub import OddsApiStub, rest_provider
from kalshikit.strategy.base import StrategyContext
from kalshikit.strategy.data import DataGatherer, GatherConfig
from kalshikit.strategy.discovery import DiscoveryFilter
from kalshikit.strategy.edge import EdgeStrategy
from kalshikit.strategy.odds import OddsClient
from kalshikit.strategy.risk import RiskLimits, RiskManager
from tests.conftest import eventually

KEY = "data-test-key"
NS = 1_000_000_000
D = 1_000_000
C = 100


class Clock:
    def __init__(self) -> None:
        self.ns = time.time_ns()

    def __call__(self) -> int:
        return self.ns


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Simulator, KalshiRest, OddsApiStub, set[str]]]:
    start = time.time_ns() // NS * NS
    tickers = {m.ticker for m in synthetic_markets(6, 900, 11, start, sports=True)}

    def tape(n: int) -> Iterator:  # type: ignore[type-arg]
        return synthetic_frames(markets=6, duration_s=900, seed=11 + n, start_ns=start, sports=True)

    with Simulator(tape=tape, speed=1.0, loop=False) as sim:
        rest = KalshiRest(sim.rest_url, reads_per_second=1000)
        eventually(
            lambda: {m.ticker for m in rest.markets(status="open") if m.yes_bid and m.yes_ask} == tickers,
            what="quoted sports markets",
        )
        sim.pause_tape()  # prices hold still from here on
        with OddsApiStub(rest_provider(rest), api_key=KEY, noise=0.0, quota=10_000) as stub:
            yield sim, rest, stub, tickers


@pytest.fixture
def gatherer(world: tuple[Simulator, KalshiRest, OddsApiStub, set[str]]) -> tuple[DataGatherer, Clock]:
    _, rest, stub, _ = world
    clock = Clock()
    odds = OddsClient(KEY, stub.base_url, cache_ttl=60.0, slow_below=0)
    return DataGatherer(rest, odds, GatherConfig(), clock_ns=clock), clock


def test_refresh_gives_matched_odds_for_the_context(
    world: tuple[Simulator, KalshiRest, OddsApiStub, set[str]], gatherer: tuple[DataGatherer, Clock]
) -> None:
    _, _, _, tickers = world
    g, clock = gatherer
    data = g.refresh()
    assert data.errors == ()
    assert set(data.markets) == tickers
    assert set(data.matches) == tickers and set(data.odds) == tickers
    assert data.unmatched.empty and "reason" in data.unmatched.columns
    for t, c in data.odds.items():
        m = data.markets[t]
        assert m.yes_bid is not None and m.yes_ask is not None
        assert c.prob == pytest.approx((m.yes_bid + m.yes_ask) / 20_000, abs=0.006), t
        assert c.books == 5 and c.fetched_ns > 0
        assert data.matches[t].outcome in (c.home_team, c.away_team)
        q = data.quotes[t]
        assert (q.yes_bid, q.yes_ask, q.source) == (m.yes_bid, m.yes_ask, "rest")
        assert q.recv_ns == clock.ns
    assert g.last is data and g.refreshes == 1


def test_cheap_to_call_every_cycle(
    world: tuple[Simulator, KalshiRest, OddsApiStub, set[str]], gatherer: tuple[DataGatherer, Clock]
) -> None:
    _, rest, stub, _ = world
    g, clock = gatherer
    g.refresh()
    paid, reads = stub.paid_requests(), rest.metrics()["requests"]
    clock.ns += 5 * NS
    g.refresh()  # odds from the client's cache, universe and quotes still fresh: no request at all
    assert (stub.paid_requests(), rest.metrics()["requests"]) == (paid, reads)
    clock.ns += 15 * NS
    g.refresh()  # quotes are 20 s old: one listing of the matched tickers
    assert rest.metrics()["requests"] == reads + 1
    clock.ns += 300 * NS
    g.refresh()  # the universe is re-discovered (one series) and the quotes re-read
    assert rest.metrics()["requests"] == reads + 3
    assert stub.paid_requests() == paid  # the odds client's own clock decides its cache


def test_survives_either_source_failing(
    world: tuple[Simulator, KalshiRest, OddsApiStub, set[str]], gatherer: tuple[DataGatherer, Clock]
) -> None:
    _, _, stub, tickers = world
    g, clock = gatherer
    good = g.refresh()
    g.odds_client.clear_cache()
    stub.fail_next(500, times=2)  # both attempts of the odds request fail
    data = g.refresh()
    assert len(data.errors) == 1 and data.errors[0].startswith("odds basketball_nba: OddsTemporaryError")
    assert data.odds == good.odds  # the last good odds, with their old fetched_ns
    stub.requests.clear()
    # Kalshi unreachable: the last universe and quotes stay in use
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead_port = s.getsockname()[1]
    s.close()
    g.rest = KalshiRest(f"http://127.0.0.1:{dead_port}/trade-api/v2", read_attempts=1)
    clock.ns += 400 * NS
    data2 = g.refresh()
    assert [e.split(":")[0] for e in data2.errors] == ["discovery", "quotes"]
    assert set(data2.markets) == tickers and set(data2.odds) == tickers
    assert g.failures == 2


def test_from_edge_to_an_allowed_entry(world: tuple[Simulator, KalshiRest, OddsApiStub, set[str]]) -> None:
    sim, rest, stub, _ = world
    odds = OddsClient(KEY, stub.base_url)
    g = DataGatherer(rest, odds, GatherConfig(min_books=3))
    stub.set_shift("Boston Celtics", 0.15)  # the books now like Boston 15 points more than Kalshi does
    try:
        data = g.refresh()
    finally:
        stub.set_shift("Boston Celtics", 0)
    base = StrategyContext(now_ns=time.time_ns(), quotes={}, positions=(), balance=1_000 * D)
    ctx = DataGatherer.enrich(base, data)
    intents = EdgeStrategy(min_edge=300).decide(ctx)
    by_ticker = {i.ticker: i for i in intents}
    bos = next(t for t in data.markets if t.endswith("-BOS"))
    lal = next(t for t in data.markets if t.endswith("-LAL"))
    assert set(by_ticker) == {bos, lal}  # the same view, on both markets of the game
    assert by_ticker[bos].side == "yes" and by_ticker[lal].side == "no"
    q = data.quotes[bos]
    assert by_ticker[bos].limit_price == q.yes_ask
    assert by_ticker[lal].limit_price == 10_000 - data.quotes[lal].yes_bid  # type: ignore[operator]
    risk = RiskManager(RiskLimits.from_dollars(market=100, total=8, positions=5, daily_loss=100))
    verdicts = [risk.check(i, ctx) for i in intents]
    assert verdicts[0] is None  # the first fits; together they exceed the $8 total
    assert verdicts[1] is not None and "total exposure" in verdicts[1]
    assert sim.markets()  # the simulator is still up


def test_enrich_merges_quotes_and_marks_old_rest_quotes_stale(
    gatherer: tuple[DataGatherer, Clock], world: tuple[Simulator, KalshiRest, OddsApiStub, set[str]]
) -> None:
    g, clock = gatherer
    data = g.refresh()
    a, b = sorted(data.quotes)[:2]
    live = Quote(a, 1_000, 1_100, recv_ns=clock.ns)
    base = StrategyContext(now_ns=clock.ns + 90 * NS, quotes={a: live}, positions=(), balance=None)
    ctx = DataGatherer.enrich(base, data, stale_after_s=60)
    assert ctx.quotes[a] is live  # the live price wins
    assert ctx.quotes[b] == data.quotes[b]
    assert b in ctx.stale and a not in ctx.stale  # the REST quote is 90 s old
    assert ctx.odds == data.odds and set(ctx.markets) == set(data.markets)
    fresh = DataGatherer.enrich(base, data, stale_after_s=120)
    assert not fresh.stale


def test_config() -> None:
    assert GatherConfig().all_series() == ("KXNBAGAME",)
    assert GatherConfig(sports=("basketball_nba", "icehockey_nhl")).all_series() == ("KXNBAGAME", "KXNHLGAME")
    assert GatherConfig(series=("KXA",), filter=DiscoveryFilter(series=("KXB",))).all_series() == ("KXA", "KXB")
    assert GatherConfig(sports="basketball_nba").sports == ("basketball_nba",)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="sports is empty"):
        GatherConfig(sports=())
    with pytest.raises(ConfigError, match="must include 'h2h'"):
        GatherConfig(markets=("spreads",))
    with pytest.raises(ConfigError, match="method must be one of"):
        GatherConfig(method="logit")  # type: ignore[arg-type]


def test_overrides_and_the_unmatched_report(world: tuple[Simulator, KalshiRest, OddsApiStub, set[str]]) -> None:
    _, rest, stub, tickers = world
    odds = OddsClient(KEY, stub.base_url)
    # "skip" the Lakers: their market is reported, with the reason
    g = DataGatherer(rest, odds, GatherConfig(overrides={"Los Angeles Lakers": "skip"}))
    data = g.refresh()
    lal = next(t for t in tickers if t.endswith("-LAL"))
    assert lal not in data.odds and len(data.odds) == len(tickers) - 1
    rep: pd.DataFrame = data.unmatched
    assert set(rep.source) == {"sportsbook", "kalshi"}
    assert rep[rep.source == "kalshi"].ticker.tolist() == [lal]
    assert rep[rep.source == "sportsbook"].team.tolist() == ["Los Angeles Lakers"]


def test_the_context_carries_the_fee_schedule_of_each_markets_series(
    world: tuple[Simulator, KalshiRest, OddsApiStub, set[str]], gatherer: tuple[DataGatherer, Clock]
) -> None:
    sim, rest, _, tickers = world
    g, clock = gatherer
    half = FeeSchedule("quadratic_with_maker_fees", 500_000)
    sim.add_series("KXNBAGAME", "quadratic_with_maker_fees", 0.5)
    try:
        before = rest.metrics()["requests"]
        data = g.refresh()
        assert data.errors == ()
        assert data.fees == {t: half for t in tickers}
        reads = rest.metrics()["requests"] - before
        clock.ns += 20 * NS
        g.refresh()  # the series is not read again (one read per fees_ttl_s), only the quotes are
        assert rest.metrics()["requests"] - before == reads + 1
        base = StrategyContext(now_ns=clock.ns, quotes={}, positions=(), balance=1_000 * D)
        ctx = DataGatherer.enrich(base, data)
        assert ctx.fees == data.fees and ctx.fee_schedule(next(iter(tickers)), FeeSchedule()) == half
        decisions = EdgeStrategy(min_edge=0, min_books=1).evaluate(ctx)
        priced = [d for d in decisions if d.fee is not None and d.ask is not None]
        assert priced and all(d.fee == half.taker(d.ask, d.count or C) for d in priced)
    finally:
        sim.add_series("KXNBAGAME", "quadratic", 1)


def test_a_series_the_exchange_cannot_serve_is_reported_and_priced_conservatively(
    world: tuple[Simulator, KalshiRest, OddsApiStub, set[str]],
) -> None:
    sim, rest, stub, tickers = world
    g = DataGatherer(rest, OddsClient(KEY, stub.base_url), GatherConfig())
    sim.faults.rest_errors(500, 10, "/series/KXNBAGAME")
    try:
        data = g.refresh()
    finally:
        sim.faults.clear()
    assert [e for e in data.errors if "fees of series KXNBAGAME" in e] == [g.fees.problems["KXNBAGAME"]]
    assert "could not read it" in data.errors[0] and "quadratic_with_maker_fees x1" in data.errors[0]
    assert set(data.fees.values()) == {conservative_fees()}
    assert set(data.odds) == tickers  # the rest of the cycle is unaffected
