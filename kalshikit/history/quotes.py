"""Candles to quotes for replay: how a minute of history becomes prices the monitor can react to, stated openly.

A 1-minute candle says where the YES bid and ask opened, closed, and how high and low they went, but not in which
order, how long each price lasted, nor how much was offered. Replaying candles therefore needs an assumption, and
every result of such a replay carries it (``summary["resolution"]`` and ``summary["fill_assumption"]``):

``pessimistic`` (the default)
    each minute becomes three quotes: the open at the minute's start, the **adverse extreme** 30 s in (YES bid low
    together with YES ask high: the worst price a long YES position -- selling at the YES bid -- and a long NO
    position -- selling at 1 - YES ask -- could have met) and the close at the minute's end. Favourable extremes are
    never shown. A stop fires in every minute whose worst price crossed it, and fills at that worst price; a
    take-profit, a trailing stop's ratchet and a break-even move only see opens and closes.
``optimistic``
    the same three quotes with the **favourable extreme** in the middle (YES bid high with YES ask low; the two
    may cross, as they can come from different moments). A dip inside a minute that recovered by its close triggers
    nothing; a take-profit fires at the minute's best price.

Exits fill at those prices (the fill model's book is the quote). Candles carry no sizes: a quote offers the fill
model's ``unknown_size`` (default unlimited), so an exit fills whole. A side that was empty at that point (a bid
low of $0) shows no price: nothing triggers on it. ``trigger_source="last"`` uses the traded price the same way
(low for pessimistic, high for optimistic: adverse or favourable for YES positions). Trade prints are kept in the
dataset for research; replay does not use them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kalshikit.core.events import Lifecycle, MarketInfo
from kalshikit.core.grid import PriceGrid, PriceRange
from kalshikit.errors import ConfigError
from kalshikit.history.dataset import HistoryDataset
from kalshikit.replay.dataset import ReplayData
from kalshikit.replay.market import TickArrays
from kalshikit.units import NS_PER_S, PRICE_SCALE

CandleFill = Literal["pessimistic", "optimistic"]
CANDLE_FILLS: tuple[str, ...] = ("pessimistic", "optimistic")
RESOLUTION = "1-minute candles"
_MINUTE_NS = 60 * NS_PER_S
_HALF_NS = 30 * NS_PER_S

_TEXT = {
    "pessimistic": (
        "pessimistic: each minute becomes quotes at its open (start of the minute), its adverse extreme (30 s in: "
        "YES bid low with YES ask high, the worst exit price of a long YES and of a long NO position) and its close "
        "(end of the minute); favourable extremes are never shown. Exits fill at those prices, sizes unknown "
        "(unknown_size, default unlimited)"
    ),
    "optimistic": (
        "optimistic: each minute becomes quotes at its open (start of the minute), its favourable extreme (30 s in: "
        "YES bid high with YES ask low) and its close (end of the minute); a dip inside a minute that recovered by "
        "its close triggers nothing. Exits fill at those prices, sizes unknown (unknown_size, default unlimited)"
    ),
}


def check_candle_fill(candles: str | None) -> str:
    """``candles`` (None: ``pessimistic``) or :class:`ConfigError` naming the choices."""
    value = candles or "pessimistic"
    if value not in CANDLE_FILLS:
        raise ConfigError(f"candles={candles!r}: choose {' or '.join(CANDLE_FILLS)}")
    return value


def fill_assumption(candles: str | None) -> str:
    """The sentence a result carries for this candle assumption."""
    return _TEXT[check_candle_fill(candles)]


@dataclass
class CandleReplayData(ReplayData):
    """Replay data made from candles; says its resolution and the assumption that made the quotes."""

    resolution: str = RESOLUTION
    fill_assumption: str = ""
    candles: str = "pessimistic"


def _col(t: pa.Table, name: str) -> np.ndarray[Any, Any]:
    return np.asarray(pc.fill_null(t.column(name), -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def market_quotes(candles: pa.Table, assumption: str = "pessimistic") -> TickArrays:
    """Three quotes per candle of one market (``candles`` sorted by ``end_ns``), as replay's :class:`TickArrays`."""
    check_candle_fill(assumption)
    n = candles.num_rows
    end = _col(candles, "end_ns")
    times = np.stack([end - _MINUTE_NS, end - _HALF_NS, end], axis=1).ravel()
    if assumption == "pessimistic":
        xb, xa, xp = _col(candles, "yes_bid_low"), _col(candles, "yes_ask_high"), _col(candles, "price_low")
    else:
        xb, xa, xp = _col(candles, "yes_bid_high"), _col(candles, "yes_ask_low"), _col(candles, "price_high")
    bid = np.stack([_col(candles, "yes_bid_open"), xb, _col(candles, "yes_bid_close")], axis=1).ravel()
    ask = np.stack([_col(candles, "yes_ask_open"), xa, _col(candles, "yes_ask_close")], axis=1).ravel()
    last = np.empty(3 * n, dtype=np.int64)
    closes = _col(candles, "price_close").tolist()
    previous = _col(candles, "price_previous").tolist()
    extremes = xp.tolist()
    carried = -1
    for i in range(n):
        before = previous[i] if previous[i] >= 0 else carried
        traded = closes[i] >= 0
        last[3 * i] = before
        last[3 * i + 1] = extremes[i] if traded and extremes[i] >= 0 else before
        last[3 * i + 2] = closes[i] if traded else before
        carried = int(last[3 * i + 2])
    none = np.full(3 * n, -1, dtype=np.int64)
    return TickArrays(times, times.copy(), bid, ask, none, none.copy(), last)


