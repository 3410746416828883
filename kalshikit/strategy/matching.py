"""Match sportsbook games (The Odds API events) to the Kalshi markets that settle on them.

Kalshi lists a game as one event with a market per team (``KXNBAGAME-26MAY111000LALBOS-LAL``, title
``"Los Angeles L at Boston"``, ``yes_sub_title`` ``"Los Angeles L"``); soccer adds a ``"Tie"`` market. Sportsbooks
name teams in full (``"Los Angeles Lakers"``). A team matches a market when the names agree after normalisation
(case, accents, punctuation), when Kalshi's name is the start of the sportsbook's (the city: ``"Boston"`` /
``"Boston Celtics"``), when it is the city plus the first letter(s) of the nickname (``"Los Angeles L"`` /
``"Los Angeles Lakers"``), or when it is the end (the nickname). ``"Tie"`` matches ``"Draw"``. The game time must agree
too: the start time the event ticker encodes (US Eastern; within ``time_tolerance_s``), or its date, or, for tickers
without a date, a close time after the start.

Names that do not match go in an override table (:class:`Overrides`, from a dict or a CSV file with columns
``sportsbook,kalshi``): the Kalshi side is a name (``"Los Angeles L"``), a ticker code (``"LAL"``: markets whose
ticker ends in ``-LAL``), a full market ticker, or ``skip``; prefix it with ``name:``, ``code:`` or ``ticker:`` to say
which. :attr:`MatchResult.unmatched` is a DataFrame of every team and every market left unmatched, with the reason.
"""

from __future__ import annotations

import csv
import functools
import itertools
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import pandas as pd

from kalshikit.errors import ConfigError
from kalshikit.kalshi.models import Market
from kalshikit.strategy.odds import OddsEvent
from kalshikit.units import NS_PER_S

NS_PER_DAY = 86_400 * NS_PER_S
EASTERN = ZoneInfo("America/New_York")
DRAW = "Draw"
_TICKER_DATE = re.compile(r"-(\d{2})(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)(\d{2})(\d{4})?")
_MONTHS = {
    m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)
}
_FULL_TICKER = re.compile(r"^[A-Z0-9]+(-[A-Z0-9.]+){2,}$")
_CODE = re.compile(r"^[A-Z0-9]{2,6}$")
_TIE_NAMES = frozenset({"tie", "draw"})
UNMATCHED_COLUMNS = ("source", "sport", "event", "team", "ticker", "start", "reason")


