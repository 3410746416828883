"""``python -m kalshikit.replay`` (replay and sweep) run as subprocesses: outputs, and exit code 2 with a message
saying what to fix on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from kalshikit.replay.results import TRADE_COLUMNS
from tests.conftest import scaled

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "recordings" / "sample"


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kalshikit.replay", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=scaled(120),
        cwd=cwd or ROOT,
    )


def test_replay_writes_trades_report_and_prints_the_summary(tmp_path: Path) -> None:
    results = tmp_path / "results.csv"
    results.write_text("ticker,result\nNOT-IN-DATA,yes\n")
    p = run(
        SAMPLE,
        "--policy",
        "first-two-sided:yes:5",
        "--stop-loss",
        "0.05",
        "--trailing",
        "0.02",
        "--take-profit",
        "0.15",
        "--trigger-source",
        "mid",
        "--latency-ms",
        "250",
        "--results",
        results,
        "--out",
        tmp_path / "out" / "trades.csv",
        "--html",
        tmp_path / "report.html",
    )
    assert p.returncode == 0, p.stderr
    trades = pd.read_csv(tmp_path / "out" / "trades.csv")
    assert list(trades.columns) == TRADE_COLUMNS
    assert len(trades) == 5 and set(trades["count"]) == {5.0}
    assert f"trades            {len(trades)}" in p.stdout
    assert f"net P&L           ${trades['pnl'].sum():,.2f}" in p.stdout
    assert "Plotly.newPlot" in (tmp_path / "report.html").read_text()


def test_replay_with_an_entries_file(tmp_path: Path) -> None:
    entries = tmp_path / "entries.csv"
    entries.write_text("ticker,entry_time,side,count\nKXSYNFED-26MAY111408-M25-03,2026-05-11T14:01:00Z,no,3\n")
    p = run(SAMPLE, "--entries", entries, "--stop-loss", "0.10", "--out", tmp_path / "t.csv", "--json")
    assert p.returncode == 0, p.stderr
    assert '"trades": 1' in p.stdout
    assert pd.read_csv(tmp_path / "t.csv")["side"].tolist() == ["no"]


BAD = [
    (["--policy", "first-two-sided", "--take-profit", "0.123456"], "has more precision than $0.0001"),
    (["--policy", "first-two-sided:maybe"], "the side must be yes or no"),
    (["--policy", "first-two-sided:yes:0"], "COUNT must be a positive number of contracts"),
    (["--policy", "lottery"], "the policy is first-two-sided[:yes|no[:COUNT]]"),
    (["--policy", "first-two-sided", "--latency-ms", "-3"], "must be a number of milliseconds >= 0"),
    (["--policy", "first-two-sided", "--trailing-activation", "0.02"], "--trailing-activation needs --trailing"),
    (["--stop-loss", "0.1"], "one of the arguments --entries --policy is required"),
    (["--entries", "missing.csv"], "entries file 'missing.csv' does not exist"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_replay_input_exits_2_and_says_what_to_fix(tmp_path: Path, args: list[str], message: str) -> None:
    p = run(SAMPLE, *args, "--out", tmp_path / "t.csv")
    assert p.returncode == 2
    assert message in p.stderr
    assert not (tmp_path / "t.csv").exists()


def test_bad_price_and_missing_source_exit_2(tmp_path: Path) -> None:
    p = run(SAMPLE, "--policy", "first-two-sided", "--stop-loss", "1.5", "--out", tmp_path / "t.csv")
    assert p.returncode == 2
    assert "1.5 must be a dollar amount between 0 and 1" in p.stderr
    p = run(tmp_path / "nope.jsonl.gz", "--policy", "first-two-sided", "--out", tmp_path / "t.csv")
    assert p.returncode == 2
    assert "source" in p.stderr and "nope.jsonl.gz' does not exist" in p.stderr
    bad_entries = tmp_path / "e.csv"
    bad_entries.write_text("ticker,entry_time,side,count\nX,2026-05-11T14:00:00Z,sideways,1\n")
    p = run(SAMPLE, "--entries", bad_entries, "--out", tmp_path / "t.csv")
    assert p.returncode == 2
    assert "entries row 1: side 'sideways' must be yes or no" in p.stderr


def test_sweep_cli(tmp_path: Path) -> None:
    grid = tmp_path / "g.toml"
    grid.write_text(
        f"[data]\nsources = ['{SAMPLE}']\n[entries]\ncount = 2\n"
        "[grid]\nstop = [0.05, 0.1]\ntake_profit = ['none', 0.1]\ntrailing = ['none', 0.03]\n"
    )
    p = run(
        "sweep",
        "--grid",
        grid,
        "--out",
        tmp_path / "res",
        "--html",
        tmp_path / "heat.html",
        "--workers",
        "2",
        "--no-progress",
    )
    assert p.returncode == 0, p.stderr
    assert "8 settings in" in p.stdout
    csv = list((tmp_path / "res").glob("g-*.csv"))
    assert len(csv) == 1 and len(list((tmp_path / "res").glob("g-*.parquet"))) == 1
    table = pd.read_csv(csv[0])
    assert len(table) == 8
    best = table.sort_values("pnl", ascending=False).iloc[0]
    assert f"{best['pnl']:.4f}".rstrip("0") in p.stdout
    assert "Plotly.newPlot" in (tmp_path / "heat.html").read_text()


def test_bad_sweep_input_exits_2(tmp_path: Path) -> None:
    grid = tmp_path / "g.toml"
    grid.write_text("[grid]\nstop = [0.05]\nstop_los = [0.1]\n")
    p = run("sweep", SAMPLE, "--grid", grid)
    assert p.returncode == 2
    assert "unknown key(s) ['stop_los'] in [grid]" in p.stderr
    p = run("sweep", SAMPLE, "--grid", tmp_path / "none.toml")
    assert p.returncode == 2
    assert "grid file" in p.stderr and "does not exist" in p.stderr
    grid.write_text("[grid]\nstop = [0.05]\n")
    p = run("sweep", "--grid", grid)
    assert p.returncode == 2
    assert "no sources" in p.stderr
