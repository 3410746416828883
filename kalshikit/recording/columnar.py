"""Convert recordings to Parquet (ticks, trades, lifecycle) for fast replay and pandas, and read them back.

``to_parquet(sources, "day.parquet")`` streams the merged frames of ``sources`` through
:class:`~kalshikit.kalshi.messages.FrameDecoder` and writes three files, all in replay order (the order
:func:`~kalshikit.recording.reader.read_frames` yields):

- ``day.parquet``: one row per ``ticker`` frame (:data:`TICK_SCHEMA`): prices in $0.0001, counts in 1/100
  contract, times in ns UTC, all nullable ``int64``; ``ticker`` dictionary-encoded. Row groups of ``batch_rows``.
- ``day.trades.parquet``: one row per public ``trade`` frame (:data:`TRADE_SCHEMA`).
- ``day.lifecycle.parquet``: one row per ``market_lifecycle_v2`` frame (:data:`LIFECYCLE_SCHEMA`), with the raw
  frame text (it carries the grid and titles).
- ``day.book.parquet``, only when the recording has order books: one row per ``orderbook_delta`` frame and, per
  ``orderbook_snapshot``, a ``snapshot`` row followed by one ``level`` row per resting level (:data:`BOOK_SCHEMA`).
  Replay fills exits against this book (:mod:`kalshikit.replay.depth`).

Trades, lifecycle and book rows carry ``tick_index`` (how many ticks came before them) and ``frame`` (their position in
the source stream), so :func:`iter_events` can interleave the three tables back into exactly the event sequence the
decoder produced from the recording. Memory stays bounded: rows are written in batches with
``pyarrow.parquet.ParquetWriter``; files appear under their final names only when conversion succeeded.
"""

from __future__ import annotations

import heapq
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from kalshikit.core.events import BookDelta, BookSnapshot, Lifecycle, Quote, Trade
from kalshikit.errors import RecordingError
from kalshikit.kalshi.messages import FrameDecoder, Malformed
from kalshikit.recording.format import FORMAT_VERSION
from kalshikit.recording.reader import ReadReport, read_frames

_DICT = pa.dictionary(pa.int32(), pa.string())
_I64 = pa.int64()

TICK_SCHEMA = pa.schema(
    [
        ("ticker", _DICT),
        ("recv_ns", _I64),
        ("exchange_ns", _I64),
        ("yes_bid", _I64),
        ("yes_ask", _I64),
        ("yes_bid_size", _I64),
        ("yes_ask_size", _I64),
        ("last", _I64),
        ("volume", _I64),
        ("open_interest", _I64),
    ]
)
TRADE_SCHEMA = pa.schema(
    [
        ("tick_index", _I64),
        ("frame", _I64),
        ("ticker", _DICT),
        ("trade_id", pa.string()),
        ("yes_price", _I64),
        ("count", _I64),
        ("taker_side", pa.string()),
        ("sid", _I64),
        ("seq", _I64),
        ("recv_ns", _I64),
        ("exchange_ns", _I64),
    ]
)
LIFECYCLE_SCHEMA = pa.schema(
    [
        ("tick_index", _I64),
        ("frame", _I64),
        ("ticker", pa.string()),
        ("event_type", pa.string()),
        ("result", pa.string()),
        ("settlement_value", _I64),
        ("open_ns", _I64),
        ("close_ns", _I64),
        ("is_deactivated", pa.bool_()),
        ("sid", _I64),
        ("seq", _I64),
        ("recv_ns", _I64),
        ("exchange_ns", _I64),
        ("price_level_structure", pa.string()),
        ("event_ticker", pa.string()),
        ("title", pa.string()),
        ("raw", pa.string()),
    ]
)
BOOK_SCHEMA = pa.schema(
    [
        ("tick_index", _I64),
        ("frame", _I64),
        ("ticker", _DICT),
        ("kind", pa.string()),  # snapshot (the book is replaced by the level rows that follow) | level | delta
        ("side", pa.string()),  # yes | no (whose bids); null on a snapshot row
        ("price", _I64),  # $0.0001
        ("size", _I64),  # level: resting count; delta: signed change (1/100 contract)
        ("sid", _I64),
        ("seq", _I64),
        ("recv_ns", _I64),
        ("exchange_ns", _I64),
    ]
)
_META_KEY = b"kalshikit"


