"""Helpers for the history tests: hand-made tape frames (so a test knows every price of every minute), a simulator
seeded with past markets, settings pointing the kit at it, and the simulator's own record of what it served."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from kalshikit.config import Settings
from kalshikit.history import open_history
from kalshikit.sim import Simulator
from kalshikit.sim.history_api import history_of, seed_history
from kalshikit.sim.model import PublicTrade

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000


class Frame(NamedTuple):
    recv_ns: int
    raw: str


def dollars(price: int | None) -> str:
    return f"{Decimal(price or 0) / 10_000:.4f}"


def ticker_frame(ticker: str, ms: int, bid: int | None, ask: int | None, oi: int = 0) -> Frame:
    msg = {
        "market_ticker": ticker,
        "yes_bid_dollars": dollars(bid),
        "yes_ask_dollars": dollars(ask if ask is not None else 10_000),
        "open_interest_fp": f"{Decimal(oi) / 100:.2f}",
        "ts_ms": ms,
    }
    return Frame(ms * NS_PER_MS, json.dumps({"type": "ticker", "sid": 1, "msg": msg}))


def trade_frame(ticker: str, ms: int, price: int, count: int, side: str = "yes") -> Frame:
    msg = {
        "trade_id": str(uuid.uuid4()),
        "market_ticker": ticker,
        "yes_price_dollars": dollars(price),
        "no_price_dollars": dollars(10_000 - price),
        "count_fp": f"{Decimal(count) / 100:.2f}",
        "taker_side": side,
        "ts_ms": ms,
    }
    return Frame(ms * NS_PER_MS, json.dumps({"type": "trade", "sid": 2, "seq": 1, "msg": msg}))


def lifecycle_frame(ticker: str, ms: int, event_type: str, **fields: Any) -> Frame:
    msg = {"market_ticker": ticker, "event_type": event_type, **fields}
    return Frame(ms * NS_PER_MS, json.dumps({"type": "market_lifecycle_v2", "sid": 3, "seq": 1, "msg": msg}))


def created_frame(ticker: str, event: str, open_s: int, close_s: int) -> Frame:
    return lifecycle_frame(
        ticker,
        open_s * 1000,
        "created",
        open_ts=open_s,
        close_ts=close_s,
        price_level_structure="linear_cent",
        price_ranges=[{"start": "0.0000", "end": "1.0000", "step": "0.0100"}],
        additional_metadata={"title": f"test market {ticker}", "event_ticker": event},
    )


def settled_frames(ticker: str, close_s: int, result: str) -> list[Frame]:
    value = "1.0000" if result == "yes" else "0.0000"
    return [
        lifecycle_frame(ticker, close_s * 1000 + 5_000, "determined", result=result, settlement_value=value),
        lifecycle_frame(ticker, close_s * 1000 + 10_000, "settled"),
    ]


def history_settings(sim: Simulator, **overrides: Any) -> Settings:
    """Settings for the kit on ``sim`` with its demo key (rate limit high unless overridden)."""
    return Settings.from_env(environ=sim.kit_env(), env_file=None, **{"reads_per_second": 2000.0, **overrides})


def served_trades(sim: Simulator, ticker: str) -> list[PublicTrade]:
    """The trades the simulator holds for a seeded market (its own record, not read through the kit's client)."""
    return sim.call(lambda _ex: history_of(sim).recorded_trades(ticker, None, None))


def served_candles(sim: Simulator, ticker: str, start_s: int, end_s: int, until_s: int) -> list[dict[str, Any]]:
    return sim.call(lambda _ex: history_of(sim).store.candles(ticker, start_s, end_s, 1, until_s))


def unique_series() -> str:
    return "KXH" + uuid.uuid4().hex[:8].upper()


def seed(sim: Simulator, frames: list[Frame]) -> Any:
    return seed_history(sim, frames)


def markets_of(sim: Simulator, series: str) -> dict[str, Any]:
    return {t: sim.market(t) for t in sim.markets() if t.startswith(series + "-")}


def check_matches_the_exchange(sim: Simulator, series: str, out: Path, tickers: list[str] | None = None) -> None:
    """The dataset in ``out`` holds exactly what ``sim`` serves for these markets (every market of ``series``)."""
    ds = open_history(out)
    markets = ds.markets()
    rows = {r.ticker: r for r in markets.itertuples()}
    expected = markets_of(sim, series)
    tickers = tickers if tickers is not None else sorted(expected)
    assert sorted(rows) == sorted(tickers)
    trades = ds.trades()
    candles = ds.candles()
    for t in tickers:
        m, r = expected[t], rows[t]
        assert (r.status, r.result, r.open_ns, r.close_ns) == (m.status, m.result, m.open_ns, m.close_ns)
        assert bool(r.complete)
        mine = trades[trades["ticker"] == t]
        served = served_trades(sim, t)
        assert not mine["trade_id"].duplicated().any()
        assert set(mine["trade_id"]) == {x.trade_id for x in served}
        assert dict(zip(mine["trade_id"], mine["count"], strict=True)) == {x.trade_id: x.count for x in served}
        got = candles[candles["ticker"] == t]
        want = served_candles(sim, t, r.from_ns // NS_PER_S, r.to_ns // NS_PER_S, m.close_ns // NS_PER_S)
        assert list(got["end_ns"]) == [c["end_period_ts"] * NS_PER_S for c in want]
        for side, col, empty in (("yes_bid", "yes_bid_low", 0), ("yes_ask", "yes_ask_close", 10_000)):
            key = col.rsplit("_", 1)[1] + "_dollars"
            prices = [int(Decimal(c[side][key]) * 10_000) for c in want]
            assert _ints(got[col]) == [None if v == empty else v for v in prices]


def _ints(series: Any) -> list[int | None]:
    return [None if pd.isna(v) else int(v) for v in series]
