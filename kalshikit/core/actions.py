"""What the monitor asks its driver to do (actions), and the commands a driver or user sends it.

Actions are returned by :meth:`Monitor.feed`; a live driver executes them against Kalshi, a replay driver answers
them from a fill model. Commands are fed to the monitor like market events.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from kalshikit.core.events import BookSide, Event

TimeInForce = Literal["immediate_or_cancel", "fill_or_kill", "good_till_canceled"]


class Action(msgspec.Struct, frozen=True):
    """Base of every action."""


class PlaceOrder(Action, frozen=True):
    """Send an order. Exits are aggressive ``immediate_or_cancel`` + ``reduce_only`` limits. The driver must journal
    ``client_order_id`` before sending, and report back with OrderUpdate / OrderRejected / OrderUnknown."""

    client_order_id: str
    ticker: str
    book_side: BookSide
    yes_price: int
    count: int
    position_id: str
    trigger: str
    attempt: int
    time_in_force: TimeInForce = "immediate_or_cancel"
    reduce_only: bool = True
    purpose: str = "exit"
    reference_price: int | None = None  # own-side mark the exit was priced from


class ConfirmQuote(Action, frozen=True):
    """Read the market's order book over REST and feed it back as a ``Quote(source="rest")``."""

    ticker: str
    position_id: str


class LookupOrder(Action, frozen=True):
    """Find out what became of an order whose outcome is unknown; feed back OrderUpdate or OrderNotFound."""

    client_order_id: str
    ticker: str


class Watch(Action, frozen=True):
    """We hold a position in this market: subscribe to its data."""

    ticker: str


class Unwatch(Action, frozen=True):
    """We no longer hold a position in this market: unsubscribe."""

    ticker: str


class Transition(Action, frozen=True):
    """A guard moved between states (for the journal, logs and dashboard)."""

    ticker: str
    position_id: str
    old: str
    new: str
    reason: str
    now_ns: int


class Decision(Action, frozen=True):
    """Something the monitor decided, with the prices that led to it (the record that parity compares)."""

    ticker: str
    position_id: str
    kind: str  # trigger | confirm_requested | confirmed | not_confirmed | held_stale | exit_partial | ...
    now_ns: int
    trigger: str = ""
    mark: int | None = None  # own-side price the decision was made on
    level: int | None = None  # the rule level that was crossed
    quote_recv_ns: int = 0
    quote_exchange_ns: int = 0
    detail: str = ""
    quote_source: str = ""  # ws | rest | book | replay: where the price the decision was made on came from


class Alert(Action, frozen=True):
    """Something a person should see (exit failed, rejected order, stale prices)."""

    level: Literal["info", "warning", "error"]
    ticker: str
    message: str
    now_ns: int


class PositionClosed(Action, frozen=True):
    """A position went flat: the summary a trades table is made of."""

    ticker: str
    position_id: str
    side: str
    count: int  # largest size held (1/100 contracts)
    entry_price: int | None  # average own-side entry price
    opened_ns: int
    closed_ns: int
    reason: str  # trigger name, "settlement", "external" (closed elsewhere)
    trigger_ns: int | None
    trigger_price: int | None  # own-side mark at trigger
    exit_price: int | None  # average own-side exit price
    realized: int  # micro-dollars before fees
    fees: int  # micro-dollars
    settlement_result: str | None = None


# ---------------------------------------------------------------------------- commands
class Protect(Event, frozen=True):
    """Arm (or replace) the rules on a held position. ``protection`` is a :class:`kalshikit.core.rules.Protection`."""

    ticker: str
    protection: Any


class Unprotect(Event, frozen=True):
    ticker: str


class Flatten(Event, frozen=True):
    """Exit the whole position now (aggressive IOC, reduce-only)."""

    ticker: str
    reason: str = "manual"


class SetPaused(Event, frozen=True):
    """Pause (no new exits are started; orders in flight still resolve) or resume the monitor."""

    paused: bool


class MarketInfo(Event, frozen=True):
    """Static facts about a market: close time, price grid (``PriceGrid``), status (active/closed/...)."""

    ticker: str
    close_ns: int | None = None
    grid: Any = None
    status: str | None = None


class TrackOrder(Event, frozen=True):
    """Tell the monitor about an order it did not create (an entry), so its fills are attributed and the
    resulting position gets ``protection`` armed as soon as it exists."""

    client_order_id: str
    ticker: str
    book_side: BookSide
    count: int
    purpose: str = "entry"
    protection: Any = None


class OrderRejected(Event, frozen=True):
    """The exchange refused an order (``terminal``: retrying the same order cannot help)."""

    client_order_id: str
    code: str
    message: str
    terminal: bool = True


class OrderUnknown(Event, frozen=True):
    """An order's outcome is unknown (timeout, disconnect): exits for that position stop until it is looked up."""

    client_order_id: str
    reason: str


class OrderNotFound(Event, frozen=True):
    """A lookup shows the order never reached the exchange: it is safe to send it again with the same id."""

    client_order_id: str


class ConfirmFailed(Event, frozen=True):
    """A REST read asked for by ConfirmQuote failed."""

    ticker: str
    reason: str


class Reconcile(Event, frozen=True):
    """The exchange's positions as of ``as_of_ns`` (REST lags a little): positions changed locally after that
    time keep the local view; the others take the exchange's, and held markets missing from it went flat."""

    positions: tuple[Any, ...]  # PositionUpdate
    as_of_ns: int