def sidecar_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(trades, lifecycle)`` file paths that belong to the ticks file ``path`` (``x.parquet`` ->
    ``x.trades.parquet``, ``x.lifecycle.parquet``)."""
    p = Path(path)
    stem = p.name[: -len(".parquet")] if p.name.endswith(".parquet") else p.name
    return p.with_name(f"{stem}.trades.parquet"), p.with_name(f"{stem}.lifecycle.parquet")


def book_path(path: str | os.PathLike[str]) -> Path:
    """The order-book file that belongs to the ticks file ``path`` (``x.parquet`` -> ``x.book.parquet``); it exists
    only when the recording had order books."""
    p = Path(path)
    stem = p.name[: -len(".parquet")] if p.name.endswith(".parquet") else p.name
    return p.with_name(f"{stem}.book.parquet")


@dataclass
class ConvertStats:
    """What :func:`to_parquet` did."""

    frames: int = 0
    ticks: int = 0
    trades: int = 0
    lifecycle: int = 0
    book_frames: int = 0  # orderbook_snapshot / orderbook_delta frames (rows of the .book.parquet file)
    other: int = 0  # decoded fine but not a tick/trade/lifecycle/book (control replies, fills...)
    malformed: int = 0  # frames the decoder could not understand (kept in the source, skipped here)
    problems: int = 0  # unreadable lines reported by the reader
    seconds: float = 0.0
    paths: list[str] = field(default_factory=list)
    report: ReadReport = field(default_factory=ReadReport, repr=False)

    @property
    def ticks_per_second(self) -> float:
        return self.ticks / self.seconds if self.seconds > 0 else 0.0


class _LcMeta(msgspec.Struct, gc=False):
    title: str | None = None
    event_ticker: str | None = None


class _LcMsg(msgspec.Struct, gc=False):
    price_level_structure: str | None = None
    additional_metadata: _LcMeta | None = None


class _LcFrame(msgspec.Struct, gc=False):
    msg: _LcMsg | None = None


_lc_decoder = msgspec.json.Decoder(_LcFrame)


class _Table:
    """Rows buffered as tuples and written as one row group per ``batch_rows``."""

    def __init__(self, path: Path, schema: pa.Schema, kind: str, batch_rows: int, meta: dict[str, Any]) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".partial")
        self.schema = schema.with_metadata({_META_KEY: json.dumps({"kind": kind, **meta}).encode()})
        self.batch_rows = batch_rows
        self.rows: list[tuple[Any, ...]] = []
        self.count = 0
        self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        cols = list(zip(*self.rows, strict=True))
        arrays = []
        for values, f in zip(cols, self.schema, strict=True):
            if pa.types.is_dictionary(f.type):
                arrays.append(pa.array(values, pa.string()).dictionary_encode())
            else:
                arrays.append(pa.array(values, f.type))
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema), row_group_size=self.batch_rows)
        self.count += len(self.rows)
        self.rows = []

    def finish(self, stats: dict[str, Any]) -> None:
        self.flush()
        add_meta = getattr(self.writer, "add_key_value_metadata", None)
        if add_meta is not None:  # pyarrow >= 15
            add_meta({"kalshikit.stats": json.dumps(stats)})
        self.writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self.writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def to_parquet(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    *,
    batch_rows: int = 131_072,
    report: ReadReport | None = None,
    strict: bool = False,
) -> ConvertStats:
    """Convert recordings (files/directories, merged in time order) to ``out_path`` plus its two sidecar files.

    Returns :class:`ConvertStats`. Unreadable lines are reported in ``stats.report`` and skipped (``strict=True``:
    the first one raises :class:`RecordingError` and nothing is written); frames the decoder cannot understand are
    counted in ``stats.malformed``.
    """
    if batch_rows < 1:
        raise RecordingError(f"batch_rows must be >= 1; got {batch_rows}")
    out = Path(out_path)
    if out.suffix != ".parquet":
        raise RecordingError("the output file name must end in .parquet", path=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    src = [str(s) for s in ([sources] if isinstance(sources, str | os.PathLike) else sources)]
    rep = report if report is not None else ReadReport()
    stats = ConvertStats(report=rep)
    # read_frames raises RecordingError for missing sources here, before any file is made.
    frames = read_frames(src, rep, strict=strict)
    trades_path, lifecycle_path = sidecar_paths(out)
    books_path = book_path(out)
    meta = {"format_version": FORMAT_VERSION, "sources": src}
    tables: list[_Table] = []
    try:
        ticks = _Table(out, TICK_SCHEMA, "ticks", batch_rows, meta)
        tables.append(ticks)
        trades = _Table(trades_path, TRADE_SCHEMA, "trades", batch_rows, meta)
        tables.append(trades)
        lifecycle = _Table(lifecycle_path, LIFECYCLE_SCHEMA, "lifecycle", batch_rows, meta)
        tables.append(lifecycle)
        books = _Table(books_path, BOOK_SCHEMA, "book", batch_rows, meta)
        tables.append(books)
        started = time.perf_counter()
        _convert(frames, stats, ticks, trades, lifecycle, books)
        stats.seconds = time.perf_counter() - started
        stats.problems = rep.problem_count
        summary = {k: v for k, v in asdict(stats).items() if k not in ("report", "paths")}
        summary["headers"] = [msgspec.to_builtins(h) | {"path": p} for p, h in rep.headers]
        if not stats.book_frames:  # no order books: no book file (and none left from an earlier conversion)
            tables.remove(books)
            books.abort()
            books_path.unlink(missing_ok=True)
        for t in tables:
            t.finish(summary)
    except BaseException:
        for t in tables:
            t.abort()
        raise
    stats.paths = [str(out), str(trades_path), str(lifecycle_path)] + ([str(books_path)] if stats.book_frames else [])
    return stats


def _convert(
    frames: Iterator[Any], stats: ConvertStats, ticks: _Table, trades: _Table, lifecycle: _Table, books: _Table
) -> None:
    decode = FrameDecoder().decode
    add_tick = ticks.add
    n_ticks = 0
    n = 0
    for f in frames:
        m = decode(f.raw, f.recv_ns)
        if isinstance(m, Quote):
            add_tick(
                (
                    m.ticker,
                    m.recv_ns,
                    m.exchange_ns or None,
                    m.yes_bid,
                    m.yes_ask,
                    m.yes_bid_size,
                    m.yes_ask_size,
                    m.last,
                    m.volume,
                    m.open_interest,
                )
            )
            n_ticks += 1
        elif isinstance(m, Trade):
            trades.add(
                (
                    n_ticks,
                    n,
                    m.ticker,
                    m.trade_id,
                    m.yes_price,
                    m.count,
                    m.taker_side,
                    m.sid,
                    m.seq,
                    m.recv_ns,
                    m.exchange_ns,
                )
            )
        elif isinstance(m, Lifecycle):
            structure = event_ticker = title = None
            try:
                lc = _lc_decoder.decode(f.raw).msg
            except (msgspec.DecodeError, msgspec.ValidationError):
                lc = None
            if lc is not None:
                structure = lc.price_level_structure
                if lc.additional_metadata is not None:
                    title = lc.additional_metadata.title
                    event_ticker = lc.additional_metadata.event_ticker
            lifecycle.add(
                (
                    n_ticks,
                    n,
                    m.ticker,
                    m.event_type,
                    m.result,
                    m.settlement_value,
                    m.open_ns,
                    m.close_ns,
                    m.is_deactivated,
                    m.sid,
                    m.seq,
                    m.recv_ns,
                    m.exchange_ns,
                    structure,
                    event_ticker,
                    title,
                    f.raw,
                )
            )
        elif type(m) is BookDelta:
            ex = m.exchange_ns or None
            books.add((n_ticks, n, m.ticker, "delta", m.side, m.price, m.delta, m.sid, m.seq, m.recv_ns, ex))
            stats.book_frames += 1
        elif type(m) is BookSnapshot:
            ex = m.exchange_ns or None
            books.add((n_ticks, n, m.ticker, "snapshot", None, None, None, m.sid, m.seq, m.recv_ns, ex))
            for side, levels in (("yes", m.yes), ("no", m.no)):
                for price, size in levels:
                    books.add((n_ticks, n, m.ticker, "level", side, price, size, m.sid, m.seq, m.recv_ns, ex))
            stats.book_frames += 1
        elif isinstance(m, Malformed):
            stats.malformed += 1
        else:
            stats.other += 1
        n += 1
    stats.frames = n
    stats.ticks = n_ticks
    stats.trades = trades.count + len(trades.rows)
    stats.lifecycle = lifecycle.count + len(lifecycle.rows)


# ---------------------------------------------------------------------------- reading back
def _existing(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.is_file():
        raise RecordingError("no such Parquet file (convert a recording with to_parquet first)", path=str(p))
    return p


def read_ticks(
    path: str | os.PathLike[str], *, columns: list[str] | None = None, tickers: Iterable[str] | None = None
) -> pa.Table:
    """The ticks table (optionally only some columns / markets), in replay order."""
    filters = [("ticker", "in", list(tickers))] if tickers is not None else None
    return pq.read_table(_existing(path), columns=columns, filters=filters)


def read_trades(path: str | os.PathLike[str]) -> pa.Table:
    """The trades sidecar of the ticks file ``path``."""
    return pq.read_table(_existing(sidecar_paths(path)[0]))


def read_lifecycle(path: str | os.PathLike[str]) -> pa.Table:
    """The lifecycle sidecar of the ticks file ``path``."""
    return pq.read_table(_existing(sidecar_paths(path)[1]))


def iter_batches(
    path: str | os.PathLike[str], *, batch_size: int = 65_536, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """Stream the ticks table as record batches, in replay order, in bounded memory."""
    yield from pq.ParquetFile(_existing(path)).iter_batches(batch_size=batch_size, columns=columns)


def conversion_stats(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The stats and source headers stored in a ticks file by :func:`to_parquet` (empty if absent)."""
    meta = pq.read_metadata(_existing(path)).metadata or {}
    raw = meta.get(b"kalshikit.stats")
    return json.loads(raw) if raw else {}


