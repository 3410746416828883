"""Reports: the price path with the levels the monitor used (the trailing stop as it ratcheted), equity and
drawdown, the sweep heatmap, the gap report, and standalone HTML."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from replay_tape import created, ns, ticker, write_recording

from kalshikit.errors import ConfigError
from kalshikit.replay import Entry, FirstTwoSided, replay
from kalshikit.replay import report as rp
from kalshikit.replay.results import equity_curve
from kalshikit.replay.sweep import sweep

M = "KXTEST-26JAN01-T1"
N = "KXTEST-26JAN01-T2"


@pytest.fixture
def tape(tmp_path: Path) -> Path:
    bids = [0.50, 0.55, 0.53, 0.60, 0.57, 0.54, 0.40]
    rows = [(0, created(M)), (0, created(N))]
    rows += [((i + 1) * 100, ticker(M, (i + 1) * 100, b, b + 0.02)) for i, b in enumerate(bids)]
    rows += [(50, ticker(N, 50, 0.30, 0.32)), (150, ticker(N, 150, 0.45, 0.47)), (800, ticker(N, 800, 0.2, 0.22))]
    return write_recording(tmp_path, sorted(rows, key=lambda r: r[0]))


def _run(tape: Path) -> object:
    return replay(
        tape,
        entries=[Entry(M, ns(110), "yes", 1000), Entry(N, ns(60), "yes", 500)],
        stop=0.10,
        trailing=0.05,
        take_profit=0.12,
    )


def test_levels_come_from_the_monitor_and_the_trailing_stop_ratchets(tape: Path) -> None:
    r = _run(tape)
    prices, levels = rp.market_levels(r, tape, M)
    assert len(prices) == 7
    armed = levels[levels["state"] == "armed"]
    # entry 0.52 (ask at 100 ms): stop-loss 0.42, take-profit 0.64; the trailing stop sits 0.05 below the best bid
    # seen while the position is held: 0.55 -> 0.50, 0.60 -> 0.55 (and never moves down).
    trailing = armed["trailing_level"].dropna()
    assert list(trailing)[-2:] == pytest.approx([0.50, 0.55])
    assert np.all(np.diff(trailing.to_numpy()) >= 0)
    held = armed[armed["trailing_peak"].notna()]
    assert list(held["trailing_level"]) == pytest.approx(list(held["trailing_peak"] - 0.05))
    assert list(armed["take_profit"]) == pytest.approx([0.64] * len(armed))
    assert armed["stop"].iloc[0] >= 0.42 - 1e-9  # never below the stop-loss
    assert np.all(np.diff(armed["stop"].to_numpy()) >= 0)  # a stop only ever moves up
    trigger = r.decisions[(r.decisions["ticker"] == M) & (r.decisions["kind"] == "trigger")].iloc[0]
    assert trigger["trigger"] == "trailing_stop"
    assert trigger["level"] == pytest.approx(armed["trailing_level"].iloc[-1])  # the level the monitor fired on
    fig = rp.price_path(r, tape, M)
    assert isinstance(fig, go.Figure)
    names = [t.name for t in fig.data]
    for want in ("YES bid", "YES ask", "stop (effective)", "trailing stop", "take-profit", "entry", "trigger"):
        assert want in names
    assert "exit: trailing_stop" in names
    trail = next(t for t in fig.data if t.name == "trailing stop")
    assert {round(v, 4) for v in trail.y if v == v} == {round(v, 4) for v in trailing}
    exit_trace = next(t for t in fig.data if t.name == "exit: trailing_stop")
    assert list(exit_trace.y) == [0.54]


def test_equity_and_gap_report(tape: Path) -> None:
    r = _run(tape)
    fig = rp.equity_figure(r)
    curve = equity_curve(r.trades)
    eq = next(t for t in fig.data if t.name == "equity")
    dd = next(t for t in fig.data if t.name == "drawdown")
    assert list(eq.y) == pytest.approx(list(curve["equity"]))
    assert list(dd.y) == pytest.approx(list(curve["drawdown"]))
    assert min(dd.y) == pytest.approx(r.summary["max_drawdown"])
    table = rp.gap_table(r)
    assert list(table.columns) == rp.GAP_TABLE_COLUMNS
    assert len(table) == r.summary["exit_orders"] > 0
    row = table[table["ticker"] == M].iloc[0]
    assert (row["trigger_price"], row["first_executable_bid"], row["fill_price"]) == (0.54, 0.54, 0.54)
    assert row["fee"] == pytest.approx(0.1739)  # 0.07 * 10 * 0.54 * 0.46 = 0.17388 -> 0.1739
    gf = rp.gap_figure(r)
    assert {t.name for t in gf.data} >= set(table["trigger"])


def test_sweep_heatmap_shows_the_table(tape: Path) -> None:
    res = sweep(
        tape,
        {"stop": [0.05, 0.10], "take_profit": [None, 0.05], "trigger_source": ["bid", "mid"]},
        policy=FirstTwoSided("yes", 1000),
        executor="serial",
        out_dir=None,
    )
    fig = rp.sweep_heatmap(res, where={"trigger_source": "bid"})
    hm = fig.data[0]
    assert list(hm.x) == ["0.05", "0.1"]
    assert list(hm.y) == ["off", "0.05"]
    t = res.table[res.table["trigger_source"] == "bid"]
    want = t[(t["stop"] == 0.10) & (t["take_profit"] == 0.05)]["pnl"].iloc[0]
    assert hm.z[1][1] == pytest.approx(want)
    mean = rp.sweep_heatmap(res, agg="mean")
    both = res.table[(res.table["stop"] == 0.05) & res.table["take_profit"].isna()]["pnl"].mean()
    assert mean.data[0].z[0][0] == pytest.approx(both)
    assert "mean over trigger_source" in mean.layout.title.text
    with pytest.raises(ConfigError, match="no column 'trailing'"):
        rp.sweep_heatmap(res, y="trailing")
    with pytest.raises(ConfigError, match="agg must be"):
        rp.sweep_heatmap(res, agg="mode")


def test_html_files_are_standalone(tape: Path, tmp_path: Path) -> None:
    r = _run(tape)
    out = rp.replay_report(r, tape, tmp_path / "report.html")
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("Plotly.newPlot") == 2 + 2  # equity, gaps, and one price path per traded market
    assert "plotly.js" in text or "Plotly" in text  # the library is inlined: no network needed
    assert "<table" in text and M in text
    p = rp.save_html([go.Figure(), pd.DataFrame({"a": [1.5]}), "heading"], tmp_path / "x.html", title="t")
    assert "<h2>heading</h2>" in p.read_text()
