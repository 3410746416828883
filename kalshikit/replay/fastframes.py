"""Fast path from one stream of recordings / plain JSONL frames to per-market tick blocks (what Parquet gives).

The general frames path (:func:`kalshikit.replay.sources.frame_events`) merges any number of files with a heap,
decodes every line up to three times (line shape, exchange time, frame) and feeds the monitor one quote at a time.
For the common case of **one stream** (a single file, or one recorder's hourly files) this module instead reads the
gzip stream in big chunks, cuts it into blocks of whole lines, and decodes each frame once with the same
:class:`~kalshikit.kalshi.messages.FrameDecoder`. Quotes are gathered into per-market numpy columns
(:class:`~kalshikit.replay.market.TickArrays`) and lifecycle events into per-market "specials", so replay can use
the vectorised quiet-band skipping of the Parquet path. Large inputs are decoded by worker processes (decoding is
most of the cost and holds the GIL); blocks come back and are replayed strictly in stream order.

It yields exactly what the general path reads, in the same order and with the same receive times:

- every line that is not on the fast lane goes through the reader's own line logic
  (:class:`kalshikit.recording.reader._FileReader`), so headers, wrappers, corrupt and truncated lines, damaged
  gzip members and the "last exchange time" rule for frames without a receive time behave identically, and every
  problem is reported with its file and line number (gzip damage is detected by the same
  :mod:`kalshikit.recording.lines` code);
- a line takes the fast lane only when the result provably equals the reader's: a kit line ``{"recv_ns":..,
  "raw":..}`` decoded by the reader's own line decoder, or a raw ``ticker`` frame containing none of the wrapper
  keys (``"raw"``, ``"frame"``, ``"rec…``, ``"kalshikit_recording"``).

A frame without an exchange time takes the last exchange time seen before it in the stream; a block decoded in a
worker does not know that time for its first lines, so the worker marks them with :data:`UNKNOWN` and the reader
fills them in, in order, when the block comes back. A file that is a single JSON document (small fixtures) is read
by the reader whole, in this process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import pairwise
from operator import attrgetter
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kalshikit.core.events import BookDelta, BookSnapshot, Lifecycle, MarketInfo, Quote
from kalshikit.kalshi.messages import FrameDecoder, Malformed
from kalshikit.recording.format import RawFrame, RecordingHeader, frame_exchange_ns
from kalshikit.recording.lines import GZIP_MAGIC, _Cut, _gunzip, _plain, iter_lines
from kalshikit.recording.reader import ReadReport, _FileReader, _line_decoder, _streams, recording_files
from kalshikit.replay.depth import BookTape, TapeBuilder
from kalshikit.replay.market import MarketReplay, TickArrays

log = logging.getLogger("kalshikit.recording")

CHUNK = 1 << 20  # compressed bytes read at a time
BLOCK_BYTES = 4 << 20  # decompressed bytes per block of lines
PARALLEL_MIN_BYTES = 8 << 20  # inputs smaller than this (on disk) are decoded in this process
UNKNOWN = -(1 << 62) + 7  # receive time "the last exchange time before this block" (filled in by the reader)
_WARN_PER_FILE = 20
_LIFECYCLE_INFO = ("created", "price_level_structure_updated", "close_date_updated")
_KIT_LINE = b'{"recv_ns":'
_ROW = attrgetter("exchange_ns", "yes_bid", "yes_ask", "yes_bid_size", "yes_ask_size", "last")
_ROW_TYPE = pa.struct([(name, pa.int64()) for name in ("exch", "bid", "ask", "bid_size", "ask_size", "last")])


class _Top(msgspec.Struct, gc=False):
    """The top-level keys that make the reader treat a line as a wrapper or a header rather than a raw frame."""

    kalshikit_recording: Any = None
    raw: Any = None
    frame: Any = None
    recv_ns: Any = None
    recv_ts_ns: Any = None
    received_ms: Any = None


_top_decode = msgspec.json.Decoder(_Top).decode
_NO_WRAPPER = _Top()


def single_stream(sources: Iterable[str | os.PathLike[str]]) -> list[Path] | None:
    """The files of ``sources`` when they form one stream (read one after the other, no merge), else None."""
    streams = _streams(recording_files(list(sources)))
    return streams[0] if len(streams) == 1 else None


@dataclass
class FrameBlock:
    """Ticks and specials of a run of lines.

    ``specials[t]`` holds ``(index, ns, event)``: the event happened before quote ``index`` of ``ticks[t]`` (``index
    == len`` means after the last one). ``books[t]`` holds the market's order-book changes the same way (a
    :class:`~kalshikit.replay.depth.BookTape`). ``order`` lists the block's markets in order of first appearance.
    """

    ticks: dict[str, TickArrays]
    specials: dict[str, list[tuple[int, int, Any]]]
    order: list[str]
    quotes: int = 0
    books: dict[str, BookTape] = field(default_factory=dict)


@dataclass
class _Decoded:
    """What decoding one block of lines produced (sent back from a worker)."""

    block: FrameBlock
    problems: list[tuple[str, int, str]] = field(default_factory=list)
    malformed: set[int] = field(default_factory=set)  # indices in problems that are malformed frames (not counted)
    headers: list[tuple[str, RecordingHeader]] = field(default_factory=list)
    lines: int = 0
    blank: int = 0
    frames: int = 0
    last_exchange: int | None = UNKNOWN
    unknown_used: bool = False
    path: str = ""


# ---------------------------------------------------------------------------- decoding a block (any process)
_decoder: FrameDecoder | None = None


class _Builder:
    """Gathers one block: per-market quotes (with their receive times), specials and problems, in stream order."""

    def __init__(self, path: str) -> None:
        global _decoder
        if _decoder is None:
            _decoder = FrameDecoder()
        self.decode = _decoder.decode
        self.path = path
        self.quotes: dict[str, tuple[list[tuple[int | None, ...]], list[int]]] = {}  # (_ROW of each quote, recv)
        self.specials: dict[str, list[tuple[int, int, Any]]] = {}
        self.books: dict[str, TapeBuilder] = {}
        self.report = ReadReport(max_problems=1 << 62)
        self.malformed: set[int] = set()

    def market(self, ticker: str) -> tuple[list[tuple[int | None, ...]], list[int]]:
        q = self.quotes.get(ticker)
        if q is None:
            q = self.quotes[ticker] = ([], [])
        return q

    def frame(self, rf: RawFrame) -> None:
        """A frame the reader produced, as :func:`kalshikit.replay.sources.frame_events` treats it."""
        msg = self.decode(rf.raw, rf.recv_ns)
        if type(msg) is Quote:
            qs = self.market(msg.ticker)
            qs[0].append(_ROW(msg))
            qs[1].append(rf.recv_ns)
        else:
            self.other(msg, rf.raw, rf.recv_ns, rf.line)

    def other(self, msg: Any, raw: str, recv: int, line: int) -> None:
        t = type(msg)
        if t is BookDelta or t is BookSnapshot:
            tape = self.books.get(msg.ticker)
            if tape is None:
                tape = self.books[msg.ticker] = TapeBuilder()
            tape.add(len(self.market(msg.ticker)[0]), recv, msg)
        elif t is Lifecycle:
            if msg.event_type in _LIFECYCLE_INFO:
                info = _market_info(raw)
                if info is not None:
                    self.specials.setdefault(info.ticker, []).append((len(self.market(info.ticker)[0]), recv, info))
            self.specials.setdefault(msg.ticker, []).append((len(self.market(msg.ticker)[0]), recv, msg))
        elif t is Malformed:
            self.malformed.add(len(self.report.problems))
            self.report.problems.append((self.path, line, f"malformed frame: {msg.error}"))

    def result(self, last_exchange: int | None, lines: int = 0, blank: int = 0, frames: int = 0) -> _Decoded:
        ticks = {t: _arrays(q, r) for t, (q, r) in self.quotes.items() if q}
        books = {t: b.build() for t, b in self.books.items()}
        block = FrameBlock(ticks, self.specials, list(self.quotes), sum(len(a) for a in ticks.values()), books)
        unknown_used = (
            any(int(a.recv.min()) == UNKNOWN for a in ticks.values())
            or any(ns == UNKNOWN for sp in self.specials.values() for _, ns, _ in sp)
            or any(bool((b.recv == UNKNOWN).any()) for b in books.values())
        )
        r = self.report
        return _Decoded(
            block,
            r.problems,
            self.malformed,
            r.headers,
            lines,
            blank,
            frames + r.frames,
            last_exchange,
            unknown_used,
            self.path,
        )


def decode_block(
    path: str, parts: list[bytes], final: bool, last_exchange: int | None = UNKNOWN, first_line: int = 1
) -> _Decoded:
    """Decode the lines of ``b"".join(parts)`` (lines ``first_line, ...`` of ``path``) into a :class:`_Decoded`.

    The text after the last newline is a line only when ``final`` (the end of the file); otherwise it is the start
    of a line the next block carries. ``last_exchange``: the last exchange time before the block, or
    :data:`UNKNOWN` (frames that need it are then marked UNKNOWN for the caller to fill in).
    """
    b = _Builder(path)
    reader = _FileReader(b.report, strict=False)
    reader._path = path
    reader._warned = 1 << 62  # never log here: the caller logs what it merges
    reader.last_exchange = last_exchange
    lines = (parts[0] if len(parts) == 1 else b"".join(parts)).split(b"\n")
    if not final or not lines[-1]:
        lines.pop()
    decode = b.decode
    quotes = b.quotes
    market = b.market
    line_decode = _line_decoder.decode
    raw_time = frame_exchange_ns
    quote_t = Quote
    top = _top_decode
    no_wrapper = _NO_WRAPPER
    row = _ROW
    last_ex = last_exchange
    blank = frames = 0
    n = first_line - 1
    for line in lines:
        n += 1
        s = line.strip()
        if not s:
            blank += 1
            continue
        rf: RawFrame | None
        if s.startswith(_KIT_LINE):
            try:
                h = line_decode(s)
            except (msgspec.DecodeError, msgspec.ValidationError):
                h = None
            if h is not None and h.raw is not None and h.recv_ns is not None and h.kalshikit_recording is None:
                raw = h.raw
                recv = h.recv_ns
                msg = decode(raw, recv)
                if type(msg) is quote_t:
                    ex = msg.exchange_ns or raw_time(raw)
                    if ex is not None:
                        last_ex = ex
                    qs = quotes.get(msg.ticker) or market(msg.ticker)
                    qs[0].append(row(msg))
                    qs[1].append(recv)
                else:
                    ex = raw_time(raw)
                    if ex is not None:
                        last_ex = ex
                    b.other(msg, raw, recv, n)
                frames += 1
                continue
            reader.last_exchange = last_ex
            rf = reader._line(path, n, s, document=False, decoded=h)
            last_ex = reader.last_exchange
        else:
            msg = decode(s, 0)
            if type(msg) is quote_t and top(s) == no_wrapper:
                # The reader reads this line as a raw frame whose receive time is its exchange time.
                ex = msg.exchange_ns
                if ex == 0:
                    ex = raw_time(s)
                if ex is None:
                    ex = last_ex if last_ex is not None else 0
                else:
                    last_ex = ex
                qs = quotes.get(msg.ticker) or market(msg.ticker)
                qs[0].append(row(msg))
                qs[1].append(ex)
                frames += 1
                continue
            reader.last_exchange = last_ex
            rf = reader._line(path, n, s, document=False)
            last_ex = reader.last_exchange
        if rf is not None:
            b.frame(rf)
    return b.result(last_ex, len(lines), blank, frames)


def _market_info(raw: str) -> MarketInfo | None:
    from kalshikit.replay.sources import market_info_from_raw

    return market_info_from_raw(raw)


def _arrays(rows: list[tuple[int | None, ...]], recv: list[int]) -> TickArrays:
    """Columns of a market's quotes (pyarrow turns the rows into columns in C; None -> -1)."""
    table = pa.array(rows, type=_ROW_TYPE)
    cols = [
        np.asarray(pc.fill_null(table.field(i), -1).to_numpy(zero_copy_only=False), dtype=np.int64) for i in range(6)
    ]
    return TickArrays(np.asarray(recv, dtype=np.int64), *cols)


