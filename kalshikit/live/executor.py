"""Carries out the monitor's actions against Kalshi without ever blocking the monitor thread.

Order writes, confirmations and lookups run on a small pool of named I/O threads (``OrderIO-n``) so one slow
request never delays the next trigger. Every result comes back to the monitor as an event through ``post``:
OrderUpdate, OrderRejected, OrderUnknown, OrderNotFound, a REST Quote, or ConfirmFailed.

The executor writes nothing: the monitor thread has saved the order with the monitor's state before handing it
here, and the outcome is saved when the monitor has taken it in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import msgspec

from kalshikit.core.actions import PlaceOrder
from kalshikit.core.book import OrderBook
from kalshikit.core.events import (
    BookSnapshot,
    ConfirmFailed,
    OrderNotFound,
    OrderRejected,
    OrderUnknown,
    OrderUpdate,
    Quote,
)
from kalshikit.errors import (
    DuplicateOrder,
    ExchangeError,
    KalshiKitError,
    OrderOutcomeUnknown,
    RateLimited,
    TemporaryError,
)
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.live.faultpoints import crash_point

log = logging.getLogger("kalshikit.exits")


class OrderExecutor:
    """``post`` delivers result events to the StopLossMonitor thread's inbox."""

    def __init__(
        self,
        rest: KalshiRest,
        post: Callable[[object], None],
        *,
        workers: int = 4,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.rest = rest
        self.post = post
        self._clock = clock_ns
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="OrderIO")
        self.sent = 0
        self.failed = 0
        self._closed = False

    def close(self, wait: bool = True) -> None:
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=False)

    def _submit(self, fn: Callable[..., None], *args: Any) -> Future[None] | None:
        if self._closed:
            return None
        try:
            return self._pool.submit(fn, *args)
        except RuntimeError:  # shut down while stopping
            return None

    # ------------------------------------------------------------------ orders
    def place(self, order: PlaceOrder) -> None:
        """Send an order (already saved by the monitor thread) on the pool."""
        self._submit(self._send, order)
        time.sleep(0)  # hand the GIL to the I/O thread at once: the exit goes out before any bookkeeping
        log.info(
            "%s %s %s: %s %.2f @ %.4f (%s, attempt %d)",
            order.purpose,
            order.ticker,
            order.client_order_id,
            order.book_side,
            order.count / 100,
            order.yes_price / 10_000,
            order.trigger,
            order.attempt,
        )

    def _send(self, order: PlaceOrder) -> None:
        try:
            result = self.rest.create_order(
                order.ticker,
                order.book_side,
                order.yes_price,
                order.count,
                time_in_force=order.time_in_force,
                client_order_id=order.client_order_id,
                reduce_only=order.reduce_only,
                self_trade_prevention_type=order.self_trade_prevention_type,
            )
        except DuplicateOrder as exc:  # the REST client resolves these; here only if that lookup failed too
            self._unknown(order, f"duplicate id and lookup failed: {exc}")
            return
        except OrderOutcomeUnknown as exc:
            self._unknown(order, str(exc))
            return
        except (RateLimited, TemporaryError) as exc:
            if exc.status in (0, 500, 502, 503, 504) and not isinstance(exc, RateLimited):
                self._unknown(order, str(exc))  # a 5xx may have executed: look it up before anything else
                return
            self._rejected(order, exc, terminal=False)
            return
        except ExchangeError as exc:
            self._rejected(order, exc, terminal=True)
            return
        except KalshiKitError as exc:  # refused before sending (e.g. an invalid price): nothing reached Kalshi
            self._rejected(order, ExchangeError(str(exc), code="invalid_order"), terminal=True)
            return
        except Exception as exc:  # a bug or an unexpected library error: the outcome is unknown, look it up
            log.exception("unexpected error sending %s", order.client_order_id)
            self._unknown(order, f"{type(exc).__name__}: {exc}")
            return
        crash_point("after_send")
        self.sent += 1
        now = self._clock()
        event = result.to_event(now)
        if event.ticker is None or event.book_side is None:
            event = OrderUpdate(
                order_id=event.order_id,
                client_order_id=order.client_order_id,
                ticker=order.ticker,
                status="executed" if result.fill_count >= order.count else "canceled",
                fill_count=result.fill_count,
                remaining_count=0,
                book_side=order.book_side,
                yes_price=order.yes_price,
                initial_count=order.count,
                fees=order_fee(result.average_fee_paid, result.fill_count),
                average_fill_price=result.average_fill_price,
                exchange_ns=result.ts_ns,
                recv_ns=now,
            )
        else:
            fees = order_fee(result.average_fee_paid, result.fill_count)
            status = "canceled" if event.status == "resting" and order.time_in_force == "immediate_or_cancel" else None
            event = OrderUpdate(**{**_fields(event), "fees": fees, "status": status or event.status})
        log.info(
            "%s %s filled %.2f of %.2f",
            order.purpose,
            order.client_order_id,
            result.fill_count / 100,
            order.count / 100,
        )
        if result.fill_count > 0 and (result.recovered or result.average_fill_price is None):
            self._post_fills(result.order_id, order.client_order_id)  # learned by lookup: no prices in it
        self.post(event)

    def _rejected(self, order: PlaceOrder, exc: ExchangeError, *, terminal: bool) -> None:
        self.failed += 1
        log.warning("%s %s rejected: %s", order.purpose, order.client_order_id, exc)
        self.post(OrderRejected(order.client_order_id, exc.code or str(exc.status), str(exc), terminal))

    def _unknown(self, order: PlaceOrder, reason: str) -> None:
        log.warning("%s %s outcome unknown (%s); looking it up", order.purpose, order.client_order_id, reason)
        self.post(OrderUnknown(order.client_order_id, reason))

    # ------------------------------------------------------------------ reads
    def lookup(self, client_order_id: str, ticker: str, sent_ns: int = 0) -> None:
        self._submit(self._lookup, client_order_id, ticker, sent_ns)

    def _lookup(self, client_order_id: str, ticker: str, sent_ns: int) -> None:
        try:
            found = self.rest.lookup_order(ticker, client_order_id, sent_ns)
        except ExchangeError as exc:
            log.warning("lookup of %s failed (%s); will retry", client_order_id, exc)
            return  # the monitor asks again at its next lookup deadline
        if found.order is None:
            if found.conclusive:
                self.post(OrderNotFound(client_order_id))
            else:  # not listed, but the exchange's data may not show it yet: the monitor asks again later
                log.info("lookup of %s: not listed yet, and the exchange cannot tell yet", client_order_id)
            return
        if found.order.fill_count > 0:
            self._post_fills(found.order.order_id, client_order_id)
        self.post(found.order)

    def _post_fills(self, order_id: str, client_order_id: str) -> None:
        """Post an order's fills as read over REST: they carry the exact prices and fees, where an order record has
        no average price and a reply only a rounded one. The monitor dedupes them by trade id with any it saw on the
        socket."""
        try:
            fills = self.rest.fills(order_id=order_id)
        except ExchangeError as exc:
            log.warning("fills of %s could not be read (%s); using the order's totals", client_order_id, exc)
            return
        for f in fills:
            self.post(f if f.client_order_id else msgspec.structs.replace(f, client_order_id=client_order_id))

    def confirm(self, ticker: str) -> None:
        self._submit(self._confirm, ticker)

    def _confirm(self, ticker: str) -> None:
        try:
            book = self.rest.orderbook(ticker)
        except ExchangeError as exc:
            self.post(ConfirmFailed(ticker, str(exc)))
            return
        self.post(quote_from_book(book, self._clock()))

    def refresh_prices(self, tickers: list[str], cache_update: Callable[[Quote], None]) -> None:
        """REST fallback for stale or unfed markets: read their quotes on the pool and put them in the cache."""
        if tickers:
            self._submit(self._refresh, tickers, cache_update)

    def _refresh(self, tickers: list[str], cache_update: Callable[[Quote], None]) -> None:
        try:
            for q in rest_quotes(self.rest, tickers, self._clock):
                cache_update(q)
        except ExchangeError as exc:
            log.warning("REST price fallback failed: %s", exc)


