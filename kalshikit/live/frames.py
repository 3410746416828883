"""pandas views of the live engine's immutable snapshots, one unit per column for every table a user sees.

Prices are dollars (floats, NaN where there is none), counts contracts, money dollars, times tz-aware UTC
timestamps; a raw integer appears only in a column whose name ends in ``_ns`` (ns since the epoch, UTC), kept for
joins with recordings. The same units as the replay tables (``kalshikit.replay``), so live and replay frames line up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from kalshikit.core.events import Quote
from kalshikit.tables import dollars_or_nan as _d
from kalshikit.tables import money_or_nan as _m
from kalshikit.tables import timestamp as _ts
from kalshikit.tables import typed_frame
from kalshikit.units import COUNT_SCALE, NS_PER_S

POSITION_COLUMNS = [
    "ticker",
    "side",
    "count",
    "entry",
    "yes_bid",
    "yes_ask",
    "mark",
    "unrealized",
    "realized",
    "fees",
    "state",
    "rules",
    "rules_rejected",
    "stop",
    "stop_rule",
    "take_profit",
    "trailing_peak",
    "nearest_trigger",
    "distance",
    "price_age_s",
    "stale",
    "trigger",
    "attempt",
    "market_status",
    "opened",
]
POSITION_FLOATS = (
    "count", "entry", "yes_bid", "yes_ask", "mark", "unrealized", "realized", "fees", "stop", "take_profit",
    "trailing_peak", "distance", "price_age_s",
)
PRICE_COLUMNS = ["ticker", "yes_bid", "yes_ask", "bid_size", "ask_size", "last", "age_s", "stale", "source"]
TRADE_COLUMNS = [
    "ticker", "side", "count", "entry_price", "exit_price", "reason", "trigger_price", "realized", "fees", "pnl",
    "opened", "closed", "settlement_result", "position_id",
]
ENTRY_COLUMNS = ["ticker", "entry_time", "side", "count", "entry_price"]
STRATEGY_COLUMNS = ["ns", "ts", "ticker", "side", "count", "limit", "reason", "action", "why"]


def _c(count: int | None) -> float:
    return float("nan") if count is None else count / COUNT_SCALE


def is_stale(view: Any, now_ns: int, stale_after_ns: int) -> bool:
    """A position's price is stale when the monitor says so (e.g. from before the feed went down) or when it is
    older than the configured limit (WEBSOCKET_PRICE_CACHE_STALE_SECS) as of ``now_ns``."""
    if view.quote_recv_ns is None:
        return True
    return bool(view.stale) or now_ns - view.quote_recv_ns > stale_after_ns


def positions_frame(views: Iterable[Any], now_ns: int, stale_after_ns: int) -> pd.DataFrame:
    rows = [
        {
            "ticker": v.ticker,
            "side": v.side,
            "count": _c(v.count),
            "entry": _d(v.entry_price),
            "yes_bid": _d(v.yes_bid),
            "yes_ask": _d(v.yes_ask),
            "mark": _d(v.mark),
            "unrealized": _m(v.unrealized),
            "realized": _m(v.realized),
            "fees": _m(v.fees),
            "state": v.state,
            "rules": v.rules,
            "rules_rejected": v.rules_rejected,
            "stop": _d(v.stop),
            "stop_rule": v.stop_rule,
            "take_profit": _d(v.take_profit),
            "trailing_peak": _d(v.trailing_peak),
            "nearest_trigger": v.nearest_trigger,
            "distance": _d(v.distance_to_trigger),
            "price_age_s": float("nan") if v.quote_recv_ns is None else (now_ns - v.quote_recv_ns) / NS_PER_S,
            "stale": is_stale(v, now_ns, stale_after_ns),
            "trigger": v.trigger,
            "attempt": v.attempt,
            "market_status": v.market_status,
            "opened": _ts(v.opened_ns),
        }
        for v in views
    ]
    return typed_frame(rows, POSITION_COLUMNS, POSITION_FLOATS, ("opened",))


def prices_frame(quotes: Mapping[str, Quote], now_ns: int, stale_after_ns: int) -> pd.DataFrame:
    rows = [
        {
            "ticker": q.ticker,
            "yes_bid": _d(q.yes_bid),
            "yes_ask": _d(q.yes_ask),
            "bid_size": _c(q.yes_bid_size),
            "ask_size": _c(q.yes_ask_size),
            "last": _d(q.last),
            "age_s": (now_ns - q.recv_ns) / NS_PER_S,
            "stale": now_ns - q.recv_ns > stale_after_ns,
            "source": q.source,
        }
        for q in sorted(quotes.values(), key=lambda q: q.ticker)
    ]
    return typed_frame(rows, PRICE_COLUMNS, ("yes_bid", "yes_ask", "bid_size", "ask_size", "last", "age_s"))


def trades_frame(closed: Iterable[Any]) -> pd.DataFrame:
    """Closed positions (PositionClosed) in dollars: entry/exit/trigger prices, realized, fees, net P&L."""
    rows = [
        {
            "ticker": c.ticker,
            "side": c.side,
            "count": _c(c.count),
            "entry_price": _d(c.entry_price),
            "exit_price": _d(c.exit_price),
            "reason": c.reason,
            "trigger_price": _d(c.trigger_price),
            "realized": _m(c.realized),
            "fees": _m(c.fees),
            "pnl": _m(c.realized - c.fees),
            "opened": _ts(c.opened_ns),
            "closed": _ts(c.closed_ns),
            "settlement_result": c.settlement_result,
            "position_id": c.position_id,
        }
        for c in closed
    ]
    floats = ("count", "entry_price", "exit_price", "trigger_price", "realized", "fees", "pnl")
    return typed_frame(rows, TRADE_COLUMNS, floats, ("opened", "closed"))


def entries_frame(positions: Iterable[Any]) -> pd.DataFrame:
    """Positions (PositionClosed or PositionView) as the entries table ``kalshikit.replay`` reads: ``entry_time``
    a UTC timestamp (exact to the ns), ``count`` in contracts, ``entry_price`` in dollars."""
    rows = [
        {
            "ticker": p.ticker,
            "entry_time": _ts(p.opened_ns),
            "side": p.side,
            "count": _c(p.count),
            "entry_price": _d(p.entry_price),
        }
        for p in positions
        if p.entry_price is not None and p.side
    ]
    return typed_frame(rows, ENTRY_COLUMNS, ("count", "entry_price"), ("entry_time",))


def strategy_decisions_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The strategy's order intents (the StrategyLoop's records, integers) with ``count`` in contracts and
    ``limit`` in dollars; ``ns`` is kept (raw ns, UTC) as in the replay's ``entries`` table."""
    rows = [
        {
            "ns": r["ns"],
            "ts": _ts(r["ns"]),
            "ticker": r["ticker"],
            "side": r["side"],
            "count": _c(r["count"]),
            "limit": _d(r["limit"]),
            "reason": r["reason"],
            "action": r["action"],
            "why": r["why"],
        }
        for r in records
    ]
    return typed_frame(rows, STRATEGY_COLUMNS, ("count", "limit"), ("ts",))
