"""Walk-forward selection and bootstrap intervals: windows never leak, the choice equals a brute-force choice on the
in-sample table, out-of-sample figures equal direct replays of the chosen setting on the test markets, intervals are
seeded and exact in integers, counts are right; the CLI prints it and refuses bad options with exit code 2."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kalshikit.errors import ConfigError
from kalshikit.recording.columnar import to_parquet
from kalshikit.recording.synthetic import DEFAULT_START_NS, write_synthetic_recording
from kalshikit.replay import FirstTwoSided, replay
from kalshikit.replay.__main__ import main
from kalshikit.replay.bootstrap import draw_markets, total_interval
from kalshikit.replay.permarket import MarketPnL, MarketRows
from kalshikit.replay.report import save_html, walk_forward_figure, walk_forward_section
from kalshikit.replay.sweep import SweepResult, sweep
from kalshikit.replay.walkforward import make_folds, split_blocks, walk_forward
from kalshikit.units import NS_PER_S

POLICY = FirstTwoSided("yes", 1000)
GRID: dict[str, Any] = {"stop": [0.02, 0.05, 0.10], "take_profit": [None, 0.05], "trailing": [None, 0.02]}
KEYS = list(GRID)
SESSIONS, MARKETS, SESSION_S = 3, 6, 300


@pytest.fixture(scope="module")
def tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three back-to-back synthetic sessions of six markets: markets resolve at many different times."""
    d = tmp_path_factory.mktemp("wf")
    dirs = []
    for k in range(SESSIONS):
        dirs.append(d / f"s{k}")
        write_synthetic_recording(
            dirs[-1],
            markets=MARKETS,
            duration_s=SESSION_S,
            seed=30 + k,
            start_ns=DEFAULT_START_NS + k * SESSION_S * NS_PER_S,
        )
    to_parquet(dirs, d / "tape.parquet")
    return d / "tape.parquet"


@pytest.fixture(scope="module")
def swept(tape: Path) -> SweepResult:
    return sweep(tape, GRID, policy=POLICY, executor="serial", out_dir=None, bootstrap=500, seed=3)


def _rules(row: pd.Series | dict[str, Any]) -> dict[str, Any]:
    return {k: float(row[k]) for k in KEYS if not pd.isna(row[k])}


def _micro(dollars: pd.Series) -> pd.Series:
    return (dollars * 1e6).round().astype("int64")


# ---------------------------------------------------------------------------- the per-market table
def test_per_market_table_adds_up_to_the_sweep_rows(tape: Path, swept: SweepResult) -> None:
    pm = swept.per_market
    assert pm is not None
    assert len(pm.tickers) == SESSIONS * MARKETS  # every market was entered (first two-sided quote)
    assert list(pm.settings) == list(swept.table["setting"])
    assert np.all(np.diff(pm.resolved_ns) >= 0)
    assert len(set(pm.resolved_ns.tolist())) > 2 * SESSIONS  # the fixture really spreads the markets out
    table = swept.table
    assert list(pm.pnl.sum(axis=1)) == list(_micro(table["pnl"]))
    assert list(pm.trades.sum(axis=1)) == list(table["trades"])
    assert list(table["markets"]) == [SESSIONS * MARKETS] * len(table)
    direct = replay(tape, policy=POLICY, **_rules(table.iloc[4]))
    per_ticker = direct.trades.groupby("ticker")["pnl"].sum()
    for j, t in enumerate(pm.tickers):
        assert pm.pnl[4, j] == round(per_ticker.get(t, 0.0) * 1e6)
        assert pm.entries[4, j] == 1


def test_per_market_table_from_settings_with_different_markets() -> None:
    rows = {
        7: MarketRows(("B", "A"), np.array([[1, 2], [1, 2], [-5, 9], [30, 10], [200, 100]], np.int64)),
        3: MarketRows(("C", "A"), np.array([[1, 1], [0, 1], [0, -4], [50, 20], [100, 100]], np.int64)),
        9: MarketRows((), np.zeros((5, 0), np.int64)),
    }
    pm = MarketPnL.from_rows(rows)
    assert pm.tickers == ("A", "C", "B")  # by resolution time, then ticker
    assert pm.settings == (3, 7, 9)
    assert pm.pnl.tolist() == [[-4, 0, 0], [9, 0, -5], [0, 0, 0]]
    assert pm.trades.tolist() == [[1, 0, 0], [2, 0, 1], [0, 0, 0]]
    assert pm.entries.tolist() == [[1, 1, 0], [2, 0, 1], [0, 0, 0]]
    assert pm.entered_ns.tolist() == [10, 50, 30]  # the first entry under any setting
    assert pm.resolved_ns.tolist() == [100, 100, 200]
    assert pm.row(9) == 2
    with pytest.raises(ConfigError, match="setting 4 is not in this sweep"):
        pm.row(4)