def order_fee(average_fee_paid: int | None, fill_count: int) -> int:
    """An order's total fee (micro-dollars) from a create reply's average fee per contract. Kalshi rounds every
    fill's fee up to $0.0001, so the total is a whole number of $0.0001: rounding the average back to that step
    recovers it exactly (the average carries micro-dollar precision)."""
    if not average_fee_paid or fill_count <= 0:
        return 0
    raw = average_fee_paid * fill_count // 100
    return (raw + 50) // 100 * 100


def quote_from_book(snapshot: BookSnapshot, now_ns: int) -> Quote:
    """A Quote(source="rest") from a REST order book: best YES bid, YES ask = 1 - best NO bid."""
    book = OrderBook(snapshot.ticker)
    book.apply_snapshot(snapshot)
    return book.quote(recv_ns=now_ns, exchange_ns=snapshot.exchange_ns, source="rest")


def rest_quotes(rest: KalshiRest, tickers: list[str], clock_ns: Callable[[], int] = time.time_ns) -> list[Quote]:
    """Current quotes of markets over REST (``GET /markets?tickers=``, in batches)."""
    out: list[Quote] = []
    for i in range(0, len(tickers), 100):
        now = clock_ns()
        out.extend(m.quote(now) for m in rest.markets(tickers=tickers[i : i + 100]))
    return out


def _fields(event: OrderUpdate) -> dict[str, Any]:
    return {f: getattr(event, f) for f in event.__struct_fields__}
