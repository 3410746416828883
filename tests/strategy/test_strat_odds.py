"""The Odds API client against the local stub over 127.0.0.1: results, quota headers, caching, slowing down and
refusing near the quota, typed errors (401, 422, 404, 429, 5xx) and the API key never showing."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from kalshikit.config import SecretStr, Settings
from kalshikit.errors import (
    ConfigError,
    OddsAuthError,
    OddsParamError,
    OddsQuotaExhausted,
    OddsTemporaryError,
)
from kalshikit.sim.odds_stub import OddsApiStub, StubMarket
from kalshikit.strategy.devig import event_consensus
from kalshikit.strategy.odds import OddsClient

KEY = "0123456789abcdef-secret-odds-key"
NS = 1_000_000_000
START = 1_790_000_000 * NS  # 2026-09-21
ROWS = [
    StubMarket("G1", "Boston Celtics", "Boston Celtics", "Los Angeles Lakers", START, 0.62),
    StubMarket("G1", "Los Angeles Lakers", "Boston Celtics", "Los Angeles Lakers", START, 0.38),
    StubMarket("G2", "Miami Heat", "Miami Heat", "Toronto Raptors", START + 3600 * NS, 0.45),
]


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def stub() -> Iterator[OddsApiStub]:
    with OddsApiStub(lambda: ROWS, api_key=KEY, quota=100, noise=0.0) as s:
        yield s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def client(stub: OddsApiStub, clock: FakeClock, **kw: object) -> OddsClient:
    kw.setdefault("sleep", lambda _s: None)
    return OddsClient(KEY, stub.base_url, clock=clock, **kw)  # type: ignore[arg-type]


def odds_requests(stub: OddsApiStub) -> int:
    return sum(1 for path, _, _ in stub.requests if path.endswith("/odds"))


def test_sports_events_and_odds(stub: OddsApiStub, clock: FakeClock) -> None:
    c = client(stub, clock)
    sports = c.sports()
    assert "basketball_nba" in [s.key for s in sports]
    assert c.quota.remaining == 100 and c.quota.last == 0  # free
    events = c.events("basketball_nba")
    assert [(e.away_team, e.home_team) for e in events] == [
        ("Los Angeles Lakers", "Boston Celtics"),
        ("Toronto Raptors", "Miami Heat"),
    ]
    assert events[0].commence_ns == START and events[0].bookmakers == ()
    games = c.odds("basketball_nba")
    assert len(games) == 2
    g1 = games[0]
    assert {b.key for b in g1.bookmakers} == {"draftkings", "fanduel", "betmgm", "williamhill_us", "bovada"}
    h2h = g1.bookmakers[0].market("h2h")
    assert h2h is not None and {o.name for o in h2h.outcomes} == {"Boston Celtics", "Los Angeles Lakers"}
    assert all(o.decimal > 1.0 and o.price == o.decimal for o in h2h.outcomes)
    assert g1.fetched_ns > 0
    # Without noise, de-vigged odds give back the probabilities the stub was given (odds are rounded to 0.01).
    cons = event_consensus(g1)
    assert cons["Boston Celtics"].prob == pytest.approx(0.62, abs=0.004)
    assert cons["Boston Celtics"].books == 5
    # G2 has only Miami's market: the other side is 1 - 0.45
    assert event_consensus(games[1])["Toronto Raptors"].prob == pytest.approx(0.55, abs=0.004)


def test_quota_headers_are_read(stub: OddsApiStub, clock: FakeClock) -> None:
    c = client(stub, clock)
    c.odds("basketball_nba", markets=["h2h", "spreads", "totals"], regions=["us", "uk"])
    q = c.quota
    assert (q.remaining, q.used, q.last) == (94, 6, 6)  # 3 markets x 2 regions
    m = c.metrics()
    assert (m["quota_remaining"], m["quota_used"], m["quota_last"]) == (94, 6, 6)
    assert m["paid_requests"] == 1 and m["requests"] == 1
    assert stub.remaining == 94


def test_american_odds_are_converted(stub: OddsApiStub, clock: FakeClock) -> None:
    c = client(stub, clock)
    games = c.odds("basketball_nba", odds_format="american")
    o = games[0].bookmakers[0].market("h2h").outcomes  # type: ignore[union-attr]
    for outcome in o:
        assert outcome.price == int(outcome.price) and abs(outcome.price) >= 100
        expected = 1 + (outcome.price / 100 if outcome.price > 0 else 100 / -outcome.price)
        assert outcome.decimal == pytest.approx(expected)
    assert event_consensus(games[0])["Boston Celtics"].prob == pytest.approx(0.62, abs=0.006)


def test_answers_are_cached_for_the_ttl(stub: OddsApiStub, clock: FakeClock) -> None:
    c = client(stub, clock, cache_ttl=30.0, slow_below=0)  # the quota is small: no slow-down here
    first = c.odds("basketball_nba")
    clock.t += 29.0
    assert c.odds("basketball_nba") == first
    assert odds_requests(stub) == 1
    assert c.metrics()["cache_hits"] == 1
    c.odds("basketball_nba", regions=["uk"])  # other parameters: another cache entry
    assert odds_requests(stub) == 2
    clock.t += 2.0
    c.odds("basketball_nba")
    assert odds_requests(stub) == 3
    assert stub.used == 3


def test_slows_down_near_the_quota(stub: OddsApiStub, clock: FakeClock) -> None:
    c = client(stub, clock, cache_ttl=10.0, slow_below=100, quota_reserve=0)
    stub.set_quota(41)
    c.odds("basketball_nba")  # 40 left: slowdown = 100 / 40 = 2.5, so the answer is good for 25 s
    assert c.metrics()["slowdown"] == pytest.approx(2.5)
    clock.t += 15.0
    c.odds("basketball_nba")
    assert odds_requests(stub) == 1
    assert c.metrics()["slowed"] == 1
    clock.t += 11.0  # 26 s old
    c.odds("basketball_nba")
    assert odds_requests(stub) == 2


def test_refuses_before_the_reserve(stub: OddsApiStub, clock: FakeClock) -> None:
    c = client(stub, clock, cache_ttl=1.0, quota_reserve=5, slow_below=0)
    stub.set_quota(6)
    c.odds("basketball_nba")  # 6 -> 5 left
    clock.t += 2.0
    with pytest.raises(OddsQuotaExhausted, match="reserve of 5") as ei:
        c.odds("basketball_nba")
    assert ei.value.code == "reserve" and ei.value.who_acts == "user"
    assert odds_requests(stub) == 1  # nothing was sent
    assert c.metrics()["refused"] == 1
    c.events("basketball_nba")  # free calls still work
    # After the quota resets, a refusal based on old quota information checks again with a free call.
    stub.set_quota(50)
    clock.t += c.quota_recheck_s + 1
    assert len(c.odds("basketball_nba")) == 2
    assert odds_requests(stub) == 2


def test_429_when_the_quota_is_spent(stub: OddsApiStub, clock: FakeClock) -> None:
    c = client(stub, clock, quota_reserve=0)
    stub.set_quota(0)
    with pytest.raises(OddsQuotaExhausted, match="quota is used up") as ei:
        c.odds("basketball_nba")
    assert ei.value.status == 429 and ei.value.code == "OUT_OF_USAGE_CREDITS"
    assert "upgrade the plan" in str(ei.value)
    assert c.quota.remaining == 0


def test_401_for_a_bad_key(stub: OddsApiStub, clock: FakeClock) -> None:
    c = OddsClient("wrong-key-wrong-key", stub.base_url, clock=clock)
    with pytest.raises(OddsAuthError, match="ODDS_API_KEY") as ei:
        c.sports()
    assert ei.value.status == 401 and ei.value.who_acts == "user"
    assert "wrong-key-wrong-key" not in str(ei.value)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"regions": ["mars"]}, "INVALID_REGION"),
        ({"markets": ["h2h", "player_points"]}, "INVALID_MARKET"),
    ],
)
def test_422_for_bad_parameters(stub: OddsApiStub, clock: FakeClock, kwargs: dict[str, object], code: str) -> None:
    c = client(stub, clock)
    with pytest.raises(OddsParamError, match="a parameter is invalid") as ei:
        c.odds("basketball_nba", **kwargs)  # type: ignore[arg-type]
    assert ei.value.status == 422 and ei.value.code == code
    assert stub.used == 0


def test_unknown_sport_and_local_parameter_errors(stub: OddsApiStub, clock: FakeClock) -> None:
    c = client(stub, clock)
    with pytest.raises(OddsParamError, match="sport key is unknown") as ei:
        c.odds("curling_world")
    assert ei.value.status == 404
    n = len(stub.requests)
    with pytest.raises(OddsParamError, match="sport must be a sport key"):
        c.odds("basketball nba")
    with pytest.raises(OddsParamError, match="markets is empty"):
        c.odds("basketball_nba", markets=[])
    with pytest.raises(OddsParamError, match="odds_format"):
        c.odds("basketball_nba", odds_format="fractional")
    assert len(stub.requests) == n  # caught before sending


def test_server_errors_are_retried_then_typed(stub: OddsApiStub, clock: FakeClock) -> None:
    c = client(stub, clock, attempts=2)
    stub.fail_next(500)
    assert len(c.odds("basketball_nba")) == 2  # the retry got through
    stub.fail_next(503, times=2)
    c.clear_cache()
    with pytest.raises(OddsTemporaryError, match="HTTP 503") as ei:
        c.odds("basketball_nba")
    assert ei.value.retryable


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_the_key_never_shows(stub: OddsApiStub, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = client(stub, clock)
    c.odds("basketball_nba")
    assert KEY not in repr(c) and KEY[:4] in repr(c)
    dead = OddsClient(KEY, f"http://127.0.0.1:{_closed_port()}/v4", attempts=2, sleep=lambda _s: None)
    with pytest.raises(OddsTemporaryError, match="connection failed") as ei:
        dead.sports()
    assert KEY not in str(ei.value)
    assert ei.value.__cause__ is None
    assert "apiKey=<hidden>" in caplog.text  # urllib3 logged the request line at DEBUG...
    assert KEY not in caplog.text  # ...but never the key


def test_construction_errors_and_settings(stub: OddsApiStub) -> None:
    with pytest.raises(ConfigError, match="ODDS_API_KEY is empty"):
        OddsClient("  ")
    with pytest.raises(ConfigError, match="ODDS_API_URL"):
        OddsClient(KEY, "ftp://odds")
    with pytest.raises(ConfigError, match="ODDS_API_KEY is not set"):
        OddsClient.from_settings(Settings.from_env(environ={}))
    settings = Settings.from_env(environ={"ODDS_API_KEY": KEY, "ODDS_API_URL": stub.base_url})
    assert isinstance(settings.odds_api_key, SecretStr)
    with OddsClient.from_settings(settings) as c:
        assert c.sports()[0].key == "basketball_nba"