def test_a_sweep_without_positions_has_no_intervals_and_no_walk(tape: Path) -> None:
    nobody = FirstTwoSided("yes", 1000, tickers=frozenset({"NOT-IN-THE-DATA"}))
    res = sweep(tape, {"stop": [0.05, 0.1]}, policy=nobody, executor="serial", out_dir=None)
    assert list(res.table["markets"]) == [0, 0] and list(res.table["trades"]) == [0, 0]
    assert res.table["pnl_ci_low"].isna().all() and res.table["pnl_ci_high"].isna().all()
    with pytest.raises(ConfigError, match="has 0 market"):
        walk_forward(res, 1)


# ---------------------------------------------------------------------------- windows
def test_blocks_keep_ties_together_and_say_when_there_are_too_few_times() -> None:
    resolved = np.array([1, 1, 1, 2, 2, 3, 3, 3, 3, 4, 5, 5], np.int64)
    for n in range(1, 6):
        blocks = split_blocks(resolved, n)
        assert np.array_equal(np.concatenate(blocks), np.arange(len(resolved)))
        assert all(len(b) for b in blocks)
        for a, b in itertools.pairwise(blocks):
            assert resolved[a].max() < resolved[b].min()
    assert [len(b) for b in split_blocks(resolved, 3)] == [3, 6, 3]  # the ties force 3/6/3 rather than 4/4/4
    assert [len(b) for b in split_blocks(np.arange(10), 3)] == [3, 4, 3]
    with pytest.raises(
        ConfigError, match=r"5 fold\(s\) need 6 blocks .* 12 market\(s\) resolving at 5 distinct .* at most 4"
    ):
        split_blocks(resolved, 6)
    with pytest.raises(ConfigError, match="at least; the sweep has 3 market"):
        split_blocks(np.array([7, 7, 7]), 2)


@pytest.mark.parametrize(("folds", "rolling"), [(1, None), (3, None), (5, None), (3, 1), (4, 2)])
def test_windows_never_leak(swept: SweepResult, folds: int, rolling: int | None) -> None:
    pm = swept.per_market
    assert pm is not None
    fold_list = make_folds(pm.resolved_ns, folds, rolling)
    assert [f.number for f in fold_list] == list(range(1, folds + 1))
    tested: list[int] = []
    for f in fold_list:
        assert not set(f.train) & set(f.test)
        assert not set(f.test) & set(tested)
        assert pm.resolved_ns[f.train].max() < pm.resolved_ns[f.test].min()
        if rolling is None:
            assert list(f.train) == list(range(f.test[0]))  # anchored: everything before the test block
        tested += list(f.test)
    assert tested == list(range(fold_list[0].test[0], len(pm.tickers)))  # test blocks tile the rest, in order
    wf = walk_forward(swept, folds, rolling=rolling, seed=1)
    resolved = pd.Series(pm.resolved_ns, index=pm.tickers)
    for f, row in zip(fold_list, wf.folds.itertuples(), strict=True):
        assert row.train_to < row.test_from
        test_tickers = set(wf.markets.loc[wf.markets["fold"] == f.number, "ticker"])
        train_tickers = {pm.tickers[j] for j in f.train}
        assert test_tickers == {pm.tickers[j] for j in f.test}
        assert not test_tickers & train_tickers
        assert all(resolved[t] <= row.train_to.value for t in train_tickers)
        assert (row.train_markets, row.test_markets) == (len(f.train), len(f.test))
        entered = wf.markets.loc[wf.markets["fold"] == f.number, "entered"]
        assert row.test_open_at_start == int((entered <= row.train_to).sum())


