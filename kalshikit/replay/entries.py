"""Which positions a replay opens: an entries table (CSV or DataFrame) or an entry policy.

Entries table columns: ``ticker``, ``entry_time`` (ISO-8601 / pandas timestamp, or integer ns UTC), ``side``
(yes|no), ``count`` (contracts, may be fractional to 0.01), optional ``entry_price`` (dollars; default: the ask of
that side prevailing at entry time). Every bad row is reported at once, each with its row number (rows count from 1
after a CSV's header line) and what to fix; nothing is replayed until the table is right. Entries whose market is
not in the data are reported by the replay itself (``result.skipped``, ``summary["warnings"]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshikit.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

REQUIRED = ("ticker", "entry_time", "side", "count")
SHOWN_ROWS = 50  # bad rows listed in one error (the count says how many more)


@dataclass(frozen=True)
class Entry:
    ticker: str
    entry_ns: int
    side: str  # yes | no
    count: int  # 1/100 contracts
    entry_price: int | None = None  # own-side price units; None = prevailing ask


@dataclass(frozen=True)
class FirstTwoSided:
    """Entry policy: open ``count`` contracts of ``side`` at the first quote with both a bid and an ask, in every
    market (or only ``tickers``), at or after ``after_ns``.

    ``reenter``: after every exit, open again at the next two-sided quote (a quote after the one the exit happened
    on), so a market is held for as much of the data as the rules allow (the dense workload of stop research)."""

    side: str = "yes"
    count: int = 1000
    after_ns: int = 0
    tickers: frozenset[str] | None = None
    reenter: bool = False

    def __post_init__(self) -> None:
        if self.side not in ("yes", "no"):
            raise ConfigError(f"entry policy side must be yes or no, got {self.side!r}")
        if self.count <= 0:
            raise ConfigError(f"entry policy count must be positive, got {self.count}")


def _time_ns(value: Any, row: int) -> int:
    import pandas as pd

    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())  # integer ns in a column that also holds ISO times
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"entries row {row}: entry_time {value!r} is not a time")
        return int(value)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ConfigError(f"entries row {row}: entry_time {value!r} is not a time (use ISO-8601 or ns UTC)") from None
    if ts is pd.NaT:
        raise ConfigError(f"entries row {row}: entry_time is empty")
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value)


def _count(value: Any, row: int) -> int:
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"entries row {row}: count {value!r} is not a number of contracts") from None
    units = d * 100
    if not d.is_finite() or d <= 0 or units != units.to_integral_value():
        raise ConfigError(f"entries row {row}: count {value!r} must be positive with at most 2 decimals")
    return int(units)


def _price(value: Any, row: int) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"entries row {row}: entry_price {value!r} is not a dollar price") from None
    units = d * 10_000
    if not d.is_finite() or not 0 < d < 1 or units != units.to_integral_value():
        raise ConfigError(f"entries row {row}: entry_price {value!r} must be a price strictly between 0 and 1")
    return int(units)


def load_entries(source: str | Path | pd.DataFrame | list[Entry]) -> list[Entry]:
    """Entries from a CSV path, a DataFrame or a list of Entry; sorted by time."""
    import pandas as pd

    if isinstance(source, list):
        return sorted(source, key=lambda e: (e.entry_ns, e.ticker))
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"entries file {str(path)!r} does not exist")
        df = pd.read_csv(path, dtype={"ticker": str, "side": str})
    else:
        df = source
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ConfigError(f"entries table lacks column(s) {missing}; needed: {list(REQUIRED)} (+ entry_price)")
    out: list[Entry] = []
    bad: list[str] = []
    for row, rec in enumerate(df.to_dict("records"), start=1):
        try:
            out.append(_entry(rec, row))
        except ConfigError as exc:
            bad.append(str(exc))
    if len(bad) == 1:
        raise ConfigError(bad[0])
    if bad:
        more = f"\n  ... and {len(bad) - SHOWN_ROWS} more" if len(bad) > SHOWN_ROWS else ""
        raise ConfigError(
            f"{len(bad)} bad rows in the entries table (nothing was replayed; fix each):\n  "
            + "\n  ".join(bad[:SHOWN_ROWS])
            + more
        )
    return sorted(out, key=lambda e: (e.entry_ns, e.ticker))


def _entry(rec: dict[Any, Any], row: int) -> Entry:
    """One row of the table, or a ConfigError naming the row and every problem in it."""
    problems: list[str] = []
    side = str(rec["side"]).strip().lower()
    if side not in ("yes", "no"):
        problems.append(f"side {rec['side']!r} must be yes or no")
    ticker = str(rec["ticker"]).strip()
    if not ticker or ticker == "nan":
        problems.append("ticker is empty")
    values: list[Any] = []
    for parse, value in (
        (_time_ns, rec["entry_time"]),
        (_count, rec["count"]),
        (_price, rec.get("entry_price")),
    ):
        try:
            values.append(parse(value, row))
        except ConfigError as exc:
            problems.append(str(exc).removeprefix(f"entries row {row}: "))
    if problems:
        raise ConfigError(f"entries row {row}: " + "; ".join(problems))
    return Entry(ticker, values[0], side, values[1], values[2])
