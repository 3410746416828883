"""Typed events: what the wire decodes into and what the monitor is fed.

All prices are ``int`` in $0.0001, counts ``int`` in 1/100 contract, money ``int`` in micro-dollars and times
``int`` nanoseconds UTC (see :mod:`kalshikit.units`). A missing side of the book is ``None``, never 0: a side with
no bid is not a price.

Market-data and account events carry two times: ``exchange_ns`` (the exchange's ``ts_ms``; 0 when the frame had
none) and ``recv_ns`` (when we received it). Everything is an immutable ``msgspec.Struct``: cheap to build, safe to
hand between threads.
"""

from __future__ import annotations

from typing import Literal

import msgspec

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


__all__ = [
    "BookDelta",
    "BookSide",
    "BookSnapshot",
    "Event",
    "FeedStatus",
    "Fill",
    "Lifecycle",
    "OrderStatus",
    "OrderUpdate",
    "PositionUpdate",
    "Quote",
    "Settlement",
    "Side",
    "Tick",
    "Trade",
]
