"""Exits and the orders behind them for one monitor: pricing and sending an exit with a never-used id, what each
outcome means (filled, partly filled, rejected, unknown -> looked up -> sent again under the same id, never given
up), fills applied once to the position, and entries placed or tracked for a strategy."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Final

from kalshikit.core.actions import (
    Alert,
    LookupOrder,
    PlaceOrder,
)
from kalshikit.core.ctx import Ctx
from kalshikit.core.events import (
    Fill,
    OrderNotFound,
    OrderRejected,
    OrderUnknown,
    OrderUpdate,
    Side,
    SubmitEntry,
    TrackOrder,
)
from kalshikit.core.guard import GuardEvent, GuardState
from kalshikit.core.ledger import Holding
from kalshikit.core.market_state import HALTED, MarketState
from kalshikit.core.marks import mark_of
from kalshikit.core.orders import MAX_RESENDS, TrackedOrder
from kalshikit.core.positions import signed
from kalshikit.core.rules import ONE, Protection

if TYPE_CHECKING:
    from kalshikit.core.monitor import Monitor

EXIT_SENT = GuardState.EXIT_SENT
E = GuardEvent

TRIGGER_CODES = {
    "stop_loss": "sl",
    "take_profit": "tp",
    "trailing_stop": "ts",
    "break_even": "be",
    "time_exit": "tx",
    "manual": "mf",
}
DEFAULT_MAX_ATTEMPTS = 5
# Self-trade prevention of exits: "maker" cancels our own resting order that the exit would trade with and lets the
# exit go on; "taker_at_cross" (Kalshi's other choice) would cancel the exit itself, every time.
EXIT_STP: Final = "maker"
FAILED_RETRY_NS = 30_000_000_000  # a failed exit (futile attempts) is tried again this often
MAX_LOOKUP_BACKOFF_NS = 30_000_000_000


def exit_order_id(salt: str, position_id: str, trigger: str, sequence: int) -> str:
    """The client_order_id of exit order number ``sequence`` of ``position_id`` (fired by ``trigger``)."""
    digest = hashlib.blake2b(f"{salt}|{position_id}".encode(), digest_size=6).hexdigest()
    return f"kk-{digest}-{TRIGGER_CODES.get(trigger, 'xx')}{sequence}"


class ExitDesk:
    """Exit orders, their outcomes, and entries.

    Owned by one :class:`~kalshikit.core.monitor.Monitor` (``self.m``); not thread-safe.
    """

    def __init__(self, monitor: Monitor) -> None:
        self.m = monitor

    def exit_price(self, h: Holding, side: Side) -> tuple[str, int, int | None]:
        """Book side and YES limit price of an aggressive exit, respecting ``max_slippage`` when set."""
        m = self.m
        mkt = m.markets.get(h.pos.ticker)
        grid = mkt.grid if mkt is not None else MarketState().grid
        q = m.quotes.get(h.pos.ticker)
        ref = mark_of(side, q, "bid") if q is not None else None
        if ref is None:
            ref = h.guard.trigger_mark
        p = h.guard.protection
        slip = p.max_slippage if p is not None else None
        limit_own = grid.min_price if slip is None or ref is None else max(grid.min_price, ref - slip)
        if side == "yes":  # sell YES: a lower limit is more aggressive; round up to stay within the cap
            return "ask", grid.ceil(limit_own) or grid.min_price, ref
        yes_limit = ONE - limit_own  # buy YES back to close NO: a higher YES limit is more aggressive
        return "bid", grid.floor(yes_limit) or grid.max_price, ref

    def send_exit(self, h: Holding, ctx: Ctx) -> None:
        m = self.m
        pos, g = h.pos, h.guard
        side = pos.side
        if side is None:
            m.holdings.close(h, ctx, g.trigger or "external")
            return
        p = g.protection
        max_attempts = p.max_attempts if p is not None else DEFAULT_MAX_ATTEMPTS
        if g.attempt >= max_attempts:
            m.handle(h, E.EXHAUSTED, ctx, f"exit not complete after {g.attempt} attempts", retry_ns=FAILED_RETRY_NS)
            left = pos.abs_count / 100
            msg = (
                f"{pos.ticker}: exit ({g.trigger}) still {left:g} contracts open after {g.attempt} attempts that "
                f"filled nothing; trying again every {FAILED_RETRY_NS // 1_000_000_000} s (flatten, re-arm or "
                "unprotect to take over)"
            )
            ctx.out.append(Alert("error", pos.ticker, msg, ctx.now))
            m.decide(h, ctx, "exit_failed", g.trigger, None, None, None, msg)
            return
        mkt = m.markets.get(pos.ticker)
        if mkt is not None and mkt.status in HALTED:
            m.handle(h, E.HALT, ctx, "market closed; cannot exit", reason="market closed; cannot exit")
            return
        book_side, yes_price, ref = self.exit_price(h, side)
        coid = exit_order_id(m.config.id_salt, pos.position_id, g.trigger, g.sequence + 1)
        order = TrackedOrder(
            client_order_id=coid,
            ticker=pos.ticker,
            book_side=book_side,  # type: ignore[arg-type]
            count=pos.abs_count,
            purpose="exit",
            position_id=pos.position_id,
            trigger=g.trigger,
            attempt=g.attempt + 1,
            yes_price=yes_price,
            sent_ns=ctx.now,
        )
        m.tracker.add(order)
        m.dirty_orders.add(coid)
        m.handle(h, E.SEND, ctx, f"{g.trigger} exit attempt {g.attempt + 1}", order=coid)
        ctx.out.append(
            PlaceOrder(
                coid,
                pos.ticker,
                order.book_side,
                yes_price,
                pos.abs_count,
                pos.position_id,
                g.trigger,
                g.attempt,
                reference_price=ref,
                self_trade_prevention_type=EXIT_STP,
            )
        )

    def after_exit_done(self, h: Holding, order: TrackedOrder | None, ctx: Ctx) -> None:
        """The in-flight exit order is finished (executed, cancelled remainder, or a retryable rejection)."""
        m = self.m
        g = h.guard
        if g.state is not EXIT_SENT:
            return
        if h.pos.count == 0:
            m.holdings.close(h, ctx, g.trigger)
            return
        filled = order.filled if order else 0
        detail = f"filled {filled / 100:g} of {order.count / 100:g}; {h.pos.abs_count / 100:g} left" if order else ""
        m.decide(h, ctx, "exit_partial", g.trigger, None, None, None, detail)
        p = g.protection
        m.handle(
            h,
            E.PARTIAL,
            ctx,
            "remainder to exit",
            retry_ns=p.retry_interval_ns if p is not None else 1_000_000_000,
            progressed=filled > 0,
        )
        q = m.quotes.get(h.pos.ticker)
        side = h.pos.side
        # A quote that arrived after the order went out already shows the book it left: retry on it now.
        fresh = q is not None and order is not None and q.recv_ns > order.sent_ns
        if fresh and side is not None and mark_of(side, q, "bid") is not None:  # type: ignore[arg-type]
            self.send_exit(h, ctx)

    def on_order_update(self, u: OrderUpdate, ctx: Ctx) -> None:
        m = self.m
        o = m.tracker.find(u.client_order_id, u.order_id)
        if o is None:
            return  # not ours, or an archived order whose outcome is already counted
        finished = m.tracker.on_update(o, u)
        m.dirty_orders.add(o.client_order_id)
        self.apply_order_fills(o, ctx)
        if not finished:
            return
        h = m.ledger.holdings.get(o.ticker)
        if h is None or not o.position_id or h.pos.position_id != o.position_id:
            m.holdings.archive(o)  # finished, and it holds nothing open (never filled, or its position is gone)
            return
        if o.purpose == "exit" and h.guard.exit_order == o.client_order_id:
            self.after_exit_done(h, o, ctx)

    def apply_order_fills(self, o: TrackedOrder, ctx: Ctx) -> None:
        """Bring the position up to date with this order's fills, counting each contract once."""
        m = self.m
        if o.purpose == "exit":
            h = m.ledger.holdings.get(o.ticker)
            if h is None or h.pos.position_id != o.position_id:
                # A reduce-only exit of a position that is already closed here: its fills were counted when it
                # closed, or reconciliation will count them. They must never open a position of their own.
                m.tracker.absorb(o)
                return
        d = m.tracker.take_delta(o)
        if d is None:
            return
        m.holdings.apply_to_position(o.ticker, d.signed_count, d.yes_price, d.fee, ctx, o)

    def on_fill(self, f: Fill, ctx: Ctx) -> None:
        m = self.m
        if not m.tracker.first_sight(f.trade_id):
            return
        o = m.tracker.find(f.client_order_id, f.order_id)
        if o is None:
            if m.tracker.is_finished(f.client_order_id, f.order_id):
                return  # a late fill of an archived order of ours: its order report counted it
            m.holdings.apply_to_position(f.ticker, signed(f.book_side, f.count), f.yes_price, f.fee, ctx, None)
            return
        m.tracker.on_fill(o, f)
        m.dirty_orders.add(o.client_order_id)
        self.apply_order_fills(o, ctx)

    def on_track_order(self, e: TrackOrder, ctx: Ctx) -> None:
        m = self.m
        if e.client_order_id in m.tracker.orders:
            return
        if e.protection is not None and not isinstance(e.protection, Protection):
            raise TypeError("TrackOrder.protection must be a Protection or None")
        m.tracker.add(
            TrackedOrder(
                client_order_id=e.client_order_id,
                ticker=e.ticker,
                book_side=e.book_side,
                count=e.count,
                purpose=e.purpose,
                protection=e.protection,
                sent_ns=ctx.now,
            )
        )
        m.dirty_orders.add(e.client_order_id)

    def on_submit_entry(self, e: SubmitEntry, ctx: Ctx) -> None:
        m = self.m
        if e.client_order_id in m.tracker.orders or m.tracker.is_finished(e.client_order_id, None):
            ctx.out.append(Alert("error", e.ticker, f"entry {e.client_order_id} was submitted before", ctx.now))
            return
        m.tracker.add(
            TrackedOrder(
                client_order_id=e.client_order_id,
                ticker=e.ticker,
                book_side=e.book_side,
                count=e.count,
                purpose="entry",
                trigger="entry",
                attempt=1,
                yes_price=e.yes_price,
                protection=e.protection,
                sent_ns=ctx.now,
            )
        )
        m.dirty_orders.add(e.client_order_id)
        ctx.out.append(
            PlaceOrder(
                e.client_order_id,
                e.ticker,
                e.book_side,
                e.yes_price,
                e.count,
                "",
                "entry",
                1,
                time_in_force=e.time_in_force,
                reduce_only=False,
                purpose="entry",
            )
        )

    def on_order_rejected(self, e: OrderRejected, ctx: Ctx) -> None:
        m = self.m
        o = m.tracker.orders.get(e.client_order_id)
        if o is None or not o.in_flight:
            return
        o.status = "rejected"
        m.dirty_orders.add(o.client_order_id)
        h = m.ledger.holdings.get(o.ticker)
        if h is None or h.guard.exit_order != o.client_order_id or h.guard.state is not EXIT_SENT:
            if o.purpose == "entry" and o.applied == 0:
                m.holdings.archive(o)
            return
        level = "error" if e.terminal else "warning"
        msg = f"exit order {e.client_order_id} rejected: {e.code} {e.message}"
        ctx.out.append(Alert(level, o.ticker, msg, ctx.now))  # type: ignore[arg-type]
        if e.terminal:
            m.decide(h, ctx, "exit_rejected", h.guard.trigger, None, None, None, f"{e.code}: {e.message}")
            m.handle(h, E.REJECTED, ctx, f"exit rejected: {e.code}")
        else:
            self.after_exit_done(h, o, ctx)

    def on_order_unknown(self, e: OrderUnknown, ctx: Ctx) -> None:
        m = self.m
        o = m.tracker.orders.get(e.client_order_id)
        if o is None or not o.in_flight:
            return
        o.status = "unknown"
        m.dirty_orders.add(o.client_order_id)
        h = m.ledger.holdings.get(o.ticker)
        mine = h is not None and h.guard.exit_order == o.client_order_id and h.guard.state is EXIT_SENT
        # The first time, look at once; an order that keeps getting no answer is looked up less and less often.
        backoff = self.lookup_backoff(o.resends)
        if mine and h is not None:
            m.handle(h, E.LOOKUP, ctx, "exit outcome unknown", lookup_ns=backoff)
            m.decide(h, ctx, "exit_unknown", h.guard.trigger, None, None, None, e.reason)
        else:
            self.schedule_lookup(o, ctx.now)
        if o.resends == 0 or not mine:
            ctx.out.append(LookupOrder(o.client_order_id, o.ticker, o.sent_ns))

    def lookup_backoff(self, n: int) -> int:
        return min(MAX_LOOKUP_BACKOFF_NS, self.m.config.lookup_retry_ns << min(n, 8))

    def schedule_lookup(self, o: TrackedOrder, now: int) -> None:
        """An unknown order that is not a guard's exit (an entry) keeps its own lookup timer, spaced out."""
        o.lookup_at = now + self.lookup_backoff(o.lookups)
        o.lookups += 1
        self.m.dirty_orders.add(o.client_order_id)
        self.m.deadline_dirty = True

    def on_order_not_found(self, e: OrderNotFound, ctx: Ctx) -> None:
        m = self.m
        o = m.tracker.orders.get(e.client_order_id)
        if o is None or o.status != "unknown":
            return
        h = m.ledger.holdings.get(o.ticker)
        if h is None or h.guard.exit_order != o.client_order_id or h.guard.state is not EXIT_SENT:
            o.status = "rejected"  # an entry (or an exit of a position gone) that never reached the exchange
            m.dirty_orders.add(o.client_order_id)
            if o.applied == 0 and (h is None or o.purpose == "exit"):
                m.holdings.archive(o)
            return
        # The order never reached the exchange: send it again under the same id (a duplicate would be refused).
        # It is never given up: the position's exit must happen; a person hears of it after MAX_RESENDS tries.
        o.resends += 1
        o.status = "pending"
        o.sent_ns = ctx.now
        m.dirty_orders.add(o.client_order_id)
        if o.resends == MAX_RESENDS:
            msg = f"exit {o.client_order_id} has not reached the exchange after {o.resends} sends; still trying"
            ctx.out.append(Alert("error", o.ticker, msg, ctx.now))
        m.handle(h, E.RESOLVED, ctx, "lookup found no such order; sending it again")
        m.decide(h, ctx, "exit_resent", h.guard.trigger, None, None, None, "lookup found no such order")
        ctx.out.append(
            PlaceOrder(
                o.client_order_id,
                o.ticker,
                o.book_side,
                o.yes_price or 0,
                o.count,
                o.position_id,
                o.trigger,
                o.attempt,
                self_trade_prevention_type=EXIT_STP,
            )
        )
