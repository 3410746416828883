"""Parquet conversion: exact round trip against the frame decoder, row groups, sidecars, pandas, failure safety."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kalshikit.core.events import Lifecycle, Quote, Trade
from kalshikit.errors import RecordingError
from kalshikit.kalshi.messages import FrameDecoder
from kalshikit.recording import read_frames, write_synthetic_recording
from kalshikit.recording.columnar import (
    TICK_SCHEMA,
    conversion_stats,
    iter_batches,
    iter_events,
    read_lifecycle,
    read_ticks,
    read_trades,
    sidecar_paths,
    ticks_dataframe,
    to_parquet,
)

HOUR0 = 1778508000 * 10**9


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("rec")
    write_synthetic_recording(d, markets=4, duration_s=400, seed=9)
    # A second recorder with legacy frames and a few non-tick frames, merged with the first.
    other = '{"type":"subscribed","id":1,"msg":{"channel":"orderbook_delta","sid":9}}'
    bad = '{"type":"ticker","msg":{"market_ticker":"X","yes_bid_dollars":"abc"}}'
    lines = [json.dumps({"recv_ns": HOUR0 + 5, "raw": other}), json.dumps({"recv_ns": HOUR0 + 6, "raw": bad})]
    (d / "extra.jsonl").write_text("\n".join(lines) + "\n")
    return d


@pytest.fixture(scope="module")
def converted(recording: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("pq") / "day.parquet"
    stats = to_parquet([recording], out, batch_rows=1_000)
    return out, stats


def expected_events(recording: Path) -> list[Quote | Trade | Lifecycle]:
    dec = FrameDecoder()
    out = []
    for f in read_frames(recording):
        m = dec.decode(f.raw, f.recv_ns)
        if isinstance(m, Quote | Trade | Lifecycle):
            out.append(m)
    return out


def test_ticks_round_trip_exactly(recording: Path, converted: tuple[Path, object]) -> None:
    out, _ = converted
    quotes = [m for m in expected_events(recording) if isinstance(m, Quote)]
    table = read_ticks(out)
    assert table.schema.equals(TICK_SCHEMA, check_metadata=False)
    assert pa.types.is_dictionary(table.schema.field("ticker").type)
    rows = table.to_pylist()
    assert len(rows) == len(quotes)
    for row, q in zip(rows, quotes, strict=True):
        assert row == {
            "ticker": q.ticker,
            "recv_ns": q.recv_ns,
            "exchange_ns": q.exchange_ns or None,
            "yes_bid": q.yes_bid,
            "yes_ask": q.yes_ask,
            "yes_bid_size": q.yes_bid_size,
            "yes_ask_size": q.yes_ask_size,
            "last": q.last,
            "volume": q.volume,
            "open_interest": q.open_interest,
        }
    assert any(r["yes_bid"] is None for r in rows) and any(r["yes_bid"] and r["yes_bid"] % 100 for r in rows)


def test_iter_events_rebuilds_the_decoded_sequence(recording: Path, converted: tuple[Path, object]) -> None:
    out, _ = converted
    assert list(iter_events(out, batch_size=777)) == expected_events(recording)


def test_row_groups_batches_stats_and_sidecars(recording: Path, converted: tuple[Path, object]) -> None:
    out, stats = converted
    n_ticks = read_ticks(out).num_rows
    assert pq.ParquetFile(out).num_row_groups == -(-n_ticks // 1_000)
    batches = list(iter_batches(out, batch_size=500, columns=["ticker", "yes_bid"]))
    assert sum(b.num_rows for b in batches) == n_ticks and batches[0].schema.names == ["ticker", "yes_bid"]
    trades_path, lifecycle_path = sidecar_paths(out)
    assert trades_path.name == "day.trades.parquet" and lifecycle_path.name == "day.lifecycle.parquet"
    assert stats.ticks == n_ticks  # type: ignore[attr-defined]
    assert stats.trades == read_trades(out).num_rows > 0  # type: ignore[attr-defined]
    assert stats.lifecycle == read_lifecycle(out).num_rows == 12  # type: ignore[attr-defined]
    assert stats.other == 1 and stats.malformed == 1 and stats.problems == 0  # type: ignore[attr-defined]
    assert stats.frames == stats.ticks + stats.trades + stats.lifecycle + 2  # type: ignore[attr-defined]
    stored = conversion_stats(out)
    assert stored["ticks"] == n_ticks and stored["headers"][0]["synthetic"] is True
    lc = read_lifecycle(out).to_pylist()
    created = [r for r in lc if r["event_type"] == "created"]
    assert len(created) == 4
    assert {r["price_level_structure"] for r in created} == {"linear_cent", "tapered_deci_cent"}
    assert all(
        r["title"] and r["event_ticker"] and json.loads(r["raw"])["msg"]["event_type"] == "created" for r in created
    )
    settled = [r for r in lc if r["event_type"] == "determined"]
    assert all(r["result"] in ("yes", "no") and r["settlement_value"] in (0, 10_000) for r in settled)


def test_tickers_filter_and_pandas(converted: tuple[Path, object]) -> None:
    out, _ = converted
    one = read_ticks(out).column("ticker").to_pylist()[0]
    assert set(read_ticks(out, tickers=[one]).column("ticker").to_pylist()) == {one}
    df = ticks_dataframe(out)
    assert str(df["yes_bid"].dtype) == "Int64" and str(df["ticker"].dtype) == "category"
    assert df["yes_bid"].isna().any()
    assert str(df["recv_time"].dtype) == "datetime64[ns, UTC]"
    assert (df["recv_time"].astype("int64") == df["recv_ns"].astype("int64")).all()


def test_legacy_tape_converts(tmp_path: Path) -> None:
    write_synthetic_recording(tmp_path / "src", markets=2, duration_s=60, seed=4, legacy=True)
    stats = to_parquet(tmp_path / "src", tmp_path / "legacy.parquet")
    rows = read_ticks(tmp_path / "legacy.parquet").to_pylist()
    assert stats.ticks == len(rows) > 0
    assert all(r["yes_bid"] is None or r["yes_bid"] % 100 == 0 for r in rows)
    assert all(r["exchange_ns"] % 10**9 == 0 for r in rows)  # legacy ts is whole seconds


def test_failures_leave_no_output(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such recording"):
        to_parquet(tmp_path / "missing", tmp_path / "a.parquet")
    with pytest.raises(RecordingError, match=r"\.parquet"):
        to_parquet(tmp_path, tmp_path / "a.csv")
    src = tmp_path / "src"
    src.mkdir()
    (src / "x.jsonl").write_text('{"type":"ticker","msg":{"market_ticker":"A","ts_ms":1}}\n{broken\n')
    with pytest.raises(RecordingError) as err:
        to_parquet(src, tmp_path / "out" / "b.parquet", strict=True)
    assert err.value.line == 2 and err.value.path.endswith("x.jsonl")
    assert list((tmp_path / "out").iterdir()) == []  # no half-written files, not even .partial ones
    stats = to_parquet(src, tmp_path / "out" / "b.parquet")  # lenient: the bad line is reported and skipped
    assert stats.ticks == 1 and stats.problems == 1 and stats.report.problems[0][1] == 2
    with pytest.raises(RecordingError, match="no such Parquet"):
        read_ticks(tmp_path / "b.parquet")
