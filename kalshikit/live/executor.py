"""Carries out the monitor's actions against Kalshi without ever blocking the monitor thread.

Order writes, confirmations and lookups run on a small pool of named I/O threads (``OrderIO-n``) so one slow
request never delays the next trigger. Every result comes back to the monitor as an event through ``post``:
OrderUpdate, OrderRejected, OrderUnknown, OrderNotFound, a REST Quote, or ConfirmFailed.

An order is journaled (``record_intent``) on the calling thread before it is handed to the pool, so a crash at
any later point leaves a record that the restart looks up by ``client_order_id``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from kalshikit.core.actions import ConfirmFailed, OrderNotFound, OrderRejected, OrderUnknown, PlaceOrder
from kalshikit.core.book import OrderBook
from kalshikit.core.events import BookSnapshot, OrderUpdate, Quote
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
from kalshikit.store import Journal

log = logging.getLogger("kalshikit.exits")


class OrderExecutor:
    """``post`` delivers result events to the StopLossMonitor thread's inbox."""

    def __init__(
        self,
        rest: KalshiRest,
        journal: Journal,
        post: Callable[[object], None],
        *,
        workers: int = 4,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.rest = rest
        self.journal = journal
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
        """Journal the intent, then send it on the pool. Re-sending a journaled id is allowed (lookup said absent)."""
        self.journal.record_intent(order, self._clock())
        crash_point("after_journal")
        self._submit(self._send, order)
        time.sleep(0)  # hand the GIL to the I/O thread at once: the exit goes out before any bookkeeping
        log.info(
            "exit %s %s: %s %.2f @ %.4f (%s, attempt %d)",
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
                fees=(result.average_fee_paid or 0) * result.fill_count // 100,
                average_fill_price=result.average_fill_price,
                exchange_ns=result.ts_ns,
                recv_ns=now,
            )
        else:
            fees = (result.average_fee_paid or 0) * result.fill_count // 100
            status = "canceled" if event.status == "resting" and order.time_in_force == "immediate_or_cancel" else None
            event = OrderUpdate(**{**_fields(event), "fees": fees, "status": status or event.status})
        self.journal.record_order_status(
            order.client_order_id, "done", now, order_id=result.order_id, filled=result.fill_count
        )
        log.info(
            "%s %s filled %.2f of %.2f",
            order.purpose,
            order.client_order_id,
            result.fill_count / 100,
            order.count / 100,
        )
        self.post(event)

    def _rejected(self, order: PlaceOrder, exc: ExchangeError, *, terminal: bool) -> None:
        self.failed += 1
        now = self._clock()
        self.journal.record_order_status(order.client_order_id, "rejected", now, detail=f"{exc.code}: {exc}")
        log.warning("exit %s rejected: %s", order.client_order_id, exc)
        self.post(OrderRejected(order.client_order_id, exc.code or str(exc.status), str(exc), terminal))

    def _unknown(self, order: PlaceOrder, reason: str) -> None:
        now = self._clock()
        self.journal.record_order_status(order.client_order_id, "unknown", now, detail=reason[:300])
        log.warning("exit %s outcome unknown (%s); looking it up", order.client_order_id, reason)
        self.post(OrderUnknown(order.client_order_id, reason))

    # ------------------------------------------------------------------ entries
    def enter(self, order: PlaceOrder, track: Callable[[], None]) -> None:
        """Send an entry order: ``track`` tells the monitor first (TrackOrder), then it is journaled and sent."""
        track()
        self.journal.record_intent(order, self._clock())
        log.info(
            "entry %s %s: %s %.2f @ %.4f",
            order.ticker,
            order.client_order_id,
            order.book_side,
            order.count / 100,
            order.yes_price / 10_000,
        )
        self._submit(self._send, order)

    # ------------------------------------------------------------------ reads
    def lookup(self, client_order_id: str, ticker: str) -> None:
        self._submit(self._lookup, client_order_id, ticker)

    def _lookup(self, client_order_id: str, ticker: str) -> None:
        try:
            found = self.rest.find_order(ticker, client_order_id)
        except ExchangeError as exc:
            log.warning("lookup of %s failed (%s); will retry", client_order_id, exc)
            return  # the monitor asks again at its next lookup deadline
        now = self._clock()
        if found is None:
            self.journal.record_order_status(client_order_id, "unknown", now, detail="lookup: not on the exchange")
            self.post(OrderNotFound(client_order_id))
            return
        done = found.status in ("executed", "canceled")
        self.journal.record_order_status(
            client_order_id, "done" if done else "unknown", now, order_id=found.order_id, filled=found.fill_count
        )
        self.post(found)

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
