"""Typed events: what the wire decodes into and what the monitor is fed.

All prices are ``int`` in $0.0001, counts ``int`` in 1/100 contract, money ``int`` in micro-dollars and times
``int`` nanoseconds UTC (see :mod:`kalshikit.units`). A missing side of the book is ``None``, never 0: a side with
no bid is not a price.

Market-data and account events carry two times: ``exchange_ns`` (the exchange's ``ts_ms``; 0 when the frame had
none) and ``recv_ns`` (when we received it). Everything is an immutable ``msgspec.Struct``: cheap to build, safe to
hand between threads.

Besides what the wire decodes into, the monitor is fed commands (from the user or a strategy: ``Protect``,
``Flatten``, ``SubmitEntry`` ...) and the outcomes of its own actions (from the driver: ``OrderRejected``,
``OrderUnknown``, ``OrderNotFound``, ``ConfirmFailed``, ``Reconcile``). :data:`MonitorInput` is all of them.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from kalshikit.core.grid import PriceGrid
from kalshikit.core.rules import Protection

Side = Literal["yes", "no"]  # which contract a position holds / an outcome
BookSide = Literal["bid", "ask"]  # side of the YES book: bid = buy YES, ask = sell YES (= buy NO)
OrderStatus = Literal["resting", "canceled", "executed", "unknown"]


class Event(msgspec.Struct, frozen=True, gc=False):
    """Base of all events."""


# ---------------------------------------------------------------------------- market data
class Quote(Event, frozen=True, gc=False):
    """Top of the YES book for one market (from a ``ticker`` frame, an order book, or a REST read)."""

    ticker: str
    yes_bid: int | None
    yes_ask: int | None
    yes_bid_size: int | None = None
    yes_ask_size: int | None = None
    last: int | None = None  # last trade, YES price
    volume: int | None = None
    open_interest: int | None = None
    exchange_ns: int = 0
    recv_ns: int = 0
    source: str = "ws"  # "ws" ticker | "book" (local order book) | "rest" (REST read) | "replay"


class BookSnapshot(Event, frozen=True, gc=False):
    """Full order book of one market: bids only, per side, ``(price, count)`` ascending by price."""

    ticker: str
    yes: tuple[tuple[int, int], ...]
    no: tuple[tuple[int, int], ...]
    sid: int = 0
    seq: int = 0
    exchange_ns: int = 0
    recv_ns: int = 0


class BookDelta(Event, frozen=True, gc=False):
    """Signed change of resting size at one price level of one side's bids."""

    ticker: str
    side: Side
    price: int
    delta: int
    sid: int = 0
    seq: int = 0
    client_order_id: str | None = None
    exchange_ns: int = 0
    recv_ns: int = 0


class Trade(Event, frozen=True, gc=False):
    """A public trade."""

    ticker: str
    trade_id: str
    yes_price: int
    count: int
    taker_side: Side | None = None
    sid: int = 0
    seq: int = 0
    exchange_ns: int = 0
    recv_ns: int = 0


class Lifecycle(Event, frozen=True, gc=False):
    """A market lifecycle change: ``created``, ``activated``, ``deactivated``, ``close_date_updated``,
    ``determined``, ``settled``, ``price_level_structure_updated``, ``metadata_updated``."""

    ticker: str
    event_type: str
    result: str | None = None  # yes | no | scalar | ""
    settlement_value: int | None = None  # YES payout, price units
    close_ns: int | None = None
    open_ns: int | None = None
    is_deactivated: bool | None = None
    sid: int = 0
    seq: int = 0
    exchange_ns: int = 0
    recv_ns: int = 0


# ---------------------------------------------------------------------------- account
class Fill(Event, frozen=True, gc=False):
    """One of our fills. ``book_side`` bid = we bought YES (position +count), ask = we sold YES (position -count)."""

    trade_id: str
    order_id: str
    ticker: str
    book_side: BookSide
    yes_price: int
    count: int
    fee: int = 0  # micro-dollars
    is_taker: bool = True
    client_order_id: str | None = None
    post_position: int | None = None
    exchange_ns: int = 0
    recv_ns: int = 0


