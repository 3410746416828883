"""Thread-safe price cache: the latest immutable Quote per market, its age and staleness, and a wake-up hook.

The WebSocket thread writes; the monitor, strategy and UI threads read. Quotes are immutable, so a reader keeps
the one it got without holding the lock. Every update of a market in ``held`` calls ``on_held_update(quote)``
(the StopLossMonitor thread's inbox) after the lock is released.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from kalshikit.core.events import Quote

NS_PER_S = 1_000_000_000


class PriceCache:
    """Latest quote per ticker. ``stale_after_s`` is WEBSOCKET_PRICE_CACHE_STALE_SECS."""

    def __init__(
        self,
        stale_after_s: float = 60.0,
        *,
        on_held_update: Callable[[Quote], None] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._lock = threading.RLock()
        self._quotes: dict[str, Quote] = {}
        self._held: frozenset[str] = frozenset()
        self._held_since: dict[str, int] = {}
        self._stale_after_ns = int(stale_after_s * NS_PER_S)
        self._on_held_update = on_held_update
        self._clock_ns = clock_ns
        self.updates = 0

    @property
    def stale_after_ns(self) -> int:
        return self._stale_after_ns

    def set_held(self, tickers: Iterable[str]) -> None:
        """The markets we hold positions in: their updates wake the monitor."""
        now = self._clock_ns()
        with self._lock:
            self._held = frozenset(tickers)
            self._held_since = {t: self._held_since.get(t, now) for t in self._held}

    @property
    def held(self) -> frozenset[str]:
        return self._held

    def update(self, quote: Quote) -> None:
        """Store a quote (newer receive time wins) and wake the monitor when we hold that market."""
        with self._lock:
            old = self._quotes.get(quote.ticker)
            if old is not None and old.recv_ns > quote.recv_ns:
                return  # an older REST read landing after a newer WebSocket quote
            self._quotes[quote.ticker] = quote
            self.updates += 1
            wake = quote.ticker in self._held
        if wake and self._on_held_update is not None:
            self._on_held_update(quote)

    def get(self, ticker: str) -> Quote | None:
        return self._quotes.get(ticker)

    def age_s(self, ticker: str, now_ns: int | None = None) -> float | None:
        q = self._quotes.get(ticker)
        if q is None:
            return None
        return ((self._clock_ns() if now_ns is None else now_ns) - q.recv_ns) / NS_PER_S

    def is_stale(self, ticker: str, now_ns: int | None = None) -> bool:
        """True when there is no quote or it is older than the stale limit."""
        q = self._quotes.get(ticker)
        if q is None:
            return True
        return (self._clock_ns() if now_ns is None else now_ns) - q.recv_ns > self._stale_after_ns

    def stale_tickers(self, tickers: Iterable[str], now_ns: int | None = None, grace_s: float = 2.0) -> list[str]:
        """Markets whose price is stale. A market held for less than ``grace_s`` without any price yet is not
        counted: its WebSocket snapshot is on the way (a REST read would only race it)."""
        now = self._clock_ns() if now_ns is None else now_ns
        grace = int(grace_s * NS_PER_S)
        out = []
        for t in tickers:
            if t not in self._quotes and now - self._held_since.get(t, 0) < grace:
                continue
            if self.is_stale(t, now):
                out.append(t)
        return out

    def snapshot(self) -> dict[str, Quote]:
        """A copy of every cached quote (cheap: the quotes themselves are shared, immutable)."""
        with self._lock:
            return dict(self._quotes)

    def forget(self, tickers: Iterable[str]) -> None:
        with self._lock:
            for t in tickers:
                self._quotes.pop(t, None)
