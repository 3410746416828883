"""The stop-loss / take-profit monitor: a pure state machine shared by live trading and replay.

``feed(event, now_ns) -> list[Action]`` and ``next_deadline()``; it never reads a clock, sleeps, opens a socket or
touches a file. Live, a WebSocket thread feeds it quotes and an executor carries out its orders; in replay, a loop
feeds it a recording and a fill model answers. Nothing here knows which.

Semantics (prices are own-side, see :mod:`kalshikit.core.rules`):

- A long YES position is marked on the YES bid, a long NO position on the NO bid (= 1 − YES ask); the trigger
  source may instead be the last trade or the mid. A side with no bid is not a price and never triggers.
- If a stop (stop-loss, break-even or trailing) and the take-profit are crossed by the same quote, the stop wins
  and the decision says so.
- A trigger on a stale price (older than ``stale_after``, or from before the feed went down) follows the
  protection's stale policy: ``hold`` (do nothing), ``confirm`` (ask for a REST read and decide on that), ``fire``.
- An exit is an aggressive IOC reduce-only limit with a deterministic ``client_order_id`` per (position, trigger,
  attempt). Only one exit is in flight per position; an unknown outcome blocks the next one until it is looked up;
  a remainder is retried on the next quote with a bid (or after ``retry_interval``) until flat or out of attempts.
- Fills are deduplicated by ``trade_id``; an order's fill count is the larger of what the exchange reported and
  what its fills add up to, so the two sources never count twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from kalshikit.core.actions import (
    Action,
    Alert,
    ConfirmFailed,
    ConfirmQuote,
    Decision,
    Flatten,
    LookupOrder,
    MarketInfo,
    OrderNotFound,
    OrderRejected,
    OrderUnknown,
    PlaceOrder,
    PositionClosed,
    Protect,
    Reconcile,
    SetPaused,
    TrackOrder,
    Transition,
    Unprotect,
    Unwatch,
    Watch,
)
from kalshikit.core.events import (
    BookSide,
    FeedStatus,
    Fill,
    Lifecycle,
    OrderUpdate,
    PositionUpdate,
    Quote,
    Settlement,
    Side,
    Tick,
    Trade,
)
from kalshikit.core.grid import LINEAR_CENT, PriceGrid
from kalshikit.core.guard import GuardState, check_transition
from kalshikit.core.positions import Position, side_of, signed, yes_payout
from kalshikit.core.rules import (
    ONE,
    Protection,
    ResolvedLevels,
    TriggerSource,
    protection_from_dict,
    protection_to_dict,
)
from kalshikit.errors import RuleError

ARMED = GuardState.ARMED
TRIGGERED = GuardState.TRIGGERED
EXIT_SENT = GuardState.EXIT_SENT
CLOSED = GuardState.CLOSED
FAILED = GuardState.FAILED
DISARMED = GuardState.DISARMED

TRIGGER_CODES = {
    "stop_loss": "sl",
    "take_profit": "tp",
    "trailing_stop": "ts",
    "break_even": "be",
    "time_exit": "tx",
    "manual": "mf",
}
_SEEN_TRADES_MAX = 1_000_000
DEFAULT_MAX_ATTEMPTS = 5
MAX_RESENDS = 3


def mark_of(side: Side, quote: Quote, source: TriggerSource) -> int | None:
    """The own-side price a rule compares with, or None when there is none (empty side, no trade yet)."""
    if source == "bid":
        if side == "yes":
            return quote.yes_bid
        return None if quote.yes_ask is None else ONE - quote.yes_ask
    if source == "last":
        if quote.last is None:
            return None
        return quote.last if side == "yes" else ONE - quote.last
    if quote.yes_bid is None or quote.yes_ask is None:
        return None
    mid2 = quote.yes_bid + quote.yes_ask
    return mid2 // 2 if side == "yes" else (2 * ONE - mid2) // 2


def exit_order_id(salt: str, position_id: str, trigger: str, attempt: int) -> str:
    """Deterministic client_order_id for attempt ``attempt`` of exiting ``position_id`` because of ``trigger``."""
    digest = hashlib.blake2b(f"{salt}|{position_id}".encode(), digest_size=6).hexdigest()
    return f"kk-{digest}-{TRIGGER_CODES.get(trigger, 'xx')}{attempt}"


@dataclass
class TrackedOrder:
    client_order_id: str
    ticker: str
    book_side: BookSide
    count: int
    purpose: str
    position_id: str = ""
    trigger: str = ""
    attempt: int = 0
    yes_price: int | None = None
    order_id: str | None = None
    status: str = "pending"  # pending | unknown | done | rejected
    reported_filled: int = 0
    fill_total: int = 0
    fill_value: int = 0  # Σ yes_price × count of fills
    applied: int = 0  # how much of this order's fills the position already contains
    fees_reported: int = 0
    fees_fills: int = 0
    fees_applied: int = 0
    average_price: int | None = None
    protection: Any = None
    sent_ns: int = 0
    resends: int = 0  # sent again after a lookup found nothing

    @property
    def filled(self) -> int:
        return max(self.reported_filled, self.fill_total)

    @property
    def in_flight(self) -> bool:
        return self.status in ("pending", "unknown")


@dataclass
class Guarded:
    """A position and everything the monitor keeps about protecting it."""

    pos: Position
    protection: Protection | None = None
    levels: ResolvedLevels | None = None
    state: GuardState | None = None  # None = not protected
    peak: int | None = None  # trailing stop: best own-side mark since activation
    break_even_active: bool = False
    trigger: str = ""
    trigger_mark: int | None = None
    trigger_ns: int | None = None
    attempt: int = 0  # attempts in the current exit episode (bounded by max_attempts)
    sequence: int = 0  # every exit order of this position, ever (makes each client_order_id unique)
    order: TrackedOrder | None = None
    awaiting_confirm: bool = False
    confirm_at: int | None = None
    retry_at: int | None = None
    lookup_at: int | None = None
    held_stale: bool = False
    disarm_reason: str = ""
    closing_reason: str = ""

    @property
    def side(self) -> Side | None:
        return self.pos.side

    def rule_levels(self) -> tuple[int | None, int | None, int | None]:
        """The current own-side level of each stop rule: (stop-loss, break-even once active, trailing once active)."""
        lv = self.levels
        stop = lv.stop if lv is not None else None
        be = lv.break_even_stop if lv is not None and self.break_even_active else None
        trail = None
        if self.peak is not None and self.protection is not None and self.protection.trailing is not None:
            trail = self.peak - self.protection.trail_gap(self.peak)
        return stop, be, trail

    def stop_level(self) -> tuple[int | None, str]:
        """The effective stop (highest of stop-loss, break-even and trailing) and which rule sets it."""
        best: int | None = None
        name = ""
        lv = self.levels
        if lv is not None:
            if lv.stop is not None:
                best, name = lv.stop, "stop_loss"
            be = lv.break_even_stop
            if self.break_even_active and be is not None and (best is None or be > best):
                best, name = be, "break_even"
        if self.peak is not None and self.protection is not None and self.protection.trailing is not None:
            trail = self.peak - self.protection.trail_gap(self.peak)
            if best is None or trail > best:
                best, name = trail, "trailing_stop"
        return best, name


class MarketState(msgspec.Struct):
    close_ns: int | None = None
    grid: PriceGrid = LINEAR_CENT
    status: str = "active"  # active | paused | closed | determined | settled
    result: str | None = None
    settlement_value: int | None = None


@dataclass
class MonitorConfig:
    """``id_salt`` makes client_order_ids unique to one journal; ``default_protection`` arms new positions."""

    id_salt: str = "kalshikit"
    default_protection: Protection | None = None
    lookup_retry_ns: int = 2_000_000_000


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


@dataclass
class _Ctx:
    now: int
    out: list[Action] = field(default_factory=list)


class Monitor:
    """See the module docstring. Not thread-safe: one thread owns a monitor."""

    def __init__(self, config: MonitorConfig | None = None) -> None:
        self.config = config or MonitorConfig()
        self.positions: dict[str, Guarded] = {}
        self.closed: list[PositionClosed] = []
        self.markets: dict[str, MarketState] = {}
        self.quotes: dict[str, Quote] = {}
        self.orders: dict[str, TrackedOrder] = {}
        self._orders_by_exchange_id: dict[str, TrackedOrder] = {}
        self._seen_trades: dict[str, None] = {}
        self._epochs: dict[str, int] = {}
        self._closed_at: dict[str, int] = {}  # when each market's last position closed here
        self.feed_up = True
        self._feed_down_since = 0
        self.paused = False
        self._deadline: int | None = None
        self._deadline_dirty = False
        self._handlers: dict[type, Callable[[Any, _Ctx], None]] = {
            Quote: self._on_quote,
            Trade: self._on_trade,
            Fill: self._on_fill,
            OrderUpdate: self._on_order_update,
            PositionUpdate: self._on_position_update,
            Lifecycle: self._on_lifecycle,
            Settlement: self._on_settlement,
            FeedStatus: self._on_feed_status,
            Tick: self._on_tick,
            Protect: self._on_protect,
            Unprotect: self._on_unprotect,
            Flatten: self._on_flatten,
            SetPaused: self._on_set_paused,
            MarketInfo: self._on_market_info,
            TrackOrder: self._on_track_order,
            OrderRejected: self._on_order_rejected,
            OrderUnknown: self._on_order_unknown,
            OrderNotFound: self._on_order_not_found,
            ConfirmFailed: self._on_confirm_failed,
            Reconcile: self._on_reconcile,
        }

    # ================================================================== public API
    def feed(self, event: Any, now_ns: int) -> list[Action]:
        """Feed one event at time ``now_ns``; returns what the driver must do, in order."""
        if type(event) is Quote:  # the hot path, kept short
            self.quotes[event.ticker] = event
            g = self.positions.get(event.ticker)
            if g is None or g.state is None or (g.state is not ARMED and g.state is not TRIGGERED):
                return []
            ctx = _Ctx(now_ns)
            if g.state is ARMED:
                self._evaluate(g, event, ctx)
            else:
                self._on_triggered_quote(g, event, ctx)
            return ctx.out
        handler = self._handlers.get(type(event))
        if handler is None:
            raise TypeError(f"the monitor does not handle {type(event).__name__}")
        ctx = _Ctx(now_ns)
        handler(event, ctx)
        return ctx.out

    def next_deadline(self) -> int | None:
        """The earliest time at which time alone could make the monitor act (feed a Tick then)."""
        if self._deadline_dirty:
            self._deadline = self._compute_deadline()
            self._deadline_dirty = False
        return self._deadline

    def quiet_band(self, ticker: str) -> tuple[int, int, Side, TriggerSource] | None:
        """For replay speed: own-side marks strictly inside ``(low, high)`` change nothing for this market.

        Returns None when every quote of the market matters (a guard waiting to retry or confirm, paused or
        stale handling). A position without rules returns a band no mark can leave.
        """
        g = self.positions.get(ticker)
        if g is None or g.state is None or g.state is not ARMED:
            if g is not None and g.state is TRIGGERED:
                return None
            return (-1, ONE + 1, "yes", "bid")
        if self.paused or not self.feed_up or g.held_stale or g.protection is None or g.levels is None:
            return None
        side = g.pos.side
        if side is None:
            return None
        low, _ = g.stop_level()
        high = ONE + 1
        lv = g.levels
        p = g.protection
        if lv.take_profit is not None:
            high = min(high, lv.take_profit)
        if p.trailing is not None:
            if g.peak is None:
                high = min(high, lv.trail_activation if lv.trail_activation is not None else -1)
            else:
                high = min(high, g.peak)
        if lv.break_even_at is not None and not g.break_even_active:
            high = min(high, lv.break_even_at)
        return (-1 if low is None else low, high, side, p.trigger_source)

    def observe(self, quote: Quote) -> None:
        """Remember a quote without evaluating it: exactly what feeding it does when its mark lies inside
        :meth:`quiet_band` (replay skips such quotes and only records the latest)."""
        self.quotes[quote.ticker] = quote

    def snapshot(self, now_ns: int) -> tuple[PositionView, ...]:
        """An immutable view of every open position (for the dashboard and status lines)."""
        return tuple(self._view(g, now_ns) for g in self.positions.values())

    def position(self, ticker: str) -> Position | None:
        g = self.positions.get(ticker)
        return g.pos if g else None

    # ================================================================== persistence
    _POSITION_FIELDS = (
        "count",
        "cost",
        "realized",
        "fees",
        "opened_ns",
        "max_abs_count",
        "exit_value",
        "exit_count",
        "opened_side",
        "opened_cost",
        "opened_count",
        "updated_ns",
    )
    _GUARD_FIELDS = (
        "peak",
        "break_even_active",
        "trigger",
        "trigger_mark",
        "trigger_ns",
        "attempt",
        "sequence",
        "awaiting_confirm",
        "disarm_reason",
    )

    def export_position(self, ticker: str) -> dict[str, Any] | None:
        """Everything needed to restore one position after a restart, JSON-safe."""
        g = self.positions.get(ticker)
        if g is None:
            return None
        pos = g.pos
        st: dict[str, Any] = {"ticker": pos.ticker, "position_id": pos.position_id}
        st.update({k: getattr(pos, k) for k in self._POSITION_FIELDS})
        st.update({k: getattr(g, k) for k in self._GUARD_FIELDS})
        st["state"] = g.state.value if g.state is not None else None
        st["protection"] = protection_to_dict(g.protection) if g.protection is not None else None
        st["order"] = g.order.client_order_id if g.order is not None and g.order.in_flight else None
        m = self.markets.get(ticker)
        st["market"] = {"close_ns": m.close_ns, "status": m.status} if m is not None else None
        return st

    def restore(
        self, states: list[dict[str, Any]], open_orders: list[dict[str, Any]], epochs: dict[str, int], now_ns: int
    ) -> list[Action]:
        """Rebuild positions and guards from the journal. Orders that may exist with an unseen outcome are
        marked unknown and looked up before anything else is sent for their positions."""
        ctx = _Ctx(now_ns)
        self._epochs.update(epochs)
        for st in states:
            ticker = st["ticker"]
            pos = Position(ticker, st["position_id"])
            for k in self._POSITION_FIELDS:
                setattr(pos, k, st.get(k, getattr(pos, k)))
            g = Guarded(pos)
            for k in self._GUARD_FIELDS:
                setattr(g, k, st.get(k, getattr(g, k)))
            g.protection = protection_from_dict(st["protection"]) if st.get("protection") else None
            g.state = GuardState(st["state"]) if st.get("state") else None
            if g.protection is not None and pos.entry_price is not None:
                try:
                    g.levels = g.protection.resolve(pos.entry_price)
                except RuleError:
                    g.levels = None
            if st.get("market"):
                m = self._market(ticker)
                m.close_ns = st["market"].get("close_ns")
                m.status = st["market"].get("status", "active")
            epoch = int(st["position_id"].rsplit("#", 1)[-1]) if "#" in st["position_id"] else 0
            self._epochs[ticker] = max(self._epochs.get(ticker, 0), epoch)
            self.positions[ticker] = g
            ctx.out.append(Watch(ticker))
        for row in open_orders:
            o = TrackedOrder(
                client_order_id=row["client_order_id"],
                ticker=row["ticker"],
                book_side=row["book_side"],
                count=int(row["count"]),
                purpose=row["purpose"],
                position_id=row["position_id"],
                trigger=row["trigger"],
                attempt=int(row["attempt"]),
                yes_price=int(row["yes_price"]),
                order_id=row.get("order_id"),
                status="unknown",
                sent_ns=now_ns,
            )
            self.orders[o.client_order_id] = o
            if o.order_id:
                self._orders_by_exchange_id[o.order_id] = o
            owner = self.positions.get(o.ticker)
            if owner is not None and owner.pos.position_id == o.position_id and o.purpose == "exit":
                if owner.state is not EXIT_SENT:  # crashed between journaling and the state save
                    owner.state = EXIT_SENT
                owner.order = o
                owner.lookup_at = now_ns + self.config.lookup_retry_ns
            ctx.out.append(LookupOrder(o.client_order_id, o.ticker))
        for g in self.positions.values():
            if g.state is EXIT_SENT and (g.order is None or not g.order.in_flight):
                # The exit finished but the crash came before its result was saved: decide again from the
                # exchange's position (reconciliation) by retrying the remainder.
                g.state = TRIGGERED
                g.retry_at = now_ns
        self._deadline_dirty = True
        return ctx.out

    @property
    def epochs(self) -> dict[str, int]:
        return dict(self._epochs)

    # ================================================================== market data
    def _on_quote(self, q: Quote, ctx: _Ctx) -> None:  # reached via feed()'s fast path only for Quote subclasses
        self.quotes[q.ticker] = q
        g = self.positions.get(q.ticker)
        if g is None or g.state is None:
            return
        if g.state is ARMED:
            self._evaluate(g, q, ctx)
        elif g.state is TRIGGERED:
            self._on_triggered_quote(g, q, ctx)

    def _on_trade(self, t: Trade, ctx: _Ctx) -> None:
        q = self.quotes.get(t.ticker)
        if q is None:
            return
        self._on_quote(msgspec.structs.replace(q, last=t.yes_price, exchange_ns=t.exchange_ns or q.exchange_ns), ctx)

    def _is_stale(self, q: Quote, p: Protection, now: int) -> bool:
        if now - q.recv_ns > p.stale_after_ns:
            return True
        return not self.feed_up and q.source != "rest" and q.recv_ns <= self._feed_down_since

    def _check(self, g: Guarded, q: Quote) -> tuple[str, int, int, str] | None:
        """Ratchet the trailing stop / break-even on this quote and return (trigger, mark, level, note) if any."""
        p = g.protection
        lv = g.levels
        side = g.pos.side
        if p is None or lv is None or side is None:
            return None
        mark = mark_of(side, q, p.trigger_source)
        if mark is None:
            return None
        if lv.break_even_at is not None and not g.break_even_active and mark >= lv.break_even_at:
            g.break_even_active = True
            self._deadline_dirty = True
        if p.trailing is not None:
            if g.peak is None:
                if lv.trail_activation is None or mark >= lv.trail_activation:
                    g.peak = mark
            elif mark > g.peak:
                g.peak = mark
        stop, stop_rule = g.stop_level()
        stop_hit = stop is not None and mark <= stop
        tp_hit = lv.take_profit is not None and mark >= lv.take_profit
        if stop_hit:
            note = "stop and take-profit both crossed by one quote; stop wins" if tp_hit else ""
            return stop_rule, mark, stop, note  # type: ignore[return-value]
        if tp_hit:
            return "take_profit", mark, lv.take_profit, ""  # type: ignore[return-value]
        return None

    def _evaluate(self, g: Guarded, q: Quote, ctx: _Ctx) -> None:
        if q.recv_ns < g.pos.opened_ns:
            return  # a price from before the position existed says nothing about it (e.g. a re-opened market)
        hit = self._check(g, q)
        if hit is None:
            g.held_stale = False
            return
        if self.paused:
            return
        trigger, mark, level, note = hit
        p = g.protection
        assert p is not None
        if self._is_stale(q, p, ctx.now):
            if p.stale_policy == "hold":
                if not g.held_stale:
                    g.held_stale = True
                    self._decide(g, ctx, "held_stale", trigger, mark, level, q, "price is stale; policy hold")
                return
            if p.stale_policy == "confirm":
                self._move(g, TRIGGERED, ctx, f"{trigger} on a stale price; confirming over REST")
                g.trigger, g.trigger_mark, g.trigger_ns = trigger, mark, ctx.now
                g.awaiting_confirm = True
                g.confirm_at = ctx.now + p.confirm_timeout_ns
                self._deadline_dirty = True
                self._decide(g, ctx, "confirm_requested", trigger, mark, level, q, note)
                ctx.out.append(ConfirmQuote(g.pos.ticker, g.pos.position_id))
                return
        self._fire(g, trigger, mark, level, q, ctx, note)

    def _fire(
        self, g: Guarded, trigger: str, mark: int | None, level: int | None, q: Quote | None, ctx: _Ctx, note: str = ""
    ) -> None:
        if g.state is not TRIGGERED:
            self._move(g, TRIGGERED, ctx, trigger)
        g.trigger, g.trigger_mark, g.trigger_ns = trigger, mark, ctx.now
        g.awaiting_confirm = False
        g.confirm_at = None
        g.attempt = 0
        self._decide(g, ctx, "trigger", trigger, mark, level, q, note)
        self._send_exit(g, ctx)

    def _on_triggered_quote(self, g: Guarded, q: Quote, ctx: _Ctx) -> None:
        p = g.protection
        side = g.pos.side
        if g.awaiting_confirm and p is not None:
            if self._is_stale(q, p, ctx.now):
                return
            hit = self._check(g, q)
            if hit is None:
                mark = mark_of(side, q, p.trigger_source) if side else None
                g.awaiting_confirm = False
                g.confirm_at = None
                self._deadline_dirty = True
                self._decide(g, ctx, "not_confirmed", g.trigger, mark, None, q, f"fresh {q.source} price")
                self._move(g, ARMED, ctx, "trigger not confirmed by a fresh price")
                return
            trigger, mark, level, note = hit
            self._decide(g, ctx, "confirmed", trigger, mark, level, q, f"fresh {q.source} price")
            self._fire(g, trigger, mark, level, q, ctx, note)
            return
        if g.retry_at is not None and side is not None and mark_of(side, q, "bid") is not None:
            self._send_exit(g, ctx)

    # ================================================================== exits
    def _exit_price(self, g: Guarded, side: Side) -> tuple[BookSide, int, int | None]:
        """Book side and YES limit price of an aggressive exit, respecting ``max_slippage`` when set."""
        grid = self.markets.get(g.pos.ticker, MarketState()).grid
        q = self.quotes.get(g.pos.ticker)
        ref = mark_of(side, q, "bid") if q is not None else None
        if ref is None:
            ref = g.trigger_mark
        p = g.protection
        slip = p.max_slippage if p is not None else None
        if slip is None or ref is None:
            limit_own = grid.min_price
        else:
            limit_own = max(grid.min_price, ref - slip)
        if side == "yes":  # sell YES: a lower limit is more aggressive; round up to stay within the cap
            return "ask", grid.ceil(limit_own) or grid.min_price, ref
        yes_limit = ONE - limit_own  # buy YES back to close NO: a higher YES limit is more aggressive
        return "bid", grid.floor(yes_limit) or grid.max_price, ref

    def _send_exit(self, g: Guarded, ctx: _Ctx) -> None:
        pos = g.pos
        side = pos.side
        g.retry_at = None
        self._deadline_dirty = True
        if side is None:
            self._close(g, ctx, g.trigger or "external")
            return
        p = g.protection
        max_attempts = p.max_attempts if p is not None else DEFAULT_MAX_ATTEMPTS
        if g.attempt >= max_attempts:
            self._move(g, FAILED, ctx, f"exit not complete after {g.attempt} attempts")
            left = pos.abs_count / 100
            msg = f"{pos.ticker}: exit ({g.trigger}) still {left:g} contracts open after {g.attempt} attempts"
            ctx.out.append(Alert("error", pos.ticker, msg, ctx.now))
            self._decide(g, ctx, "exit_failed", g.trigger, None, None, None, msg)
            return
        if self.markets.get(pos.ticker, MarketState()).status in ("closed", "determined", "settled"):
            self._move(g, DISARMED, ctx, "market closed; cannot exit")
            return
        g.attempt += 1
        g.sequence += 1
        book_side, yes_price, ref = self._exit_price(g, side)
        coid = exit_order_id(self.config.id_salt, pos.position_id, g.trigger, g.sequence)
        order = TrackedOrder(
            client_order_id=coid,
            ticker=pos.ticker,
            book_side=book_side,
            count=pos.abs_count,
            purpose="exit",
            position_id=pos.position_id,
            trigger=g.trigger,
            attempt=g.attempt,
            yes_price=yes_price,
            sent_ns=ctx.now,
        )
        self.orders[coid] = order
        g.order = order
        self._move(g, EXIT_SENT, ctx, f"{g.trigger} exit attempt {g.attempt}")
        ctx.out.append(
            PlaceOrder(
                coid,
                pos.ticker,
                book_side,
                yes_price,
                pos.abs_count,
                pos.position_id,
                g.trigger,
                g.attempt,
                reference_price=ref,
            )
        )

    def _after_exit_done(self, g: Guarded, ctx: _Ctx) -> None:
        """The in-flight exit order is finished (executed, cancelled remainder, or rejected)."""
        if g.state is not EXIT_SENT:
            return
        order = g.order
        g.order = None
        if g.pos.count == 0:
            self._close(g, ctx, g.trigger)
            return
        filled = order.filled if order else 0
        detail = f"filled {filled / 100:g} of {order.count / 100:g}; {g.pos.abs_count / 100:g} left" if order else ""
        self._decide(g, ctx, "exit_partial", g.trigger, None, None, None, detail)
        self._move(g, TRIGGERED, ctx, "remainder to exit")
        p = g.protection
        g.retry_at = ctx.now + (p.retry_interval_ns if p is not None else 1_000_000_000)
        self._deadline_dirty = True
        q = self.quotes.get(g.pos.ticker)
        side = g.pos.side
        # A quote that arrived after the order went out already shows the book it left: retry on it now.
        fresh = q is not None and order is not None and q.recv_ns > order.sent_ns
        if fresh and side is not None and mark_of(side, q, "bid") is not None:  # type: ignore[arg-type]
            self._send_exit(g, ctx)

    def _on_order_update(self, u: OrderUpdate, ctx: _Ctx) -> None:
        o = self.orders.get(u.client_order_id) if u.client_order_id else None
        if o is None:
            o = self._orders_by_exchange_id.get(u.order_id)
        if o is None:
            return
        if u.order_id and o.order_id is None:
            o.order_id = u.order_id
            self._orders_by_exchange_id[u.order_id] = o
        o.reported_filled = max(o.reported_filled, u.fill_count)
        o.fees_reported = max(o.fees_reported, u.fees)
        if u.average_fill_price is not None:
            o.average_price = u.average_fill_price
        was_in_flight = o.in_flight
        if u.status in ("executed", "canceled"):
            o.status = "done"
        elif o.status == "unknown":
            o.status = "pending"  # it exists on the exchange: no longer unknown
        self._apply_order_fills(o, ctx)
        if o.purpose == "exit" and was_in_flight and o.status == "done":
            g = self.positions.get(o.ticker)
            if g is not None and g.order is o:
                g.lookup_at = None
                self._after_exit_done(g, ctx)

    def _apply_order_fills(self, o: TrackedOrder, ctx: _Ctx) -> None:
        """Bring the position up to date with this order's fills, counting each contract once."""
        filled = o.filled
        delta = filled - o.applied
        fee_total = max(o.fees_reported, o.fees_fills)
        fee_delta = fee_total - o.fees_applied
        if delta <= 0 and fee_delta <= 0:
            return
        if o.purpose == "exit":
            g = self.positions.get(o.ticker)
            if g is None or g.pos.position_id != o.position_id:
                # A reduce-only exit of a position that is already closed here (e.g. its outcome was learned after
                # a restart): its fills were counted when it closed, or reconciliation will count them. They must
                # never open a position of their own.
                o.applied = max(o.applied, filled)
                o.fees_applied = max(o.fees_applied, fee_total)
                return
        price = o.average_price
        if o.fill_total >= filled and o.fill_total > 0:
            price = (o.fill_value + o.fill_total // 2) // o.fill_total
        if price is None:
            price = o.yes_price if o.yes_price is not None else 0
        o.applied = max(o.applied, filled)
        o.fees_applied = max(o.fees_applied, fee_total)
        self._apply_to_position(o.ticker, signed(o.book_side, max(delta, 0)), price, max(fee_delta, 0), ctx, o)

    def _on_fill(self, f: Fill, ctx: _Ctx) -> None:
        if f.trade_id in self._seen_trades:
            return
        self._seen_trades[f.trade_id] = None
        if len(self._seen_trades) > _SEEN_TRADES_MAX:
            del self._seen_trades[next(iter(self._seen_trades))]
        o = self.orders.get(f.client_order_id) if f.client_order_id else None
        if o is None:
            o = self._orders_by_exchange_id.get(f.order_id)
        if o is None:
            self._apply_to_position(f.ticker, signed(f.book_side, f.count), f.yes_price, f.fee, ctx, None)
            return
        if o.order_id is None and f.order_id:
            o.order_id = f.order_id
            self._orders_by_exchange_id[f.order_id] = o
        o.fill_total += f.count
        o.fill_value += f.yes_price * f.count
        o.fees_fills += f.fee
        self._apply_order_fills(o, ctx)

    def _apply_to_position(
        self, ticker: str, delta: int, yes_price: int, fee: int, ctx: _Ctx, order: TrackedOrder | None
    ) -> None:
        g = self.positions.get(ticker)
        if g is None:
            if delta == 0:
                return
            g = self._open(ticker, ctx, order.protection if order is not None else None)
        before = g.pos.count
        g.pos.apply(delta, yes_price, fee, ctx.now)
        if before != 0 and (before > 0) == (g.pos.count > 0) and abs(g.pos.count) > abs(before):
            self._resolve_levels(g, ctx)  # added to the position: rules follow the new average entry
        if g.pos.count == 0:
            if g.state is EXIT_SENT and g.order is not None and g.order.in_flight:
                return  # closed by our exit; finish when the order reports done (or now, if it never does)
            self._close(g, ctx, g.trigger if g.state in (EXIT_SENT, TRIGGERED) else "external")
            return
        if (before > 0) != (g.pos.count > 0) and before != 0:
            self._decide(g, ctx, "position_flipped", "", None, None, None, f"{before} -> {g.pos.count}")
            self._rearm(g, ctx)
        elif before == 0:
            self._rearm(g, ctx)

    # ================================================================== positions
    def _open(self, ticker: str, ctx: _Ctx, protection: Protection | None) -> Guarded:
        epoch = self._epochs.get(ticker, 0) + 1
        self._epochs[ticker] = epoch
        g = Guarded(Position(ticker, f"{ticker}#{epoch}", opened_ns=ctx.now))
        g.protection = protection or self.config.default_protection
        self.positions[ticker] = g
        ctx.out.append(Watch(ticker))
        return g

    def _rearm(self, g: Guarded, ctx: _Ctx) -> None:
        """(Re)resolve the rules against the current entry price and arm them."""
        p = g.protection
        if p is None or p.is_empty:
            return
        if not self._resolve_levels(g, ctx):
            return
        g.peak = None
        g.break_even_active = False
        market = self.markets.get(g.pos.ticker)
        target = DISARMED if market is not None and market.status != "active" else ARMED
        if g.state is None:
            g.state = target
            ctx.out.append(
                Transition(g.pos.ticker, g.pos.position_id, "unprotected", target.value, "rules armed", ctx.now)
            )
        elif g.state is not target and g.state in (ARMED, FAILED, DISARMED, TRIGGERED):
            self._move(g, target, ctx, "rules re-armed")
        self._deadline_dirty = True
        q = self.quotes.get(g.pos.ticker)
        if q is not None and g.state is ARMED:
            self._evaluate(g, q, ctx)

    def _resolve_levels(self, g: Guarded, ctx: _Ctx) -> bool:
        p = g.protection
        entry = g.pos.entry_price
        if p is None:
            return False
        if entry is None:
            msg = "rules not armed: the entry price is unknown (no cost basis and no quote yet)"
            ctx.out.append(Alert("error", g.pos.ticker, msg, ctx.now))
            return False
        try:
            g.levels = p.resolve(entry)
        except RuleError as exc:
            ctx.out.append(Alert("error", g.pos.ticker, f"rules not armed: {exc}", ctx.now))
            self._decide(g, ctx, "rules_rejected", "", None, None, None, str(exc))
            g.levels = None
            return False
        self._deadline_dirty = True
        return True

    def _close(self, g: Guarded, ctx: _Ctx, reason: str) -> None:
        pos = g.pos
        if g.state is not None and g.state is not CLOSED:
            self._move(g, CLOSED, ctx, reason or "flat")
        summary = PositionClosed(
            ticker=pos.ticker,
            position_id=pos.position_id,
            side=pos.opened_side or "",
            count=pos.max_abs_count,
            entry_price=pos.average_entry_price,
            opened_ns=pos.opened_ns,
            closed_ns=ctx.now,
            reason=reason or "external",
            trigger_ns=g.trigger_ns if reason == g.trigger and g.trigger else None,
            trigger_price=g.trigger_mark if reason == g.trigger and g.trigger else None,
            exit_price=pos.average_exit_price,
            realized=pos.realized,
            fees=pos.fees,
            settlement_result=pos.settled_result,
        )
        self.closed.append(summary)
        ctx.out.append(summary)
        del self.positions[pos.ticker]
        self._closed_at[pos.ticker] = ctx.now
        self._deadline_dirty = True
        ctx.out.append(Unwatch(pos.ticker))

    def _on_position_update(self, u: PositionUpdate, ctx: _Ctx) -> None:
        g = self.positions.get(u.ticker)
        if g is None:
            if u.position == 0:
                return
            g = self._open(u.ticker, ctx, None)
            cost = u.cost if u.cost is not None else self._estimate_cost(u.ticker, u.position)
            g.pos.reset_to(u.position, cost, ctx.now)
            self._decide(
                g,
                ctx,
                "adopted",
                "",
                None,
                None,
                None,
                f"{u.position / 100:g} contracts found on the exchange ({u.source})",
            )
            self._rearm(g, ctx)
            return
        if any(o.in_flight for o in self.orders.values() if o.ticker == u.ticker):
            return  # an order is in flight; its own reports will settle the count, reconcile later
        if u.position == g.pos.count:
            return
        m = self.markets.get(u.ticker)
        if u.position == 0 and m is not None and m.status in ("closed", "determined", "settled"):
            # Flat in a market that stopped trading: that is the settlement, whichever message came first.
            if m.result or m.settlement_value is not None:
                self._settle(u.ticker, ctx)
                return
            self._decide(g, ctx, "settled", "", None, None, None, "flat after close; result not known yet")
            g.pos.reset_to(0, None, ctx.now)
            self._close(g, ctx, "settlement")
            return
        before = g.pos.count
        cost = u.cost if u.cost is not None else None
        g.pos.reset_to(u.position, cost, ctx.now)
        self._decide(
            g,
            ctx,
            "position_corrected",
            "",
            None,
            None,
            None,
            f"{before / 100:g} -> {u.position / 100:g} contracts ({u.source})",
        )
        if u.position == 0:
            self._close(g, ctx, "external")
        elif (before > 0) != (u.position > 0) or g.state is FAILED or (g.levels is None and g.protection):
            self._rearm(g, ctx)
        elif g.protection is not None:
            self._resolve_levels(g, ctx)  # same side, new size/cost: levels follow the exchange's entry price

    def _on_reconcile(self, e: Reconcile, ctx: _Ctx) -> None:
        seen: set[str] = set()
        for u in e.positions:
            seen.add(u.ticker)
            g = self.positions.get(u.ticker)
            if g is not None and g.pos.updated_ns > e.as_of_ns:
                continue  # we saw a change after the exchange's snapshot was taken
            if g is None and self._closed_at.get(u.ticker, 0) > e.as_of_ns:
                continue  # closed here after the snapshot: the exchange's row is older than our view
            self._on_position_update(u, ctx)
        for ticker in [t for t in self.positions if t not in seen]:
            g = self.positions[ticker]
            if g.pos.updated_ns > e.as_of_ns or g.pos.count == 0:
                continue
            self._on_position_update(PositionUpdate(ticker, 0, source="reconcile", recv_ns=ctx.now), ctx)

    def _estimate_cost(self, ticker: str, position: int) -> int | None:
        q = self.quotes.get(ticker)
        side = side_of(position)
        if q is None or side is None:
            return None
        mark = mark_of(side, q, "bid")
        return None if mark is None else mark * abs(position)

    # ================================================================== lifecycle
    def _market(self, ticker: str) -> MarketState:
        m = self.markets.get(ticker)
        if m is None:
            m = self.markets[ticker] = MarketState()
        return m

    def _on_market_info(self, e: MarketInfo, ctx: _Ctx) -> None:
        m = self._market(e.ticker)
        if e.close_ns is not None:
            m.close_ns = e.close_ns
        if e.grid is not None:
            m.grid = e.grid
        if e.status is not None:
            self._set_status(e.ticker, e.status, ctx, "market status from REST")
        self._deadline_dirty = True

    def _set_status(self, ticker: str, status: str, ctx: _Ctx, reason: str) -> None:
        m = self._market(ticker)
        old = m.status
        m.status = status
        g = self.positions.get(ticker)
        if g is None or g.state is None or old == status:
            return
        if status == "active":
            if g.state is DISARMED:
                self._move(g, ARMED, ctx, reason)
        elif g.state in (ARMED, TRIGGERED, FAILED):
            g.disarm_reason = reason
            g.awaiting_confirm = False
            g.retry_at = None
            self._move(g, DISARMED, ctx, reason)
            self._decide(g, ctx, "disarmed", "", None, None, None, reason)

    def _on_lifecycle(self, e: Lifecycle, ctx: _Ctx) -> None:
        m = self._market(e.ticker)
        et = e.event_type
        if e.close_ns is not None:
            m.close_ns = e.close_ns
            self._deadline_dirty = True
        paused = e.is_deactivated if e.is_deactivated is not None else {"deactivated": True, "activated": False}.get(et)
        if paused is not None and m.status in ("paused", "active"):
            self._set_status(
                e.ticker, "paused" if paused else "active", ctx, "trading paused" if paused else "trading resumed"
            )
        elif et == "determined":
            m.result = e.result
            m.settlement_value = e.settlement_value
            self._set_status(e.ticker, "determined", ctx, f"market determined: {e.result or '?'}")
        elif et == "settled":
            if e.result:
                m.result = e.result
            if e.settlement_value is not None:
                m.settlement_value = e.settlement_value
            self._settle(e.ticker, ctx)
        elif et == "close_date_updated":
            return

    def _on_settlement(self, s: Settlement, ctx: _Ctx) -> None:
        m = self._market(s.ticker)
        if s.result:
            m.result = s.result
        self._settle(s.ticker, ctx)

    def _settle(self, ticker: str, ctx: _Ctx) -> None:
        m = self._market(ticker)
        m.status = "settled"
        g = self.positions.get(ticker)
        if g is None:
            return
        value = yes_payout(m.result, m.settlement_value)
        if value is None:
            ctx.out.append(Alert("warning", ticker, "market settled without a known result", ctx.now))
            return
        if g.state in (ARMED, TRIGGERED, FAILED):
            self._move(g, DISARMED, ctx, "market settled")
        g.pos.settle(value, m.result, ctx.now)
        self._close(g, ctx, "settlement")

    def _on_feed_status(self, e: FeedStatus, ctx: _Ctx) -> None:
        if not e.up and self.feed_up:
            self._feed_down_since = e.recv_ns or ctx.now
        self.feed_up = e.up

    # ================================================================== time
    def _on_tick(self, _: Tick, ctx: _Ctx) -> None:
        now = ctx.now
        for g in list(self.positions.values()):
            if g.state is None:
                continue
            m = self.markets.get(g.pos.ticker)
            if m is not None and m.close_ns is not None and now >= m.close_ns and m.status == "active":
                self._set_status(g.pos.ticker, "closed", ctx, "market closed")
                continue
            if g.lookup_at is not None and now >= g.lookup_at and g.order is not None and g.order.status == "unknown":
                g.lookup_at = now + self.config.lookup_retry_ns
                self._deadline_dirty = True
                ctx.out.append(LookupOrder(g.order.client_order_id, g.pos.ticker))
            if g.state is TRIGGERED:
                if g.awaiting_confirm and g.confirm_at is not None and now >= g.confirm_at:
                    p = g.protection
                    g.confirm_at = now + (p.confirm_timeout_ns if p else 5_000_000_000)
                    self._deadline_dirty = True
                    ctx.out.append(ConfirmQuote(g.pos.ticker, g.pos.position_id))
                elif g.retry_at is not None and now >= g.retry_at:
                    self._send_exit(g, ctx)
                continue
            if g.state is ARMED and g.protection is not None and not self.paused:
                deadline = self._time_exit_deadline(g)
                if deadline is not None and now >= deadline:
                    q = self.quotes.get(g.pos.ticker)
                    mark = mark_of(g.pos.side, q, "bid") if q is not None and g.pos.side else None
                    self._fire(g, "time_exit", mark, None, q, ctx, "time exit reached")
                    continue
                q = self.quotes.get(g.pos.ticker)
                if q is not None:
                    self._evaluate(g, q, ctx)

    def _time_exit_deadline(self, g: Guarded) -> int | None:
        p = g.protection
        if p is None or p.time_exit is None:
            return None
        m = self.markets.get(g.pos.ticker)
        return p.time_exit.deadline(m.close_ns if m is not None else None)

    def _compute_deadline(self) -> int | None:
        best: int | None = None

        def consider(t: int | None) -> None:
            nonlocal best
            if t is not None and (best is None or t < best):
                best = t

        for g in self.positions.values():
            if g.state is None:
                continue
            if g.state is ARMED:
                consider(self._time_exit_deadline(g))
                m = self.markets.get(g.pos.ticker)
                if m is not None and m.status == "active":
                    consider(m.close_ns)
            consider(g.retry_at)
            consider(g.confirm_at)
            if g.order is not None and g.order.status == "unknown":
                consider(g.lookup_at)
        return best

    # ================================================================== commands
    def _on_protect(self, e: Protect, ctx: _Ctx) -> None:
        g = self.positions.get(e.ticker)
        if g is None:
            ctx.out.append(Alert("error", e.ticker, "cannot protect: no open position in this market", ctx.now))
            return
        if not isinstance(e.protection, Protection):
            raise TypeError("Protect.protection must be a Protection")
        if g.state in (EXIT_SENT, TRIGGERED) and g.state is not None:
            g.protection = e.protection  # takes effect if the exit fails and the guard is re-armed
            ctx.out.append(Alert("warning", e.ticker, "an exit is in progress; new rules apply if it fails", ctx.now))
            return
        g.protection = e.protection
        self._decide(g, ctx, "protect", "", None, None, None, describe(e.protection))
        self._rearm(g, ctx)

    def _on_unprotect(self, e: Unprotect, ctx: _Ctx) -> None:
        g = self.positions.get(e.ticker)
        if g is None or g.state is None:
            return
        if g.state in (EXIT_SENT, TRIGGERED):
            ctx.out.append(Alert("warning", e.ticker, "an exit is in progress; it continues", ctx.now))
            return
        self._decide(g, ctx, "unprotect", "", None, None, None, "")
        ctx.out.append(Transition(e.ticker, g.pos.position_id, g.state.value, "unprotected", "rules removed", ctx.now))
        g.state = None
        g.protection = None
        g.levels = None
        self._deadline_dirty = True

    def _on_flatten(self, e: Flatten, ctx: _Ctx) -> None:
        g = self.positions.get(e.ticker)
        if g is None:
            ctx.out.append(Alert("error", e.ticker, "cannot flatten: no open position in this market", ctx.now))
            return
        if g.state in (EXIT_SENT, TRIGGERED):
            ctx.out.append(Alert("info", e.ticker, "an exit is already in progress", ctx.now))
            return
        m = self.markets.get(e.ticker)
        if m is not None and m.status in ("closed", "determined", "settled"):
            ctx.out.append(Alert("error", e.ticker, f"cannot flatten: market is {m.status}", ctx.now))
            return
        if g.state is None:
            g.protection = g.protection or Protection()
            g.state = ARMED
            ctx.out.append(
                Transition(e.ticker, g.pos.position_id, "unprotected", "armed", "flatten requested", ctx.now)
            )
        q = self.quotes.get(e.ticker)
        side = g.pos.side
        mark = mark_of(side, q, "bid") if q is not None and side is not None else None
        self._fire(g, "manual", mark, None, q, ctx, e.reason)

    def _on_set_paused(self, e: SetPaused, ctx: _Ctx) -> None:
        self.paused = e.paused
        ctx.out.append(Alert("info", "", "monitor paused" if e.paused else "monitor resumed", ctx.now))

    def _on_track_order(self, e: TrackOrder, ctx: _Ctx) -> None:
        if e.client_order_id in self.orders:
            return
        if e.protection is not None and not isinstance(e.protection, Protection):
            raise TypeError("TrackOrder.protection must be a Protection or None")
        self.orders[e.client_order_id] = TrackedOrder(
            client_order_id=e.client_order_id,
            ticker=e.ticker,
            book_side=e.book_side,
            count=e.count,
            purpose=e.purpose,
            protection=e.protection,
            sent_ns=ctx.now,
        )

    def _on_order_rejected(self, e: OrderRejected, ctx: _Ctx) -> None:
        o = self.orders.get(e.client_order_id)
        if o is None:
            return
        o.status = "rejected"
        g = self.positions.get(o.ticker)
        if g is None or g.order is not o or g.state is not EXIT_SENT:
            return
        ctx.out.append(
            Alert(
                "error" if e.terminal else "warning",
                o.ticker,
                f"exit order {e.client_order_id} rejected: {e.code} {e.message}",
                ctx.now,
            )
        )
        if e.terminal:
            g.order = None
            self._decide(g, ctx, "exit_rejected", g.trigger, None, None, None, f"{e.code}: {e.message}")
            self._move(g, FAILED, ctx, f"exit rejected: {e.code}")
        else:
            self._after_exit_done(g, ctx)

    def _on_order_unknown(self, e: OrderUnknown, ctx: _Ctx) -> None:
        o = self.orders.get(e.client_order_id)
        if o is None or not o.in_flight:
            return
        o.status = "unknown"
        g = self.positions.get(o.ticker)
        if g is not None and g.order is o:
            g.lookup_at = ctx.now + self.config.lookup_retry_ns
            self._deadline_dirty = True
            self._decide(g, ctx, "exit_unknown", g.trigger, None, None, None, e.reason)
        ctx.out.append(LookupOrder(o.client_order_id, o.ticker))

    def _on_order_not_found(self, e: OrderNotFound, ctx: _Ctx) -> None:
        o = self.orders.get(e.client_order_id)
        if o is None or o.status != "unknown":
            return
        g = self.positions.get(o.ticker)
        if g is None or g.order is not o:
            o.status = "done"
            return
        if o.resends >= MAX_RESENDS:
            o.status = "rejected"
            g.order = None
            g.lookup_at = None
            msg = f"exit {o.client_order_id} never reached the exchange after {o.resends + 1} sends"
            ctx.out.append(Alert("error", o.ticker, msg, ctx.now))
            self._decide(g, ctx, "exit_failed", g.trigger, None, None, None, msg)
            self._move(g, FAILED, ctx, "exit never reached the exchange")
            return
        # The order never reached the exchange: send it again under the same id (a duplicate would be refused).
        o.resends += 1
        o.status = "pending"
        g.lookup_at = None
        self._deadline_dirty = True
        self._decide(g, ctx, "exit_resent", g.trigger, None, None, None, "lookup found no such order")
        ctx.out.append(
            PlaceOrder(
                o.client_order_id, o.ticker, o.book_side, o.yes_price or 0, o.count, o.position_id, o.trigger, o.attempt
            )
        )

    def _on_confirm_failed(self, e: ConfirmFailed, ctx: _Ctx) -> None:
        g = self.positions.get(e.ticker)
        if g is None or not g.awaiting_confirm:
            return
        ctx.out.append(Alert("warning", e.ticker, f"could not confirm the trigger over REST: {e.reason}", ctx.now))

    # ================================================================== helpers
    def _move(self, g: Guarded, new: GuardState, ctx: _Ctx, reason: str) -> None:
        old = g.state
        if old is None:
            raise RuleError(f"{g.pos.ticker} has no rules armed")
        check_transition(old, new)
        g.state = new
        self._deadline_dirty = True
        ctx.out.append(Transition(g.pos.ticker, g.pos.position_id, old.value, new.value, reason, ctx.now))

    def _decide(
        self,
        g: Guarded,
        ctx: _Ctx,
        kind: str,
        trigger: str,
        mark: int | None,
        level: int | None,
        q: Quote | None,
        detail: str,
    ) -> None:
        ctx.out.append(
            Decision(
                ticker=g.pos.ticker,
                position_id=g.pos.position_id,
                kind=kind,
                now_ns=ctx.now,
                trigger=trigger,
                mark=mark,
                level=level,
                quote_recv_ns=q.recv_ns if q is not None else 0,
                quote_exchange_ns=q.exchange_ns if q is not None else 0,
                detail=detail,
                quote_source=q.source if q is not None else "",
            )
        )

    def _view(self, g: Guarded, now: int) -> PositionView:
        pos = g.pos
        q = self.quotes.get(pos.ticker)
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
        m = self.markets.get(pos.ticker)
        stale = q is None or (self._is_stale(q, p, now) if p is not None else now - q.recv_ns > 60_000_000_000)
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
            time_exit_ns=self._time_exit_deadline(g),
            distance_to_trigger=dist,
            nearest_trigger=nearest,
            quote_recv_ns=q.recv_ns if q else None,
            stale=stale,
            attempt=g.attempt,
            trigger=g.trigger,
            market_status=m.status if m is not None else "active",
            rules=describe(p) if p is not None else "",
            opened_ns=pos.opened_ns,
            stop_loss_level=sl_level,
            break_even_level=be_level,
            trailing_level=trail_level,
            has_trailing=p is not None and p.trailing is not None,
        )

    def open_tickers(self) -> Iterable[str]:
        return self.positions.keys()


def describe(p: Protection) -> str:
    """A short human description of a Protection ("SL 0.1000 from entry, TP ..., trail ...")."""
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
