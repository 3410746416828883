"""Typed results of the REST client, decoded from both Kalshi wire eras into the kit's integer units.

Public results are immutable ``msgspec.Struct`` objects: prices ``int`` $0.0001, counts ``int`` 1/100 contract,
money ``int`` micro-dollars, times ``int`` ns UTC (see :mod:`kalshikit.units`). A side of the book with no price is
``None``. Orders decode to :class:`kalshikit.core.events.OrderUpdate`, fills to :class:`~kalshikit.core.events.Fill`
and order books to :class:`~kalshikit.core.events.BookSnapshot`, so REST reads feed the monitor directly.

Current responses carry dollar strings (``"0.6300"``) and fixed-point counts (``"10.00"``); responses before
2026-03-12 carried integer cents and counts, at first alongside the strings. Where both are present the strings
win (they keep sub-penny prices and fractional contracts). The ``_W*`` structs are the wire shapes; ``decode_*``
functions turn response bytes into results and raise :class:`~kalshikit.errors.ProtocolError` on a bad shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

import msgspec

from kalshikit.core.events import (
    BookSide,
    BookSnapshot,
    Fill,
    OrderStatus,
    OrderUpdate,
    PositionUpdate,
    Quote,
    Side,
    Trade,
)
from kalshikit.core.events import Settlement as SettlementEvent
from kalshikit.core.fees import FeeSchedule
from kalshikit.core.grid import PriceGrid, PriceRange
from kalshikit.errors import ProtocolError, UnitError
from kalshikit.kalshi.messages import parse_rfc3339_ns
from kalshikit.units import (
    CENT,
    COUNT_SCALE,
    NS_PER_MS,
    NS_PER_S,
    ONE_DOLLAR,
    format_count,
    format_price,
    money_from_cents,
    parse_count,
    parse_dollars_to_money,
    parse_price,
)

TimeInForce = Literal["good_till_canceled", "immediate_or_cancel", "fill_or_kill"]
SelfTradePrevention = Literal["taker_at_cross", "maker"]
TIME_IN_FORCE: tuple[str, ...] = ("good_till_canceled", "immediate_or_cancel", "fill_or_kill")
SELF_TRADE_PREVENTION: tuple[str, ...] = ("taker_at_cross", "maker")


# ============================================================================ public results
class ExchangeStatus(msgspec.Struct, frozen=True):
    exchange_active: bool
    trading_active: bool
    estimated_resume_ns: int | None = None


class Market(msgspec.Struct, frozen=True):
    """One market. Quotes are YES prices; ``None`` when that side of the book is empty (or no trade yet)."""

    ticker: str
    event_ticker: str
    title: str = ""
    subtitle: str = ""
    yes_sub_title: str = ""
    no_sub_title: str = ""
    market_type: str = "binary"
    status: str = ""  # initialized | inactive | active | closed | determined | disputed | amended | finalized
    result: str = ""  # yes | no | scalar | ""
    open_ns: int | None = None
    close_ns: int | None = None
    expiration_ns: int | None = None  # expiration_time, else latest_expiration_time
    expected_expiration_ns: int | None = None
    updated_ns: int | None = None
    yes_bid: int | None = None
    yes_ask: int | None = None
    last: int | None = None
    yes_bid_size: int | None = None
    yes_ask_size: int | None = None
    previous_yes_bid: int | None = None
    previous_yes_ask: int | None = None
    previous_price: int | None = None
    volume: int | None = None
    volume_24h: int | None = None
    open_interest: int | None = None
    grid: PriceGrid | None = None
    settlement_value: int | None = None  # YES payout per contract, price units
    settlement_ns: int | None = None
    settlement_timer_seconds: int | None = None
    can_close_early: bool | None = None
    strike_type: str | None = None
    floor_strike: float | None = None
    cap_strike: float | None = None
    rules_primary: str = ""
    rules_secondary: str = ""
    mve_collection_ticker: str = ""  # set on multivariate (combo) markets

    def quote(self, recv_ns: int = 0) -> Quote:
        """This market's top of book as a :class:`Quote` (``source="rest"``), e.g. to refresh a stale price."""
        return Quote(
            self.ticker,
            self.yes_bid,
            self.yes_ask,
            self.yes_bid_size,
            self.yes_ask_size,
            self.last,
            self.volume,
            self.open_interest,
            0,
            recv_ns,
            "rest",
        )


class Balance(msgspec.Struct, frozen=True):
    balance: int  # available cash, micro-dollars
    portfolio_value: int | None = None  # value of positions, micro-dollars
    updated_ns: int | None = None


class MarketPosition(msgspec.Struct, frozen=True):
    """Net position in one market: ``position`` > 0 YES contracts, < 0 NO contracts (1/100 contract units)."""

    ticker: str
    position: int
    exposure: int | None = None  # cost of the held contracts, micro-dollars
    total_traded: int | None = None
    realized_pnl: int | None = None
    fees_paid: int | None = None
    last_updated_ns: int | None = None

    def to_event(self, recv_ns: int = 0) -> PositionUpdate:
        return PositionUpdate(
            self.ticker,
            self.position,
            self.exposure,
            self.realized_pnl,
            self.fees_paid,
            "reconcile",
            self.last_updated_ns or 0,
            recv_ns,
        )


class SettlementRecord(msgspec.Struct, frozen=True):
    ticker: str
    event_ticker: str
    market_result: str
    yes_count: int
    no_count: int
    yes_total_cost: int | None  # micro-dollars
    no_total_cost: int | None
    revenue: int  # micro-dollars paid out
    fee_cost: int | None = None
    value: int | None = None  # payout per YES contract, price units
    settled_ns: int = 0

    def to_event(self, recv_ns: int = 0) -> SettlementEvent:
        return SettlementEvent(self.ticker, self.market_result, self.revenue, self.settled_ns, recv_ns)


