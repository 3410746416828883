"""pandas views of the live engine's immutable snapshots (dollars as floats here: display only)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from kalshikit.core.events import Quote

NS_PER_S = 1_000_000_000
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
]


def _d(price: int | None) -> float | None:
    return None if price is None else price / 10_000


def _m(money: int | None) -> float | None:
    return None if money is None else money / 1_000_000


def positions_frame(views: Iterable[Any], now_ns: int) -> pd.DataFrame:
    rows = [
        {
            "ticker": v.ticker,
            "side": v.side,
            "count": v.count / 100,
            "entry": _d(v.entry_price),
            "yes_bid": _d(v.yes_bid),
            "yes_ask": _d(v.yes_ask),
            "mark": _d(v.mark),
            "unrealized": _m(v.unrealized),
            "realized": _m(v.realized),
            "fees": _m(v.fees),
            "state": v.state,
            "rules": v.rules,
            "stop": _d(v.stop),
            "stop_rule": v.stop_rule,
            "take_profit": _d(v.take_profit),
            "trailing_peak": _d(v.trailing_peak),
            "nearest_trigger": v.nearest_trigger,
            "distance": _d(v.distance_to_trigger),
            "price_age_s": None if v.quote_recv_ns is None else (now_ns - v.quote_recv_ns) / NS_PER_S,
            "stale": v.stale,
            "trigger": v.trigger,
            "attempt": v.attempt,
            "market_status": v.market_status,
        }
        for v in views
    ]
    return pd.DataFrame(rows, columns=POSITION_COLUMNS)


def prices_frame(quotes: Mapping[str, Quote], now_ns: int, stale_after_ns: int) -> pd.DataFrame:
    rows = [
        {
            "ticker": q.ticker,
            "yes_bid": _d(q.yes_bid),
            "yes_ask": _d(q.yes_ask),
            "bid_size": None if q.yes_bid_size is None else q.yes_bid_size / 100,
            "ask_size": None if q.yes_ask_size is None else q.yes_ask_size / 100,
            "last": _d(q.last),
            "age_s": (now_ns - q.recv_ns) / NS_PER_S,
            "stale": now_ns - q.recv_ns > stale_after_ns,
            "source": q.source,
        }
        for q in sorted(quotes.values(), key=lambda q: q.ticker)
    ]
    cols = ["ticker", "yes_bid", "yes_ask", "bid_size", "ask_size", "last", "age_s", "stale", "source"]
    return pd.DataFrame(rows, columns=cols)


def records_frame(records: Iterable[Any]) -> pd.DataFrame:
    """Any msgspec structs (Decision, PositionClosed, ...) as rows, with their own field names."""
    rows = [{f: getattr(r, f) for f in r.__struct_fields__} for r in records]
    return pd.DataFrame(rows)


TRADE_COLUMNS = [
    "ticker", "side", "count", "entry_price", "exit_price", "reason", "trigger_price", "realized", "fees", "pnl",
    "opened", "closed", "settlement_result", "position_id",
]


def trades_frame(closed: Iterable[Any]) -> pd.DataFrame:
    """Closed positions (PositionClosed) in dollars: entry/exit/trigger prices, realized, fees, net P&L."""
    rows = [
        {
            "ticker": c.ticker,
            "side": c.side,
            "count": c.count / 100,
            "entry_price": _d(c.entry_price),
            "exit_price": _d(c.exit_price),
            "reason": c.reason,
            "trigger_price": _d(c.trigger_price),
            "realized": _m(c.realized),
            "fees": _m(c.fees),
            "pnl": _m(c.realized - c.fees),
            "opened": pd.Timestamp(c.opened_ns, unit="ns", tz="UTC") if c.opened_ns else None,
            "closed": pd.Timestamp(c.closed_ns, unit="ns", tz="UTC"),
            "settlement_result": c.settlement_result,
            "position_id": c.position_id,
        }
        for c in closed
    ]
    return pd.DataFrame(rows, columns=TRADE_COLUMNS)
