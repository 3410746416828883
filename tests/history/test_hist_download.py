"""End-to-end history downloads from a simulator holding past (settled) markets, through the kit's real REST
client over 127.0.0.1: what is stored equals what the exchange serves, a re-run skips what is complete, event /
tickers / window selections, resuming after REST errors in the middle of a trades listing, unreadable files moved
aside and fetched again, and the rate limit kept."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hist_testkit import (
    NS_PER_S,
    check_matches_the_exchange,
    created_frame,
    history_settings,
    markets_of,
    seed,
    served_trades,
    settled_frames,
    unique_series,
)

from kalshikit.errors import RateLimited, TemporaryError
from kalshikit.history import download, open_history
from kalshikit.history.dataset import HistoryDataset
from kalshikit.history.downloader import list_markets
from kalshikit.history.fetch import MarketFetcher, MarketPlan, MarketProgress
from kalshikit.history.request import HistoryRequest
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.sim import Simulator
from kalshikit.sim.history_api import seed_synthetic_history
from kalshikit.sim.ratelimit import RateLimits

SERIES = "KXNBAGAME"
END_NS = (time.time_ns() - 6 * 3600 * NS_PER_S) // (60 * NS_PER_S) * 60 * NS_PER_S  # six hours ago, whole minute


@pytest.fixture(scope="module")
def past() -> Iterator[Simulator]:
    """Six settled NBA game markets (three events) over the 30 minutes before END_NS."""
    s = Simulator().start()
    try:
        seed_synthetic_history(s, end_ns=END_NS, markets=6, duration_s=1800.0, rate_hz=1.0)
        yield s
    finally:
        s.stop()


def _markets(sim: Simulator) -> dict[str, Any]:
    return markets_of(sim, SERIES)


def test_download_a_series_stores_what_the_exchange_serves(past: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "nba"
    report = download(out, series=SERIES, settings=history_settings(past), progress=False, page_size=100)
    assert len(report.markets) == 6 and report.complete == 6 and report.outside_window == 0
    assert report.trades == sum(len(served_trades(past, t)) for t in _markets(past)) > 600
    assert report.candles == len(open_history(out).candles()) >= 6 * 30
    check_matches_the_exchange(past, SERIES, out)
    manifest = json.loads((out / "history.json").read_text())
    assert manifest["request"]["series"] == SERIES and manifest["env"] == "sim" and len(manifest["runs"]) == 1
    assert (out / "series.json").is_file()
    again = download(out, settings=history_settings(past), progress=False)  # only --out: continue / check
    assert (again.candles, again.trades, again.complete) == (0, 0, 6)
    assert again.requests <= 3  # the market list and the series' fees; nothing per market


def test_event_tickers_and_window(past: Simulator, tmp_path: Path) -> None:
    markets = _markets(past)
    first = max(sorted(markets), key=lambda t: len(served_trades(past, t)))  # one of the pair with trades
    event = markets[first].event_ticker
    r = download(tmp_path / "event", event=event, settings=history_settings(past), progress=False)
    assert sorted(m.ticker for m in r.markets) == sorted(t for t, m in markets.items() if m.event_ticker == event)
    check_matches_the_exchange(past, SERIES, tmp_path / "event", [m.ticker for m in r.markets])
    m = markets[first]
    start, end = m.open_ns + 600 * NS_PER_S, m.open_ns + 1200 * NS_PER_S
    w = download(tmp_path / "w", tickers=first, start=start, end=end, settings=history_settings(past), progress=False)
    assert [x.ticker for x in w.markets] == [first]
    ds = open_history(tmp_path / "w")
    ends = list(ds.candles()["end_ns"])
    assert ends[0] == start and ends[-1] == end and len(ends) == 11
    stored = ds.trades()
    inside = {x.trade_id for x in served_trades(past, first) if start <= x.ts_ns <= end}
    assert inside and set(stored["trade_id"]) == inside and len(stored) == len(inside)
    (row,) = ds.markets().itertuples()
    assert (row.from_ns, row.to_ns, bool(row.complete)) == (start, end, True)


def _plan(sim: Simulator, ticker: str) -> MarketPlan:
    m = sim.market(ticker)
    close_s = -(-m.close_ns // (60 * NS_PER_S)) * 60
    return MarketPlan(ticker, SERIES, (m.open_ns // NS_PER_S // 60 * 60, close_s), True)


def test_resume_continues_a_trades_listing_at_its_cursor(past: Simulator, tmp_path: Path) -> None:
    ticker = max(_markets(past), key=lambda t: len(served_trades(past, t)))
    total = len(served_trades(past, ticker))
    ds = HistoryDataset.create(tmp_path / "r", HistoryRequest.build(tickers=ticker), "sim")
    rest = KalshiRest(past.rest_url, past.signer(), reads_per_second=2000, read_attempts=2, backoff_base=0.01)
    pages_before_fault = 7

    def break_after(p: MarketProgress) -> None:
        if p.requests == 1 + pages_before_fault:  # one candle request, then trade pages
            past.faults.rest_errors(503, 2, path_prefix="/markets/trades")

    plan = _plan(past, ticker)
    try:
        with pytest.raises(TemporaryError):
            MarketFetcher(rest, ds, page_size=10, flush_pages=3, on_request=break_after).fetch(plan)
    finally:
        past.faults.clear()
    state = ds.trade_state(ticker)
    assert state.listing is not None and state.listing["cursor"]  # stopped in the middle, cursor saved
    stored = ds.trades_table([ticker]).num_rows
    assert stored == 60  # pages 1-6 stored at the 3rd and 6th page; page 7 was read but not yet saved
    fetcher = MarketFetcher(rest, ds, page_size=10, flush_pages=3)
    prog = fetcher.fetch(plan)
    assert prog.complete and prog.candles == 0  # the candles were complete already
    assert prog.requests == -(-(total - stored) // 10)  # only the pages after the saved cursor
    ids = ds.trades_table([ticker]).column("trade_id").to_pylist()
    assert len(ids) == len(set(ids)) == total
    assert set(ids) == {x.trade_id for x in served_trades(past, ticker)}


def test_unreadable_files_are_moved_aside_and_fetched_again(past: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "c"
    settings = history_settings(past)
    download(out, series=SERIES, settings=settings, progress=False)
    ticker = max(sorted(_markets(past)), key=lambda t: len(served_trades(past, t)))
    candle_file = sorted((out / "candles" / ticker).glob("*.parquet"))[0]
    candle_file.write_bytes(b"PAR1 not really parquet")
    trade_file = sorted((out / "trades" / ticker).glob("*.parquet"))[0]
    trade_file.write_bytes(trade_file.read_bytes()[:100])  # truncated
    other = next(t for t in sorted(_markets(past)) if t != ticker and served_trades(past, t))
    (out / "state" / f"{other}.json").write_text("{not json")
    (out / "candles" / ticker / ".123.parquet.partial").write_bytes(b"half a file")  # a killed write
    r = download(out, settings=settings, progress=False)
    assert r.complete == 6 and r.candles > 0 and r.trades > 0
    moved = sorted(p.name for p in (out / "quarantine").iterdir())
    assert len(moved) == 3 and any(ticker in n and "candles" in n for n in moved)
    assert not list((out / "candles" / ticker).glob(".*"))
    check_matches_the_exchange(past, SERIES, out)


def test_the_rate_limit_is_kept(tmp_path: Path) -> None:
    # The server allows 8 requests/s per key (a bucket of 8); the client is set to 4/s.
    with Simulator(rate_limits=RateLimits(read_per_s=8.0, write_per_s=8.0, cost=1.0)) as sim:
        stats = seed_synthetic_history(sim, end_ns=END_NS, markets=2, duration_s=1200.0, rate_hz=1.0)
        ticker = max(stats.tickers, key=lambda t: len(served_trades(sim, t)))
        assert len(served_trades(sim, ticker)) > 150
        slow = download(
            tmp_path / "slow",
            tickers=ticker,
            settings=history_settings(sim, reads_per_second=4.0),
            page_size=20,
            progress=False,
        )
        assert slow.requests > 8 and slow.complete == 1  # more than the bucket holds: the client had to pace them
        assert slow.waited_s > 0 and slow.rate_limit == 4.0
        assert slow.http_429 == 0 and sim.limiter.rejected == 0
        assert pq.read_table(tmp_path / "slow" / "trades" / ticker).num_rows == len(served_trades(sim, ticker))
        # Control: the same requests without the client's pacing are refused by the server.
        fast = KalshiRest(sim.rest_url, sim.signer(), reads_per_second=10_000, read_attempts=1)
        with pytest.raises(RateLimited):
            for _ in range(20):
                fast.trades(ticker=ticker, page_size=20)
        assert sim.limiter.rejected > 0


def test_list_markets_explains_an_empty_series(past: Simulator) -> None:
    from kalshikit.errors import ConfigError

    rest = KalshiRest(past.rest_url, reads_per_second=1000)
    with pytest.raises(ConfigError, match="has no markets closing after --start"):
        list_markets(rest, HistoryRequest.build(series=SERIES, start=time.time_ns()))
    with pytest.raises(ConfigError, match="unknown market ticker"):
        list_markets(rest, HistoryRequest.build(tickers="KXNBAGAME-NOPE"))


def test_a_market_without_candles_is_pointed_out(past: Simulator, tmp_path: Path) -> None:
    series = unique_series()
    t = f"{series}-26NOV01-A"
    o = END_NS // NS_PER_S - 3600
    seed(past, [created_frame(t, f"{series}-26NOV01", o, o + 600), *settled_frames(t, o + 600, "yes")])
    r = download(tmp_path / "empty", series=series, settings=history_settings(past), progress=False)
    assert r.complete == 1 and r.candles == 0
    assert any("had no candles at all" in n and "/historical/" in n for n in r.notes)
    assert "had no candles" in r.summary()
