"""What the monitor learns about markets: close time and price grid, pauses and re-openings, determination and
settlement, and whether the price feed is up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kalshikit.core.ctx import Ctx
from kalshikit.core.events import (
    FeedStatus,
    Lifecycle,
    MarketInfo,
    Settlement,
)
from kalshikit.core.guard import GuardEvent, GuardState
from kalshikit.core.market_state import MarketState

if TYPE_CHECKING:
    from kalshikit.core.monitor import Monitor

ARMED = GuardState.ARMED
TRIGGERED = GuardState.TRIGGERED
FAILED = GuardState.FAILED
DISARMED = GuardState.DISARMED
E = GuardEvent


class MarketWatch:
    """Market facts and lifecycle.

    Owned by one :class:`~kalshikit.core.monitor.Monitor` (``self.m``); not thread-safe.
    """

    def __init__(self, monitor: Monitor) -> None:
        self.m = monitor

    def market(self, ticker: str) -> MarketState:
        m = self.m
        mkt = m.markets.get(ticker)
        if mkt is None:
            mkt = m.markets[ticker] = MarketState()
        m.dirty_markets.add(ticker)
        return mkt

    def on_market_info(self, e: MarketInfo, ctx: Ctx) -> None:
        m = self.m
        mkt = self.market(e.ticker)
        if e.close_ns is not None:
            mkt.close_ns = e.close_ns
        if e.grid is not None:
            mkt.grid = e.grid
        if e.status is not None:
            self.set_status(e.ticker, e.status, ctx, "market status from REST")
        m.deadline_dirty = True

    def set_status(self, ticker: str, status: str, ctx: Ctx, reason: str) -> None:
        m = self.m
        mkt = self.market(ticker)
        old = mkt.status
        mkt.status = status
        h = m.ledger.holdings.get(ticker)
        if h is None or h.guard.state is None or old == status:
            return
        g = h.guard
        if status == "active":
            if g.state is DISARMED:
                m.handle(h, E.REOPEN, ctx, reason)
        elif g.state in (ARMED, TRIGGERED, FAILED):
            m.handle(h, E.HALT, ctx, reason, reason=reason)
            m.decide(h, ctx, "disarmed", "", None, None, None, reason)

    def on_lifecycle(self, e: Lifecycle, ctx: Ctx) -> None:
        m = self.m
        mkt = self.market(e.ticker)
        et = e.event_type
        if e.close_ns is not None:
            mkt.close_ns = e.close_ns
            m.deadline_dirty = True
        paused = e.is_deactivated if e.is_deactivated is not None else {"deactivated": True, "activated": False}.get(et)
        if paused is not None and mkt.status in ("paused", "active"):
            why = "trading paused" if paused else "trading resumed"
            self.set_status(e.ticker, "paused" if paused else "active", ctx, why)
        elif et == "determined":
            mkt.result = e.result
            mkt.settlement_value = e.settlement_value
            self.set_status(e.ticker, "determined", ctx, f"market determined: {e.result or '?'}")
        elif et == "settled":
            if e.result:
                mkt.result = e.result
            if e.settlement_value is not None:
                mkt.settlement_value = e.settlement_value
            m.holdings.settle(e.ticker, ctx)

    def on_settlement(self, s: Settlement, ctx: Ctx) -> None:
        m = self.m
        mkt = self.market(s.ticker)
        if s.result:
            mkt.result = s.result
        m.holdings.settle(s.ticker, ctx)

    def on_feed_status(self, e: FeedStatus, ctx: Ctx) -> None:
        m = self.m
        if not e.up and m.feed_up:
            m.feed_down_since = e.recv_ns or ctx.now
        m.feed_up = e.up

    # ================================================================== time
