"""Replay of one market through the real Monitor, with a simulated clock and the fill model.

Markets are independent in the monitor (no state is shared between tickers), so each market is replayed on its
own Monitor and the results are merged by time; the decisions are the ones a single live monitor would make.

Two entry points produce identical decisions (a test checks it):

- ``on_quote`` / ``on_event``: one event at a time (JSONL frames);
- ``process_arrays``: a block of the market's quotes as numpy columns (Parquet). Quotes whose mark lies inside the
  monitor's :meth:`~kalshikit.core.monitor.Monitor.quiet_band` cannot change anything, so the driver searches
  for the next quote that leaves the band (vectorised) and feeds only that one; the skipped quotes are remembered
  with ``Monitor.observe`` exactly as feeding them would.

Time moves with the data: every quote is fed at its receive time. Entries, the monitor's own deadlines
(``next_deadline``: time exits, retries, market close) and orders arriving after a latency are interleaved at
their times: an event at time ``t`` happens after every quote received at or before ``t``.

Exits fill against the market's recorded order book when the data has one (``orderbook_snapshot`` /
``orderbook_delta`` frames: :mod:`kalshikit.replay.depth`), else against the top of book its last quote shows.
Book changes reach a market as a :class:`~kalshikit.replay.depth.BookTape` beside a block of quotes
(:meth:`MarketReplay.add_book`) or one by one (:meth:`MarketReplay.on_event`); either way the book an exit meets is
fixed by how many of the market's quotes were taken (``_consumed``) and the time, so both paths fill alike.
``book_quotes=True`` (frame by frame only) also feeds the book's best prices to the monitor as quotes, as the live
client's price cache holds them for a market watched with depth: for captures that have order books but no
``ticker`` frames.

Rules the monitor could not arm on a position (a ``rules_rejected`` decision) and exits fired the moment the rules
were armed are counted in :class:`MarketOutput` even when decisions are not kept (sweeps).
"""

from __future__ import annotations

import heapq
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from kalshikit.core.actions import ConfirmQuote, Decision, PlaceOrder, PositionClosed
from kalshikit.core.book import OrderBook
from kalshikit.core.events import BookDelta, BookSnapshot, Fill, Lifecycle, MarketInfo, Protect, Quote, Side, Tick
from kalshikit.core.marks import mark_arrays, mark_of
from kalshikit.core.monitor import Monitor, MonitorConfig
from kalshikit.core.positions import yes_payout
from kalshikit.core.rules import Protection, TriggerSource
from kalshikit.replay.depth import BookTape, DepthBook
from kalshikit.replay.entries import Entry, FirstTwoSided
from kalshikit.replay.fills import FillModel
from kalshikit.replay.records import Records
from kalshikit.units import PRICE_SCALE

INF = 1 << 62
ONE = PRICE_SCALE
COMPACT_ROWS = 1 << 20  # book rows a market may hold unread before they are applied (bounds memory)


class TickArrays(msgspec.Struct, frozen=True, weakref=True):
    """One market's quotes in time order. Prices/sizes are int64 with -1 for "none". The arrays are never changed
    once made (what is derived from them is cached per block: :func:`_derived`)."""

    recv: np.ndarray[Any, Any]
    exch: np.ndarray[Any, Any]
    bid: np.ndarray[Any, Any]
    ask: np.ndarray[Any, Any]
    bid_size: np.ndarray[Any, Any]
    ask_size: np.ndarray[Any, Any]
    last: np.ndarray[Any, Any]

    def __len__(self) -> int:
        return len(self.recv)


# What is derived from a block of quotes alone, by id of the block, dropped with the block (see _derived).
_DERIVED: dict[int, dict[Any, Any]] = {}