class OrderRequest(msgspec.Struct, frozen=True):
    """One V2 order: ``side`` is the side of the YES book (bid = buy YES, ask = sell YES), ``price`` a YES price."""

    ticker: str
    side: BookSide
    price: int
    count: int
    time_in_force: TimeInForce = "good_till_canceled"
    client_order_id: str = ""
    reduce_only: bool = False
    post_only: bool = False
    self_trade_prevention_type: SelfTradePrevention = "taker_at_cross"
    expiration_ns: int | None = None
    cancel_order_on_pause: bool = False
    order_group_id: str | None = None
    subaccount: int | None = None

    def check(self) -> None:
        """Raise :class:`UnitError` for a request Kalshi would refuse for its shape alone."""
        problems = []
        if not self.ticker:
            problems.append("ticker is empty")
        if self.side not in ("bid", "ask"):
            problems.append(f"side must be 'bid' (buy YES) or 'ask' (sell YES), got {self.side!r}")
        if not 0 < self.price < ONE_DOLLAR:
            problems.append(f"price {self.price} must be a YES price strictly between 0 and {ONE_DOLLAR} ($1)")
        if self.count <= 0:
            problems.append(f"count {self.count} must be > 0 (hundredths of a contract)")
        if self.time_in_force not in TIME_IN_FORCE:
            problems.append(f"time_in_force {self.time_in_force!r} is not one of {', '.join(TIME_IN_FORCE)}")
        if self.self_trade_prevention_type not in SELF_TRADE_PREVENTION:
            problems.append(f"self_trade_prevention_type must be one of {', '.join(SELF_TRADE_PREVENTION)}")
        if self.reduce_only and self.time_in_force != "immediate_or_cancel":
            problems.append("reduce_only orders must use time_in_force='immediate_or_cancel' (Kalshi rule)")
        if self.expiration_ns is not None and self.time_in_force == "immediate_or_cancel":
            problems.append("immediate_or_cancel orders cannot have an expiration time")
        if problems:
            raise UnitError(f"order for {self.ticker or '?'} is invalid: " + "; ".join(problems))

    def to_wire(self) -> dict[str, Any]:
        """The ``CreateOrderV2Request`` body (optional flags only when set)."""
        body: dict[str, Any] = {
            "ticker": self.ticker,
            "side": self.side,
            "count": format_count(self.count),
            "price": format_price(self.price),
            "time_in_force": self.time_in_force,
            "self_trade_prevention_type": self.self_trade_prevention_type,
        }
        if self.client_order_id:
            body["client_order_id"] = self.client_order_id
        if self.reduce_only:
            body["reduce_only"] = True
        if self.post_only:
            body["post_only"] = True
        if self.expiration_ns is not None:
            body["expiration_time"] = self.expiration_ns // NS_PER_S
        if self.cancel_order_on_pause:
            body["cancel_order_on_pause"] = True
        if self.order_group_id:
            body["order_group_id"] = self.order_group_id
        if self.subaccount is not None:
            body["subaccount"] = self.subaccount
        return body


class OrderResult(msgspec.Struct, frozen=True):
    """The answer to an order create. ``recovered`` = learned by looking the order up (an attempt's reply was lost)."""

    order_id: str
    client_order_id: str | None
    fill_count: int
    remaining_count: int
    average_fill_price: int | None = None  # YES price, rounded half up to $0.0001
    average_fee_paid: int | None = None  # micro-dollars per contract
    ts_ns: int = 0
    ticker: str | None = None
    book_side: BookSide | None = None
    yes_price: int | None = None
    initial_count: int | None = None
    recovered: bool = False

    @property
    def status(self) -> OrderStatus:
        """``resting`` while some is left; ``executed`` when all of it filled; else ``canceled`` (IOC/FOK rest)."""
        if self.remaining_count > 0:
            return "resting"
        full = self.fill_count >= self.initial_count if self.initial_count is not None else self.fill_count > 0
        return "executed" if full else "canceled"

    def to_event(self, recv_ns: int = 0) -> OrderUpdate:
        return OrderUpdate(
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            ticker=self.ticker,
            status=self.status,
            fill_count=self.fill_count,
            remaining_count=self.remaining_count,
            book_side=self.book_side,
            yes_price=self.yes_price,
            initial_count=self.initial_count,
            average_fill_price=self.average_fill_price,
            exchange_ns=self.ts_ns,
            recv_ns=recv_ns,
        )


class CancelResult(msgspec.Struct, frozen=True):
    order_id: str
    client_order_id: str | None
    reduced_by: int  # contracts taken off the book, 1/100 units
    ts_ns: int = 0


class AmendResult(msgspec.Struct, frozen=True):
    order_id: str
    client_order_id: str | None
    remaining_count: int | None = None
    fill_count: int | None = None
    average_fill_price: int | None = None
    average_fee_paid: int | None = None
    ts_ns: int = 0


class DecreaseResult(msgspec.Struct, frozen=True):
    order_id: str
    client_order_id: str | None
    remaining_count: int
    ts_ns: int = 0


# ============================================================================ wire shapes (both eras)
Level = tuple[str | int, str | int]


class _WPriceRange(msgspec.Struct):
    start: str
    end: str
    step: str


