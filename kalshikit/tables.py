"""pandas tables shared by the live engine and replay, in the units every table a user sees uses: prices in dollars
(floats, NaN where there is none), times as tz-aware UTC timestamps, raw integers only in ``*_ns`` columns. Holds the
monitor's decisions table, which ``Kit.decisions()`` and ``ReplayResult.decisions`` both show.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from kalshikit.units import MONEY_SCALE, PRICE_SCALE

DECISION_COLUMNS = [
    "ticker", "position_id", "kind", "trigger", "ts", "now_ns", "mark", "level", "quote_recv_ns", "quote_exchange_ns",
    "detail", "quote_source",
]


def dollars_or_nan(price: int | None) -> float:
    return float("nan") if price is None else price / PRICE_SCALE


def money_or_nan(money: int | None) -> float:
    return float("nan") if money is None else money / MONEY_SCALE


def timestamp(ns: int | None) -> pd.Timestamp:
    """A tz-aware UTC timestamp; NaT for none (0 is "not known" in the monitor's records)."""
    return pd.NaT if not ns else pd.Timestamp(ns, unit="ns", tz="UTC")


def typed_frame(
    rows: list[dict[str, Any]], columns: list[str], floats: Iterable[str] = (), times: Iterable[str] = ()
) -> pd.DataFrame:
    """Rows in ``columns`` with float columns as float64 (NaN, never None) and time columns tz-aware, also when
    the table is empty."""
    frame = pd.DataFrame(rows, columns=columns)
    for col in floats:
        frame[col] = frame[col].astype("float64")
    for col in times:
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def decisions_frame(decisions: Iterable[Any]) -> pd.DataFrame:
    """The monitor's decisions (Decision records): mark and level in dollars, ``ts`` when it decided, and the raw
    ``*_ns`` times (``quote_recv_ns`` joins a decision to the recorded frame it was made on)."""
    rows = [
        {
            "ticker": d.ticker,
            "position_id": d.position_id,
            "kind": d.kind,
            "trigger": d.trigger,
            "ts": timestamp(d.now_ns),
            "now_ns": d.now_ns,
            "mark": dollars_or_nan(d.mark),
            "level": dollars_or_nan(d.level),
            "quote_recv_ns": d.quote_recv_ns,
            "quote_exchange_ns": d.quote_exchange_ns,
            "detail": d.detail,
            "quote_source": d.quote_source,
        }
        for d in decisions
    ]
    return typed_frame(rows, DECISION_COLUMNS, ("mark", "level"), ("ts",))
