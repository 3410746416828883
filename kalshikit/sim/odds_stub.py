"""A local stand-in for The Odds API v4 whose odds agree with the simulated Kalshi markets.

It serves ``GET /v4/sports``, ``/v4/sports/{sport}/events`` and ``/v4/sports/{sport}/odds`` in the real JSON shapes,
with the quota headers (``x-requests-remaining``, ``x-requests-used``, ``x-requests-last``), 401 for a missing or
wrong ``apiKey``, 422 for bad parameters, 404 for an unknown sport and 429 once its quota is spent (odds cost
``markets × regions`` credits; sports and events are free, as on the real API).

Odds come from a *provider*: a callable returning one :class:`StubMarket` per Kalshi game market (the team its YES
backs, the game's teams and start time, and the current fair YES probability, e.g. the market's mid). The markets
of one game are combined into fair outcome probabilities (normalised to add up to 1); each bookmaker then quotes
them with its own margin (``vig``) and a little noise, as decimal (or American) odds. :func:`games_from_markets`
turns Kalshi :class:`~kalshikit.kalshi.models.Market` objects (from the simulator's REST API) into provider rows;
:func:`rest_provider` wraps that around a :class:`~kalshikit.kalshi.rest.KalshiRest`.

Use it as an aiohttp application (:meth:`OddsApiStub.app`) or let it run its own server on 127.0.0.1 in a
background thread (:meth:`OddsApiStub.start`, or ``with OddsApiStub(...) as stub:``); ``stub.base_url`` ends in
``/v4`` like ``ODDS_API_URL``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kalshikit.recording.synthetic import NBA_TEAMS
from kalshikit.strategy.matching import ticker_start, title_teams

if TYPE_CHECKING:
    from kalshikit.kalshi.models import Market
    from kalshikit.kalshi.rest import KalshiRest

NS_PER_S = 1_000_000_000
REGIONS: tuple[str, ...] = ("us", "us2", "uk", "eu", "au")
MARKETS: tuple[str, ...] = ("h2h", "spreads", "totals")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@dataclass(frozen=True)
class Book:
    """A simulated bookmaker: key/title as the real API spells them, its region and its margin."""

    key: str
    title: str
    region: str
    vig: float


DEFAULT_BOOKS: tuple[Book, ...] = (
    Book("draftkings", "DraftKings", "us", 0.045),
    Book("fanduel", "FanDuel", "us", 0.042),
    Book("betmgm", "BetMGM", "us", 0.050),
    Book("williamhill_us", "Caesars", "us", 0.048),
    Book("bovada", "Bovada", "us", 0.055),
    Book("espnbet", "ESPN BET", "us2", 0.046),
    Book("williamhill", "William Hill", "uk", 0.050),
    Book("pinnacle", "Pinnacle", "eu", 0.025),
    Book("sportsbet", "SportsBet", "au", 0.050),
)

# (key, group, title, description)
DEFAULT_SPORTS: tuple[tuple[str, str, str, str], ...] = (
    ("basketball_nba", "Basketball", "NBA", "US Basketball"),
    ("americanfootball_nfl", "American Football", "NFL", "US Football"),
    ("icehockey_nhl", "Ice Hockey", "NHL", "US Ice Hockey"),
    ("baseball_mlb", "Baseball", "MLB", "Major League Baseball"),
)


@dataclass(frozen=True)
class StubMarket:
    """One Kalshi game market as the stub needs it. Team names are the sportsbooks' (``"Boston Celtics"``);
    ``team`` is the outcome this market's YES backs (``home_team``, ``away_team`` or ``"Draw"``)."""

    event_key: str
    team: str
    home_team: str
    away_team: str
    commence_ns: int
    prob: float
    sport: str = "basketball_nba"
    sport_title: str = "NBA"


Provider = Callable[[], Iterable[StubMarket]]


# ============================================================================ providers from Kalshi markets
def default_names() -> dict[str, str]:
    """Kalshi's short team names -> the sportsbooks' full names, for the teams of the synthetic sports mode."""
    return {short: full for _, short, full in NBA_TEAMS}