class _WMarket(msgspec.Struct):
    ticker: str
    event_ticker: str = ""
    title: str | None = None
    subtitle: str | None = None
    yes_sub_title: str | None = None
    no_sub_title: str | None = None
    market_type: str | None = None
    status: str | None = None
    result: str | None = None
    open_time: str | None = None
    close_time: str | None = None
    expiration_time: str | None = None
    latest_expiration_time: str | None = None
    expected_expiration_time: str | None = None
    updated_time: str | None = None
    yes_bid_dollars: str | None = None
    yes_ask_dollars: str | None = None
    last_price_dollars: str | None = None
    previous_yes_bid_dollars: str | None = None
    previous_yes_ask_dollars: str | None = None
    previous_price_dollars: str | None = None
    yes_bid: int | None = None
    yes_ask: int | None = None
    last_price: int | None = None
    previous_yes_bid: int | None = None
    previous_yes_ask: int | None = None
    previous_price: int | None = None
    yes_bid_size_fp: str | None = None
    yes_ask_size_fp: str | None = None
    volume_fp: str | None = None
    volume_24h_fp: str | None = None
    open_interest_fp: str | None = None
    volume: int | None = None
    volume_24h: int | None = None
    open_interest: int | None = None
    price_level_structure: str | None = None
    price_ranges: list[_WPriceRange] | None = None
    settlement_value_dollars: str | None = None
    settlement_value: int | None = None
    settlement_ts: str | int | None = None
    settlement_timer_seconds: int | None = None
    can_close_early: bool | None = None
    strike_type: str | None = None
    floor_strike: float | None = None
    cap_strike: float | None = None
    rules_primary: str | None = None
    rules_secondary: str | None = None
    mve_collection_ticker: str | None = None


class _WMarketsPage(msgspec.Struct):
    markets: list[_WMarket] | None = None
    cursor: str | None = None


class _WMarketOne(msgspec.Struct):
    market: _WMarket


class _WExchangeStatus(msgspec.Struct):
    exchange_active: bool
    trading_active: bool
    exchange_estimated_resume_time: str | None = None


class _WUserDataTimestamp(msgspec.Struct):
    as_of_time: str


class _WBookFp(msgspec.Struct):
    yes_dollars: list[Level] | None = None
    no_dollars: list[Level] | None = None


class _WBookLegacy(msgspec.Struct):
    yes: list[Level] | None = None
    no: list[Level] | None = None
    yes_dollars: list[Level] | None = None
    no_dollars: list[Level] | None = None


class _WOrderbook(msgspec.Struct):
    orderbook_fp: _WBookFp | None = None
    orderbook: _WBookLegacy | None = None


class _WBalance(msgspec.Struct):
    balance: int | None = None
    balance_dollars: str | None = None
    portfolio_value: int | None = None
    portfolio_value_dollars: str | None = None
    updated_ts: int | None = None


class _WMarketPosition(msgspec.Struct):
    ticker: str
    position_fp: str | None = None
    position: int | None = None
    market_exposure_dollars: str | None = None
    market_exposure: int | None = None
    total_traded_dollars: str | None = None
    total_traded: int | None = None
    realized_pnl_dollars: str | None = None
    realized_pnl: int | None = None
    fees_paid_dollars: str | None = None
    fees_paid: int | None = None
    last_updated_ts: str | int | None = None


class _WPositionsPage(msgspec.Struct):
    market_positions: list[_WMarketPosition] | None = None
    cursor: str | None = None


class _WOrder(msgspec.Struct):
    order_id: str
    ticker: str | None = None
    client_order_id: str | None = None
    status: str | None = None
    book_side: str | None = None
    side: str | None = None
    action: str | None = None
    yes_price_dollars: str | None = None
    yes_price: int | None = None
    fill_count_fp: str | None = None
    fill_count: int | None = None
    remaining_count_fp: str | None = None
    remaining_count: int | None = None
    initial_count_fp: str | None = None
    initial_count: int | None = None
    taker_fees_dollars: str | None = None
    maker_fees_dollars: str | None = None
    taker_fees: int | None = None
    maker_fees: int | None = None
    created_time: str | None = None
    last_update_time: str | None = None


class _WOrdersPage(msgspec.Struct):
    orders: list[_WOrder] | None = None
    cursor: str | None = None


class _WOrderOne(msgspec.Struct):
    order: _WOrder


class _WFill(msgspec.Struct):
    order_id: str
    trade_id: str | None = None
    fill_id: str | None = None
    ticker: str | None = None
    market_ticker: str | None = None
    book_side: str | None = None
    side: str | None = None
    action: str | None = None
    yes_price_dollars: str | None = None
    yes_price_fixed: str | None = None
    yes_price: int | None = None
    count_fp: str | None = None
    count: int | None = None
    fee_cost: str | None = None
    is_taker: bool = True
    client_order_id: str | None = None
    ts: int | None = None
    created_time: str | None = None


class _WFillsPage(msgspec.Struct):
    fills: list[_WFill] | None = None
    cursor: str | None = None


class _WSettlement(msgspec.Struct):
    ticker: str
    event_ticker: str = ""
    market_result: str = ""
    yes_count_fp: str | None = None
    yes_count: int | None = None
    no_count_fp: str | None = None
    no_count: int | None = None
    yes_total_cost_dollars: str | None = None
    yes_total_cost: int | None = None
    no_total_cost_dollars: str | None = None
    no_total_cost: int | None = None
    revenue: int | None = None
    value: int | None = None
    fee_cost: str | None = None
    settled_time: str | None = None


class _WSettlementsPage(msgspec.Struct):
    settlements: list[_WSettlement] | None = None
    cursor: str | None = None


class _WCreate(msgspec.Struct):
    """V2 create reply (flat); a legacy V1 reply wraps an Order in ``order``."""

    order_id: str | None = None
    client_order_id: str | None = None
    fill_count: str | None = None
    remaining_count: str | None = None
    average_fill_price: str | None = None
    average_fee_paid: str | None = None
    ts_ms: int | None = None
    order: _WOrder | None = None


class _WCancel(msgspec.Struct):
    order_id: str | None = None
    client_order_id: str | None = None
    reduced_by: str | int | None = None
    reduced_by_fp: str | None = None
    ts_ms: int | None = None
    order: _WOrder | None = None


class _WAmend(msgspec.Struct):
    order_id: str | None = None
    client_order_id: str | None = None
    remaining_count: str | None = None
    fill_count: str | None = None
    average_fill_price: str | None = None
    average_fee_paid: str | None = None
    ts_ms: int | None = None
    order: _WOrder | None = None


