"""The candlesticks route on an exchange with a clock of our own: the candle of the minute in progress is served
however early in that minute the request comes (a request in the first second of a minute once lost it, because
"now" was rounded down to the second; tests/sim/test_sim_history_conformance.py met it on the wall clock, about
once in sixty runs)."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp.test_utils import make_mocked_request

from kalshikit.core.events import Quote
from kalshikit.sim.exchange import Exchange
from kalshikit.sim.history_api import HistoryApi
from kalshikit.units import NS_PER_S

MINUTE = 1_900_000_020 * NS_PER_S  # a whole minute (seconds divisible by 60)
T = "KXCLOCK-30JAN01-T1"


@pytest.mark.parametrize("into_minute_ms", [0, 1, 300, 999, 1_000, 59_999])
def test_the_minute_in_progress_is_served(into_minute_ms: int) -> None:
    now = {"ns": MINUTE - 10 * NS_PER_S}
    ex = Exchange(clock=lambda: now["ns"])
    api = HistoryApi(ex, check_auth=lambda _request: None)
    ex.add_market(T)
    ex.apply_quote(Quote(T, 4_000, 4_100, 100, 100, source="sim"))  # in the minute before
    now["ns"] = MINUTE + into_minute_ms * 1_000_000
    ex.apply_quote(Quote(T, 4_200, 4_300, 100, 100, source="sim"))  # in the minute in progress
    series = ex.market(T).series_ticker
    start, end = MINUTE // NS_PER_S - 300, MINUTE // NS_PER_S + 120
    path = f"/trade-api/v2/series/{series}/markets/{T}/candlesticks?start_ts={start}&end_ts={end}&period_interval=1"
    request = make_mocked_request("GET", path, match_info={"series_ticker": series, "ticker": T})
    body = json.loads(asyncio.run(api.candlesticks(request)).body)  # type: ignore[attr-defined]
    last = body["candlesticks"][-1]
    holding_now = -(-now["ns"] // (60 * NS_PER_S)) * 60  # periods are (end - 60 s, end]
    assert last["end_period_ts"] == holding_now
    assert last["yes_bid"]["close_dollars"] == "0.4200"
