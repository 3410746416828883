"""Recorded order books for replay fills: one market's ``orderbook_snapshot`` / ``orderbook_delta`` frames as a
compact tape, and the book an exit meets when it arrives.

A :class:`BookTape` holds a market's book changes in stream order as int64 columns (a snapshot is a ``CLEAR`` row
followed by one ``LEVEL`` row per resting level; a delta is one ``DELTA`` row). ``index`` says how many of the
market's quotes came before the change in the stream, so the tape can be read beside the market's quotes by any
replay path.

:class:`DepthBook` rebuilds the book lazily, only when an exit needs it (a market that never exits never pays for
its depth). The book an order meets at time ``now``, when ``consumed`` of the market's quotes have been taken in
stream order, is every change that came before that point in the stream and was received at or before ``now`` --
the same rule whether the replay feeds quotes one by one or in vectorised blocks, so both paths fill alike.
Changes are applied exactly as the live client applies them (:meth:`kalshikit.core.book.OrderBook.add`); a delta
before the market's first snapshot has no book to apply to and is counted in ``orphan_deltas``, as the live session
drops it. Liquidity an exit takes stays taken until the next recorded change replaces the book.

Sequence gaps are not checked here: the recorder's live session asks for a fresh snapshot after a gap and that
snapshot is in the recording, so a book is wrong at most between the gap and the snapshot that follows it.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from kalshikit.core.book import OrderBook
from kalshikit.core.events import BookDelta, BookSnapshot, Quote

CLEAR, LEVEL, DELTA = 0, 1, 2  # row kinds
YES, NO = 0, 1
_COLUMNS = ("index", "recv", "op", "side", "price", "size")
_CHUNK = 1 << 12  # tape rows turned into Python rows at a time


class BookTape(msgspec.Struct, frozen=True):
    """One market's recorded book changes, in stream order (int64 columns of equal length)."""

    index: np.ndarray[Any, Any]  # quotes of the market before the change (relative to the block it came with)
    recv: np.ndarray[Any, Any]  # receive time of the frame, ns
    op: np.ndarray[Any, Any]  # CLEAR (a snapshot starts), LEVEL (a snapshot's level) or DELTA
    side: np.ndarray[Any, Any]  # YES or NO bids
    price: np.ndarray[Any, Any]  # $0.0001
    size: np.ndarray[Any, Any]  # LEVEL: resting count; DELTA: signed change (1/100 contract)

    def __len__(self) -> int:
        return len(self.recv)

    def shifted(self, by: int) -> BookTape:
        """The same tape with ``by`` added to every ``index``."""
        return msgspec.structs.replace(self, index=self.index + by) if by else self

    def sliced(self, start: int, stop: int) -> BookTape:
        return BookTape(*(getattr(self, c)[start:stop] for c in _COLUMNS))


def empty_tape() -> BookTape:
    return BookTape(*(np.empty(0, np.int64) for _ in _COLUMNS))


def concat_tapes(parts: list[BookTape]) -> BookTape:
    """Tapes one after the other (their ``index`` columns must already be on one scale)."""
    if not parts:
        return empty_tape()
    if len(parts) == 1:
        return parts[0]
    return BookTape(*(np.concatenate([getattr(p, c) for p in parts]) for c in _COLUMNS))


