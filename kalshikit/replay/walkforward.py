"""Walk-forward selection of stop-loss settings: choose a setting on one period, judge it on the next.

    res = sweep("recordings/", grid, policy=FirstTwoSided("yes", 1000))
    wf = walk_forward(res, folds=3)     # anchored; rolling=1 chooses on the previous block only
    wf.folds      # per fold: windows, the chosen setting, its in-sample (train) and out-of-sample (test) P&L
    wf.overall    # every test window together, beside the best setting in hindsight on the same markets

Nothing is replayed here: the sweep already holds every setting's P&L in every market
(:class:`~kalshikit.replay.permarket.MarketPnL`); windows, selection and intervals are computed from that table.

**How markets are split.** Each market has one time: when its outcome became final in the data (first
``determined``/``settled`` lifecycle event, else its scheduled close, else its last quote; see
:func:`~kalshikit.replay.permarket.resolved_ns`). Markets are ordered by it and cut into ``folds + 1`` consecutive
blocks holding (nearly) equal numbers of markets; markets with the same time are never cut apart. Fold ``k``
chooses on blocks ``0..k-1`` (anchored; with ``rolling=w`` only the last ``w`` of them) and is judged on block ``k``.

Why the resolution time and not the entry time: when a test window starts, every training market is over, so each
P&L used to choose is final and none depends on prices from the test window. Splitting by entry time would put in
training positions still open during the test window (their P&L uses test-period prices) unless they were dropped,
and when markets trade side by side (a day's markets open together) that drops nearly all of them. What remains: a
test market may have been entered before its window starts (it ran alongside the training markets) and is replayed
with the chosen setting from its entry; ``test_open_at_start`` counts these. None of a test market's data is ever
used to choose. Blocks hold equal numbers of markets rather than equal lengths of clock time because markets
cluster (many close at the end of a day): equal clock windows would leave some empty.

**Choosing** (``select``): ``"pnl"``: the highest net P&L over the training markets (the same as the highest mean
per market, since every setting is judged on the same markets); ``"ci_low"``: the highest lower bound of its
bootstrap interval (prefers settings that did well across many markets over ones carried by a few). Ties go to the
setting listed first in the grid.

**Figures** (dollars, floats for display; computed in integer micro-dollars): ``*_pnl`` is the total over the
window's markets, ``*_mean`` the mean per market, ``*_low`` / ``*_high`` the ``level`` bootstrap interval of that
mean (markets resampled with replacement, seeded; :mod:`kalshikit.replay.bootstrap`). Windows differ in size, so
compare means, not totals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kalshikit.errors import ConfigError
from kalshikit.replay.bootstrap import check_bootstrap, total_interval
from kalshikit.replay.permarket import MarketPnL, resolved_ns
from kalshikit.replay.sweep import GRID_KEYS, SweepData, SweepResult

SELECTIONS = ("pnl", "ci_low")
TRAIN, TEST, POOLED = 0, 1, 2  # bootstrap streams: (fold, role)


# ---------------------------------------------------------------------------- windows
@dataclass(frozen=True)
class Fold:
    """One step of the walk: choose on ``train``, judge on ``test`` (column indices of the MarketPnL)."""

    number: int
    train: np.ndarray
    test: np.ndarray


def check_folds(folds: int, rolling: int | None = None) -> None:
    """Raise :class:`ConfigError` saying what to fix when ``folds`` / ``rolling`` are not usable numbers."""
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 1:
        raise ConfigError(f"the number of walk-forward folds must be a whole number >= 1, got {folds!r}")
    if rolling is not None and (isinstance(rolling, bool) or not isinstance(rolling, int) or rolling < 1):
        raise ConfigError(
            f"rolling (blocks to choose on) must be a whole number >= 1, or None for anchored, got {rolling!r}"
        )


def _too_many(folds: int, markets: int, distinct: int, what: str) -> ConfigError:
    if distinct < 2:
        return ConfigError(
            f"walk-forward needs markets whose outcomes became final at two different times at least; {what} has "
            f"{markets} market(s) resolving at {distinct} time(s): use more markets (record longer or more series)"
        )
    return ConfigError(
        f"{folds} fold(s) need {folds + 1} blocks of markets, but {what} has {markets} market(s) resolving at "
        f"{distinct} distinct time(s): use at most {distinct - 1} fold(s)"
    )


def split_blocks(resolved: np.ndarray, n_blocks: int) -> list[np.ndarray]:
    """Cut markets sorted by resolution time into ``n_blocks`` consecutive groups of nearly equal size, never
    between two markets with the same time. Returns each block's indices."""
    if np.any(np.diff(resolved) < 0):
        raise ConfigError("markets must be sorted by resolution time")
    m = len(resolved)
    cuts = [j for j in range(1, m) if resolved[j] != resolved[j - 1]]  # a cut may go just before index j
    if len(cuts) < n_blocks - 1:
        raise _too_many(n_blocks - 1, m, len(cuts) + (1 if m else 0), "the sweep")
    chosen: list[int] = []
    lo = 0
    for i in range(1, n_blocks):
        hi = len(cuts) - (n_blocks - 1 - i)  # leave a cut for every block still to come
        best = min(range(lo, hi), key=lambda c: (abs(cuts[c] * n_blocks - i * m), cuts[c]))
        chosen.append(cuts[best])
        lo = best + 1
    bounds = [0, *chosen, m]
    return [np.arange(bounds[k], bounds[k + 1]) for k in range(n_blocks)]