def games_from_markets(
    markets: Iterable[Market],
    names: dict[str, str] | None = None,
    *,
    sport: str = "basketball_nba",
    sport_title: str = "NBA",
) -> list[StubMarket]:
    """Provider rows from Kalshi game markets (title ``"Away at Home"``, ``yes_sub_title`` the team, ``"Tie"`` for a
    draw). The fair probability is the mid, else the last trade; markets without either, or without a game title,
    are skipped. ``names`` maps Kalshi names to sportsbook names (default: the NBA table)."""
    table = default_names() if names is None else names
    out: list[StubMarket] = []
    for m in markets:
        teams = title_teams(m.title)
        if teams is None or not m.yes_sub_title:
            continue
        away_short, home_short = teams
        if m.yes_bid is not None and m.yes_ask is not None and m.yes_ask < 10_000:
            prob = (m.yes_bid + m.yes_ask) / 20_000
        elif m.last:
            prob = m.last / 10_000
        else:
            continue
        if not 0.0 < prob < 1.0:
            continue
        parsed = ticker_start(m.event_ticker or m.ticker)
        start = parsed[0] if parsed is not None else m.open_ns
        if start is None:
            continue
        home, away = table.get(home_short, home_short), table.get(away_short, away_short)
        team = "Draw" if m.yes_sub_title.lower() in ("tie", "draw") else table.get(m.yes_sub_title, m.yes_sub_title)
        out.append(StubMarket(m.event_ticker, team, home, away, start, prob, sport, sport_title))
    return out


def rest_provider(
    rest: KalshiRest, series: Sequence[str] = ("KXNBAGAME",), names: dict[str, str] | None = None
) -> Provider:
    """A provider that reads the open markets of ``series`` through a Kalshi REST client (e.g. the simulator's)."""

    def provide() -> list[StubMarket]:
        rows: list[StubMarket] = []
        for s in series:
            rows.extend(games_from_markets(rest.markets(series_ticker=s, status="open"), names))
        return rows

    return provide


# ============================================================================ odds construction
def _event_id(sport: str, key: str) -> str:
    # 32 hex digits like the real ids; stable for a game so eventIds filters work across requests.
    return hashlib.md5(f"{sport}|{key}".encode(), usedforsecurity=False).hexdigest()