# ---------------------------------------------------------------------------- the stream reader
class FastFrameReader:
    """Reads one stream of files into :class:`FrameBlock` s, in order. See the module docstring.

    ``workers``: processes decoding blocks (None: one per core when the input is large, 0: this process only).
    ``block_bytes``: decompressed bytes per block; ``chunk_size``: bytes read from the file at a time.
    """

    def __init__(
        self,
        files: list[Path],
        report: ReadReport | None = None,
        *,
        workers: int | None = None,
        block_bytes: int = BLOCK_BYTES,
        chunk_size: int = CHUNK,
    ) -> None:
        self.files = files
        self.report = report if report is not None else ReadReport()
        self.block_bytes = max(1, block_bytes)
        self.chunk_size = max(1, chunk_size)
        self.workers = self._workers(workers)
        self._last_exchange: int | None = None
        self._warned: dict[str, int] = {}
        self._lines: dict[str, int] = {}  # lines of each file taken so far (blocks number their lines from 1)

    def _workers(self, workers: int | None) -> int:
        if workers is not None:
            return max(0, workers)
        cores = os.cpu_count() or 1
        size = sum(p.stat().st_size for p in self.files)
        if cores < 2 or size < PARALLEL_MIN_BYTES or multiprocessing.current_process().daemon:
            return 0
        return cores

    def blocks(self) -> Iterator[FrameBlock]:
        """The stream's blocks in order; problems go to ``report`` as they are reached."""
        pool = _pool(self.workers) if self.workers else None
        pending: deque[Any] = deque()  # Future[_Decoded] | _Decoded | ("cut", path, reason, bytes) | ("file", path)
        limit = 2 * self.workers + 1
        try:
            for item in self._items():
                if isinstance(item, _Job):
                    if pool is not None:
                        pending.append(pool.submit(decode_block, item.path, item.parts, item.final))
                    else:
                        pending.append(decode_block(item.path, item.parts, item.final, self._last_exchange))
                elif isinstance(item, _Document):
                    while pending:
                        yield from self._take(pending.popleft())
                    yield from self._document(item.path)
                else:
                    pending.append(item)
                while pending and (len(pending) > limit or not isinstance(pending[0], Future) or pending[0].done()):
                    yield from self._take(pending.popleft())
            while pending:
                yield from self._take(pending.popleft())
        finally:
            for p in pending:
                if isinstance(p, Future):
                    p.cancel()
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------ merging results, in order
    def _take(self, item: Any) -> Iterator[FrameBlock]:
        if isinstance(item, Future):
            item = item.result()
        if isinstance(item, _Decoded):
            block = self._merge(item, item.path)
            if block.order:
                yield block
        elif item[0] == "file":
            self.report.files += 1
            self._warned[item[1]] = 0
            self._lines[item[1]] = 0
        else:  # lost data, reported exactly as kalshikit.recording.lines._split does
            _, path, reason, partial = item
            n = self._lines[path]
            if partial:
                self._problem(path, n + 1, f"{reason}; partial line of {partial} bytes dropped")
                self._lines[path] = n + 1
            else:
                self._problem(path, n + 1, reason)

    def _problem(self, path: str, line: int, reason: str) -> None:
        self.report.add_problem(path, line, reason)
        warned = self._warned.get(path, 0) + 1
        self._warned[path] = warned
        if warned <= _WARN_PER_FILE:
            log.warning("%s:%d: %s", path, line, reason)
        elif warned == _WARN_PER_FILE + 1:
            log.warning("%s: more problems; only the first %d are logged", path, _WARN_PER_FILE)

    def _merge(self, d: _Decoded, path: str | None = None) -> FrameBlock:
        """Take a decoded block in stream order (``path``: a block of lines numbered from 1 within the block)."""
        report = self.report
        offset = self._lines.get(path, 0) if path is not None else 0
        for i, (p, line, reason) in enumerate(d.problems):
            if i in d.malformed:
                report.problems.append((p, line + offset, reason))
            else:
                self._problem(p, line + offset, reason)
        if path is not None:
            self._lines[path] = offset + d.lines
        report.headers.extend(d.headers)
        report.lines += d.lines
        report.blank += d.blank
        report.frames += d.frames
        block = d.block
        if d.unknown_used:
            fill = self._last_exchange if self._last_exchange is not None else 0
            for arrays in block.ticks.values():
                arrays.recv[arrays.recv == UNKNOWN] = fill
            for tape in block.books.values():
                tape.recv[tape.recv == UNKNOWN] = fill
            for sp in block.specials.values():
                for k, (i, ns, ev) in enumerate(sp):
                    if ns == UNKNOWN:
                        if getattr(ev, "recv_ns", None) == UNKNOWN:
                            ev = msgspec.structs.replace(ev, recv_ns=fill)
                        sp[k] = (i, fill, ev)
        if d.last_exchange != UNKNOWN:
            self._last_exchange = d.last_exchange
        return block

    # ------------------------------------------------------------------ reading files into jobs
    def _items(self) -> Iterator[Any]:
        for p in self.files:
            path = str(p)
            if _is_document(path):
                yield _Document(path)
                continue
            yield ("file", path)
            yield from self._file_jobs(path)

    def _file_jobs(self, path: str) -> Iterator[Any]:
        """Decompressed data in blocks of whole lines; the text after a block's last newline starts the next one."""
        with open(path, "rb") as f:
            gz = f.read(2) == GZIP_MAGIC
            f.seek(0)
            chunks = _gunzip(f, self.chunk_size) if gz else _plain(f, self.chunk_size)
            buf: list[bytes] = []  # pending tail + chunks, joined by the decoder (not here)
            size = 0
            tail = 0  # length of the text after the last newline in buf
            for chunk in chunks:
                if isinstance(chunk, _Cut):
                    if size > tail:
                        yield _Job(path, buf, False)
                    yield ("cut", path, chunk.reason, tail)
                    buf, size, tail = [], 0, 0
                    continue
                k = chunk.rfind(b"\n")
                buf.append(chunk)
                size += len(chunk)
                tail = tail + len(chunk) if k < 0 else len(chunk) - k - 1
                if k >= 0 and size - tail >= self.block_bytes:  # the tail lies within this chunk
                    yield _Job(path, buf, False)
                    buf = [chunk[k + 1 :]] if tail else []
                    size = tail
            if size:
                yield _Job(path, buf, True)

    def _document(self, path: str) -> Iterator[FrameBlock]:
        """A whole-document file, through the reader in this process (small fixtures)."""
        b = _Builder(path)
        reader = _FileReader(b.report, strict=False)
        reader._warned = 1 << 62
        reader.last_exchange = self._last_exchange
        self.report.files += 1
        self._warned[path] = 0
        for rf in reader.read(path):
            b.frame(rf)
        b.report.files = 0
        d = b.result(reader.last_exchange, b.report.lines, b.report.blank)
        block = self._merge(d)
        if block.order:
            yield block


