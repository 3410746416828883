"""A recording loaded once into per-market numpy columns, for running many settings over the same data (sweeps).

``ReplayData.load(sources)`` reads Parquet (fast) or recordings/JSONL (decoded with the live decoder) into memory:
about 60 bytes per tick. :func:`run_data` then replays one setting without touching the disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kalshikit.core.events import BookDelta, BookSnapshot, Quote
from kalshikit.errors import ConfigError
from kalshikit.recording.reader import ReadReport
from kalshikit.replay.depth import BookTape, TapeBuilder, concat_tapes
from kalshikit.replay.market import TickArrays
from kalshikit.replay.sources import distinct_sources, frame_events, is_parquet, parquet_blocks

_FIELDS = ("recv", "exch", "bid", "ask", "bid_size", "ask_size", "last")


@dataclass
class ReplayData:
    markets: dict[str, TickArrays]
    specials: dict[str, list[tuple[int, int, Any]]] = field(default_factory=dict)
    ticks: int = 0
    problems: list[tuple[str, int, str]] = field(default_factory=list)
    books: dict[str, BookTape] = field(default_factory=dict)  # recorded order books (index: the market's quotes)

    @classmethod
    def load(cls, sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> ReplayData:
        paths = [Path(sources)] if isinstance(sources, str | os.PathLike) else [Path(s) for s in sources]
        for p in paths:
            if not p.exists():
                raise ConfigError(f"replay source {str(p)!r} does not exist")
        paths = distinct_sources(paths, "replay")
        if all(is_parquet(p) for p in paths):
            return cls._from_parquet(paths)
        if any(is_parquet(p) for p in paths):
            raise ConfigError("load Parquet files or recordings/JSONL, not both in one dataset")
        return cls._from_frames(paths)

    @classmethod
    def _from_parquet(cls, paths: list[Path]) -> ReplayData:
        parts: dict[str, list[TickArrays]] = {}
        specials: dict[str, list[tuple[int, int, Any]]] = {}
        tapes: dict[str, list[BookTape]] = {}
        offset: dict[str, int] = {}
        ticks = 0
        for path in paths:
            for blocks, extra, books in parquet_blocks(path):
                for ticker, sp in extra.items():
                    base = offset.get(ticker, 0)
                    specials.setdefault(ticker, []).extend((base + i, ns, ev) for i, ns, ev in sp)
                for ticker, tape in books.items():
                    tapes.setdefault(ticker, []).append(tape.shifted(offset.get(ticker, 0)))
                for ticker, arrays in blocks.items():
                    parts.setdefault(ticker, []).append(arrays)
                    offset[ticker] = offset.get(ticker, 0) + len(arrays)
                    ticks += len(arrays)
        markets = {t: _concat(p) for t, p in parts.items()}
        for t in [*specials, *tapes]:
            markets.setdefault(t, _empty())
        return cls(markets, specials, ticks, books={t: concat_tapes(p) for t, p in tapes.items()})

    @classmethod
    def _from_frames(cls, paths: list[Path]) -> ReplayData:
        cols: dict[str, list[list[int]]] = {}
        specials: dict[str, list[tuple[int, int, Any]]] = {}
        tapes: dict[str, TapeBuilder] = {}
        report = ReadReport()
        ticks = 0
        for ev, now in frame_events(paths, report):
            c = cols.get(ev.ticker)
            if c is None:
                c = cols[ev.ticker] = [[] for _ in _FIELDS]
            if type(ev) is BookDelta or type(ev) is BookSnapshot:
                b = tapes.get(ev.ticker)
                if b is None:
                    b = tapes[ev.ticker] = TapeBuilder()
                b.add(len(c[0]), now, ev)
            elif type(ev) is Quote:
                ticks += 1
                for lst, v in zip(
                    c,
                    (ev.recv_ns, ev.exchange_ns, ev.yes_bid, ev.yes_ask, ev.yes_bid_size, ev.yes_ask_size, ev.last),
                    strict=True,
                ):
                    lst.append(-1 if v is None else v)
            else:
                specials.setdefault(ev.ticker, []).append((len(c[0]), now, ev))
        markets = {t: TickArrays(*(np.asarray(lst, dtype=np.int64) for lst in c)) for t, c in cols.items()}
        books = {t: b.build() for t, b in tapes.items()}
        return cls(markets, specials, ticks, list(report.problems), books)

    @property
    def nbytes(self) -> int:
        return sum(getattr(a, f).nbytes for a in self.markets.values() for f in _FIELDS)


def _empty() -> TickArrays:
    return TickArrays(*(np.empty(0, dtype=np.int64) for _ in _FIELDS))


def _concat(parts: list[TickArrays]) -> TickArrays:
    if len(parts) == 1:
        return parts[0]
    return TickArrays(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))
