"""Where replay reads from: the kit's recordings and plain JSONL of raw Kalshi frames (decoded frame by frame with
the live decoder), or Parquet files made by :func:`kalshikit.recording.columnar.to_parquet` (read in column
blocks, grouped by market).

Lifecycle ``created`` frames carry a market's price grid and close time; they are turned into the
:class:`~kalshikit.core.actions.MarketInfo` the monitor needs to price exits on the right grid.

History datasets (``python -m kalshikit.history``: 1-minute candles) become quotes by
:mod:`kalshikit.history.quotes` under a stated assumption; :func:`data_resolution` says what every result states.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kalshikit.core.events import BookDelta, BookSnapshot, Lifecycle, MarketInfo, Quote
from kalshikit.core.grid import PriceGrid, PriceRange
from kalshikit.errors import ConfigError, RecordingError
from kalshikit.kalshi.messages import FrameDecoder, Malformed
from kalshikit.recording.reader import ReadReport, read_frames, recording_files
from kalshikit.replay.depth import BookTape
from kalshikit.replay.market import TickArrays
from kalshikit.units import NS_PER_S, parse_price

if TYPE_CHECKING:
    from kalshikit.replay.dataset import ReplayData


def is_parquet(path: str | os.PathLike[str]) -> bool:
    return str(path).endswith(".parquet") and not str(path).endswith(
        (".trades.parquet", ".lifecycle.parquet", ".book.parquet")
    )


_SAME_DATA_BYTES = 1 << 18  # two files of equal size whose first 256 KiB are equal are taken for the same data


def _content_key(path: Path) -> tuple[int, str] | None:
    size = path.stat().st_size
    if size == 0:
        return None
    with open(path, "rb") as f:
        return size, hashlib.sha256(f.read(_SAME_DATA_BYTES)).hexdigest()


def distinct_sources(paths: list[Path], what: str) -> list[Path]:
    """``paths`` with every file read once: a path named twice (or a link to it) is kept once; two different files
    with the same content (a copy of a recording) raise :class:`ConfigError`, since replaying both would feed every
    frame twice. Folders are checked file by file (a folder and a file in it are the same file, read once)."""
    from kalshikit.history.dataset import is_history_dataset

    out: list[Path] = []
    seen: set[Path] = set()
    for p in paths:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)
    files: dict[Path, Path] = {}  # resolved -> as named
    for p in out:
        if p.is_dir():
            if not is_history_dataset(p):
                for f in recording_files([p]):
                    files.setdefault(f.resolve(), f)
        else:
            files.setdefault(p.resolve(), p)
    by_content: dict[tuple[int, str], Path] = {}
    for f in files.values():
        content = _content_key(f)
        if content is None:
            continue
        other = by_content.setdefault(content, f)
        if other is not f:
            raise ConfigError(
                f"{what} sources {str(other)!r} and {str(f)!r} hold the same data (a copy?): every frame would be "
                "fed twice; give each recording once"
            )
    return out


def grid_from_created(msg: dict[str, Any]) -> PriceGrid | None:
    """The price grid a lifecycle ``created`` / ``price_level_structure_updated`` message announces, if any."""
    ranges = msg.get("price_ranges")
    try:
        if ranges:
            return PriceGrid(
                tuple(
                    PriceRange(parse_price(r["start"]), parse_price(r["end"]), parse_price(r["step"])) for r in ranges
                ),
                msg.get("price_level_structure") or "custom",
            )
        if msg.get("price_level_structure"):
            return PriceGrid.named(msg["price_level_structure"])
    except (ValueError, KeyError, TypeError):
        return None
    return None


def market_info_from_raw(raw: str) -> MarketInfo | None:
    """MarketInfo (close time, grid) from a raw lifecycle frame, or None when it carries neither."""
    try:
        frame = json.loads(raw)
        msg = frame.get("msg") or {}
    except (ValueError, AttributeError):
        return None
    grid = grid_from_created(msg)
    close = msg.get("close_ts")
    if grid is None and close is None:
        return None
    return MarketInfo(msg.get("market_ticker", ""), close_ns=close * NS_PER_S if close else None, grid=grid)


# ---------------------------------------------------------------------------- frames (recordings, JSONL)
def frame_events(
    paths: Iterable[str | os.PathLike[str]], report: ReadReport | None = None
) -> Iterator[tuple[Any, int]]:
    """``(event, now_ns)`` for every Quote, BookSnapshot, BookDelta and Lifecycle (plus MarketInfo from created
    frames), in time order."""
    decoder = FrameDecoder()
    decode = decoder.decode
    for f in read_frames([os.fspath(p) for p in paths], report):
        msg = decode(f.raw, f.recv_ns)
        t = type(msg)
        if t is Quote or t is BookDelta or t is BookSnapshot:
            yield msg, f.recv_ns
        elif t is Lifecycle:
            if msg.event_type in ("created", "price_level_structure_updated", "close_date_updated"):
                info = market_info_from_raw(f.raw)
                if info is not None:
                    yield info, f.recv_ns
            yield msg, f.recv_ns
        elif t is Malformed and report is not None:
            report.problems.append((f.path, f.line, f"malformed frame: {msg.error}"))


# ---------------------------------------------------------------------------- Parquet
def _col(batch: Any, name: str) -> np.ndarray[Any, Any]:
    import pyarrow.compute as pc

    return np.asarray(pc.fill_null(batch.column(name), -1).to_numpy(zero_copy_only=False), dtype=np.int64)


class _ParquetBooks:
    """The rows of a ticks file's ``.book.parquet`` (when there is one), streamed in ``tick_index`` order."""

    def __init__(self, path: Path, batch_rows: int) -> None:
        import pyarrow.parquet as pq

        self._batches: Iterator[Any] = (
            pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=batch_rows) if path.is_file() else iter(())
        )
        self._carry: list[np.ndarray[Any, Any]] | None = None
        self._done = False
        self.names: list[str] = []  # market of each code in the ``ticker`` column handed out
        self._code: dict[str, int] = {}

    def _columns(self, batch: Any) -> list[np.ndarray[Any, Any]]:
        import pyarrow as pa
        import pyarrow.compute as pc

        from kalshikit.replay.depth import CLEAR, DELTA, LEVEL, NO, YES

        tick = batch.column("ticker")
        codes_here = [self._code.setdefault(t, len(self._code)) for t in tick.dictionary.to_pylist()]
        self.names.extend(list(self._code)[len(self.names) :])
        codes = np.asarray(codes_here, dtype=np.int64)[
            np.asarray(tick.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        ]
        kind = batch.column("kind")
        delta = np.asarray(pc.fill_null(pc.equal(kind, pa.scalar("delta")), False).to_numpy(zero_copy_only=False))
        level = np.asarray(pc.fill_null(pc.equal(kind, pa.scalar("level")), False).to_numpy(zero_copy_only=False))
        op = np.where(delta, DELTA, np.where(level, LEVEL, CLEAR)).astype(np.int64)
        no_side = pc.fill_null(pc.equal(batch.column("side"), pa.scalar("no")), False)
        no = np.asarray(no_side.to_numpy(zero_copy_only=False))
        side = np.where(no, NO, YES).astype(np.int64)
        return [
            _col(batch, "tick_index"),
            codes,
            op,
            side,
            np.where(op == CLEAR, 0, _col(batch, "price")),
            np.where(op == CLEAR, 0, _col(batch, "size")),
            _col(batch, "recv_ns"),
        ]

    def take(self, upto: int | None) -> list[np.ndarray[Any, Any]] | None:
        """The rows with ``tick_index < upto`` (every row left when ``upto`` is None) not handed out yet."""
        parts = [self._carry] if self._carry is not None else []
        self._carry = None
        while not self._done and (not parts or upto is None or int(parts[-1][0][-1]) < upto):
            batch = next(self._batches, None)
            if batch is None:
                self._done = True
            elif batch.num_rows:
                parts.append(self._columns(batch))
        if not parts:
            return None
        cols = parts[0] if len(parts) == 1 else [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]
        cut = len(cols[0]) if upto is None else int(np.searchsorted(cols[0], upto, side="left"))
        if cut < len(cols[0]):
            self._carry = [c[cut:] for c in cols]
        return [c[:cut] for c in cols] if cut else None


def _book_tapes(
    cols: list[np.ndarray[Any, Any]] | None, names: list[str], g0: int, rows_of: dict[str, np.ndarray[Any, Any]]
) -> dict[str, BookTape]:
    """Per market, the book rows of one block of ticks starting at global tick ``g0`` (``rows_of``: each market's
    positions in the block; ``names``: the market of each ticker code), with ``index`` counted in that market's
    ticks of the block."""
    if cols is None:
        return {}
    tick_index, codes, op, side, price, size, recv = cols
    order = np.argsort(codes, kind="stable")  # grouped by market, stream order kept within each
    sorted_codes = codes[order]
    bounds = np.flatnonzero(np.diff(sorted_codes)) + 1
    out: dict[str, BookTape] = {}
    for s, e in zip([0, *bounds.tolist()], [*bounds.tolist(), len(order)], strict=True):
        at = order[s:e]
        ticker = names[int(sorted_codes[s])]
        rows = rows_of.get(ticker)
        ti = tick_index[at] - g0
        rel = np.zeros(len(ti), np.int64) if rows is None else np.searchsorted(rows, ti).astype(np.int64)
        out[ticker] = BookTape(rel, recv[at], op[at], side[at], price[at], size[at])
    return out


def parquet_blocks(
    path: str | os.PathLike[str], *, batch_rows: int = 1 << 18
) -> Iterator[tuple[dict[str, TickArrays], dict[str, list[tuple[int, int, Any]]], dict[str, BookTape]]]:
    """Blocks of ``{ticker: TickArrays}``, ``{ticker: [(index, ns, event)]}`` specials and ``{ticker: BookTape}``
    order-book changes, in time order.

    Memory is bounded by ``batch_rows``. Lifecycle events come from the sidecar table and are placed before the
    first tick of their market that followed them in the original stream; order-book rows (``.book.parquet``, when
    the recording had books) likewise.
    """
    import pyarrow.parquet as pq

    from kalshikit.recording.columnar import book_path, lifecycle_event, sidecar_paths

    lc_path = sidecar_paths(path)[1]
    specials: list[tuple[int, str, int, Any]] = []  # (tick_index, ticker, ns, event)
    if Path(lc_path).is_file():
        for r in pq.read_table(lc_path).to_pylist():
            ev = lifecycle_event(r)
            ns = r["recv_ns"] or 0
            if r["event_type"] in ("created", "price_level_structure_updated", "close_date_updated") and r.get("raw"):
                info = market_info_from_raw(r["raw"])
                if info is not None:
                    specials.append((r["tick_index"], r["ticker"], ns, info))
            specials.append((r["tick_index"], r["ticker"], ns, ev))
    specials.sort(key=lambda s: s[0])
    sp = 0
    g0 = 0
    cols = ["ticker", "recv_ns", "exchange_ns", "yes_bid", "yes_ask", "yes_bid_size", "yes_ask_size", "last"]
    if not Path(path).is_file():
        raise RecordingError("no such Parquet file (convert a recording with to_parquet first)", path=str(path))
    books = _ParquetBooks(book_path(path), batch_rows)
    # pre_buffer=False: Arrow's pre-buffering keeps the compressed column chunks of the file in memory (hundreds of
    # MB for 10M ticks); without it memory stays at about one batch.
    for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=batch_rows, columns=cols):
        n = batch.num_rows
        tick_col = batch.column("ticker")
        codes = np.asarray(tick_col.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        names = tick_col.dictionary.to_pylist()
        recv = _col(batch, "recv_ns")
        exch = _col(batch, "exchange_ns")
        bid = _col(batch, "yes_bid")
        ask = _col(batch, "yes_ask")
        bsz = _col(batch, "yes_bid_size")
        asz = _col(batch, "yes_ask_size")
        last = _col(batch, "last")
        order = np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        bounds = np.flatnonzero(np.diff(sorted_codes)) + 1
        starts = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [n]))
        blocks: dict[str, TickArrays] = {}
        rows_of: dict[str, np.ndarray[Any, Any]] = {}
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            if s == e:
                continue
            rows = order[s:e]
            name = names[int(sorted_codes[s])]
            rows_of[name] = rows
            blocks[name] = TickArrays(recv[rows], exch[rows], bid[rows], ask[rows], bsz[rows], asz[rows], last[rows])
        extra: dict[str, list[tuple[int, int, Any]]] = {}
        while sp < len(specials) and specials[sp][0] < g0 + n:
            tick_index, ticker, ns, ev = specials[sp]
            rows = rows_of.get(ticker)
            rel = 0 if rows is None else int(np.searchsorted(rows, tick_index - g0))
            extra.setdefault(ticker, []).append((rel, ns, ev))
            sp += 1
        tapes = _book_tapes(books.take(g0 + n), books.names, g0, rows_of)
        # Release this batch's columns before the consumer runs and the next batch is read: otherwise two batches
        # (and their Arrow buffers) are alive at once, which is most of the peak memory of a long replay.
        del batch, tick_col, codes, recv, exch, bid, ask, bsz, asz, last, order, sorted_codes, rows_of
        yield blocks, extra, tapes
        g0 += n
    tail: dict[str, list[tuple[int, int, Any]]] = {}
    for _, ticker, ns, ev in specials[sp:]:
        tail.setdefault(ticker, []).append((0, ns, ev))
    tail_books = _book_tapes(books.take(None), books.names, g0, {})
    if tail or tail_books:
        yield {}, tail, tail_books


