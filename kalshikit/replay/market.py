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
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from kalshikit.core.actions import ConfirmQuote, Decision, PlaceOrder, PositionClosed
from kalshikit.core.book import OrderBook
from kalshikit.core.events import Fill, Lifecycle, MarketInfo, Protect, Quote, Tick
from kalshikit.core.marks import mark_arrays, mark_of
from kalshikit.core.monitor import Monitor, MonitorConfig
from kalshikit.core.positions import yes_payout
from kalshikit.core.rules import Protection
from kalshikit.replay.entries import Entry, FirstTwoSided
from kalshikit.replay.fills import FillModel
from kalshikit.units import PRICE_SCALE

INF = 1 << 62
ONE = PRICE_SCALE


class TickArrays(msgspec.Struct, frozen=True):
    """One market's quotes in time order. Prices/sizes are int64 with -1 for "none"."""

    recv: np.ndarray[Any, Any]
    exch: np.ndarray[Any, Any]
    bid: np.ndarray[Any, Any]
    ask: np.ndarray[Any, Any]
    bid_size: np.ndarray[Any, Any]
    ask_size: np.ndarray[Any, Any]
    last: np.ndarray[Any, Any]

    def __len__(self) -> int:
        return len(self.recv)


@dataclass
class OrderRecord:
    """One exit order and what the fill model made of it (a row of the gap report)."""

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


@dataclass
class EntryRecord:
    ticker: str
    position_id: str
    side: str
    entry_ns: int
    count: int
    price: int  # own side
    fee: int


@dataclass
class MarketOutput:
    closed: list[PositionClosed] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    orders: list[OrderRecord] = field(default_factory=list)
    entries: list[EntryRecord] = field(default_factory=list)
    skipped_entries: list[tuple[Entry, str]] = field(default_factory=list)
    open_positions: list[dict[str, Any]] = field(default_factory=list)
    quotes_fed: int = 0
    quotes_seen: int = 0


def _quote(ticker: str, t: TickArrays, j: int) -> Quote:
    b = int(t.bid[j])
    a = int(t.ask[j])
    bs = int(t.bid_size[j])
    as_ = int(t.ask_size[j])
    last = int(t.last[j])
    return Quote(
        ticker,
        b if b >= 0 else None,
        a if a >= 0 else None,
        bs if bs >= 0 else None,
        as_ if as_ >= 0 else None,
        last if last >= 0 else None,
        exchange_ns=int(t.exch[j]),
        recv_ns=int(t.recv[j]),
        source="replay",
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
    ) -> None:
        self.ticker = ticker
        self.protection = protection
        self.fill_model = fill_model
        self.monitor = Monitor(config or MonitorConfig(id_salt="replay"))
        self._entries: deque[Entry] = deque(sorted(entries or (), key=lambda e: e.entry_ns))
        self._policy = policy if policy is None or policy.tickers is None or ticker in policy.tickers else None
        self._pending: list[tuple[int, int, PlaceOrder, int]] = []
        self._seq = 0
        self._quote: Quote | None = None
        self._book: OrderBook | None = None
        self._book_quote: Quote | None = None
        self._records: dict[str, OrderRecord] = {}
        self._entry_no = 0
        self.keep_decisions = keep_decisions
        self.out = MarketOutput()
        self.last_ns = 0

    # ================================================================== scalar path
    def on_quote(self, q: Quote) -> None:
        self.out.quotes_seen += 1
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
                return
        self.out.quotes_fed += 1
        self._feed(q, q.recv_ns)

    def on_event(self, event: Any, now_ns: int) -> None:
        """A non-quote event of this market (Lifecycle, Trade, MarketInfo) at ``now_ns``."""
        self._until(now_ns)
        self.last_ns = max(self.last_ns, now_ns)
        self._feed(event, now_ns)

    # ================================================================== vectorised path
    def process_arrays(self, t: TickArrays, specials: list[tuple[int, int, Any]] | None = None) -> None:
        """Replay a block of quotes; ``specials`` are ``(index, time_ns, event)`` to happen before quote ``index``."""
        n = len(t)
        if n == 0 and not specials:
            return
        self.out.quotes_seen += n
        sp = specials or []
        k = 0
        marks: dict[tuple[str, str], tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = {}
        recv = t.recv
        i = 0
        if self._policy is not None:
            self._policy_arrays(t)
        while True:
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
                j = i if band is None else self._first_out(t, marks, band, i, stop)
                if j < stop:
                    q = _quote(self.ticker, t, j)
                    self._quote = q
                    self.last_ns = q.recv_ns
                    self.out.quotes_fed += 1
                    self._feed(q, q.recv_ns)
                    i = j + 1
                    continue
                q = _quote(self.ticker, t, stop - 1)
                self._quote = q
                self.last_ns = q.recv_ns
                self.monitor.observe(q)
                i = stop
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

    def _first_out(self, t: TickArrays, marks: dict[tuple[str, str], Any], band: Any, i: int, stop: int) -> int:
        lo, hi, side, src = band
        key = (side, src)
        pair = marks.get(key)
        if pair is None:
            pair = marks[key] = mark_arrays(t.bid, t.ask, t.last, side, src)
        m_lo, m_hi = pair
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

    def _policy_arrays(self, t: TickArrays) -> None:
        p = self._policy
        assert p is not None
        ok = (t.bid >= 0) & (t.ask >= 0) & (t.recv >= p.after_ns)
        if ok.any():
            k = int(ok.argmax())
            self._entries.append(Entry(self.ticker, int(t.recv[k]), p.side, p.count))
            self._policy = None

    def _policy_check(self, q: Quote) -> None:
        p = self._policy
        if p is not None and q.yes_bid is not None and q.yes_ask is not None and q.recv_ns >= p.after_ns:
            self._entries.append(Entry(self.ticker, q.recv_ns, p.side, p.count))
            self._policy = None

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
                    if self.fill_model.latency_ns == 0:
                        work.extend(self._execute(a, t, t, feed=False))
                    else:
                        self._seq += 1
                        heapq.heappush(self._pending, (t + self.fill_model.latency_ns, self._seq, a, t))
                elif ta is ConfirmQuote:
                    if self._quote is not None:  # replay prices are never stale; answer with the current book
                        work.append((msgspec.structs.replace(self._quote, recv_ns=t, source="rest"), t))
                elif ta is Decision:
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

    def _execute(self, order: PlaceOrder, decided: int, now: int, feed: bool = True) -> list[tuple[Any, int]]:
        book = self._current_book() or OrderBook(self.ticker)
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
        if update.average_fill_price is not None:
            rec.average_price = update.average_fill_price if side == "yes" else ONE - update.average_fill_price
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
            self._feed(Protect(self.ticker, self.protection, allow_immediate=True), now)

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
        return self.out

    def note_market(self, close_ns: int | None, grid: Any) -> None:
        """Tell the monitor the market's close time and grid (from lifecycle metadata)."""
        self._feed(MarketInfo(self.ticker, close_ns=close_ns, grid=grid), self.last_ns)
