"""Where replay reads from: the kit's recordings and plain JSONL of raw Kalshi frames (decoded frame by frame with
the live decoder), or Parquet files made by :func:`kalshikit.recording.columnar.to_parquet` (read in column
blocks, grouped by market).

Lifecycle ``created`` frames carry a market's price grid and close time; they are turned into the
:class:`~kalshikit.core.actions.MarketInfo` the monitor needs to price exits on the right grid.

History datasets (``python -m kalshikit.history``: 1-minute candles) become quotes by
:mod:`kalshikit.history.quotes` under a stated assumption; :func:`data_resolution` says what every result states.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kalshikit.core.events import Lifecycle, MarketInfo, Quote
from kalshikit.core.grid import PriceGrid, PriceRange
from kalshikit.errors import ConfigError, RecordingError
from kalshikit.kalshi.messages import FrameDecoder, Malformed
from kalshikit.recording.reader import ReadReport, read_frames
from kalshikit.replay.market import TickArrays
from kalshikit.units import NS_PER_S, parse_price

if TYPE_CHECKING:
    from kalshikit.replay.dataset import ReplayData


def is_parquet(path: str | os.PathLike[str]) -> bool:
    return str(path).endswith(".parquet") and not str(path).endswith((".trades.parquet", ".lifecycle.parquet"))


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
    """``(event, now_ns)`` for every Quote and Lifecycle (plus MarketInfo from created frames), in time order."""
    decoder = FrameDecoder()
    decode = decoder.decode
    for f in read_frames([os.fspath(p) for p in paths], report):
        msg = decode(f.raw, f.recv_ns)
        t = type(msg)
        if t is Quote:
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


def parquet_blocks(
    path: str | os.PathLike[str], *, batch_rows: int = 1 << 18
) -> Iterator[tuple[dict[str, TickArrays], dict[str, list[tuple[int, int, Any]]]]]:
    """Blocks of ``{ticker: TickArrays}`` and ``{ticker: [(index, ns, event)]}`` specials, in time order.

    Memory is bounded by ``batch_rows``. Lifecycle events come from the sidecar table and are placed before the
    first tick of their market that followed them in the original stream.
    """
    import pyarrow.parquet as pq

    from kalshikit.recording.columnar import lifecycle_event, sidecar_paths

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
        # Release this batch's columns before the consumer runs and the next batch is read: otherwise two batches
        # (and their Arrow buffers) are alive at once, which is most of the peak memory of a long replay.
        del batch, tick_col, codes, recv, exch, bid, ask, bsz, asz, last, order, sorted_codes, rows_of
        yield blocks, extra
        g0 += n
    tail: dict[str, list[tuple[int, int, Any]]] = {}
    for _, ticker, ns, ev in specials[sp:]:
        tail.setdefault(ticker, []).append((0, ns, ev))
    if tail:
        yield {}, tail


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
