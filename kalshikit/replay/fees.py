"""Fee schedules of a replay, per series: from the recording's series file or given by the user, and stated in the
result.

Kalshi charges each series its own ``fee_type`` × ``fee_multiplier`` (real MLB series pay half the standard fee), so a
backtest must price each market's fills with its series' schedule. A recording directory may hold
:data:`SERIES_FILE` (``series.json``) beside its frames: a ``GET /series`` reply,
``{"series": [{"ticker": ..., "fee_type": ..., "fee_multiplier": ...}, ...]}``, which
:class:`~kalshikit.replay.capture.MarketCapture` writes when it stops (a reply saved from Kalshi works as well).

The schedule of a market (series = its ticker up to the first ``-``) is, first match wins:

1. ``fees=FeeSchedule(...)``: that schedule for every market, whatever the recording says;
2. ``fees={"KXMLBGAME": ..., ...}``: the entry of the market's series. An entry is a :class:`FeeSchedule`, the wire
   fields ``{"fee_type": ..., "fee_multiplier": ...}``, or a bare multiplier (``0.5``: quadratic at half the rate);
3. the series file of the recording;
4. the mapping's ``"*"`` entry if given, else the standard schedule (quadratic, multiplier 1).

A series file entry with an unknown fee type is not silently dropped: it gets
:func:`~kalshikit.core.fees.conservative_fees` and the reason is stated with it. :meth:`ReplayFees.describe` is
what the result summary shows under ``fee_schedules``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from kalshikit.core.fees import STANDARD_FEES, FeeSchedule, conservative_fees, series_of
from kalshikit.errors import ConfigError, ProtocolError, UnitError
from kalshikit.kalshi.models import Series, decode_series, decode_series_page

SERIES_FILE = "series.json"
DEFAULT_KEY = "*"

FeeEntry: TypeAlias = FeeSchedule | Mapping[str, Any] | int | float | str
FeesArg: TypeAlias = FeeSchedule | Mapping[str, FeeEntry] | None


@dataclass(frozen=True)
class ReplayFees:
    """The schedules a replay uses: ``by_series`` (with where each came from in ``sources``) and ``default`` for
    the other series (``default_source``)."""

    default: FeeSchedule = STANDARD_FEES
    by_series: dict[str, FeeSchedule] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    default_source: str = "standard"

    def for_ticker(self, ticker: str) -> FeeSchedule:
        return self.by_series.get(series_of(ticker), self.default)

    def describe(self, tickers: Iterable[str] = ()) -> dict[str, str]:
        """``series -> "schedule (source)"`` for the series of ``tickers`` and every series with its own schedule,
        plus ``"*"`` for any other series."""
        series = sorted(set(self.by_series) | {series_of(t) for t in tickers})
        out = {
            s: f"{self.by_series[s].describe()} ({self.sources.get(s, '')})"
            if s in self.by_series
            else f"{self.default.describe()} ({self.default_source})"
            for s in series
        }
        out[DEFAULT_KEY] = f"{self.default.describe()} ({self.default_source})"
        return out


def schedule_from(entry: FeeEntry, where: str) -> FeeSchedule:
    """One user-given entry as a FeeSchedule (see the module docstring); :class:`ConfigError` says what to fix."""
    try:
        if isinstance(entry, FeeSchedule):
            return entry
        if isinstance(entry, Mapping):
            if "fee_type" not in entry or "fee_multiplier" not in entry:
                raise UnitError("a mapping needs both 'fee_type' and 'fee_multiplier' (the series wire fields)")
            return FeeSchedule.from_wire(entry["fee_type"], entry["fee_multiplier"], flat_ppm=entry.get("flat_ppm"))
        return FeeSchedule.from_wire("quadratic", entry)
    except UnitError as exc:
        raise ConfigError(
            f"fees[{where!r}]: {exc}. Give a FeeSchedule, {{'fee_type': ..., 'fee_multiplier': ...}} or a multiplier "
            "such as 0.5"
        ) from None


def read_series_file(path: str | os.PathLike[str]) -> list[Series]:
    """The series of a series file (a ``GET /series`` reply, or one ``GET /series/{ticker}`` reply)."""
    p = Path(path)
    raw = p.read_bytes()
    try:
        return decode_series_page(raw)[0]
    except ProtocolError:
        pass
    try:
        return [decode_series(raw)]
    except ProtocolError as exc:
        raise ConfigError(
            f"{p}: not a series file; expected a GET /series reply {{'series': [{{'ticker': ...}}, ...]}} ({exc})"
        ) from None


def series_files(sources: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The series files beside the recordings ``sources`` (files or directories), each once."""
    out: list[Path] = []
    for src in sources:
        p = Path(src)
        candidate = (p if p.is_dir() else p.parent) / SERIES_FILE
        if candidate.is_file() and candidate.resolve() not in {q.resolve() for q in out}:
            out.append(candidate)
    return out


