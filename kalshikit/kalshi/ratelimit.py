"""Client-side token bucket that keeps the REST client under Kalshi's rate limit, with bounded, visible waits.

A request *reserves* its tokens under a short lock and then sleeps outside the lock for as long as the bucket needs
to refill the deficit. Tokens may go negative, so a request costing more than the bucket holds (a large batch)
still gets through after the right wait, and concurrent callers queue up in order. A reservation whose wait would
exceed ``max_wait`` is refused with :class:`~kalshikit.errors.RateLimited` instead of blocking a latency-critical
caller for long. Every wait is counted (see :meth:`TokenBucket.snapshot`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from kalshikit.errors import RateLimited

CLIENT_RATE_LIMIT_CODE = "client_rate_limit"


class TokenBucket:
    """``rate`` tokens per second refill a bucket of ``capacity`` tokens (default: one second of budget).

    ``clock`` returns seconds (monotonic); tests inject a fake one to check the accounting without sleeping.
    Thread-safe.
    """

    __slots__ = (
        "_clock",
        "_last",
        "_lock",
        "_tokens",
        "capacity",
        "max_wait_s",
        "name",
        "rate",
        "rejected",
        "reservations",
        "waited_s",
        "waits",
    )

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        name: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"token bucket {name!r}: rate must be a positive number of tokens per second, got {rate}")
        cap = rate if capacity is None else capacity
        if not (cap > 0 and math.isfinite(cap)):
            raise ValueError(f"token bucket {name!r}: capacity must be positive, got {capacity}")
        self.name = name
        self.rate = float(rate)
        self.capacity = float(cap)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._last = clock()
        self.reservations = 0  # reservations granted
        self.waits = 0  # of which had to wait
        self.waited_s = 0.0  # total wait handed out
        self.max_wait_s = 0.0  # longest single wait handed out
        self.rejected = 0  # reservations refused because the wait would exceed the bound

    def _refill(self, now: float) -> None:
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._last = now

    def reserve(self, cost: float = 1.0, max_wait: float = math.inf) -> float:
        """Take ``cost`` tokens now and return how many seconds the caller must wait before sending (0 = at once).

        Raises :class:`RateLimited` (and takes nothing) when the wait would exceed ``max_wait`` seconds.
        """
        if cost < 0:
            raise ValueError(f"token cost must be >= 0, got {cost}")
        with self._lock:
            self._refill(self._clock())
            self._tokens -= cost
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
            if wait > max_wait:
                self._tokens += cost
                self.rejected += 1
                raise RateLimited(
                    f"client-side {self.name or 'request'} rate limit: the next slot is {wait:.2f}s away, more than "
                    f"the allowed wait of {max_wait:.2f}s ({self.rate:g} requests/s). Send fewer requests, or raise "
                    "KALSHI_READS_PER_SECOND / KALSHI_WRITES_PER_SECOND if your Kalshi tier allows more",
                    code=CLIENT_RATE_LIMIT_CODE,
                )
            self.reservations += 1
            if wait > 0:
                self.waits += 1
                self.waited_s += wait
                if wait > self.max_wait_s:
                    self.max_wait_s = wait
            return wait

    def acquire(
        self, cost: float = 1.0, max_wait: float = math.inf, sleep: Callable[[float], None] = time.sleep
    ) -> float:
        """:meth:`reserve`, then sleep out the wait (outside the lock). Returns the seconds waited."""
        wait = self.reserve(cost, max_wait)
        if wait > 0:
            sleep(wait)
        return wait

    def drain(self) -> None:
        """Empty the bucket (after the server answered 429) so the next requests are paced from zero."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self._tokens, 0.0)

    @property
    def tokens(self) -> float:
        """Tokens available now (negative while reservations are waiting for a refill)."""
        with self._lock:
            self._refill(self._clock())
            return self._tokens

    def snapshot(self) -> dict[str, float | int | str]:
        with self._lock:
            self._refill(self._clock())
            return {
                "name": self.name,
                "rate": self.rate,
                "capacity": self.capacity,
                "tokens": round(self._tokens, 3),
                "reservations": self.reservations,
                "waits": self.waits,
                "waited_s": round(self.waited_s, 6),
                "max_wait_s": round(self.max_wait_s, 6),
                "rejected": self.rejected,
            }

    def __repr__(self) -> str:
        return f"TokenBucket(name={self.name!r}, rate={self.rate:g}/s, capacity={self.capacity:g})"
