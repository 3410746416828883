"""Reconciliation: what the exchange says we hold, and what it says about those markets, as monitor events.

REST lags the exchange a little, so the snapshot is stamped a margin *before* the request: positions that changed
locally after that stay as the monitor has them (see :class:`kalshikit.core.actions.Reconcile`). Markets we hold
are re-read for their close time, price grid and status; a market finalized with a result settles the position.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kalshikit.core.events import Lifecycle, MarketInfo, PositionUpdate, Reconcile
from kalshikit.kalshi.models import Market
from kalshikit.kalshi.rest import KalshiRest

NS_PER_S = 1_000_000_000
# Kalshi's market object status -> the monitor's market status.
STATUS_MAP = {
    "initialized": "paused",
    "inactive": "paused",
    "active": "active",
    "closed": "closed",
    "determined": "determined",
    "disputed": "determined",
    "amended": "determined",
    "finalized": "settled",
    "settled": "settled",
}


@dataclass(frozen=True)
class ReconcileReport:
    positions: int
    markets: int
    as_of_ns: int
    took_s: float


def market_events(markets: Iterable[Market]) -> list[object]:
    """MarketInfo for each market, plus a Lifecycle event when it is determined or settled."""
    out: list[object] = []
    for m in markets:
        status = STATUS_MAP.get(m.status, "active")
        if status == "settled" and m.result:
            out.append(MarketInfo(m.ticker, close_ns=m.close_ns, grid=m.grid))
            out.append(Lifecycle(m.ticker, "settled", result=m.result, settlement_value=m.settlement_value))
        elif status == "determined" and m.result:
            out.append(MarketInfo(m.ticker, close_ns=m.close_ns, grid=m.grid))
            out.append(Lifecycle(m.ticker, "determined", result=m.result, settlement_value=m.settlement_value))
        else:
            out.append(MarketInfo(m.ticker, close_ns=m.close_ns, grid=m.grid, status=status))
    return out


def reconcile(
    rest: KalshiRest,
    post: Callable[[object], None],
    held: Iterable[str],
    *,
    lag_margin_s: float = 2.0,
    clock_ns: Callable[[], int] = time.time_ns,
) -> ReconcileReport:
    """Read positions and held markets over REST and post the resulting events to the monitor."""
    t0 = clock_ns()
    as_of = t0 - int(lag_margin_s * NS_PER_S)
    rows = [p for p in rest.positions(count_filter="position") if p.position != 0]
    now = clock_ns()
    updates = tuple(
        PositionUpdate(
            p.ticker,
            p.position,
            cost=p.exposure,
            realized_pnl=p.realized_pnl,
            fees_paid=p.fees_paid,
            source="reconcile",
            recv_ns=now,
        )
        for p in rows
    )
    tickers = sorted(set(held) | {p.ticker for p in rows})
    markets: list[Market] = []
    for i in range(0, len(tickers), 100):
        markets.extend(rest.markets(tickers=tickers[i : i + 100]))
    # Market facts first (close time, grid, status), then positions, so new positions arm on the right grid.
    for ev in market_events(markets):
        post(ev)
    post(Reconcile(updates, as_of))
    return ReconcileReport(len(updates), len(markets), as_of, (clock_ns() - t0) / NS_PER_S)
