"""What the monitor asks its driver to do: the actions :meth:`Monitor.feed` returns.

A live driver executes them against Kalshi, a replay driver answers them from a fill model; either reports the
outcome back as an input event (:mod:`kalshikit.core.events`). Decisions, transitions, alerts and closed-position
summaries are the monitor's record of what it did and why.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from kalshikit.core.events import BookSide

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
    self_trade_prevention_type: Literal["taker_at_cross", "maker"] = "taker_at_cross"


class ConfirmQuote(Action, frozen=True):
    """Read the market's order book over REST and feed it back as a ``Quote(source="rest")``."""

    ticker: str
    position_id: str


class LookupOrder(Action, frozen=True):
    """Find out what became of an order whose outcome is unknown; feed back OrderUpdate (with the order's fills
    before it), or OrderNotFound only when the exchange's data is known to be current past ``sent_ns`` (when the
    order was last sent); otherwise nothing, and the monitor asks again later."""

    client_order_id: str
    ticker: str
    sent_ns: int = 0


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