# ---------------------------------------------------------------------------- history datasets (1-minute candles)
def data_resolution(
    source: list[Path] | ReplayData, candles: str | None = None
) -> tuple[list[Path] | ReplayData, dict[str, str]]:
    """Turn history datasets (``python -m kalshikit.history``) among ``source`` into replay data of candle quotes
    under the ``candles`` assumption (:mod:`kalshikit.history.quotes`), and say what every result must state:
    ``{"resolution": ..., "fill_assumption": ...}`` (ticks, or 1-minute candles and how they were made quotes)."""
    from kalshikit.history.dataset import is_history_dataset
    from kalshikit.replay.dataset import ReplayData
    from kalshikit.replay.results import TICK_FILLS, TICK_RESOLUTION

    if isinstance(source, ReplayData):
        if candles is not None and not hasattr(source, "candles"):
            raise ConfigError("candles= applies to history datasets (python -m kalshikit.history), not to this data")
        resolution = getattr(source, "resolution", TICK_RESOLUTION)
        return source, {"resolution": resolution, "fill_assumption": getattr(source, "fill_assumption", TICK_FILLS)}
    history = [p for p in source if p.is_dir() and is_history_dataset(p)]
    if not history:
        if candles is not None:
            raise ConfigError(
                f"candles={candles!r} applies to history datasets (python -m kalshikit.history); "
                f"{', '.join(map(str, source))} is recorded data, replayed quote by quote"
            )
        return source, {"resolution": TICK_RESOLUTION, "fill_assumption": TICK_FILLS}
    if len(history) != len(source):
        raise ConfigError("replay history datasets or recordings in one run, not both (their resolutions differ)")
    from kalshikit.history.quotes import replay_data

    data = replay_data(history[0], candles)
    for extra in history[1:]:
        more = replay_data(extra, candles)
        clash = set(more.markets) & set(data.markets)
        if clash:
            raise ConfigError(f"{extra} repeats market(s) of {history[0]}: {', '.join(sorted(clash)[:5])}")
        data.markets.update(more.markets)
        data.specials.update(more.specials)
        data.ticks += more.ticks
    return data, {"resolution": data.resolution, "fill_assumption": data.fill_assumption}
