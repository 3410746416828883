"""The simulator's history: minute candles built from quotes and trades (worked out by hand), the candlesticks
endpoint and its errors, live markets aggregated as they trade, and seeded past markets with their trades."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from hist_testkit import (
    NS_PER_S,
    created_frame,
    seed,
    served_trades,
    settled_frames,
    ticker_frame,
    trade_frame,
    unique_series,
)

from kalshikit.kalshi.rest import KalshiRest
from kalshikit.sim import Simulator
from kalshikit.sim.candles import CandleStore, minute_end_s
from tests.conftest import scaled

S = NS_PER_S


def _store() -> CandleStore:
    st = CandleStore()
    st.observe_quote("M", 10 * S, 4500, 4700, 1000)
    st.observe_trade("M", 20 * S, 4600, 200)
    st.observe_quote("M", 40 * S, 4300, 4600, 1300)
    st.observe_trade("M", 50 * S, 4400, 100)
    st.observe_quote("M", 170 * S, 4800, None, 1300)  # minute 3: the ask side empties
    return st


def _ohlc(c: dict[str, dict[str, str]], side: str) -> tuple[str, ...]:
    d = c[side]
    return d["open_dollars"], d["high_dollars"], d["low_dollars"], d["close_dollars"]


def test_minute_candles_by_hand() -> None:
    assert (minute_end_s(10 * S), minute_end_s(60 * S), minute_end_s(60 * S + 1)) == (60, 60, 120)
    c1, c2, c3 = _store().candles("M", 60, 180, 1, until_s=10_000)
    assert c1["end_period_ts"] == 60
    assert _ohlc(c1, "yes_bid") == ("0.4500", "0.4500", "0.4300", "0.4300")
    assert _ohlc(c1, "yes_ask") == ("0.4700", "0.4700", "0.4600", "0.4600")
    assert c1["price"] == {
        "open_dollars": "0.4600",
        "high_dollars": "0.4600",
        "low_dollars": "0.4400",
        "close_dollars": "0.4400",
        "mean_dollars": "0.4533",  # (0.46 x 2 + 0.44 x 1) / 3, volume-weighted, half up
    }
    assert (c1["volume_fp"], c1["open_interest_fp"]) == ("3.00", "13.00")
    # a minute with no event: the previous close held flat, only the previous trade price
    assert _ohlc(c2, "yes_bid") == ("0.4300",) * 4 and _ohlc(c2, "yes_ask") == ("0.4600",) * 4
    assert c2["price"] == {"previous_dollars": "0.4400"} and c2["volume_fp"] == "0.00"
    # the open is the price at the minute's start (carried), the empty ask reads $1 as in the market object
    assert _ohlc(c3, "yes_bid") == ("0.4300", "0.4800", "0.4300", "0.4800")
    assert _ohlc(c3, "yes_ask") == ("0.4600", "1.0000", "0.4600", "1.0000")


def test_hour_candles_fold_the_minutes_and_until_bounds_the_last() -> None:
    st = _store()
    h, flat = st.candles("M", 0, 7200, 60, until_s=10_000)
    assert (h["end_period_ts"], flat["end_period_ts"]) == (3600, 7200)
    assert _ohlc(flat, "yes_bid") == ("0.4800",) * 4 and flat["price"] == {"previous_dollars": "0.4400"}
    assert _ohlc(h, "yes_bid") == ("0.4500", "0.4800", "0.4300", "0.4800")
    assert h["price"]["open_dollars"] == "0.4600" and h["price"]["close_dollars"] == "0.4400"
    assert h["volume_fp"] == "3.00"
    assert [c["end_period_ts"] for c in st.candles("M", 0, 10_000, 1, until_s=130)] == [60, 120, 180]
    assert st.candles("M", 0, 10_000, 1, until_s=50) == [st.candles("M", 60, 60, 1, until_s=60)[0]]
    assert st.candles("nope", 0, 10_000, 1, until_s=10_000) == []


def test_events_out_of_order_land_in_their_minute() -> None:
    st = CandleStore()
    st.observe_quote("M", 130 * S, 5000, 5200)
    st.observe_quote("M", 70 * S, 4000, 4200)  # late: belongs to minute 2, before minute 3
    st.observe_quote("M", 140 * S, 5100, 5200)
    c2, c3 = st.candles("M", 120, 180, 1, until_s=180)
    assert _ohlc(c2, "yes_bid") == ("0.4000",) * 4
    assert _ohlc(c3, "yes_bid")[1:] == ("0.5100", "0.5000", "0.5100")  # minutes after a late event keep their open


@pytest.fixture(scope="module")
def hsim() -> Iterator[Simulator]:
    s = Simulator().start()
    try:
        yield s
    finally:
        s.stop()


def _url(sim: Simulator, series: str, ticker: str) -> str:
    return f"{sim.rest_url}/series/{series}/markets/{ticker}/candlesticks"


def test_live_market_candles_follow_its_quotes_and_trades(hsim: Simulator) -> None:
    series = unique_series()
    t = f"{series}-26DEC31-T1"
    hsim.add_market(t, yes_bid=4_000, yes_ask=4_200)
    for bid, ask in ((4_100, 4_300), (3_800, 4_000), (4_400, 4_600)):
        hsim.set_quote(t, bid, ask)
    hsim.add_trade(t, 4_500, 300, "yes")
    hsim.add_trade(t, 3_900, 200, "no")
    rest = KalshiRest(hsim.rest_url, reads_per_second=1000)
    now = time.time_ns()
    candles = rest.candlesticks(series, t, start_ns=now - 600 * S, end_ns=now + 120 * S)
    # the events may straddle a minute boundary: check what holds across the candles returned
    assert candles and sum(c.volume or 0 for c in candles) == 500
    assert max(c.yes_bid_high or 0 for c in candles) == 4_400
    assert candles[0].yes_bid_open is None  # the market was created with an empty book, then quoted
    assert min(c.yes_ask_low for c in candles if c.yes_ask_low is not None) == 4_000  # the dip to 0.38 / 0.40
    assert candles[-1].yes_bid_close == 4_400 and candles[-1].yes_ask_close == 4_600
    assert candles[-1].price_close == 3_900
    assert {c.price_high for c in candles if c.price_high} <= {4_500, 3_900}


def test_candlesticks_errors_say_what_to_fix(hsim: Simulator) -> None:
    series = unique_series()
    t = f"{series}-26DEC31-T1"
    hsim.add_market(t, yes_bid=4_000, yes_ask=4_200)
    ok = {"start_ts": 0, "end_ts": 60, "period_interval": 1}
    cases = [
        (series, t, {"end_ts": 60, "period_interval": 1}, 400, "start_ts is required"),
        (series, t, {**ok, "period_interval": 5}, 400, "period_interval must be 1"),
        (series, t, {**ok, "end_ts": 5000 * 60}, 400, "at most 5000"),
        (series, t, {**ok, "start_ts": 120}, 400, "before start_ts"),
        (series, t, {**ok, "end_ts": "soon"}, 400, "must be an integer"),
        ("KXOTHER", t, ok, 404, "is not in series"),
        (series, f"{series}-NOPE", ok, 404, "does not exist"),
    ]
    for s, ticker, params, status, text in cases:
        r = requests.get(_url(hsim, s, ticker), params=params, timeout=scaled(10))
        assert r.status_code == status, (params, r.text)
        assert text in r.json()["error"]["message"]
    late = requests.get(_url(hsim, series, t), params={**ok, "end_ts": 4999 * 60}, timeout=scaled(10))
    assert late.status_code == 200
    # a wrong signature is refused even on a public endpoint
    headers = {"KALSHI-ACCESS-KEY": hsim.key_id, "KALSHI-ACCESS-TIMESTAMP": "1", "KALSHI-ACCESS-SIGNATURE": "AAAA"}
    assert requests.get(_url(hsim, series, t), params=ok, headers=headers, timeout=scaled(10)).status_code == 401


def test_seeded_past_market_has_lifecycle_candles_and_trades(hsim: Simulator) -> None:
    series = unique_series()
    event = f"{series}-26NOV20"
    t = f"{event}-A"
    o = int(time.time()) // 60 * 60 - 86_400  # yesterday, on a whole minute
    frames = [created_frame(t, event, o, o + 300)]
    frames += [ticker_frame(t, (o + 5 + 30 * i) * 1000, 4_000 + 100 * i, 4_200 + 100 * i) for i in range(9)]
    frames += [trade_frame(t, (o + 10 + 25 * i) * 1000, 4_100 + 50 * i, 100 + i) for i in range(12)]
    frames += settled_frames(t, o + 300, "yes")
    stats = seed(hsim, frames)
    assert (stats.markets, stats.quotes, stats.trades) == (1, 9, 12)
    rest = KalshiRest(hsim.rest_url, reads_per_second=1000)
    (m,) = rest.markets(event_ticker=event)
    assert (m.status, m.result, m.settlement_value) == ("finalized", "yes", 10_000)
    assert (m.open_ns, m.close_ns) == (o * S, (o + 300) * S)
    candles = rest.candlesticks(series, t, start_ns=o * S, end_ns=(o + 3600) * S)
    assert [c.end_ns // S for c in candles] == [o + 60 * k for k in range(1, 6)]  # up to the close, not beyond
    assert candles[0].yes_bid_open == 4_000 and candles[-1].yes_bid_close == 4_800
    assert sum(c.volume or 0 for c in candles) == sum(100 + i for i in range(12))
    pages = list(rest.trades_pages(ticker=t, page_size=5))
    assert [len(p) for p, _ in pages] == [5, 5, 2] and pages[-1][1] == ""
    got = [x for p, _ in pages for x in p]
    assert [x.created_ns for x in got] == sorted((x.created_ns for x in got), reverse=True)
    assert {x.trade_id for x in got} == {x.trade_id for x in served_trades(hsim, t)}
    inside = rest.trades(ticker=t, min_ns=(o + 60) * S, max_ns=(o + 110) * S)
    assert sorted(x.created_ns // S for x in inside) == [o + 60, o + 85, o + 110]