class OrderUpdate(Event, frozen=True, gc=False):
    """State of one of our orders (``user_order`` frame, a REST read, or an order-create reply)."""

    order_id: str
    client_order_id: str | None
    ticker: str | None
    status: OrderStatus
    fill_count: int
    remaining_count: int
    book_side: BookSide | None = None
    yes_price: int | None = None
    initial_count: int | None = None
    fees: int = 0  # micro-dollars, taker + maker
    average_fill_price: int | None = None  # YES price
    reason: str | None = None  # Kalshi's last_update_reason (Trade, ReduceOnlyCancel, ...)
    exchange_ns: int = 0
    recv_ns: int = 0


class PositionUpdate(Event, frozen=True, gc=False):
    """Authoritative net position in one market (``market_position`` frame or reconciliation).

    ``position`` > 0 is YES contracts, < 0 NO contracts. ``cost`` is the cost basis of the held contracts.
    """

    ticker: str
    position: int
    cost: int | None = None  # micro-dollars
    realized_pnl: int | None = None
    fees_paid: int | None = None
    source: str = "ws"  # "ws" | "reconcile" | "journal"
    exchange_ns: int = 0
    recv_ns: int = 0


class Settlement(Event, frozen=True, gc=False):
    """A market settled and our position in it was paid out."""

    ticker: str
    result: str
    revenue: int  # micro-dollars
    settled_ns: int = 0
    recv_ns: int = 0


# ---------------------------------------------------------------------------- connection
class FeedStatus(Event, frozen=True, gc=False):
    """The live price feed went down (socket closed, silent, gap) or came back."""

    up: bool
    reason: str = ""
    recv_ns: int = 0


class Tick(Event, frozen=True, gc=False):
    """Nothing happened but time passed (a sweep, or the monitor's own deadline)."""


# ---------------------------------------------------------------------------- commands
class Protect(Event, frozen=True):
    """Arm (or replace) the rules on a held position. A rule the current price already crosses is refused (the
    others are armed) unless ``allow_immediate``: then it exits at once, as asked."""

    ticker: str
    protection: Protection
    allow_immediate: bool = False


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
    """Static facts about a market: close time, price grid, status (active/paused/closed/determined/settled)."""

    ticker: str
    close_ns: int | None = None
    grid: PriceGrid | None = None
    status: str | None = None


class TrackOrder(Event, frozen=True):
    """Tell the monitor about an order it did not create, so its fills are attributed and the resulting position
    gets ``protection`` armed as soon as it exists."""

    client_order_id: str
    ticker: str
    book_side: BookSide
    count: int
    purpose: str = "entry"
    protection: Protection | None = None


class SubmitEntry(Event, frozen=True):
    """Place an entry order through the monitor (a strategy's intent): it is tracked and journaled with the
    monitor's state before it goes out, and its fills open a position with ``protection`` armed."""

    client_order_id: str
    ticker: str
    book_side: BookSide
    yes_price: int
    count: int
    time_in_force: Literal["immediate_or_cancel", "fill_or_kill", "good_till_canceled"] = "immediate_or_cancel"
    protection: Protection | None = None


# ---------------------------------------------------------------------------- outcomes of the monitor's actions
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

    positions: tuple[PositionUpdate, ...]
    as_of_ns: int


MonitorInput = (
    Quote
    | Trade
    | Fill
    | OrderUpdate
    | PositionUpdate
    | Lifecycle
    | Settlement
    | FeedStatus
    | Tick
    | Protect
    | Unprotect
    | Flatten
    | SetPaused
    | MarketInfo
    | TrackOrder
    | SubmitEntry
    | OrderRejected
    | OrderUnknown
    | OrderNotFound
    | ConfirmFailed
    | Reconcile
)


__all__ = [
    "BookDelta",
    "BookSide",
    "BookSnapshot",
    "ConfirmFailed",
    "Event",
    "FeedStatus",
    "Fill",
    "Flatten",
    "Lifecycle",
    "MarketInfo",
    "MonitorInput",
    "OrderNotFound",
    "OrderRejected",
    "OrderStatus",
    "OrderUnknown",
    "OrderUpdate",
    "PositionUpdate",
    "Protect",
    "Quote",
    "Reconcile",
    "SetPaused",
    "Settlement",
    "Side",
    "SubmitEntry",
    "Tick",
    "TrackOrder",
    "Trade",
    "Unprotect",
]
