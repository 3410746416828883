"""What a history download asks for: the markets (a series, an event or tickers) and the time window.

Times are parsed once, here, into integer ns UTC: a date ``2026-11-01`` is that day's 00:00 UTC; an ISO time
(``2026-11-01T14:30``, ``...Z`` or with an offset) is exact; a time without an offset is UTC. Both ends of the
window are inclusive: candles *ending* at or before ``end`` and trades up to ``end``.

:func:`market_window` cuts the window to one market's life: from its open (whole minute) to its close, and never
past the last complete minute (an open market's current minute is still changing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from kalshikit.errors import ConfigError
from kalshikit.units import NS_PER_S

MINUTE_S = 60
_TICKER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_FORMATS = "YYYY-MM-DD or an ISO time such as 2026-11-01T14:30Z"


def parse_time(value: str | date | datetime | int | None, what: str) -> int | None:
    """``value`` as ns UTC (``None`` stays None). Raises :class:`ConfigError` saying what is accepted."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"{what} {value!r} is not a time; use {_FORMATS}")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{what} {value} is before 1970; give ns UTC or {_FORMATS}")
        return value
    if isinstance(value, datetime):
        dt = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return int(dt.timestamp()) * NS_PER_S + dt.microsecond * 1000
    if isinstance(value, date):
        return parse_time(datetime(value.year, value.month, value.day, tzinfo=UTC), what)
    text = str(value).strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            d = date.fromisoformat(text)
            return parse_time(datetime(d.year, d.month, d.day, tzinfo=UTC), what)
        return parse_time(datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")), what)
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not a date or time: use {_FORMATS}") from None


def check_ticker(ticker: str, what: str = "ticker") -> str:
    """A ticker safe to use as a folder name (letters, digits, ``.``, ``_``, ``-``)."""
    if not isinstance(ticker, str) or not _TICKER.match(ticker):
        raise ConfigError(f"{what} {ticker!r} is not a Kalshi ticker (letters, digits, '.', '_' and '-' only)")
    return ticker


@dataclass(frozen=True)
class HistoryRequest:
    """The markets and the window of a download. Exactly one of ``series``, ``event`` and ``tickers`` chooses
    the markets, except that ``series`` may be given with the others to name their series."""

    series: str | None = None
    event: str | None = None
    tickers: tuple[str, ...] | None = None
    start_ns: int | None = None
    end_ns: int | None = None

    @classmethod
    def build(
        cls,
        *,
        series: str | None = None,
        event: str | None = None,
        tickers: str | list[str] | tuple[str, ...] | None = None,
        start: Any = None,
        end: Any = None,
    ) -> HistoryRequest:
        if isinstance(tickers, str):
            tickers = [t.strip() for t in tickers.split(",")]
        tick = tuple(dict.fromkeys(t for t in tickers or () if t)) if tickers is not None else None
        if tickers is not None and not tick:
            raise ConfigError("--tickers is empty: give comma-separated market tickers")
        if event is not None and tick is not None:
            raise ConfigError("give --event or --tickers, not both")
        if series is None and event is None and tick is None:
            raise ConfigError("say which markets: --series SERIES, --event EVENT or --tickers T1,T2")
        if series is not None:
            check_ticker(series, "series")
        if event is not None:
            check_ticker(event, "event")
        for t in tick or ():
            check_ticker(t)
        start_ns = parse_time(start, "--start")
        end_ns = parse_time(end, "--end")
        if start_ns is not None and end_ns is not None and end_ns <= start_ns:
            raise ConfigError(f"--end ({_iso(end_ns)}) must be after --start ({_iso(start_ns)})")
        return cls(series, event, tick, start_ns, end_ns)

    def series_of(self, event_ticker: str, ticker: str) -> str:
        """The series of a market: the one asked for, else the event ticker up to its first ``-``."""
        if self.series:
            return self.series
        base = event_ticker or ticker
        return base.split("-", 1)[0]

    def describe(self) -> str:
        what = (
            f"event {self.event}"
            if self.event
            else (f"{len(self.tickers)} market(s)" if self.tickers else f"series {self.series}")
        )
        if self.series and (self.event or self.tickers):
            what += f" (series {self.series})"
        window = f"{_iso(self.start_ns) if self.start_ns else 'each market open'} .. "
        window += _iso(self.end_ns) if self.end_ns else "each market close (or now)"
        return f"{what}, {window}"

    def to_json(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "event": self.event,
            "tickers": list(self.tickers) if self.tickers is not None else None,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HistoryRequest:
        tickers = d.get("tickers")
        return cls(
            d.get("series"),
            d.get("event"),
            tuple(tickers) if tickers is not None else None,
            d.get("start_ns"),
            d.get("end_ns"),
        )


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS_PER_S, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def market_window(
    request: HistoryRequest, open_ns: int | None, close_ns: int | None, now_ns: int
) -> tuple[int, int] | None:
    """``(from_s, to_s)``: whole minutes (Unix seconds) of one market to download, or None when it has none.

    From the later of ``--start`` and the market's open, to the earliest of ``--end``, the market's close (rounded
    up to its minute) and the last complete minute before now (one minute of margin); all on whole minutes.
    """
    lo_ns = max(x for x in (request.start_ns, open_ns, 0) if x is not None)
    last_complete = (now_ns // NS_PER_S - MINUTE_S) // MINUTE_S * MINUTE_S
    ends = [last_complete]
    if request.end_ns is not None:
        ends.append(request.end_ns // NS_PER_S // MINUTE_S * MINUTE_S)
    if close_ns is not None:
        ends.append(-(-close_ns // (MINUTE_S * NS_PER_S)) * MINUTE_S)
    from_s = lo_ns // NS_PER_S // MINUTE_S * MINUTE_S
    to_s = min(ends)
    if to_s < from_s:
        return None
    return from_s, to_s


__all__ = ["MINUTE_S", "HistoryRequest", "check_ticker", "market_window", "parse_time"]