def ticks_dataframe(
    path: str | os.PathLike[str], *, tickers: Iterable[str] | None = None, datetimes: bool = True
) -> Any:
    """The ticks as a pandas DataFrame: nullable ``Int64`` columns, ``ticker`` categorical.

    ``datetimes=True`` adds ``recv_time`` / ``exchange_time`` (tz-aware UTC) next to the integer ns columns.
    Prices stay integers in $0.0001; divide by 10 000 for dollars when plotting.
    """
    import pandas as pd

    table = read_ticks(path, tickers=tickers)
    df = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    if datetimes:
        df["recv_time"] = pd.to_datetime(df["recv_ns"], unit="ns", utc=True)
        df["exchange_time"] = pd.to_datetime(df["exchange_ns"], unit="ns", utc=True)
    return df


def iter_events(path: str | os.PathLike[str], *, batch_size: int = 65_536) -> Iterator[Quote | Trade | Lifecycle]:
    """Replay a converted recording as kit events (Quote, Trade, Lifecycle), interleaved exactly as the frames were.

    Yields the same events :class:`FrameDecoder` produces from the source recording (books, fills and control
    replies excepted: they are not converted).
    """
    trades_path, lifecycle_path = sidecar_paths(path)
    side = heapq.merge(
        _side_events(trades_path, batch_size, _trade), _side_events(lifecycle_path, batch_size, lifecycle_event)
    )
    nxt = next(side, None)
    k = 0
    for batch in iter_batches(path, batch_size=batch_size):
        cols = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        for ticker, recv, ex, bid, ask, bsz, asz, last, vol, oi in zip(*cols, strict=True):
            while nxt is not None and nxt[0] <= k:
                yield nxt[2]
                nxt = next(side, None)
            yield Quote(ticker, bid, ask, bsz, asz, last, vol, oi, ex or 0, recv)
            k += 1
    while nxt is not None:
        yield nxt[2]
        nxt = next(side, None)


