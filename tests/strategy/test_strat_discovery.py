"""Market discovery against the simulator over 127.0.0.1 (the kit's own REST client, no monkeypatching): every page,
series/event/category queries, and each filter with its reason."""

from __future__ import annotations

import time
import uuid

import pytest

from kalshikit.errors import ConfigError
from kalshikit.kalshi.models import Market
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.sim import Simulator
from kalshikit.strategy.discovery import (
    CATEGORY_SERIES,
    SPORT_SERIES,
    DiscoveryFilter,
    discover,
    select,
    series_for,
)

NS = 1_000_000_000


def _series() -> str:
    return "KXT" + uuid.uuid4().hex[:8].upper()


@pytest.fixture
def rest(sim: Simulator) -> KalshiRest:
    return KalshiRest(sim.rest_url, reads_per_second=1000)


def test_follows_every_page(sim: Simulator, rest: KalshiRest) -> None:
    series = _series()
    for i in range(250):
        sim.add_market(f"{series}-26MAY11-M{i:03d}", close_in_s=3600, yes_bid=4000, yes_ask=4200)
    before = rest.metrics()["requests"]
    found = discover(rest, DiscoveryFilter(series=(series,)), page_size=100)
    assert len(found.markets) == 250
    assert {m.ticker for m in found.markets} == {f"{series}-26MAY11-M{i:03d}" for i in range(250)}
    assert rest.metrics()["requests"] - before == 3  # 100 + 100 + 50
    assert found.queries == 1 and found.rejected == {}


def test_series_events_tickers_and_deduplication(sim: Simulator, rest: KalshiRest) -> None:
    a, b = _series(), _series()
    for s in (a, b):
        for e in ("26MAY11", "26MAY12"):
            for k in ("X", "Y"):
                sim.add_market(f"{s}-{e}-{k}", close_in_s=3600, yes_bid=4000, yes_ask=4200)
    found = discover(rest, DiscoveryFilter(series=(a,), events=(f"{a}-26MAY11", f"{b}-26MAY12")))
    # the series query and the first event query overlap: each market comes once
    assert sorted(found.tickers) == sorted(
        [f"{a}-26MAY11-X", f"{a}-26MAY11-Y", f"{a}-26MAY12-X", f"{a}-26MAY12-Y", f"{b}-26MAY12-X", f"{b}-26MAY12-Y"]
    )
    assert len(found.tickers) == 6 and found.queries == 3
    keys = [(m.close_ns, m.ticker) for m in found.markets]
    assert keys == sorted(keys)  # soonest close first
    only = discover(rest, DiscoveryFilter(tickers=(f"{b}-26MAY11-X",)))
    assert only.tickers == [f"{b}-26MAY11-X"]
    # a string where a tuple is expected is read as one item
    assert discover(rest, DiscoveryFilter(series=a)).queries == 1  # type: ignore[arg-type]


def test_categories_resolve_to_series(sim: Simulator, rest: KalshiRest) -> None:
    s = _series()
    sim.add_market(f"{s}-26MAY11LALBOS-LAL", close_in_s=3600, yes_bid=4000, yes_ask=4200)
    found = discover(rest, DiscoveryFilter(categories=("hoops",)), category_series={"HOOPS": (s,)})
    assert found.tickers == [f"{s}-26MAY11LALBOS-LAL"]
    assert series_for(["nba"]) == ["KXNBAGAME"]
    assert "KXNFLGAME" in series_for(["sports"])
    assert SPORT_SERIES["basketball_nba"] == CATEGORY_SERIES["NBA"]
    assert series_for(["x"], lambda c: ("KXA", "KXB")) == ["KXA", "KXB"]
    with pytest.raises(ConfigError, match=r"unknown category 'curling'.*NBA"):
        discover(rest, DiscoveryFilter(categories=("curling",)))


def test_filters_keep_tradeable_markets_and_say_why_not(sim: Simulator, rest: KalshiRest) -> None:
    s = _series()
    t = {name: f"{s}-26MAY11-{name.upper()}" for name in ("good", "soon", "late", "thin", "lowoi", "wide", "onesided")}
    sim.add_market(t["good"], close_in_s=3600, yes_bid=4000, yes_ask=4200)
    sim.add_market(t["soon"], close_in_s=30, yes_bid=4000, yes_ask=4200)
    sim.add_market(t["late"], close_in_s=30 * 86_400, yes_bid=4000, yes_ask=4200)
    sim.add_market(t["thin"], close_in_s=3600, yes_bid=4000, yes_ask=4200)
    sim.add_market(t["lowoi"], close_in_s=3600, yes_bid=4000, yes_ask=4200)
    sim.add_market(t["wide"], close_in_s=3600, yes_bid=3000, yes_ask=4500)
    sim.add_market(t["onesided"], close_in_s=3600, yes_bid=None, yes_ask=4500)
    for name in ("good", "soon", "late", "lowoi", "wide", "onesided"):
        sim.set_quote(t[name], *_top(sim, t[name]), volume=50_000, open_interest=20_000)
    sim.set_quote(t["thin"], 4000, 4200, volume=500, open_interest=20_000)
    sim.set_quote(t["lowoi"], 4000, 4200, volume=50_000, open_interest=100)
    closed = f"{s}-26MAY11-CLOSED"
    sim.add_market(closed, close_in_s=3600, yes_bid=4000, yes_ask=4200)
    sim.close_market(closed)

    flt = DiscoveryFilter(
        series=(s,),
        closing_within_s=7 * 86_400,
        min_time_left_s=120,
        min_volume=10_000,
        min_open_interest=5_000,
        max_spread=300,
    )
    found = discover(rest, flt, now_ns=time.time_ns())
    assert found.tickers == [t["good"]]
    why = found.rejected
    assert "sooner than min_time_left_s" in why[t["soon"]]
    assert "later than closing_within_s" in why[t["late"]]
    assert why[t["thin"]] == "volume 5 contracts < min 100"
    assert why[t["lowoi"]] == "open interest 1 contracts < min 50"
    assert why[t["wide"]] == "spread 0.1500 > max 0.0300"
    assert "empty" in why[t["onesided"]]
    assert closed not in found.tickers and closed not in why  # the server already left it out (status=open)
    # without a spread limit a one-sided book passes unless two_sided is asked for
    loose = discover(rest, DiscoveryFilter(series=(s,)))
    assert t["onesided"] in loose.tickers and t["wide"] in loose.tickers
    strict = discover(rest, DiscoveryFilter(series=(s,), two_sided=True))
    assert t["onesided"] not in strict.tickers
    # status=closed asks the server for closed markets
    assert discover(rest, DiscoveryFilter(series=(s,), status="closed")).tickers == [closed]


