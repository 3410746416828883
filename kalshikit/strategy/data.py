"""Data gathering for one strategy cycle: the market universe, sportsbook odds, and the matches between them.

:class:`DataGatherer.refresh` is synchronous and meant for the StrategyLoop thread every cycle (~30 s). It

1. re-discovers the universe of Kalshi markets (:func:`~kalshikit.strategy.discovery.discover`) every
   ``universe_ttl_s``;
2. reads the odds of each sport (:meth:`OddsClient.odds`; the client's cache and quota pacing keep this cheap);
3. matches sportsbook games to markets and builds a de-vigged consensus per matched market
   (:func:`match_consensus`, a pure function the strategy replay shares);
4. refreshes the quotes of the matched markets with one REST listing every ``quotes_ttl_s`` (markets the socket does
   not follow would otherwise carry the universe's old prices);
5. looks up each market's fee schedule by series (:class:`~kalshikit.kalshi.series_fees.SeriesFeeCache`: one
   ``GET /series/{series_ticker}`` per series every ``fees_ttl_s``), for ``StrategyContext.fees``.

A failure of either source is logged and kept in :attr:`CycleData.errors`; the last good universe and odds are used
instead (odds carry ``fetched_ns``, so a strategy can ignore old ones). :meth:`DataGatherer.enrich` merges a cycle's
data into a :class:`~kalshikit.strategy.base.StrategyContext`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from kalshikit.core.events import Quote
from kalshikit.core.fees import FeeSchedule, series_of
from kalshikit.errors import ConfigError
from kalshikit.kalshi.models import Market
from kalshikit.kalshi.series_fees import SeriesFeeCache
from kalshikit.strategy.base import StrategyContext
from kalshikit.strategy.devig import AGGREGATES, METHODS, Aggregate, Consensus, Method, event_consensus
from kalshikit.strategy.discovery import SPORT_SERIES, DiscoveryFilter, discover
from kalshikit.strategy.matching import UNMATCHED_COLUMNS, Match, MatchOptions, MatchResult, Overrides, match_events
from kalshikit.strategy.odds import OddsClient, OddsEvent
from kalshikit.units import NS_PER_S

if TYPE_CHECKING:
    from kalshikit.kalshi.rest import KalshiRest

log = logging.getLogger("kalshikit.strategy.data")


@dataclass(frozen=True)
class GatherConfig:
    """What to gather. ``sports``: The Odds API sport keys. ``series``/``events``: Kalshi series/event tickers to
    search (default: the series of each sport in :data:`~kalshikit.strategy.discovery.SPORT_SERIES`). ``filter``:
    the other discovery filters (its series/events are added to these). ``overrides``: the team-name table (dict or
    CSV path). ``regions``/``bookmakers``/``markets``: the odds request; ``method``/``how``/``weights``/``min_books``:
    the consensus. ``universe_ttl_s``: how often to re-discover; ``quotes_ttl_s``: how often to re-read the matched
    markets' quotes; ``fees_ttl_s``: how often to re-read a series' fee fields."""

    sports: tuple[str, ...] = ("basketball_nba",)
    series: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    filter: DiscoveryFilter = field(default_factory=DiscoveryFilter)
    overrides: Overrides | Mapping[str, str] | str | os.PathLike[str] | None = None
    match: MatchOptions = field(default_factory=MatchOptions)
    regions: tuple[str, ...] = ("us",)
    bookmakers: tuple[str, ...] = ()
    markets: tuple[str, ...] = ("h2h",)
    method: Method = "multiplicative"
    how: Aggregate = "mean"
    weights: Mapping[str, float] | None = None
    min_books: int = 1
    universe_ttl_s: float = 300.0
    quotes_ttl_s: float = 15.0
    fees_ttl_s: float = 3_600.0

    def __post_init__(self) -> None:
        for name in ("sports", "series", "events", "regions", "bookmakers", "markets"):
            v = getattr(self, name)
            if isinstance(v, str):
                object.__setattr__(self, name, (v,))
            elif not isinstance(v, tuple):
                object.__setattr__(self, name, tuple(v))
        problems = []
        if not self.sports:
            problems.append("sports is empty; give The Odds API sport keys such as 'basketball_nba'")
        if "h2h" not in self.markets:
            problems.append("markets must include 'h2h' (the winner market that Kalshi game markets settle on)")
        if self.method not in METHODS:
            problems.append(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.how not in AGGREGATES:
            problems.append(f"how must be one of {', '.join(AGGREGATES)}, got {self.how!r}")
        if self.min_books < 1 or self.universe_ttl_s < 0 or self.quotes_ttl_s < 0 or self.fees_ttl_s < 0:
            problems.append("min_books must be >= 1 and the TTLs >= 0")
        if problems:
            raise ConfigError("invalid GatherConfig: " + "; ".join(problems))

    def all_series(self) -> tuple[str, ...]:
        out = list(self.series) + list(self.filter.series)
        if not out and not self.events and not self.filter.events and not self.filter.categories:
            for s in self.sports:
                out.extend(SPORT_SERIES.get(s, ()))
        return tuple(dict.fromkeys(out))

    def discovery_filter(self) -> DiscoveryFilter:
        """The discovery filter of the universe: ``filter`` with the series and events of this config."""
        return dataclasses.replace(
            self.filter, series=self.all_series(), events=tuple(dict.fromkeys(self.events + self.filter.events))
        )


def match_consensus(
    events: Iterable[OddsEvent],
    markets: Iterable[Market],
    config: GatherConfig,
    overrides: Overrides | None = None,
) -> tuple[MatchResult, dict[str, Consensus]]:
    """Match sportsbook games to Kalshi markets and build each matched market's de-vigged consensus (of its YES
    outcome, ``h2h``, with the config's method/aggregate/weights/min_books). Pure: the live gatherer and the
    strategy replay both call it, so they agree on the odds a strategy sees. ``overrides`` default: the config's."""
    ov = overrides if overrides is not None else Overrides.load(config.overrides)
    games = tuple(events)
    result = match_events(games, markets, ov, config.match)
    odds: dict[str, Consensus] = {}
    by_id = {e.id: e for e in games}
    consensus_cache: dict[str, dict[str, Consensus]] = {}
    for ticker, m in result.matches.items():
        if m.event_id not in consensus_cache:
            consensus_cache[m.event_id] = event_consensus(
                by_id[m.event_id],
                market="h2h",
                method=config.method,
                how=config.how,
                weights=config.weights,
                min_books=config.min_books,
                fetched_ns=by_id[m.event_id].fetched_ns,
            )
        c = consensus_cache[m.event_id].get(m.outcome)
        if c is not None:
            odds[ticker] = c
    return result, odds