def _derived(t: TickArrays) -> dict[Any, Any]:
    """A cache of arrays that depend only on block ``t``'s data: own-side marks by ``(side, source)`` and the
    two-sided quotes by ``("two_sided", after_ns)``. A sweep replays the same blocks once per setting, so each is
    computed once per process instead of once per setting; the entry goes when the block does."""
    key = id(t)
    cache = _DERIVED.get(key)
    if cache is None:
        cache = _DERIVED[key] = {}
        weakref.finalize(t, _DERIVED.pop, key, None)
    return cache


def _marks_of(t: TickArrays, side: Side, src: TriggerSource) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Block ``t``'s own-side marks (low, high) for ``side`` and trigger source ``src``, computed once per block."""
    cache = _derived(t)
    pair: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = cache.get((side, src))
    if pair is None:
        pair = cache[(side, src)] = mark_arrays(t.bid, t.ask, t.last, side, src)
    return pair


@dataclass(slots=True)
class OrderRecord:
    """One exit order and what the fill model made of it (a row of the gap report). Slotted: a dense replay keeps
    hundreds of thousands."""

    ticker: str
    client_order_id: str
    position_id: str
    trigger: str
    attempt: int
    side: str  # own side of the position
    decided_ns: int
    arrival_ns: int
    reference_price: int | None  # own-side mark the exit was priced from
    first_bid: int | None  # own-side best bid the order met
    count: int
    filled: int = 0
    average_price: int | None = None  # own-side average fill price
    fees: int = 0
    book: str = "top"  # what it filled against: "depth" (the recorded order book) or "top" (the quote's top)
    levels: int = 0  # price levels it took from
    worst_price: int | None = None  # own-side price of the last level it took from
    taken: tuple[tuple[int, int], ...] = ()  # (own-side price, count) per level, best first; () = one level
    # at ``average_price`` (kept only when it took from more than one level)

    def levels_taken(self) -> tuple[tuple[int, int], ...]:
        if self.taken or not self.filled or self.average_price is None:
            return self.taken
        return ((self.average_price, self.filled),)


@dataclass(slots=True)
class EntryRecord:
    ticker: str
    position_id: str
    side: str
    entry_ns: int
    count: int
    price: int  # own side
    fee: int


def _closed_records() -> Records[PositionClosed]:
    return Records(
        PositionClosed,
        ("count", "entry_price", "opened_ns", "closed_ns", "trigger_ns", "trigger_price", "exit_price", "realized",
         "fees"),
        ("ticker", "position_id", "side", "reason", "settlement_result"),
    )


def _order_records() -> Records[OrderRecord]:
    return Records(
        OrderRecord,
        ("attempt", "decided_ns", "arrival_ns", "reference_price", "first_bid", "count", "filled", "average_price",
         "fees", "levels", "worst_price"),
        ("ticker", "client_order_id", "position_id", "trigger", "side", "book", "taken"),
    )


def _entry_records() -> Records[EntryRecord]:
    return Records(EntryRecord, ("entry_ns", "count", "price", "fee"), ("ticker", "position_id", "side"))


@dataclass
class MarketOutput:
    """What one market's replay produced. The per-position records are kept as columns (:mod:`records`): indexing
    and iterating them makes the record objects."""

    closed: Records[PositionClosed] = field(default_factory=_closed_records)
    decisions: list[Decision] = field(default_factory=list)
    orders: Records[OrderRecord] = field(default_factory=_order_records)
    entries: Records[EntryRecord] = field(default_factory=_entry_records)
    skipped_entries: list[tuple[Entry, str]] = field(default_factory=list)
    open_positions: list[dict[str, Any]] = field(default_factory=list)
    quotes_fed: int = 0
    quotes_seen: int = 0
    rejections: list[tuple[str, int, str]] = field(default_factory=list)  # (position, ns, why) of rules_rejected
    fired_at_entry: int = 0  # positions whose exit was ordered the moment their rules were armed
    book_rows: int = 0  # recorded order-book rows (snapshot levels and deltas) of this market
    first_ns: int = 0  # time of the market's first quote or event
    last_ns: int = 0  # time of its last one

    @property
    def rules_rejected(self) -> int:
        """Positions on which at least one rule could not be armed."""
        return len({pid for pid, _, _ in self.rejections})


