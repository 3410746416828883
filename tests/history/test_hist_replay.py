"""Replaying a downloaded history (1-minute candles) through the live monitor: the quotes each assumption makes of a
candle (worked out by hand), a market whose bid dips inside a minute and recovers (a stop fires under the
pessimistic assumption only, at the dip), the assumption stated in the summary, the CLI output and the HTML
report, and the refusals that say what to fix."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hist_testkit import (
    NS_PER_S,
    created_frame,
    history_settings,
    seed,
    settled_frames,
    ticker_frame,
    trade_frame,
    unique_series,
)

from kalshikit.errors import ConfigError
from kalshikit.history import download
from kalshikit.history.dataset import CANDLE_SCHEMA
from kalshikit.history.quotes import fill_assumption, market_quotes, replay_data
from kalshikit.replay import FirstTwoSided, replay
from kalshikit.sim import Simulator
from tests.conftest import scaled

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "recordings" / "sample"
M = 60 * NS_PER_S
POLICY = FirstTwoSided("yes", 1000)  # 10 contracts of YES at the first two-sided quote


def _candle(
    end_ns: int, bid: tuple[int | None, ...], ask: tuple[int | None, ...], **price: int | None
) -> dict[str, Any]:
    row = {"ticker": "KXT-1", "end_ns": end_ns}
    for side, v in (("yes_bid", bid), ("yes_ask", ask)):
        row.update(dict(zip((f"{side}_open", f"{side}_high", f"{side}_low", f"{side}_close"), v, strict=True)))
    row.update({f"price_{k}": v for k, v in price.items()})
    return row


def test_each_assumption_makes_three_quotes_a_minute() -> None:
    rows = [
        _candle(M, (5000, 5100, 4000, 4500), (5200, 5300, 5100, 5200), low=4100, high=4900, close=4800),
        _candle(2 * M, (4500, 4500, None, 4400), (5200, None, 4600, 4600), previous=4800),
    ]
    table = pa.Table.from_pylist(rows, schema=CANDLE_SCHEMA)
    p = market_quotes(table, "pessimistic")
    assert p.recv.tolist() == [0, 30 * NS_PER_S, M, M, M + 30 * NS_PER_S, 2 * M]
    assert p.bid.tolist() == [5000, 4000, 4500, 4500, -1, 4400]  # the adverse bid: low (None: the bid vanished)
    assert p.ask.tolist() == [5200, 5300, 5200, 5200, -1, 4600]  # with the ask high (None: $1, no ask)
    assert p.last.tolist() == [-1, 4100, 4800, 4800, 4800, 4800]  # nothing traded before; then carried
    assert set(p.bid_size.tolist()) == set(p.ask_size.tolist()) == {-1}  # sizes unknown
    o = market_quotes(table, "optimistic")
    assert o.bid.tolist() == [5000, 5100, 4500, 4500, 4500, 4400]
    assert o.ask.tolist() == [5200, 5100, 5200, 5200, 4600, 4600]  # the favourable pair may cross
    assert o.last.tolist() == [-1, 4900, 4800, 4800, 4800, 4800]
    with pytest.raises(ConfigError, match="pessimistic or optimistic"):
        market_quotes(table, "midpoint")


@pytest.fixture(scope="module")
def dip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, int]]:
    """A settled market (result NO): YES 0.50/0.52; in minute 2 the bid dips to 0.30 for 30 s and recovers; in
    minute 5 it rallies to 0.65 for 30 s, back to 0.55. Downloaded through the kit from a simulator."""
    series = unique_series()
    event = f"{series}-26NOV20"
    t = f"{event}-A"
    o = int(time.time()) // 60 * 60 - 2 * 86_400
    frames = [created_frame(t, event, o, o + 600)]
    for s, bid in ((5, 5000), (70, 3000), (100, 5000), (250, 6500), (280, 5500), (590, 5500)):
        frames.append(ticker_frame(t, (o + s) * 1000, bid, bid + 200))
    frames += [trade_frame(t, (o + 75) * 1000, 3100, 500, "no"), trade_frame(t, (o + 255) * 1000, 6600, 300)]
    frames += settled_frames(t, o + 600, "no")
    with Simulator() as sim:
        seed(sim, frames)
        out = tmp_path_factory.mktemp("dip") / "h"
        report = download(out, series=series, settings=history_settings(sim), progress=False)
        assert report.complete == 1 and report.candles == 10
    yield out, t, o


def test_a_dip_inside_a_minute_stops_out_only_when_pessimistic(dip: tuple[Path, str, int]) -> None:
    out, t, o = dip
    rules = {"stop": 0.10, "take_profit": 0.10}  # stop at 0.42, take profit at 0.62 (entry at the ask, 0.52)
    pess = replay(out, policy=POLICY, **rules)
    (trade,) = pess.trades.itertuples()
    assert (trade.ticker, trade.entry_price, trade.entry_ts.value) == (t, 0.52, o * NS_PER_S)
    assert (trade.exit_reason, trade.exit_price, trade.exit_ts.value) == ("stop_loss", 0.30, (o + 90) * NS_PER_S)
    entry_fee = 0.1748  # 0.07 x 10 x 0.52 x 0.48 = 0.17472, rounded up to $0.0001
    assert trade.result == "no" and trade.hold_pnl == pytest.approx(-5.2 - entry_fee)  # held: 10 x 0.52 lost
    opt = replay(out, policy=POLICY, candles="optimistic", **rules)
    (trade,) = opt.trades.itertuples()
    assert (trade.exit_reason, trade.exit_price, trade.exit_ts.value) == ("take_profit", 0.65, (o + 270) * NS_PER_S)
    for res, name in ((pess, "pessimistic"), (opt, "optimistic")):
        assert res.summary["resolution"] == "1-minute candles" == res.settings["resolution"]
        assert res.summary["fill_assumption"] == fill_assumption(name) and res.settings["candles"] == name
        assert "1-minute candles" in repr(res)
    held = replay(out, policy=POLICY, candles="optimistic", stop=0.25)  # never reached: held to the NO result
    (trade,) = held.trades.itertuples()
    assert (trade.exit_reason, trade.pnl) == ("settlement", pytest.approx(-5.2 - entry_fee))


def test_recordings_state_their_tick_resolution_and_refuse_candles() -> None:
    res = replay(SAMPLE, policy=POLICY, stop=0.05)
    assert res.summary["resolution"].startswith("tick") and "top of book" in res.summary["fill_assumption"]
    with pytest.raises(ConfigError, match="applies to history datasets"):
        replay(SAMPLE, policy=POLICY, stop=0.05, candles="pessimistic")


def test_history_and_recordings_do_not_mix(dip: tuple[Path, str, int]) -> None:
    with pytest.raises(ConfigError, match="not both"):
        replay([dip[0], SAMPLE], policy=POLICY, stop=0.05)
    with pytest.raises(ConfigError, match="choose pessimistic or optimistic"):
        replay(dip[0], policy=POLICY, stop=0.05, candles="worst")
    data = replay_data(dip[0], "optimistic")
    assert data.candles == "optimistic" and data.ticks == 30
    assert replay(data, policy=POLICY, stop=0.10).summary["fill_assumption"] == fill_assumption("optimistic")


def test_replay_cli_and_report_state_the_assumption(dip: tuple[Path, str, int], tmp_path: Path) -> None:
    out, _t, _o = dip
    trades, html = tmp_path / "trades.csv", tmp_path / "report.html"
    args = [str(out), "--policy", "first-two-sided:yes:10", "--stop-loss", "0.10", "--candles", "optimistic"]
    p = subprocess.run(
        [sys.executable, "-m", "kalshikit.replay", *args, "--out", str(trades), "--html", str(html)],
        capture_output=True,
        text=True,
        timeout=scaled(120),
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    assert "data              1-minute candles" in p.stdout
    assert f"fills             {fill_assumption('optimistic')}" in p.stdout
    page = html.read_text()
    assert "1-minute candles" in page and "favourable extreme" in page
    args = [str(SAMPLE), "--policy", "first-two-sided", "--candles", "optimistic", "--out", str(tmp_path / "x.csv")]
    bad = subprocess.run(
        [sys.executable, "-m", "kalshikit.replay", *args],
        capture_output=True,
        text=True,
        timeout=scaled(120),
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "applies to history datasets" in bad.stderr