def _grid(structure: str | None, ranges: str | None) -> PriceGrid | None:
    try:
        if ranges:
            return PriceGrid(tuple(PriceRange(a, b, s) for a, b, s in json.loads(ranges)), structure or "custom")
        if structure:
            return PriceGrid.named(structure)
    except (ValueError, TypeError):
        return None
    return None


def _settlement(result: str | None, value: int | None) -> tuple[str, int | None] | None:
    if result == "yes":
        return "yes", PRICE_SCALE
    if result == "no":
        return "no", 0
    if result == "scalar" and value is not None:
        return "scalar", value
    return None


def replay_data(
    path: str | os.PathLike[str], candles: str | None = None, tickers: Iterable[str] | None = None
) -> CandleReplayData:
    """A history dataset as replay data: each market's candles as quotes (see the module docstring), its close
    time and price grid first, and its result (when settled) after its last quote."""
    assumption = check_candle_fill(candles)
    ds = HistoryDataset.open(path)
    table = ds.candles_table(tickers)
    meta = {r["ticker"]: r for r in ds.markets_table().to_pylist()}
    markets: dict[str, TickArrays] = {}
    specials: dict[str, list[tuple[int, int, Any]]] = {}
    ticks = 0
    names = table.column("ticker").to_numpy(zero_copy_only=False) if table.num_rows else np.empty(0, dtype=object)
    bounds = np.flatnonzero(names[1:] != names[:-1]) + 1 if len(names) else np.empty(0, dtype=np.int64)
    starts = [0, *bounds.tolist()]
    stops = [*bounds.tolist(), len(names)]
    for a, b in zip(starts, stops, strict=True):
        if a == b:
            continue
        ticker = str(names[a])
        arrays = market_quotes(table.slice(a, b - a), assumption)
        markets[ticker] = arrays
        ticks += len(arrays)
        m = meta.get(ticker, {})
        first, last = int(arrays.recv[0]), int(arrays.recv[-1])
        sp: list[tuple[int, int, Any]] = []
        grid = _grid(m.get("price_level_structure"), m.get("price_ranges"))
        if grid is not None or m.get("close_ns") is not None:
            sp.append((0, first, MarketInfo(ticker, close_ns=m.get("close_ns"), grid=grid)))
        known = _settlement(m.get("result"), m.get("settlement_value"))
        if known is not None:
            at = max(last, m.get("close_ns") or 0)
            sp.append((len(arrays), at, Lifecycle(ticker, "determined", result=known[0], settlement_value=known[1])))
        specials[ticker] = sp
    return CandleReplayData(
        markets,
        specials,
        ticks,
        [],
        resolution=RESOLUTION,
        fill_assumption=fill_assumption(assumption),
        candles=assumption,
    )


__all__ = [
    "CANDLE_FILLS",
    "RESOLUTION",
    "CandleFill",
    "CandleReplayData",
    "check_candle_fill",
    "fill_assumption",
    "market_quotes",
    "replay_data",
]