class _WDecrease(msgspec.Struct):
    order_id: str | None = None
    client_order_id: str | None = None
    remaining_count: str | None = None
    ts_ms: int | None = None
    order: _WOrder | None = None


class _WBatchCreateItem(_WCreate):
    error: Any = None


class _WBatchCreate(msgspec.Struct):
    orders: list[_WBatchCreateItem] | None = None


class _WBatchCancelItem(_WCancel):
    error: Any = None


class _WBatchCancel(msgspec.Struct):
    orders: list[_WBatchCancelItem] | None = None


class _WCursor(msgspec.Struct):
    cursor: str | None = None


# ============================================================================ field conversion
def _time(text: str | None) -> int | None:
    if not text:
        return None
    return parse_rfc3339_ns(text)


def _time_or_s(value: str | int | None) -> int | None:
    """An RFC3339 string or Unix seconds (both appear for ``*_ts`` fields) to ns."""
    if isinstance(value, int):
        return value * NS_PER_S
    return _time(value)


def _ts_ms(ts_ms: int | None) -> int:
    return ts_ms * NS_PER_MS if ts_ms is not None else 0


def _price(dollars: str | None, cents: int | None = None) -> int | None:
    if dollars:
        return parse_price(dollars)
    if cents is not None:
        return cents * CENT
    return None


def _count(fp: str | None, legacy: int | None = None) -> int | None:
    if fp:
        return parse_count(fp)
    if legacy is not None:
        return legacy * COUNT_SCALE
    return None


def _money(dollars: str | None, cents: int | None = None) -> int | None:
    if dollars:
        return parse_dollars_to_money(dollars)
    if cents is not None:
        return money_from_cents(cents)
    return None


def _avg_price(dollars: str | None) -> int | None:
    """An average price (up to 6 decimals, e.g. ``"0.313333"``) rounded half up to price units ($0.0001)."""
    if not dollars:
        return None
    money = parse_dollars_to_money(dollars)
    return (money + 50) // 100


def _bid(p: int | None) -> int | None:
    """A YES bid of 0 means no bid."""
    return p if p else None


def _ask(p: int | None) -> int | None:
    """A YES ask of 0 (legacy empty) or $1 (current empty) means no ask."""
    return p if p and p < ONE_DOLLAR else None


def _grid(structure: str | None, ranges: list[_WPriceRange] | None) -> PriceGrid | None:
    if ranges:
        return PriceGrid(
            tuple(PriceRange(parse_price(r.start), parse_price(r.end), parse_price(r.step)) for r in ranges),
            structure or "custom",
        )
    if structure:
        try:
            return PriceGrid.named(structure)
        except ValueError:
            return None  # a structure this kit does not know, and no explicit ranges: grid unknown
    return None


def _book_side(book_side: str | None, side: str | None, action: str | None) -> BookSide | None:
    """Side of the YES book; legacy (side, action): buy YES / sell NO = bid, sell YES / buy NO = ask."""
    if book_side == "bid":
        return "bid"
    if book_side == "ask":
        return "ask"
    if side in ("yes", "no") and action in ("buy", "sell"):
        return "bid" if (side == "yes") == (action == "buy") else "ask"
    return None


_STATUSES = frozenset({"resting", "canceled", "executed"})


def market_from_wire(m: _WMarket) -> Market:
    yes_bid = _bid(_price(m.yes_bid_dollars, m.yes_bid))
    yes_ask = _ask(_price(m.yes_ask_dollars, m.yes_ask))
    return Market(
        ticker=m.ticker,
        event_ticker=m.event_ticker,
        title=m.title or "",
        subtitle=m.subtitle or "",
        yes_sub_title=m.yes_sub_title or "",
        no_sub_title=m.no_sub_title or "",
        market_type=m.market_type or "binary",
        status=m.status or "",
        result=m.result or "",
        open_ns=_time(m.open_time),
        close_ns=_time(m.close_time),
        expiration_ns=_time(m.expiration_time) or _time(m.latest_expiration_time),
        expected_expiration_ns=_time(m.expected_expiration_time),
        updated_ns=_time(m.updated_time),
        yes_bid=yes_bid,
        yes_ask=yes_ask,
        last=_bid(_price(m.last_price_dollars, m.last_price)),
        yes_bid_size=_count(m.yes_bid_size_fp) if yes_bid is not None else None,  # no size for an empty side
        yes_ask_size=_count(m.yes_ask_size_fp) if yes_ask is not None else None,
        previous_yes_bid=_bid(_price(m.previous_yes_bid_dollars, m.previous_yes_bid)),
        previous_yes_ask=_ask(_price(m.previous_yes_ask_dollars, m.previous_yes_ask)),
        previous_price=_bid(_price(m.previous_price_dollars, m.previous_price)),
        volume=_count(m.volume_fp, m.volume),
        volume_24h=_count(m.volume_24h_fp, m.volume_24h),
        open_interest=_count(m.open_interest_fp, m.open_interest),
        grid=_grid(m.price_level_structure, m.price_ranges),
        settlement_value=_price(m.settlement_value_dollars, m.settlement_value),
        settlement_ns=_time_or_s(m.settlement_ts),
        settlement_timer_seconds=m.settlement_timer_seconds,
        can_close_early=m.can_close_early,
        strike_type=m.strike_type,
        floor_strike=m.floor_strike,
        cap_strike=m.cap_strike,
        rules_primary=m.rules_primary or "",
        rules_secondary=m.rules_secondary or "",
        mve_collection_ticker=m.mve_collection_ticker or "",
    )


