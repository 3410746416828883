"""Immutable views of the monitor's positions, for dashboards, status lines and tables (read-only copies)."""

from __future__ import annotations

import functools

import msgspec

from kalshikit.core.events import Quote
from kalshikit.core.ledger import Holding
from kalshikit.core.marks import mark_of
from kalshikit.core.rules import Protection, TriggerSource


class PositionView(msgspec.Struct, frozen=True):
    """One row of the dashboard, immutable."""

    ticker: str
    position_id: str
    side: str | None
    count: int
    entry_price: int | None
    yes_bid: int | None
    yes_ask: int | None
    mark: int | None
    unrealized: int | None
    realized: int
    fees: int
    state: str
    stop: int | None
    stop_rule: str
    take_profit: int | None
    trailing_peak: int | None
    time_exit_ns: int | None
    distance_to_trigger: int | None
    nearest_trigger: str
    quote_recv_ns: int | None
    stale: bool
    attempt: int
    trigger: str
    market_status: str
    rules: str
    opened_ns: int = 0
    stop_loss_level: int | None = None  # each stop rule's own level (``stop`` is the highest of them)
    break_even_level: int | None = None
    trailing_level: int | None = None
    has_trailing: bool = False
    rules_rejected: str = ""  # the rules that could not be armed on this position, with the reason
    last: int | None = None  # last trade, YES price
    close_ns: int | None = None  # when the market closes, when known
    protection: Protection | None = None  # the rules as given (immutable), e.g. to show them for editing


def view_of(
    h: Holding,
    q: Quote | None,
    *,
    now: int,
    stale: bool,
    market_status: str,
    time_exit_ns: int | None,
    close_ns: int | None = None,
) -> PositionView:
    pos, g = h.pos, h.guard
    side = pos.side
    p = g.protection
    source: TriggerSource = p.trigger_source if p is not None else "bid"
    mark = mark_of(side, q, source) if q is not None and side is not None else None
    stop, stop_rule = g.stop_level()
    sl_level, be_level, trail_level = g.rule_levels()
    tp = g.levels.take_profit if g.levels is not None else None
    nearest = ""
    dist: int | None = None
    if mark is not None:
        if stop is not None:
            dist, nearest = mark - stop, stop_rule
        if tp is not None and (dist is None or tp - mark < dist):
            dist, nearest = tp - mark, "take_profit"
    return PositionView(
        ticker=pos.ticker,
        position_id=pos.position_id,
        side=side,
        count=pos.abs_count,
        entry_price=pos.entry_price,
        yes_bid=q.yes_bid if q else None,
        yes_ask=q.yes_ask if q else None,
        mark=mark,
        unrealized=pos.unrealized(mark),
        realized=pos.realized,
        fees=pos.fees,
        state=g.state.value if g.state is not None else "unprotected",
        stop=stop,
        stop_rule=stop_rule,
        take_profit=tp,
        trailing_peak=g.peak,
        time_exit_ns=time_exit_ns,
        distance_to_trigger=dist,
        nearest_trigger=nearest,
        quote_recv_ns=q.recv_ns if q else None,
        stale=stale,
        attempt=g.attempt,
        trigger=g.trigger,
        market_status=market_status,
        rules=describe(p) if p is not None else "",
        opened_ns=pos.opened_ns,
        stop_loss_level=sl_level,
        break_even_level=be_level,
        trailing_level=trail_level,
        has_trailing=p is not None and p.trailing is not None,
        rules_rejected="; ".join(reason for _, reason in g.rejected),
        last=q.last if q else None,
        close_ns=close_ns,
        protection=p,
    )


@functools.lru_cache(maxsize=1024)
def describe(p: Protection) -> str:
    """A short human description of a Protection ("SL 0.1000 from entry, TP ..., trail ..."); cached, a
    protection being immutable."""
    parts = []
    if p.stop_loss:
        parts.append(f"SL {p.stop_loss.describe()}")
    if p.take_profit:
        parts.append(f"TP {p.take_profit.describe()}")
    if p.trailing:
        act = f" after +{p.trailing.activation.describe()}" if p.trailing.activation else ""
        parts.append(f"trail {p.trailing.distance.describe()}{act}")
    if p.break_even:
        parts.append(f"BE after {p.break_even.after.describe()}")
    if p.time_exit:
        if p.time_exit.before_close_s is not None:
            parts.append(f"exit {p.time_exit.before_close_s}s before close")
        if p.time_exit.at_ns is not None:
            parts.append(f"exit at {p.time_exit.at_ns}")
    if p.trigger_source != "bid":
        parts.append(f"on {p.trigger_source}")
    return ", ".join(parts) or "no rules"
