"""Per-market results of a sweep: every setting's net P&L, trades and positions in every market, and when each
market's outcome became final. Walk-forward windows and bootstrap intervals are computed from this table alone,
without replaying anything again.

A sweep collects it as it runs (:func:`market_rows`, one short row per market per setting, made in the worker from
the outputs it already has) and keeps it as :class:`MarketPnL`: integer matrices of settings × markets. The markets
are those in which at least one setting opened a position (a market the entries never touch says nothing about a
stop); a setting with no position in one of them has 0 there. A setting's row sums to the sweep row's ``pnl`` and
``trades`` exactly (tested). P&L is that of closed positions, net of fees, as the sweep's ``pnl``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from kalshikit.core.events import Lifecycle
from kalshikit.errors import ConfigError
from kalshikit.replay.dataset import ReplayData
from kalshikit.replay.market import MarketOutput

FINAL_EVENTS = ("determined", "settled")
NO_TIME = -1

COLUMNS = ("positions", "trades", "pnl", "entered_ns", "resolved_ns")


@dataclass(frozen=True)
class MarketRows:
    """One setting's figures in the markets where it opened a position: ``values`` is int64 ``[5, markets]`` with
    the rows of :data:`COLUMNS`: positions opened, trades (positions closed), net P&L (micro-dollars), first entry
    and resolution time (ns). Compact, for shipping from sweep workers."""

    tickers: tuple[str, ...]
    values: np.ndarray


def resolved_ns(ticker: str, data: ReplayData) -> int:
    """When ``ticker``'s outcome became final in ``data``: its first ``determined`` or ``settled`` lifecycle event;
    else its scheduled close (lifecycle metadata); else its last quote or event (the data has nothing later). Once the
    market is determined or closed no rule can act in it, so every setting's P&L there is fixed (the settlement
    itself may be booked a little later)."""
    close = None
    last = NO_TIME
    for _, ns, ev in data.specials.get(ticker, ()):
        last = max(last, ns)
        if type(ev) is Lifecycle and ev.event_type in FINAL_EVENTS:
            return int(ns)
        scheduled = getattr(ev, "close_ns", None)  # lifecycle metadata (created, close_date_updated, ...)
        if scheduled:
            close = int(scheduled)
    if close is not None:
        return close
    arrays = data.markets.get(ticker)
    if arrays is not None and len(arrays):
        last = max(last, int(arrays.recv[-1]))
    return last


def market_rows(outputs: Mapping[str, MarketOutput], data: ReplayData) -> MarketRows:
    """The figures of one run in every market where it opened a position."""
    tickers = []
    values = []
    for ticker, out in outputs.items():
        if not out.entries:
            continue
        pnl = sum(c.realized - c.fees for c in out.closed)
        first = min(e.entry_ns for e in out.entries)
        tickers.append(ticker)
        values.append((len(out.entries), len(out.closed), pnl, first, resolved_ns(ticker, data)))
    return MarketRows(tuple(tickers), np.array(values, np.int64).reshape(-1, len(COLUMNS)).T.copy())


@dataclass(frozen=True)
class MarketPnL:
    """Settings × markets, in integers. Markets are ordered by resolution time, then ticker; ``settings[i]`` is
    the sweep's ``setting`` number of row ``i``."""

    tickers: tuple[str, ...]
    settings: tuple[int, ...]
    pnl: np.ndarray  # int64 [settings, markets]: net P&L of closed positions, micro-dollars
    trades: np.ndarray  # int64 [settings, markets]: positions closed
    entries: np.ndarray  # int64 [settings, markets]: positions opened
    entered_ns: np.ndarray  # int64 [markets]: first entry under any setting
    resolved_ns: np.ndarray  # int64 [markets]: see resolved_ns()

    @classmethod
    def from_rows(cls, by_setting: Mapping[int, MarketRows]) -> MarketPnL:
        """Build the matrices from each setting's :func:`market_rows`."""
        groups: dict[tuple[str, ...], list[int]] = {}  # settings of one sweep mostly share one list of markets
        for s, rows in by_setting.items():
            groups.setdefault(rows.tickers, []).append(s)
        entered: dict[str, int] = {}
        resolved: dict[str, int] = {}
        for names, members in groups.items():
            first = np.stack([by_setting[s].values[3] for s in members]).min(axis=0)
            final = by_setting[members[0]].values[4]
            for ticker, when, done in zip(names, first.tolist(), final.tolist(), strict=True):
                entered[ticker] = min(when, entered.get(ticker, when))
                resolved[ticker] = done
        tickers = sorted(resolved, key=lambda t: (resolved[t], t))
        column = {t: j for j, t in enumerate(tickers)}
        settings = sorted(by_setting)
        row_of = {s: i for i, s in enumerate(settings)}
        shape = (len(settings), len(tickers))
        entries, trades, pnl = (np.zeros(shape, np.int64) for _ in range(3))
        for names, members in groups.items():
            rows_idx = np.array([row_of[s] for s in members], np.int64)[:, None]
            cols = np.array([column[t] for t in names], np.int64)[None, :]
            block = np.stack([by_setting[s].values for s in members])  # [members, 5, markets]
            entries[rows_idx, cols], trades[rows_idx, cols], pnl[rows_idx, cols] = block[:, 0], block[:, 1], block[:, 2]
        return cls(
            tuple(tickers),
            tuple(settings),
            pnl,
            trades,
            entries,
            np.array([entered[t] for t in tickers], np.int64),
            np.array([resolved[t] for t in tickers], np.int64),
        )

    def row(self, setting: int) -> int:
        """The matrix row of sweep setting number ``setting``."""
        index = self._rows
        if setting not in index:
            raise ConfigError(f"setting {setting} is not in this sweep (settings {self.settings[:5]}...)")
        return index[setting]

    @cached_property
    def _rows(self) -> dict[int, int]:
        return {s: i for i, s in enumerate(self.settings)}

    def to_frame(self) -> pd.DataFrame:
        """Long table for reading: setting, ticker, positions, trades, pnl ($), entry and resolution times."""
        n_s, n_m = self.pnl.shape
        return pd.DataFrame(
            {
                "setting": np.repeat(np.array(self.settings, np.int64), n_m),
                "ticker": np.tile(np.array(self.tickers, dtype=object), n_s),
                "positions": self.entries.ravel(),
                "trades": self.trades.ravel(),
                "pnl": self.pnl.ravel() / 1e6,
                "entered": pd.to_datetime(np.tile(self.entered_ns, n_s), unit="ns", utc=True),
                "resolved": pd.to_datetime(np.tile(self.resolved_ns, n_s), unit="ns", utc=True),
            }
        )
