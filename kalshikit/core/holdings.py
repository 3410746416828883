"""Positions for one monitor: applying fills, opening, adopting what the exchange shows, correcting to it,
reconciling, settling and closing, and arming each position's rules against its entry price (a rule that cannot
apply is reported; the others are armed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kalshikit.core.actions import (
    Alert,
    Unwatch,
    Watch,
)
from kalshikit.core.ctx import Ctx
from kalshikit.core.events import (
    PositionUpdate,
    Reconcile,
)
from kalshikit.core.guard import GuardEvent, GuardState
from kalshikit.core.ledger import Holding
from kalshikit.core.market_state import HALTED
from kalshikit.core.marks import mark_of
from kalshikit.core.orders import TrackedOrder
from kalshikit.core.persistence import encode_order
from kalshikit.core.positions import side_of, yes_payout
from kalshikit.core.rules import Protection

if TYPE_CHECKING:
    from kalshikit.core.monitor import Monitor

ARMED = GuardState.ARMED
TRIGGERED = GuardState.TRIGGERED
EXIT_SENT = GuardState.EXIT_SENT
CLOSED = GuardState.CLOSED
FAILED = GuardState.FAILED
E = GuardEvent


class Holdings:
    """Positions: fills, adoption, reconciliation, settlement, closing, arming.

    Owned by one :class:`~kalshikit.core.monitor.Monitor` (``self.m``); not thread-safe.
    """

    def __init__(self, monitor: Monitor) -> None:
        self.m = monitor

    def apply_to_position(
        self, ticker: str, delta: int, yes_price: int, fee: int, ctx: Ctx, order: TrackedOrder | None
    ) -> None:
        m = self.m
        h = m.ledger.holdings.get(ticker)
        if h is None:
            if delta == 0:
                return
            h = self.open(ticker, ctx, order.protection if order is not None else None)
        if order is not None and not order.position_id:
            order.position_id = h.pos.position_id
            m.dirty_orders.add(order.client_order_id)
        pos, g = h.pos, h.guard
        before = pos.count
        pos.apply(delta, yes_price, fee, ctx.now)
        m.dirty_holdings.add(ticker)
        if before != 0 and (before > 0) == (pos.count > 0) and abs(pos.count) > abs(before):
            self.resolve_levels(h, ctx)  # added to the position: rules follow the new average entry
        if pos.count == 0:
            exit_order = m.tracker.orders.get(g.exit_order) if g.exit_order else None
            if g.state is EXIT_SENT and exit_order is not None and exit_order.in_flight:
                return  # closed by our exit; finish when the order reports done
            self.close(h, ctx, g.trigger if g.state in (EXIT_SENT, TRIGGERED) else "external")
            return
        if before != 0 and (before > 0) != (pos.count > 0):
            m.decide(h, ctx, "position_flipped", "", None, None, None, f"{before} -> {pos.count}")
            self.rearm(h, ctx)
        elif before == 0:
            self.rearm(h, ctx)

    # ================================================================== positions
    def open(self, ticker: str, ctx: Ctx, protection: Protection | None) -> Holding:
        m = self.m
        h = m.ledger.open(ticker, ctx.now, protection or m.config.default_protection)
        m.dirty_holdings.add(ticker)
        m.dirty_monitor = True
        ctx.out.append(Watch(ticker))
        return h

    def rearm(self, h: Holding, ctx: Ctx) -> None:
        """(Re)resolve the rules against the current entry price and arm what can be armed."""
        m = self.m
        g = h.guard
        p = g.protection
        if p is None or p.is_empty or g.state is EXIT_SENT:
            return
        if not self.resolve_levels(h, ctx):
            return
        market = m.markets.get(h.pos.ticker)
        halted = market is not None and market.status != "active"
        reason = "rules armed" if g.state is None else "rules re-armed"
        m.handle(h, E.ARM_HALTED if halted else E.ARM, ctx, reason)
        q = m.quotes.get(h.pos.ticker)
        if q is not None and g.state is ARMED:
            m.watch.evaluate(h, q, ctx)

    def resolve_levels(self, h: Holding, ctx: Ctx) -> bool:
        """Resolve the rules against the entry price; False when nothing at all can be armed."""
        m = self.m
        g = h.guard
        p = g.protection
        entry = h.pos.entry_price
        if p is None:
            return False
        if entry is None:
            msg = "rules not armed: the entry price is unknown (no cost basis and no quote yet)"
            ctx.out.append(Alert("error", h.pos.ticker, msg, ctx.now))
            return False
        levels = p.resolve(entry)
        before = g.rejected
        g.levels = levels
        g.rejected = levels.rejected
        m.dirty_holdings.add(h.pos.ticker)
        m.deadline_dirty = True
        nothing = not levels.armed_any and p.time_exit is None
        if levels.rejected and levels.rejected != before:
            reasons = "; ".join(r for _, r in levels.rejected)
            prefix = "rules not armed" if nothing else "rule not armed (the others are)"
            ctx.out.append(Alert("error", h.pos.ticker, f"{prefix}: {reasons}", ctx.now))
            m.decide(h, ctx, "rules_rejected", "", None, None, None, reasons)
        return not nothing

    def close(self, h: Holding, ctx: Ctx, reason: str) -> None:
        m = self.m
        g = h.guard
        if g.state is not None and g.state is not CLOSED:
            m.handle(h, E.FLAT, ctx, reason or "flat")
        summary = m.ledger.close(h, reason, ctx.now)
        if m.config.keep_closed:
            m.closed.append(summary)
        ctx.out.append(summary)
        for o in [o for o in m.tracker.orders.values() if o.position_id == h.pos.position_id]:
            self.archive(o)
        m.dirty_holdings.add(h.pos.ticker)
        m.dirty_monitor = True
        m.deadline_dirty = True
        ctx.out.append(Unwatch(h.pos.ticker))

    def archive(self, o: TrackedOrder) -> None:
        m = self.m
        if o.in_flight or m.tracker.orders.get(o.client_order_id) is not o:
            return
        if m.config.track_changes:
            m.archived_rows.append(encode_order(o))
        m.tracker.archive_order(o)
        m.dirty_orders.add(o.client_order_id)

    def on_position_update(self, u: PositionUpdate, ctx: Ctx) -> None:
        m = self.m
        h = m.ledger.holdings.get(u.ticker)
        if h is None:
            if u.position == 0:
                return
            h = self.open(u.ticker, ctx, None)
            cost = u.cost if u.cost is not None else self.estimate_cost(u.ticker, u.position)
            h.pos.reset_to(u.position, cost, ctx.now)
            detail = f"{u.position / 100:g} contracts found on the exchange ({u.source})"
            m.decide(h, ctx, "adopted", "", None, None, None, detail)
            self.rearm(h, ctx)
            return
        if m.tracker.in_flight_for(u.ticker):
            return  # an order is in flight; its own reports will settle the count, reconcile later
        if u.position == h.pos.count:
            return
        mkt = m.markets.get(u.ticker)
        if u.position == 0 and mkt is not None and mkt.status in HALTED:
            # Flat in a market that stopped trading: that is the settlement, whichever message came first.
            if mkt.result or mkt.settlement_value is not None:
                self.settle(u.ticker, ctx)
                return
            m.decide(h, ctx, "settled", "", None, None, None, "flat after close; result not known yet")
            h.pos.reset_to(0, None, ctx.now)
            self.close(h, ctx, "settlement")
            return
        before = h.pos.count
        h.pos.reset_to(u.position, u.cost, ctx.now)
        m.dirty_holdings.add(u.ticker)
        detail = f"{before / 100:g} -> {u.position / 100:g} contracts ({u.source})"
        m.decide(h, ctx, "position_corrected", "", None, None, None, detail)
        g = h.guard
        if u.position == 0:
            self.close(h, ctx, "external")
        elif (before > 0) != (u.position > 0) or g.state is FAILED or (g.levels is None and g.protection):
            self.rearm(h, ctx)
        elif g.protection is not None:
            self.resolve_levels(h, ctx)  # same side, new size/cost: levels follow the exchange's entry price

    def on_reconcile(self, e: Reconcile, ctx: Ctx) -> None:
        m = self.m
        seen: set[str] = set()
        for u in e.positions:
            seen.add(u.ticker)
            if m.ledger.believe(u, e.as_of_ns):
                self.on_position_update(u, ctx)
        for ticker in m.ledger.missing_from(seen, e.as_of_ns):
            self.on_position_update(PositionUpdate(ticker, 0, source="reconcile", recv_ns=ctx.now), ctx)

    def estimate_cost(self, ticker: str, position: int) -> int | None:
        m = self.m
        q = m.quotes.get(ticker)
        side = side_of(position)
        if q is None or side is None:
            return None
        mark = mark_of(side, q, "bid")
        return None if mark is None else mark * abs(position)

    # ================================================================== lifecycle
    def settle(self, ticker: str, ctx: Ctx) -> None:
        m = self.m
        mkt = m.market_watch.market(ticker)
        mkt.status = "settled"
        h = m.ledger.holdings.get(ticker)
        if h is None:
            return
        value = yes_payout(mkt.result, mkt.settlement_value)
        if value is None:
            ctx.out.append(Alert("warning", ticker, "market settled without a known result", ctx.now))
            return
        if h.guard.state in (ARMED, TRIGGERED, FAILED):
            m.handle(h, E.HALT, ctx, "market settled", reason="market settled")
        h.pos.settle(value, mkt.result, ctx.now)
        self.close(h, ctx, "settlement")