def _quote_of(ticker: str, b: int, a: int, bs: int, as_: int, last: int, exch: int, recv: int) -> Quote:
    """A quote from one row of tick columns (-1 = none)."""
    return Quote(
        ticker,
        b if b >= 0 else None,
        a if a >= 0 else None,
        bs if bs >= 0 else None,
        as_ if as_ >= 0 else None,
        last if last >= 0 else None,
        exchange_ns=exch,
        recv_ns=recv,
        source="replay",
    )


def _quote(ticker: str, t: TickArrays, j: int) -> Quote:
    return _quote_of(ticker, int(t.bid[j]), int(t.ask[j]), int(t.bid_size[j]), int(t.ask_size[j]), int(t.last[j]),
                     int(t.exch[j]), int(t.recv[j]))


class _Rows:
    """A block's columns as Python lists, for blocks where most quotes are fed one by one (a numpy scalar costs
    several times a list item): made only once a block has fed ``DENSE_AFTER`` quotes."""

    __slots__ = ("ask", "ask_size", "bid", "bid_size", "exch", "hi", "last", "lo", "recv")

    def __init__(self, t: TickArrays) -> None:
        self.bid = t.bid.tolist()
        self.ask = t.ask.tolist()
        self.bid_size = t.bid_size.tolist()
        self.ask_size = t.ask_size.tolist()
        self.last = t.last.tolist()
        self.exch = t.exch.tolist()
        self.recv = t.recv.tolist()
        self.lo: dict[tuple[str, str], list[int]] = {}
        self.hi: dict[tuple[str, str], list[int]] = {}

    def quote(self, ticker: str, j: int) -> Quote:
        return _quote_of(ticker, self.bid[j], self.ask[j], self.bid_size[j], self.ask_size[j], self.last[j],
                         self.exch[j], self.recv[j])


DENSE_AFTER = 64  # quotes fed from one block before its columns are turned into lists
SCAN_AHEAD = 16  # quotes checked one by one before a vectorised search for the first one leaving the band


def replay_monitor_config() -> MonitorConfig:
    """The monitor configuration of a replay: the same rules and decisions as live, without what only a live driver
    uses (change tracking for the journal, Transition actions, a second list of closed positions)."""
    return MonitorConfig(
        id_salt="replay",
        keep_closed=False,
        track_changes=False,
        transitions=False,
        seen_trades_max=1_000,
        finished_max=1_000,
    )