def order_from_wire(o: _WOrder, recv_ns: int = 0) -> OrderUpdate:
    status: OrderStatus = o.status if o.status in _STATUSES else "unknown"  # type: ignore[assignment]
    taker = _money(o.taker_fees_dollars, o.taker_fees)
    maker = _money(o.maker_fees_dollars, o.maker_fees)
    return OrderUpdate(
        order_id=o.order_id,
        client_order_id=o.client_order_id or None,
        ticker=o.ticker,
        status=status,
        fill_count=_count(o.fill_count_fp, o.fill_count) or 0,
        remaining_count=_count(o.remaining_count_fp, o.remaining_count) or 0,
        book_side=_book_side(o.book_side, o.side, o.action),
        yes_price=_price(o.yes_price_dollars, o.yes_price),
        initial_count=_count(o.initial_count_fp, o.initial_count),
        fees=(taker or 0) + (maker or 0),
        exchange_ns=_time(o.last_update_time) or _time(o.created_time) or 0,
        recv_ns=recv_ns,
    )


def fill_from_wire(f: _WFill, recv_ns: int = 0) -> Fill:
    ticker = f.ticker or f.market_ticker
    trade_id = f.trade_id or f.fill_id
    side = _book_side(f.book_side, f.side, f.action)
    price = _price(f.yes_price_dollars or f.yes_price_fixed, f.yes_price)
    count = _count(f.count_fp, f.count)
    if not ticker or not trade_id or side is None or price is None or count is None:
        raise ProtocolError(
            f"fill {trade_id or '?'} of order {f.order_id} lacks ticker, trade id, side, price or count"
        )
    # created_time is finer than the legacy ts (whole seconds); use ts only when created_time is absent.
    exchange_ns = _time(f.created_time) or (f.ts * NS_PER_S if f.ts is not None else 0)
    return Fill(
        trade_id=trade_id,
        order_id=f.order_id,
        ticker=ticker,
        book_side=side,
        yes_price=price,
        count=count,
        fee=parse_dollars_to_money(f.fee_cost) if f.fee_cost else 0,
        is_taker=f.is_taker,
        client_order_id=f.client_order_id or None,
        post_position=None,
        exchange_ns=exchange_ns,
        recv_ns=recv_ns,
    )


def position_from_wire(p: _WMarketPosition) -> MarketPosition:
    pos = _count(p.position_fp, p.position)
    if pos is None:
        raise ProtocolError(f"market position {p.ticker} has neither position_fp nor position")
    last = _time_or_s(p.last_updated_ts)
    return MarketPosition(
        ticker=p.ticker,
        position=pos,
        exposure=_money(p.market_exposure_dollars, p.market_exposure),
        total_traded=_money(p.total_traded_dollars, p.total_traded),
        realized_pnl=_money(p.realized_pnl_dollars, p.realized_pnl),
        fees_paid=_money(p.fees_paid_dollars, p.fees_paid),
        last_updated_ns=last,
    )


def settlement_from_wire(s: _WSettlement) -> SettlementRecord:
    return SettlementRecord(
        ticker=s.ticker,
        event_ticker=s.event_ticker,
        market_result=s.market_result,
        yes_count=_count(s.yes_count_fp, s.yes_count) or 0,
        no_count=_count(s.no_count_fp, s.no_count) or 0,
        yes_total_cost=_money(s.yes_total_cost_dollars, s.yes_total_cost),
        no_total_cost=_money(s.no_total_cost_dollars, s.no_total_cost),
        revenue=money_from_cents(s.revenue) if s.revenue is not None else 0,
        fee_cost=parse_dollars_to_money(s.fee_cost) if s.fee_cost else None,
        value=s.value * CENT if s.value is not None else None,
        settled_ns=_time(s.settled_time) or 0,
    )


def _levels(rows: list[Level] | None) -> tuple[tuple[int, int], ...]:
    if not rows:
        return ()
    out = []
    for p, c in rows:
        price = parse_price(p) if isinstance(p, str) else p * CENT
        count = parse_count(c)
        out.append((price, count))
    out.sort()
    return tuple(out)


def book_from_wire(w: _WOrderbook, ticker: str, recv_ns: int = 0) -> BookSnapshot:
    if w.orderbook_fp is not None:
        yes, no = _levels(w.orderbook_fp.yes_dollars), _levels(w.orderbook_fp.no_dollars)
    elif w.orderbook is not None:
        lb = w.orderbook
        yes = _levels(lb.yes_dollars if lb.yes_dollars else lb.yes)
        no = _levels(lb.no_dollars if lb.no_dollars else lb.no)
    else:
        raise ProtocolError(f"order book of {ticker} has neither 'orderbook_fp' nor 'orderbook'")
    return BookSnapshot(ticker, yes, no, 0, 0, 0, recv_ns)


def create_result_from_wire(w: _WCreate, req: OrderRequest | None = None) -> OrderResult | None:
    """The create result, or ``None`` when the reply has no ``order_id`` (a soft rejection)."""
    if w.order is not None and w.order.order_id:
        return order_result_from_order(order_from_wire(w.order), recovered=False)
    if not w.order_id:
        return None
    fill = _count(w.fill_count) or 0
    remaining = _count(w.remaining_count) or 0
    return OrderResult(
        order_id=w.order_id,
        client_order_id=w.client_order_id or (req.client_order_id if req else None) or None,
        fill_count=fill,
        remaining_count=remaining,
        average_fill_price=_avg_price(w.average_fill_price),
        average_fee_paid=parse_dollars_to_money(w.average_fee_paid) if w.average_fee_paid else None,
        ts_ns=_ts_ms(w.ts_ms),
        ticker=req.ticker if req else None,
        book_side=req.side if req else None,
        yes_price=req.price if req else None,
        initial_count=req.count if req else None,
    )


