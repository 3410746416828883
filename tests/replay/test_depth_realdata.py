"""Depth-aware replay over real captured order-book streams (``../shared/realdata``; skipped when absent; the data
is read in place, never copied): the books every replay path rebuilds equal the books the live client builds, and
exits fill against the book as it was when they arrived."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshikit.core.book import OrderBook
from kalshikit.core.events import BookDelta, BookSnapshot, Quote
from kalshikit.recording.columnar import to_parquet
from kalshikit.replay import FirstTwoSided, replay
from kalshikit.replay.dataset import ReplayData
from kalshikit.replay.depth import DepthBook
from kalshikit.replay.sources import frame_events
from kalshikit.replay.sweep import load_data

CAPTURES = ["kalshi_cockpit/ws_orderbook_stream.json", "kalshi_mm_demo_capture/session.jsonl"]
# Position sizes (1/100 contract) larger than most best levels: 2,000 contracts on the production capture, 200,000
# on the demo one (the demo environment's books are far deeper).
COUNTS = {CAPTURES[0]: 200_000, CAPTURES[1]: 20_000_000}
INF = 1 << 62


def _live_books(source: Path, upto_ns: int = INF) -> dict[str, OrderBook]:
    """The books as the live client keeps them: every snapshot and delta received by ``upto_ns``, in order."""
    books: dict[str, OrderBook] = {}
    for ev, now in frame_events([source]):
        if now > upto_ns:
            break
        if type(ev) is BookSnapshot:
            books.setdefault(ev.ticker, OrderBook(ev.ticker)).apply_snapshot(ev)
        elif type(ev) is BookDelta and ev.ticker in books:
            books[ev.ticker].apply_delta(ev)
    return books


def _replayed_books(data: ReplayData) -> dict[str, OrderBook]:
    out = {}
    for ticker, tape in data.books.items():
        d = DepthBook(ticker)
        d.add_tape(tape, 0)
        d.advance(INF, INF)
        out[ticker] = d.live
    return out


@pytest.mark.parametrize("capture", CAPTURES)
def test_every_path_rebuilds_the_books_the_live_client_builds(realdata: Path, capture: str, tmp_path: Path) -> None:
    source = realdata / capture
    expected = _live_books(source)
    assert len(expected) >= 5
    pq = tmp_path / "capture.parquet"
    stats = to_parquet([source], pq)
    assert stats.book_frames > 200
    for name, data in {
        "frames": ReplayData.load(source),
        "fast frames": load_data(source).data,
        "parquet": ReplayData.load(pq),
    }.items():
        got = _replayed_books(data)
        assert set(got) == set(expected), name
        for t, book in expected.items():
            assert (got[t].yes, got[t].no) == (book.yes, book.no), (name, t)


def _span(source: Path) -> tuple[int, int]:
    times = [now for ev, now in frame_events([source]) if type(ev) in (BookSnapshot, BookDelta)]
    return min(times), max(times)


@pytest.mark.parametrize("capture", CAPTURES)
@pytest.mark.parametrize("latency_ms", [0, 250])
def test_exits_over_a_real_stream_fill_against_the_book_at_arrival(
    realdata: Path, capture: str, latency_ms: int
) -> None:
    source = realdata / capture
    start, end = _span(source)
    exit_at = start + (end - start) // 2
    policy = FirstTwoSided("yes", COUNTS[capture])
    r = replay(source, policy=policy, book_quotes=True, latency_ms=latency_ms, time_exit_at_ns=exit_at)
    assert r.summary["depth_markets"] >= 5 and r.summary["positions"] >= 3
    first = r.gaps[r.gaps["attempt"] == 1]
    assert len(first) >= 3 and (first["book"] == "depth").all()
    assert (first["levels"] > 1).any()  # some exits needed more than the best level
    for g in first.itertuples(index=False):
        arrival = int(g.arrival_ts.value)
        assert arrival == int(g.decided_ts.value) + latency_ms * 1_000_000
        book = _live_books(source, arrival)[g.ticker]
        taken = book.take("ask", 1, round(g.count * 100))  # sell YES at any price: the aggressive exit
        filled = sum(c for _, c in taken)
        assert round(g.filled * 100) == filled, g.ticker
        if filled:
            average = (sum(p * c for p, c in taken) + filled // 2) // filled
            assert round(g.fill_price * 10_000) == average, g.ticker
            assert g.levels == len(taken) and g.worst_fill_price * 10_000 == pytest.approx(taken[-1][0])


def test_a_capture_without_ticker_frames_says_how_to_replay_it(realdata: Path) -> None:
    source = realdata / CAPTURES[1]
    assert not any(type(ev) is Quote for ev, _ in frame_events([source]))
    r = replay(source, policy=FirstTwoSided("yes", 100), stop=0.05)
    assert r.summary["trades"] == 0 and r.stats["quotes_fed_to_monitor"] == 0
    assert any("book_quotes=True" in w for w in r.summary["warnings"])