def make_folds(resolved: np.ndarray, folds: int, rolling: int | None = None) -> list[Fold]:
    """The folds over markets sorted by resolution time (anchored, or the last ``rolling`` blocks)."""
    check_folds(folds, rolling)
    blocks = split_blocks(resolved, folds + 1)
    out = []
    for k in range(1, folds + 1):
        first = 0 if rolling is None else max(0, k - rolling)
        out.append(Fold(k, np.concatenate(blocks[first:k]), blocks[k]))
    return out


def check_data_allows(sd: SweepData, folds: int) -> None:
    """Raise :class:`ConfigError` when even every market of ``sd`` could not make ``folds`` folds (the sweep's
    markets with a position can only be fewer): checked before a sweep runs, so a hopeless request fails at once."""
    times = {resolved_ns(t, sd.data) for t in sd.data.markets}
    if folds > len(times) - 1:
        raise _too_many(folds, len(sd.data.markets), len(times), "the data")


# ---------------------------------------------------------------------------- the walk
@dataclass
class WalkForwardResult:
    """``folds``: one row per fold. ``overall``: the out-of-sample result of all folds together, beside the best
    setting in hindsight on the same markets. ``markets``: each test market's P&L under its fold's choice."""

    folds: pd.DataFrame
    overall: pd.DataFrame
    markets: pd.DataFrame
    select: str
    rolling: int | None
    draws: int
    level: float
    seed: int

    def __repr__(self) -> str:
        o = self.overall.iloc[0]
        h = self.overall.iloc[1]
        how = "anchored" if self.rolling is None else f"rolling {self.rolling}"
        return (
            f"<WalkForwardResult folds={len(self.folds)} {how} select={self.select} out-of-sample "
            f"${o['pnl']:,.2f} on {o['markets']} markets (best in hindsight ${h['pnl']:,.2f})>"
        )


def setting_label(row: pd.Series | dict[str, Any], keys: list[str]) -> str:
    """``stop=0.05 take_profit=off ...`` for the grid columns ``keys`` of a sweep row."""
    parts = []
    for k in keys:
        v = row[k]
        if v is None or (isinstance(v, float) and math.isnan(v)):
            text = "off"
        elif isinstance(v, float):
            text = f"{v:g}"
        else:
            text = str(v)
        parts.append(f"{k}={text}")
    return " ".join(parts)


def _ts(ns: int) -> pd.Timestamp:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC")


