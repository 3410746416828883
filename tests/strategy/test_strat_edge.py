"""The edge strategy: fee-inclusive edge, fractional Kelly sizing and its caps, YES vs NO, protection, skip reasons.
Expected numbers are worked out by hand in each test."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import pytest

from kalshikit.core.events import Quote
from kalshikit.core.fees import FeeSchedule
from kalshikit.core.rules import protection
from kalshikit.errors import ConfigError
from kalshikit.kalshi.models import Market
from kalshikit.strategy.base import StrategyContext
from kalshikit.strategy.devig import Consensus
from kalshikit.strategy.edge import EdgeStrategy, default_protection, fit_protection

NS = 1_000_000_000
NOW = 1_790_000_000 * NS
D = 1_000_000  # one dollar in micro-dollars
C = 100  # one contract in count units
TK = "KXNBAGAME-26SEP221900LALBOS-LAL"


def big(**kw: object) -> EdgeStrategy:
    """A strategy whose size caps are out of the way (the defaults cap at 10 contracts and $50 a market)."""
    base: dict[str, object] = {"max_contracts": 1_000 * C, "max_cost_per_market": 1_000 * D}
    base.update(kw)
    return EdgeStrategy(**base)  # type: ignore[arg-type]


def consensus(prob: float, books: int = 5, dispersion: float = 0.01, fetched: int = NOW - 10 * NS) -> Consensus:
    return Consensus(
        outcome="Los Angeles Lakers",
        prob=prob,
        books=books,
        dispersion=dispersion,
        low=prob - 0.01,
        high=prob + 0.01,
        commence_ns=NOW + 3600 * NS,
        fetched_ns=fetched,
    )


def ctx(
    odds: object,
    bid: int | None = 4800,
    ask: int | None = 5000,
    *,
    bid_size: int | None = None,
    ask_size: int | None = None,
    balance: int | None = 1_000 * D,
    positions: tuple[object, ...] = (),
    status: str = "active",
    stale: frozenset[str] = frozenset(),
    via_market: bool = False,
) -> StrategyContext:
    market = Market(ticker=TK, event_ticker=TK.rsplit("-", 1)[0], status=status)
    quotes = {}
    if via_market:
        market = Market(ticker=TK, event_ticker="E", status=status, yes_bid=bid, yes_ask=ask, yes_bid_size=bid_size,
                        yes_ask_size=ask_size)  # fmt: skip
    else:
        quotes = {TK: Quote(TK, bid, ask, bid_size, ask_size, recv_ns=NOW)}
    return StrategyContext(
        now_ns=NOW,
        quotes=quotes,
        positions=positions,
        balance=balance,
        markets={TK: market},
        odds={TK: odds},
        stale=stale,
    )


def test_the_edge_includes_the_taker_fee() -> None:
    # YES ask $0.50, fair 0.53: 3 cents before fees, but the fee on one contract is 0.07 x 0.5 x 0.5 = $0.0175.
    c = ctx(consensus(0.53))
    [d] = EdgeStrategy(min_edge=200).evaluate(c)
    assert d.action == "skip" and d.side == "yes"
    assert d.fee == 17_500  # micro-dollars
    assert d.edge == 125  # 5300 - 5000 - 175 = 125 ($0.0125)
    assert "fee 0.0175" in d.reason and "< min edge 0.0200" in d.reason
    [buy] = EdgeStrategy(min_edge=100).evaluate(c)
    assert buy.action == "buy" and buy.intent is not None and buy.intent.limit_price == 5000


def test_fractional_kelly_size() -> None:
    # p = 0.6, YES ask 0.50, fee 0.0175: cost c = 0.5175, Kelly (p - c) / (1 - c) = 0.0825 / 0.4825;
    # a quarter of it on $1000 is $42.75, i.e. 42.746 / 0.5175 = 82.6 contracts -> 82 whole contracts.
    kelly = (0.6 - 0.5175) / (1 - 0.5175)
    contracts = math.floor(0.25 * kelly * 1000 / 0.5175)
    assert contracts == 82
    [d] = big(min_edge=200).evaluate(ctx(consensus(0.6)))
    assert d.action == "buy" and d.count == contracts * C
    assert d.fee == 1_435_000  # 0.07 x 82 x 0.25 = $1.435 exactly
    assert d.edge == 825  # (6000 - 5000) - 1.435 / 82 dollars -> 0.1000 - 0.0175 = 0.0825
    it = d.intent
    assert it is not None
    assert (it.ticker, it.side, it.count, it.limit_price) == (TK, "yes", 8_200, 5_000)
    assert it.time_in_force == "immediate_or_cancel"
    assert "buy 82 YES @ 0.5000" in it.reason and "Kelly 17.1%" in it.reason and "capped by kelly" in it.reason
    # fractional contracts when allowed: floor(42.746 / 0.5175 x 100) = 8260 hundredths
    [frac] = big(whole_contracts=False).evaluate(ctx(consensus(0.6)))
    assert frac.count == math.floor(0.25 * kelly * 1000 * D / 5175)
    # a bankroll of the strategy's own when the context has no balance
    [own] = big(bankroll=500 * D).evaluate(ctx(consensus(0.6), balance=None))
    assert own.count == math.floor(0.25 * kelly * 500 / 0.5175) * C


@pytest.mark.parametrize(
    ("strategy", "kw", "contracts", "capped"),
    [
        (EdgeStrategy(), {}, 10, "max_contracts"),  # the default cap: 10 contracts
        (big(max_contracts=10 * C), {}, 10, "max_contracts"),
        (big(max_cost_per_market=20 * D), {}, 38, "max_cost_per_market"),  # floor(20 / 0.5175) = 38
        (big(), {"ask_size": 15 * C}, 15, "size at the ask"),
        (big(kelly_fraction=0.5), {}, 165, "kelly"),  # floor(2 x 42.746 / 0.5175) = 165
    ],
)
def test_size_caps(strategy: EdgeStrategy, kw: dict[str, int], contracts: int, capped: str) -> None:
    [d] = strategy.evaluate(ctx(consensus(0.6), **kw))  # type: ignore[arg-type]
    assert d.count == contracts * C
    assert f"capped by {capped}" in d.reason


def test_held_positions() -> None:
    held = (SimpleNamespace(ticker=TK, count=20 * C, entry_price=5_000),)  # $10 already in this market
    [d] = EdgeStrategy().evaluate(ctx(consensus(0.6), positions=held))
    assert d.action == "skip" and "already held" in d.reason
    [d2] = big(allow_add=True, max_cost_per_market=20 * D).evaluate(ctx(consensus(0.6), positions=held))
    assert d2.count == math.floor(10 / 0.5175) * C  # $10 of room left: 19 contracts
    other = (SimpleNamespace(ticker="OTHER", count=20 * C, entry_price=5_000),)
    [d3] = EdgeStrategy().evaluate(ctx(consensus(0.6), positions=other))
    assert d3.action == "buy"


def test_buys_no_when_yes_is_overpriced() -> None:
    # The books say YES 0.40; Kalshi bids YES at 0.50, so NO can be bought at 1 - 0.50 = 0.50 for a fair 0.60.
    [d] = big().evaluate(ctx(consensus(0.40), bid=5_000, ask=5_200))
    assert d.side == "no" and d.action == "buy"
    assert d.intent is not None and d.intent.side == "no" and d.intent.limit_price == 5_000  # own-side (NO) price
    assert d.count == 82 * C  # the mirror image of the YES example
    assert "buy 82 NO @ 0.5000" in d.reason
    # YES only: nothing to do
    [y] = EdgeStrategy(sides=("yes",)).evaluate(ctx(consensus(0.40), bid=5_000, ask=5_200))
    assert y.action == "skip" and y.side == "yes"


def test_market_quotes_are_used_without_live_quotes() -> None:
    [d] = EdgeStrategy().evaluate(ctx(consensus(0.6), via_market=True))
    assert d.action == "buy" and d.ask == 5_000
    [none] = EdgeStrategy().evaluate(ctx(consensus(0.6), bid=None, ask=None, via_market=True))
    assert none.reason == "no quote"
    [empty] = EdgeStrategy().evaluate(ctx(consensus(0.6), bid=None, ask=None))
    assert empty.reason == "no ask on either side"


@pytest.mark.parametrize(
    ("kw", "strategy", "reason"),
    [
        ({"stale": frozenset({TK})}, EdgeStrategy(), "the price is stale"),
        ({"status": "closed"}, EdgeStrategy(), "market status is 'closed'"),
        ({"balance": None}, EdgeStrategy(), "no bankroll"),
        ({}, EdgeStrategy(min_books=6), "only 5 book(s)"),
        ({}, EdgeStrategy(max_dispersion=0.005), "books disagree"),
        ({"ask": 9_800, "bid": 9_700}, EdgeStrategy(sides=("yes",)), "outside price_range"),
    ],
)
def test_skip_reasons(kw: dict[str, object], strategy: EdgeStrategy, reason: str) -> None:
    [d] = strategy.evaluate(ctx(consensus(0.99 if "ask" in kw else 0.6), **kw))  # type: ignore[arg-type]
    assert d.action == "skip" and d.intent is None
    assert reason in d.reason


def test_old_odds_and_games_in_play() -> None:
    old = consensus(0.6, fetched=NOW - 3600 * NS)
    [d] = EdgeStrategy(max_odds_age_s=600).evaluate(ctx(old))
    assert d.action == "skip" and "3600 s old" in d.reason
    started = Consensus("x", 0.6, 5, 0.01, 0.59, 0.61, commence_ns=NOW - 60 * NS, fetched_ns=NOW)
    [d2] = EdgeStrategy().evaluate(ctx(started))
    assert "the game has started" in d2.reason
    [d3] = EdgeStrategy(trade_in_play=True).evaluate(ctx(started))
    assert d3.action == "buy"


def test_a_plain_probability_is_accepted() -> None:
    [d] = EdgeStrategy().evaluate(ctx(0.6))
    assert d.action == "buy" and "given probability" in d.reason
    [bad] = EdgeStrategy().evaluate(ctx("sixty percent"))
    assert bad.action == "skip" and "no usable probability" in bad.reason


def test_intents_carry_protection() -> None:
    [it] = EdgeStrategy().decide(ctx(consensus(0.6)))
    assert it.protection == default_protection()
    lv = it.protection.resolve(it.limit_price)
    assert (lv.stop, lv.take_profit) == (4_000, 6_500)  # 10 cents below, 15 above the $0.50 entry
    custom = protection(stop_fraction=0.5)
    [it2] = EdgeStrategy(protection=custom).decide(ctx(consensus(0.6)))
    assert it2.protection == custom
    [bare] = EdgeStrategy(protection=None).decide(ctx(consensus(0.6)))
    assert bare.protection is None


def test_protection_is_fitted_to_the_entry_price() -> None:
    p = protection(stop=0.10, take_profit=0.15)
    low, note = fit_protection(p, 500)  # a 10-cent stop below a 5-cent entry is impossible
    assert low is not None and low.stop_loss is None and low.take_profit == p.take_profit
    assert "stop-loss dropped" in note
    high, note2 = fit_protection(p, 9_000)  # 0.90 + 0.15 > $1
    assert high is not None and high.take_profit is None and high.stop_loss == p.stop_loss
    assert "take-profit dropped" in note2
    same, note3 = fit_protection(p, 5_000)
    assert same == p and note3 == ""
    # the strategy says so in the reason
    [d] = EdgeStrategy(price_range=(100, 9_900)).evaluate(ctx(consensus(0.12), bid=None, ask=500))
    assert d.intent is not None and d.intent.protection.stop_loss is None
    assert "stop-loss dropped" in d.reason


def test_pure_function_of_the_context() -> None:
    c = ctx(consensus(0.6))
    s = EdgeStrategy()
    assert s.evaluate(c) == s.evaluate(c)
    assert s.decide(c) == s.decide(c)
    assert c.odds[TK] == consensus(0.6)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"min_edge": 0.02}, "min_edge must be an int"),
        ({"kelly_fraction": 1.5}, "kelly_fraction must be in"),
        ({"max_contracts": 0}, "max_contracts must be an int > 0"),
        ({"max_cost_per_market": 50.0}, "max_cost_per_market must be an int"),
        ({"price_range": (0, 10_000)}, "price_range"),
        ({"sides": ("maybe",)}, "sides must be"),
    ],
)
def test_bad_settings_say_what_to_fix(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        EdgeStrategy(**kw)  # type: ignore[arg-type]


def test_the_fee_is_the_one_of_the_markets_series() -> None:
    # YES ask $0.50, fair 0.5210: at the standard fee ($0.0175) the edge is $0.0035, below a 1-cent minimum; the
    # market's series (an MLB-style multiplier of 0.5) charges $0.00875 -> $0.0088, leaving $0.0122: a buy.
    half = FeeSchedule.from_wire("quadratic_with_maker_fees", 0.5)
    c = ctx(consensus(0.521))
    [standard] = EdgeStrategy(min_edge=100).evaluate(c)
    assert standard.action == "skip" and standard.fee == 17_500 and standard.edge == 35
    series = dataclasses.replace(c, fees={TK: half})
    [d] = big(min_edge=100).evaluate(series)
    assert d.action == "buy" and d.fee is not None and d.intent is not None
    assert d.fee == half.taker(5000, d.count) < FeeSchedule().taker(5000, d.count)
    assert d.edge == 5210 - 5000 - math.ceil(d.fee / d.count)  # $0.0875 per 10 contracts -> under a cent each
    assert "quadratic_with_maker_fees x0.5" in d.reason
    # a context without the market's schedule falls back to the strategy's own
    [own] = big(min_edge=100, fees=half).evaluate(c)
    assert (own.action, own.fee) == ("buy", d.fee)
