"""Watching prices and time for one monitor: each quote against the armed rules (ratcheting trailing stops and
break-evens), the stale-price policies, confirmations, retries that wait for a bid, time exits, market close and
the monitor's next deadline."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from kalshikit.core.actions import (
    Alert,
    ConfirmQuote,
    LookupOrder,
)
from kalshikit.core.ctx import Ctx
from kalshikit.core.events import (
    Quote,
    Tick,
    Trade,
)
from kalshikit.core.guard import GuardEvent, GuardState
from kalshikit.core.ledger import Holding
from kalshikit.core.marks import mark_of
from kalshikit.core.rules import Protection

if TYPE_CHECKING:
    from kalshikit.core.monitor import Monitor

ARMED = GuardState.ARMED
TRIGGERED = GuardState.TRIGGERED
FAILED = GuardState.FAILED
E = GuardEvent


class RuleWatch:
    """Rules against prices and the clock.

    Owned by one :class:`~kalshikit.core.monitor.Monitor` (``self.m``); not thread-safe.
    """

    def __init__(self, monitor: Monitor) -> None:
        self.m = monitor

    def on_quote(self, q: Quote, ctx: Ctx) -> None:  # reached only for Quote subclasses
        m = self.m
        m.quotes[q.ticker] = q
        h = m.ledger.holdings.get(q.ticker)
        if h is None:
            return
        if h.guard.state is ARMED:
            self.evaluate(h, q, ctx)
        elif h.guard.state is TRIGGERED:
            self.on_triggered_quote(h, q, ctx)

    def on_trade(self, t: Trade, ctx: Ctx) -> None:
        m = self.m
        q = m.quotes.get(t.ticker)
        if q is None:
            return
        self.on_quote(msgspec.structs.replace(q, last=t.yes_price, exchange_ns=t.exchange_ns or q.exchange_ns), ctx)

    def is_stale(self, q: Quote, p: Protection | None, now: int) -> bool:
        m = self.m
        limit = p.stale_after_ns if p is not None else m.config.stale_after_ns
        if now - q.recv_ns > limit:
            return True
        return not m.feed_up and q.source != "rest" and q.recv_ns <= m.feed_down_since

    def check(self, h: Holding, q: Quote) -> tuple[str, int, int, str] | None:
        """Ratchet the trailing stop / break-even on this quote and return (trigger, mark, level, note) if any.

        The effective stop is the highest of stop-loss, active break-even and trailing (the same rule as
        :meth:`Guard.stop_level`, written out here: this runs for every quote a held market gets)."""
        g = h.guard
        p = g.protection
        lv = g.levels
        count = h.pos.count
        if p is None or lv is None or count == 0:
            return None
        mark = mark_of("yes" if count > 0 else "no", q, p.trigger_source)
        if mark is None:
            return None
        if lv.break_even_at is not None and not g.break_even_active and mark >= lv.break_even_at:
            g.break_even_active = True
            self.m.dirty_holdings.add(h.pos.ticker)
            self.m.deadline_dirty = True
        stop = lv.stop
        rule = "stop_loss"
        if g.break_even_active:
            be = lv.break_even_stop
            if be is not None and (stop is None or be > stop):
                stop, rule = be, "break_even"
        if lv.trailing:
            peak = g.peak
            if peak is None:
                if lv.trail_activation is None or mark >= lv.trail_activation:
                    peak = g.peak = mark
                    self.m.dirty_holdings.add(h.pos.ticker)
            elif mark > peak:
                peak = g.peak = mark
                self.m.dirty_holdings.add(h.pos.ticker)
            if peak is not None:
                trail = peak - p.trail_gap(peak)
                if stop is None or trail > stop:
                    stop, rule = trail, "trailing_stop"
        tp = lv.take_profit
        tp_hit = tp is not None and mark >= tp
        if stop is not None and mark <= stop:
            note = "stop and take-profit both crossed by one quote; stop wins" if tp_hit else ""
            return rule, mark, stop, note
        if tp_hit and tp is not None:
            return "take_profit", mark, tp, ""
        return None

    def evaluate(self, h: Holding, q: Quote, ctx: Ctx) -> None:
        m = self.m
        if q.recv_ns < h.pos.opened_ns:
            return  # a price from before the position existed says nothing about it (e.g. a re-opened market)
        g = h.guard
        hit = self.check(h, q)
        if hit is None:
            if g.held_stale:
                g.held_stale = False
                m.dirty_holdings.add(h.pos.ticker)
            return
        if m.paused:
            return
        trigger, mark, level, note = hit
        p = g.protection
        if p is not None and self.is_stale(q, p, ctx.now):
            if p.stale_policy == "hold":
                if not g.held_stale:
                    g.held_stale = True
                    m.dirty_holdings.add(h.pos.ticker)
                    m.decide(h, ctx, "held_stale", trigger, mark, level, q, "price is stale; policy hold")
                return
            if p.stale_policy == "confirm":
                m.handle(
                    h,
                    E.CONFIRM,
                    ctx,
                    f"{trigger} on a stale price; confirming over REST",
                    trigger=trigger,
                    mark=mark,
                    confirm_ns=p.confirm_timeout_ns,
                )
                m.decide(h, ctx, "confirm_requested", trigger, mark, level, q, note)
                ctx.out.append(ConfirmQuote(h.pos.ticker, h.pos.position_id))
                return
        self.fire(h, trigger, mark, level, q, ctx, note)

    def fire(
        self,
        h: Holding,
        trigger: str,
        mark: int | None,
        level: int | None,
        q: Quote | None,
        ctx: Ctx,
        note: str = "",
    ) -> None:
        m = self.m
        m.handle(h, E.FIRE, ctx, trigger, trigger=trigger, mark=mark)
        m.decide(h, ctx, "trigger", trigger, mark, level, q, note)
        m.exits.send_exit(h, ctx)

    def on_triggered_quote(self, h: Holding, q: Quote, ctx: Ctx) -> None:
        m = self.m
        g = h.guard
        p = g.protection
        side = h.pos.side
        if g.awaiting_confirm and p is not None:
            if self.is_stale(q, p, ctx.now):
                return
            hit = self.check(h, q)
            if hit is None:
                mark = mark_of(side, q, p.trigger_source) if side else None
                m.decide(h, ctx, "not_confirmed", g.trigger, mark, None, q, f"fresh {q.source} price")
                m.handle(h, E.NOT_CONFIRMED, ctx, "trigger not confirmed by a fresh price")
                return
            trigger, mark, level, note = hit
            m.decide(h, ctx, "confirmed", trigger, mark, level, q, f"fresh {q.source} price")
            self.fire(h, trigger, mark, level, q, ctx, note)
            return
        if g.retry_at is not None and side is not None and mark_of(side, q, "bid") is not None:
            m.exits.send_exit(h, ctx)

    # ================================================================== exits
    def on_tick(self, _: Tick, ctx: Ctx) -> None:
        m = self.m
        now = ctx.now
        for o in m.tracker.lookups_due(now):
            m.exits.schedule_lookup(o, now)
            ctx.out.append(LookupOrder(o.client_order_id, o.ticker, o.sent_ns))
        for h in list(m.ledger.holdings.values()):
            g = h.guard
            if g.state is None:
                continue
            ticker = h.pos.ticker
            mkt = m.markets.get(ticker)
            if mkt is not None and mkt.close_ns is not None and now >= mkt.close_ns and mkt.status == "active":
                m.market_watch.set_status(ticker, "closed", ctx, "market closed")
                continue
            exit_order = m.tracker.orders.get(g.exit_order) if g.exit_order else None
            lookup_due = g.lookup_at is not None and now >= g.lookup_at
            if lookup_due and exit_order is not None and exit_order.status == "unknown":
                m.handle(h, E.LOOKUP, ctx, "looking the exit up again", lookup_ns=m.config.lookup_retry_ns)
                ctx.out.append(LookupOrder(exit_order.client_order_id, ticker, exit_order.sent_ns))
            if g.state is TRIGGERED:
                if g.awaiting_confirm and g.confirm_at is not None and now >= g.confirm_at:
                    p = g.protection
                    confirm_ns = p.confirm_timeout_ns if p else 5_000_000_000
                    m.handle(h, E.CONFIRM_AGAIN, ctx, "no fresh price yet; asking again", confirm_ns=confirm_ns)
                    ctx.out.append(ConfirmQuote(ticker, h.pos.position_id))
                elif g.retry_at is not None and now >= g.retry_at:
                    q = m.quotes.get(ticker)
                    no_bid = q is not None and h.pos.side is not None and mark_of(h.pos.side, q, "bid") is None
                    if no_bid and not self.is_stale(q, g.protection, now):  # type: ignore[arg-type]
                        p = g.protection
                        retry_ns = p.retry_interval_ns if p is not None else 1_000_000_000
                        m.handle(h, E.WAIT, ctx, "no bid to sell into yet", retry_ns=retry_ns)
                    else:
                        m.exits.send_exit(h, ctx)
                continue
            if g.state is FAILED and g.retry_at is not None and now >= g.retry_at and not m.paused:
                q = m.quotes.get(ticker)
                mark = mark_of(h.pos.side, q, "bid") if q is not None and h.pos.side else None
                ctx.out.append(Alert("warning", ticker, f"trying the failed exit ({g.trigger}) again", now))
                self.fire(h, g.trigger or "manual", mark, None, q, ctx, "retrying a failed exit")
                continue
            if g.state is ARMED and g.protection is not None and not m.paused:
                deadline = self.time_exit_deadline(h)
                q = m.quotes.get(ticker)
                if deadline is not None and now >= deadline:
                    mark = mark_of(h.pos.side, q, "bid") if q is not None and h.pos.side else None
                    self.fire(h, "time_exit", mark, None, q, ctx, "time exit reached")
                    continue
                if q is not None:
                    self.evaluate(h, q, ctx)

    def time_exit_deadline(self, h: Holding) -> int | None:
        m = self.m
        p = h.guard.protection
        if p is None or p.time_exit is None:
            return None
        mkt = m.markets.get(h.pos.ticker)
        return p.time_exit.deadline(mkt.close_ns if mkt is not None else None)

    def compute_deadline(self) -> int | None:
        m = self.m
        best: int | None = None
        for h in m.ledger.holdings.values():
            g = h.guard
            if g.state is None:
                continue
            times: list[int | None] = [g.retry_at, g.confirm_at]
            if g.state is ARMED:
                times.append(self.time_exit_deadline(h))
                mkt = m.markets.get(h.pos.ticker)
                if mkt is not None and mkt.status == "active":
                    times.append(mkt.close_ns)
            exit_order = m.tracker.orders.get(g.exit_order) if g.exit_order else None
            if exit_order is not None and exit_order.status == "unknown":
                times.append(g.lookup_at)
            for t in times:
                if t is not None and (best is None or t < best):
                    best = t
        t = m.tracker.next_lookup()
        if t is not None and (best is None or t < best):
            best = t
        return best

    # ================================================================== commands