@dataclass
class _Job:
    path: str
    parts: list[bytes]
    final: bool


@dataclass
class _Document:
    path: str


def process_context() -> Any:
    """How to start worker processes: ``fork`` when this process runs a single thread (workers start in
    milliseconds and inherit what is loaded), else ``forkserver`` (forking a process with other threads running, a
    Jupyter kernel for instance, can deadlock the child on a lock held at the moment of the fork), else ``spawn``."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["kalshikit.replay.fastframes", "kalshikit.replay.sweep"])
        return ctx
    return multiprocessing.get_context("spawn")


def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=process_context())


def _is_document(path: str) -> bool:
    """Whether the file's first non-blank line starts a whole JSON document (read by the reader whole)."""
    lines = iter_lines(path, lambda n, r: None)
    try:
        for _, line in lines:
            s = line.strip()
            if s:
                return s == b"{" or s.startswith(b"[")
        return False
    finally:
        lines.close()


# ---------------------------------------------------------------------------- feeding a block to a market
def feed_block(
    market: MarketReplay,
    ticks: TickArrays | None,
    specials: list[tuple[int, int, Any]] | None = None,
    book: BookTape | None = None,
) -> None:
    """Replay one block of a market exactly as the frame-by-frame path would.

    Runs of quotes with non-decreasing receive times go through :meth:`MarketReplay.process_arrays` (which decides
    like ``on_quote`` on such runs); specials (lifecycle events) go through :meth:`MarketReplay.on_event`, as the
    frames path feeds them, so that time events falling exactly at a special's time keep the frames path's order.
    The block's order-book changes (``book``) are handed over first; exits read them by quote position and time.
    """
    if book is not None:
        market.add_book(book)
    start = 0
    for index, ns, event in specials or ():
        if ticks is not None and index > start:
            _feed_runs(market, ticks, start, index)
        start = index
        market.on_event(event, ns)
    if ticks is not None and len(ticks) > start:
        _feed_runs(market, ticks, start, len(ticks))


def _feed_runs(market: MarketReplay, t: TickArrays, start: int, stop: int) -> None:
    recv = t.recv[start:stop]
    breaks = np.flatnonzero(recv[1:] < recv[:-1]) + 1
    bounds = [0, *breaks.tolist(), stop - start]
    for a, b in pairwise(bounds):
        s, e = start + a, start + b
        if s == 0 and e == len(t):
            market.process_arrays(t)
        else:
            market.process_arrays(
                TickArrays(
                    t.recv[s:e], t.exch[s:e], t.bid[s:e], t.ask[s:e], t.bid_size[s:e], t.ask_size[s:e], t.last[s:e]
                )
            )
