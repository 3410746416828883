"""Rules that could not be armed are never silent in replay and sweeps: counted per run and per sweep row (decisions
kept or not), flagged when most positions went unprotected, printed by the CLI and shown in the HTML report;
exits fired the moment the rules were armed are counted too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from kalshikit.replay import FirstTwoSided, replay
from kalshikit.replay.report import replay_report
from kalshikit.replay.sweep import sweep
from tests.conftest import scaled

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "recordings" / "sample"
POLICY = FirstTwoSided("yes", 1000)


def _entry_prices(r: object) -> list[float]:
    frames = [r.trades, r.open_positions]  # type: ignore[attr-defined]
    return [p for f in frames if len(f) for p in f["entry_price"]]


@pytest.mark.parametrize("keep_decisions", [True, False])
def test_a_stop_below_zero_is_counted_on_exactly_the_positions_it_misses(keep_decisions: bool) -> None:
    r = replay(SAMPLE, policy=POLICY, stop=0.45, keep_decisions=keep_decisions)
    prices = _entry_prices(r)
    below = sum(1 for p in prices if p - 0.45 < 0)  # the stop would sit below $0: rejected
    assert 0 < below < len(prices)
    s = r.summary
    assert (s["positions"], s["rules_rejected"]) == (len(prices), below)
    assert s["rules_armed_share"] == pytest.approx((len(prices) - below) / len(prices))
    assert s["rules_mostly_rejected"] is False
    assert any(w.startswith("rules could not be armed on 1 of 5") and "below $0" in w for w in s["warnings"])
    if keep_decisions:
        rejected = r.decisions[r.decisions["kind"] == "rules_rejected"]
        assert rejected["position_id"].nunique() == below


def test_a_setting_unarmed_on_most_positions_is_flagged() -> None:
    s = replay(SAMPLE, policy=POLICY, stop=0.9, take_profit=0.05).summary
    assert (s["rules_rejected"], s["positions"], s["rules_armed_share"]) == (5, 5, 0.0)
    assert s["rules_mostly_rejected"] is True
    assert s["warnings"][0].startswith("MOST POSITIONS UNPROTECTED")


def test_a_take_profit_beyond_one_dollar_is_not_a_rejection() -> None:
    s = replay(SAMPLE, policy=POLICY, stop=0.05, take_profit=0.95).summary
    assert (s["rules_rejected"], s["rules_armed_share"], s["warnings"]) == (0, 1.0, [])


def test_without_rules_there_is_no_share_to_speak_of() -> None:
    s = replay(SAMPLE, policy=POLICY).summary
    assert (s["rules_rejected"], s["rules_armed_share"], s["rules_mostly_rejected"]) == (0, None, False)


def test_exits_fired_at_entry_are_counted() -> None:
    r = replay(SAMPLE, policy=POLICY, stop=0.01)  # a one-cent stop under the ask: the bid is often already there
    t = r.trades
    at_entry = int(((t["trigger_ts"] == t["entry_ts"]) & (t["exit_reason"] == "stop_loss")).sum())
    assert 0 < at_entry < len(t)
    assert r.summary["fired_at_entry"] == at_entry
    assert replay(SAMPLE, policy=POLICY, stop=0.10).summary["fired_at_entry"] == 0


def test_every_sweep_row_counts_rejected_rules_and_best_leaves_flagged_rows_out() -> None:
    grid = {"stop": [0.05, 0.45, 0.9]}
    res = sweep(SAMPLE, grid, policy=POLICY, executor="serial", out_dir=None, bootstrap=0)
    table = res.table.set_index("stop")
    for stop in grid["stop"]:
        direct = replay(SAMPLE, policy=POLICY, stop=stop).summary
        for k in ("positions", "rules_rejected", "rules_armed_share", "rules_mostly_rejected", "fired_at_entry"):
            assert table.loc[stop, k] == direct[k], (stop, k)
    assert table.loc[0.9, "rules_mostly_rejected"] and "below $0" in table.loc[0.9, "rules_rejected_example"]
    assert list(res.flagged["stop"]) == [0.9]
    assert 0.9 not in set(res.best()["stop"]) and 0.9 in set(res.best(unprotected=True)["stop"])


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "kalshikit.replay", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=scaled(120), cwd=ROOT)


def test_the_cli_prints_rejected_rules(tmp_path: Path) -> None:
    p = _run(SAMPLE, "--policy", "first-two-sided", "--stop-loss", "0.9", "--out", tmp_path / "t.csv")
    assert p.returncode == 0, p.stderr
    assert "rules armed       0.0% of 5 position(s) (rejected on 5; fired at entry 0)" in p.stdout
    assert "warning: MOST POSITIONS UNPROTECTED: rules could not be armed on 5 of 5" in p.stdout
    grid = tmp_path / "g.toml"
    grid.write_text(f"[data]\nsources = ['{SAMPLE}']\n[grid]\nstop = [0.05, 0.9]\n")
    p = _run("sweep", "--grid", grid, "--out", tmp_path / "res", "--workers", "1", "--no-progress", "--bootstrap", "0")
    assert p.returncode == 0, p.stderr
    assert "warning: 1 setting(s) could not arm their rules on some positions" in p.stdout
    assert "setting 1 (stop=0.9): 5 of 5 position(s)" in p.stdout
    saved = pd.read_csv(next((tmp_path / "res").glob("g-*.csv")))
    assert list(saved["rules_rejected"]) == [0, 5] and list(saved["rules_mostly_rejected"]) == [False, True]


def test_the_html_report_shows_rejected_rules(tmp_path: Path) -> None:
    r = replay(SAMPLE, policy=POLICY, stop=0.9)
    text = replay_report(r, SAMPLE, tmp_path / "r.html").read_text()
    assert "MOST POSITIONS UNPROTECTED" in text
    assert "positions with every rule armed</td>" in text and "<td>0.0%</td>" in text
    assert "positions with a rule that could not be armed</td>" in text
