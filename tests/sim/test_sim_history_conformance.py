"""The simulator's history endpoints against Kalshi's OpenAPI spec (when the copy is present) and the official SDK's
strict models: candlesticks of a live market and of a seeded past market, and the trades listing with seeded
trades merged in."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from sim_testkit import C, account_api, new_market
from test_sim_openapi import _check, spec  # noqa: F401  (spec is a fixture)

from kalshikit.recording.synthetic import synthetic_frames
from kalshikit.sim import Simulator
from kalshikit.sim.history_api import seed_history

S = 1_000_000_000


def _seeded(sim: Simulator) -> tuple[str, str, int, int]:
    """A past market seeded from a synthetic tape: (series, ticker, open s, close s)."""
    start = (time.time_ns() - 2 * 86_400 * S) // (60 * S) * 60 * S
    frames = list(synthetic_frames(markets=2, duration_s=900, seed=int(uuid.uuid4()) % 1000, start_ns=start))
    stats = seed_history(sim, frames)
    ticker = stats.tickers[0]
    created = next(
        json.loads(f.raw)["msg"]
        for f in frames
        if '"created"' in f.raw and json.loads(f.raw)["msg"]["market_ticker"] == ticker
    )
    return ticker.split("-")[0], ticker, created["open_ts"], created["close_ts"]


def test_candles_and_trades_match_the_spec(spec: dict[str, Any], sim: Simulator) -> None:  # noqa: F811
    api = account_api(sim)
    t = new_market(sim)
    sim.set_quote(t, 4_400, 4_800)
    sim.add_trade(t, 4_600, 2 * C, "yes")
    now = int(time.time())
    params = {"start_ts": now - 300, "end_ts": now + 60, "period_interval": 1}
    live = api.get(f"/series/{t.split('-')[0]}/markets/{t}/candlesticks", params=params).json()
    assert live["candlesticks"]
    _check(spec, "GetMarketCandlesticksResponse", live)
    broken = json.loads(json.dumps(live))
    del broken["candlesticks"][0]["yes_ask"]["close_dollars"]
    with pytest.raises(AssertionError, match="close"):
        _check(spec, "GetMarketCandlesticksResponse", broken)
    series, past, o, c = _seeded(sim)
    old = api.get(
        f"/series/{series}/markets/{past}/candlesticks", params={"start_ts": o, "end_ts": c, "period_interval": 1}
    ).json()
    assert len(old["candlesticks"]) >= 10
    _check(spec, "GetMarketCandlesticksResponse", old)
    hourly = api.get(
        f"/series/{series}/markets/{past}/candlesticks", params={"start_ts": o, "end_ts": c, "period_interval": 60}
    ).json()
    _check(spec, "GetMarketCandlesticksResponse", hourly)
    _check(spec, "GetTradesResponse", api.get("/markets/trades", params={"ticker": past, "limit": 50}).json())


@pytest.mark.sdk
def test_the_official_sdk_reads_candles_and_seeded_trades(sim: Simulator) -> None:
    kalshi = pytest.importorskip("kalshi_python_sync")
    key = sim.create_key(account="sdk-hist-" + uuid.uuid4().hex[:6])
    config = kalshi.Configuration(host=sim.rest_url)
    config.api_key_id = key.key_id
    config.private_key_pem = key.private_key_path.read_text()
    client = kalshi.KalshiClient(config)
    series, past, o, c = _seeded(sim)
    resp = client.get_market_candlesticks(series, past, start_ts=o, end_ts=c, period_interval=1)
    assert resp.ticker == past and len(resp.candlesticks) >= 10
    first = resp.candlesticks[0]
    assert first.end_period_ts > o and first.yes_bid.close_dollars.startswith("0.")
    trades = client.get_trades(ticker=past, limit=100)
    assert trades.trades and all(x.ticker == past for x in trades.trades)
    assert trades.trades[0].created_time >= trades.trades[-1].created_time