# ============================================================================ names and times
@functools.lru_cache(maxsize=8192)
def normalize(name: str) -> str:
    """Lower case, accents and punctuation removed, ``&`` as ``and``, single spaces (``"St. Louis"`` ->
    ``"st louis"``)."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = text.lower().replace("&", " and ")
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return " ".join(text.split())


def name_score(kalshi: str, book: str) -> int:
    """How well Kalshi's team name fits a sportsbook's: 100 same, 80 city (prefix), 75 city + nickname initial,
    60 nickname (suffix), 0 no match."""
    k, b = normalize(kalshi), normalize(book)
    if not k or not b:
        return 0
    if k == b or (k in _TIE_NAMES and b in _TIE_NAMES):
        return 100
    kt, bt = k.split(), b.split()
    n = len(kt)
    if n < len(bt) and bt[:n] == kt:
        return 80
    if n >= 2 and len(kt[-1]) <= 3 and n <= len(bt) and bt[: n - 1] == kt[:-1] and bt[n - 1].startswith(kt[-1]):
        return 75
    if n < len(bt) and bt[-n:] == kt:
        return 60
    return 0


def ticker_start(ticker: str) -> tuple[int, bool] | None:
    """The game time an event/market ticker encodes, as ``(ns UTC, has_time)``: ``KXNBAGAME-26MAY111000LALBOS`` ->
    (2026-05-11 10:00 ET, True); ``KXNBAGAME-26FEB04MEMSAC`` -> (midnight ET of that day, False); None without a
    date."""
    m = _TICKER_DATE.search(ticker)
    if m is None:
        return None
    hhmm = m.group(4)
    try:
        local = datetime(
            2000 + int(m.group(1)),
            _MONTHS[m.group(2)],
            int(m.group(3)),
            int(hhmm[:2]) if hhmm else 0,
            int(hhmm[2:]) if hhmm else 0,
            tzinfo=EASTERN,
        )
    except ValueError:
        return None
    return int(local.astimezone(UTC).timestamp()) * NS_PER_S, hhmm is not None


def _eastern_date(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // NS_PER_S, UTC).astimezone(EASTERN)


def _fmt(ns: int) -> str:
    return datetime.fromtimestamp(ns // NS_PER_S, UTC).strftime("%Y-%m-%d %H:%M UTC")


def title_teams(title: str) -> tuple[str, str] | None:
    """``("Los Angeles L", "Boston")`` from ``"Los Angeles L at Boston"`` (also ``vs``/``@``, ``" Winner?"``)."""
    t = title.strip().removesuffix("?").removesuffix(" Winner").strip()
    for sep in (" at ", " vs. ", " vs ", " @ "):
        a, found, b = t.partition(sep)
        if found and a.strip() and b.strip():
            return a.strip(), b.strip()
    return None


# ============================================================================ overrides
@dataclass(frozen=True)
class Override:
    """How one sportsbook team name maps to Kalshi: ``name`` (Kalshi's name), ``code`` (ticker suffix),
    ``ticker`` (a full market ticker) or ``skip`` (never match)."""

    kind: Literal["name", "code", "ticker", "skip"]
    value: str = ""

    def score(self, m: Market) -> int:
        if self.kind == "skip":
            return 0
        if self.kind == "ticker":
            return 120 if m.ticker == self.value else 0
        if self.kind == "code":
            return 120 if m.ticker.rsplit("-", 1)[-1] == self.value else 0
        name = m.yes_sub_title or m.ticker.rsplit("-", 1)[-1]
        return 110 if normalize(name) == normalize(self.value) else name_score(name, self.value)


def parse_override(value: str) -> Override:
    """``"name:Los Angeles L"``, ``"code:LAL"``, ``"ticker:KXNBAGAME-...-LAL"``, ``"skip"``; without a prefix a full
    ticker or a 2–6 character upper-case code is recognised, anything else is a name."""
    v = value.strip()
    if not v:
        raise ConfigError("an override's Kalshi side is empty; give a name, a ticker code (LAL), a ticker or 'skip'")
    head, sep, rest = v.partition(":")
    if sep and head.lower() in ("name", "code", "ticker"):
        rest = rest.strip()
        if not rest:
            raise ConfigError(f"override {value!r} has nothing after {head}:")
        return Override(head.lower(), rest if head.lower() == "name" else rest.upper())  # type: ignore[arg-type]
    if v.lower() == "skip":
        return Override("skip")
    if _FULL_TICKER.match(v):
        return Override("ticker", v)
    if _CODE.match(v):
        return Override("code", v)
    return Override("name", v)


class Overrides:
    """A user-editable table: sportsbook team name -> Kalshi name / code / ticker / skip (see the module docstring).

    Build from a dict, or :meth:`from_csv` (columns ``sportsbook,kalshi``; ``#`` lines are comments). Keys are
    compared after :func:`normalize`.
    """

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        self._table: dict[str, tuple[str, Override]] = {}
        for book, kalshi in (mapping or {}).items():
            self.add(book, kalshi)

    def add(self, sportsbook: str, kalshi: str) -> None:
        key = normalize(sportsbook)
        if not key:
            raise ConfigError(f"override key {sportsbook!r} is empty; give the sportsbook's team name")
        self._table[key] = (sportsbook, parse_override(kalshi))

    def get(self, sportsbook: str) -> Override | None:
        hit = self._table.get(normalize(sportsbook))
        return hit[1] if hit else None

    def __len__(self) -> int:
        return len(self._table)

    def items(self) -> list[tuple[str, Override]]:
        return [(name, o) for name, o in self._table.values()]

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> Overrides:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(
                f"override file {str(p)!r} does not exist; create a CSV with a header 'sportsbook,kalshi'"
            )
        out = cls()
        with p.open(newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if r and not r[0].lstrip().startswith("#")]
        if not rows:
            return out
        header = [h.strip().lower() for h in rows[0]]
        if len(header) < 2 or not header[0].startswith("sportsbook") or not header[1].startswith("kalshi"):
            raise ConfigError(f"{p}: the first line must be the header 'sportsbook,kalshi', got {rows[0]!r}")
        for i, row in enumerate(rows[1:], start=2):
            if len(row) < 2 or not row[0].strip():
                raise ConfigError(f"{p}: row {i} {row!r} needs two columns: sportsbook name, Kalshi name/code/ticker")
            try:
                out.add(row[0].strip(), row[1].strip())
            except ConfigError as exc:
                raise ConfigError(f"{p}: row {i}: {exc}") from None
        return out

    @classmethod
    def load(cls, source: Overrides | Mapping[str, str] | str | os.PathLike[str] | None) -> Overrides:
        """Overrides from an Overrides, a dict, a CSV path, or None (empty)."""
        if source is None:
            return cls()
        if isinstance(source, Overrides):
            return source
        if isinstance(source, Mapping):
            return cls(source)
        return cls.from_csv(source)

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        with Path(path).open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["sportsbook", "kalshi"])
            for name, o in self.items():
                w.writerow([name, "skip" if o.kind == "skip" else f"{o.kind}:{o.value}"])


# ============================================================================ matching
@dataclass(frozen=True)
class Match:
    """Kalshi market ``ticker`` pays YES when sportsbook ``outcome`` (a team, or ``"Draw"``) wins game ``event_id``."""

    ticker: str
    event_ticker: str
    outcome: str
    kalshi_name: str
    event_id: str
    sport: str
    home_team: str
    away_team: str
    commence_ns: int
    how: str  # "name" | "override"
    score: int


@dataclass
class MatchResult:
    matches: dict[str, Match]  # by Kalshi ticker
    unmatched: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(UNMATCHED_COLUMNS)))

    def for_event(self, event_id: str) -> list[Match]:
        return [m for m in self.matches.values() if m.event_id == event_id]


@dataclass(frozen=True)
class MatchOptions:
    """``time_tolerance_s``: how far the ticker's start time may be from the sportsbook's; ``date_tolerance_days``:
    same for tickers with only a date (Eastern); ``max_close_after_s``: for tickers without a date, how long after
    the start the market may close; ``min_score``: the weakest name match accepted (see :func:`name_score`)."""

    time_tolerance_s: float = 3 * 3600.0
    date_tolerance_days: int = 0
    max_close_after_s: float = 14 * 86_400.0
    min_score: int = 60


@dataclass
class _KEvent:
    event_ticker: str
    markets: list[Market]
    start: tuple[int, bool] | None
    teams: tuple[str, str] | None


def _kalshi_events(markets: Iterable[Market]) -> dict[str, _KEvent]:
    out: dict[str, _KEvent] = {}
    for m in markets:
        ev = out.get(m.event_ticker)
        if ev is None:
            ev = out[m.event_ticker] = _KEvent(m.event_ticker, [], ticker_start(m.event_ticker or m.ticker), None)
        ev.markets.append(m)
        if ev.teams is None:
            ev.teams = title_teams(m.title)
    return out


def _time_problem(commence: int, ev: _KEvent, opt: MatchOptions) -> str | None:
    if ev.start is not None:
        start, has_time = ev.start
        if has_time:
            if abs(commence - start) > opt.time_tolerance_s * NS_PER_S:
                return f"Kalshi {ev.event_ticker} starts {_fmt(start)}, the sportsbook game {_fmt(commence)}"
            return None
        days = abs((_eastern_date(commence).date() - _eastern_date(start).date()).days)
        if days > opt.date_tolerance_days:
            return (
                f"Kalshi {ev.event_ticker} is dated {_eastern_date(start):%Y-%m-%d} (ET), the sportsbook game starts "
                f"{_eastern_date(commence):%Y-%m-%d %H:%M} ET"
            )
        return None
    closes = [m.close_ns for m in ev.markets if m.close_ns is not None]
    if not closes:
        return None
    close = max(closes)
    if close < commence:
        return f"Kalshi {ev.event_ticker} closes {_fmt(close)}, before the game starts {_fmt(commence)}"
    if close - commence > opt.max_close_after_s * NS_PER_S:
        return f"Kalshi {ev.event_ticker} closes {_fmt(close)}, too long after the game starts {_fmt(commence)}"
    return None


def _score(team: str, m: Market, overrides: Overrides) -> tuple[int, str]:
    o = overrides.get(team)
    if o is not None:
        return o.score(m), "override"
    name = m.yes_sub_title or m.ticker.rsplit("-", 1)[-1]
    return name_score(name, team), "name"


def _assign(
    teams: Sequence[str], markets: Sequence[Market], overrides: Overrides, min_score: int
) -> tuple[dict[str, tuple[Market, int, str]], bool]:
    """Best one-to-one assignment of teams to markets; returns it and whether it was ambiguous (a tie)."""
    scores = {(t, m.ticker): _score(t, m, overrides) for t in teams for m in markets}
    if all(s < min_score for s, _ in scores.values()):
        return {}, False  # the common case in a big universe: nothing here names these teams
    slots: list[Market | None] = [*markets, *([None] * len(teams))]
    best: tuple[int, int] = (-1, -1)
    best_assign: dict[str, tuple[Market, int, str]] = {}
    ties = 0
    perms: Iterable[tuple[Market | None, ...]]
    if len(markets) <= 6:
        perms = itertools.permutations(slots, len(teams))
    else:  # greedy for big events: each team its best market

        def best_for(team: str) -> Market:
            return max(markets, key=lambda m: scores[(team, m.ticker)][0])

        perms = [tuple(best_for(t) for t in teams)]
    seen: set[tuple[str | None, ...]] = set()
    for perm in perms:
        key = tuple(m.ticker if m is not None else None for m in perm)
        if key in seen:
            continue
        seen.add(key)
        assign: dict[str, tuple[Market, int, str]] = {}
        total = 0
        ok = True
        for t, m in zip(teams, perm, strict=True):
            if m is None:
                continue
            s, how = scores[(t, m.ticker)]
            if s < min_score:
                ok = False
                break
            assign[t] = (m, s, how)
            total += s
        if not ok:
            continue
        rank = (len(assign), total)
        if rank > best:
            best, best_assign, ties = rank, assign, 0
        elif rank == best and rank[0] > 0:
            ties += 1
    return best_assign, ties > 0


def _teams_of(event: OddsEvent) -> list[str]:
    teams = [event.away_team, event.home_team]
    for b in event.bookmakers:
        for bm in b.markets:
            if bm.key == "h2h" and any(o.name == DRAW for o in bm.outcomes):
                return [*teams, DRAW]
    return teams


def match_events(
    events: Iterable[OddsEvent],
    markets: Iterable[Market],
    overrides: Overrides | Mapping[str, str] | str | os.PathLike[str] | None = None,
    options: MatchOptions | None = None,
) -> MatchResult:
    """Match every sportsbook game to a Kalshi event (see the module docstring); one :class:`Match` per matched
    Kalshi market, and a report of what could not be matched and why."""
    opt = options or MatchOptions()
    ov = Overrides.load(overrides)
    market_list = list(markets)
    kevents = _kalshi_events(market_list)
    rows: list[dict[str, object]] = []
    taken: dict[str, tuple[OddsEvent, int]] = {}  # Kalshi event -> (game, |time difference|)
    chosen: dict[str, tuple[OddsEvent, _KEvent, dict[str, tuple[Market, int, str]]]] = {}

    def report(source: str, sport: str, event: str, team: str, ticker: str, start: int | None, reason: str) -> None:
        when = pd.Timestamp(start, unit="ns", tz="UTC") if start else pd.NaT
        rows.append(
            {
                "source": source,
                "sport": sport,
                "event": event,
                "team": team,
                "ticker": ticker,
                "start": when,
                "reason": reason,
            }
        )

    for game in events:
        teams = _teams_of(game)
        label = f"{game.away_team} at {game.home_team}"
        candidates: list[tuple[tuple[int, int], _KEvent, dict[str, tuple[Market, int, str]]]] = []
        time_misses: list[str] = []
        ambiguous: list[str] = []
        for ev in kevents.values():
            assign, tie = _assign(teams, ev.markets, ov, opt.min_score)
            if not assign:
                continue
            both = all(t in assign for t in teams[:2])
            if not both:
                # One market named: accept only when the event title names both teams of this game.
                tt = ev.teams
                if tt is None or not (
                    (
                        name_score(tt[0], game.away_team) >= opt.min_score
                        and name_score(tt[1], game.home_team) >= opt.min_score
                    )
                    or (
                        name_score(tt[1], game.away_team) >= opt.min_score
                        and name_score(tt[0], game.home_team) >= opt.min_score
                    )
                ):
                    continue
            problem = _time_problem(game.commence_ns, ev, opt)
            if problem is not None:
                time_misses.append(problem)
                continue
            if tie:
                ambiguous.append(ev.event_ticker)
                continue
            candidates.append(((len(assign), sum(s for _, s, _ in assign.values())), ev, assign))
        if not candidates:
            if ambiguous:
                reason = f"ambiguous: the names fit several markets of {', '.join(ambiguous)}; add an override"
            elif time_misses:
                reason = "teams match but the time does not: " + "; ".join(time_misses[:3])
            else:
                reason = "no Kalshi market names these teams; add an override (sportsbook name -> Kalshi name or code)"
            for t in teams:
                report("sportsbook", game.sport_key, label, t, "", game.commence_ns, reason)
            continue
        candidates.sort(key=lambda c: c[0], reverse=True)
        if len(candidates) > 1 and candidates[0][0] == candidates[1][0]:
            names = ", ".join(c[1].event_ticker for c in candidates[:3])
            for t in teams:
                report("sportsbook", game.sport_key, label, t, "", game.commence_ns, f"ambiguous: fits {names} equally")
            continue
        _, ev, assign = candidates[0]
        start = ev.start[0] if ev.start is not None else game.commence_ns
        gap = abs(game.commence_ns - start)
        prev = taken.get(ev.event_ticker)
        if prev is not None:
            other, other_gap = prev
            if other_gap <= gap:
                for t in teams:
                    report(
                        "sportsbook",
                        game.sport_key,
                        label,
                        t,
                        "",
                        game.commence_ns,
                        f"{ev.event_ticker} is already matched to {other.away_team} at {other.home_team} "
                        f"({_fmt(other.commence_ns)}), which is closer in time",
                    )
                continue
            old_game = chosen.pop(ev.event_ticker)[0]
            for t in _teams_of(old_game):
                report(
                    "sportsbook",
                    old_game.sport_key,
                    f"{old_game.away_team} at {old_game.home_team}",
                    t,
                    "",
                    old_game.commence_ns,
                    f"{ev.event_ticker} went to another game closer in time",
                )
        taken[ev.event_ticker] = (game, gap)
        chosen[ev.event_ticker] = (game, ev, assign)
        for t in teams:
            if t not in assign:
                report(
                    "sportsbook",
                    game.sport_key,
                    label,
                    t,
                    "",
                    game.commence_ns,
                    f"{ev.event_ticker} has no market for this outcome",
                )

    matches: dict[str, Match] = {}
    for game, ev, assign in chosen.values():
        for team, (m, score, how) in assign.items():
            matches[m.ticker] = Match(
                ticker=m.ticker,
                event_ticker=ev.event_ticker,
                outcome=team,
                kalshi_name=m.yes_sub_title or m.ticker.rsplit("-", 1)[-1],
                event_id=game.id,
                sport=game.sport_key,
                home_team=game.home_team,
                away_team=game.away_team,
                commence_ns=game.commence_ns,
                how=how,
                score=score,
            )
    for m in market_list:
        if m.ticker in matches:
            continue
        ev = kevents[m.event_ticker]
        if ev.event_ticker in chosen:
            reason = "its event is matched but no sportsbook outcome fits this market's name"
        elif ev.teams is None:
            reason = f"not a game market (title {m.title!r} is not 'Away at Home')"
        else:
            reason = f"no sportsbook game for {ev.teams[0]} at {ev.teams[1]} at this time"
        report("kalshi", "", m.event_ticker, m.yes_sub_title, m.ticker, ev.start[0] if ev.start else m.close_ns, reason)
    frame = pd.DataFrame(rows, columns=list(UNMATCHED_COLUMNS))
    return MatchResult(matches, frame)


__all__ = [
    "DRAW",
    "UNMATCHED_COLUMNS",
    "Match",
    "MatchOptions",
    "MatchResult",
    "Override",
    "Overrides",
    "match_events",
    "name_score",
    "normalize",
    "parse_override",
    "ticker_start",
    "title_teams",
]
