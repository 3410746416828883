"""The stop-loss / take-profit monitor: a pure state machine shared by live trading and replay.

``feed(event, now_ns) -> list[Action]`` and ``next_deadline()``; it never reads a clock, sleeps, opens a socket or
touches a file. Live, a WebSocket thread feeds it quotes and an executor carries out its orders; in replay, a loop
feeds it a recording and a fill model answers. Nothing here knows which.

``Monitor`` is the one entry point and holds the state; each concern lives in its own part:

- state: the :class:`~kalshikit.core.guard.Guard` of each position (its state machine, timers and flags, moved
  only by its transition table), the :class:`~kalshikit.core.orders.OrderTracker` and the
  :class:`~kalshikit.core.ledger.PositionLedger`;
- behaviour: :mod:`~kalshikit.core.watch` (rules against prices and time), :mod:`~kalshikit.core.exits` (exit
  orders and their outcomes), :mod:`~kalshikit.core.holdings` (positions), :mod:`~kalshikit.core.commands` (what a
  user asks), :mod:`~kalshikit.core.markets` (market facts and lifecycle);
- reading: :mod:`~kalshikit.core.marks`, :mod:`~kalshikit.core.views`; saving: :mod:`~kalshikit.core.persistence`.

Semantics (prices are own-side, see :mod:`kalshikit.core.rules`):

- A side with no bid is not a price and never triggers. If a stop (stop-loss, break-even or trailing) and the
  take-profit are crossed by the same quote, the stop wins and the decision says so.
- A trigger on a stale price (older than ``stale_after``, or from before the feed went down) follows the
  protection's stale policy: ``hold`` (do nothing), ``confirm`` (ask for a REST read and decide on that), ``fire``.
- An exit is an aggressive IOC reduce-only limit with a ``client_order_id`` that is never used twice: it is made
  from the position and the guard's ``sequence``, which counts every exit order the position ever had and is saved
  with it. Only one exit is in flight per position; an unknown outcome blocks the next one until it is looked up; a
  remainder is retried on the next quote with a bid until flat.
- A rule that cannot apply to a position (a stop below $0) is not armed and is reported; the other rules are armed.
  A ``Protect`` whose rules the current price already crosses is refused unless it allows an immediate exit.

Persistence: :meth:`Monitor.changes` hands a journal exactly the rows that changed since the last call, and
:meth:`Monitor.from_state` rebuilds an equal monitor from all rows (:meth:`Monitor.export_state`). The driver must
save the changes of a batch of events *before* it carries out that batch's actions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kalshikit.core.actions import Action, Alert, Decision, LookupOrder, PositionClosed, Transition, Watch
from kalshikit.core.commands import Commands
from kalshikit.core.ctx import Ctx
from kalshikit.core.events import (
    ConfirmFailed,
    FeedStatus,
    Fill,
    Flatten,
    Lifecycle,
    MarketInfo,
    MonitorInput,
    OrderNotFound,
    OrderRejected,
    OrderUnknown,
    OrderUpdate,
    PositionUpdate,
    Protect,
    Quote,
    Reconcile,
    SetPaused,
    Settlement,
    SubmitEntry,
    Tick,
    TrackOrder,
    Trade,
    Unprotect,
)
from kalshikit.core.exits import ExitDesk, exit_order_id
from kalshikit.core.guard import NAMES, GuardEvent, GuardState
from kalshikit.core.holdings import Holdings
from kalshikit.core.ledger import Holding, PositionLedger
from kalshikit.core.market_state import MarketState
from kalshikit.core.markets import MarketWatch
from kalshikit.core.marks import Band, mark_of
from kalshikit.core.marks import quiet_band as band_of
from kalshikit.core.orders import FINISHED_MAX, SEEN_TRADES_MAX, OrderTracker
from kalshikit.core.persistence import (
    MONITOR_KEY,
    MonitorState,
    Row,
    decode_holding,
    decode_market,
    decode_order,
    encode_holding,
    encode_market,
    encode_order,
    holding_key,
    market_key,
    order_key,
)
from kalshikit.core.rules import Protection
from kalshikit.core.views import PositionView, describe, view_of
from kalshikit.core.watch import RuleWatch
from kalshikit.errors import RuleError

ARMED = GuardState.ARMED
TRIGGERED = GuardState.TRIGGERED
EXIT_SENT = GuardState.EXIT_SENT
E = GuardEvent

__all__ = [
    "Holding",
    "MarketState",
    "Monitor",
    "MonitorConfig",
    "PositionView",
    "StateChanges",
    "describe",
    "exit_order_id",
    "mark_of",
]


@dataclass
class MonitorConfig:
    """``id_salt`` makes client_order_ids unique to one journal; ``default_protection`` arms new positions;
    ``keep_closed`` keeps every closed position's summary in ``Monitor.closed`` (replay keeps its own);
    ``track_changes`` and ``transitions`` cost time and memory a replay does not need."""

    id_salt: str = "kalshikit"
    default_protection: Protection | None = None
    lookup_retry_ns: int = 2_000_000_000
    keep_closed: bool = True
    # A driver that never saves the state (replay) turns this off: no change tracking, no archived-order rows.
    track_changes: bool = True
    # A driver that ignores Transition actions (replay) turns this off: they are not even made.
    transitions: bool = True
    # How many fill trade ids (dedupe) and archived order ids (late reports) are remembered. A replay, whose fills
    # are unique by construction, keeps few.
    seen_trades_max: int = SEEN_TRADES_MAX
    finished_max: int = FINISHED_MAX
    # How old a price of a position without rules may be before it shows as stale (WEBSOCKET_PRICE_CACHE_STALE_SECS
    # in the kit; a position's rules carry their own limit).
    stale_after_ns: int = 60_000_000_000


@dataclass
class StateChanges:
    """Rows that changed since the last :meth:`Monitor.changes` (value None = delete the row), plus the fill trade
    ids seen and the order ids archived since."""

    rows: dict[str, Row | None] = field(default_factory=dict)
    trade_ids: list[str] = field(default_factory=list)
    finished_ids: list[str] = field(default_factory=list)
    archived_orders: list[Row] = field(default_factory=list)  # final rows of orders archived (for an audit trail)

    def __bool__(self) -> bool:
        return bool(self.rows or self.trade_ids or self.finished_ids)


class _Untracked(set[str]):
    """A set that stays empty: change tracking switched off (MonitorConfig.track_changes=False)."""

    def add(self, _: str) -> None:
        return None


class Monitor:
    """See the module docstring. Not thread-safe: one thread owns a monitor."""

    def __init__(self, config: MonitorConfig | None = None) -> None:
        self.config = config or MonitorConfig()
        self.ledger = PositionLedger()
        self.tracker = OrderTracker(self.config.seen_trades_max, self.config.finished_max)
        self.markets: dict[str, MarketState] = {}
        self.quotes: dict[str, Quote] = {}
        self.closed: list[PositionClosed] = []
        self.feed_up = True
        self.feed_down_since = 0
        self.paused = False
        self._deadline: int | None = None
        # What changed since the last changes(): the parts mark what they touch.
        self.deadline_dirty = False
        tracked = self.config.track_changes
        self.dirty_holdings: set[str] = set() if tracked else _Untracked()
        self.dirty_orders: set[str] = set() if tracked else _Untracked()
        self.dirty_markets: set[str] = set() if tracked else _Untracked()
        self.dirty_monitor = True  # a new journal gets the monitor row with the first save
        self.archived_rows: list[Row] = []
        self.tracker.track_new = tracked
        self.watch = RuleWatch(self)
        self.exits = ExitDesk(self)
        self.holdings = Holdings(self)
        self.commands = Commands(self)
        self.market_watch = MarketWatch(self)
        self._handlers: dict[type, Callable[[Any, Ctx], None]] = {
            Quote: self.watch.on_quote,
            Trade: self.watch.on_trade,
            Tick: self.watch.on_tick,
            Fill: self.exits.on_fill,
            OrderUpdate: self.exits.on_order_update,
            OrderRejected: self.exits.on_order_rejected,
            OrderUnknown: self.exits.on_order_unknown,
            OrderNotFound: self.exits.on_order_not_found,
            TrackOrder: self.exits.on_track_order,
            SubmitEntry: self.exits.on_submit_entry,
            PositionUpdate: self.holdings.on_position_update,
            Reconcile: self.holdings.on_reconcile,
            Protect: self.commands.on_protect,
            Unprotect: self.commands.on_unprotect,
            Flatten: self.commands.on_flatten,
            SetPaused: self.commands.on_set_paused,
            ConfirmFailed: self.commands.on_confirm_failed,
            MarketInfo: self.market_watch.on_market_info,
            Lifecycle: self.market_watch.on_lifecycle,
            Settlement: self.market_watch.on_settlement,
            FeedStatus: self.market_watch.on_feed_status,
        }

    # ================================================================== public API
    @property
    def positions(self) -> dict[str, Holding]:
        """Open positions by ticker (read-only use)."""
        return self.ledger.holdings

    @property
    def epochs(self) -> dict[str, int]:
        return dict(self.ledger.epochs)

    def feed(self, event: MonitorInput, now_ns: int) -> list[Action]:
        """Feed one event at time ``now_ns``; returns what the driver must do, in order."""
        if type(event) is Quote:  # the hot path, kept short
            self.quotes[event.ticker] = event
            h = self.ledger.holdings.get(event.ticker)
            if h is None:
                return []
            state = h.guard._state
            if state is ARMED:
                ctx = Ctx(now_ns)
                self.watch.evaluate(h, event, ctx)
                return ctx.out
            if state is TRIGGERED:
                ctx = Ctx(now_ns)
                self.watch.on_triggered_quote(h, event, ctx)
                return ctx.out
            return []
        handler = self._handlers.get(type(event))
        if handler is None:
            raise TypeError(f"the monitor does not handle {type(event).__name__}")
        ctx = Ctx(now_ns)
        handler(event, ctx)
        return ctx.out

    def next_deadline(self) -> int | None:
        """The earliest time at which time alone could make the monitor act (feed a Tick then)."""
        if self.deadline_dirty:
            self._deadline = self.watch.compute_deadline()
            self.deadline_dirty = False
        return self._deadline

    def quiet_band(self, ticker: str) -> Band | None:
        """For replay speed: own-side marks strictly inside ``(low, high)`` change nothing for this market (see
        :func:`kalshikit.core.marks.quiet_band`)."""
        h = self.ledger.holdings.get(ticker)
        if h is None:
            return band_of(None, None, paused=self.paused, feed_up=self.feed_up)
        return band_of(h.guard, h.pos.side, paused=self.paused, feed_up=self.feed_up)

    def observe(self, quote: Quote) -> None:
        """Remember a quote without evaluating it: exactly what feeding it does when its mark lies inside
        :meth:`quiet_band` (replay skips such quotes and only records the latest)."""
        self.quotes[quote.ticker] = quote

    def snapshot(self, now_ns: int) -> tuple[PositionView, ...]:
        """An immutable view of every open position (for the dashboard and status lines)."""
        return tuple(self._view(h, now_ns) for h in self.ledger.holdings.values())

    def position(self, ticker: str) -> Any:
        """The open :class:`~kalshikit.core.positions.Position` in ``ticker``, or None."""
        h = self.ledger.holdings.get(ticker)
        return h.pos if h else None

    def open_tickers(self) -> Iterable[str]:
        return self.ledger.holdings.keys()

    # ================================================================== persistence
    def changes(self) -> StateChanges:
        """The state rows changed since the last call (None = deleted), for a journal to save in one transaction."""
        out = StateChanges()
        holdings = self.ledger.holdings
        for t in self.dirty_holdings:
            h = holdings.get(t)
            out.rows[holding_key(t)] = encode_holding(h) if h is not None else None
        orders = self.tracker.orders
        for coid in self.dirty_orders:
            o = orders.get(coid)
            out.rows[order_key(coid)] = encode_order(o) if o is not None else None
        for t in self.dirty_markets:
            m = self.markets.get(t)
            out.rows[market_key(t)] = encode_market(m) if m is not None else None
        if self.dirty_monitor:
            out.rows[MONITOR_KEY] = self._monitor_row()
        out.trade_ids = self.tracker.take_new_trades()
        out.finished_ids = self.tracker.take_new_finished()
        out.archived_orders, self.archived_rows = self.archived_rows, []
        self.dirty_holdings.clear()
        self.dirty_orders.clear()
        self.dirty_markets.clear()
        self.dirty_monitor = False
        return out

    def unsave(self, changes: StateChanges) -> None:
        """Put back changes a journal failed to save, so the next :meth:`changes` includes them again."""
        for key in changes.rows:
            kind, _, name = key.partition(":")
            if key == MONITOR_KEY:
                self.dirty_monitor = True
            elif kind == "holding":
                self.dirty_holdings.add(name)
            elif kind == "order":
                self.dirty_orders.add(name)
            elif kind == "market":
                self.dirty_markets.add(name)
        self.tracker.new_trades[:0] = changes.trade_ids
        self.tracker.new_finished[:0] = changes.finished_ids
        self.archived_rows[:0] = changes.archived_orders

    def export_state(self) -> MonitorState:
        """Every persistent row of this monitor (what a journal holds after saving every change)."""
        rows: dict[str, Row] = {MONITOR_KEY: self._monitor_row()}
        for t, h in self.ledger.holdings.items():
            rows[holding_key(t)] = encode_holding(h)
        for coid, o in self.tracker.orders.items():
            rows[order_key(coid)] = encode_order(o)
        for t, m in self.markets.items():
            rows[market_key(t)] = encode_market(m)
        return MonitorState(rows, list(self.tracker.seen_trades), list(self.tracker.finished))

    @classmethod
    def from_state(cls, config: MonitorConfig, state: MonitorState) -> Monitor:
        """A monitor equal to the one whose rows these are (without quotes: prices are read again)."""
        m = cls(config)
        for key, row in state.rows.items():
            kind, _, name = key.partition(":")
            if key == MONITOR_KEY:
                m.paused = bool(row["paused"])
                m.ledger.epochs = {str(k): int(v) for k, v in row["epochs"].items()}
                m.ledger.closed_at = {str(k): int(v) for k, v in row["closed_at"].items()}
            elif kind == "holding":
                m.ledger.holdings[name] = decode_holding(row)
            elif kind == "order":
                m.tracker.add(decode_order(row))
            elif kind == "market":
                m.markets[name] = decode_market(row)
            else:
                raise ValueError(f"unknown monitor state row {key!r}")
        m.tracker.seen_trades = dict.fromkeys(state.trade_ids)
        m.tracker.finished = dict.fromkeys(state.finished_ids)
        m.deadline_dirty = True
        return m

    def resume(self, now_ns: int) -> list[Action]:
        """After :meth:`from_state` in a new process: watch every held market and look up every order that may have
        reached the exchange without its outcome being seen; no exit is sent for a position until its lookup
        answers. Exits that were due (a retry, a confirmation) happen at their deadlines, with fresh ids."""
        ctx = Ctx(now_ns)
        for t in self.ledger.holdings:
            ctx.out.append(Watch(t))
        for o in list(self.tracker.orders.values()):
            if not o.in_flight:
                continue
            o.status = "unknown"
            self.dirty_orders.add(o.client_order_id)
            h = self.ledger.holdings.get(o.ticker)
            if h is not None and h.guard.exit_order == o.client_order_id and h.guard.state is EXIT_SENT:
                self.handle(h, E.LOOKUP, ctx, "resuming after a restart", lookup_ns=self.config.lookup_retry_ns)
            else:
                self.exits.schedule_lookup(o, now_ns)
            ctx.out.append(LookupOrder(o.client_order_id, o.ticker, o.sent_ns))
        for h in list(self.ledger.holdings.values()):
            g = h.guard
            exit_order = self.tracker.orders.get(g.exit_order) if g.exit_order else None
            if g.state is EXIT_SENT and (exit_order is None or not exit_order.in_flight):
                # Cannot happen with a journal saved by changes(); a hand-edited or old journal: retry the rest.
                msg = "exit state without its order; retrying the remainder"
                ctx.out.append(Alert("warning", h.ticker, msg, now_ns))
                self.handle(h, E.PARTIAL, ctx, "exit order missing after restart", retry_ns=0)
        self.deadline_dirty = True
        return ctx.out

    def _monitor_row(self) -> Row:
        return {"paused": self.paused, "epochs": dict(self.ledger.epochs), "closed_at": dict(self.ledger.closed_at)}

    # ================================================================== helpers
    def handle(self, h: Holding, event: GuardEvent, ctx: Ctx, why: str, **kw: Any) -> None:
        """Move ``h``'s guard by ``event`` (its table), record the transition and mark the position changed."""
        if h.guard.state is None and event not in (E.ARM, E.ARM_HALTED):
            raise RuleError(f"{h.pos.ticker} has no rules armed")
        old, new = h.guard.handle(event, ctx.now, **kw)
        self.dirty_holdings.add(h.pos.ticker)
        self.deadline_dirty = True
        if old is not new and self.config.transitions:
            ctx.out.append(Transition(h.pos.ticker, h.pos.position_id, NAMES[old], NAMES[new], why, ctx.now))

    def decide(
        self,
        h: Holding,
        ctx: Ctx,
        kind: str,
        trigger: str,
        mark: int | None,
        level: int | None,
        q: Quote | None,
        detail: str,
    ) -> None:
        ctx.out.append(
            Decision(
                ticker=h.pos.ticker,
                position_id=h.pos.position_id,
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

    def _view(self, h: Holding, now: int) -> PositionView:
        q = self.quotes.get(h.pos.ticker)
        p = h.guard.protection
        stale = q is None or self.watch.is_stale(q, p, now)
        m = self.markets.get(h.pos.ticker)
        return view_of(
            h,
            q,
            now=now,
            stale=stale,
            market_status=m.status if m is not None else "active",
            time_exit_ns=self.watch.time_exit_deadline(h),
            close_ns=m.close_ns if m is not None else None,
        )

