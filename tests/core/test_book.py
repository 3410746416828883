"""Tests for kalshikit.core.book: snapshots, deltas, top-of-book from a ticker, quotes, and taking liquidity.

Kalshi shows bids only: YES bids and NO bids; a NO bid at ``p`` is a YES ask at ``1 − p``. ``take`` results are
checked against hand-worked cases and against a small independent reference implementation on random books.
Real order-book streams (when ``../shared/realdata`` is present) are replayed to check the book never goes
negative or crossed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshikit.core.book import OrderBook
from kalshikit.core.events import BookDelta, BookSnapshot, Quote
from kalshikit.kalshi.messages import FrameDecoder, Ok
from kalshikit.units import PRICE_SCALE

ONE = PRICE_SCALE


def book_with(yes: dict[int, int], no: dict[int, int], ticker: str = "KX-T") -> OrderBook:
    b = OrderBook(ticker)
    b.apply_snapshot(BookSnapshot(ticker, tuple(sorted(yes.items())), tuple(sorted(no.items()))))
    return b


# ---------------------------------------------------------------------------- updates
def test_snapshot_replaces_the_book_and_drops_empty_levels() -> None:
    b = book_with({100: 5}, {200: 7})
    b.apply_snapshot(BookSnapshot("KX-T", ((800, 30_000), (2200, 0), (995, 552)), ((5400, 2000),)))
    assert b.yes == {800: 30_000, 995: 552}
    assert b.no == {5400: 2000}
    assert b.depth("yes") == [(800, 30_000), (995, 552)]
    assert b.depth("no") == [(5400, 2000)]


def test_empty_snapshot_empties_the_book() -> None:
    b = book_with({100: 5}, {200: 7})
    b.apply_snapshot(BookSnapshot("KX-T", (), ()))
    assert (b.yes, b.no, b.best("yes"), b.best("no"), b.yes_bid, b.yes_ask) == ({}, {}, None, None, None, None)


@pytest.mark.parametrize(
    ("side", "price", "delta", "yes", "no"),
    [
        ("yes", 6000, 100, {6000: 600, 6100: 300}, {3700: 200}),  # grow a level
        ("yes", 6000, -100, {6000: 400, 6100: 300}, {3700: 200}),  # shrink a level
        ("yes", 6000, -500, {6100: 300}, {3700: 200}),  # exactly to zero: gone
        ("yes", 6000, -900, {6100: 300}, {3700: 200}),  # below zero: gone, never negative
        ("yes", 5900, 42, {5900: 42, 6000: 500, 6100: 300}, {3700: 200}),  # new level
        ("yes", 5900, -42, {6000: 500, 6100: 300}, {3700: 200}),  # removing from nothing: nothing
        ("no", 3700, -200, {6000: 500, 6100: 300}, {}),
        ("no", 3750, 552, {6000: 500, 6100: 300}, {3700: 200, 3750: 552}),
    ],
)
def test_delta(side: str, price: int, delta: int, yes: dict[int, int], no: dict[int, int]) -> None:
    b = book_with({6000: 500, 6100: 300}, {3700: 200})
    b.apply_delta(BookDelta("KX-T", side, price, delta))  # type: ignore[arg-type]
    assert (b.yes, b.no) == (yes, no)
    assert all(c > 0 for c in [*b.yes.values(), *b.no.values()])


def test_set_top_from_a_ticker_quote() -> None:
    b = book_with({100: 5, 200: 6}, {300: 7})
    b.set_top(Quote("KX-T", 6300, 6400, 1500, 2500), unknown_size=99)
    assert b.yes == {6300: 1500}
    assert b.no == {ONE - 6400: 2500}  # a YES ask at 0.64 is a NO bid at 0.36
    assert (b.yes_bid, b.yes_ask) == (6300, 6400)


@pytest.mark.parametrize(
    ("quote", "yes", "no"),
    [
        (Quote("KX-T", 6300, 6400), {6300: 77}, {3600: 77}),  # sizes unknown
        (Quote("KX-T", 6300, 6400, None, 10), {6300: 77}, {3600: 10}),
        (Quote("KX-T", None, 9950, None, 552), {}, {50: 552}),  # sub-penny ask, no bid
        (Quote("KX-T", 10, None, 3, None), {10: 3}, {}),
        (Quote("KX-T", None, None), {}, {}),
    ],
)
def test_set_top_with_missing_sides_and_sizes(quote: Quote, yes: dict[int, int], no: dict[int, int]) -> None:
    b = book_with({100: 5}, {300: 7})
    b.set_top(quote, unknown_size=77)
    assert (b.yes, b.no) == (yes, no)


# ---------------------------------------------------------------------------- reads
def test_best_and_quote() -> None:
    b = book_with({6000: 500, 6100: 300, 5000: 1}, {3700: 200, 3600: 50})
    assert b.best("yes") == (6100, 300)
    assert b.best("no") == (3700, 200)
    assert (b.yes_bid, b.yes_ask) == (6100, ONE - 3700)
    q = b.quote(recv_ns=11, exchange_ns=10, last=6200)
    assert q == Quote("KX-T", 6100, 6300, 300, 200, 6200, exchange_ns=10, recv_ns=11, source="book")


def test_quote_of_a_one_sided_book() -> None:
    q = book_with({}, {3700: 200}).quote(source="replay")
    assert (q.yes_bid, q.yes_ask, q.yes_bid_size, q.yes_ask_size, q.source) == (None, 6300, None, 200, "replay")
    q = book_with({6100: 300}, {}).quote()
    assert (q.yes_bid, q.yes_ask, q.yes_bid_size, q.yes_ask_size) == (6100, None, 300, None)


# ---------------------------------------------------------------------------- taking liquidity
YES_BIDS = {6000: 500, 6100: 300, 6200: 100}
NO_BIDS = {3700: 200, 3600: 400, 3500: 50}  # YES asks at 0.63, 0.64, 0.65

TAKES: list[tuple[str, str, int, int, list[tuple[int, int]], dict[int, int], dict[int, int]]] = [
    # (id, book_side, limit, count, fills, yes after, no after)
    ("sell-two-levels", "ask", 6100, 1000, [(6200, 100), (6100, 300)], {6000: 500}, NO_BIDS),
    ("sell-partial-level", "ask", 5000, 250, [(6200, 100), (6100, 150)], {6000: 500, 6100: 150}, NO_BIDS),
    ("sell-exact-level", "ask", 6200, 100, [(6200, 100)], {6000: 500, 6100: 300}, NO_BIDS),
    ("sell-limit-above-book", "ask", 6300, 100, [], YES_BIDS, NO_BIDS),
    ("sell-sweep-all", "ask", 1, 10_000, [(6200, 100), (6100, 300), (6000, 500)], {}, NO_BIDS),
    ("buy-two-levels", "bid", 6400, 300, [(6300, 200), (6400, 100)], YES_BIDS, {3600: 300, 3500: 50}),
    ("buy-partial-level", "bid", 6300, 150, [(6300, 150)], YES_BIDS, {3700: 50, 3600: 400, 3500: 50}),
    ("buy-limit-below-book", "bid", 6200, 100, [], YES_BIDS, NO_BIDS),
    ("buy-sweep-all", "bid", 9900, 10_000, [(6300, 200), (6400, 400), (6500, 50)], YES_BIDS, {}),
    ("zero-count", "bid", 9900, 0, [], YES_BIDS, NO_BIDS),
    ("negative-count", "ask", 1, -5, [], YES_BIDS, NO_BIDS),
]


@pytest.mark.parametrize(
    ("book_side", "limit", "count", "fills", "yes", "no"), [t[1:] for t in TAKES], ids=[t[0] for t in TAKES]
)
def test_take(
    book_side: str,
    limit: int,
    count: int,
    fills: list[tuple[int, int]],
    yes: dict[int, int],
    no: dict[int, int],
) -> None:
    b = book_with(YES_BIDS, NO_BIDS)
    executable = b.executable(book_side, limit)  # type: ignore[arg-type]
    got = b.take(book_side, limit, count)  # type: ignore[arg-type]
    assert got == fills
    assert sum(n for _, n in got) == max(0, min(count, executable))
    assert (b.yes, b.no) == (yes, no)


def test_consumed_liquidity_is_gone_for_the_next_order() -> None:
    b = book_with(YES_BIDS, NO_BIDS)
    assert b.take("bid", 6300, 150) == [(6300, 150)]
    assert b.take("bid", 6300, 150) == [(6300, 50)]
    assert b.take("bid", 6300, 150) == []
    assert b.yes_ask == 6400
    assert b.take("ask", 6200, 60) == [(6200, 60)]
    assert b.take("ask", 6200, 60) == [(6200, 40)]
    assert b.yes_bid == 6100
    # Market data puts liquidity back.
    b.apply_delta(BookDelta("KX-T", "no", 3700, 75))
    assert b.take("bid", 6300, 1000) == [(6300, 75)]


def test_executable() -> None:
    b = book_with(YES_BIDS, NO_BIDS)
    assert b.executable("ask", 6100) == 400
    assert b.executable("ask", 6201) == 0
    assert b.executable("ask", 0) == 900
    assert b.executable("bid", 6300) == 200
    assert b.executable("bid", 6299) == 0
    assert b.executable("bid", ONE) == 650


def reference_take(
    yes: dict[int, int], no: dict[int, int], book_side: str, limit: int, count: int
) -> list[tuple[int, int]]:
    """Independent reference: list the opposite side as YES prices, best first, fill in order."""
    if book_side == "ask":  # sell YES: hit YES bids, highest first, not below limit
        levels = sorted(((p, p, c) for p, c in yes.items() if p >= limit), reverse=True)
        src = yes
    else:  # buy YES: lift YES asks (NO bids), lowest YES price first, not above limit
        levels = sorted((ONE - p, p, c) for p, c in no.items() if ONE - p <= limit)
        src = no
    fills = []
    for yes_price, key, size in levels:
        if count <= 0:
            break
        n = min(size, count)
        fills.append((yes_price, n))
        count -= n
        src[key] = size - n
        if src[key] == 0:
            del src[key]
    return fills


def test_take_matches_a_reference_on_random_books() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        prices = rng.sample(range(1, ONE), rng.randint(0, 12))
        yes = {p: rng.randint(1, 5000) for p in prices[: len(prices) // 2]}
        no = {p: rng.randint(1, 5000) for p in prices[len(prices) // 2 :]}
        b = book_with(yes, no)
        for _ in range(rng.randint(1, 4)):
            side = rng.choice(["bid", "ask"])
            limit = rng.randint(0, ONE)
            count = rng.randint(0, 8000)
            assert b.take(side, limit, count) == reference_take(yes, no, side, limit, count)  # type: ignore[arg-type]
            assert (b.yes, b.no) == (yes, no)


# ---------------------------------------------------------------------------- real streams
def stream(realdata: Path, name: str) -> Iterator[str]:
    if name == "cockpit":
        for rec in json.loads((realdata / "kalshi_cockpit/ws_orderbook_stream.json").read_text())["frames"]:
            yield json.dumps(rec["frame"])
    elif name == "mm_demo":
        for line in (realdata / "kalshi_mm_demo_capture/session.jsonl").read_text().splitlines():
            if line.strip():
                yield line
    else:
        for line in (realdata / "bot_btc_1hr_ws_frames/kalshi_ws_frames.jsonl").read_text().splitlines():
            if line.strip():
                yield json.loads(line)["raw"]


@pytest.mark.parametrize("name", ["cockpit", "mm_demo", "bot_btc"])
def test_replaying_real_order_book_streams(realdata: Path, name: str) -> None:
    """Snapshot then deltas, per market: seq is gap-free per sid, no delta removes more than rests at its level,
    and the book is never crossed (best YES bid < best YES ask)."""
    dec = FrameDecoder()
    books: dict[str, OrderBook] = {}
    last_seq: dict[int, int] = {}
    deltas = 0
    for raw in stream(realdata, name):
        msg = dec.decode(raw)
        if isinstance(msg, BookSnapshot | BookDelta | Ok) and msg.seq:
            if msg.sid in last_seq:
                assert msg.seq == last_seq[msg.sid] + 1, (msg.sid, last_seq[msg.sid], msg.seq)
            last_seq[msg.sid] = msg.seq
        if isinstance(msg, BookSnapshot):
            books.setdefault(msg.ticker, OrderBook(msg.ticker)).apply_snapshot(msg)
            assert books[msg.ticker].depth("yes") == list(msg.yes)
        elif isinstance(msg, BookDelta):
            deltas += 1
            book = books[msg.ticker]  # a delta never arrives before its market's snapshot
            resting = (book.yes if msg.side == "yes" else book.no).get(msg.price, 0)
            assert resting + msg.delta >= 0, msg
            book.apply_delta(msg)
            if book.yes_bid is not None and book.yes_ask is not None:
                assert book.yes_bid < book.yes_ask, msg
    assert deltas > 0 and books
    for book in books.values():
        assert all(c > 0 for c in [*book.yes.values(), *book.no.values()])