def order_result_from_order(o: OrderUpdate, *, recovered: bool) -> OrderResult:
    return OrderResult(
        order_id=o.order_id,
        client_order_id=o.client_order_id,
        fill_count=o.fill_count,
        remaining_count=o.remaining_count,
        average_fill_price=o.average_fill_price,
        ts_ns=o.exchange_ns,
        ticker=o.ticker,
        book_side=o.book_side,
        yes_price=o.yes_price,
        initial_count=o.initial_count,
        recovered=recovered,
    )


def cancel_result_from_wire(w: _WCancel, order_id: str = "") -> CancelResult:
    if w.order is not None:
        o = order_from_wire(w.order)
        oid, coid, ts = o.order_id, o.client_order_id, o.exchange_ns
    else:
        oid, coid, ts = w.order_id or order_id, w.client_order_id or None, _ts_ms(w.ts_ms)
    if not oid:
        raise ProtocolError("cancel reply has no order_id")
    rb = w.reduced_by_fp if w.reduced_by_fp else w.reduced_by
    reduced = (parse_count(rb) if isinstance(rb, str) else rb * COUNT_SCALE) if rb is not None else 0
    return CancelResult(oid, coid, reduced, ts)


def amend_result_from_wire(w: _WAmend) -> AmendResult:
    if w.order is not None:
        o = order_from_wire(w.order)
        return AmendResult(o.order_id, o.client_order_id, o.remaining_count, o.fill_count, None, None, o.exchange_ns)
    if not w.order_id:
        raise ProtocolError("amend reply has no order_id")
    return AmendResult(
        w.order_id,
        w.client_order_id or None,
        _count(w.remaining_count),
        _count(w.fill_count),
        _avg_price(w.average_fill_price),
        parse_dollars_to_money(w.average_fee_paid) if w.average_fee_paid else None,
        _ts_ms(w.ts_ms),
    )


def decrease_result_from_wire(w: _WDecrease) -> DecreaseResult:
    if w.order is not None:
        o = order_from_wire(w.order)
        return DecreaseResult(o.order_id, o.client_order_id, o.remaining_count, o.exchange_ns)
    if not w.order_id or w.remaining_count is None:
        raise ProtocolError("decrease reply has no order_id or remaining_count")
    return DecreaseResult(w.order_id, w.client_order_id or None, parse_count(w.remaining_count), _ts_ms(w.ts_ms))


# ============================================================================ decoding entry points
T = TypeVar("T")
W = TypeVar("W")

_DECODERS: dict[type, msgspec.json.Decoder[Any]] = {}


def _decoder(t: type[W]) -> msgspec.json.Decoder[W]:
    d = _DECODERS.get(t)
    if d is None:
        d = _DECODERS[t] = msgspec.json.Decoder(t)
    return d


def decode(raw: bytes, wire: type[W], convert: Callable[[W], T], what: str) -> T:
    """Decode ``raw`` as ``wire`` and convert it; any bad shape or value becomes a :class:`ProtocolError`."""
    try:
        return convert(_decoder(wire).decode(raw))
    except (msgspec.DecodeError, msgspec.ValidationError, UnitError, ValueError, TypeError, OverflowError) as exc:
        text = raw[:200].decode("utf-8", "replace")
        raise ProtocolError(f"could not decode {what}: {type(exc).__name__}: {exc}; body starts {text!r}") from None


def decode_page(raw: bytes, wire: type[W], items: Callable[[W], list[T]], what: str) -> tuple[list[T], str]:
    """Decode one page of a list endpoint into ``(items, next_cursor)`` (cursor ``""`` at the end)."""

    def convert(w: W) -> tuple[list[T], str]:
        return items(w), getattr(w, "cursor", None) or ""

    return decode(raw, wire, convert, what)


def decode_exchange_status(raw: bytes) -> ExchangeStatus:
    return decode(
        raw,
        _WExchangeStatus,
        lambda w: ExchangeStatus(w.exchange_active, w.trading_active, _time(w.exchange_estimated_resume_time)),
        "exchange status",
    )


def decode_user_data_timestamp(raw: bytes) -> int:
    """``{"as_of_time": RFC3339}`` -> ns UTC."""

    def convert(w: _WUserDataTimestamp) -> int:
        ns = _time(w.as_of_time)
        if ns is None:
            raise ProtocolError(f"user_data_timestamp as_of_time {w.as_of_time!r} is not an RFC3339 time")
        return ns

    return decode(raw, _WUserDataTimestamp, convert, "user data timestamp")


def decode_market(raw: bytes) -> Market:
    return decode(raw, _WMarketOne, lambda w: market_from_wire(w.market), "market")


def decode_markets_page(raw: bytes) -> tuple[list[Market], str]:
    return decode_page(raw, _WMarketsPage, lambda w: [market_from_wire(m) for m in w.markets or ()], "markets page")


def decode_orderbook(raw: bytes, ticker: str, recv_ns: int = 0) -> BookSnapshot:
    return decode(raw, _WOrderbook, lambda w: book_from_wire(w, ticker, recv_ns), f"order book of {ticker}")


def decode_balance(raw: bytes) -> Balance:
    def convert(w: _WBalance) -> Balance:
        bal = _money(w.balance_dollars, w.balance)
        if bal is None:
            raise ValueError("balance reply has neither balance_dollars nor balance")
        return Balance(
            bal,
            _money(w.portfolio_value_dollars, w.portfolio_value),
            w.updated_ts * NS_PER_S if w.updated_ts is not None else None,
        )

    return decode(raw, _WBalance, convert, "balance")


def decode_positions_page(raw: bytes) -> tuple[list[MarketPosition], str]:
    return decode_page(
        raw, _WPositionsPage, lambda w: [position_from_wire(p) for p in w.market_positions or ()], "positions page"
    )


def decode_orders_page(raw: bytes, recv_ns: int = 0) -> tuple[list[OrderUpdate], str]:
    return decode_page(raw, _WOrdersPage, lambda w: [order_from_wire(o, recv_ns) for o in w.orders or ()], "orders")