class _Walk:
    """The figures of one walk-forward, in integers until they go into the tables."""

    def __init__(self, table: pd.DataFrame, pm: MarketPnL, draws: int, level: float, seed: int) -> None:
        self.pm = pm
        self.draws = draws
        self.level = level
        self.seed = seed
        self.keys = [c for c in table.columns if c in GRID_KEYS]
        by_setting = table.set_index("setting")
        self.labels = [setting_label(by_setting.loc[s], self.keys) for s in pm.settings]
        self.values = [{k: by_setting.loc[s, k] for k in self.keys} for s in pm.settings]

    def interval(self, pnl: np.ndarray, stream: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
        if not self.draws or pnl.shape[1] == 0:
            return None
        return total_interval(pnl, self.draws, self.level, self.seed, stream)

    @staticmethod
    def figures(pnl: np.ndarray, trades: int, bounds: tuple[int, int] | None) -> dict[str, Any]:
        """Markets, trades, total, mean per market and its interval (dollars) of one window's P&L per market."""
        n = len(pnl)
        total = int(pnl.sum())
        return {
            "markets": n,
            "trades": trades,
            "pnl": total / 1e6,
            "mean": total / n / 1e6 if n else float("nan"),
            "low": bounds[0] / n / 1e6 if bounds and n else float("nan"),
            "high": bounds[1] / n / 1e6 if bounds and n else float("nan"),
        }

    def fold(self, f: Fold, select: str) -> tuple[dict[str, Any], int]:
        pm = self.pm
        train_pnl = pm.pnl[:, f.train]
        if select == "pnl":
            i = int(np.argmax(train_pnl.sum(axis=1)))  # the first of equals: the earliest setting of the grid
            chosen_bounds = self.interval(train_pnl[i : i + 1], (f.number, TRAIN))  # a row's draws: its own
        else:
            every = self.interval(train_pnl, (f.number, TRAIN))
            assert every is not None
            i = int(np.argmax(every[0]))
            chosen_bounds = (every[0][i : i + 1], every[1][i : i + 1])
        test_pnl = pm.pnl[:, f.test]
        test_totals = test_pnl.sum(axis=1)
        test_bounds = self.interval(test_pnl[i : i + 1], (f.number, TEST))
        chosen_at = int(pm.resolved_ns[f.train].max())
        best = int(np.argmax(test_totals))
        row: dict[str, Any] = {
            "fold": f.number,
            "train_from": _ts(pm.resolved_ns[f.train].min()),
            "train_to": _ts(chosen_at),
            "test_from": _ts(pm.resolved_ns[f.test].min()),
            "test_to": _ts(pm.resolved_ns[f.test].max()),
            "setting": pm.settings[i],
            **self.values[i],
            "chosen": self.labels[i],
        }
        train = self.figures(
            train_pnl[i],
            int(pm.trades[i, f.train].sum()),
            (int(chosen_bounds[0][0]), int(chosen_bounds[1][0])) if chosen_bounds else None,
        )
        test = self.figures(
            test_pnl[i],
            int(pm.trades[i, f.test].sum()),
            (int(test_bounds[0][0]), int(test_bounds[1][0])) if test_bounds else None,
        )
        row.update({f"train_{k}": v for k, v in train.items()})
        row.update({f"test_{k}": v for k, v in test.items()})
        row["test_open_at_start"] = int(np.count_nonzero(pm.entered_ns[f.test] <= chosen_at))
        row["test_best_pnl"] = int(test_totals[best]) / 1e6
        row["test_best_setting"] = pm.settings[best]
        row["test_rank"] = 1 + int(np.count_nonzero(test_totals > test_totals[i]))
        return row, i

    def overall(self, folds: list[Fold], chosen: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
        pm = self.pm
        cols = np.concatenate([f.test for f in folds])
        rows = np.concatenate([np.full(len(f.test), i) for f, i in zip(folds, chosen, strict=True)])
        walk_pnl = pm.pnl[rows, cols]
        walk_trades = int(pm.trades[rows, cols].sum())
        hindsight = int(np.argmax(pm.pnl[:, cols].sum(axis=1)))
        both = np.stack([walk_pnl, pm.pnl[hindsight, cols]])
        bounds = self.interval(both, (0, POOLED))
        lines = (
            ("walk-forward (out of sample)", None, "chosen per fold", walk_trades),
            (
                "best in hindsight on these markets (in sample)",
                pm.settings[hindsight],
                self.labels[hindsight],
                int(pm.trades[hindsight, cols].sum()),
            ),
        )
        out = []
        for n, (what, setting, label, trades) in enumerate(lines):
            b = (int(bounds[0][n]), int(bounds[1][n])) if bounds else None
            out.append({"what": what, "setting": setting, "chosen": label, **self.figures(both[n], trades, b)})
        fold_of = np.concatenate([np.full(len(f.test), f.number) for f in folds])
        markets = pd.DataFrame(
            {
                "fold": fold_of,
                "ticker": [pm.tickers[j] for j in cols],
                "setting": [pm.settings[i] for i in rows],
                "positions": pm.entries[rows, cols],
                "trades": pm.trades[rows, cols],
                "pnl": walk_pnl / 1e6,
                "entered": pd.to_datetime(pm.entered_ns[cols], unit="ns", utc=True),
                "resolved": pd.to_datetime(pm.resolved_ns[cols], unit="ns", utc=True),
            }
        )
        return pd.DataFrame(out).astype({"setting": "Int64"}), markets


def walk_forward(
    sweep_result: SweepResult,
    folds: int = 3,
    *,
    rolling: int | None = None,
    select: str = "pnl",
    bootstrap: int = 1000,
    level: float = 0.90,
    seed: int = 0,
) -> WalkForwardResult:
    """Walk forward over the markets of ``sweep_result`` (see the module docstring): ``folds`` steps, anchored or
    ``rolling``; ``select`` ``"pnl"`` or ``"ci_low"``; intervals at ``level`` over ``bootstrap`` draws (0: none),
    reproducible for a ``seed``. Raises :class:`ConfigError` saying what to fix."""
    check_folds(folds, rolling)
    check_bootstrap(bootstrap, level, seed)
    if select not in SELECTIONS:
        raise ConfigError(f"select must be one of {', '.join(SELECTIONS)}, got {select!r}")
    if select == "ci_low" and not bootstrap:
        raise ConfigError("select='ci_low' chooses by the bootstrap interval: give bootstrap draws > 0")
    pm = sweep_result.per_market
    if pm is None:
        raise ConfigError("this sweep result has no per-market table; run the sweep again with this version")
    walk = _Walk(sweep_result.table, pm, bootstrap, level, seed)
    fold_list = make_folds(pm.resolved_ns, folds, rolling)
    rows = []
    chosen = []
    for f in fold_list:
        row, i = walk.fold(f, select)
        rows.append(row)
        chosen.append(i)
    overall, markets = walk.overall(fold_list, chosen)
    return WalkForwardResult(pd.DataFrame(rows), overall, markets, select, rolling, bootstrap, level, seed)