def recorded_fees(sources: Iterable[str | os.PathLike[str]]) -> tuple[dict[str, FeeSchedule], dict[str, str]]:
    """Schedules by series from the series files beside ``sources``, and where each came from (with the reason when
    an entry could not be used and the conservative fallback stands in)."""
    by_series: dict[str, FeeSchedule] = {}
    where: dict[str, str] = {}
    for path in series_files(sources):
        for s in read_series_file(path):
            try:
                by_series[s.ticker] = s.fee_schedule()
                where[s.ticker] = f"recording {path}"
            except UnitError as exc:
                by_series[s.ticker] = conservative_fees(s.fee_multiplier or None)
                where[s.ticker] = f"recording {path}: {exc}; conservative fallback"
    return by_series, where


def resolve_fees(fees: FeesArg, sources: Iterable[str | os.PathLike[str]] = ()) -> ReplayFees:
    """The schedules of a replay from the user's ``fees`` and the series files beside ``sources`` (see the module
    docstring for the order)."""
    if isinstance(fees, FeeSchedule):
        return ReplayFees(fees, {}, {}, "given for every market")
    if fees is not None and not isinstance(fees, Mapping):
        raise ConfigError(
            f"fees must be a FeeSchedule, a mapping of series ticker -> schedule, or None; got {type(fees).__name__}"
        )
    by_series, where = recorded_fees(sources)
    default, default_source = STANDARD_FEES, "standard"
    for key, entry in (fees or {}).items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"fees keys are series tickers such as 'KXMLBGAME' (or '*'), got {key!r}")
        schedule = schedule_from(entry, key)
        if key == DEFAULT_KEY:
            default, default_source = schedule, "given for other series"
        else:
            by_series[key] = schedule
            where[key] = "given"
    return ReplayFees(default, by_series, where, default_source)


def write_series_file(directory: str | os.PathLike[str], series: Iterable[Series]) -> Path:
    """Write ``series.json`` (a ``GET /series`` reply of ``series``' ticker, title and fee fields) in ``directory``;
    the write is atomic (a temporary file renamed into place)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    rows = []
    for s in sorted(series, key=lambda x: x.ticker):
        row: dict[str, Any] = {"ticker": s.ticker, "title": s.title, "category": s.category, "tags": list(s.tags)}
        row["fee_type"] = s.fee_type
        # the multiplier as the JSON number Kalshi sent (its decimal text is valid JSON as it stands)
        row["fee_multiplier"] = json.loads(s.fee_multiplier) if s.fee_multiplier else None
        rows.append(row)
    path = d / SERIES_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"series": rows}, indent=1) + "\n")
    os.replace(tmp, path)
    return path


__all__ = [
    "DEFAULT_KEY",
    "SERIES_FILE",
    "FeesArg",
    "ReplayFees",
    "read_series_file",
    "recorded_fees",
    "resolve_fees",
    "schedule_from",
    "series_files",
    "write_series_file",
]
