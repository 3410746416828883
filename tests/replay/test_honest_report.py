"""An honest report and honest inputs: the HTML report says what produced it (sources, rules, latency, fill model,
date range), shows money in $ and rates in %, the trades and slippage's sign; every bad row of an entries table and
every entry whose market is missing from the data is reported; the same recording given twice is read once (a copy
is refused), in replay and sweep, from Python and the CLI; the README's commands write outside the repository or
under the ignored backtest/results/."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from kalshikit.errors import ConfigError
from kalshikit.recording.columnar import to_parquet
from kalshikit.replay import FirstTwoSided, replay
from kalshikit.replay.entries import load_entries
from kalshikit.replay.report import replay_report
from kalshikit.replay.sweep import sweep
from tests.conftest import scaled

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "recordings" / "sample"
POLICY = FirstTwoSided("yes", 1000)


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "kalshikit.replay", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=scaled(120), cwd=ROOT)


# ---------------------------------------------------------------------------- the report
def test_the_report_says_what_produced_it_and_formats_money_and_rates(tmp_path: Path) -> None:
    r = replay(SAMPLE, policy=POLICY, stop=0.05, take_profit=0.10, latency_ms=250)
    text = replay_report(r, SAMPLE, tmp_path / "r.html").read_text()
    assert f"<td>{SAMPLE}</td>" in text  # sources
    assert "SL 0.0500 from entry, TP 0.1000 from entry" in text  # rules
    assert "<td>250 ms</td>" in text  # latency
    assert "exits fill at the displayed top of book" in text  # fill model
    first = pd.Timestamp(r.stats["first_ns"], unit="ns", tz="UTC")
    last = pd.Timestamp(r.stats["last_ns"], unit="ns", tz="UTC")
    assert f"<td>{first}</td>" in text and f"<td>{last}</td>" in text  # date range
    assert first.strftime("%Y-%m-%d") == "2026-05-11"
    pnl = r.summary["pnl"]
    shown = f"-${-pnl:,.2f}" if pnl < 0 else f"${pnl:,.2f}"
    assert f"<td>net P&amp;L</td>\n      <td>{shown}</td>" in text
    assert f"<td>win rate</td>\n      <td>{r.summary['win_rate']:.1%}</td>" in text
    # The trades table, one row per trade, prices in $, and the sign of slippage explained.
    trades = text[text.index("<h2>Trades</h2>") :]
    trades = trades[: trades.index("</table>")]
    assert trades.count("<tr>") == len(r.trades)  # one body row per trade (the header row has a style)
    for t in r.trades.itertuples(index=False):
        assert f"<td>{t.ticker}</td>" in trades and f"<td>{t.exit_reason}</td>" in trades
    assert "slippage = trigger price − exit price, own side: positive = the exit sold below" in text
    entry = r.trades["entry_price"].iloc[0]
    assert f"<td>${entry:.4f}</td>" in text


# ---------------------------------------------------------------------------- entries
def test_every_bad_row_of_an_entries_csv_is_reported_at_once(tmp_path: Path) -> None:
    csv = tmp_path / "e.csv"
    csv.write_text(
        "ticker,entry_time,side,count,entry_price\n"
        "KXA,2026-05-11T14:00:00Z,maybe,1,0.5\n"  # row 1: bad side
        "KXA,2026-05-11T14:00:01Z,yes,1,0.5\n"  # row 2: fine
        "KXB,soon,yes,ten,0.5\n"  # row 3: bad time and bad count
        ",2026-05-11T14:00:02Z,no,1,1.5\n"  # row 4: empty ticker and bad price
    )
    with pytest.raises(ConfigError) as err:
        load_entries(csv)
    message = str(err.value)
    assert message.startswith("3 bad rows in the entries table (nothing was replayed; fix each)")
    assert "entries row 1: side 'maybe' must be yes or no" in message
    assert "entries row 3: entry_time 'soon' is not a time" in message and "count 'ten' is not a number" in message
    assert "entries row 4: ticker is empty; entry_price 1.5 must be a price strictly between 0 and 1" in message
    assert "row 2" not in message
    p = _run(SAMPLE, "--entries", csv, "--out", tmp_path / "t.csv")
    assert p.returncode == 2 and "entries row 4: ticker is empty" in p.stderr and "entries row 1:" in p.stderr
    assert not (tmp_path / "t.csv").exists()


def test_an_entry_whose_market_is_not_in_the_data_is_reported(tmp_path: Path) -> None:
    first = replay(SAMPLE, policy=POLICY, stop=0.05).trades.iloc[0]
    csv = tmp_path / "e.csv"
    csv.write_text(
        "ticker,entry_time,side,count\n"
        f"{first['ticker']},{first['entry_ts'].isoformat()},yes,1\n"
        f"KXNOPE-26MAY11-X,{first['entry_ts'].isoformat()},yes,1\n"
    )
    r = replay(SAMPLE, entries=csv, stop=0.05)
    assert list(r.skipped["ticker"]) == ["KXNOPE-26MAY11-X"] and r.summary["entries_skipped"] == 1
    reason = r.skipped["reason"].iloc[0]
    assert reason == "not in the data: check the ticker, or add the recording that has this market"
    assert any("KXNOPE-26MAY11-X" in w and reason in w for w in r.summary["warnings"])
    text = replay_report(r, SAMPLE, tmp_path / "r.html").read_text()
    assert "<h2>Entries not replayed</h2>" in text and "<td>KXNOPE-26MAY11-X</td>" in text
    p = _run(SAMPLE, "--entries", csv, "--stop-loss", "0.05", "--out", tmp_path / "t.csv")
    assert p.returncode == 0, p.stderr
    assert "warning: 1 entry not replayed: KXNOPE-26MAY11-X at" in p.stdout and "check the ticker" in p.stdout


# ---------------------------------------------------------------------------- the same data twice
@pytest.fixture(scope="module")
def pq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pq") / "sample.parquet"
    to_parquet([SAMPLE], out)
    return out


def test_the_same_file_named_twice_is_read_once(pq: Path) -> None:
    once = replay(pq, policy=POLICY, stop=0.05)
    twice = replay([pq, pq], policy=POLICY, stop=0.05)
    assert twice.stats["ticks"] == once.stats["ticks"]
    pd.testing.assert_frame_equal(twice.trades, once.trades)
    files = sorted(SAMPLE.glob("*.jsonl.gz"))
    for sources in ([SAMPLE, SAMPLE], [SAMPLE, *files], [SAMPLE, Path(str(SAMPLE) + "/")]):
        r = replay(sources, policy=POLICY, stop=0.05)
        assert r.stats["ticks"] == replay(SAMPLE, policy=POLICY, stop=0.05).stats["ticks"]
    res = sweep([pq, pq], {"stop": [0.05]}, policy=POLICY, executor="serial", out_dir=None, bootstrap=0)
    assert res.table["pnl"].iloc[0] == pytest.approx(once.summary["pnl"])
    assert res.table["trades"].iloc[0] == once.summary["trades"]


def test_a_copy_of_the_same_recording_is_refused(pq: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(SAMPLE, copy)
    pq_copy = tmp_path / "again.parquet"
    shutil.copy(pq, pq_copy)
    for sources in ([SAMPLE, copy], [pq, pq_copy]):
        with pytest.raises(ConfigError, match=r"hold the same data \(a copy\?\).*give each recording once"):
            replay(sources, policy=POLICY, stop=0.05)
        with pytest.raises(ConfigError, match="hold the same data"):
            sweep(sources, {"stop": [0.05]}, policy=POLICY, executor="serial", out_dir=None)
    p = _run(SAMPLE, copy, "--policy", "first-two-sided", "--out", tmp_path / "t.csv")
    assert p.returncode == 2 and "hold the same data" in p.stderr
    grid = tmp_path / "g.toml"
    grid.write_text(f"[data]\nsources = ['{SAMPLE}', '{copy}']\n[grid]\nstop = [0.05]\n")
    p = _run("sweep", "--grid", grid, "--out", tmp_path / "res", "--workers", "1", "--no-progress")
    assert p.returncode == 2 and "hold the same data" in p.stderr


# ---------------------------------------------------------------------------- the README's commands
def test_the_readme_commands_write_outside_the_repository() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    outputs = [m for b in blocks for m in re.findall(r"--(?:out|html|record)\s+(\S+)", b)]
    assert len(outputs) >= 8
    inside = [o for o in outputs if not o.startswith(("/", "~", "backtest/results", "$"))]
    assert not inside, f"README commands write into the repository: {inside}"
