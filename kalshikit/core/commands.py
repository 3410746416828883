"""The user's commands for one monitor: protect (refusing levels the price already crosses unless an immediate
exit is allowed), unprotect, flatten and pause."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kalshikit.core.actions import (
    Alert,
)
from kalshikit.core.ctx import Ctx
from kalshikit.core.events import (
    ConfirmFailed,
    Flatten,
    Protect,
    SetPaused,
    Unprotect,
)
from kalshikit.core.guard import GuardEvent, GuardState
from kalshikit.core.ledger import Holding
from kalshikit.core.market_state import HALTED
from kalshikit.core.marks import mark_of
from kalshikit.core.rules import Protection, crossed_rules
from kalshikit.core.views import describe

if TYPE_CHECKING:
    from kalshikit.core.monitor import Monitor

TRIGGERED = GuardState.TRIGGERED
EXIT_SENT = GuardState.EXIT_SENT
E = GuardEvent


class Commands:
    """What a user asks of the monitor.

    Owned by one :class:`~kalshikit.core.monitor.Monitor` (``self.m``); not thread-safe.
    """

    def __init__(self, monitor: Monitor) -> None:
        self.m = monitor

    def on_protect(self, e: Protect, ctx: Ctx) -> None:
        m = self.m
        h = m.ledger.holdings.get(e.ticker)
        if h is None:
            ctx.out.append(Alert("error", e.ticker, "cannot protect: no open position in this market", ctx.now))
            return
        if not isinstance(e.protection, Protection):
            raise TypeError("Protect.protection must be a Protection")
        g = h.guard
        if g.state in (EXIT_SENT, TRIGGERED):
            g.protection = e.protection  # takes effect if the exit fails and the guard is re-armed
            m.dirty_holdings.add(e.ticker)
            ctx.out.append(Alert("warning", e.ticker, "an exit is in progress; new rules apply if it fails", ctx.now))
            return
        crossed = [] if e.allow_immediate else self.crossed(h, e.protection, ctx.now)
        if crossed:
            msg = (
                f"rules refused, nothing changed: {'; '.join(crossed)}; they would exit at once "
                "(pass allow_immediate=True to exit now, or choose levels the price has not reached)"
            )
            ctx.out.append(Alert("error", e.ticker, msg, ctx.now))
            m.decide(h, ctx, "protect_refused", "", None, None, None, "; ".join(crossed))
            return
        g.protection = e.protection
        m.dirty_holdings.add(e.ticker)
        m.decide(h, ctx, "protect", "", None, None, None, describe(e.protection))
        m.holdings.rearm(h, ctx)

    def crossed(self, h: Holding, p: Protection, now: int) -> list[str]:
        m = self.m
        entry = h.pos.entry_price
        side = h.pos.side
        if entry is None or side is None:
            return []
        q = m.quotes.get(h.pos.ticker)
        mark = mark_of(side, q, p.trigger_source) if q is not None else None
        mkt = m.markets.get(h.pos.ticker)
        return crossed_rules(p, p.resolve(entry), mark, now, mkt.close_ns if mkt is not None else None)

    def on_unprotect(self, e: Unprotect, ctx: Ctx) -> None:
        m = self.m
        h = m.ledger.holdings.get(e.ticker)
        if h is None or h.guard.state is None:
            return
        g = h.guard
        if g.state in (EXIT_SENT, TRIGGERED):
            ctx.out.append(Alert("warning", e.ticker, "an exit is in progress; it continues", ctx.now))
            return
        m.decide(h, ctx, "unprotect", "", None, None, None, "")
        m.handle(h, E.UNPROTECT, ctx, "rules removed")
        g.protection = None
        g.levels = None
        g.rejected = ()

    def on_flatten(self, e: Flatten, ctx: Ctx) -> None:
        m = self.m
        h = m.ledger.holdings.get(e.ticker)
        if h is None:
            ctx.out.append(Alert("error", e.ticker, "cannot flatten: no open position in this market", ctx.now))
            return
        g = h.guard
        if g.state in (EXIT_SENT, TRIGGERED):
            ctx.out.append(Alert("info", e.ticker, "an exit is already in progress", ctx.now))
            return
        mkt = m.markets.get(e.ticker)
        if mkt is not None and mkt.status in HALTED:
            ctx.out.append(Alert("error", e.ticker, f"cannot flatten: market is {mkt.status}", ctx.now))
            return
        if g.state is None:
            g.protection = g.protection or Protection()
            m.handle(h, E.ARM, ctx, "flatten requested")
        q = m.quotes.get(e.ticker)
        side = h.pos.side
        mark = mark_of(side, q, "bid") if q is not None and side is not None else None
        m.watch.fire(h, "manual", mark, None, q, ctx, e.reason)

    def on_set_paused(self, e: SetPaused, ctx: Ctx) -> None:
        m = self.m
        m.paused = e.paused
        m.dirty_monitor = True
        ctx.out.append(Alert("info", "", "monitor paused" if e.paused else "monitor resumed", ctx.now))

    def on_confirm_failed(self, e: ConfirmFailed, ctx: Ctx) -> None:
        m = self.m
        h = m.ledger.holdings.get(e.ticker)
        if h is None or not h.guard.awaiting_confirm:
            return
        ctx.out.append(Alert("warning", e.ticker, f"could not confirm the trigger over REST: {e.reason}", ctx.now))

    # ================================================================== helpers