class MarketReplay:
    """Replays one market. Feed it quotes and events in time order, then call :meth:`finish`."""

    def __init__(
        self,
        ticker: str,
        *,
        protection: Protection | None,
        fill_model: FillModel,
        entries: list[Entry] | None = None,
        policy: FirstTwoSided | None = None,
        config: MonitorConfig | None = None,
        keep_decisions: bool = True,
        book_quotes: bool = False,
    ) -> None:
        self.ticker = ticker
        self.protection = protection
        self.fill_model = fill_model
        self.monitor = Monitor(config or replay_monitor_config())
        self._entries: deque[Entry] = deque(sorted(entries or (), key=lambda e: e.entry_ns))
        self._policy = policy if policy is None or policy.tickers is None or ticker in policy.tickers else None
        self._pending: list[tuple[int, int, PlaceOrder, int]] = []
        self._seq = 0
        self._quote: Quote | None = None
        self._book: OrderBook | None = None
        self._book_quote: Quote | None = None
        self._records: dict[str, OrderRecord] = {}
        self._entry_no = 0
        self._consumed = 0  # quotes of this market taken in stream order (fed, observed or skipped)
        self._depth: DepthBook | None = None  # the recorded order book, once the data shows one
        self._placed = 0  # exit orders the monitor placed
        self.book_quotes = book_quotes
        self.keep_decisions = keep_decisions
        self.out = MarketOutput()
        self.last_ns = 0

    # ================================================================== scalar path
    def on_quote(self, q: Quote) -> None:
        self.out.quotes_seen += 1
        if not self.out.first_ns:
            self.out.first_ns = q.recv_ns
        self._until(q.recv_ns)
        self._policy_check(q)
        self._quote = q
        self.last_ns = q.recv_ns
        band = self.monitor.quiet_band(self.ticker)
        if band is not None:
            lo, hi, side, src = band
            m = mark_of(side, q, src)
            if m is None or lo < m < hi:
                self.monitor.observe(q)
                self._consumed += 1
                return
        self.out.quotes_fed += 1
        self._feed(q, q.recv_ns)
        self._consumed += 1

    def on_event(self, event: Any, now_ns: int) -> None:
        """A non-quote event of this market (Lifecycle, Trade, MarketInfo, BookSnapshot, BookDelta) at ``now_ns``."""
        if not self.out.first_ns:
            self.out.first_ns = now_ns
        t = type(event)
        if t is BookDelta or t is BookSnapshot:
            self._on_book(event, now_ns)
            return
        self._until(now_ns)
        self.last_ns = max(self.last_ns, now_ns)
        self._feed(event, now_ns)

    def _on_book(self, event: BookSnapshot | BookDelta, now_ns: int) -> None:
        """A recorded book change: kept for the exits' fills (it moves no clock: a tape read beside a block of
        quotes does not either); with ``book_quotes`` the book's best prices are also fed as a quote."""
        depth = self._depth_book()
        if self.book_quotes:
            self._until(now_ns)  # orders due before this change meet the book without it
        depth.add_event(event, self._consumed, now_ns)
        if self.book_quotes:
            q = depth.quote(self._consumed, now_ns, event.exchange_ns)
            if q is not None:
                self.on_quote(q)

    def _depth_book(self) -> DepthBook:
        d = self._depth
        if d is None:
            d = self._depth = DepthBook(self.ticker)
        return d

    def add_book(self, tape: BookTape) -> None:
        """Book changes recorded beside the next block of quotes (their ``index`` counts from that block's start)."""
        if not len(tape):
            return
        if not self.out.first_ns:
            self.out.first_ns = int(tape.recv[0])
        d = self._depth_book()
        d.add_tape(tape, self._consumed)
        if d.held > COMPACT_ROWS:  # apply what every later exit would apply anyway: memory stays bounded
            d.advance(self._consumed, self.last_ns)

    # ================================================================== vectorised path
    def process_arrays(self, t: TickArrays, specials: list[tuple[int, int, Any]] | None = None) -> None:
        """Replay a block of quotes; ``specials`` are ``(index, time_ns, event)`` to happen before quote ``index``."""
        n = len(t)
        if n == 0 and not specials:
            return
        self.out.quotes_seen += n
        if n and not self.out.first_ns:
            self.out.first_ns = int(t.recv[0])
        sp = specials or []
        k = 0
        recv = t.recv
        i = 0
        fed = 0
        rows: _Rows | None = None
        base = self._consumed  # quotes of this market before this block
        two_sided = self._policy_arrays(t) if self._policy is not None else None
        while True:
            self._consumed = base + i
            if two_sided is not None:
                self._reenter_arrays(t, two_sided, i)
            sidx = sp[k][0] if k < len(sp) else INF
            te = self._next_time()
            tpos = int(np.searchsorted(recv, te, side="right")) if te < INF else INF
            if tpos < i:
                tpos = i  # due already (a deadline set in the past): it happens now, before quote i
            stop = min(sidx, tpos, n)
            if stop < i:
                stop = i
            band = self.monitor.quiet_band(self.ticker)
            if i < stop:
                if band is None:
                    j = i
                elif rows is not None:
                    j = self._first_out_rows(t, rows, band, i, stop)
                else:
                    j = self._first_out(t, band, i, stop)
                if j < stop:
                    q = rows.quote(self.ticker, j) if rows is not None else _quote(self.ticker, t, j)
                    self._quote = q
                    self.last_ns = q.recv_ns
                    self.out.quotes_fed += 1
                    self._consumed = base + j
                    self._feed(q, q.recv_ns)
                    i = j + 1
                    fed += 1
                    if rows is None and fed >= DENSE_AFTER and n - i > DENSE_AFTER:
                        rows = _Rows(t)
                    continue
                q = rows.quote(self.ticker, stop - 1) if rows is not None else _quote(self.ticker, t, stop - 1)
                self._quote = q
                self.last_ns = q.recv_ns
                self.monitor.observe(q)
                i = stop
                self._consumed = base + i
            # Something happens before quote i (or the block ended).
            if sidx == i and k < len(sp):
                if te < INF and tpos == i and te <= sp[k][1]:
                    self._time_event(te)
                else:
                    _, ns, ev = sp[k]
                    k += 1
                    self.last_ns = max(self.last_ns, ns)
                    self._feed(ev, ns)
                continue
            if tpos == i and i < n:
                self._time_event(te)
                continue
            if i >= n:
                break
        self._consumed = base + n

    def _first_out(self, t: TickArrays, band: Any, i: int, stop: int) -> int:
        lo, hi, side, src = band
        m_lo, m_hi = _marks_of(t, side, src)
        step = 32
        while i < stop:
            e = min(stop, i + step)
            seg = (m_lo[i:e] <= lo) | (m_hi[i:e] >= hi)
            k = int(seg.argmax())
            if seg[k]:
                return i + k
            i = e
            step <<= 2
        return stop

    def _first_out_rows(self, t: TickArrays, rows: _Rows, band: Any, i: int, stop: int) -> int:
        """:meth:`_first_out` for a dense block: the next few quotes are checked one by one (most leave a narrow
        band at once), then the vectorised search takes over."""
        lo, hi, side, src = band
        key = (side, src)
        m_lo = rows.lo.get(key)
        if m_lo is None:
            low, high = _marks_of(t, side, src)
            m_lo = rows.lo[key] = low.tolist()
            rows.hi[key] = high.tolist()
        m_hi = rows.hi[key]
        end = min(stop, i + SCAN_AHEAD)
        for j in range(i, end):
            if m_lo[j] <= lo or m_hi[j] >= hi:
                return j
        return end if end >= stop else self._first_out(t, band, end, stop)

    def _policy_arrays(self, t: TickArrays) -> np.ndarray[Any, Any] | None:
        """Queue the policy's entry at the block's first two-sided quote. For a re-entering policy, return the
        indices of the block's two-sided quotes (the loop finds the next one after every exit)."""
        p = self._policy
        assert p is not None
        cache = _derived(t)
        key = ("two_sided", p.after_ns)
        two_sided = cache.get(key)
        if two_sided is None:
            two_sided = cache[key] = np.flatnonzero((t.bid >= 0) & (t.ask >= 0) & (t.recv >= p.after_ns))
        if p.reenter:
            return two_sided
        if len(two_sided):
            k = int(two_sided[0])
            self._entries.append(Entry(self.ticker, int(t.recv[k]), p.side, p.count))
            self._policy = None
        return None

    def _busy(self) -> bool:
        """An entry queued, an order in flight or a position held: a re-entering policy waits."""
        return bool(self._entries or self._pending or self.monitor.ledger.holdings)

    def _reenter_arrays(self, t: TickArrays, two_sided: np.ndarray[Any, Any], i: int) -> None:
        """A re-entering policy, flat with nothing queued: enter at the first two-sided quote at or after ``i``."""
        if self._busy():
            return
        k = int(np.searchsorted(two_sided, i))
        if k < len(two_sided):
            assert self._policy is not None
            self._entries.append(Entry(self.ticker, int(t.recv[two_sided[k]]), self._policy.side, self._policy.count))

    def _policy_check(self, q: Quote) -> None:
        p = self._policy
        if p is not None and q.yes_bid is not None and q.yes_ask is not None and q.recv_ns >= p.after_ns:
            if p.reenter:
                if self._busy():
                    return  # held (or about to be): the next entry waits for the exit
            else:
                self._policy = None
            self._entries.append(Entry(self.ticker, q.recv_ns, p.side, p.count))

    # ================================================================== time events
    def _next_time(self) -> int:
        t = INF
        if self._entries:
            t = self._entries[0].entry_ns
        d = self.monitor.next_deadline()
        if d is not None and d < t:
            t = d
        if self._pending and self._pending[0][0] < t:
            t = self._pending[0][0]
        return t

    def _until(self, t: int) -> None:
        """Handle every time event strictly before ``t``."""
        while True:
            te = self._next_time()
            if te >= t:
                return
            self._time_event(te)

    def _time_event(self, te: int) -> None:
        now = max(te, self.last_ns)  # the clock never runs backwards: an event due in the past happens now
        if self._pending and self._pending[0][0] == te:
            arrival, _, order, decided = heapq.heappop(self._pending)
            self._execute(order, decided, max(arrival, self.last_ns))
        elif self._entries and self._entries[0].entry_ns == te:
            self._enter(self._entries.popleft(), now)
        else:
            self._feed(Tick(), now)
        self.last_ns = now

    # ================================================================== monitor plumbing
    def _feed(self, ev: Any, now: int) -> None:
        work: deque[tuple[Any, int]] = deque([(ev, now)])
        while work:
            e, t = work.popleft()
            for a in self.monitor.feed(e, t):
                ta = type(a)
                if ta is PlaceOrder:
                    self._placed += 1
                    if self.fill_model.latency_ns == 0:
                        work.extend(self._execute(a, t, t, feed=False))
                    else:
                        self._seq += 1
                        heapq.heappush(self._pending, (t + self.fill_model.latency_ns, self._seq, a, t))
                elif ta is ConfirmQuote:
                    if self._quote is not None:  # replay prices are never stale; answer with the current book
                        work.append((msgspec.structs.replace(self._quote, recv_ns=t, source="rest"), t))
                elif ta is Decision:
                    if a.kind == "rules_rejected":
                        self.out.rejections.append((a.position_id, a.now_ns, a.detail))
                    if self.keep_decisions:
                        self.out.decisions.append(a)
                elif ta is PositionClosed:
                    self.out.closed.append(a)

    def _current_book(self) -> OrderBook | None:
        q = self._quote
        if q is None:
            return None
        if self._book_quote is not q:
            self._book = self.fill_model.book_for(q)
            self._book_quote = q
        return self._book

    def _exit_book(self, now: int) -> tuple[OrderBook, str]:
        """The book an exit arriving at ``now`` takes from: the recorded order book once the data has shown one,
        else the top of book of the last quote."""
        d = self._depth
        if d is not None:
            book = d.for_exit(self._consumed, now)
            if book is not None:
                return book, "depth"
        return self._current_book() or OrderBook(self.ticker), "top"

    def _execute(self, order: PlaceOrder, decided: int, now: int, feed: bool = True) -> list[tuple[Any, int]]:
        book, kind = self._exit_book(now)
        side = "yes" if order.book_side == "ask" else "no"  # selling YES exits YES; buying YES exits NO
        best = book.best("yes" if side == "yes" else "no")
        first_bid = best[0] if best else None
        fills, update = self.fill_model.execute(order, book, now)
        rec = OrderRecord(
            self.ticker,
            order.client_order_id,
            order.position_id,
            order.trigger,
            order.attempt,
            side,
            decided,
            now,
            order.reference_price,
            first_bid,
            order.count,
        )
        rec.filled = update.fill_count
        rec.fees = update.fees
        rec.book = kind
        rec.levels = len(fills)
        if update.average_fill_price is not None:
            rec.average_price = update.average_fill_price if side == "yes" else ONE - update.average_fill_price
        if fills:
            last = fills[-1].yes_price
            rec.worst_price = last if side == "yes" else ONE - last
            if len(fills) > 1:
                rec.taken = tuple((f.yes_price if side == "yes" else ONE - f.yes_price, f.count) for f in fills)
        self.out.orders.append(rec)
        events: list[tuple[Any, int]] = [(f, now) for f in fills]
        events.append((update, now))
        if feed:
            for e, t in events:
                self._feed(e, t)
            return []
        return events

    def _enter(self, entry: Entry, now: int) -> None:
        q = self._quote
        if entry.entry_price is not None:
            own = entry.entry_price
        elif q is None:
            self.out.skipped_entries.append((entry, "no quote at entry time"))
            return
        else:
            ask = q.yes_ask if entry.side == "yes" else (None if q.yes_bid is None else ONE - q.yes_bid)
            if ask is None:
                self.out.skipped_entries.append((entry, f"no {entry.side.upper()} ask at entry time"))
                return
            own = ask
        yes_price = own if entry.side == "yes" else ONE - own
        self._entry_no += 1
        fee = self.fill_model.fees_for(self.ticker).taker(yes_price, entry.count)
        fill = Fill(
            f"entry-{self.ticker}-{self._entry_no}",
            f"entry-{self._entry_no}",
            self.ticker,
            "bid" if entry.side == "yes" else "ask",
            yes_price,
            entry.count,
            fee=fee,
            exchange_ns=now,
            recv_ns=now,
        )
        self._feed(fill, now)
        pos = self.monitor.position(self.ticker)
        self.out.entries.append(
            EntryRecord(self.ticker, pos.position_id if pos else "", entry.side, now, entry.count, own, fee)
        )
        if self.protection is not None and not self.protection.is_empty:
            placed = self._placed
            self._feed(Protect(self.ticker, self.protection, allow_immediate=True), now)
            if self._placed > placed:  # a level the price already crossed at entry: it exits at once
                self.out.fired_at_entry += 1

    # ================================================================== end of data
    def finish(self, end_ns: int | None = None, result: tuple[str, int | None] | None = None) -> MarketOutput:
        """Run the remaining time events up to ``end_ns`` (default: the last event seen), then settle an open
        position at ``result`` (``("yes"|"no"|"scalar", settlement value)``) or the result the data announced;
        otherwise mark it at the last bid."""
        end = self.last_ns if end_ns is None else end_ns
        self._until(end + 1)
        pos = self.monitor.position(self.ticker)
        market = self.monitor.markets.get(self.ticker)
        known = result or ((market.result, market.settlement_value) if market and market.result else None)
        if pos is not None and pos.count != 0 and known is not None:
            res, announced_value = known
            value = yes_payout(res, announced_value)
            if value is not None:
                self._feed(Lifecycle(self.ticker, "settled", result=res, settlement_value=value), end)
        pos = self.monitor.position(self.ticker)
        if pos is not None and pos.count != 0:
            q = self._quote
            side = pos.side
            mark = mark_of(side, q, "bid") if q is not None and side is not None else None
            self.out.open_positions.append(
                {
                    "ticker": self.ticker,
                    "position_id": pos.position_id,
                    "side": side,
                    "count": pos.abs_count,
                    "entry_price": pos.average_entry_price,
                    "opened_ns": pos.opened_ns,
                    "mark": mark,
                    "unrealized": pos.unrealized(mark),
                    "realized": pos.realized,
                    "fees": pos.fees,
                }
            )
        out = self.out
        out.last_ns = self.last_ns
        if self._depth is not None:
            out.book_rows = self._depth.applied + self._depth.held
        return out

    def note_market(self, close_ns: int | None, grid: Any) -> None:
        """Tell the monitor the market's close time and grid (from lifecycle metadata)."""
        self._feed(MarketInfo(self.ticker, close_ns=close_ns, grid=grid), self.last_ns)