@dataclass(frozen=True)
class CycleData:
    """One refresh: ``markets`` (the universe, matched ones with fresh quotes), ``odds`` (ticker -> Consensus for
    the market's YES outcome), ``quotes`` (REST quotes of the matched markets), the matches, the unmatched report,
    the sportsbook games, what went wrong, and ``fees`` (ticker -> the fee schedule of its series)."""

    now_ns: int
    markets: dict[str, Market]
    odds: dict[str, Consensus]
    quotes: dict[str, Quote]
    matches: dict[str, Match]
    unmatched: pd.DataFrame
    events: tuple[OddsEvent, ...]
    errors: tuple[str, ...] = ()
    universe_ns: int = 0  # when the universe was last discovered
    odds_ns: dict[str, int] = field(default_factory=dict)  # sport -> when its odds were last received
    fees: dict[str, FeeSchedule] = field(default_factory=dict)  # ticker -> fee schedule of its series


class DataGatherer:
    """See the module docstring. ``clock_ns`` is injectable (tests). ``fees``: the series fee cache (default: one
    on ``rest`` with the config's ``fees_ttl_s``; pass your own to share it or to fix schedules by hand)."""

    def __init__(
        self,
        rest: KalshiRest,
        odds: OddsClient,
        config: GatherConfig | None = None,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        fees: SeriesFeeCache | None = None,
    ) -> None:
        self.rest = rest
        self.odds_client = odds
        self.config = config or GatherConfig()
        self.overrides = Overrides.load(self.config.overrides)
        self._clock = clock_ns
        self.fees = (
            fees
            if fees is not None
            else SeriesFeeCache(rest, ttl_s=self.config.fees_ttl_s, clock=lambda: clock_ns() / NS_PER_S)
        )
        self._lock = threading.Lock()  # guards _last (read by the UI); refresh itself runs on one thread
        self._universe: dict[str, Market] = {}
        self._universe_ns = 0
        self._events: dict[str, tuple[tuple[OddsEvent, ...], int]] = {}  # sport -> (games, fetched_ns)
        self._fresh: dict[str, Market] = {}
        self._fresh_ns = 0
        self._last: CycleData | None = None
        self.refreshes = 0
        self.failures = 0

    @property
    def last(self) -> CycleData | None:
        with self._lock:
            return self._last

    def refresh(self, now_ns: int | None = None) -> CycleData:
        """Gather (see the module docstring). Never raises for a data-source failure; see ``errors``."""
        now = self._clock() if now_ns is None else now_ns
        cfg = self.config
        errors: list[str] = []

        if not self._universe_ns or now - self._universe_ns >= cfg.universe_ttl_s * NS_PER_S:
            flt = cfg.discovery_filter()
            try:
                found = discover(self.rest, flt, now_ns=now)
                self._universe = {m.ticker: m for m in found.markets}
                self._universe_ns = now
                self._fresh = {}
                self._fresh_ns = 0
            except Exception as exc:  # one source failing must not stop the other
                errors.append(f"discovery: {type(exc).__name__}: {exc}")
                log.warning(
                    "market discovery failed; using the last universe (%d markets): %s", len(self._universe), exc
                )

        for sport in cfg.sports:
            try:
                games = self.odds_client.odds(
                    sport,
                    markets=cfg.markets,
                    regions=cfg.regions if not cfg.bookmakers else None,
                    bookmakers=cfg.bookmakers or None,
                )
                self._events[sport] = (tuple(games), max((e.fetched_ns for e in games), default=now))
            except Exception as exc:  # one source failing must not stop the other
                errors.append(f"odds {sport}: {type(exc).__name__}: {exc}")
                log.warning("odds for %s failed; using the last ones: %s", sport, exc)

        all_events = tuple(e for games, _ in self._events.values() for e in games)
        result, odds = match_consensus(all_events, self._universe.values(), cfg, self.overrides)

        if result.matches and (not self._fresh_ns or now - self._fresh_ns >= cfg.quotes_ttl_s * NS_PER_S):
            tickers = sorted(result.matches)
            try:
                fresh: dict[str, Market] = {}
                for i in range(0, len(tickers), 100):
                    for mk in self.rest.markets(tickers=tickers[i : i + 100]):
                        fresh[mk.ticker] = mk
                self._fresh = fresh
                self._fresh_ns = now
            except Exception as exc:  # keep the last quotes
                errors.append(f"quotes: {type(exc).__name__}: {exc}")
                log.warning("could not refresh the quotes of %d matched markets: %s", len(tickers), exc)

        markets = dict(self._universe)
        markets.update({t: m for t, m in self._fresh.items() if t in markets})
        quotes = {t: m.quote(self._fresh_ns) for t, m in self._fresh.items() if t in result.matches}
        fees: dict[str, FeeSchedule] = {}
        try:
            fees = self.fees.for_markets(markets.values())
        except Exception as exc:  # the strategy falls back to its own schedule; say so
            errors.append(f"fees: {type(exc).__name__}: {exc}")
            log.warning("could not look up the fee schedules of %d markets: %s", len(markets), exc)
        fee_problems = dict(self.fees.problems)
        for series in sorted({series_of(m.ticker, m.event_ticker) for m in markets.values()} & set(fee_problems)):
            errors.append(fee_problems[series])
        data = CycleData(
            now_ns=now,
            markets=markets,
            odds=odds,
            quotes=quotes,
            matches=result.matches,
            unmatched=result.unmatched if len(result.unmatched) else pd.DataFrame(columns=list(UNMATCHED_COLUMNS)),
            events=all_events,
            errors=tuple(errors),
            universe_ns=self._universe_ns,
            odds_ns={s: ns for s, (_, ns) in self._events.items()},
            fees=fees,
        )
        with self._lock:
            self._last = data
            self.refreshes += 1
            self.failures += 1 if errors else 0
        return data

    @staticmethod
    def enrich(ctx: StrategyContext, data: CycleData, *, stale_after_s: float = 60.0) -> StrategyContext:
        """``ctx`` with the cycle's markets, odds and fee schedules, and the REST quotes of markets the live cache
        lacks (marked stale when older than ``stale_after_s``). Live quotes in ``ctx.quotes`` win over REST ones;
        schedules already in ``ctx.fees`` win over the cycle's."""
        quotes = dict(data.quotes)
        quotes.update(ctx.quotes)
        stale = set(ctx.stale)
        for t, q in data.quotes.items():
            if t not in ctx.quotes and ctx.now_ns - q.recv_ns > stale_after_s * NS_PER_S:
                stale.add(t)
        return dataclasses.replace(
            ctx,
            markets=dict(data.markets),
            odds=dict(data.odds),
            quotes=quotes,
            stale=frozenset(stale),
            fees={**data.fees, **ctx.fees},
        )


__all__ = ["CycleData", "DataGatherer", "GatherConfig", "match_consensus"]