def decode_order(raw: bytes, recv_ns: int = 0) -> OrderUpdate:
    return decode(raw, _WOrderOne, lambda w: order_from_wire(w.order, recv_ns), "order")


def decode_fills_page(raw: bytes, recv_ns: int = 0) -> tuple[list[Fill], str]:
    return decode_page(raw, _WFillsPage, lambda w: [fill_from_wire(f, recv_ns) for f in w.fills or ()], "fills")


def decode_settlements_page(raw: bytes) -> tuple[list[SettlementRecord], str]:
    return decode_page(
        raw, _WSettlementsPage, lambda w: [settlement_from_wire(s) for s in w.settlements or ()], "settlements"
    )


def decode_create(raw: bytes, req: OrderRequest | None = None) -> OrderResult | None:
    return decode(raw, _WCreate, lambda w: create_result_from_wire(w, req), "order create reply")


def decode_cancel(raw: bytes, order_id: str = "") -> CancelResult:
    return decode(raw, _WCancel, lambda w: cancel_result_from_wire(w, order_id), "order cancel reply")


def decode_amend(raw: bytes) -> AmendResult:
    return decode(raw, _WAmend, amend_result_from_wire, "order amend reply")


def decode_decrease(raw: bytes) -> DecreaseResult:
    return decode(raw, _WDecrease, decrease_result_from_wire, "order decrease reply")


def decode_batch_create(raw: bytes) -> list[_WBatchCreateItem]:
    return decode(raw, _WBatchCreate, lambda w: list(w.orders or ()), "batch create reply")


def decode_batch_cancel(raw: bytes) -> list[_WBatchCancelItem]:
    return decode(raw, _WBatchCancel, lambda w: list(w.orders or ()), "batch cancel reply")


# ============================================================================ series (fee fields)
class Series(msgspec.Struct, frozen=True):
    """A series (``GET /series/{series_ticker}``): the template of recurring events, and the fee fields every market
    of it trades under. ``fee_multiplier`` is the wire number's decimal text, kept exact (``"0.5"``; ``""`` when the
    reply has none)."""

    ticker: str
    title: str = ""
    category: str = ""
    frequency: str = ""
    tags: tuple[str, ...] = ()
    fee_type: str = ""
    fee_multiplier: str = ""
    updated_ns: int | None = None  # last_updated_ts
    volume: int | None = None  # 1/100 contract, when asked for (include_volume)

    def fee_schedule(self, *, flat_ppm: int | None = None) -> FeeSchedule:
        """The series' :class:`~kalshikit.core.fees.FeeSchedule`; :class:`UnitError` when the fee fields are missing
        or unknown (see :meth:`FeeSchedule.from_wire`, also for ``flat_ppm``)."""
        if not self.fee_type or not self.fee_multiplier:
            raise UnitError(f"series {self.ticker} carries no fee_type/fee_multiplier; its fee schedule is unknown")
        try:
            return FeeSchedule.from_wire(self.fee_type, self.fee_multiplier, flat_ppm=flat_ppm)
        except UnitError as exc:
            raise UnitError(f"series {self.ticker}: {exc}") from None


class _WSeries(msgspec.Struct):
    ticker: str
    title: str | None = None
    category: str | None = None
    frequency: str | None = None
    tags: list[str] | None = None
    fee_type: str | None = None
    fee_multiplier: msgspec.Raw = msgspec.Raw(b"null")  # the number's text as sent: exact
    last_updated_ts: str | None = None
    volume: int | None = None
    volume_fp: str | None = None


class _WSeriesOne(msgspec.Struct):
    series: _WSeries


class _WSeriesList(msgspec.Struct):
    series: list[_WSeries] | None  # required (null: none)
    cursor: str | None = None


def _raw_number_text(raw: msgspec.Raw) -> str:
    """A JSON number's text as sent (a quoted number is unquoted; null is ``""``)."""
    text = bytes(raw).decode("utf-8").strip()
    if text == "null":
        return ""
    if text.startswith('"'):
        value = msgspec.json.decode(text)
        return value if isinstance(value, str) else ""
    return text


def series_from_wire(w: _WSeries) -> Series:
    return Series(
        ticker=w.ticker,
        title=w.title or "",
        category=w.category or "",
        frequency=w.frequency or "",
        tags=tuple(w.tags or ()),
        fee_type=w.fee_type or "",
        fee_multiplier=_raw_number_text(w.fee_multiplier),
        updated_ns=_time(w.last_updated_ts),
        volume=_count(w.volume_fp, w.volume),
    )


def decode_series(raw: bytes) -> Series:
    """``GET /series/{series_ticker}`` -> :class:`Series`."""
    return decode(raw, _WSeriesOne, lambda w: series_from_wire(w.series), "series")


def decode_series_page(raw: bytes) -> tuple[list[Series], str]:
    """``GET /series`` (one page) -> ``([Series], next_cursor)``."""
    return decode_page(raw, _WSeriesList, lambda w: [series_from_wire(x) for x in w.series or ()], "series list")


# ============================================================================ candlesticks and public trades
class Candle(msgspec.Struct, frozen=True):
    """One candlestick of one market: the period ends at ``end_ns`` (inclusive; Kalshi's ``end_period_ts``).

    OHLC of the YES bid, the YES ask and the traded YES price, in price units. A bid of $0 or an ask of $1 on the
    wire means that side of the book was empty: ``None`` here (so ``yes_bid_low is None`` says the bid vanished at
    some point of the period). The traded prices are ``None`` when nothing traded; ``price_previous`` is the last
    trade before the period. ``volume`` (traded in the period) and ``open_interest`` (at its end) in 1/100 contract.
    """

    end_ns: int
    yes_bid_open: int | None = None
    yes_bid_high: int | None = None
    yes_bid_low: int | None = None
    yes_bid_close: int | None = None
    yes_ask_open: int | None = None
    yes_ask_high: int | None = None
    yes_ask_low: int | None = None
    yes_ask_close: int | None = None
    price_open: int | None = None
    price_high: int | None = None
    price_low: int | None = None
    price_close: int | None = None
    price_mean: int | None = None
    price_previous: int | None = None
    volume: int | None = None
    open_interest: int | None = None


