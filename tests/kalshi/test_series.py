"""Series and their fee fields: decoding Kalshi's real ``GET /series`` replies, the REST client against the simulator
(``series``, ``series_list``), and the per-series fee cache (one read per series and TTL, a fallback that says so)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from kalshikit.core.fees import FeeSchedule, conservative_fees
from kalshikit.errors import NotFoundError, UnitError
from kalshikit.kalshi.models import Series, decode_series, decode_series_page
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.kalshi.series_fees import SeriesFeeCache
from kalshikit.sim import Simulator

HALF = FeeSchedule("quadratic_with_maker_fees", 500_000)


# ---------------------------------------------------------------------------- real replies
def test_real_series_replies_decode_with_their_fee_fields(realdata: Path) -> None:
    payloads = json.loads((realdata / "kalshi_cockpit/series_fee_fields.json").read_text())["payloads"]
    got = {t: decode_series(json.dumps(p).encode()) for t, p in payloads.items()}
    assert {t: (s.ticker, s.fee_type, s.fee_multiplier) for t, s in got.items()} == {
        t: (t, p["series"]["fee_type"], str(p["series"]["fee_multiplier"])) for t, p in payloads.items()
    }
    mlb = got["KXMLBGAME"]
    assert (mlb.fee_schedule(), mlb.category, mlb.tags) == (HALF, "Sports", ("Baseball",))
    assert mlb.updated_ns is not None and mlb.updated_ns % 1000 == 0
    assert got["KXMLBSPREAD"].fee_schedule() == FeeSchedule("quadratic", 500_000)
    assert got["KXWNBAGAME"].fee_schedule() == FeeSchedule("quadratic_with_maker_fees", 1_000_000)


def test_real_series_list_and_single_replies(realdata: Path) -> None:
    folder = realdata / "kalshi_starter_golden_rest"
    listing = json.loads((folder / "series_list_response.json").read_text())["response"]
    items, cursor = decode_series_page(json.dumps(listing).encode())
    assert len(items) == len(listing["series"]) == 241 and cursor == ""
    assert {s.fee_schedule() for s in items} == {FeeSchedule()}  # every climate series: quadratic x1
    assert [s.ticker for s in items] == [s["ticker"] for s in listing["series"]]
    one = json.loads((folder / "series_single_response.json").read_text())["response"]
    co2 = decode_series(json.dumps(one).encode())  # additional_prohibitions: null, no last_updated_ts
    assert (co2.ticker, co2.frequency, co2.fee_schedule(), co2.updated_ns) == ("CO2", "monthly", FeeSchedule(), None)


def test_the_multiplier_text_is_kept_exactly() -> None:
    s = decode_series(b'{"series": {"ticker": "KXA", "fee_type": "quadratic", "fee_multiplier": 0.50}}')
    assert s.fee_multiplier == "0.50" and s.fee_schedule().multiplier_ppm == 500_000
    quoted = decode_series(b'{"series": {"ticker": "KXA", "fee_type": "quadratic", "fee_multiplier": "0.25"}}')
    assert quoted.fee_schedule().multiplier_ppm == 250_000


@pytest.mark.parametrize(
    ("series", "message"),
    [
        (Series("KXA", fee_type="margin_market_maker_program_fees", fee_multiplier="1"), "unknown series fee_type"),
        (Series("KXA"), "carries no fee_type/fee_multiplier"),
        (Series("KXA", fee_type="quadratic", fee_multiplier="true"), "is not a number"),
    ],
)
def test_unusable_fee_fields_say_which_series(series: Series, message: str) -> None:
    with pytest.raises(UnitError, match=f"series KXA: .*{message}|series KXA {message}"):
        series.fee_schedule()


# ---------------------------------------------------------------------------- REST client on the simulator
@pytest.fixture
def rest(sim: Simulator) -> KalshiRest:
    return KalshiRest(sim.rest_url, reads_per_second=1000)


def test_series_reads_the_fee_fields_the_simulator_serves(sim: Simulator, rest: KalshiRest) -> None:
    sim.add_series("KXTSERMLB", "quadratic_with_maker_fees", 0.5, category="Sports", tags=["Baseball"])
    s = rest.series("KXTSERMLB")
    assert (s.ticker, s.fee_type, s.fee_multiplier, s.category, s.tags) == (
        "KXTSERMLB",
        "quadratic_with_maker_fees",
        "0.5",
        "Sports",
        ("Baseball",),
    )
    assert s.fee_schedule() == HALF
    listed = {x.ticker: x for x in rest.series_list(category="Sports")}
    assert listed["KXTSERMLB"] == s
    assert "KXTSERMLB" not in {x.ticker for x in rest.series_list(category="Climate and Weather")}
    assert "KXTSERMLB" in {x.ticker for x in rest.series_list(tags=["Baseball"])}
    with pytest.raises(NotFoundError, match="series 'KXNOSUCHSERIES' does not exist"):
        rest.series("KXNOSUCHSERIES")


def test_a_new_market_brings_its_series_with_the_default_fees(sim: Simulator, rest: KalshiRest) -> None:
    series = "KXTSER" + uuid.uuid4().hex[:8].upper()
    sim.add_market(f"{series}-26AUG18-X", yes_bid=4000, yes_ask=4200)
    assert rest.series(series).fee_schedule() == FeeSchedule()


# ---------------------------------------------------------------------------- the cache
class Clock:
    def __init__(self) -> None:
        self.s = 1_000.0

    def __call__(self) -> float:
        return self.s


def test_the_cache_reads_each_series_once_per_ttl(sim: Simulator, rest: KalshiRest) -> None:
    sim.add_series("KXTSERCACHE", "quadratic", "0.5")
    clock = Clock()
    cache = SeriesFeeCache(rest, ttl_s=600, clock=clock)
    before = rest.metrics()["requests"]
    tickers = [f"KXTSERCACHE-26AUG18-M{i}" for i in range(20)]
    got = cache.for_markets(tickers)
    assert set(got.values()) == {FeeSchedule("quadratic", 500_000)}
    assert rest.metrics()["requests"] - before == 1 and cache.reads == 1
    clock.s += 599
    cache.for_markets(tickers)
    assert rest.metrics()["requests"] - before == 1  # still fresh
    sim.add_series("KXTSERCACHE", "quadratic", 1)  # Kalshi changes the fee
    clock.s += 2
    assert cache.for_market(tickers[0]) == FeeSchedule()  # re-read after the TTL
    assert rest.metrics()["requests"] - before == 2
    assert cache.series()["KXTSERCACHE"].fee_multiplier == "1" and cache.problems == {}


def test_an_unreadable_series_gets_the_conservative_fallback_and_says_why(sim: Simulator, rest: KalshiRest) -> None:
    clock = Clock()
    cache = SeriesFeeCache(rest, retry_s=60, clock=clock)
    before = rest.metrics()["requests"]
    assert cache.schedule("KXTSERMISSING") == conservative_fees()
    assert "KXTSERMISSING" in cache.problems and "404" in cache.problems["KXTSERMISSING"]
    assert "quadratic_with_maker_fees x1" in cache.problems["KXTSERMISSING"]
    cache.schedule("KXTSERMISSING")
    assert rest.metrics()["requests"] - before == 1  # not retried before retry_s
    sim.add_series("KXTSERMISSING", "quadratic", 0.5)
    clock.s += 61
    assert cache.schedule("KXTSERMISSING") == FeeSchedule("quadratic", 500_000)
    assert cache.problems == {}


def test_a_failed_reread_keeps_the_last_good_schedule(sim: Simulator) -> None:
    sim.add_series("KXTSERKEEP", "quadratic", 0.5)
    rest = KalshiRest(sim.rest_url, reads_per_second=1000, read_attempts=1)
    clock = Clock()
    cache = SeriesFeeCache(rest, ttl_s=10, clock=clock)
    assert cache.schedule("KXTSERKEEP").multiplier_ppm == 500_000
    sim.faults.rest_errors(500, 1, "/series/KXTSERKEEP")
    try:
        clock.s += 11
        assert cache.schedule("KXTSERKEEP").multiplier_ppm == 500_000  # kept, not the fallback
        assert "could not read it" in cache.problems["KXTSERKEEP"]
    finally:
        sim.faults.clear()


def test_fixed_schedules_are_never_read(rest: KalshiRest) -> None:
    cache = SeriesFeeCache(rest, known={"KXTSERFIXED": HALF})
    before = rest.metrics()["requests"]
    assert cache.for_market("KXTSERFIXED-26AUG18-X") == HALF
    cache.set("KXTSEROTHER", FeeSchedule())
    assert cache.schedule("KXTSEROTHER") == FeeSchedule()
    assert rest.metrics()["requests"] == before
    assert cache.known() == {"KXTSERFIXED": HALF, "KXTSEROTHER": FeeSchedule()}
    with pytest.raises(Exception, match="must be a FeeSchedule"):
        cache.set("KXA", 0.5)  # type: ignore[arg-type]
