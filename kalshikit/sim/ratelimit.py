"""Server-side token buckets per API key, like Kalshi's current limits: a read bucket and a write bucket.

Every request costs ``cost`` tokens (Kalshi's default is 10). The read bucket holds one second of budget, the write
bucket two. An empty bucket means HTTP 429 with ``{"error": "too many requests"}`` and no ``Retry-After``.
Defaults are generous so tests and demos never hit them unless they ask to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kalshikit.errors import RateLimited
from kalshikit.kalshi.ratelimit import TokenBucket


@dataclass(frozen=True)
class RateLimits:
    """Token budgets per second for one key. Kalshi's Basic tier is 200 read / 100 write at cost 10."""

    read_per_s: float = 1_000_000.0
    write_per_s: float = 1_000_000.0
    cost: float = 10.0

    def __post_init__(self) -> None:
        if self.read_per_s <= 0 or self.write_per_s <= 0 or self.cost < 0:
            raise ValueError("rate limits must be positive tokens per second and a non-negative cost")


class RateLimiter:
    """Buckets per (who, read|write). Used from the simulator's event loop only."""

    def __init__(self, limits: RateLimits | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or RateLimits()
        self._clock = clock
        self._buckets: dict[tuple[str, bool], TokenBucket] = {}
        self.rejected = 0

    def set_limits(self, limits: RateLimits) -> None:
        self.limits = limits
        self._buckets.clear()

    def allow(self, who: str, write: bool) -> bool:
        b = self._buckets.get((who, write))
        if b is None:
            rate = self.limits.write_per_s if write else self.limits.read_per_s
            b = TokenBucket(rate, rate * (2.0 if write else 1.0), name="write" if write else "read", clock=self._clock)
            self._buckets[(who, write)] = b
        try:
            b.reserve(self.limits.cost, max_wait=0.0)  # the server never queues: no token now means 429
        except RateLimited:
            self.rejected += 1
            return False
        return True
