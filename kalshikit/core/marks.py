"""Marks: the own-side price a rule compares with, for one quote (:func:`mark_of`) or a whole column of quotes
(:func:`mark_arrays`, the vectorised twin replay uses), and the quiet band of a guard: the marks that cannot change
anything, which replay skips in blocks.

A long YES position is marked on the YES bid, a long NO position on the NO bid (= 1 − YES ask); the trigger source
may instead be the last trade or the mid. A side with no bid is not a price.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kalshikit.core.events import Quote, Side
from kalshikit.core.guard import Guard, GuardState
from kalshikit.core.rules import TriggerSource
from kalshikit.units import PRICE_SCALE

ONE = PRICE_SCALE
# Sentinels for "no mark" in the vectorised twin: never inside any band.
NO_MARK_HIGH = 1 << 40
NO_MARK_LOW = -(1 << 40)
Band = tuple[int, int, Side, TriggerSource]  # (low, high, side, source): marks strictly inside change nothing
SILENT_BAND: Band = (-1, ONE + 1, "yes", "bid")  # no mark can leave it: the guard watches nothing


def mark_of(side: Side, quote: Quote, source: TriggerSource) -> int | None:
    """The own-side price a rule compares with, or None when there is none (empty side, no trade yet)."""
    if source == "bid":
        if side == "yes":
            return quote.yes_bid
        return None if quote.yes_ask is None else ONE - quote.yes_ask
    if source == "last":
        if quote.last is None:
            return None
        return quote.last if side == "yes" else ONE - quote.last
    if quote.yes_bid is None or quote.yes_ask is None:
        return None
    mid2 = quote.yes_bid + quote.yes_ask
    return mid2 // 2 if side == "yes" else (2 * ONE - mid2) // 2


def mark_arrays(
    bid: np.ndarray[Any, Any], ask: np.ndarray[Any, Any], last: np.ndarray[Any, Any], side: Side, source: TriggerSource
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """:func:`mark_of` over columns (int64, -1 = none). Returns two copies of the marks: one where "no mark" is a
    huge value and one where it is a hugely negative one, so ``(low_copy <= lo) | (high_copy >= hi)`` finds the
    first quote leaving a band ``(lo, hi)`` and never stops on a quote without a mark."""
    if source == "bid":
        if side == "yes":
            m, ok = bid, bid >= 0
        else:
            m, ok = ONE - ask, ask >= 0
    elif source == "last":
        m, ok = (last if side == "yes" else ONE - last), last >= 0
    else:
        ok = (bid >= 0) & (ask >= 0)
        s = bid + ask
        m = s // 2 if side == "yes" else (2 * ONE - s) // 2
    return np.where(ok, m, NO_MARK_HIGH), np.where(ok, m, NO_MARK_LOW)


def quiet_band(guard: Guard | None, side: Side | None, *, paused: bool, feed_up: bool) -> Band | None:
    """Own-side marks strictly inside ``(low, high)`` change nothing for this guard (replay skips such quotes).

    None when every quote matters (a guard waiting to retry or confirm, paused, a feed that is down, a held stale
    crossing). A position without rules watching prices gets a band no mark can leave. ``low`` is the effective
    stop (as in :meth:`Guard.stop_level`); ``high`` the nearest level a rising mark would change something at: the
    take-profit, the trailing peak (or its activation), the break-even activation.
    """
    state = guard._state if guard is not None else None
    if state is not GuardState.ARMED:
        return None if state is GuardState.TRIGGERED else SILENT_BAND
    assert guard is not None
    p, lv = guard.protection, guard.levels
    if paused or not feed_up or guard.held_stale or p is None or lv is None or side is None:
        return None
    low = lv.stop
    high = ONE + 1
    if lv.take_profit is not None:
        high = lv.take_profit
    if lv.break_even_at is not None:
        if not guard.break_even_active:
            high = min(high, lv.break_even_at)
        elif lv.break_even_stop is not None and (low is None or lv.break_even_stop > low):
            low = lv.break_even_stop
    if lv.trailing:
        peak = guard.peak
        if peak is None:
            high = min(high, lv.trail_activation if lv.trail_activation is not None else -1)
        else:
            high = min(high, peak)
            trail = peak - p.trail_gap(peak)
            if low is None or trail > low:
                low = trail
    return (-1 if low is None else low, high, side, p.trigger_source)
