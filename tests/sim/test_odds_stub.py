"""The Odds API stub: real JSON shapes, quota headers and errors over 127.0.0.1, odds consistent with the Kalshi
markets it is given, and the provider that reads the simulator's sports markets."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
import requests

from kalshikit.kalshi.models import Market
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.recording.synthetic import synthetic_frames, synthetic_markets
from kalshikit.sim import Simulator
from kalshikit.sim.odds_stub import (
    DEFAULT_BOOKS,
    OddsApiStub,
    StubMarket,
    default_names,
    games_from_markets,
    rest_provider,
)
from kalshikit.strategy.devig import event_consensus
from kalshikit.strategy.odds import OddsClient
from tests.conftest import eventually, scaled

KEY = "stub-test-key"
NS = 1_000_000_000
START = 1_790_000_000 * NS
ROWS = [
    StubMarket("G1", "Boston Celtics", "Boston Celtics", "Los Angeles Lakers", START, 0.70),
    StubMarket("G1", "Los Angeles Lakers", "Boston Celtics", "Los Angeles Lakers", START, 0.32),  # mids add to 1.02
    StubMarket("G2", "Miami Heat", "Miami Heat", "Toronto Raptors", START + 7200 * NS, 0.45),
]


@pytest.fixture
def stub() -> Iterator[OddsApiStub]:
    with OddsApiStub(lambda: ROWS, api_key=KEY, quota=20, noise=0.0) as s:
        yield s


def get(stub: OddsApiStub, path: str, **params: str) -> requests.Response:
    params.setdefault("apiKey", KEY)
    return requests.get(stub.base_url + path, params=params, timeout=scaled(5))


def test_sports_shape_and_free(stub: OddsApiStub) -> None:
    r = get(stub, "/sports")
    assert r.status_code == 200
    body = r.json()
    assert body[0] == {
        "key": "basketball_nba",
        "group": "Basketball",
        "title": "NBA",
        "description": "US Basketball",
        "active": True,
        "has_outrights": False,
    }
    assert r.headers["x-requests-remaining"] == "20"
    assert r.headers["x-requests-used"] == "0"
    assert r.headers["x-requests-last"] == "0"


def test_odds_shape(stub: OddsApiStub) -> None:
    r = get(stub, "/sports/basketball_nba/odds", regions="us", markets="h2h,spreads,totals")
    assert r.status_code == 200
    assert (r.headers["x-requests-last"], r.headers["x-requests-used"], r.headers["x-requests-remaining"]) == (
        "3",
        "3",
        "17",
    )
    games = r.json()
    assert [g["home_team"] for g in games] == ["Boston Celtics", "Miami Heat"]
    g = games[0]
    assert set(g) == {"id", "sport_key", "sport_title", "commence_time", "home_team", "away_team", "bookmakers"}
    assert re.fullmatch(r"[0-9a-f]{32}", g["id"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", g["commence_time"])
    books = g["bookmakers"]
    assert [b["key"] for b in books] == [b.key for b in DEFAULT_BOOKS if b.region == "us"]
    b = books[0]
    assert set(b) == {"key", "title", "last_update", "markets"}
    keys = [m["key"] for m in b["markets"]]
    assert keys == ["h2h", "spreads", "totals"]
    h2h, spreads, totals = b["markets"]
    assert {o["name"] for o in h2h["outcomes"]} == {"Boston Celtics", "Los Angeles Lakers"}
    assert all(set(o) == {"name", "price"} for o in h2h["outcomes"])
    assert {o["point"] for o in spreads["outcomes"]} == {
        -abs(spreads["outcomes"][0]["point"]),
        abs(spreads["outcomes"][0]["point"]),
    }
    home_spread = next(o["point"] for o in spreads["outcomes"] if o["name"] == "Boston Celtics")
    assert home_spread < 0  # the favourite gives points
    assert {o["name"] for o in totals["outcomes"]} == {"Over", "Under"}


def test_odds_follow_the_markets_with_each_books_margin(stub: OddsApiStub) -> None:
    games = get(stub, "/sports/basketball_nba/odds", regions="us,eu").json()
    g1 = games[0]
    for b in g1["bookmakers"]:
        book = next(x for x in DEFAULT_BOOKS if x.key == b["key"])
        prices = {o["name"]: o["price"] for o in b["markets"][0]["outcomes"]}
        implied = {n: 1 / p for n, p in prices.items()}
        margin = sum(implied.values()) - 1
        assert margin == pytest.approx(book.vig, abs=0.02)
        fair_boston = implied["Boston Celtics"] / sum(implied.values())
        # the two mids (0.70 and 0.32) are normalised: 0.70 / 1.02
        assert fair_boston == pytest.approx(0.70 / 1.02, abs=0.005)
    # G2 only has Miami's market; Toronto gets the rest
    miami = {o["name"]: o["price"] for o in games[1]["bookmakers"][0]["markets"][0]["outcomes"]}
    assert (1 / miami["Miami Heat"]) / (1 / miami["Miami Heat"] + 1 / miami["Toronto Raptors"]) == pytest.approx(
        0.45, abs=0.005
    )


def test_three_way_soccer_market_from_a_tie_market() -> None:
    rows = [
        StubMarket("G3", "Draw", "Chelsea", "Arsenal", START, 0.25, "soccer_epl", "EPL"),
        StubMarket("G3", "Chelsea", "Chelsea", "Arsenal", START, 0.45, "soccer_epl", "EPL"),
    ]
    sports = (("soccer_epl", "Soccer", "EPL", "Premier League"),)
    with OddsApiStub(lambda: rows, api_key=KEY, noise=0.0, sports=sports) as s:
        c = OddsClient(KEY, s.base_url)
        cons = event_consensus(c.odds("soccer_epl")[0])
    assert cons["Draw"].prob == pytest.approx(0.25, abs=0.005)
    assert cons["Arsenal"].prob == pytest.approx(0.30, abs=0.005)


def test_noise_and_shift(stub: OddsApiStub) -> None:
    with OddsApiStub(lambda: ROWS[:2], api_key=KEY, noise=0.02, seed=3) as noisy:
        c = OddsClient(KEY, noisy.base_url)
        g = c.odds("basketball_nba", regions=["us", "us2", "uk", "eu", "au"])[0]
        cons = event_consensus(g)["Boston Celtics"]
        assert cons.dispersion > 0.005  # books disagree a little...
        assert cons.prob == pytest.approx(0.70 / 1.02, abs=0.03)  # ...around the market
        noisy.set_shift("Boston Celtics", -0.10)
        c.clear_cache()
        shifted = event_consensus(c.odds("basketball_nba", regions=["us", "us2", "uk", "eu", "au"])[0])
        assert shifted["Boston Celtics"].prob == pytest.approx(0.70 / 1.02 - 0.10, abs=0.03)
        with pytest.raises(ValueError, match="delta"):
            noisy.set_shift("Boston Celtics", 1.5)


def test_events_filters_and_date_formats(stub: OddsApiStub) -> None:
    r = get(stub, "/sports/basketball_nba/events", dateFormat="unix")
    assert r.status_code == 200 and r.headers["x-requests-last"] == "0"
    evs = r.json()
    assert [e["commence_time"] for e in evs] == [START // NS, START // NS + 7200]
    assert "bookmakers" not in evs[0]
    later = get(stub, "/sports/basketball_nba/events", commenceTimeFrom=time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(START // NS + 60))).json()  # fmt: skip
    assert [e["home_team"] for e in later] == ["Miami Heat"]
    one = get(stub, "/sports/basketball_nba/odds", regions="us", eventIds=evs[1]["id"]).json()
    assert [e["id"] for e in one] == [evs[1]["id"]]
    assert stub.used == 1


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/sports/basketball_nba/odds", {"apiKey": "nope", "regions": "us"}, 401, "INVALID_KEY"),
        ("/sports/basketball_nba/odds", {"apiKey": ""}, 401, "MISSING_KEY"),
        ("/sports/basketball_nba/odds", {}, 422, "MISSING_REGION"),
        ("/sports/basketball_nba/odds", {"regions": "us,moon"}, 422, "INVALID_REGION"),
        ("/sports/basketball_nba/odds", {"regions": "us", "markets": "h2h,corners"}, 422, "INVALID_MARKET"),
        ("/sports/basketball_nba/odds", {"regions": "us", "oddsFormat": "fractional"}, 422, "INVALID_ODDS_FORMAT"),
        ("/sports/basketball_nba/odds", {"regions": "us", "dateFormat": "rfc"}, 422, "INVALID_DATE_FORMAT"),
        ("/sports/basketball_nba/events", {"commenceTimeFrom": "tomorrow"}, 422, "INVALID_COMMENCE_TIME"),
        ("/sports/curling/odds", {"regions": "us"}, 404, "UNKNOWN_SPORT"),
    ],
)
def test_errors(stub: OddsApiStub, path: str, params: dict[str, str], status: int, code: str) -> None:
    r = get(stub, path, **params)
    assert r.status_code == status
    assert r.json()["error_code"] == code
    assert r.json()["message"]
    assert ("x-requests-remaining" in r.headers) == (status != 401)
    assert stub.used == 0
    assert stub.requests[-1][2] == status and "apiKey" not in stub.requests[-1][1]


def test_quota_exhaustion_and_bookmaker_cost(stub: OddsApiStub) -> None:
    r = get(stub, "/sports/basketball_nba/odds", bookmakers="draftkings,fanduel", markets="h2h,spreads")
    assert r.status_code == 200 and r.headers["x-requests-last"] == "2"  # 2 markets x ceil(2/10) regions
    assert {b["key"] for b in r.json()[0]["bookmakers"]} == {"draftkings", "fanduel"}
    stub.set_quota(2)
    r = get(stub, "/sports/basketball_nba/odds", regions="us,uk", markets="h2h,spreads")  # costs 4
    assert r.status_code == 429
    assert r.json()["error_code"] == "OUT_OF_USAGE_CREDITS"
    assert r.headers["x-requests-remaining"] == "2"
    assert get(stub, "/sports/basketball_nba/odds", regions="us,uk").status_code == 200  # costs 2: fits
    assert get(stub, "/sports/basketball_nba/odds", regions="us").status_code == 429
    assert get(stub, "/sports").status_code == 200  # free endpoints keep working
    assert stub.paid_requests() == 2


def test_injected_failures(stub: OddsApiStub) -> None:
    stub.fail_next(502, times=2)
    assert get(stub, "/sports").status_code == 502
    assert get(stub, "/sports").status_code == 502
    assert get(stub, "/sports").status_code == 200


def _market(ticker: str, title: str, team: str, bid: int | None, ask: int | None, last: int | None = None) -> Market:
    return Market(
        ticker=ticker,
        event_ticker=ticker.rsplit("-", 1)[0],
        title=title,
        yes_sub_title=team,
        yes_bid=bid,
        yes_ask=ask,
        last=last,
        open_ns=123,
    )


def test_games_from_markets() -> None:
    rows = games_from_markets(
        [
            _market("KXNBAGAME-26MAY111000LALBOS-LAL", "Los Angeles L at Boston", "Los Angeles L", 3000, 3200),
            _market("KXNBAGAME-26MAY111000LALBOS-BOS", "Los Angeles L at Boston", "Boston", None, None, 6900),
            _market("KXNBAGAME-26MAY11LACNYK-LAC", "Los Angeles C at New York Winner?", "Los Angeles C", 4000, 4200),
            _market("KXNBAGAME-26MAY11LACNYK-NYK", "Los Angeles C at New York Winner?", "New York", None, None),
            _market("KXBTC-26MAY11-T60000", "Bitcoin above 60000?", "Above 60000", 4000, 4200),
        ]
    )
    assert [(r.team, r.home_team, r.away_team, round(r.prob, 4)) for r in rows] == [
        ("Los Angeles Lakers", "Boston Celtics", "Los Angeles Lakers", 0.31),
        ("Boston Celtics", "Boston Celtics", "Los Angeles Lakers", 0.69),  # no quote: the last trade
        ("Los Angeles Clippers", "New York Knicks", "Los Angeles Clippers", 0.41),
    ]
    # 10:00 ET on 2026-05-11 is 14:00 UTC; a date-only ticker means midnight ET (04:00 UTC)
    assert rows[0].commence_ns == 1_778_508_000 * NS
    assert rows[2].commence_ns == 1_778_472_000 * NS
    tie = games_from_markets([_market("KXEPLGAME-26MAY11ARSCHE-TIE", "Arsenal vs Chelsea", "Tie", 2400, 2600)], {})
    assert tie[0].team == "Draw" and tie[0].home_team == "Chelsea"


def test_odds_agree_with_the_simulated_sports_markets() -> None:
    start = time.time_ns() // NS * NS

    def tape(n: int) -> Iterator:  # type: ignore[type-arg]
        return synthetic_frames(markets=4, duration_s=600, seed=5 + n, start_ns=start, sports=True)

    expected = {m.ticker for m in synthetic_markets(4, 600, 5, start, sports=True)}
    with Simulator(tape=tape, speed=1.0, loop=False) as sim:
        rest = KalshiRest(sim.rest_url)
        eventually(
            lambda: {m.ticker for m in rest.markets(status="open") if m.yes_bid and m.yes_ask} == expected,
            what="the sports markets, quoted",
        )
        sim.pause_tape()
        markets = {m.ticker: m for m in rest.markets(series_ticker="KXNBAGAME", status="open")}
        with OddsApiStub(rest_provider(rest), api_key=KEY, noise=0.0) as stub:
            games = OddsClient(KEY, stub.base_url).odds("basketball_nba")
    assert len(games) == 2
    names = default_names()
    checked = 0
    for m in markets.values():
        team = names[m.yes_sub_title]
        game = next(g for g in games if team in (g.home_team, g.away_team))
        assert m.yes_bid is not None and m.yes_ask is not None
        mid = (m.yes_bid + m.yes_ask) / 20_000  # the two markets of a game mirror each other: mids add up to 1
        assert event_consensus(game)[team].prob == pytest.approx(mid, abs=0.006), m.ticker
        checked += 1
    assert checked == 4
