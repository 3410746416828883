"""The replay fill model, explicit and documented.

- An exit order arrives ``latency`` after the monitor decided (default 0: it meets the very quote that triggered).
- It fills against the book prevailing at arrival, best price first, no worse than the order's limit:
  - where the recording has the market's order book (``orderbook_snapshot`` / ``orderbook_delta``), the recorded
    book as it was at arrival, level by level at each level's price and size (:mod:`kalshikit.replay.depth`);
    liquidity taken stays taken until the next recorded book change;
  - elsewhere, the displayed top of book of the last quote received at or before that time (a ticker quote shows
    one level per side, with its size), up to the displayed size. Liquidity taken stays taken until the next quote
    replaces the book.
- Whatever is not filled is cancelled (IOC); the monitor re-issues the remainder on the following quotes, exactly
  as it does live.
- Each fill pays Kalshi's taker fee (``FeeSchedule.taker``: 0.07 × multiplier × C × P × (1 − P), rounded up to
  $0.0001) of the market's series: ``series_fees`` maps series tickers to their schedule (see
  :mod:`kalshikit.replay.fees`); ``fees`` prices every other series.
- A quote without a size (legacy frames) offers ``unknown_size`` (default: unlimited).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kalshikit.core.actions import PlaceOrder
from kalshikit.core.book import OrderBook
from kalshikit.core.events import Fill, OrderUpdate, Quote
from kalshikit.core.fees import STANDARD_FEES, FeeSchedule, series_of

UNLIMITED = 10**12


@dataclass(frozen=True)
class FillModel:
    latency_ns: int = 0
    fees: FeeSchedule = field(default_factory=lambda: STANDARD_FEES)
    unknown_size: int | None = None  # 1/100 contracts offered by a quote without a size; None = unlimited
    series_fees: Mapping[str, FeeSchedule] = field(default_factory=dict)  # series ticker -> its schedule

    def __post_init__(self) -> None:
        if self.latency_ns < 0:
            raise ValueError(f"latency must be >= 0, got {self.latency_ns} ns")
        object.__setattr__(self, "series_fees", dict(self.series_fees))

    def fees_for(self, ticker: str) -> FeeSchedule:
        """The fee schedule of ``ticker``'s series (``fees`` when ``series_fees`` does not list it)."""
        return self.series_fees.get(series_of(ticker), self.fees) if self.series_fees else self.fees

    def book_for(self, quote: Quote) -> OrderBook:
        book = OrderBook(quote.ticker)
        book.set_top(quote, UNLIMITED if self.unknown_size is None else self.unknown_size)
        return book

    def execute(self, order: PlaceOrder, book: OrderBook, now_ns: int) -> tuple[list[Fill], OrderUpdate]:
        """Fill ``order`` against ``book`` (consuming it) at ``now_ns``; IOC: the rest is cancelled."""
        taken = book.take(order.book_side, order.yes_price, order.count)
        order_id = f"replay-{order.client_order_id}"
        fills: list[Fill] = []
        filled = value = fees = 0
        schedule = self.fees_for(order.ticker)
        for k, (price, count) in enumerate(taken):
            fee = schedule.taker(price, count)
            fills.append(
                Fill(
                    f"{order_id}-{k}",
                    order_id,
                    order.ticker,
                    order.book_side,
                    price,
                    count,
                    fee=fee,
                    client_order_id=order.client_order_id,
                    exchange_ns=now_ns,
                    recv_ns=now_ns,
                )
            )
            filled += count
            value += price * count
            fees += fee
        update = OrderUpdate(
            order_id=order_id,
            client_order_id=order.client_order_id,
            ticker=order.ticker,
            status="executed" if filled == order.count else "canceled",
            fill_count=filled,
            remaining_count=0,
            book_side=order.book_side,
            yes_price=order.yes_price,
            initial_count=order.count,
            fees=fees,
            average_fill_price=(value + filled // 2) // filled if filled else None,
            exchange_ns=now_ns,
            recv_ns=now_ns,
        )
        return fills, update
