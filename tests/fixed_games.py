"""NBA games written out by hand for the end-to-end strategy tests, on both sides: what Kalshi lists (event and
market tickers with the start time in US Eastern, titles, team names as Kalshi writes them) and what the sportsbooks
list (full team names, the start time in UTC). Nothing here comes from :mod:`kalshikit.strategy.matching` or from
the synthetic generator's team table, so an Odds API stub fed from these rows does not agree with the matcher by
construction: a matcher that got a name, a home/away order or a time zone wrong would fail the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from kalshikit.kalshi.models import Market
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.sim import Simulator
from kalshikit.sim.exchange import Exchange
from kalshikit.sim.odds_stub import StubMarket
from kalshikit.units import NS_PER_S, PRICE_SCALE

SERIES = "KXNBAGAME"


@dataclass(frozen=True)
class Team:
    code: str  # Kalshi's ticker code
    kalshi: str  # Kalshi's name in titles and yes_sub_title
    book: str  # the sportsbooks' name


# Written from the teams' own names, not from any table in kalshikit.
TEAMS = {
    t.code: t
    for t in (
        Team("BKN", "Brooklyn", "Brooklyn Nets"),
        Team("BOS", "Boston", "Boston Celtics"),
        Team("DAL", "Dallas", "Dallas Mavericks"),
        Team("DEN", "Denver", "Denver Nuggets"),
        Team("DET", "Detroit", "Detroit Pistons"),
        Team("GSW", "Golden State", "Golden State Warriors"),
        Team("LAC", "Los Angeles C", "Los Angeles Clippers"),
        Team("LAL", "Los Angeles L", "Los Angeles Lakers"),
        Team("MIA", "Miami", "Miami Heat"),
        Team("NOP", "New Orleans", "New Orleans Pelicans"),
        Team("NYK", "New York", "New York Knicks"),
        Team("ORL", "Orlando", "Orlando Magic"),
        Team("SAC", "Sacramento", "Sacramento Kings"),
        Team("TOR", "Toronto", "Toronto Raptors"),
        Team("WAS", "Washington", "Washington Wizards"),
    )
}


@dataclass(frozen=True)
class Game:
    """One game: Kalshi's event ticker and title, the two teams (away first, as Kalshi's title has them), and the
    sportsbooks' start time (ISO, UTC)."""

    event_ticker: str
    title: str
    away: Team
    home: Team
    commence: str

    @property
    def commence_ns(self) -> int:
        return int(datetime.fromisoformat(self.commence).timestamp()) * NS_PER_S

    def markets(self) -> list[tuple[str, Team]]:
        """Kalshi's two markets of the game: (market ticker, the team its YES backs)."""
        return [(f"{self.event_ticker}-{t.code}", t) for t in (self.away, self.home)]


def game(event_ticker: str, title: str, away: str, home: str, commence: str) -> Game:
    return Game(event_ticker, title, TEAMS[away], TEAMS[home], commence)


# Games for a simulator of our own (tests/live/test_strategy_loop.py). The start times straddle the change to
# daylight saving time (2030-03-10 in the US): 19:30 EST is 00:30 UTC the next day, 12:00 EDT is 16:00 UTC.
LIVE_GAMES = (
    game("KXNBAGAME-30JAN151930LALBOS", "Los Angeles L at Boston", "LAL", "BOS", "2030-01-16T00:30:00+00:00"),
    game("KXNBAGAME-30MAR092000GSWLAC", "Golden State at Los Angeles C", "GSW", "LAC", "2030-03-10T01:00:00+00:00"),
    game("KXNBAGAME-30JUL041200NYKMIA", "New York at Miami", "NYK", "MIA", "2030-07-04T16:00:00+00:00"),
)

# The games of the generated tape of tests/replay/test_strategy_replay.py (synthetic sports mode, seed 5, 8 markets,
# starting 2026-05-11 14:00 UTC: every game at half time of the 600 s tape, 10:05 EDT).
TAPE_GAMES = (
    game("KXNBAGAME-26MAY111005LALBOS", "Los Angeles L at Boston", "LAL", "BOS", "2026-05-11T14:05:00+00:00"),
    game("KXNBAGAME-26MAY111005WASSAC", "Washington at Sacramento", "WAS", "SAC", "2026-05-11T14:05:00+00:00"),
    game("KXNBAGAME-26MAY111005MIAORL", "Miami at Orlando", "MIA", "ORL", "2026-05-11T14:05:00+00:00"),
    game("KXNBAGAME-26MAY111005DENNOP", "Denver at New Orleans", "DEN", "NOP", "2026-05-11T14:05:00+00:00"),
)


def stub_rows(games: Iterable[Game], prob: Callable[[str], float | None]) -> list[StubMarket]:
    """Odds API stub rows for ``games``: names and start times from the fixture, the fair probability of each market
    from ``prob(ticker)`` (e.g. its mid; None leaves the market out)."""
    rows = []
    for g in games:
        for ticker, team in g.markets():
            p = prob(ticker)
            if p is not None:
                rows.append(StubMarket(g.event_ticker, team.book, g.home.book, g.away.book, g.commence_ns, p))
    return rows


def mid(m: Market) -> float | None:
    if m.yes_bid is None or m.yes_ask is None or not m.yes_bid < m.yes_ask < PRICE_SCALE:
        return None
    return (m.yes_bid + m.yes_ask) / (2 * PRICE_SCALE)


def fixed_provider(rest: KalshiRest, games: Iterable[Game]) -> Callable[[], list[StubMarket]]:
    """A stub provider quoting ``games`` at their markets' current mids on the exchange behind ``rest``."""
    fixed = tuple(games)

    def provide() -> list[StubMarket]:
        mids = {m.ticker: mid(m) for m in rest.markets(series_ticker=SERIES, status="open")}
        return stub_rows(fixed, mids.get)

    return provide


def list_games(sim: Simulator, games: Iterable[Game], close_ns: int | None = None) -> None:
    """Create each game's two markets on ``sim`` as Kalshi lists them (title, team names, series), unquoted."""
    for g in games:
        for ticker, team in g.markets():

            def add(ex: Exchange, ticker: str = ticker, team: Team = team, g: Game = g) -> None:
                ex.add_market(
                    ticker,
                    event_ticker=g.event_ticker,
                    series_ticker=SERIES,
                    title=g.title,
                    yes_sub_title=team.kalshi,
                    no_sub_title=team.kalshi,
                    close_ns=close_ns if close_ns is not None else g.commence_ns + 3 * 3600 * NS_PER_S,
                    from_tape=True,
                )

            sim.call(add)


def synthetic_session_provider(rest: KalshiRest) -> Callable[[], list[StubMarket]]:
    """A stub provider for a simulator playing its synthetic sports tape (which starts when it is played, so its
    games cannot be written out): the teams from the fixture's table by their ticker codes (the event ticker ends
    in the away then the home team's code), each game's start 300 s after its markets open (a 600 s tape with the
    game at half time), and the current mids. Kalshi's titles and team names are not read."""

    def provide() -> list[StubMarket]:
        rows = []
        for m in rest.markets(series_ticker=SERIES, status="open"):
            p = mid(m)
            event = m.event_ticker
            if p is None or m.open_ns is None or len(event) < 6:
                continue
            away, home, team = TEAMS[event[-6:-3]], TEAMS[event[-3:]], TEAMS[m.ticker.rsplit("-", 1)[1]]
            rows.append(StubMarket(event, team.book, home.book, away.book, m.open_ns + 300 * NS_PER_S, p))
        return rows

    return provide
