"""Matching sportsbook games to Kalshi markets: names, times, overrides (dict and CSV) and the unmatched report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kalshikit.errors import ConfigError
from kalshikit.kalshi.models import Market
from kalshikit.strategy.matching import (
    UNMATCHED_COLUMNS,
    MatchOptions,
    Override,
    Overrides,
    match_events,
    name_score,
    normalize,
    parse_override,
    ticker_start,
    title_teams,
)
from kalshikit.strategy.odds import Bookmaker, BookMarket, OddsEvent, Outcome

NS = 1_000_000_000
# 2026-05-11 10:00 ET = 14:00 UTC
T10 = 1_778_508_000 * NS
HOUR = 3600 * NS


def game(
    tickers_event: str, away: tuple[str, str], home: tuple[str, str], close_ns: int = T10 + 6 * HOUR
) -> list[Market]:
    """A Kalshi game event: ``away``/``home`` are (code, Kalshi name)."""
    title = f"{away[1]} at {home[1]}"
    return [
        Market(ticker=f"{tickers_event}-{code}", event_ticker=tickers_event, title=title, yes_sub_title=name,
               close_ns=close_ns)
        for code, name in (away, home)
    ]  # fmt: skip


def book_event(eid: str, away: str, home: str, commence: int = T10, draw: bool = False) -> OddsEvent:
    names = [away, home] + (["Draw"] if draw else [])
    outcomes = tuple(Outcome(n, 2.0, 2.0) for n in names)
    books = (Bookmaker("dk", "DraftKings", (BookMarket("h2h", outcomes),)),)
    return OddsEvent(eid, "basketball_nba", "NBA", commence, home, away, books)


LAL_BOS = game("KXNBAGAME-26MAY111000LALBOS", ("LAL", "Los Angeles L"), ("BOS", "Boston"))
LAC_NYK = game("KXNBAGAME-26MAY111930LACNYK", ("LAC", "Los Angeles C"), ("NYK", "New York"))


def test_normalize_and_name_scores() -> None:
    assert normalize("  St. Louis  Blues ") == "st louis blues"
    assert normalize("Atlético Madrid") == "atletico madrid"
    assert normalize("Brighton & Hove Albion") == "brighton and hove albion"
    assert name_score("Boston Celtics", "boston celtics") == 100
    assert name_score("Boston", "Boston Celtics") == 80
    assert name_score("Los Angeles L", "Los Angeles Lakers") == 75
    assert name_score("Los Angeles L", "Los Angeles Clippers") == 0
    assert name_score("Celtics", "Boston Celtics") == 60
    assert name_score("Tie", "Draw") == 100
    assert name_score("Boston", "Brooklyn Nets") == 0
    assert name_score("", "Boston") == 0


def test_ticker_times_and_titles() -> None:
    assert ticker_start("KXNBAGAME-26MAY111000LALBOS-LAL") == (T10, True)
    assert ticker_start("KXNBAGAME-26MAY11LALBOS") == (T10 - 10 * HOUR, False)  # midnight ET
    assert ticker_start("KXNBAGAME-26NOV251930LALBOS") == (1_795_653_000 * NS, True)  # EST: 19:30 ET = 00:30 UTC
    assert ticker_start("KXBTC-ABOVE") is None
    assert ticker_start("KXNBAGAME-26FEB31LALBOS") is None  # no such day
    assert title_teams("Los Angeles L at Boston") == ("Los Angeles L", "Boston")
    assert title_teams("Houston vs Oklahoma City Winner?") == ("Houston", "Oklahoma City")
    assert title_teams("Will Bitcoin be above 60k?") is None


def test_matches_teams_to_markets_by_name_and_time() -> None:
    events = [
        book_event("e1", "Los Angeles Lakers", "Boston Celtics"),
        book_event("e2", "Los Angeles Clippers", "New York Knicks", T10 + 9 * HOUR + 30 * 60 * NS),
    ]
    result = match_events(events, LAL_BOS + LAC_NYK)
    got = {t: (m.outcome, m.event_id, m.how) for t, m in result.matches.items()}
    assert got == {
        "KXNBAGAME-26MAY111000LALBOS-LAL": ("Los Angeles Lakers", "e1", "name"),
        "KXNBAGAME-26MAY111000LALBOS-BOS": ("Boston Celtics", "e1", "name"),
        "KXNBAGAME-26MAY111930LACNYK-LAC": ("Los Angeles Clippers", "e2", "name"),
        "KXNBAGAME-26MAY111930LACNYK-NYK": ("New York Knicks", "e2", "name"),
    }
    assert result.unmatched.empty
    assert list(result.unmatched.columns) == list(UNMATCHED_COLUMNS)
    m = result.matches["KXNBAGAME-26MAY111000LALBOS-LAL"]
    assert (m.home_team, m.away_team, m.commence_ns, m.kalshi_name) == (
        "Boston Celtics",
        "Los Angeles Lakers",
        T10,
        "Los Angeles L",
    )
    assert [x.ticker for x in result.for_event("e1")] == [
        "KXNBAGAME-26MAY111000LALBOS-LAL",
        "KXNBAGAME-26MAY111000LALBOS-BOS",
    ]


def test_time_must_agree() -> None:
    late = book_event("e1", "Los Angeles Lakers", "Boston Celtics", T10 + 26 * HOUR)  # the next day's game
    result = match_events([late], LAL_BOS)
    assert result.matches == {}
    rows = result.unmatched
    sb = rows[rows.source == "sportsbook"]
    assert set(sb.team) == {"Los Angeles Lakers", "Boston Celtics"}
    assert sb.reason.str.contains("time does not").all()
    assert sb.iloc[0].start == pd.Timestamp(T10 + 26 * HOUR, unit="ns", tz="UTC")
    kalshi = rows[rows.source == "kalshi"]
    assert set(kalshi.ticker) == {m.ticker for m in LAL_BOS}
    assert kalshi.reason.str.contains("no sportsbook game for Los Angeles L at Boston").all()
    # within the tolerance it matches (a start moved by 2 hours)
    assert len(match_events([book_event("e1", "Los Angeles Lakers", "Boston Celtics", T10 + 2 * HOUR)], LAL_BOS)
               .matches) == 2  # fmt: skip
    strict = MatchOptions(time_tolerance_s=3600)
    assert match_events([book_event("e1", "Los Angeles Lakers", "Boston Celtics", T10 + 2 * HOUR)], LAL_BOS,
                        options=strict).matches == {}  # fmt: skip


def test_date_only_tickers_and_tickers_without_a_date() -> None:
    dated = game("KXNBAGAME-26MAY11LALBOS", ("LAL", "Los Angeles L"), ("BOS", "Boston"))
    evening = T10 + 9 * HOUR  # 19:00 ET the same day
    assert len(match_events([book_event("e", "Los Angeles Lakers", "Boston Celtics", evening)], dated).matches) == 2
    next_day = T10 + 15 * HOUR  # 01:00 ET the next day
    assert match_events([book_event("e", "Los Angeles Lakers", "Boston Celtics", next_day)], dated).matches == {}
    undated = game("KXGAME-LALBOS", ("LAL", "Los Angeles L"), ("BOS", "Boston"), close_ns=T10 + 3 * HOUR)
    assert len(match_events([book_event("e", "Los Angeles Lakers", "Boston Celtics")], undated).matches) == 2
    closes_before = game("KXGAME-LALBOS", ("LAL", "Los Angeles L"), ("BOS", "Boston"), close_ns=T10 - HOUR)
    r = match_events([book_event("e", "Los Angeles Lakers", "Boston Celtics")], closes_before)
    assert r.matches == {} and r.unmatched.reason.str.contains("before the game starts").any()


def test_unmatched_report_names_what_to_do() -> None:
    events = [book_event("e1", "LA Lakers", "Boston Celtics"), book_event("e9", "Utah Jazz", "Denver Nuggets")]
    btc = Market(ticker="KXBTC-26MAY11-T60000", event_ticker="KXBTC-26MAY11", title="Bitcoin above $60,000?")
    result = match_events(events, [*LAL_BOS, btc])
    # "LA Lakers" does not read as "Los Angeles L": only Boston matches by name, and the title check
    # (both teams must appear) fails, so nothing of that game matches
    assert result.matches == {}
    rows = result.unmatched.set_index(["source", "team"])
    assert "add an override" in rows.loc[("sportsbook", "LA Lakers"), "reason"]
    assert "add an override" in rows.loc[("sportsbook", "Denver Nuggets"), "reason"]
    btc_row = result.unmatched[result.unmatched.ticker == btc.ticker].iloc[0]
    assert "not a game market" in btc_row.reason
    # the override fixes it
    fixed = match_events(events, [*LAL_BOS, btc], overrides={"LA Lakers": "Los Angeles L"})
    assert fixed.matches["KXNBAGAME-26MAY111000LALBOS-LAL"].how == "override"
    assert fixed.matches["KXNBAGAME-26MAY111000LALBOS-BOS"].how == "name"
    assert set(fixed.unmatched.team[fixed.unmatched.source == "sportsbook"]) == {"Utah Jazz", "Denver Nuggets"}


@pytest.mark.parametrize(
    "value", ["Los Angeles L", "LAL", "KXNBAGAME-26MAY111000LALBOS-LAL", "code:lal", "name:los angeles l"]
)
def test_override_kinds(value: str) -> None:
    r = match_events([book_event("e1", "Lakers of LA", "Boston Celtics")], LAL_BOS, overrides={"Lakers of LA": value})
    assert r.matches["KXNBAGAME-26MAY111000LALBOS-LAL"].outcome == "Lakers of LA"
    assert r.matches["KXNBAGAME-26MAY111000LALBOS-LAL"].how == "override"


def test_skip_override_and_single_market_events() -> None:
    r = match_events([book_event("e1", "Los Angeles Lakers", "Boston Celtics")], LAL_BOS,
                     overrides={"Los Angeles Lakers": "skip"})  # fmt: skip
    assert list(r.matches) == ["KXNBAGAME-26MAY111000LALBOS-BOS"]  # the title still names both teams
    assert r.unmatched[r.unmatched.source == "sportsbook"].team.tolist() == ["Los Angeles Lakers"]
    assert "no market for this outcome" in r.unmatched.iloc[0].reason
    # an event listing only one team's market matches through its title
    only_home = [LAL_BOS[1]]
    r2 = match_events([book_event("e1", "Los Angeles Lakers", "Boston Celtics")], only_home)
    assert list(r2.matches) == ["KXNBAGAME-26MAY111000LALBOS-BOS"]
    # but not when the title names another game
    other = [Market(ticker="KXNBAGAME-26MAY111000NYKBOS-BOS", event_ticker="KXNBAGAME-26MAY111000NYKBOS",
                    title="New York at Boston", yes_sub_title="Boston", close_ns=T10 + HOUR)]  # fmt: skip
    assert match_events([book_event("e1", "Los Angeles Lakers", "Boston Celtics")], other).matches == {}


def test_parse_override_and_csv(tmp_path: Path) -> None:
    assert parse_override("LAL") == Override("code", "LAL")
    assert parse_override("KXNBAGAME-26MAY111000LALBOS-LAL") == Override("ticker", "KXNBAGAME-26MAY111000LALBOS-LAL")
    assert parse_override("Los Angeles L") == Override("name", "Los Angeles L")
    assert parse_override("ticker:kxa-b-c") == Override("ticker", "KXA-B-C")
    assert parse_override("SKIP") == Override("skip")
    with pytest.raises(ConfigError, match="empty"):
        parse_override(" ")
    csv_file = tmp_path / "overrides.csv"
    csv_file.write_text("sportsbook,kalshi\n# comment\nLA Lakers,Los Angeles L\nLA Clippers,code:LAC\n")
    ov = Overrides.from_csv(csv_file)
    assert len(ov) == 2
    assert ov.get("la lakers") == Override("name", "Los Angeles L")
    out = tmp_path / "round_trip.csv"
    ov.to_csv(out)
    assert Overrides.from_csv(out).items() == ov.items()
    r = match_events([book_event("e1", "LA Lakers", "Boston Celtics")], LAL_BOS, overrides=csv_file)
    assert len(r.matches) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("team,market\nA,B\n")
    with pytest.raises(ConfigError, match="header 'sportsbook,kalshi'"):
        Overrides.from_csv(bad)
    short = tmp_path / "short.csv"
    short.write_text("sportsbook,kalshi\nOnly one column\n")
    with pytest.raises(ConfigError, match="row 2"):
        Overrides.from_csv(short)
    with pytest.raises(ConfigError, match="does not exist"):
        Overrides.load(tmp_path / "missing.csv")


def test_draw_matches_a_tie_market() -> None:
    ev = "KXEPLGAME-26MAY11ARSCHE"
    markets = [
        Market(ticker=f"{ev}-{c}", event_ticker=ev, title="Arsenal vs Chelsea", yes_sub_title=n, close_ns=T10 + HOUR)
        for c, n in (("ARS", "Arsenal"), ("CHE", "Chelsea"), ("TIE", "Tie"))
    ]
    r = match_events([book_event("s1", "Arsenal FC", "Chelsea FC", T10 - 4 * HOUR, draw=True)], markets)
    assert {t: m.outcome for t, m in r.matches.items()} == {
        f"{ev}-ARS": "Arsenal FC",
        f"{ev}-CHE": "Chelsea FC",
        f"{ev}-TIE": "Draw",
    }


def test_two_games_claiming_one_event_keep_the_closer_in_time() -> None:
    dated = game("KXMLBGAME-26MAY11LALBOS", ("LAL", "Los Angeles L"), ("BOS", "Boston"))
    first = book_event("g1", "Los Angeles Lakers", "Boston Celtics", T10 - 9 * HOUR)  # 01:00 ET
    second = book_event(
        "g2", "Los Angeles Lakers", "Boston Celtics", T10 - 1 * HOUR
    )  # 09:00 ET, closer to midnight? no
    r = match_events([second, first], dated)
    assert {m.event_id for m in r.matches.values()} == {"g1"}  # 01:00 ET is closer to the ticker's midnight
    lost = r.unmatched[r.unmatched.source == "sportsbook"]
    assert set(lost.reason.str.contains("closer in time")) == {True}


def test_ambiguous_names_are_reported() -> None:
    ev = "KXNBAGAME-26MAY111000LALLAC"
    markets = [
        Market(ticker=f"{ev}-A", event_ticker=ev, title="Los Angeles at Los Angeles", yes_sub_title="Los Angeles"),
        Market(ticker=f"{ev}-B", event_ticker=ev, title="Los Angeles at Los Angeles", yes_sub_title="Los Angeles"),
    ]
    r = match_events([book_event("e", "Los Angeles Lakers", "Los Angeles Clippers")], markets)
    assert r.matches == {}
    assert r.unmatched[r.unmatched.source == "sportsbook"].reason.str.contains("ambiguous").all()