def _iso(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // NS_PER_S))


def _american(decimal: float) -> int:
    return round((decimal - 1.0) * 100.0) if decimal >= 2.0 else round(-100.0 / (decimal - 1.0))


@dataclass
class _Game:
    sport: str
    sport_title: str
    key: str
    home: str
    away: str
    commence_ns: int
    probs: dict[str, float]  # outcome -> fair probability (adds up to 1)


def _games(rows: Iterable[StubMarket]) -> list[_Game]:
    grouped: dict[tuple[str, str], list[StubMarket]] = {}
    for r in rows:
        grouped.setdefault((r.sport, r.event_key), []).append(r)
    games: list[_Game] = []
    for (sport, key), rs in grouped.items():
        first = rs[0]
        given: dict[str, float] = {}
        for r in rs:
            if r.team in (first.home_team, first.away_team, "Draw") and 0.0 < r.prob < 1.0:
                given[r.team] = r.prob
        if not given:
            continue
        outcomes = [first.away_team, first.home_team] + (["Draw"] if "Draw" in given else [])
        missing = [o for o in outcomes if o not in given]
        rest = max(0.0, 1.0 - sum(given.values()))
        probs = {o: given.get(o, rest / len(missing) if missing else 0.0) for o in outcomes}
        probs = {o: min(max(p, 0.005), 0.995) for o, p in probs.items()}
        total = sum(probs.values())
        probs = {o: p / total for o, p in probs.items()}
        games.append(_Game(sport, first.sport_title, key, first.home_team, first.away_team, first.commence_ns, probs))
    games.sort(key=lambda g: (g.commence_ns, g.key))
    return games


def _shifted(probs: dict[str, float], team: str, delta: float) -> dict[str, float]:
    target = min(max(probs[team] + delta, 0.005), 0.995)
    others = sum(p for o, p in probs.items() if o != team)
    scale = (1.0 - target) / others if others > 0 else 0.0
    return {o: (target if o == team else p * scale) for o, p in probs.items()}


class OddsApiStub:
    """See the module docstring. ``quota``: credits available; ``noise``: std of each book's error in probability;
    ``seed`` makes the noise reproducible. Thread-safe control: :meth:`set_quota`, :meth:`fail_next`,
    :meth:`set_shift` (move the books' view of a team away from the Kalshi price, to create an edge),
    :attr:`requests` (a log of ``(path, params without the key, status)``)."""

    def __init__(
        self,
        provider: Provider,
        *,
        api_key: str = "stub-odds-key",
        quota: int = 500,
        books: Sequence[Book] = DEFAULT_BOOKS,
        noise: float = 0.01,
        seed: int = 0,
        sports: Sequence[tuple[str, str, str, str]] = DEFAULT_SPORTS,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if quota < 0 or noise < 0:
            raise ValueError("quota and noise must be >= 0")
        self.provider = provider
        self.api_key = api_key
        self.books = tuple(books)
        self.noise = noise
        self.sports = tuple(sports)
        self.host = host
        self.port = port
        self._rng = random.Random(f"kalshikit-odds-stub:{seed}")
        self._lock = threading.Lock()
        self._quota = quota
        self._used = 0
        self._fail: list[int] = []
        self._shift: dict[str, float] = {}
        self.requests: list[tuple[str, dict[str, str], int]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    # ------------------------------------------------------------------ control
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v4"

    @property
    def used(self) -> int:
        with self._lock:
            return self._used

    @property
    def remaining(self) -> int:
        with self._lock:
            return self._quota - self._used

    def set_quota(self, remaining: int) -> None:
        """Set the credits left (``used`` keeps counting)."""
        with self._lock:
            self._quota = self._used + max(0, remaining)

    def set_shift(self, team: str, delta: float) -> None:
        """Add ``delta`` to the fair probability of sportsbook team ``team`` (its opponents lose it in proportion)
        before the books quote; 0 removes the shift."""
        if not -1.0 < delta < 1.0:
            raise ValueError(f"delta must be within (-1, 1), got {delta!r}")
        with self._lock:
            if delta:
                self._shift[team] = delta
            else:
                self._shift.pop(team, None)

    def fail_next(self, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` (a server error, say) before anything else."""
        with self._lock:
            self._fail.extend([status] * times)

    def paid_requests(self) -> int:
        """How many odds requests were answered with data."""
        with self._lock:
            return sum(1 for path, _, status in self.requests if path.endswith("/odds") and status == 200)

    # ------------------------------------------------------------------ HTTP
    def app(self) -> web.Application:
        """The aiohttp application (routes under ``/v4``)."""
        app = web.Application()
        app.router.add_get("/v4/sports", self._sports)
        app.router.add_get("/v4/sports/", self._sports)
        app.router.add_get("/v4/sports/{sport}/odds", self._odds)
        app.router.add_get("/v4/sports/{sport}/odds/", self._odds)
        app.router.add_get("/v4/sports/{sport}/events", self._events)
        app.router.add_get("/v4/sports/{sport}/events/", self._events)
        return app

    def _headers(self, last: int) -> dict[str, str]:
        with self._lock:
            return {
                "x-requests-remaining": str(self._quota - self._used),
                "x-requests-used": str(self._used),
                "x-requests-last": str(last),
            }

    def _log(self, request: web.Request, status: int) -> None:
        params = {k: v for k, v in request.query.items() if k != "apiKey"}
        with self._lock:
            self.requests.append((request.path, params, status))

    def _error(self, request: web.Request, status: int, message: str, code: str, quota: bool = True) -> web.Response:
        self._log(request, status)
        headers = self._headers(0) if quota else {}
        body = {
            "message": message,
            "error_code": code,
            "details_url": f"https://the-odds-api.com/liveapi/guides/v4/api-error-codes.html#{code.lower()}",
        }
        return web.json_response(body, status=status, headers=headers)

    def _gate(self, request: web.Request) -> web.Response | None:
        with self._lock:
            forced = self._fail.pop(0) if self._fail else None
        if forced is not None:
            return self._error(request, forced, "Injected failure (OddsApiStub.fail_next)", "STUB_FAILURE", False)
        key = request.query.get("apiKey")
        if not key:
            return self._error(request, 401, "API key is missing. Add apiKey to the query string", "MISSING_KEY", False)
        if key != self.api_key:
            return self._error(request, 401, "API key is not valid. Check the key and try again", "INVALID_KEY", False)
        return None

    def _sport_known(self, sport: str) -> bool:
        return sport == "upcoming" or any(s[0] == sport for s in self.sports)

    async def _sports(self, request: web.Request) -> web.StreamResponse:
        refusal = self._gate(request)
        if refusal is not None:
            return refusal
        body = [
            {"key": k, "group": g, "title": t, "description": d, "active": True, "has_outrights": False}
            for k, g, t, d in self.sports
        ]
        self._log(request, 200)
        return web.json_response(body, headers=self._headers(0))

    async def _provided(self) -> list[_Game]:
        rows = await asyncio.get_running_loop().run_in_executor(None, lambda: list(self.provider()))
        games = _games(rows)
        with self._lock:
            shift = dict(self._shift)
        for g in games:
            for team, delta in shift.items():
                if team in g.probs:
                    g.probs = _shifted(g.probs, team, delta)
        return games

    def _window(self, request: web.Request) -> tuple[int | None, int | None] | web.Response:
        bounds: list[int | None] = []
        for name in ("commenceTimeFrom", "commenceTimeTo"):
            v = request.query.get(name)
            if v is None:
                bounds.append(None)
                continue
            if not _ISO.match(v):
                return self._error(
                    request,
                    422,
                    f"Invalid {name} parameter. Use the format YYYY-MM-DDTHH:MM:SSZ",
                    "INVALID_COMMENCE_TIME",
                )
            bounds.append(int(datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()) * NS_PER_S)
        return bounds[0], bounds[1]

    def _select(
        self, request: web.Request, sport: str, games: list[_Game], lo: int | None, hi: int | None
    ) -> list[_Game]:
        ids = request.query.get("eventIds")
        want = set(ids.split(",")) if ids else None
        return [
            g
            for g in games
            if (sport == "upcoming" or g.sport == sport)
            and (lo is None or g.commence_ns >= lo)
            and (hi is None or g.commence_ns <= hi)
            and (want is None or _event_id(g.sport, g.key) in want)
        ]

    def _date(self, ns: int, unix: bool) -> str | int:
        return ns // NS_PER_S if unix else _iso(ns)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        refusal = self._gate(request)
        if refusal is not None:
            return refusal
        sport = request.match_info["sport"]
        if not self._sport_known(sport):
            return self._error(
                request, 404, f"Unknown sport {sport!r}. Get sport keys from /v4/sports", "UNKNOWN_SPORT"
            )
        date_format = request.query.get("dateFormat", "iso")
        if date_format not in ("iso", "unix"):
            return self._error(request, 422, "Invalid dateFormat. Valid values are iso and unix", "INVALID_DATE_FORMAT")
        window = self._window(request)
        if isinstance(window, web.Response):
            return window
        games = self._select(request, sport, await self._provided(), *window)
        unix = date_format == "unix"
        body = [
            {
                "id": _event_id(g.sport, g.key),
                "sport_key": g.sport,
                "sport_title": g.sport_title,
                "commence_time": self._date(g.commence_ns, unix),
                "home_team": g.home,
                "away_team": g.away,
            }
            for g in games
        ]
        self._log(request, 200)
        return web.json_response(body, headers=self._headers(0))

    async def _odds(self, request: web.Request) -> web.StreamResponse:
        refusal = self._gate(request)
        if refusal is not None:
            return refusal
        q = request.query
        sport = request.match_info["sport"]
        if not self._sport_known(sport):
            return self._error(
                request, 404, f"Unknown sport {sport!r}. Get sport keys from /v4/sports", "UNKNOWN_SPORT"
            )
        regions = [r for r in q.get("regions", "").split(",") if r]
        bookmakers = [b for b in q.get("bookmakers", "").split(",") if b]
        markets = [m for m in q.get("markets", "h2h").split(",") if m]
        fmt = q.get("oddsFormat", "decimal")
        date_format = q.get("dateFormat", "iso")
        if not regions and not bookmakers:
            return self._error(
                request, 422, "Missing regions parameter. Valid regions are " + ", ".join(REGIONS), "MISSING_REGION"
            )
        bad = [r for r in regions if r not in REGIONS]
        if bad:
            return self._error(
                request, 422, f"Invalid regions {bad}. Valid regions are {', '.join(REGIONS)}", "INVALID_REGION"
            )
        bad = [m for m in markets if m not in MARKETS]
        if bad or not markets:
            return self._error(
                request, 422, f"Invalid markets {bad}. Valid markets are {', '.join(MARKETS)}", "INVALID_MARKET"
            )
        if fmt not in ("decimal", "american"):
            return self._error(
                request, 422, "Invalid oddsFormat. Valid values are decimal and american", "INVALID_ODDS_FORMAT"
            )
        if date_format not in ("iso", "unix"):
            return self._error(request, 422, "Invalid dateFormat. Valid values are iso and unix", "INVALID_DATE_FORMAT")
        window = self._window(request)
        if isinstance(window, web.Response):
            return window
        cost = len(markets) * (len(regions) if not bookmakers else math.ceil(len(bookmakers) / 10))
        with self._lock:
            left = self._quota - self._used
            if left < cost:
                exhausted = True
            else:
                exhausted = False
                self._used += cost
        if exhausted:
            return self._error(
                request,
                429,
                f"Usage quota has been reached: this request costs {cost} and {left} remain. Upgrade the plan or "
                "wait for the monthly reset",
                "OUT_OF_USAGE_CREDITS",
            )
        games = self._select(request, sport, await self._provided(), *window)
        if bookmakers:
            books = [b for b in self.books if b.key in bookmakers]
        else:
            books = [b for b in self.books if b.region in regions]
        now_ns = time.time_ns()
        unix = date_format == "unix"
        body = []
        with self._lock:  # the noise generator is shared state
            for g in games:
                body.append(
                    {
                        "id": _event_id(g.sport, g.key),
                        "sport_key": g.sport,
                        "sport_title": g.sport_title,
                        "commence_time": self._date(g.commence_ns, unix),
                        "home_team": g.home,
                        "away_team": g.away,
                        "bookmakers": [self._book(b, g, markets, fmt, self._date(now_ns, unix)) for b in books],
                    }
                )
        self._log(request, 200)
        return web.json_response(body, headers=self._headers(cost))

    def _price(self, decimal: float, fmt: str) -> float | int:
        decimal = max(1.01, round(decimal, 2))
        return _american(decimal) if fmt == "american" else decimal

    def _book(self, book: Book, g: _Game, markets: list[str], fmt: str, stamp: str | int) -> dict[str, Any]:
        rng = self._rng
        names = list(g.probs)
        noisy = [min(max(g.probs[n] + rng.gauss(0.0, self.noise), 0.01), 0.99) for n in names]
        total = sum(noisy)
        fair = [p / total for p in noisy]
        out_markets: list[dict[str, Any]] = []
        for mk in markets:
            if mk == "h2h":
                outcomes = [
                    {"name": n, "price": self._price(1.0 / (p * (1.0 + book.vig)), fmt)}
                    for n, p in zip(names, fair, strict=True)
                ]
            elif mk == "spreads":
                p_home = g.probs.get(g.home, 0.5)
                line = round(-12.0 * NormalDist().inv_cdf(min(max(p_home, 0.01), 0.99)) * 2) / 2
                even = self._price(2.0 / (1.0 + book.vig), fmt)
                outcomes = [
                    {"name": g.away, "price": even, "point": -line},
                    {"name": g.home, "price": even, "point": line},
                ]
            else:
                even = self._price(2.0 / (1.0 + book.vig), fmt)
                outcomes = [
                    {"name": "Over", "price": even, "point": 220.5},
                    {"name": "Under", "price": even, "point": 220.5},
                ]
            out_markets.append({"key": mk, "last_update": stamp, "outcomes": outcomes})
        return {"key": book.key, "title": book.title, "last_update": stamp, "markets": out_markets}

    # ------------------------------------------------------------------ own server
    def start(self, timeout: float = 30.0) -> OddsApiStub:
        """Serve on ``host:port`` (port 0 = a free one) from a daemon thread; returns once listening."""
        if self._thread is not None:
            raise RuntimeError("the odds stub is already started")
        self._thread = threading.Thread(target=self._main, name="kalshikit-odds-stub", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the odds stub did not start within {timeout} s")
        if self._startup_error is not None:
            raise RuntimeError(f"the odds stub failed to start: {self._startup_error}") from self._startup_error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def __enter__(self) -> OddsApiStub:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            if not self._ready.is_set():
                self._startup_error = exc
                self._ready.set()
            else:
                raise

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner = web.AppRunner(self.app(), handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            await runner.cleanup()
            raise
        self.port = sock.getsockname()[1]
        site = web.SockSite(runner, sock)
        await site.start()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()


__all__ = [
    "DEFAULT_BOOKS",
    "DEFAULT_SPORTS",
    "Book",
    "OddsApiStub",
    "Provider",
    "StubMarket",
    "default_names",
    "games_from_markets",
    "rest_provider",
]
