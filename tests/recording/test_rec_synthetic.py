"""The synthetic tape generator: determinism, wire shapes, grids, books, timing, lifecycle, and the bundled sample."""

from __future__ import annotations

import gzip
import importlib.util
import itertools
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from kalshikit.core.events import Lifecycle, Quote, Trade
from kalshikit.core.grid import PriceGrid
from kalshikit.errors import RecordingError
from kalshikit.kalshi.messages import FrameDecoder
from kalshikit.recording import (
    RawFrame,
    ReadReport,
    read_frames,
    read_header,
    synthetic_frames,
    synthetic_markets,
    write_synthetic_recording,
)
from kalshikit.recording.synthetic import DEFAULT_START_NS
from tests.conftest import ROOT

SAMPLE = ROOT / "recordings" / "sample"
TICKER_FIELDS = {
    "market_id",
    "market_ticker",
    "price_dollars",
    "yes_bid_dollars",
    "yes_ask_dollars",
    "volume_fp",
    "open_interest_fp",
    "dollar_volume",
    "dollar_open_interest",
    "yes_bid_size_fp",
    "yes_ask_size_fp",
    "last_trade_size_fp",
    "ts",
    "ts_ms",
    "time",
}


@pytest.fixture(scope="module")
def tape() -> list[RawFrame]:
    return list(synthetic_frames(markets=6, duration_s=900, seed=11))


@pytest.fixture(scope="module")
def decoded(tape: list[RawFrame]) -> list[tuple[RawFrame, dict[str, Any], Any]]:
    dec = FrameDecoder()
    return [(f, json.loads(f.raw), dec.decode(f.raw, f.recv_ns)) for f in tape]


def by_market(decoded: list[tuple[RawFrame, dict[str, Any], Any]]) -> dict[str, list[tuple[RawFrame, dict, Any]]]:
    out: dict[str, list[tuple[RawFrame, dict, Any]]] = defaultdict(list)
    for item in decoded:
        out[item[1]["msg"]["market_ticker"]].append(item)
    return out


def test_deterministic_for_a_seed() -> None:
    a = list(synthetic_frames(markets=3, duration_s=120, seed=5))
    b = list(synthetic_frames(markets=3, duration_s=120, seed=5))
    c = list(synthetic_frames(markets=3, duration_s=120, seed=6))
    assert a == b
    assert [f.raw for f in a] != [f.raw for f in c]
    assert a[0].recv_ns >= DEFAULT_START_NS and a[0].path == "<synthetic>" and [f.line for f in a[:3]] == [1, 2, 3]
    shifted = list(synthetic_frames(markets=3, duration_s=120, seed=5, start_ns=DEFAULT_START_NS + 3_600 * 10**9))
    assert len(shifted) == len(a)


def test_every_frame_decodes_to_the_expected_type_with_current_fields(decoded: list) -> None:
    expected = {"ticker": Quote, "trade": Trade, "market_lifecycle_v2": Lifecycle}
    for _, obj, msg in decoded:
        assert type(msg) is expected[obj["type"]], obj
        if obj["type"] == "ticker":
            assert set(obj["msg"]) == TICKER_FIELDS
            assert obj["msg"]["ts_ms"] // 1000 == obj["msg"]["ts"]
            assert msg.exchange_ns == obj["msg"]["ts_ms"] * 10**6
    assert {type(m) for _, _, m in decoded} == {Quote, Trade, Lifecycle}


def test_created_frame_first_describes_each_market(decoded: list) -> None:
    markets = {m.ticker: m for m in synthetic_markets(markets=6, duration_s=900, seed=11)}
    per = by_market(decoded)
    assert set(per) == set(markets)
    structures = set()
    for ticker, items in per.items():
        first = items[0][1]
        assert first["type"] == "market_lifecycle_v2" and first["msg"]["event_type"] == "created"
        m = markets[ticker]
        msg = first["msg"]
        assert msg["open_ts"] * 10**9 == m.open_ns and msg["close_ts"] * 10**9 == m.close_ns
        assert msg["price_level_structure"] == m.price_level_structure
        assert [(r["start"], r["end"], r["step"]) for r in msg["price_ranges"]] == list(m.price_ranges)
        meta = msg["additional_metadata"]
        assert meta["title"] == m.title and meta["event_ticker"] == m.event_ticker and "synthetic" in m.title
        assert meta["yes_sub_title"] == m.yes_sub_title
        structures.add(m.price_level_structure)
    assert structures == {"linear_cent", "tapered_deci_cent"}