def _trade(r: dict[str, Any]) -> Trade:
    return Trade(
        r["ticker"],
        r["trade_id"],
        r["yes_price"],
        r["count"],
        r["taker_side"],
        r["sid"],
        r["seq"],
        r["exchange_ns"],
        r["recv_ns"],
    )


def lifecycle_event(r: dict[str, Any]) -> Lifecycle:
    """The Lifecycle event of one row of the lifecycle table."""
    return Lifecycle(
        ticker=r["ticker"],
        event_type=r["event_type"],
        result=r["result"],
        settlement_value=r["settlement_value"],
        close_ns=r["close_ns"],
        open_ns=r["open_ns"],
        is_deactivated=r["is_deactivated"],
        sid=r["sid"] or 0,
        seq=r["seq"] or 0,
        exchange_ns=r["exchange_ns"] or 0,
        recv_ns=r["recv_ns"] or 0,
    )


def _side_events(path: Path, batch_size: int, make: Any) -> Iterator[tuple[int, int, Any]]:
    """(tick_index, frame, event) of a sidecar table, in frame order."""
    for batch in pq.ParquetFile(_existing(path)).iter_batches(batch_size=batch_size):
        for r in batch.to_pylist():
            yield r["tick_index"], r["frame"], make(r)


__all__ = [
    "BOOK_SCHEMA",
    "LIFECYCLE_SCHEMA",
    "TICK_SCHEMA",
    "TRADE_SCHEMA",
    "ConvertStats",
    "book_path",
    "conversion_stats",
    "iter_batches",
    "iter_events",
    "lifecycle_event",
    "read_lifecycle",
    "read_ticks",
    "read_trades",
    "sidecar_paths",
    "ticks_dataframe",
    "to_parquet",
]
