"""The real KalshiWebSocket against the simulator over 127.0.0.1: what the protocol session recovers from. A really
lost order book delta (re-snapshotted, book right, stream in sync after), ``add_markets`` on an order book (the new
market's snapshot is kept, no false gap), terminal channel errors (10, 25: the channel is subscribed again) and a
refused subscribe (26: retried with backoff, no storm; timed by a clock the test moves)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from kalshikit.cache import PriceCache
from kalshikit.core.events import Fill, Lifecycle, OrderUpdate, PositionUpdate
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.kalshi.ws import ACCOUNT_CHANNELS, KalshiWebSocket
from kalshikit.sim import Simulator
from tests.conftest import eventually


def ticker(tag: str = "REC") -> str:
    return f"KX{tag}{uuid.uuid4().hex[:6].upper()}-26DEC31-T50"


class MovableClock:
    """A clock that stands still until the test moves it (the socket thread reads it; the test writes it)."""

    def __init__(self) -> None:
        self.now = time.time_ns()

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1_000_000_000)


@pytest.fixture
def start_ws(exchange: Simulator) -> Iterator[Callable[..., tuple[KalshiWebSocket, list[object]]]]:
    started: list[KalshiWebSocket] = []

    def start(watch: Sequence[str] = (), depth: bool = False, **kw: Any) -> tuple[KalshiWebSocket, list[object]]:
        events: list[object] = []
        kw.setdefault("account_channels", ())
        ws = KalshiWebSocket(exchange.ws_url, exchange.signer(), cache=PriceCache(60), sink=events.append,
                             reconnect_delay=0.1, max_reconnect_delay=0.2, **kw)
        if watch:
            ws.watch(watch, depth=depth)
        started.append(ws)
        ws.start()
        return ws, events

    yield start
    for ws in started:
        ws.stop()


def book_matches(ws: KalshiWebSocket, sim: Simulator, t: str) -> bool:
    want = sim.book(t)
    book = ws.books.get(t)
    return book is not None and book.yes == want.yes and book.no == want.no


def test_seq_gap_asks_for_a_snapshot_and_the_book_recovers(exchange: Simulator, start_ws: Callable[..., Any]) -> None:
    """Point 4: a delta really lost in transit (its seq used up, the change never sent) is noticed at the next frame,
    the book is re-snapshotted and right afterwards, and the stream stays in sync."""
    t = ticker()
    exchange.add_market(t, yes_bid=5000, yes_ask=5100)
    ws, _ = start_ws([t], depth=True)
    eventually(lambda: book_matches(ws, exchange, t), what="first snapshot")
    exchange.faults.drop_deltas()
    exchange.set_book(t, [(4800, 1000), (4900, 500)], [(5000, 700)])  # five deltas, the first (0.48 +10) is lost
    eventually(lambda: ws.metrics.seq_gaps == 1, what="gap noticed")
    eventually(lambda: book_matches(ws, exchange, t), what="book rebuilt from a fresh snapshot")
    assert exchange.faults.injected["drop_delta"] == 1 and ws.metrics.snapshot_requests == 1
    assert ws.books[t].yes[4800] == 1000, "the lost change is in the book: it came with the snapshot"
    exchange.set_book(t, [(4700, 300)], [(5000, 700), (5100, 200)])  # after the snapshot and its ok reply
    eventually(lambda: book_matches(ws, exchange, t), what="deltas after the recovery applied")
    assert ws.metrics.seq_gaps == 1 and ws.metrics.snapshot_requests == 1, "the recovery left the stream in sync"


def test_add_markets_on_an_order_book_keeps_the_new_markets_snapshot(exchange: Simulator,
                                                                     start_ws: Callable[..., Any]) -> None:
    """Point 1: the ok to add_markets takes a seq (as in Kalshi's real traffic); counting it means no false gap and
    the added market's snapshot is used, not thrown away and asked for again."""
    t1, t2, t3 = ticker(), ticker(), ticker()
    for t in (t1, t2, t3):
        exchange.add_market(t, yes_bid=4000, yes_ask=4200)
    ws, _ = start_ws([t1], depth=True)
    eventually(lambda: book_matches(ws, exchange, t1), what="first snapshot")
    for t in (t2, t3):
        ws.watch([t], depth=True)
        eventually(lambda t=t: book_matches(ws, exchange, t), what=f"snapshot of added market {t}")
    exchange.set_book(t1, [(3900, 400)], [(5800, 100)])
    exchange.set_book(t3, [(4100, 100)], [(5700, 100)])
    eventually(lambda: book_matches(ws, exchange, t1) and book_matches(ws, exchange, t3), what="later deltas")
    assert ws.metrics.seq_gaps == 0, "an ok reply counted as a missing frame"
    assert ws.metrics.snapshot_requests == 0
    assert ws.metrics.subscriptions["orderbook_delta"] == sorted([t1, t2, t3])


EVENT_OF = {"fill": Fill, "user_orders": OrderUpdate, "market_positions": PositionUpdate}


@pytest.mark.parametrize(("channel", "code"), [("fill", 10), ("user_orders", 25), ("market_positions", 10)])
def test_terminal_channel_error_on_an_account_channel_resubscribes_it(
    exchange: Simulator, start_ws: Callable[..., Any], channel: str, code: int
) -> None:
    """Point 2: after error 10 or 25 the account channel is subscribed again (with backoff) and its events flow."""
    t = ticker()
    exchange.add_market(t, yes_bid=5000, yes_ask=5100, yes_bid_size=100_000, yes_ask_size=100_000)
    ws, events = start_ws(account_channels=ACCOUNT_CHANNELS, subscribe_retry_delay=0.1)
    eventually(lambda: set(ACCOUNT_CHANNELS) <= set(ws.metrics.subscriptions), what="account channels")
    assert exchange.faults.channel_error(channel, code) == 1
    eventually(lambda: ws.metrics.error_replies == 1, what="the terminal error seen")
    eventually(lambda: channel in ws.metrics.subscriptions, what=f"{channel} subscribed again")
    assert ws.metrics.resubscribes == 1
    rest = KalshiRest(exchange.rest_url, exchange.signer())
    try:
        rest.create_order(t, "bid", 5100, 100, time_in_force="immediate_or_cancel")
    finally:
        rest.close()
    eventually(lambda: any(isinstance(e, EVENT_OF[channel]) and e.ticker == t for e in events),  # type: ignore[attr-defined]
               what=f"{channel} events on the new subscription")


def test_buffer_overflow_on_the_order_book_resubscribes_and_rebuilds_it(exchange: Simulator,
                                                                         start_ws: Callable[..., Any]) -> None:
    t = ticker()
    exchange.add_market(t, yes_bid=5000, yes_ask=5100)
    ws, _ = start_ws([t], depth=True, subscribe_retry_delay=0.1)
    eventually(lambda: book_matches(ws, exchange, t), what="first snapshot")
    assert exchange.faults.channel_error("orderbook_delta", 25) == 1
    eventually(lambda: ws.metrics.error_replies == 1, what="the overflow seen")
    exchange.set_book(t, [(4600, 100)], [(5000, 100)])  # changes while unsubscribed come with the new snapshot
    eventually(lambda: ws.metrics.resubscribes == 1 and book_matches(ws, exchange, t), what="resubscribed")
    assert ws.metrics.seq_gaps == 0


def test_a_refused_ticker_subscribe_backs_off_instead_of_storming(exchange: Simulator,
                                                                  start_ws: Callable[..., Any]) -> None:
    """Point 3: error 26 (market limit) on every ticker subscribe. With the kit's clock standing still, many passes
    of its socket loop send no second subscribe; moving the clock past the backoff sends exactly one more."""
    t = ticker()
    exchange.add_market(t, yes_bid=5000, yes_ask=5100)
    exchange.faults.reject_subscribes(26, None, channel="ticker")
    clock = MovableClock()
    ws, events = start_ws([t], account_channels=("market_lifecycle_v2",), clock_ns=clock)
    eventually(lambda: ws.metrics.error_replies >= 1 and "market_lifecycle_v2" in ws.metrics.subscriptions,
               what="the first refusal")
    created = 0

    def busy_socket_loop(n: int = 20) -> None:
        """n more frames the kit must read (market created on the lifecycle channel), one loop pass or more."""
        nonlocal created
        for _ in range(n):
            exchange.add_market(ticker("STORM"))
        created += n
        eventually(lambda: sum(isinstance(e, Lifecycle) and e.event_type == "created" for e in events) >= created,
                   what="lifecycle frames read")

    busy_socket_loop()
    assert exchange.faults.injected["reject_subscribe"] == 1, "subscribed again before the backoff delay"
    clock.advance(1.3)  # past the first delay (1 s ± 20%)
    eventually(lambda: exchange.faults.injected["reject_subscribe"] == 2, what="one retry")
    busy_socket_loop()
    assert exchange.faults.injected["reject_subscribe"] == 2, "the second delay (2 s ± 20%) has not passed"
    assert "market limit" in ws.metrics.last_error and ws.metrics.subscribe_retries == 1
    exchange.faults.clear()
    clock.advance(2.5)
    eventually(lambda: t in ws.metrics.subscriptions.get("ticker", []), what="subscribed once the limit is gone")
    assert ws.metrics.error_replies == 2 and ws.metrics.subscribe_retries == 2