# ---------------------------------------------------------------------------- selection
def _brute_choice(long: pd.DataFrame, tickers: set[str]) -> tuple[int, pd.Series]:
    part = long[long["ticker"].isin(tickers)]
    totals = part.assign(micro=_micro(part["pnl"])).groupby("setting")["micro"].sum()
    best = totals[totals == totals.max()].index.min()  # ties: the earliest setting of the grid
    return int(best), totals


def _brute_interval(values: list[int], draws: int, seed: int, stream: tuple[int, int], level: Fraction) -> list[float]:
    """Mean-per-market interval (dollars) by summing every resample's picks one by one."""
    totals = sorted(sum(values[j] for j in p) for p in draws_of(len(values), draws, seed, stream))
    tail = (1 - level) / 2
    return [totals[math.ceil(q * draws) - 1] / len(values) / 1e6 for q in (tail, 1 - tail)]


def draws_of(n: int, draws: int, seed: int, stream: tuple[int, int]) -> list[list[int]]:
    return [list(map(int, p)) for p in draw_markets(n, draws, seed, stream)]


@pytest.mark.parametrize("rolling", [None, 1])
def test_choice_equals_the_brute_force_choice_on_the_in_sample_table(swept: SweepResult, rolling: int | None) -> None:
    pm = swept.per_market
    assert pm is not None
    long = pm.to_frame()
    wf = walk_forward(swept, 3, rolling=rolling, bootstrap=200, seed=2)
    for f, row in zip(make_folds(pm.resolved_ns, 3, rolling), wf.folds.itertuples(), strict=True):
        best, totals = _brute_choice(long, {pm.tickers[j] for j in f.train})
        assert row.setting == best
        assert _micro(pd.Series([row.train_pnl]))[0] == totals[best]
        test_best, test_totals = _brute_choice(long, {pm.tickers[j] for j in f.test})
        assert row.test_best_setting == test_best
        assert row.test_rank == 1 + int((test_totals > test_totals[best]).sum())
        i = pm.row(best)
        for part, cols, role in (("train", f.train, 0), ("test", f.test, 1)):
            low, high = _brute_interval([int(v) for v in pm.pnl[i, cols]], 200, 2, (f.number, role), Fraction(9, 10))
            assert getattr(row, f"{part}_low") == pytest.approx(low, abs=1e-12)
            assert getattr(row, f"{part}_high") == pytest.approx(high, abs=1e-12)
    everything, _ = _brute_choice(long, set(wf.markets["ticker"]))
    assert wf.overall["setting"].iloc[1] == everything


def test_choice_by_lower_bound_equals_a_brute_force_bootstrap(swept: SweepResult) -> None:
    pm = swept.per_market
    assert pm is not None
    draws, level, seed = 300, 0.8, 11
    wf = walk_forward(swept, 2, select="ci_low", bootstrap=draws, level=level, seed=seed)
    k_low = math.ceil(Fraction(1, 10) * draws) - 1
    for f, row in zip(make_folds(pm.resolved_ns, 2), wf.folds.itertuples(), strict=True):
        picks = draw_markets(len(f.train), draws, seed, (f.number, 0))
        lows = []
        for i in range(len(pm.settings)):
            values = [int(v) for v in pm.pnl[i, f.train]]
            lows.append(sorted(sum(values[j] for j in p) for p in picks)[k_low])
        chosen = lows.index(max(lows))
        assert row.setting == pm.settings[chosen]
        assert row.train_low == pytest.approx(lows[chosen] / len(f.train) / 1e6, abs=1e-12)
    assert (wf.folds["train_low"] <= wf.folds["train_mean"]).all()


