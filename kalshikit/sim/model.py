"""The simulator's state records: markets, orders, fills, trades, positions, settlements and accounts.

Plain mutable dataclasses owned by :class:`kalshikit.sim.exchange.Exchange` (one thread, the simulator's event loop,
touches them). Prices are ``int`` $0.0001, counts ``int`` 1/100 contract, money ``int`` micro-dollars, times ``int``
ns UTC.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

from kalshikit.core.book import OrderBook
from kalshikit.core.events import BookSide, Side
from kalshikit.core.fees import STANDARD_FEES, FeeSchedule
from kalshikit.core.grid import PriceGrid
from kalshikit.core.positions import Position
from kalshikit.units import PRICE_SCALE

ONE = PRICE_SCALE

# Kalshi's market object statuses, and the filter vocabulary of GET /markets mapped onto them.
MarketStatus = Literal["initialized", "inactive", "active", "closed", "determined", "disputed", "amended", "finalized"]
STATUS_FILTERS: dict[str, frozenset[str]] = {
    "unopened": frozenset({"initialized"}),
    "open": frozenset({"active"}),
    "paused": frozenset({"inactive"}),
    "closed": frozenset({"closed"}),
    "settled": frozenset({"determined", "finalized", "disputed", "amended"}),
}
TimeInForce = Literal["fill_or_kill", "good_till_canceled", "immediate_or_cancel"]
TIME_IN_FORCE: tuple[str, ...] = ("fill_or_kill", "good_till_canceled", "immediate_or_cancel")
STP_TYPES: tuple[str, ...] = ("taker_at_cross", "maker")


def new_id() -> str:
    return str(uuid.uuid4())


def split_ticker(ticker: str) -> tuple[str, str]:
    """``(series_ticker, event_ticker)`` guessed from a market ticker (``SERIES-EVENT-MARKET``)."""
    parts = ticker.split("-")
    series = parts[0]
    event = "-".join(parts[:2]) if len(parts) >= 3 else ticker
    return series, event


@dataclass(eq=False)
class Market:
    """One market: metadata, lifecycle, the tape's liquidity (``book``) and the resting orders of all accounts."""

    ticker: str
    event_ticker: str
    series_ticker: str
    grid: PriceGrid
    created_ns: int
    open_ns: int
    close_ns: int
    status: MarketStatus = "active"
    market_id: str = field(default_factory=new_id)
    title: str = ""
    subtitle: str = ""
    yes_sub_title: str = ""
    no_sub_title: str = ""
    rules_primary: str = ""
    rules_secondary: str = ""
    can_close_early: bool = True
    settlement_timer_seconds: int = 300
    fees: FeeSchedule | None = None  # None: the series' schedule (Exchange.fees_of)
    mve_collection_ticker: str | None = None  # set on multivariate (combo) markets
    updated_ns: int = 0
    result: str = ""
    settlement_value: int | None = None  # YES payout, price units
    determined_ns: int = 0
    settled_ns: int = 0
    book: OrderBook = field(init=False)
    resting: list[Order] = field(default_factory=list)
    last_price: int | None = None
    last_trade_size: int = 0
    tape_volume: int = 0  # volume reported by the tape
    sim_volume: int = 0  # volume traded by simulator accounts
    open_interest: int = 0
    previous_yes_bid: int | None = None
    previous_yes_ask: int | None = None
    previous_price: int | None = None
    grid_from_tape: bool = False  # True once a lifecycle frame gave the grid (no more guessing from prices)

    def __post_init__(self) -> None:
        self.book = OrderBook(self.ticker)
        if not self.updated_ns:
            self.updated_ns = self.created_ns

    # ------------------------------------------------------------------ what everyone sees
    @property
    def volume(self) -> int:
        return self.tape_volume + self.sim_volume

    def visible(self, side: Side) -> dict[int, int]:
        """Bids of one side as the public sees them: the tape's liquidity plus every resting order."""
        levels = dict(self.book.yes if side == "yes" else self.book.no)
        want: BookSide = "bid" if side == "yes" else "ask"
        for o in self.resting:
            if o.book_side == want:
                p = o.price if side == "yes" else ONE - o.price
                levels[p] = levels.get(p, 0) + o.remaining
        return levels

    def top(self) -> tuple[int | None, int, int | None, int]:
        """``(yes_bid, yes_bid_size, yes_ask, yes_ask_size)`` of the visible book (size 0 when a side is empty)."""
        yes = self.visible("yes")
        no = self.visible("no")
        bid = max(yes) if yes else None
        nb = max(no) if no else None
        return (
            bid,
            (yes[bid] if bid is not None else 0),
            (ONE - nb if nb is not None else None),
            (no[nb] if nb is not None else 0),
        )

    @property
    def tradable(self) -> bool:
        return self.status == "active"

    @property
    def settled(self) -> bool:
        return self.status == "finalized"


@dataclass(eq=False)
class SeriesRecord:
    """One series: what ``GET /series/{series_ticker}`` shows, and the fee schedule its markets trade under."""

    ticker: str
    fees: FeeSchedule = STANDARD_FEES
    title: str = ""
    category: str = "Sports"
    frequency: str = "custom"
    tags: tuple[str, ...] = ()
    updated_ns: int = 0


