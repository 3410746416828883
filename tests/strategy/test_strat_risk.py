"""Risk limits: each limit, the daily loss halt, stale prices, a closed exchange, and intents adding up in a cycle."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kalshikit.core.fees import FeeSchedule
from kalshikit.errors import ConfigError
from kalshikit.strategy.base import OrderIntent, StrategyContext
from kalshikit.strategy.risk import RiskLimits, RiskManager

NS = 1_000_000_000
DAY = 86_400 * NS
NOW = 1_795_600_000 * NS  # 2026-11-25 10:26:40 UTC
D = 1_000_000
C = 100
NO_LIMITS = RiskLimits(None, None, None, None, None)


def intent(ticker: str = "A", count: int = 10 * C, price: int = 5_000, side: str = "yes") -> OrderIntent:
    return OrderIntent(ticker=ticker, side=side, count=count, limit_price=price)  # type: ignore[arg-type]


def pos(ticker: str, count: int, entry: int, realized: int = 0, fees: int = 0, unrealized: int | None = 0) -> object:
    return SimpleNamespace(
        ticker=ticker, count=count, entry_price=entry, realized=realized, fees=fees, unrealized=unrealized
    )


def ctx(now: int = NOW, positions: tuple[object, ...] = (), **kw: object) -> StrategyContext:
    return StrategyContext(now_ns=now, quotes={}, positions=positions, balance=None, **kw)  # type: ignore[arg-type]


# 10 contracts at $0.50: $5.00 + fee 0.07 x 10 x 0.25 = $0.175
COST = 5 * D + 175_000


def test_allows_within_limits() -> None:
    rm = RiskManager()
    assert rm.check(intent(), ctx()) is None
    assert (rm.allowed, rm.refused) == (1, 0)
    assert rm.status()["cycle_cost"] == {"A": COST}


def test_exchange_closed_and_stale_prices() -> None:
    rm = RiskManager(NO_LIMITS)
    assert rm.check(intent(), ctx(exchange_open=False)) == "the exchange is not trading: no new entries until it is"
    assert "stale" in (rm.check(intent("A"), ctx(stale=frozenset({"A"}))) or "")
    assert rm.check(intent("B"), ctx(stale=frozenset({"A"}))) is None
    assert rm.refused == 2


@pytest.mark.parametrize(
    "bad",
    [intent(count=0), intent(price=0), intent(price=10_000), intent(side="maybe")],
    ids=["count", "0", "1", "side"],
)
def test_invalid_intents(bad: OrderIntent) -> None:
    assert "invalid intent" in (RiskManager(NO_LIMITS).check(bad, ctx()) or "")


def test_per_market_exposure_adds_up_within_a_cycle() -> None:
    rm = RiskManager(RiskLimits(max_market_exposure=10 * D, max_total_exposure=None, max_open_positions=None,
                                daily_loss_limit=None))  # fmt: skip
    c = ctx()
    assert rm.check(intent("A"), c) is None  # $5.175
    why = rm.check(intent("A"), c)  # another $5.175 in the same cycle: $10.35 > $10
    assert why == "A: exposure $5.18 + this order $5.18 > per-market limit $10.00"
    assert rm.check(intent("B"), c) is None  # another market is fine
    # a new cycle forgets what was allowed (by then the positions show what filled)
    assert rm.check(intent("A"), ctx(NOW + 30 * NS)) is None
    # what is held counts: 15 contracts at $0.50 = $7.50 held
    held = (pos("A", 15 * C, 5_000),)
    assert "per-market limit" in (rm.check(intent("A"), ctx(NOW + 60 * NS, held)) or "")
    assert rm.check(intent("A", count=4 * C), ctx(NOW + 90 * NS, held)) is None  # $2.07 more fits


def test_total_exposure() -> None:
    rm = RiskManager(RiskLimits(max_market_exposure=None, max_total_exposure=12 * D, max_open_positions=None,
                                daily_loss_limit=None))  # fmt: skip
    held = (pos("X", 10 * C, 3_000),)  # $3 held
    c = ctx(positions=held)
    assert rm.check(intent("A"), c) is None  # 3 + 5.175
    why = rm.check(intent("B"), c)  # 3 + 5.175 + 5.175 = 13.35 > 12
    assert why == "total exposure $8.18 + this order $5.18 > limit $12.00"
    assert rm.check(intent("B", count=5 * C), c) is None  # $2.59 more fits


def test_max_open_positions() -> None:
    rm = RiskManager(RiskLimits(None, None, max_open_positions=2, daily_loss_limit=None))
    c = ctx(positions=(pos("H", 5 * C, 4_000), pos("GONE", 0, 4_000)))  # a closed position does not count
    assert rm.check(intent("A"), c) is None  # H + A
    assert "max_open_positions is 2" in (rm.check(intent("B"), c) or "")
    assert rm.check(intent("H"), c) is None  # adding to a held market opens nothing new
    assert rm.check(intent("A"), c) is None  # nor does a second entry in A this cycle


def test_max_order_cost() -> None:
    rm = RiskManager(RiskLimits(None, None, None, None, max_order_cost=5 * D))
    assert rm.check(intent(), ctx()) == "order cost $5.18 > max_order_cost $5.00"
    assert rm.check(intent(count=9 * C), ctx()) is None


def test_daily_loss_limit_halts_entries_for_the_day() -> None:
    rm = RiskManager(RiskLimits(None, None, None, daily_loss_limit=50 * D))
    losing = (pos("A", 10 * C, 5_000, realized=-30 * D, fees=5 * D, unrealized=-15 * D),)  # -$50 today
    why = rm.check(intent("B"), ctx(positions=losing))
    assert why is not None and "daily loss limit reached: P&L today -$50.00 <= -$50.00" in why
    assert "exits keep running" in why
    assert rm.halted == why
    # the halt holds when prices recover...
    assert rm.check(intent("B"), ctx(NOW + 60 * NS)) == why
    # ...until the next day
    assert rm.check(intent("B"), ctx(NOW + DAY)) is None
    assert rm.halted is None
    # or until lifted by hand
    rm.check(intent("B"), ctx(NOW + DAY, positions=losing))
    assert rm.halted is not None
    rm.reset_halt()
    assert rm.check(intent("B"), ctx(NOW + DAY + 60 * NS)) is None
    # just above the limit: allowed
    ok = (pos("A", 10 * C, 5_000, realized=-30 * D, fees=5 * D, unrealized=-14 * D),)
    assert RiskManager(RiskLimits(None, None, None, daily_loss_limit=50 * D)).check(intent(), ctx(positions=ok)) is None


def test_closed_positions_count_towards_the_daily_loss() -> None:
    limits = RiskLimits(None, None, None, daily_loss_limit=50 * D)
    assert "daily loss" in (RiskManager(limits).check(intent(), ctx(realized_today=-60 * D)) or "")
    rm = RiskManager(limits)
    rm.record_closed(-40 * D, NOW)
    assert rm.check(intent(), ctx()) is None  # -$40
    rm.record_closed(-10 * D, NOW + NS)
    assert "daily loss" in (rm.check(intent(), ctx(NOW + 2 * NS)) or "")
    assert rm.status()["pnl_today"] == -50 * D


def test_the_trading_day_follows_the_chosen_time_zone() -> None:
    # 2026-11-25 03:00 UTC is still 24 Nov in New York (EST, UTC-5); 06:00 UTC is 25 Nov there.
    t0 = 1_795_575_600 * NS  # 2026-11-25 03:00 UTC
    ny = RiskManager(RiskLimits(None, None, None, daily_loss_limit=50 * D, day_tz="America/New_York"))
    ny.record_closed(-45 * D, t0)
    assert ny.check(intent(), ctx(t0 + 3 * 3600 * NS, realized_today=None)) is None  # new day in NY: back to 0
    ny.record_closed(-45 * D, t0 + 3 * 3600 * NS)
    assert ny.status()["day"] == "2026-11-25"
    utc = RiskManager(RiskLimits(None, None, None, daily_loss_limit=50 * D))
    utc.record_closed(-45 * D, t0)
    utc.record_closed(-10 * D, t0 + 3 * 3600 * NS)  # still 25 Nov in UTC: -$55
    assert "daily loss" in (utc.check(intent(), ctx(t0 + 3 * 3600 * NS)) or "")


def test_limits_in_dollars_and_validation() -> None:
    lim = RiskLimits.from_dollars(market=25, total=250.5, positions=3, daily_loss=40, order=10)
    assert lim == RiskLimits(25 * D, 250_500_000, 3, 40 * D, 10 * D)
    with pytest.raises(ConfigError, match="max_market_exposure must be None or an int > 0"):
        RiskLimits(max_market_exposure=25.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_open_positions"):
        RiskLimits(max_open_positions=0)
    with pytest.raises(ConfigError, match="day_tz 'Mars/Olympus'"):
        RiskLimits(day_tz="Mars/Olympus")


def test_the_order_cost_uses_the_fee_of_the_markets_series() -> None:
    # 10 contracts at $0.50 in a series with fee_multiplier 0.5: $5.00 + $0.0875 -> $0.0875, under a $5.10 cap that
    # the standard fee ($0.175) would break.
    half = FeeSchedule.from_wire("quadratic", 0.5)
    limits = RiskLimits(None, None, None, None, max_order_cost=5 * D + 100_000)
    assert RiskManager(limits).check(intent("A"), ctx()) == "order cost $5.18 > max_order_cost $5.10"
    rm = RiskManager(limits)
    assert rm.check(intent("A"), ctx(fees={"A": half})) is None
    assert rm.status()["cycle_cost"] == {"A": 5 * D + 87_500}
    # the manager's own schedule is the fallback for markets the context does not cover
    assert RiskManager(limits, fees=half).check(intent("B"), ctx(fees={"A": FeeSchedule()})) is None