def test_prices_on_grid_and_sub_cent_only_near_0_and_1_on_tapered_markets(decoded: list) -> None:
    markets = {m.ticker: m for m in synthetic_markets(markets=6, duration_s=900, seed=11)}
    sub_cent = defaultdict(int)
    for _, _, msg in decoded:
        if isinstance(msg, Lifecycle):
            continue
        m = markets[msg.ticker]
        grid = PriceGrid.named(m.price_level_structure)
        prices = [msg.yes_bid, msg.yes_ask, msg.last] if isinstance(msg, Quote) else [msg.yes_price]
        for p in prices:
            if p is None:
                continue
            assert grid.is_valid(p), (msg.ticker, p)
            if p % 100:
                assert p < 1_000 or p > 9_000
                sub_cent[m.price_level_structure] += 1
    assert sub_cent["linear_cent"] == 0
    assert sub_cent["tapered_deci_cent"] > 20


def test_spreads_mostly_one_to_three_ticks_with_some_wide_and_one_sided_books(decoded: list) -> None:
    markets = {m.ticker: m for m in synthetic_markets(markets=6, duration_s=900, seed=11)}
    ticks_wide: list[int] = []
    one_sided = 0
    for _, _, q in decoded:
        if not isinstance(q, Quote):
            continue
        if q.yes_bid is None and q.yes_ask is None:
            continue  # the empty book at close
        if q.yes_bid is None or q.yes_ask is None:
            one_sided += 1
            continue
        prices = PriceGrid.named(markets[q.ticker].price_level_structure).prices()
        ticks_wide.append(prices.index(q.yes_ask) - prices.index(q.yes_bid))
    assert min(ticks_wide) >= 1
    share_tight = sum(1 for k in ticks_wide if k <= 3) / len(ticks_wide)
    assert 0.85 < share_tight < 0.995
    assert max(ticks_wide) >= 5
    assert one_sided > 0


def test_empty_book_at_close_then_determined_and_settled_consistent_with_the_last_quote(decoded: list) -> None:
    markets = {m.ticker: m for m in synthetic_markets(markets=6, duration_s=900, seed=11)}
    results = set()
    for ticker, items in by_market(decoded).items():
        kinds = [(o["type"], o["msg"].get("event_type")) for _, o, _ in items]
        assert kinds[-2:] == [("market_lifecycle_v2", "determined"), ("market_lifecycle_v2", "settled")]
        close = items[-3][1]
        assert close["type"] == "ticker"
        assert (close["msg"]["yes_bid_dollars"], close["msg"]["yes_ask_dollars"]) == ("0.0000", "1.0000")
        assert close["msg"]["ts_ms"] * 10**6 == markets[ticker].close_ns
        assert all(o["msg"]["ts_ms"] * 10**6 < markets[ticker].close_ns for _, o, _ in items[1:-3])
        last = items[-4][2] if isinstance(items[-4][2], Quote) else items[-5][2]
        assert isinstance(last, Quote)
        bid, ask = last.yes_bid, last.yes_ask
        twice_mid = (bid + ask) if bid and ask else (2 * bid if bid else 2 * ask)  # type: ignore[operator]
        determined = items[-2][2]
        if twice_mid != 10_000:
            assert determined.result == ("yes" if twice_mid > 10_000 else "no")
        assert determined.settlement_value == (10_000 if determined.result == "yes" else 0)
        assert items[-1][2].exchange_ns > determined.exchange_ns >= markets[ticker].close_ns
        results.add(determined.result)
    assert results == {"yes", "no"}


def test_bursty_timing_and_receive_latency(tape: list[RawFrame], decoded: list) -> None:
    recv = [f.recv_ns for f in tape]
    assert recv == sorted(recv), "receive order"
    latencies = []
    peak = 0
    cvs = []
    longest_quiet = 0.0
    for items in by_market(decoded).values():
        ts = [o["msg"]["ts_ms"] for _, o, m in items if isinstance(m, Quote)][:-1]  # without the close frame
        gaps = [(b - a) / 1000 for a, b in itertools.pairwise(ts)]
        cvs.append(statistics.pstdev(gaps) / statistics.mean(gaps))
        longest_quiet = max(longest_quiet, max(gaps))
        j = 0
        for i in range(len(ts)):
            while ts[i] - ts[j] >= 1000:
                j += 1
            peak = max(peak, i - j + 1)
        latencies += [(f.recv_ns - o["msg"]["ts_ms"] * 10**6) / 1e6 for f, o, _ in items if "ts_ms" in o["msg"]]
    assert statistics.mean(cvs) > 1.2, "more irregular than a Poisson process (CV 1)"
    assert peak >= 5, "several updates a second at peaks"
    assert longest_quiet >= 5, "quiet stretches"
    assert min(latencies) > 0 and 30 < statistics.median(latencies) < 150


def test_sequenced_channels_arrive_in_seq_order(decoded: list) -> None:
    seqs: dict[int, list[int]] = defaultdict(list)
    for _, obj, _ in decoded:
        if "seq" in obj:
            seqs[obj["sid"]].append(obj["seq"])
    assert set(seqs) == {2, 3}
    for s in seqs.values():
        assert s == list(range(1, len(s) + 1))


