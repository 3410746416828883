"""Depth-aware fills: when a recording has order books, exits walk the recorded book at the time they arrive (after
the latency), level by level; without books they fill at the top of book as before; every replay path agrees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from kalshikit.core.rules import protection
from kalshikit.recording.columnar import book_path, to_parquet
from kalshikit.recording.reader import ReadReport
from kalshikit.recording.synthetic import synthetic_frames, write_synthetic_recording
from kalshikit.replay import FirstTwoSided, replay
from kalshikit.replay.dataset import ReplayData
from kalshikit.replay.depth import BookTape, concat_tapes
from kalshikit.replay.entries import Entry
from kalshikit.replay.fastframes import FastFrameReader, single_stream
from kalshikit.replay.fills import FillModel
from kalshikit.replay.market import MarketReplay
from kalshikit.replay.sources import frame_events
from kalshikit.replay.sweep import sweep
from tests.conftest import scaled
from tests.replay.replay_tape import Row, created, delta, ns, snapshot, ticker, write_jsonl, write_recording

A = "KXTEST-26JAN01-A"
ENTRY = Entry(A, ns(1500), "yes", 1000, 6300)  # 10 YES at $0.63: a 0.02 stop sits at $0.61


def book_rows() -> list[Row]:
    """A thin top ($0.62 x 2) over deeper levels; the top goes, the stop triggers at $0.61 (3 there, 10 at $0.59),
    then the book changes while a delayed order is on its way: at 2300 ms, exactly at 2501 ms, and at 2600 ms."""
    return [
        (0, created(A)),
        (1000, snapshot(A, yes=[(0.59, 10), (0.61, 3), (0.62, 2)], no=[(0.36, 50)])),
        (1001, ticker(A, 1001, 0.62, 0.64, bid_size=2, ask_size=50)),
        (2000, delta(A, 2000, "yes", 0.62, -2, seq=2)),
        (2001, ticker(A, 2001, 0.61, 0.64, bid_size=3, ask_size=50)),  # the stop triggers here
        (2300, delta(A, 2300, "yes", 0.61, -1, seq=3)),
        (2501, delta(A, 2501, "yes", 0.59, 5, seq=4)),  # exactly when a 500 ms order arrives: it is seen
        (2600, delta(A, 2600, "yes", 0.59, -15, seq=5)),  # after it arrived: not seen
        (2601, ticker(A, 2601, 0.61, 0.64, bid_size=2, ask_size=50)),
        (5000, ticker(A, 5000, 0.61, 0.64, bid_size=2, ask_size=50)),
    ]


def top_only_rows() -> list[Row]:
    return [(ms, raw) for ms, raw in book_rows() if '"orderbook_' not in raw]


@pytest.fixture()
def tape(tmp_path: Path) -> Path:
    return write_recording(tmp_path / "depth", book_rows())


def _market(rows: list[Row], tmp_path: Path, latency_ms: int = 0, **rules: object) -> MarketReplay:
    """Replay the tape frame by frame into one MarketReplay (to read its exit orders in integers)."""
    rec = write_recording(tmp_path / f"m{len(list(tmp_path.iterdir()))}", rows)
    m = MarketReplay(
        A,
        protection=protection(**rules),  # type: ignore[arg-type]
        fill_model=FillModel(latency_ns=latency_ms * 1_000_000),
        entries=[ENTRY],
    )
    for ev, now in frame_events([rec]):
        if ev.ticker != A:
            continue
        if type(ev).__name__ == "Quote":
            m.on_quote(ev)
        else:
            m.on_event(ev, now)
    m.finish()
    return m


def test_an_exit_walks_the_book_level_by_level(tmp_path: Path) -> None:
    m = _market(book_rows(), tmp_path, stop=0.02)
    first = m.out.orders[0]
    assert first.decided_ns == first.arrival_ns == ns(2001)
    assert (first.book, first.levels_taken(), first.filled) == ("depth", ((6100, 300), (5900, 700)), 1000)
    assert first.average_price == 5960 and first.worst_price == 5900 and first.levels == 2
    assert len(m.out.orders) == 1  # all of it in one order: the depth was there


def test_a_delayed_exit_meets_the_book_as_it_was_when_it_arrived(tmp_path: Path) -> None:
    m = _market(book_rows(), tmp_path, latency_ms=500, stop=0.02)
    first = m.out.orders[0]
    assert (first.decided_ns, first.arrival_ns) == (ns(2001), ns(2501))
    # 2300: one contract left $0.61; 2501 (the arrival itself): 5 more at $0.59; 2600 (later): not seen.
    assert first.levels_taken() == ((6100, 200), (5900, 800))
    assert first.average_price == 5940


def test_the_limit_stops_the_walk(tmp_path: Path) -> None:
    m = _market(book_rows(), tmp_path, stop=0.02, max_slippage=0.01)  # no lower than $0.60
    assert m.out.orders[0].levels_taken() == ((6100, 300),)
    assert m.out.orders[1].arrival_ns == ns(2601)  # the rest is re-issued on the next quote, at the book then
    assert m.out.orders[1].levels_taken() == ((6100, 200),)


def test_without_books_exits_fill_at_the_top_as_before(tmp_path: Path) -> None:
    m = _market(top_only_rows(), tmp_path, stop=0.02)
    orders = m.out.orders
    assert (orders[0].book, orders[0].levels_taken()) == ("top", ((6100, 300),))
    assert (orders[1].arrival_ns, orders[1].levels_taken()) == (ns(2601), ((6100, 200),))
    # The $0.61 level was taken at 2601 and no quote has replaced it when the monitor tries again: nothing there.
    assert ns(2601) < orders[2].arrival_ns < ns(5000) and orders[2].levels_taken() == ()


def _runs(source: Path, tmp_path: Path, **kw: object) -> dict[str, object]:
    pq = tmp_path / f"{source.name}.parquet"
    if not pq.exists():
        to_parquet([source], pq)
    return {
        "frame by frame": replay(source, frame_by_frame=True, **kw),  # type: ignore[arg-type]
        "fast frames": replay(source, workers=0, **kw),  # type: ignore[arg-type]
        "parquet": replay(pq, **kw),  # type: ignore[arg-type]
        "dataset": replay(ReplayData.load(pq), **kw),  # type: ignore[arg-type]
        "dataset from frames": replay(ReplayData.load(source), **kw),  # type: ignore[arg-type]
    }


@pytest.mark.parametrize("latency_ms", [0, 500])
def test_every_path_fills_the_hand_tape_alike(tape: Path, tmp_path: Path, latency_ms: int) -> None:
    runs = _runs(tape, tmp_path, entries=[ENTRY], stop=0.02, latency_ms=latency_ms)
    ref = runs["frame by frame"]
    assert ref.summary["exit_orders_on_depth"] == 1 and ref.summary["depth_markets"] == 1  # type: ignore[attr-defined]
    expected = 0.596 if latency_ms == 0 else 0.594
    assert ref.trades["exit_price"].tolist() == [pytest.approx(expected)]  # type: ignore[attr-defined]
    assert ref.gaps["fills"].tolist() == ["3@0.6100, 7@0.5900" if latency_ms == 0 else "2@0.6100, 8@0.5900"]  # type: ignore[attr-defined]
    for name, r in runs.items():
        pd.testing.assert_frame_equal(r.trades, ref.trades, obj=name)  # type: ignore[attr-defined]
        pd.testing.assert_frame_equal(r.gaps, ref.gaps, obj=name)  # type: ignore[attr-defined]


def test_a_change_stamped_with_the_trigger_time_but_after_it_in_the_stream_is_not_seen(tmp_path: Path) -> None:
    rows = book_rows()
    at = next(k for k, (ms, raw) in enumerate(rows) if ms == 2001)
    rows.insert(at + 1, (2001, delta(A, 2001, "yes", 0.61, 5, seq=9)))  # same receive time, after the quote
    tape = write_recording(tmp_path / "tie", rows)
    for name, r in _runs(tape, tmp_path, entries=[ENTRY], stop=0.02).items():
        assert r.gaps["fills"].tolist() == ["3@0.6100, 7@0.5900"], name  # type: ignore[attr-defined]


def test_slippage_per_exit_is_signed_against_the_trigger(tape: Path) -> None:
    r = replay(tape, entries=[ENTRY], stop=0.02)
    row = r.trades.iloc[0]
    assert row["trigger_price"] == pytest.approx(0.61) and row["exit_price"] == pytest.approx(0.596)
    assert row["slippage"] == pytest.approx(0.014)  # positive: sold below the price that triggered
    gap = r.gaps.iloc[0]
    assert (gap["book"], gap["levels"], gap["worst_fill_price"]) == ("depth", 2, pytest.approx(0.59))
    assert gap["slippage"] == pytest.approx(0.014)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("depthtape")
    write_synthetic_recording(d / "deep", markets=6, duration_s=900, seed=11, depth=True)
    write_synthetic_recording(d / "flat", markets=6, duration_s=900, seed=11)
    pq = d / "deep.parquet"
    to_parquet([d / "deep"], pq)
    return d / "deep", d / "flat", pq


RULES = [
    {"stop": 0.05, "take_profit": 0.10},
    {"trailing": 0.03},
    {"stop": 0.04, "trigger_source": "mid"},
    {"exit_before_close_s": 120},
]


@pytest.mark.parametrize("rules", RULES, ids=[str(r) for r in RULES])
@pytest.mark.parametrize("latency_ms", [0, 250])
def test_every_path_agrees_on_a_synthetic_tape_with_depth(
    synthetic: tuple[Path, Path, Path], rules: dict[str, object], latency_ms: int
) -> None:
    deep, _, pq = synthetic
    policy = FirstTwoSided("yes", 40_000)  # 400 contracts: more than the thin top holds
    kw = {"policy": policy, "latency_ms": latency_ms, **rules}
    ref = replay(deep, frame_by_frame=True, **kw)  # type: ignore[arg-type]
    assert ref.summary["exit_orders_on_depth"] > 0 and (ref.gaps["levels"] > 1).any()
    for name, r in {
        "fast frames": replay(deep, workers=0, **kw),  # type: ignore[arg-type]
        "parquet": replay(pq, **kw),  # type: ignore[arg-type]
        "dataset": replay(ReplayData.load(pq), **kw),  # type: ignore[arg-type]
    }.items():
        pd.testing.assert_frame_equal(r.trades, ref.trades, obj=name)
        pd.testing.assert_frame_equal(r.gaps, ref.gaps, obj=name)
        pd.testing.assert_frame_equal(r.decisions, ref.decisions, obj=name)


def test_depth_changes_only_the_fills_the_top_cannot_hold(synthetic: tuple[Path, Path, Path]) -> None:
    deep, flat, _ = synthetic
    # One contract always fits in the top level: with or without the books, the same trades.
    small = {"policy": FirstTwoSided("yes", 100), "stop": 0.05, "take_profit": 0.10}
    a, b = replay(deep, **small), replay(flat, **small)  # type: ignore[arg-type]
    assert a.summary["depth_markets"] == 6 and b.summary["depth_markets"] == 0
    pd.testing.assert_frame_equal(a.trades, b.trades)
    assert "order book" in a.summary["fill_assumption"] and "top of book" in b.summary["fill_assumption"]
    # 400 contracts: the books fill exits in fewer orders than the top of book alone could.
    big = {"policy": FirstTwoSided("yes", 40_000), "stop": 0.05, "take_profit": 0.10}
    a, b = replay(deep, **big), replay(flat, **big)  # type: ignore[arg-type]
    assert (a.gaps["book"] == "depth").all() and (b.gaps["book"] == "top").all()
    assert a.summary["exit_orders"] < b.summary["exit_orders"]


def test_a_sweep_row_with_depth_equals_the_direct_replay(synthetic: tuple[Path, Path, Path]) -> None:
    deep, _, pq = synthetic
    policy = FirstTwoSided("yes", 40_000)
    grid = {"stop": [0.04, 0.08], "latency_ms": [0, 250]}
    for source in (deep, pq):
        res = sweep(source, grid, policy=policy, executor="serial", out_dir=None, bootstrap=0)
        for _, row in res.table.iterrows():
            direct = replay(source, policy=policy, stop=row["stop"], latency_ms=row["latency_ms"])
            assert row["pnl"] == pytest.approx(direct.summary["pnl"], abs=1e-9)
            assert row["exit_orders"] == direct.summary["exit_orders"]
            assert row["average_slippage"] == pytest.approx(direct.summary["average_slippage"], abs=1e-12)


def test_parquet_keeps_the_books_beside_the_ticks(synthetic: tuple[Path, Path, Path], tmp_path: Path) -> None:
    deep, flat, pq = synthetic
    assert book_path(pq).is_file()
    out = tmp_path / "x.parquet"
    to_parquet([deep], out)
    assert book_path(out).is_file()
    stats = to_parquet([flat], out)  # the same name again, from a tape without books: no stale book file left
    assert stats.book_frames == 0 and not book_path(out).exists()


def _fast_books(paths: list[Path], workers: int, block_bytes: int) -> dict[str, BookTape]:
    """The per-market tapes the fast reader delivers block by block, put back on one index scale per market."""
    stream = single_stream(paths)
    assert stream is not None
    offsets: dict[str, int] = {}
    parts: dict[str, list[BookTape]] = {}
    reader = FastFrameReader(stream, ReadReport(), workers=workers, block_bytes=block_bytes, chunk_size=1 << 14)
    for block in reader.blocks():
        for t in block.order:
            tape = block.books.get(t)
            if tape is not None and len(tape):
                parts.setdefault(t, []).append(tape.shifted(offsets.get(t, 0)))
            arrays = block.ticks.get(t)
            offsets[t] = offsets.get(t, 0) + (len(arrays) if arrays is not None else 0)
    return {t: concat_tapes(p) for t, p in parts.items()}


@pytest.mark.parametrize("workers", [0, 2])
def test_the_fast_reader_delivers_the_books_the_frame_reader_reads(tmp_path: Path, workers: int) -> None:
    # Plain JSONL: no receive times, so a snapshot takes the last exchange time before it, which a worker decoding
    # a block in the middle of the file does not know yet; small blocks make that happen often.
    raw = write_jsonl(tmp_path / "deep.jsonl.gz", [f.raw for f in synthetic_frames(3, 300, seed=4, depth=True)])
    expected = ReplayData.load(raw).books
    got = _fast_books([raw], workers, block_bytes=64 << 10)
    assert set(got) == set(expected) and len(expected) == 3
    for t, tape in expected.items():
        for column in ("index", "recv", "op", "side", "price", "size"):
            assert getattr(got[t], column).tolist() == getattr(tape, column).tolist(), (t, column)


def test_the_cli_says_what_the_books_did_and_refuses_book_quotes_on_parquet(tape: Path, tmp_path: Path) -> None:
    entries = tmp_path / "entries.csv"
    entries.write_text(f"ticker,entry_time,side,count,entry_price\n{A},{ENTRY.entry_ns},yes,10,0.63\n")
    cmd = [sys.executable, "-m", "kalshikit.replay", str(tape), "--entries", str(entries), "--stop-loss", "0.02"]
    p = subprocess.run([*cmd, "--out", str(tmp_path / "t.csv")], capture_output=True, text=True, timeout=scaled(120))
    assert p.returncode == 0, p.stderr
    assert "order books       1 market(s); 1 exit order(s) filled against them" in p.stdout
    assert "against the recorded order book" in p.stdout
    pq = tmp_path / "tape.parquet"
    to_parquet([tape], pq)
    cmd[3] = str(pq)
    p = subprocess.run(
        [*cmd, "--book-quotes", "--out", str(tmp_path / "u.csv")], capture_output=True, text=True, timeout=scaled(120)
    )
    assert p.returncode == 2 and "give the recording itself, not Parquet" in p.stderr