# ---------------------------------------------------------------------------- out of sample = direct replays
@pytest.mark.parametrize("rolling", [None, 2])
def test_out_of_sample_equals_direct_replays_of_the_chosen_setting(
    tape: Path, swept: SweepResult, rolling: int | None
) -> None:
    wf = walk_forward(swept, 3, rolling=rolling, bootstrap=0)
    pm = swept.per_market
    assert pm is not None
    total = 0.0
    for f, row in zip(make_folds(pm.resolved_ns, 3, rolling), wf.folds.to_dict("records"), strict=True):
        for part, cols in (("test", f.test), ("train", f.train)):
            tickers = frozenset(pm.tickers[j] for j in cols)
            direct = replay(tape, policy=FirstTwoSided("yes", 1000, tickers=tickers), **_rules(row))
            assert row[f"{part}_pnl"] == pytest.approx(direct.trades["pnl"].sum(), abs=1e-9)
            assert row[f"{part}_trades"] == len(direct.trades)
            assert row[f"{part}_markets"] == len(tickers) == direct.stats["markets_replayed"]
            assert row[f"{part}_mean"] == pytest.approx(direct.trades["pnl"].sum() / len(tickers), abs=1e-9)
            assert math.isnan(row[f"{part}_low"])
        total += row["test_pnl"]
    walk = wf.overall.iloc[0]
    assert walk["pnl"] == pytest.approx(total, abs=1e-9)
    assert walk["markets"] == wf.folds["test_markets"].sum() == len(wf.markets)
    assert walk["trades"] == wf.folds["test_trades"].sum() == wf.markets["trades"].sum()


# ---------------------------------------------------------------------------- the bootstrap
def test_bootstrap_is_seeded_and_covers_the_point_estimate(tape: Path, swept: SweepResult) -> None:
    table = swept.table
    assert (table["pnl_ci_low"] <= table["pnl"]).all() and (table["pnl"] <= table["pnl_ci_high"]).all()
    assert (table["pnl_ci_low"] < table["pnl_ci_high"]).any()
    again = sweep(tape, GRID, policy=POLICY, executor="serial", out_dir=None, bootstrap=500, seed=3)
    pd.testing.assert_frame_equal(again.table, table)
    other = sweep(tape, GRID, policy=POLICY, executor="serial", out_dir=None, bootstrap=500, seed=4)
    assert not other.table["pnl_ci_low"].equals(table["pnl_ci_low"])
    assert other.table.drop(columns=["pnl_ci_low", "pnl_ci_high"]).equals(
        table.drop(columns=["pnl_ci_low", "pnl_ci_high"])
    )
    a = walk_forward(swept, 3, seed=9)
    b = walk_forward(swept, 3, seed=9)
    pd.testing.assert_frame_equal(a.folds, b.folds)
    pd.testing.assert_frame_equal(a.overall, b.overall)
    for part in ("train", "test"):
        assert (a.folds[f"{part}_low"] <= a.folds[f"{part}_mean"] + 1e-12).all()
        assert (a.folds[f"{part}_mean"] <= a.folds[f"{part}_high"] + 1e-12).all()
    assert ((a.overall["low"] <= a.overall["mean"]) & (a.overall["mean"] <= a.overall["high"])).all()
    off = sweep(tape, {"stop": [0.05]}, policy=POLICY, executor="serial", out_dir=None, bootstrap=0)
    assert off.table["pnl_ci_low"].isna().all() and off.table["markets"].iloc[0] == SESSIONS * MARKETS


def test_bootstrap_totals_are_exact_integers_at_any_size() -> None:
    rng = np.random.default_rng(5)
    for scale in (10**6, 10**15):  # the second is past 2**53 / markets: the integer path
        pnl = rng.integers(-scale, scale, size=(3, 40), dtype=np.int64)
        low, high = total_interval(pnl, 101, 0.9, seed=8, stream=(1, 2))
        picks = draw_markets(40, 101, 8, (1, 2))
        for i in range(3):
            values = [int(v) for v in pnl[i]]
            totals = sorted(sum(values[j] for j in p) for p in picks)
            assert int(low[i]) == totals[math.ceil(Fraction(5, 100) * 101) - 1]
            assert int(high[i]) == totals[math.ceil(Fraction(95, 100) * 101) - 1]
            assert low[i] <= sum(values) <= high[i]
    same = total_interval(pnl, 101, 0.9, seed=8, stream=(1, 2))
    assert np.array_equal(same[0], low) and np.array_equal(same[1], high)


def test_bad_walk_forward_arguments_say_what_to_fix(swept: SweepResult) -> None:
    n = len(set(swept.per_market.resolved_ns.tolist()))  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=rf"use at most {n - 1} fold\(s\)"):
        walk_forward(swept, n)
    with pytest.raises(ConfigError, match="folds must be a whole number >= 1"):
        walk_forward(swept, 0)
    with pytest.raises(ConfigError, match=r"rolling .* must be a whole number >= 1"):
        walk_forward(swept, 2, rolling=0)
    with pytest.raises(ConfigError, match="select must be one of pnl, ci_low"):
        walk_forward(swept, 2, select="sharpe")
    with pytest.raises(ConfigError, match="give bootstrap draws > 0"):
        walk_forward(swept, 2, select="ci_low", bootstrap=0)
    with pytest.raises(ConfigError, match="level must be between 0 and 1"):
        walk_forward(swept, 2, level=1.5)
    with pytest.raises(ConfigError, match="seed must be a whole number >= 0"):
        walk_forward(swept, 2, seed=-1)


