"""Settlement (from lifecycle frames and from a results file), marking open positions, the trades table columns and
the summary math (win rate, max drawdown, hold P&L) against hand computation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from replay_tape import created, lifecycle, ns, ticker, write_recording

from kalshikit.errors import ConfigError
from kalshikit.replay import Entry, replay
from kalshikit.replay.outcomes import load_results
from kalshikit.replay.results import TRADE_COLUMNS

A, B, C, D = (f"KXTEST-26JAN01-{x}" for x in "ABCD")


@pytest.fixture
def tape(tmp_path: Path) -> Path:
    return write_recording(
        tmp_path,
        [
            *((0, created(t)) for t in (A, B, C, D)),
            (10, ticker(A, 10, 0.48, 0.50)),
            (10, ticker(B, 10, 0.28, 0.30)),
            (10, ticker(C, 10, 0.58, 0.60)),
            (10, ticker(D, 10, 0.18, 0.20)),
            (100, ticker(A, 100, 0.44, 0.46)),  # A: stop 0.45 -> sells at 0.44
            (200, ticker(B, 200, 0.41, 0.43)),  # B: take-profit 0.40 -> sells at 0.41
            (250, ticker(D, 250, 0.25, 0.27)),  # D: nothing; last bid 0.25
            (300, lifecycle(C, "determined", result="yes", settlement_value="1.0000")),
            (310, lifecycle(C, "settled")),
        ],
    )


ENTRIES = [Entry(t, ns(15), "yes", 1000) for t in (A, B, C, D)]
# Hand computation (fees: 0.07 * C * P * (1 - P) per fill, rounded up to $0.0001):
PNL_A = (0.44 - 0.50) * 10 - (0.1750 + 0.1725)  # entry 0.175, exit 0.17248
PNL_B = (0.41 - 0.30) * 10 - (0.1470 + 0.1694)  # entry 0.147, exit 0.16933
PNL_C = (1.00 - 0.60) * 10 - 0.1680  # settled YES; entry 0.168, no fee on settlement
PNL_D = (0.00 - 0.20) * 10 - 0.1120  # settled NO by the results file; entry 0.112


def test_lifecycle_settles_and_open_positions_are_marked(tape: Path) -> None:
    r = replay(tape, entries=ENTRIES, stop=0.05, take_profit=0.10)
    assert list(r.trades.columns) == TRADE_COLUMNS
    t = r.trades.set_index("ticker")
    assert list(r.trades["ticker"]) == [A, B, C]  # by exit time
    assert t.loc[A, "exit_reason"] == "stop_loss"
    assert t.loc[B, "exit_reason"] == "take_profit"
    assert t.loc[C, "exit_reason"] == "settlement"
    assert t.loc[C, "exit_price"] == 1.0
    assert t.loc[C, "result"] == "yes"
    assert t.loc[C, "exit_ts"] == pd.Timestamp(ns(310), unit="ns", tz="UTC")
    assert t.loc[A, "pnl"] == pytest.approx(PNL_A)
    assert t.loc[B, "pnl"] == pytest.approx(PNL_B)
    assert t.loc[C, "pnl"] == pytest.approx(PNL_C)
    assert t.loc[C, "hold_pnl"] == pytest.approx(PNL_C)  # held to settlement, so the same
    assert pd.isna(t.loc[A, "hold_pnl"])  # no result known for A
    # D has no result: it stays open, marked at its last bid.
    op = r.open_positions.iloc[0]
    assert op["ticker"] == D
    assert op["mark"] == 0.25
    assert op["unrealized"] == pytest.approx((0.25 - 0.20) * 10)
    s = r.summary
    assert s["trades"] == 3
    assert s["win_rate"] == pytest.approx(2 / 3)
    assert s["pnl"] == pytest.approx(PNL_A + PNL_B + PNL_C)
    # equity: -0.9475, -0.1639, 3.6681: the worst point below the running peak (floored at 0) is the first trade
    assert s["max_drawdown"] == pytest.approx(PNL_A)
    assert s["open_positions"] == 1
    assert s["open_unrealized"] == pytest.approx(0.5)
    assert s["exits_by_reason"] == {"stop_loss": 1, "take_profit": 1, "settlement": 1}
    assert s["hold_pnl"] == pytest.approx(PNL_C)
    assert s["average_slippage"] == pytest.approx(((0.44 - 0.44) + (0.41 - 0.41)) / 2)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_results_file_settles_what_the_data_leaves_open(tape: Path, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"results.{fmt}"
    if fmt == "csv":
        pd.DataFrame({"ticker": [D, A], "result": ["no", "yes"]}).to_csv(path, index=False)
    else:
        path.write_text(json.dumps({D: "no", A: "yes"}))
    results = load_results(path)
    assert results == {D: "no", A: "yes"}
    r = replay(tape, entries=ENTRIES, stop=0.05, take_profit=0.10, results=results)
    t = r.trades.set_index("ticker")
    assert len(r.open_positions) == 0
    assert t.loc[D, "exit_reason"] == "settlement"
    assert t.loc[D, "exit_price"] == 0.0
    assert t.loc[D, "pnl"] == pytest.approx(PNL_D)
    assert t.loc[D, "exit_ts"] == pd.Timestamp(ns(250), unit="ns", tz="UTC")  # at the end of D's data, before C
    assert t.loc[A, "hold_pnl"] == pytest.approx((1.0 - 0.50) * 10 - 0.1750)  # A would have paid out 1
    s = r.summary
    assert s["win_rate"] == pytest.approx(2 / 4)
    # by exit time A, B, D, C: equity -0.9475, -0.1639, -2.2759, 1.5561; the running peak stays at 0
    assert list(r.trades["ticker"]) == [A, B, D, C]
    assert s["max_drawdown"] == pytest.approx(PNL_A + PNL_B + PNL_D)
    assert s["hold_pnl"] == pytest.approx((1.0 - 0.50) * 10 - 0.1750 + PNL_C + PNL_D)
    assert s["pnl_where_hold_known"] == pytest.approx(PNL_A + PNL_C + PNL_D)


def test_results_file_errors_say_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_results(tmp_path / "none.csv")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"ticker": [A, B], "result": ["yes", "maybe"]}).to_csv(bad, index=False)
    with pytest.raises(ConfigError, match=r"results row 2 \(KXTEST-26JAN01-B\): result 'maybe' must be yes or no"):
        load_results(bad)
    pd.DataFrame({"ticker": [A], "outcome": ["yes"]}).to_csv(bad, index=False)
    with pytest.raises(ConfigError, match=r"lacks column\(s\) \['result'\]"):
        load_results(bad)
    pd.DataFrame({"ticker": [A], "result": ["scalar"], "settlement_value": [1.5]}).to_csv(bad, index=False)
    with pytest.raises(ConfigError, match=r"settlement_value 1.5 must lie in \$0..\$1"):
        load_results(bad)
    scalar = tmp_path / "scalar.csv"
    pd.DataFrame({"ticker": [A], "result": ["scalar"], "settlement_value": [0.37]}).to_csv(scalar, index=False)
    assert load_results(scalar) == {A: ("scalar", 3700)}