def _top(sim: Simulator, ticker: str) -> tuple[int | None, int | None]:
    book = sim.book(ticker)
    bid = max(book.yes) if book.yes else None
    ask = 10_000 - max(book.no) if book.no else None
    return bid, ask


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": "live"}, "status must be one of"),
        ({"min_volume": -1}, "min_volume must be an int >= 0"),
        ({"min_volume": 1.5}, "min_volume must be an int >= 0"),
        ({"max_spread": 0.03}, "max_spread must be an int >= 0"),
        ({"closing_within_s": -5}, "closing_within_s must be"),
    ],
)
def test_bad_filters_say_what_to_fix(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DiscoveryFilter(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- combos and the status vocabulary
def _with_combo(sim: Simulator) -> tuple[str, str, str]:
    s = _series()
    plain, combo = f"{s}-26MAY11-PLAIN", f"{s}-26MAY11-COMBO"
    sim.add_market(plain, close_in_s=3600, yes_bid=4000, yes_ask=4200)
    sim.add_market(combo, close_in_s=3600, yes_bid=100, yes_ask=300, mve_collection_ticker="KXMVECROSSCATEGORY")
    return s, plain, combo


def test_combo_markets_are_left_out_unless_asked_for(sim: Simulator, rest: KalshiRest) -> None:
    s, plain, combo = _with_combo(sim)
    assert sorted(m.ticker for m in rest.markets(series_ticker=s)) == [combo, plain]  # both exist
    found = discover(rest, DiscoveryFilter(series=(s,)))
    assert found.tickers == [plain]
    assert combo not in found.rejected  # the exchange left it out: mve_filter=exclude was sent
    assert discover(rest, DiscoveryFilter(tickers=(plain, combo))).tickers == [plain]
    assert sorted(discover(rest, DiscoveryFilter(series=(s,), combos="include")).tickers) == [combo, plain]
    only = discover(rest, DiscoveryFilter(series=(s,), combos="only"))
    assert only.tickers == [combo] and only.markets[0].mve_collection_ticker == "KXMVECROSSCATEGORY"


def test_select_leaves_combos_out_of_a_known_list_too(sim: Simulator, rest: KalshiRest) -> None:
    s, plain, combo = _with_combo(sim)
    markets = rest.markets(series_ticker=s)
    legacy = Market("KXMVECROSSCATEGORY-26MAY11-X", "KXMVECROSSCATEGORY-26MAY11", status="active")  # no field
    found = select([*markets, legacy], DiscoveryFilter(), now_ns=time.time_ns())
    assert found.tickers == [plain]
    assert found.rejected[combo] == found.rejected[legacy.ticker] == "a multivariate combo market (combos='exclude')"
    assert sorted(select([*markets, legacy], DiscoveryFilter(combos="only"), now_ns=time.time_ns()).tickers) == [
        legacy.ticker,
        combo,
    ]


@pytest.mark.parametrize("status", ["active", "finalized", "live", "OPEN", ""])
def test_a_status_kalshi_does_not_filter_by_is_refused_before_any_request(rest: KalshiRest, status: str) -> None:
    before = rest.metrics()["requests"]
    with pytest.raises(ConfigError, match=r"takes one of unopened, open, paused, closed, settled"):
        rest.markets(status=status)
    with pytest.raises(ConfigError, match=r"status must be one of Kalshi's market filters open, unopened"):
        DiscoveryFilter(status=status)
    with pytest.raises(ConfigError, match=r"mve_filter='include'\): use 'exclude'"):
        rest.markets(mve_filter="include")
    assert rest.metrics()["requests"] == before  # nothing was sent


@pytest.mark.parametrize("status", ["open", "unopened", "closed", "settled", "paused"])
def test_every_status_filter_of_the_api_is_offered(sim: Simulator, rest: KalshiRest, status: str) -> None:
    s, plain, _ = _with_combo(sim)
    found = discover(rest, DiscoveryFilter(series=(s,), status=status))
    assert found.tickers == ([plain] if status == "open" else [])


def test_bad_combos_setting_says_what_to_fix() -> None:
    with pytest.raises(ConfigError, match="combos must be one of exclude, include, only, got 'yes'"):
        DiscoveryFilter(combos="yes")