# ---------------------------------------------------------------------------- report and CLI
def test_walk_forward_figure_and_html(swept: SweepResult, tmp_path: Path) -> None:
    wf = walk_forward(swept, 3, seed=0)
    fig = walk_forward_figure(wf)
    assert [t.name for t in fig.data] == [
        "chosen, in sample (train)",
        "chosen, out of sample (test)",
        "best in hindsight on the test block",
    ]
    assert list(fig.data[1].x) == ["fold 1", "fold 2", "fold 3", "all folds"]
    assert list(fig.data[1].y) == pytest.approx([*wf.folds["test_mean"], wf.overall["mean"].iloc[0]])
    page = save_html(walk_forward_section(wf), tmp_path / "wf.html").read_text()
    assert "Walk-forward" in page and "Plotly.newPlot" in page and wf.folds["chosen"].iloc[0] in page


def _grid_file(tmp_path: Path, tape: Path) -> Path:
    p = tmp_path / "wf_sweep.toml"
    p.write_text(
        f'[data]\nsources = ["{tape}"]\n[entries]\npolicy = "first-two-sided"\ncount = 10\n'
        '[grid]\nstop = [0.02, 0.05, 0.10]\ntake_profit = ["none", 0.05]\ntrailing = ["none", 0.02]\n'
        '[run]\nexecutor = "serial"\n'
    )
    return p


def test_cli_prints_each_fold_and_the_overall_result(
    tape: Path, swept: SweepResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            *("sweep", "--grid", str(_grid_file(tmp_path, tape)), "--out", str(out), "--no-progress"),
            *("--walk-forward", "3", "--bootstrap", "500", "--seed", "3", "--html", str(tmp_path / "r.html")),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    wf = walk_forward(swept, 3, bootstrap=500, seed=3)
    assert "walk-forward: 3 fold(s), anchored" in text
    for row in wf.folds.itertuples():
        assert f"{row.setting}: {row.chosen}" in text
        assert f"{row.test_mean:+.4f} [{row.test_low:+.4f}, {row.test_high:+.4f}]" in text
    walk, hindsight = wf.overall.iloc[0], wf.overall.iloc[1]
    assert (
        f"walk-forward (out of sample): {walk['markets']} markets, {walk['trades']} trades, P&L ${walk['pnl']:,.2f}"
        in text
    )
    assert f"(setting {hindsight['setting']}: {hindsight['chosen']})" in text
    saved = pd.read_csv(next(out.glob("wf_sweep-walkforward-*.csv")))
    assert list(saved["test_pnl"]) == pytest.approx(list(wf.folds["test_pnl"]))
    assert "Walk-forward" in (tmp_path / "r.html").read_text()


CLI_BAD = [
    (["--walk-forward", "99"], "use at most"),
    (["--rolling", "2"], "--rolling and --select need --walk-forward FOLDS"),
    (["--walk-forward", "2", "--select", "ci_low", "--bootstrap", "0"], "give --bootstrap N with N > 0"),
]


@pytest.mark.parametrize(("extra", "message"), CLI_BAD)
def test_cli_bad_options_exit_2_before_sweeping(
    tape: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    out = tmp_path / "out"
    code = main(["sweep", "--grid", str(_grid_file(tmp_path, tape)), "--out", str(out), "--no-progress", *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()  # nothing ran, nothing was written


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--walk-forward", "0"], "--walk-forward: 0 must be >= 1"),
        (["--ci", "1"], "--ci: 1 must be between 0 and 1"),
        (["--bootstrap", "-5"], "--bootstrap: -5 must be >= 0"),
        (["--walk-forward", "2", "--select", "sharpe"], "invalid choice: 'sharpe'"),
    ],
)
def test_cli_bad_numbers_exit_2(
    tape: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--grid", str(_grid_file(tmp_path, tape)), *extra])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
