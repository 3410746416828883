"""The README's demo: positions on the built-in simulator, so the monitor always has something to protect.

``DemoTrader`` keeps ``count`` positions open (most long YES, one long NO, at the current asks); when the monitor
exits one, it opens another in a market not held. With the demo's tight rules, stops, take-profits and trailing
stops trigger within seconds on the bundled recording.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kalshikit.errors import ConfigError

log = logging.getLogger("kalshikit.demo")


class DemoTrader:
    """Call :meth:`on_update` from the UIUpdate thread (``kit.on_update(DemoTrader(kit).on_update)``)."""

    def __init__(self, kit: Any, count: int = 3, contracts: int = 10, pause_s: float = 2.0) -> None:
        if kit.sim is None:
            raise ConfigError("the demo needs the built-in simulator (KALSHI_ENV=sim without KALSHI_REST_URL)")
        self.kit = kit
        self.count = count
        self.contracts = contracts
        self.pause_s = pause_s
        self.opened = 0
        self._last = 0.0
        self._recent: dict[str, float] = {}

    def on_update(self, snap: Any) -> None:
        now = time.monotonic()
        if not snap.running or len(snap.positions) >= self.count or now - self._last < self.pause_s:
            return
        held = {p.ticker for p in snap.positions}
        if self.open_one(held, now):
            self._last = now
            self.kit.reconcile_now()

    def open_one(self, held: set[str], now: float) -> str | None:
        sim = self.kit.sim
        for ticker in sim.markets():
            if ticker in held or now - self._recent.get(ticker, -1e9) < 10:
                continue
            book = sim.book(ticker)
            bid, ask = book.yes_bid, book.yes_ask
            if bid is None or ask is None or not 1500 <= bid <= 8500 or sim.market_status(ticker) != "active":
                continue
            no_side = self.opened % self.count == self.count - 1
            price = 10_000 - bid if no_side else ask
            sim.seed_position(ticker, (-1 if no_side else 1) * self.contracts * 100, price)
            self.opened += 1
            self._recent[ticker] = now
            log.info("demo: opened %d %s in %s at %.2f", self.contracts, "NO" if no_side else "YES", ticker,
                     price / 10_000)
            return ticker
        return None
