"""Per-series fee schedules read from ``GET /series/{series_ticker}``, cached so a strategy cycle does not read the
same series again.

Kalshi sets fees per series (``fee_type`` × ``fee_multiplier``; real MLB series pay half the standard fee). The
strategy, the risk limits and the replay capture ask :class:`SeriesFeeCache` for the schedule of a market; it reads
each series once per ``ttl_s`` and answers from memory in between. Thread-safe.

When a series cannot be used the cache does not stay silent: the reason goes to :attr:`SeriesFeeCache.problems`
(and the log, once per series), and the market gets

- the last good schedule of its series, if there was one (a failed re-read keeps what was known), else
- :func:`~kalshikit.core.fees.conservative_fees` (standard taker fee or more, plus maker fees): fees are over-stated
  rather than under-stated. An unreadable series is tried again after ``retry_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kalshikit.core.fees import FeeSchedule, conservative_fees, series_of
from kalshikit.errors import ConfigError, KalshiKitError, NotFoundError
from kalshikit.kalshi.models import Series

if TYPE_CHECKING:
    from kalshikit.kalshi.rest import KalshiRest

log = logging.getLogger("kalshikit.kalshi.series_fees")


class SeriesFeeCache:
    """Fee schedules by series (see the module docstring). ``known`` seeds schedules that are never read from the
    exchange (a notebook's own figures, a test); ``flat_ppm`` gives the per-contract fee of ``flat`` series (the
    series fields do not carry it). ``clock`` is a monotonic clock in seconds (injectable for tests)."""

    def __init__(
        self,
        rest: KalshiRest | None,
        *,
        ttl_s: float = 3_600.0,
        retry_s: float = 60.0,
        known: Mapping[str, FeeSchedule] | None = None,
        flat_ppm: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (ttl_s >= 0 and retry_s >= 0):
            raise ConfigError(f"SeriesFeeCache: ttl_s and retry_s must be >= 0 seconds, got {ttl_s!r}, {retry_s!r}")
        self.rest = rest
        self.ttl_s = ttl_s
        self.retry_s = retry_s
        self.flat_ppm = dict(flat_ppm or {})
        self._clock = clock
        self._lock = threading.Lock()
        self._fixed: dict[str, FeeSchedule] = dict(known or {})
        self._good: dict[str, tuple[FeeSchedule, float]] = {}  # series -> (schedule, when read)
        self._failed: dict[str, tuple[FeeSchedule, float]] = {}  # series -> (fallback used, when it failed)
        self._series: dict[str, Series] = {}
        self.problems: dict[str, str] = {}
        self.reads = 0

    # ------------------------------------------------------------------ lookups
    def schedule(self, series_ticker: str) -> FeeSchedule:
        """The fee schedule of ``series_ticker`` (read from the exchange when not known or older than ``ttl_s``)."""
        now = self._clock()
        with self._lock:
            fixed = self._fixed.get(series_ticker)
            if fixed is not None:
                return fixed
            good = self._good.get(series_ticker)
            if good is not None and now - good[1] < self.ttl_s:
                return good[0]
            failed = self._failed.get(series_ticker)
            if failed is not None and now - failed[1] < self.retry_s:
                return good[0] if good is not None else failed[0]
        return self._read(series_ticker, now)

    def for_market(self, ticker: str, event_ticker: str = "") -> FeeSchedule:
        """The schedule of the market's series (series = event ticker, else ticker, up to the first ``-``)."""
        return self.schedule(series_of(ticker, event_ticker))

    def for_markets(self, markets: Iterable[Any]) -> dict[str, FeeSchedule]:
        """``ticker -> schedule`` for market objects (``.ticker``/``.event_ticker``) or tickers: one read per series."""
        out: dict[str, FeeSchedule] = {}
        for m in markets:
            ticker = m if isinstance(m, str) else m.ticker
            event = "" if isinstance(m, str) else (getattr(m, "event_ticker", "") or "")
            out[ticker] = self.for_market(ticker, event)
        return out

    def set(self, series_ticker: str, schedule: FeeSchedule) -> None:
        """Fix the schedule of a series (it is then never read from the exchange)."""
        if not isinstance(schedule, FeeSchedule):
            raise ConfigError(f"the schedule of {series_ticker} must be a FeeSchedule, got {type(schedule).__name__}")
        with self._lock:
            self._fixed[series_ticker] = schedule
            self.problems.pop(series_ticker, None)

    def series(self) -> dict[str, Series]:
        """The series objects read so far (fee fields as Kalshi sent them), by ticker."""
        with self._lock:
            return dict(self._series)

    def known(self) -> dict[str, FeeSchedule]:
        """Every schedule known now (fixed, read, or the fallback of a failed series), by series."""
        with self._lock:
            out = {s: f for s, (f, _) in self._failed.items()}
            out.update({s: f for s, (f, _) in self._good.items()})
            out.update(self._fixed)
            return out

    # ------------------------------------------------------------------ reading
    def _read(self, series_ticker: str, now: float) -> FeeSchedule:
        if self.rest is None:
            return self._fail(series_ticker, now, "no REST client to read it with", None)
        try:
            s = self.rest.series(series_ticker)
        except NotFoundError:
            return self._fail(series_ticker, now, "the exchange has no such series (404)", None)
        except KalshiKitError as exc:
            return self._fail(series_ticker, now, f"could not read it ({type(exc).__name__}: {exc})", None)
        finally:
            with self._lock:
                self.reads += 1
        try:
            schedule = s.fee_schedule(flat_ppm=self.flat_ppm.get(series_ticker))
        except KalshiKitError as exc:
            with self._lock:
                self._series[series_ticker] = s
            return self._fail(series_ticker, now, str(exc), s.fee_multiplier or None)
        with self._lock:
            self._series[series_ticker] = s
            self._good[series_ticker] = (schedule, now)
            self._failed.pop(series_ticker, None)
            self.problems.pop(series_ticker, None)
        return schedule

    def _fail(self, series_ticker: str, now: float, why: str, multiplier: object) -> FeeSchedule:
        fallback = conservative_fees(multiplier)
        with self._lock:
            good = self._good.get(series_ticker)
            used = good[0] if good is not None else fallback
            message = f"fees of series {series_ticker}: {why}; using {used.describe()}"
            first = self.problems.get(series_ticker) != message
            self.problems[series_ticker] = message
            self._failed[series_ticker] = (fallback, now)
        if first:
            log.warning("%s", message)
        return used


__all__ = ["SeriesFeeCache"]
