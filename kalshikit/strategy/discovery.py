"""Market discovery: find the tradeable Kalshi markets of some series, events or categories, with filters.

:func:`discover` lists markets through :meth:`KalshiRest.markets` (which follows the cursor to the last page), one
query per series/event (all markets of ``status`` when none is given), drops duplicates, and keeps the markets that
pass a :class:`DiscoveryFilter`: open, closing within a window, enough volume and open interest, a spread no wider
than a maximum. The close-time window is applied here rather than sent to Kalshi, because Kalshi only accepts close
filters together with some statuses. Every market left out gets a reason in :attr:`Discovery.rejected`.

Multivariate combo markets (MVE, ``KXMVE...`` tickers) are left out unless asked for: every listing sends
``mve_filter=exclude`` (``combos="include"`` sends none, ``combos="only"`` sends ``mve_filter=only``), and a combo the
exchange returns anyway is rejected with its reason. ``status`` takes only the API's market filter words
(:data:`STATUS_FILTERS`); anything else is refused with an error naming them.

Categories are resolved to series tickers through :data:`CATEGORY_SERIES` (Kalshi's sports game series; edit or
pass your own table). :data:`SPORT_SERIES` maps The Odds API's
sport keys to the same series, so an odds sport finds its Kalshi markets.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kalshikit.errors import ConfigError
from kalshikit.kalshi.models import Market
from kalshikit.units import NS_PER_S, PRICE_SCALE

if TYPE_CHECKING:
    from kalshikit.kalshi.rest import KalshiRest

# Kalshi's single-game winner series (check the tickers on kalshi.com before relying on one; edit to taste).
CATEGORY_SERIES: dict[str, tuple[str, ...]] = {
    "NBA": ("KXNBAGAME",),
    "WNBA": ("KXWNBAGAME",),
    "NFL": ("KXNFLGAME",),
    "MLB": ("KXMLBGAME",),
    "NHL": ("KXNHLGAME",),
    "NCAAF": ("KXNCAAFGAME",),
    "NCAAB": ("KXNCAAMBGAME",),
    "MLS": ("KXMLSGAME",),
    "EPL": ("KXEPLGAME",),
}
CATEGORY_SERIES["SPORTS"] = tuple(s for v in list(CATEGORY_SERIES.values()) for s in v)

SPORT_SERIES: dict[str, tuple[str, ...]] = {
    "basketball_nba": CATEGORY_SERIES["NBA"],
    "basketball_wnba": CATEGORY_SERIES["WNBA"],
    "americanfootball_nfl": CATEGORY_SERIES["NFL"],
    "baseball_mlb": CATEGORY_SERIES["MLB"],
    "icehockey_nhl": CATEGORY_SERIES["NHL"],
    "americanfootball_ncaaf": CATEGORY_SERIES["NCAAF"],
    "basketball_ncaab": CATEGORY_SERIES["NCAAB"],
    "soccer_usa_mls": CATEGORY_SERIES["MLS"],
    "soccer_epl": CATEGORY_SERIES["EPL"],
}

_OPEN = frozenset({"active", "open"})  # object status of an open market (current, and older responses)
# GET /markets status filter words: unopened|open|closed|settled (W334), and paused (OAS 3.13; protocol note 3.2).
STATUS_FILTERS: tuple[str, ...] = ("open", "unopened", "closed", "settled", "paused")
# combos= -> the mve_filter sent with every listing (None: no filter, combos and plain markets alike).
COMBOS: dict[str, str | None] = {"exclude": "exclude", "include": None, "only": "only"}


@dataclass(frozen=True)
class DiscoveryFilter:
    """Which markets to look at and which to keep. Units are the kit's: counts in 1/100 contract, prices in $0.0001.

    - ``series`` / ``events`` / ``categories`` / ``tickers``: where to look (nothing = every market of ``status``);
    - ``status``: Kalshi's filter word, one of :data:`STATUS_FILTERS` (``open`` keeps markets whose status is
      active);
    - ``combos``: multivariate combo markets: ``exclude`` (default: ``mve_filter=exclude`` is sent), ``include`` or
      ``only``;
    - ``closing_within_s``: keep markets closing within this many seconds from now; ``min_time_left_s``: and not
      sooner than this (``None`` = no bound);
    - ``min_volume`` / ``min_open_interest``: in 1/100 contract (``10_000`` = 100 contracts); a market that does not
      report the number counts as 0;
    - ``max_spread``: widest YES ask − YES bid kept, price units (``300`` = 3 cents); needs both sides quoted;
    - ``two_sided``: also drop markets with an empty side when no ``max_spread`` is given.
    """

    series: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    tickers: tuple[str, ...] = ()
    status: str = "open"
    closing_within_s: float | None = None
    min_time_left_s: float | None = None
    min_volume: int = 0
    min_open_interest: int = 0
    max_spread: int | None = None
    two_sided: bool = False
    combos: str = "exclude"

    def __post_init__(self) -> None:
        for name in ("series", "events", "categories", "tickers"):
            value = getattr(self, name)
            if isinstance(value, str):  # a single string is a common slip: treat it as one item
                object.__setattr__(self, name, (value,))
            elif not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        problems = []
        if self.status not in STATUS_FILTERS:
            problems.append(
                f"status must be one of Kalshi's market filters {', '.join(STATUS_FILTERS)}, got {self.status!r}"
            )
        if self.combos not in COMBOS:
            problems.append(f"combos must be one of {', '.join(COMBOS)}, got {self.combos!r}")
        for name in ("closing_within_s", "min_time_left_s"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                problems.append(f"{name} must be a number of seconds >= 0 or None, got {v!r}")
        for name in ("min_volume", "min_open_interest"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                problems.append(f"{name} must be an int >= 0 in 1/100 contract (10_000 = 100 contracts), got {v!r}")
        if self.max_spread is not None and (
            isinstance(self.max_spread, bool) or not isinstance(self.max_spread, int) or self.max_spread < 0
        ):
            problems.append(f"max_spread must be an int >= 0 in $0.0001 units (300 = 3 cents), got {self.max_spread!r}")
        if problems:
            raise ConfigError("invalid DiscoveryFilter: " + "; ".join(problems))


@dataclass
class Discovery:
    """What :func:`discover` found: the kept markets (sorted by close time, then ticker), why others were dropped,
    and how many REST listings it took."""

    markets: list[Market]
    rejected: dict[str, str] = field(default_factory=dict)
    queries: int = 0
    now_ns: int = 0

    @property
    def tickers(self) -> list[str]:
        return [m.ticker for m in self.markets]


def series_for(
    categories: Iterable[str], table: Mapping[str, Sequence[str]] | Callable[[str], Sequence[str]] | None = None
) -> list[str]:
    """Series tickers of some categories (``"NBA"``, ``"sports"``), from ``table`` (a mapping or a function) or
    :data:`CATEGORY_SERIES`. Unknown categories raise :class:`ConfigError` naming the known ones."""
    out: list[str] = []
    for c in categories:
        if callable(table):
            found: Sequence[str] | None = table(c)
        else:
            t = CATEGORY_SERIES if table is None else table
            found = t.get(c) or t.get(c.upper()) or t.get(c.lower())
        if not found:
            known = sorted(CATEGORY_SERIES) if table is None or callable(table) else sorted(table)
            raise ConfigError(
                f"unknown category {c!r}; known: {', '.join(known)} — or give series tickers directly "
                "(DiscoveryFilter(series=('KXNBAGAME',))) or your own category table"
            )
        out.extend(s for s in found if s not in out)
    return out


def is_combo(m: Market) -> bool:
    """True for a multivariate combo market (it names its MVE collection, or has a ``KXMVE`` ticker)."""
    return bool(getattr(m, "mve_collection_ticker", "")) or m.ticker.startswith("KXMVE")


def rejection(m: Market, flt: DiscoveryFilter, now_ns: int) -> str | None:
    """Why ``m`` fails ``flt`` (None when it passes)."""
    if flt.status == "open" and m.status and m.status not in _OPEN:
        return f"status {m.status!r} is not open"
    if flt.combos == "exclude" and is_combo(m):
        return "a multivariate combo market (combos='exclude')"
    if flt.combos == "only" and not is_combo(m):
        return "not a multivariate combo market (combos='only')"
    if flt.closing_within_s is not None or flt.min_time_left_s is not None:
        if m.close_ns is None:
            return "no close time"
        left = (m.close_ns - now_ns) / NS_PER_S
        if flt.min_time_left_s is not None and left < flt.min_time_left_s:
            return f"closes in {left:.0f} s, sooner than min_time_left_s={flt.min_time_left_s:g}"
        if flt.closing_within_s is not None and left > flt.closing_within_s:
            return f"closes in {left:.0f} s, later than closing_within_s={flt.closing_within_s:g}"
    volume = m.volume or 0
    if volume < flt.min_volume:
        return f"volume {volume / 100:g} contracts < min {flt.min_volume / 100:g}"
    oi = m.open_interest or 0
    if oi < flt.min_open_interest:
        return f"open interest {oi / 100:g} contracts < min {flt.min_open_interest / 100:g}"
    two_sided = m.yes_bid is not None and m.yes_ask is not None and m.yes_bid > 0 and m.yes_ask < PRICE_SCALE
    if flt.max_spread is not None:
        if not two_sided:
            return "one side of the book is empty (no spread)"
        assert m.yes_bid is not None and m.yes_ask is not None
        spread = m.yes_ask - m.yes_bid
        if spread > flt.max_spread:
            return f"spread {spread / PRICE_SCALE:.4f} > max {flt.max_spread / PRICE_SCALE:.4f}"
    elif flt.two_sided and not two_sided:
        return "one side of the book is empty"
    return None


def discover(
    rest: KalshiRest,
    flt: DiscoveryFilter | None = None,
    *,
    now_ns: int | None = None,
    category_series: Mapping[str, Sequence[str]] | Callable[[str], Sequence[str]] | None = None,
    page_size: int = 1000,
) -> Discovery:
    """List and filter markets (see the module docstring). ``now_ns`` (default: now) is the time the close window
    counts from."""
    now = time.time_ns() if now_ns is None else now_ns
    f = flt or DiscoveryFilter()
    series = list(f.series)
    for s in series_for(f.categories, category_series):
        if s not in series:
            series.append(s)
    status = f.status
    mve = COMBOS[f.combos]
    found: dict[str, Market] = {}
    queries = 0

    def take(markets: list[Market]) -> None:
        for m in markets:
            found.setdefault(m.ticker, m)

    if f.tickers:
        tickers = list(dict.fromkeys(f.tickers))
        for i in range(0, len(tickers), 100):
            take(rest.markets(tickers=tickers[i : i + 100], mve_filter=mve, page_size=page_size))
            queries += 1
    for s in series:
        take(rest.markets(status=status, series_ticker=s, mve_filter=mve, page_size=page_size))
        queries += 1
    for e in f.events:
        take(rest.markets(status=status, event_ticker=e, mve_filter=mve, page_size=page_size))
        queries += 1
    if not (f.tickers or series or f.events):
        take(rest.markets(status=status, mve_filter=mve, page_size=page_size))
        queries += 1
    return _keep(found.values(), f, now, queries)


def _keep(found: Iterable[Market], f: DiscoveryFilter, now: int, queries: int) -> Discovery:
    kept: list[Market] = []
    rejected: dict[str, str] = {}
    for m in found:
        why = rejection(m, f, now)
        if why is None:
            kept.append(m)
        else:
            rejected[m.ticker] = why
    kept.sort(key=lambda m: (m.close_ns if m.close_ns is not None else 1 << 62, m.ticker))
    return Discovery(kept, rejected, queries, now)


# Kalshi's market-list status filter -> the market object statuses it selects (for filtering a known list).
_STATUS_OBJECTS: dict[str, frozenset[str]] = {
    "open": _OPEN,
    "unopened": frozenset({"initialized", "unopened"}),
    "closed": frozenset({"closed"}),
    "settled": frozenset({"settled", "finalized", "determined"}),
    "paused": frozenset({"inactive", "paused"}),
}


def select(
    markets: Iterable[Market],
    flt: DiscoveryFilter | None = None,
    *,
    now_ns: int,
    category_series: Mapping[str, Sequence[str]] | Callable[[str], Sequence[str]] | None = None,
) -> Discovery:
    """:func:`discover` over markets already known (a recording's, in a replay) instead of REST listings: the markets
    of the filter's series (an event ticker ``SERIES-...`` belongs to ``SERIES``), events and tickers (all of them
    when none is given) whose status fits ``status`` (a market without a status passes), then the same filters."""
    f = flt or DiscoveryFilter()
    series = list(f.series)
    for s in series_for(f.categories, category_series):
        if s not in series:
            series.append(s)
    events = set(f.events)
    tickers = set(f.tickers)
    statuses = _STATUS_OBJECTS[f.status]
    found: dict[str, Market] = {}
    for m in markets:
        if tickers or series or events:
            in_series = any(m.event_ticker.startswith(s + "-") or m.event_ticker == s for s in series)
            if not (m.ticker in tickers or m.event_ticker in events or in_series):
                continue
        if f.status != "open" and m.status and m.status not in statuses:
            continue  # "open" is checked by rejection(), with its reason
        found.setdefault(m.ticker, m)
    return _keep(found.values(), f, now_ns, 0)


__all__ = [
    "CATEGORY_SERIES",
    "COMBOS",
    "SPORT_SERIES",
    "STATUS_FILTERS",
    "Discovery",
    "DiscoveryFilter",
    "discover",
    "is_combo",
    "rejection",
    "select",
    "series_for",
]