@dataclass(eq=False)
class Order:
    """One order of one account. ``price`` is the YES price; ``book_side`` bid buys YES, ask sells YES."""

    order_id: str
    client_order_id: str
    account: str
    user_id: str
    ticker: str
    book_side: BookSide
    price: int
    initial: int
    time_in_force: str
    self_trade_prevention_type: str
    created_ns: int
    remaining: int = 0
    fill_count: int = 0
    status: str = "resting"  # resting | canceled | executed
    post_only: bool = False
    reduce_only: bool = False
    cancel_order_on_pause: bool = False
    expiration_ns: int | None = None
    updated_ns: int = 0
    taker_fill_cost: int = 0  # micro-dollars paid for the outcome bought, taker fills
    maker_fill_cost: int = 0
    taker_fees: int = 0
    maker_fees: int = 0
    fill_value: int = 0  # Σ yes_price × count, for the average fill price
    priority: int = 0  # time priority in the book (lower first); amends that lose priority get a new one
    reason: str = ""  # Kalshi's last_update_reason
    reserved: int = 0  # micro-dollars of balance held while resting
    legacy_side: str | None = None  # V1 (side, action) as the order was placed, for the deprecated fields
    legacy_action: str | None = None
    order_group_id: str | None = None

    @property
    def outcome_side(self) -> Side:
        return "yes" if self.book_side == "bid" else "no"

    @property
    def own_price(self) -> int:
        """Price of the contract this order buys (YES price for bids, NO price for asks)."""
        return self.price if self.book_side == "bid" else ONE - self.price

    @property
    def fees(self) -> int:
        return self.taker_fees + self.maker_fees

    def side_action(self) -> tuple[str, str]:
        """The deprecated ``(side, action)`` pair: as placed for V1 orders; the YES-leg view for V2 orders."""
        if self.legacy_side and self.legacy_action:
            return self.legacy_side, self.legacy_action
        return "yes", ("buy" if self.book_side == "bid" else "sell")


@dataclass(frozen=True)
class FillRecord:
    """One fill of one account's order."""

    fill_id: str
    order_id: str
    client_order_id: str
    account: str
    ticker: str
    book_side: BookSide
    yes_price: int
    count: int
    fee: int
    is_taker: bool
    ts_ns: int
    post_position: int
    side: str
    action: str

    @property
    def outcome_side(self) -> Side:
        return "yes" if self.book_side == "bid" else "no"


@dataclass(frozen=True)
class PublicTrade:
    """A trade in the public tape (from the recording, or made by a simulator account)."""

    trade_id: str
    ticker: str
    yes_price: int
    count: int
    taker_side: Side | None
    ts_ns: int

    @property
    def taker_book_side(self) -> BookSide:
        return "ask" if self.taker_side == "no" else "bid"


@dataclass
class PositionRecord:
    """An account's position in one market (core accounting plus the fields Kalshi reports)."""

    ticker: str
    event_ticker: str
    pos: Position
    total_traded: int = 0  # micro-dollars paid for contracts bought in this market
    traded_count: int = 0  # contracts traded in this market (1/100 contract)
    last_updated_ns: int = 0
    settled: bool = False

    @property
    def count(self) -> int:
        return self.pos.count


@dataclass(frozen=True)
class SettlementRecord:
    ticker: str
    event_ticker: str
    market_result: str
    yes_count: int
    yes_total_cost: int
    no_count: int
    no_total_cost: int
    revenue: int  # micro-dollars paid out
    value: int  # YES payout per contract, price units
    fee_cost: int
    settled_ns: int


@dataclass(eq=False)
class Account:
    """A user of the simulator: cash, positions, orders, fills, settlements."""

    name: str
    cash: int  # micro-dollars
    user_id: str = field(default_factory=new_id)
    positions: dict[str, PositionRecord] = field(default_factory=dict)
    closed_positions: list[PositionRecord] = field(default_factory=list)
    orders: dict[str, Order] = field(default_factory=dict)
    by_client_id: dict[str, Order] = field(default_factory=dict)
    fills: list[FillRecord] = field(default_factory=list)
    settlements: list[SettlementRecord] = field(default_factory=list)
    updated_ns: int = 0

    def reserved(self) -> int:
        return sum(o.reserved for o in self.orders.values() if o.status == "resting")

    @property
    def available(self) -> int:
        return self.cash - self.reserved()

    def position(self, ticker: str, event_ticker: str) -> PositionRecord:
        rec = self.positions.get(ticker)
        if rec is None:
            rec = PositionRecord(ticker, event_ticker, Position(ticker, ticker))
            self.positions[ticker] = rec
        return rec


@dataclass(frozen=True)
class OrderRequest:
    """A validated order to place (from V2, V1 or the Python API)."""

    ticker: str
    book_side: BookSide
    price: int
    count: int
    time_in_force: str
    self_trade_prevention_type: str = "taker_at_cross"
    client_order_id: str = ""
    post_only: bool = False
    reduce_only: bool = False
    cancel_order_on_pause: bool = False
    expiration_ns: int | None = None
    legacy_side: str | None = None
    legacy_action: str | None = None
    order_group_id: str | None = None


__all__ = [
    "ONE",
    "STATUS_FILTERS",
    "STP_TYPES",
    "TIME_IN_FORCE",
    "Account",
    "FeeSchedule",
    "FillRecord",
    "Market",
    "MarketStatus",
    "Order",
    "OrderRequest",
    "PositionRecord",
    "PublicTrade",
    "SeriesRecord",
    "SettlementRecord",
    "new_id",
    "split_ticker",
]