class PublicTrade(msgspec.Struct, frozen=True):
    """One print of the public tape (``GET /markets/trades``): YES price, count, the taker's outcome side."""

    trade_id: str
    ticker: str
    yes_price: int
    count: int
    taker_side: Side | None
    created_ns: int
    is_block_trade: bool | None = None

    def to_event(self, recv_ns: int = 0) -> Trade:
        return Trade(
            self.ticker, self.trade_id, self.yes_price, self.count, self.taker_side, 0, 0, self.created_ns, recv_ns
        )


class _WOhlc(msgspec.Struct):
    """A bid/ask distribution: current dollar strings, legacy integer cents (both in early 2026)."""

    open: int | None = None
    open_dollars: str | None = None
    high: int | None = None
    high_dollars: str | None = None
    low: int | None = None
    low_dollars: str | None = None
    close: int | None = None
    close_dollars: str | None = None


class _WPriceOhlc(_WOhlc):
    mean: int | None = None
    mean_dollars: str | None = None
    previous: int | None = None
    previous_dollars: str | None = None


class _WCandle(msgspec.Struct):
    end_period_ts: int
    yes_bid: _WOhlc | None = None
    yes_ask: _WOhlc | None = None
    price: _WPriceOhlc | None = None
    volume_fp: str | None = None
    volume: int | str | None = None  # legacy int; a FixedPointCount string in the historical endpoint
    open_interest_fp: str | None = None
    open_interest: int | str | None = None


class _WCandles(msgspec.Struct):
    candlesticks: list[_WCandle] | None = None
    ticker: str | None = None


class _WPublicTrade(msgspec.Struct):
    trade_id: str
    ticker: str
    count_fp: str | None = None
    count: int | None = None
    yes_price_dollars: str | None = None
    yes_price: int | None = None
    taker_outcome_side: str | None = None
    taker_side: str | None = None
    taker_book_side: str | None = None
    created_time: str | None = None
    is_block_trade: bool | None = None


class _WTradesPage(msgspec.Struct):
    trades: list[_WPublicTrade] | None = None
    cursor: str | None = None


def _fp_or_int(fp: str | None, value: int | str | None) -> int | None:
    """A count from its ``_fp`` string, else the unsuffixed field (legacy whole contracts, or an fp string)."""
    if fp:
        return parse_count(fp)
    if isinstance(value, str):
        return parse_count(value)
    return value * COUNT_SCALE if value is not None else None


def _ohlc(w: _WOhlc | None, side: Callable[[int | None], int | None]) -> tuple[int | None, ...]:
    if w is None:
        return (None, None, None, None)
    return (
        side(_price(w.open_dollars, w.open)),
        side(_price(w.high_dollars, w.high)),
        side(_price(w.low_dollars, w.low)),
        side(_price(w.close_dollars, w.close)),
    )


def candle_from_wire(c: _WCandle) -> Candle:
    bo, bh, bl, bc = _ohlc(c.yes_bid, _bid)
    ao, ah, al, ac = _ohlc(c.yes_ask, _ask)
    p = c.price
    return Candle(
        end_ns=c.end_period_ts * NS_PER_S,
        yes_bid_open=bo,
        yes_bid_high=bh,
        yes_bid_low=bl,
        yes_bid_close=bc,
        yes_ask_open=ao,
        yes_ask_high=ah,
        yes_ask_low=al,
        yes_ask_close=ac,
        price_open=_price(p.open_dollars, p.open) if p else None,
        price_high=_price(p.high_dollars, p.high) if p else None,
        price_low=_price(p.low_dollars, p.low) if p else None,
        price_close=_price(p.close_dollars, p.close) if p else None,
        price_mean=_price(p.mean_dollars, p.mean) if p else None,
        price_previous=_price(p.previous_dollars, p.previous) if p else None,
        volume=_fp_or_int(c.volume_fp, c.volume),
        open_interest=_fp_or_int(c.open_interest_fp, c.open_interest),
    )


def public_trade_from_wire(t: _WPublicTrade) -> PublicTrade:
    price = _price(t.yes_price_dollars, t.yes_price)
    count = _count(t.count_fp, t.count)
    if price is None or count is None or not t.created_time:
        raise ProtocolError(f"trade {t.trade_id} of {t.ticker} lacks a YES price, a count or created_time")
    side = t.taker_outcome_side or t.taker_side
    if side not in ("yes", "no"):
        side = {"bid": "yes", "ask": "no"}.get(t.taker_book_side or "")
    return PublicTrade(
        trade_id=t.trade_id,
        ticker=t.ticker,
        yes_price=price,
        count=count,
        taker_side=side,  # type: ignore[arg-type]
        created_ns=parse_rfc3339_ns(t.created_time),
        is_block_trade=t.is_block_trade,
    )


def decode_candlesticks(raw: bytes, ticker: str = "") -> list[Candle]:
    """``GET /series/{s}/markets/{t}/candlesticks`` (either era) -> candles in the order sent (oldest first)."""
    return decode(
        raw, _WCandles, lambda w: [candle_from_wire(c) for c in w.candlesticks or ()], f"candlesticks of {ticker}"
    )


def decode_trades_page(raw: bytes) -> tuple[list[PublicTrade], str]:
    """``GET /markets/trades`` (one page, either era) -> ``([PublicTrade], next_cursor)``, newest first."""
    return decode_page(raw, _WTradesPage, lambda w: [public_trade_from_wire(t) for t in w.trades or ()], "trades")
