"""Bounded price and level history per market, kept from the kit's snapshots for the dashboard chart.

Each snapshot adds one point per held market when something it shows changed (own-side bid/ask, entry, stop-loss,
trailing and take-profit levels); each market keeps at most ``points`` points and at most ``markets`` markets are
kept (the least recently updated are dropped first). Exits and triggers are collected from the snapshots' recent
events, once each. Everything is in the kit's integers (price units, ns); the chart converts for display.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from kalshikit.notebook import fmt
from kalshikit.units import PRICE_SCALE

ONE = PRICE_SCALE
FIELDS = ("bid", "ask", "entry", "stop_loss", "trailing", "take_profit")
MISSING = -(1 << 62)  # no value (an empty book side, a rule not armed)


@dataclass
class Marker:
    """A point on the chart: a rule firing (``trigger``) or the exit's average fill (``exit``)."""

    kind: str
    ns: int
    price: int
    label: str


class MarketHistory:
    """One market's points in fixed-size numpy ring buffers (no per-point Python objects for the GC to walk)."""

    def __init__(self, ticker: str, points: int) -> None:
        self.ticker = ticker
        self.points = points
        self.side: str | None = None
        cap = min(points, 128)  # grows by doubling up to ``points``, then wraps around
        self._t = np.zeros(cap, dtype=np.int64)
        self._rows = np.full((cap, len(FIELDS)), MISSING, dtype=np.int64)
        self._next = 0  # where the next point goes
        self._n = 0  # points held
        self._last: tuple[int | None, ...] | None = None
        self._last_t = 0
        self.last_view: Any = None
        self.markers: deque[Marker] = deque(maxlen=200)
        self.version = 0
        self.last_ns = 0
        self.closed = False

    @property
    def last_t(self) -> int:
        return self._last_t

    def __len__(self) -> int:
        return self._n

    def add(self, ns: int, row: tuple[int | None, ...], heartbeat_ns: int) -> bool:
        """Append a point when it differs from the last one (or ``heartbeat_ns`` passed); True when appended."""
        self.last_ns = ns
        if row == self._last and ns - self._last_t < heartbeat_ns:
            return False
        cap = len(self._t)
        if self._n == cap and cap < self.points:
            new = min(cap * 2, self.points)
            self._t = np.concatenate((self._t, np.zeros(new - cap, dtype=np.int64)))
            self._rows = np.concatenate((self._rows, np.full((new - cap, len(FIELDS)), MISSING, dtype=np.int64)))
            self._next = cap  # the buffer was full and in order: continue after it
            cap = new
        i = self._next
        self._t[i] = ns
        self._rows[i] = [MISSING if x is None else x for x in row]
        self._next = (i + 1) % cap
        self._n = min(self._n + 1, cap)
        self._last, self._last_t = row, ns
        self.version += 1
        return True

    def times(self) -> np.ndarray[Any, Any]:
        """Point times (ns), oldest first."""
        if self._n < len(self._t):
            return self._t[: self._n].copy()
        return np.concatenate((self._t[self._next :], self._t[: self._next]))

    def values(self) -> np.ndarray[Any, Any]:
        """Points as a float array (rows oldest first, columns :data:`FIELDS`, price units; missing = nan)."""
        if self._n < len(self._t):
            raw = self._rows[: self._n]
        else:
            raw = np.concatenate((self._rows[self._next :], self._rows[: self._next]))
        out = raw.astype(float)
        out[raw == MISSING] = np.nan
        return out

    def column(self, name: str) -> list[int | None]:
        i = FIELDS.index(name)
        return [None if np.isnan(x) else int(x) for x in self.values()[:, i]]


def own_side_quote(side: str | None, yes_bid: int | None, yes_ask: int | None) -> tuple[int | None, int | None]:
    """The bid/ask of the side the position holds (NO bid = 1 − YES ask)."""
    if side == "no":
        return (None if yes_ask is None else ONE - yes_ask), (None if yes_bid is None else ONE - yes_bid)
    return yes_bid, yes_ask


class PriceHistory:
    """History of every market the dashboard has seen held. Not thread-safe: the dashboard serialises calls."""

    def __init__(self, points: int = 2000, markets: int = 400, heartbeat_s: float = 5.0) -> None:
        self.points = points
        self.max_markets = markets
        self.heartbeat_ns = int(heartbeat_s * fmt.NS_PER_S)
        self.markets: OrderedDict[str, MarketHistory] = OrderedDict()
        self._seen: set[tuple[Any, ...]] = set()
        self._seen_order: deque[tuple[Any, ...]] = deque()

    def get(self, ticker: str) -> MarketHistory | None:
        return self.markets.get(ticker)

    def _market(self, ticker: str) -> MarketHistory:
        h = self.markets.get(ticker)
        if h is None:
            h = MarketHistory(ticker, self.points)
            self.markets[ticker] = h
            while len(self.markets) > self.max_markets:
                self.markets.popitem(last=False)
        else:
            self.markets.move_to_end(ticker)
        return h

    def add_snapshot(self, snap: Any) -> None:
        now = snap.now_ns
        held = set()
        for v in snap.positions:
            held.add(v.ticker)
            h = self._market(v.ticker)
            if v == h.last_view and now - h.last_t < self.heartbeat_ns:
                continue  # nothing it shows changed
            h.last_view = v
            h.side = v.side
            h.closed = False
            bid, ask = own_side_quote(v.side, v.yes_bid, v.yes_ask)
            lv = fmt.rule_levels(v)
            h.add(now, (bid, ask, v.entry_price, lv["stop_loss"], lv["trailing"], lv["take_profit"]), self.heartbeat_ns)
        for r in snap.recent:
            self._event(r)

    def _event(self, r: Any) -> None:
        name = type(r).__name__
        if name == "PositionClosed":
            key: tuple[Any, ...] = ("closed", r.position_id)
            if key in self._seen:
                return
            self._remember(key)
            h = self._market(r.ticker)
            h.closed = True
            known = {m.ns for m in h.markers if m.kind == "trigger"}
            if r.trigger_ns is not None and r.trigger_price is not None and r.trigger_ns not in known:
                h.markers.append(Marker("trigger", r.trigger_ns, r.trigger_price, f"{r.reason} trigger"))
            if r.exit_price is not None:
                h.markers.append(Marker("exit", r.closed_ns, r.exit_price, f"exit ({r.reason})"))
            h.version += 1
        elif name == "Decision" and r.kind == "trigger" and r.mark is not None:
            key = ("trigger", r.position_id, r.now_ns, r.trigger)
            if key in self._seen:
                return
            self._remember(key)
            h = self._market(r.ticker)
            h.markers.append(Marker("trigger", r.now_ns, r.mark, f"{r.trigger} trigger"))
            h.version += 1

    def _remember(self, key: tuple[Any, ...]) -> None:
        self._seen.add(key)
        self._seen_order.append(key)
        if len(self._seen_order) > 10_000:
            self._seen.discard(self._seen_order.popleft())