def test_trades_move_last_price_and_volume(decoded: list) -> None:
    for items in by_market(decoded).values():
        volume = 0
        last = None
        for _, _, m in items:
            if isinstance(m, Trade):
                volume += m.count
                last = m.yes_price
            elif isinstance(m, Quote):
                assert (m.volume or 0) == volume and m.last == last


def test_legacy_frames_are_integer_cents() -> None:
    tape = list(synthetic_frames(markets=3, duration_s=120, seed=2, legacy=True))
    assert {m.price_level_structure for m in synthetic_markets(markets=3, duration_s=120, seed=2, legacy=True)} == {
        "linear_cent"
    }
    dec = FrameDecoder()
    n_ticker = 0
    for f in tape:
        obj = json.loads(f.raw)
        m = dec.decode(f.raw, f.recv_ns)
        if obj["type"] == "ticker":
            n_ticker += 1
            assert isinstance(m, Quote)
            assert not any(k.endswith(("_dollars", "_fp")) for k in obj["msg"]) and "ts_ms" not in obj["msg"]
            assert isinstance(obj["msg"]["yes_bid"], int) and isinstance(obj["msg"]["volume"], int)
            assert f.exchange_ns == obj["msg"]["ts"] * 10**9
        elif obj["type"] == "trade":
            assert isinstance(m, Trade) and isinstance(obj["msg"]["yes_price"], int) and "count_fp" not in obj["msg"]
        else:
            assert isinstance(m, Lifecycle)
    assert n_ticker > 100


def test_written_tape_reads_back_as_the_same_frames(tmp_path: Path) -> None:
    paths = write_synthetic_recording(tmp_path, markets=4, duration_s=300, seed=3, legacy=False)
    report = ReadReport()
    back = list(read_frames(tmp_path, report))
    tape = list(synthetic_frames(markets=4, duration_s=300, seed=3))
    assert report.ok
    assert [(f.recv_ns, f.raw, f.exchange_ns) for f in back] == [(f.recv_ns, f.raw, f.exchange_ns) for f in tape]
    header = read_header(paths[0])
    assert header is not None and header.synthetic and header.env == "synthetic" and "SYNTHETIC" in header.note
    assert header.created_ns == DEFAULT_START_NS
    again = tmp_path / "again"
    assert [p.read_bytes() for p in write_synthetic_recording(again, markets=4, duration_s=300, seed=3)] == [
        p.read_bytes() for p in paths
    ]


def test_bad_arguments() -> None:
    with pytest.raises(RecordingError, match="markets"):
        synthetic_frames(markets=0)
    with pytest.raises(RecordingError, match="duration_s"):
        synthetic_frames(duration_s=0)
    with pytest.raises(RecordingError, match="rate_hz"):
        synthetic_frames(rate_hz=-1)
    with pytest.raises(RecordingError, match="start_ns"):
        synthetic_frames(start_ns=-5)


# ---------------------------------------------------------------------------- the bundled sample
def test_bundled_sample_is_synthetic_small_current_and_moves_early() -> None:
    files = sorted(SAMPLE.glob("*.jsonl.gz"))
    assert files and sum(p.stat().st_size for p in files) < 1_000_000
    with gzip.open(files[0], "rt") as f:
        header = json.loads(f.readline())
    assert header["synthetic"] is True and header["env"] == "synthetic" and "SYNTHETIC" in header["note"]

    spec = importlib.util.spec_from_file_location("make_sample", ROOT / "recordings" / "make_sample.py")
    assert spec is not None and spec.loader is not None
    make_sample = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_sample)
    assert header["note"] == make_sample.NOTE

    report = ReadReport()
    frames = list(read_frames(SAMPLE, report))
    assert report.ok
    regenerated = synthetic_frames(
        markets=make_sample.MARKETS,
        duration_s=make_sample.DURATION_S,
        seed=make_sample.SEED,
        rate_hz=make_sample.RATE_HZ,
    )
    assert [f.raw for f in frames] == [f.raw for f in regenerated], "sample is stale: run recordings/make_sample.py"

    dec = FrameDecoder()
    t0 = frames[0].recv_ns
    first_minute: dict[str, list[int]] = defaultdict(list)
    for f in frames:
        q = dec.decode(f.raw, f.recv_ns)
        if isinstance(q, Quote) and q.yes_bid is not None and f.recv_ns - t0 < 60 * 10**9:
            first_minute[q.ticker].append(q.yes_bid)
    moved = [t for t, bids in first_minute.items() if max(bids) - min(bids) >= 500]
    assert len(moved) >= 2, "stop-loss demo needs moves of several cents within the first minute"