class TapeBuilder:
    """Collects book events of one market as rows; :meth:`build` makes the tape."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, int, int, int, int]] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, index: int, recv_ns: int, event: BookSnapshot | BookDelta) -> None:
        rows = self.rows
        if type(event) is BookDelta:
            rows.append((index, recv_ns, DELTA, YES if event.side == "yes" else NO, event.price, event.delta))
            return
        assert type(event) is BookSnapshot
        rows.append((index, recv_ns, CLEAR, YES, 0, 0))
        rows.extend((index, recv_ns, LEVEL, YES, p, c) for p, c in event.yes)
        rows.extend((index, recv_ns, LEVEL, NO, p, c) for p, c in event.no)

    def build(self) -> BookTape:
        if not self.rows:
            return empty_tape()
        cols = np.array(self.rows, dtype=np.int64).T
        return BookTape(*(np.ascontiguousarray(c) for c in cols))


def is_book_event(event: Any) -> bool:
    t = type(event)
    return t is BookSnapshot or t is BookDelta


class DepthBook:
    """The recorded order book of one market, advanced lazily to the time an exit arrives (see the module doc)."""

    __slots__ = (
        "_chunk_end",
        "_live",
        "_parts",
        "_pending",
        "_row",
        "_rows",
        "_taken",
        "_taken_at",
        "applied",
        "held",
        "orphan_deltas",
        "synced",
        "ticker",
    )

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self._live = OrderBook(ticker)  # the book as recorded (never taken from)
        self._parts: list[BookTape] = []  # tapes not yet read, oldest first (index on the market's global scale)
        self._chunk_end = 0  # rows of _parts[0] already turned into _rows
        self._pending: list[tuple[int, int, int, int, int, int]] = []  # rows fed one by one (frame-by-frame path)
        self._rows: list[tuple[int, int, int, int, int, int]] = []  # the chunk being read, as Python rows
        self._row = 0
        self._taken: OrderBook | None = None  # the book exits take from, until the next recorded change
        self._taken_at = -1
        self.applied = 0  # rows applied so far
        self.held = 0  # rows received and not applied yet
        self.synced = False  # a snapshot has been applied: the book is known
        self.orphan_deltas = 0

    # ------------------------------------------------------------------ input
    def add_tape(self, tape: BookTape, base: int) -> None:
        """Rows of a block whose ``index`` counts from ``base`` quotes of the market."""
        if len(tape):
            self._flush_pending()
            self._parts.append(tape.shifted(base))
            self.held += len(tape)

    def add_event(self, event: BookSnapshot | BookDelta, consumed: int, recv_ns: int) -> None:
        """One book event, after ``consumed`` of the market's quotes (frame-by-frame replay)."""
        b = TapeBuilder()
        b.add(consumed, recv_ns, event)
        self._pending.extend(b.rows)
        self.held += len(b.rows)

    def _flush_pending(self) -> None:
        if self._pending:
            rows, self._pending = self._pending, []
            self._parts.append(BookTape(*(np.array(c, dtype=np.int64) for c in zip(*rows, strict=True))))

    def _next_chunk(self) -> bool:
        """Turn the next rows of the oldest tape into Python rows (in chunks: bounded memory); False at the end."""
        while self._parts:
            part = self._parts[0]
            start = self._chunk_end
            if start >= len(part):
                self._parts.pop(0)
                self._chunk_end = 0
                continue
            stop = min(len(part), start + _CHUNK)
            self._rows = list(zip(*(getattr(part, c)[start:stop].tolist() for c in _COLUMNS), strict=True))
            self._row = 0
            self._chunk_end = stop
            return True
        return False

    # ------------------------------------------------------------------ the book at a time
    def advance(self, consumed: int, now_ns: int) -> None:
        """Apply every change before quote ``consumed`` of the stream that was received at or before ``now_ns``."""
        self._flush_pending()
        live = self._live
        while True:
            if self._row >= len(self._rows) and not self._next_chunk():
                return
            rows = self._rows
            start = k = self._row
            n = len(rows)
            while k < n:
                index, recv, op, side, price, size = rows[k]
                if index > consumed or recv > now_ns:
                    break
                if op == DELTA:
                    if self.synced:
                        live.add("yes" if side == YES else "no", price, size)
                    else:
                        self.orphan_deltas += 1
                elif op == CLEAR:
                    live.yes = {}
                    live.no = {}
                    self.synced = True
                elif size > 0:
                    (live.yes if side == YES else live.no)[price] = size
                k += 1
            self._row = k
            self.applied += k - start
            self.held -= k - start
            if k < n:
                return

    @property
    def live(self) -> OrderBook:
        """The book as recorded up to the last :meth:`advance` (read it, never change it)."""
        return self._live

    def for_exit(self, consumed: int, now_ns: int) -> OrderBook | None:
        """The book an exit arriving at ``now_ns`` takes from (None while no snapshot has been applied)."""
        self.advance(consumed, now_ns)
        if not self.synced:
            return None
        if self._taken is None or self._taken_at != self.applied:
            taken = OrderBook(self.ticker)
            taken.yes = dict(self._live.yes)
            taken.no = dict(self._live.no)
            self._taken = taken
            self._taken_at = self.applied
        return self._taken

    def quote(self, consumed: int, now_ns: int, exchange_ns: int) -> Quote | None:
        """The book's best prices as a quote (what the live client puts in its price cache), None before a
        snapshot."""
        self.advance(consumed, now_ns)
        if not self.synced:
            return None
        return self._live.quote(recv_ns=now_ns, exchange_ns=exchange_ns, source="book")
