"""The replay fill model on hand-made tapes, checked against hand computation: displayed size, the remainder resting
on the following quotes, latency meeting the quote prevailing at arrival, Kalshi's fee rounding, slippage."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from replay_tape import created, ns, ticker, write_recording

from kalshikit.core.fees import FeeSchedule
from kalshikit.replay import Entry, replay

M = "KXTEST-26JAN01-T1"
PATHS = [pytest.param(False, id="fast"), pytest.param(True, id="frame-by-frame")]


def _entry(count: int = 1000, ms: float = 15) -> list[Entry]:
    return [Entry(M, ns(ms), "yes", count)]


@pytest.mark.parametrize("fbf", PATHS)
def test_exit_takes_displayed_size_and_rests_on_following_quotes(tmp_path: Path, fbf: bool) -> None:
    rec = write_recording(
        tmp_path,
        [
            (0, created(M)),
            (10, ticker(M, 10, 0.50, 0.52)),
            (100, ticker(M, 100, 0.46, 0.48, bid_size=4)),  # stop at 0.47 triggers; only 4 shown at 0.46
            (200, ticker(M, 200, 0.45, 0.48, bid_size=3)),
            (300, ticker(M, 300, 0.44, 0.48, bid_size=50)),
            (400, ticker(M, 400, 0.30, 0.48, bid_size=50)),
        ],
    )
    r = replay(rec, entries=_entry(), stop=0.05, frame_by_frame=fbf)
    assert len(r.trades) == 1
    t = r.trades.iloc[0]
    assert t["exit_reason"] == "stop_loss"
    assert t["entry_price"] == 0.52
    assert t["trigger_price"] == 0.46
    assert t["exit_attempts"] == 3
    # 4 @ 0.46, 3 @ 0.45, 3 @ 0.44 -> average 0.451
    assert t["exit_price"] == pytest.approx(0.451)
    g = r.gaps
    assert list(g["filled"]) == [4.0, 3.0, 3.0]
    assert list(g["fill_price"]) == [0.46, 0.45, 0.44]
    assert list(g["first_executable_bid"]) == [0.46, 0.45, 0.44]
    assert list(g["arrival_ts"]) == [pd.Timestamp(ns(x), unit="ns", tz="UTC") for x in (100, 200, 300)]
    # Kalshi taker fee 0.07 * C * P * (1 - P), rounded up to $0.0001, per fill:
    assert list(g["fee"]) == [0.0696, 0.0520, 0.0518]  # 0.069552, 0.051975, 0.051744
    entry_fee = 0.1748  # 0.07 * 10 * 0.52 * 0.48 = 0.17472
    assert t["fees"] == pytest.approx(entry_fee + 0.0696 + 0.0520 + 0.0518)
    assert t["pnl"] == pytest.approx((0.451 - 0.52) * 10 - t["fees"])
    assert t["slippage"] == pytest.approx(0.46 - 0.451)


@pytest.mark.parametrize("fbf", PATHS)
def test_latency_meets_the_quote_prevailing_at_arrival(tmp_path: Path, fbf: bool) -> None:
    rec = write_recording(
        tmp_path,
        [
            (0, created(M)),
            (10, ticker(M, 10, 0.50, 0.52)),
            (100, ticker(M, 100, 0.46, 0.48)),  # trigger; the order arrives at 350 ms
            (200, ticker(M, 200, 0.43, 0.48)),
            (300, ticker(M, 300, 0.41, 0.48)),  # the book at arrival
            (400, ticker(M, 400, 0.49, 0.51)),
        ],
    )
    r = replay(rec, entries=_entry(), stop=0.05, latency_ms=250, frame_by_frame=fbf)
    g = r.gaps.iloc[0]
    assert g["decided_ts"] == pd.Timestamp(ns(100), unit="ns", tz="UTC")
    assert g["arrival_ts"] == pd.Timestamp(ns(350), unit="ns", tz="UTC")
    assert g["trigger_price"] == 0.46
    assert g["first_executable_bid"] == 0.41
    assert g["fill_price"] == 0.41
    assert g["slippage"] == pytest.approx(0.05)
    t = r.trades.iloc[0]
    assert t["exit_price"] == 0.41
    assert t["slippage"] == pytest.approx(0.05)
    # Without latency the same tape fills at the triggering quote.
    r0 = replay(rec, entries=_entry(), stop=0.05, frame_by_frame=fbf)
    assert r0.trades.iloc[0]["exit_price"] == 0.46


@pytest.mark.parametrize("fbf", PATHS)
def test_a_quote_received_exactly_at_arrival_is_the_one_met(tmp_path: Path, fbf: bool) -> None:
    rec = write_recording(
        tmp_path,
        [
            (0, created(M)),
            (10, ticker(M, 10, 0.50, 0.52)),
            (100, ticker(M, 100, 0.46, 0.48)),
            (350, ticker(M, 350, 0.40, 0.48)),  # received at the arrival time: it is the prevailing book
            (500, ticker(M, 500, 0.49, 0.51)),
        ],
    )
    r = replay(rec, entries=_entry(), stop=0.05, latency_ms=250, frame_by_frame=fbf)
    assert r.gaps.iloc[0]["fill_price"] == 0.40


def test_fees_with_fractional_contracts_and_cent_rounding(tmp_path: Path) -> None:
    rec = write_recording(
        tmp_path,
        [
            (0, created(M)),
            (10, ticker(M, 10, 0.15, 0.17)),
            (100, ticker(M, 100, 0.10, 0.17)),
            (200, ticker(M, 200, 0.1, 0.2)),
        ],
    )
    entry = [Entry(M, ns(15), "yes", 552)]  # 5.52 contracts
    r = replay(rec, entries=entry, stop=0.05)
    # entry: 0.07 * 5.52 * 0.17 * 0.83 = 0.0545210 -> 0.0546; exit: 0.07 * 5.52 * 0.10 * 0.90 = 0.034776 -> 0.0348
    assert r.trades.iloc[0]["fees"] == pytest.approx(0.0546 + 0.0348)
    cents = replay(rec, entries=entry, stop=0.05, fees=FeeSchedule(rounding="cent"))
    assert cents.trades.iloc[0]["fees"] == pytest.approx(0.06 + 0.04)  # each fee rounded up to a whole cent
    assert cents.trades.iloc[0]["pnl"] == pytest.approx((0.10 - 0.17) * 5.52 - 0.10)
