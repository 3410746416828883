"""Bootstrap over markets: how much a P&L figure depends on which markets happened to be in the data.

Markets are drawn with replacement, as many as there are (some come twice, some not at all), and the total P&L is
recomputed for every draw; the 5th and 95th percentiles of those totals (a 90% interval) say how far the figure
could move with another sample of similar markets. Markets, not trades, are the unit: the positions of one market
share its price path and its outcome, so they are not independent draws.

    low, high = total_interval(pnl, draws=1000, level=0.90, seed=0)    # pnl: int64 [settings, markets], micro-$

Every setting (row) is evaluated on the same draws (paired), so a difference between two settings is not blurred
by different draws. Money stays in integer micro-dollars: a draw's total is an exact integer (a float matrix product
is used only when ``markets × max|P&L| < 2**53`` proves every partial sum exact), and the bounds are order
statistics (the smallest total whose empirical CDF reaches the percentile, numpy's ``inverted_cdf``), so they are
totals of actual draws. The same seed and stream give the same draws (numpy's ``default_rng``, PCG64).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from kalshikit.errors import ConfigError

EXACT_FLOAT = 1 << 53
_DRAW_CELLS = 1 << 22  # picks generated per chunk (bounded memory; the chunking depends on the market count only)


def check_bootstrap(draws: int, level: float, seed: int) -> None:
    """Raise :class:`ConfigError` saying what to fix when the bootstrap options are not usable."""
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 0:
        raise ConfigError(f"bootstrap draws must be a whole number >= 0 (0 switches intervals off), got {draws!r}")
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise ConfigError(f"the interval level must be between 0 and 1 (e.g. 0.90 for 5th-95th), got {level!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"the bootstrap seed must be a whole number >= 0, got {seed!r}")


def draw_markets(n_markets: int, draws: int, seed: int, stream: tuple[int, ...] = ()) -> np.ndarray:
    """``draws`` resamples of ``n_markets`` market indices with replacement: int64 ``[draws, n_markets]``.

    ``stream`` separates independent uses of one seed (e.g. each walk-forward window) deterministically."""
    rng = np.random.default_rng([seed, *stream])
    rows = max(1, _DRAW_CELLS // max(1, n_markets))
    parts = [rng.integers(0, n_markets, size=(min(rows, draws - i), n_markets)) for i in range(0, draws, rows)]
    return np.concatenate(parts) if parts else np.empty((0, n_markets), np.int64)


def pick_counts(picks: np.ndarray, n_markets: int) -> np.ndarray:
    """How many times each market was drawn in each resample: int64 ``[draws, n_markets]``."""
    draws = picks.shape[0]
    flat = (picks + (np.arange(draws, dtype=np.int64) * n_markets)[:, None]).ravel()
    return np.bincount(flat, minlength=draws * n_markets).reshape(draws, n_markets).astype(np.int64)


def draw_totals(pnl: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Total P&L of every row of ``pnl`` (int64 ``[rows, markets]``) in every resample: int64 ``[rows, draws]``."""
    n_markets = pnl.shape[1]
    largest = int(np.abs(pnl).max(initial=0))
    bound = n_markets * largest  # every count row sums to n_markets, so |any partial sum| <= bound
    if bound >= 1 << 63:
        raise ConfigError("P&L too large for exact integer bootstrap totals (over 9.2e12 dollars per draw)")
    if bound < EXACT_FLOAT:  # every product and partial sum is an integer below 2**53: exact in float64
        return np.rint(pnl.astype(np.float64) @ counts.T.astype(np.float64)).astype(np.int64)
    return pnl.astype(np.int64) @ counts.T


def order_statistic(totals: np.ndarray, q: Fraction) -> np.ndarray:
    """Per row, the smallest value whose empirical CDF reaches ``q`` (``inverted_cdf``); an element of the row."""
    n = totals.shape[1]
    k = min(n - 1, max(0, math.ceil(q * n) - 1))
    picked: np.ndarray = np.partition(totals, k, axis=1)[:, k]
    return picked


def total_interval(
    pnl: np.ndarray, draws: int, level: float, seed: int, stream: tuple[int, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """The ``level`` percentile interval (e.g. 0.90: 5th and 95th percentiles) of every row's total P&L over
    ``draws`` resamples of the markets (columns): two int64 arrays of micro-dollars, one value per row."""
    check_bootstrap(draws, level, seed)
    if draws == 0 or pnl.shape[1] == 0:
        raise ConfigError("a bootstrap interval needs at least one draw and one market")
    n_markets = pnl.shape[1]
    counts = pick_counts(draw_markets(n_markets, draws, seed, stream), n_markets)
    totals = draw_totals(np.asarray(pnl, dtype=np.int64), counts)
    tail = (1 - Fraction(level).limit_denominator(1_000_000)) / 2
    return order_statistic(totals, tail), order_statistic(totals, 1 - tail)
