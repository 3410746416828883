"""Replay a strategy over a recording: entries from the strategy, limits from the RiskManager, exits from the live
Monitor, in one time-ordered loop — ``replay_strategy(sources, strategy, odds=..., gather=..., risk=...)``.

What it models, explicitly:

- **Time** is the frames' receive time. Frames are read in the reader's order and decoded by the live
  :class:`~kalshikit.kalshi.messages.FrameDecoder`; each market is replayed by its own
  :class:`~kalshikit.replay.market.MarketReplay` (the real :class:`~kalshikit.core.monitor.Monitor`, exits priced
  by the exit :class:`~kalshikit.replay.fills.FillModel`, exactly as :func:`~kalshikit.replay.engine.replay`).
- **Cycles** run every ``interval_s`` of recording time from ``start_ns`` (default: the first market frame), like the
  StrategyLoop. A cycle at ``t`` happens after every frame received at or before ``t``. It builds the
  :class:`~kalshikit.strategy.base.StrategyContext` the live kit builds:

  - ``quotes``: the latest recorded quote of each market of the universe and of each held market;
  - ``stale``: those older than ``stale_after_s`` (the live price cache's rule; None: never stale);
  - ``positions``: ``Monitor.snapshot(t)`` of every market held (monitor deadlines due by ``t`` are run first);
  - ``balance``: ``bankroll`` − cash paid for entries and their fees + cash received from exits and settlements
    (micro-dollars; from the monitors' position accounting);
  - ``realized_today``: net P&L of the positions closed since 00:00 UTC of ``t`` (as the kit computes it);
  - ``exchange_open``: always True (a recording does not say when the exchange halted);
  - ``markets``: the universe — :func:`~kalshikit.strategy.discovery.select` (the discovery filter of ``gather``
    applied to the markets the recording's lifecycle ``created`` frames announced, with their current quote and a
    status from the lifecycle frames and close time), re-selected every ``gather.universe_ttl_s`` and as soon as
    the recording announces a new market (a live kit would see it at its next discovery, up to the TTL later);
  - ``odds``: per sport, the latest recorded ``/sports/{sport}/odds`` answer received **at or before** ``t`` (no
    look-ahead; an answer received during a live cycle is seen from the next replay cycle after it), matched and
    de-vigged by :func:`~kalshikit.strategy.data.match_consensus`, the function the live DataGatherer uses.

- **Entries**: each intent of ``strategy.decide(ctx)`` goes through ``RiskManager.check(intent, ctx)``; an allowed
  one is tracked by the monitor (``TrackOrder`` with the intent's protection, as the live StrategyLoop does), then
  reaches the book ``latency_ms`` later. An IOC entry fills against the quote prevailing at arrival — up to the
  displayed size, at prices no worse than its limit, each fill paying the taker fee — and the rest is cancelled. A
  GTC entry does the same on arrival, then its remainder rests at its limit until ``rest_seconds`` after the
  decision: every later quote of the market whose own-side ask is at or below the limit fills it at the limit, up
  to the displayed size, paying the maker fee (0 on standard markets); then the rest is cancelled. Liquidity taken
  stays taken until the next quote replaces the book. Fills reach the monitor as ``Fill`` events with the order's
  client order id, so the monitor opens (or adds to) the position and arms the intent's protection on the fill —
  the live path. Nothing of an entry is decided here: the strategy decides, the RiskManager limits, the Monitor
  exits.

The result is :func:`~kalshikit.replay.results.build_result`'s (trades, summary, decisions, gaps, open positions),
plus ``entries`` (every intent: sent or refused and why, filled count and price) and ``cycles`` (one row per cycle).
Recordings: the markets need ``ticker`` and ``market_lifecycle_v2`` frames of every market the strategy may trade
(:class:`~kalshikit.replay.capture.MarketCapture` records them beside a live session; the kit's own recording holds
only the markets it holds), and the odds the recordings of :class:`~kalshikit.strategy.odds_recording.OddsRecorder`.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pandas as pd

from kalshikit.core.actions import PlaceOrder
from kalshikit.core.book import OrderBook
from kalshikit.core.events import Fill, Lifecycle, MarketInfo, OrderUpdate, Quote, Tick, TrackOrder
from kalshikit.core.grid import PriceGrid
from kalshikit.core.rules import Protection
from kalshikit.errors import ConfigError
from kalshikit.kalshi.messages import FrameDecoder, Malformed
from kalshikit.kalshi.models import Market
from kalshikit.recording.reader import ReadReport, read_frames, recording_files
from kalshikit.replay.entries import Entry
from kalshikit.replay.fees import FeesArg, resolve_fees
from kalshikit.replay.fills import FillModel
from kalshikit.replay.market import EntryRecord, MarketOutput, MarketReplay, replay_monitor_config
from kalshikit.replay.results import ReplayResult, build_result
from kalshikit.replay.sources import grid_from_created, is_parquet, market_info_from_raw
from kalshikit.strategy.base import OrderIntent, Strategy, StrategyContext
from kalshikit.strategy.data import GatherConfig, match_consensus
from kalshikit.strategy.devig import Consensus
from kalshikit.strategy.discovery import select
from kalshikit.strategy.matching import Overrides
from kalshikit.strategy.odds import OddsEvent
from kalshikit.strategy.odds_recording import OddsSnapshot, is_odds_recording, read_odds
from kalshikit.strategy.risk import RiskLimits, RiskManager
from kalshikit.units import COUNT_SCALE, MONEY_SCALE, NS_PER_S, PRICE_SCALE

ONE = PRICE_SCALE
INF = 1 << 62
NS_PER_MS = 1_000_000
ENTRY_COLUMNS = [
    "ns",
    "ts",
    "ticker",
    "side",
    "count",
    "limit",
    "time_in_force",
    "action",
    "why",
    "reason",
    "status",
    "filled",
    "fill_price",
    "fees",
    "position_id",
    "note",
]
CYCLE_COLUMNS = ["ns", "ts", "universe", "matched", "odds_received_ns", "intents", "sent", "refused", "balance",
                 "positions", "error"]


# ============================================================================ result
@dataclass(repr=False)
class StrategyReplayResult(ReplayResult):
    """:class:`~kalshikit.replay.results.ReplayResult` plus ``entries`` (one row per intent; counts in contracts,
    prices and money in dollars) and ``cycles`` (one row per strategy cycle)."""

    entries: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ENTRY_COLUMNS))
    cycles: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CYCLE_COLUMNS))

    def __repr__(self) -> str:
        s = self.summary
        e = self.entries
        sent = int((e["action"] == "sent").sum()) if len(e) else 0
        refused = int((e["action"] == "refused").sum()) if len(e) else 0
        return (
            f"<StrategyReplayResult cycles={len(self.cycles)} intents={len(e)} sent={sent} refused={refused} "
            f"trades={s['trades']} pnl=${s['pnl']:.2f} open={s['open_positions']}>"
        )


# ============================================================================ market metadata from lifecycle frames
@dataclass
class _Meta:
    ticker: str
    event_ticker: str = ""
    title: str = ""
    yes_sub_title: str = ""
    no_sub_title: str = ""
    rules_primary: str = ""
    open_ns: int | None = None
    close_ns: int | None = None
    grid: PriceGrid | None = None
    created: bool = False
    paused: bool = False
    determined: bool = False
    settled: bool = False
    result: str = ""
    settlement_value: int | None = None

    def status(self, now: int) -> str:
        """The REST status the market would have at ``now`` ("" when the recording never described it)."""
        if self.settled:
            return "finalized"
        if self.determined:
            return "determined"
        if self.close_ns is not None and now >= self.close_ns:
            return "closed"
        if not self.created:
            return ""
        if self.paused:
            return "inactive"
        if self.open_ns is not None and now < self.open_ns:
            return "initialized"
        return "active"

    def market(self, now: int, q: Quote | None) -> Market:
        return Market(
            ticker=self.ticker,
            event_ticker=self.event_ticker or self.ticker.rsplit("-", 1)[0],
            title=self.title,
            yes_sub_title=self.yes_sub_title,
            no_sub_title=self.no_sub_title,
            status=self.status(now),
            result=self.result,
            open_ns=self.open_ns,
            close_ns=self.close_ns,
            yes_bid=q.yes_bid if q else None,
            yes_ask=q.yes_ask if q else None,
            last=q.last if q else None,
            yes_bid_size=q.yes_bid_size if q else None,
            yes_ask_size=q.yes_ask_size if q else None,
            volume=q.volume if q else None,
            open_interest=q.open_interest if q else None,
            grid=self.grid,
            settlement_value=self.settlement_value,
            rules_primary=self.rules_primary,
        )

    def apply(self, ev: Lifecycle, raw: str) -> None:
        kind = ev.event_type
        if ev.close_ns is not None:
            self.close_ns = ev.close_ns
        if ev.open_ns is not None:
            self.open_ns = ev.open_ns
        if kind == "created":
            self.created = True
            try:
                msg = json.loads(raw).get("msg") or {}
            except (ValueError, AttributeError):
                msg = {}
            meta = msg.get("additional_metadata") or {}
            self.title = str(meta.get("title") or meta.get("name") or self.title)
            self.yes_sub_title = str(meta.get("yes_sub_title") or self.yes_sub_title)
            self.no_sub_title = str(meta.get("no_sub_title") or self.no_sub_title)
            self.event_ticker = str(meta.get("event_ticker") or msg.get("event_ticker") or self.event_ticker)
            self.rules_primary = str(meta.get("rules_primary") or self.rules_primary)
            self.grid = grid_from_created(msg) or self.grid
        elif kind == "price_level_structure_updated":
            with contextlib.suppress(ValueError, AttributeError):
                self.grid = grid_from_created(json.loads(raw).get("msg") or {}) or self.grid
        elif kind == "deactivated":
            self.paused = ev.is_deactivated is not False
        elif kind == "activated":
            self.paused = False
        elif kind == "determined":
            self.determined = True
            self.result = ev.result or self.result
            self.settlement_value = ev.settlement_value if ev.settlement_value is not None else self.settlement_value
        elif kind == "settled":
            self.settled = True
            self.result = ev.result or self.result
            self.settlement_value = ev.settlement_value if ev.settlement_value is not None else self.settlement_value


# ============================================================================ odds as of a time
class _SportOdds:
    """The recorded ``/odds`` answers of one sport, read as of a time that only moves forward."""

    def __init__(self, snapshots: list[OddsSnapshot], problems: list[tuple[str, int, str]]) -> None:
        self.snapshots = snapshots
        self.problems = problems
        self._next = 0
        self.current: tuple[int, tuple[OddsEvent, ...]] | None = None  # (index, games) of the last good answer

    def at(self, now: int) -> tuple[int, tuple[OddsEvent, ...]] | None:
        while self._next < len(self.snapshots) and self.snapshots[self._next].recv_ns <= now:
            snap = self.snapshots[self._next]
            try:
                self.current = (self._next, tuple(snap.events()))
            except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError) as exc:
                # Live, the client raises on such an answer and the gatherer keeps the last good odds: so here.
                self.problems.append((snap.path, self._next, f"odds answer at {snap.recv_ns} unreadable: {exc}"))
            self._next += 1
        return self.current


def _h2h(snap: OddsSnapshot) -> bool:
    return snap.endpoint == "odds" and "h2h" in snap.params.get("markets", "h2h").split(",")


# ============================================================================ entries in flight
@dataclass
class _Order:
    row: dict[str, Any]
    intent: OrderIntent
    order: PlaceOrder
    decided_ns: int
    expires_ns: int | None  # GTC: when the unfilled rest is cancelled
    filled: int = 0
    value: int = 0  # own-side price × count
    yes_value: int = 0  # YES price × count
    fees: int = 0
    fills: int = 0
    done: bool = False

    @property
    def remaining(self) -> int:
        return self.order.count - self.filled


# ============================================================================ the session
class _Session:
    def __init__(
        self,
        strategy: Strategy,
        odds: list[OddsSnapshot],
        gather: GatherConfig | None,
        risk: RiskManager,
        interval_ns: int,
        start_ns: int | None,
        bankroll: int,
        fill: FillModel,
        stale_after_ns: int | None,
        keep_decisions: bool,
        problems: list[tuple[str, int, str]],
    ) -> None:
        self.strategy = strategy
        self.risk = risk
        self.interval_ns = interval_ns
        self.next_cycle = start_ns
        self.bankroll = bankroll
        self.fill = fill
        self.stale_after_ns = stale_after_ns
        self.keep_decisions = keep_decisions
        self.problems = problems
        self.config = replay_monitor_config()
        self.markets: dict[str, MarketReplay] = {}
        self.meta: dict[str, _Meta] = {}
        self.quotes: dict[str, Quote] = {}
        self._books: dict[str, tuple[Quote, OrderBook]] = {}
        self._events: list[tuple[int, int, int, str, _Order]] = []
        self._resting: dict[str, list[_Order]] = {}
        self._traded: dict[str, None] = {}  # markets entered, in order (a dict: iteration order is deterministic)
        self._seq = 0  # entry orders sent
        self._pushed = 0  # time events scheduled (heap tie-break: first scheduled, first handled)
        self.now = 0
        self.ticks = 0
        self.rows: list[dict[str, Any]] = []
        self.cycle_rows: list[dict[str, Any]] = []
        self.errors = 0
        # universe and odds
        sports: tuple[str, ...] = ()
        if gather is not None:
            sports = gather.sports
        else:
            sports = tuple(dict.fromkeys(s.sport for s in odds if _h2h(s) and s.sport))
        self.gather = gather
        self.consensus_config = gather if gather is not None else (GatherConfig(sports=sports) if sports else None)
        self.overrides = Overrides.load(self.consensus_config.overrides) if self.consensus_config else Overrides()
        paths = {s: f"/sports/{s}/odds" for s in sports}
        self.sport_odds = {
            s: _SportOdds([o for o in odds if o.path == p and _h2h(o)], problems) for s, p in paths.items()
        }
        self.odds_used: set[tuple[str, int]] = set()  # (sport, snapshot index) of every answer a cycle used
        self._universe_ns: int | None = None
        self._members: list[str] = []
        self._universe_markets: list[Market] = []
        self._universe_version = 0
        self._known_count = 0
        self._odds_key: tuple[Any, ...] | None = None
        self._odds: dict[str, Consensus] = {}
        self._odds_recv = 0

    # ------------------------------------------------------------------ markets
    def market(self, ticker: str) -> MarketReplay:
        m = self.markets.get(ticker)
        if m is None:
            m = self.markets[ticker] = MarketReplay(
                ticker,
                protection=None,
                fill_model=self.fill,
                config=self.config,
                keep_decisions=self.keep_decisions,
            )
            self.meta.setdefault(ticker, _Meta(ticker))
        return m

    def _book(self, ticker: str, q: Quote) -> OrderBook:
        cached = self._books.get(ticker)
        if cached is not None and cached[0] is q:
            return cached[1]
        book = self.fill.book_for(q)
        self._books[ticker] = (q, book)
        return book

    # ------------------------------------------------------------------ frames
    def run(self, frames: Iterable[Any], report: ReadReport) -> None:
        decode = FrameDecoder().decode
        for f in frames:
            t = f.recv_ns
            if t > self.now:
                self.advance(t)
                self.now = t
            msg = decode(f.raw, t)
            if isinstance(msg, Quote):
                if self.next_cycle is None:
                    self.next_cycle = t  # the first cycle: at the first market frame (not a control reply)
                self.ticks += 1
                self.market(msg.ticker).on_quote(msg)
                self.quotes[msg.ticker] = msg
                if msg.ticker in self._resting:
                    self._rest_fill(msg.ticker, msg, t)
            elif isinstance(msg, Lifecycle):
                if self.next_cycle is None:
                    self.next_cycle = t
                m = self.market(msg.ticker)
                self.meta[msg.ticker].apply(msg, f.raw)
                if msg.event_type in ("created", "price_level_structure_updated", "close_date_updated"):
                    info: MarketInfo | None = market_info_from_raw(f.raw)
                    if info is not None:
                        m.on_event(info, t)
                m.on_event(msg, t)
            elif isinstance(msg, Malformed):
                report.add_problem(f.path, f.line, f"malformed frame: {msg.error}")

    def advance(self, t: int) -> None:
        """Run every time event (entry arrivals, GTC expiries, cycles) strictly before ``t``, in time order."""
        while True:
            te = self._events[0][0] if self._events else INF
            tc = self.next_cycle if self.next_cycle is not None else INF
            if min(te, tc) >= t:
                return
            if te <= tc:
                when, _, _, kind, order = heapq.heappop(self._events)
                if kind == "arrive":
                    self._arrive(order, when)
                else:
                    self._expire(order, when)
            else:
                self._cycle(tc)
                self.next_cycle = tc + self.interval_ns

    def end(self) -> None:
        """After the last frame: events up to it have run; later arrivals never reach the book, resting rests are
        cancelled at the end of the data."""
        self.advance(self.now + 1)
        while self._events:
            _, _, _, kind, o = heapq.heappop(self._events)
            if o.done:
                continue
            if kind == "arrive":
                o.row["status"] = "unfilled"
                o.row["note"] = "the recording ended before the order reached the book"
                o.done = True
            else:
                self._expire(o, self.now, note="the recording ended while it rested")

    # ------------------------------------------------------------------ a strategy cycle
    def _held(self) -> list[str]:
        return [t for t in self._traded if self.markets[t].monitor.positions]

    def _universe(self, now: int) -> None:
        cfg = self.gather
        known = len(self.meta)
        if cfg is None:
            if known != self._known_count or self._universe_ns is None:
                self._members = list(self.meta)
                self._universe_markets = [self.meta[t].market(now, self.quotes.get(t)) for t in self._members]
                self._universe_version += 1
                self._known_count = known
                self._universe_ns = now
            return
        created = sum(1 for m in self.meta.values() if m.created)
        due = self._universe_ns is None or now - self._universe_ns >= cfg.universe_ttl_s * NS_PER_S
        if not due and created == self._known_count:
            return
        self._known_count = created
        candidates = [m.market(now, self.quotes.get(t)) for t, m in self.meta.items()]
        found = select(candidates, cfg.discovery_filter(), now_ns=now)
        self._members = [m.ticker for m in found.markets]
        self._universe_markets = list(found.markets)
        self._universe_version += 1
        self._universe_ns = now

    def _odds_at(self, now: int) -> dict[str, Consensus]:
        cfg = self.consensus_config
        if cfg is None:
            return {}
        current = [(s, so.at(now)) for s, so in self.sport_odds.items()]
        key = (self._universe_version, tuple(c[0] if c is not None else -1 for _, c in current))
        if key != self._odds_key:
            games = tuple(e for _, c in current if c is not None for e in c[1])
            _, self._odds = match_consensus(games, self._universe_markets, cfg, self.overrides)
            self._odds_key = key
            recv = [self.sport_odds[s].snapshots[c[0]].recv_ns for s, c in current if c is not None]
            self._odds_recv = max(recv, default=0)
            for s, c in current:
                if c is not None:
                    self.odds_used.add((s, c[0]))
        return self._odds

    def _balance(self) -> int:
        cash = self.bankroll
        for t in self._traded:
            mon = self.markets[t].monitor
            cash += sum(c.realized - c.fees for c in self.markets[t].out.closed)
            for g in mon.positions.values():
                cash += g.pos.realized - g.pos.fees - g.pos.cost
        return cash

    def _realized_today(self, now: int) -> int:
        day = datetime.fromtimestamp(now // NS_PER_S, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = int(day.timestamp()) * NS_PER_S
        return sum(
            c.realized - c.fees for t in self._traded for c in self.markets[t].out.closed if c.closed_ns >= start
        )

    def _cycle(self, now: int) -> None:
        for t in self._held():  # deadlines due by now (time exits, retries) happen before the strategy looks
            m = self.markets[t]
            d = m.monitor.next_deadline()
            if d is not None and d <= now:
                m.on_event(Tick(), now)
        held = self._held()
        views = tuple(v for t in held for v in self.markets[t].monitor.snapshot(now))
        self._universe(now)
        odds = self._odds_at(now)
        markets = {t: self.meta[t].market(now, self.quotes.get(t)) for t in self._members}
        if self.gather is None:
            quotes = dict(self.quotes)
        else:
            quotes = {t: q for t in (*self._members, *held) if (q := self.quotes.get(t)) is not None}
        stale: frozenset[str] = frozenset()
        if self.stale_after_ns is not None:
            stale = frozenset(t for t, q in quotes.items() if now - q.recv_ns > self.stale_after_ns)
        ctx = StrategyContext(
            now_ns=now,
            quotes=quotes,
            positions=views,
            balance=self._balance(),
            markets=markets,
            odds=dict(odds),
            exchange_open=True,
            stale=stale,
            realized_today=self._realized_today(now),
            fees={t: self.fill.fees_for(t) for t in (*markets, *quotes)},
        )
        row: dict[str, Any] = {
            "ns": now,
            "universe": len(markets),
            "matched": len(odds),
            "odds_received_ns": self._odds_recv or None,
            "intents": 0,
            "sent": 0,
            "refused": 0,
            "balance": ctx.balance,
            "positions": len(views),
            "error": "",
        }
        self.cycle_rows.append(row)
        try:
            intents = list(self.strategy.decide(ctx))
        except Exception as exc:  # as live: a failing strategy costs its cycle, never the replay
            self.errors += 1
            row["error"] = f"{type(exc).__name__}: {exc}"
            return
        row["intents"] = len(intents)
        for intent in intents:
            action = self._enter(intent, ctx, now)
            row[action] = row.get(action, 0) + 1

    # ------------------------------------------------------------------ entries
    def _enter(self, intent: OrderIntent, ctx: StrategyContext, now: int) -> str:
        if not isinstance(intent, OrderIntent):
            self.rows.append(_row(now, None, "invalid", f"not an OrderIntent: {type(intent).__name__}"))
            return "invalid"
        refusal = self.risk.check(intent, ctx)
        if refusal is None and intent.protection is not None and not isinstance(intent.protection, Protection):
            refusal = f"invalid intent: protection must be a Protection, got {type(intent.protection).__name__}"
        row = _row(now, intent, "refused" if refusal else "sent", refusal or "")
        self.rows.append(row)
        if refusal:
            return "refused"
        self._seq += 1
        coid = f"replay-en{self._seq}"
        if intent.side == "yes":
            book_side, yes_price = "bid", intent.limit_price
        else:
            book_side, yes_price = "ask", ONE - intent.limit_price
        order = PlaceOrder(
            coid,
            intent.ticker,
            book_side,  # type: ignore[arg-type]
            yes_price,
            intent.count,
            "",
            "entry",
            self._seq,
            time_in_force=intent.time_in_force,
            reduce_only=False,
            purpose="entry",
        )
        gtc = intent.time_in_force == "good_till_canceled"
        o = _Order(row, intent, order, now, now + int(intent.rest_seconds * NS_PER_S) if gtc else None)
        m = self.market(intent.ticker)
        m.on_event(TrackOrder(coid, intent.ticker, order.book_side, intent.count, "entry", intent.protection), now)
        self._traded[intent.ticker] = None
        if self.fill.latency_ns == 0:
            self._arrive(o, now)
        else:
            self._push(now + self.fill.latency_ns, 0, "arrive", o)
        return "sent"

    def _push(self, when: int, priority: int, kind: str, o: _Order) -> None:
        self._pushed += 1
        heapq.heappush(self._events, (when, priority, self._pushed, kind, o))

    def _arrive(self, o: _Order, now: int) -> None:
        ticker = o.order.ticker
        m = self.markets[ticker]
        q = self.quotes.get(ticker)
        if q is not None:
            fills, update = self.fill.execute(o.order, self._book(ticker, q), now)
        else:
            fills, update = [], None
            o.row["note"] = "no quote of this market yet"
        for f in fills:
            self._apply(o, f, m, now)
        gtc = o.expires_ns is not None
        if not gtc or o.remaining == 0:
            self._finish(o, now, update)
            return
        if o.expires_ns is not None and o.expires_ns <= now:
            self._expire(o, now)
            return
        self._resting.setdefault(ticker, []).append(o)
        assert o.expires_ns is not None
        self._push(o.expires_ns, 1, "expire", o)

    def _rest_fill(self, ticker: str, q: Quote, now: int) -> None:
        m = self.markets[ticker]
        for o in list(self._resting.get(ticker, ())):
            taken = self._book(ticker, q).take(o.order.book_side, o.order.yes_price, o.remaining)
            n = sum(c for _, c in taken)
            if n <= 0:
                continue
            price = o.order.yes_price
            fill = Fill(
                f"replay-{o.order.client_order_id}-r{o.fills}",
                f"replay-{o.order.client_order_id}",
                ticker,
                o.order.book_side,
                price,
                n,
                fee=self.fill.fees_for(ticker).maker(price, n),
                is_taker=False,
                client_order_id=o.order.client_order_id,
                exchange_ns=now,
                recv_ns=now,
            )
            self._apply(o, fill, m, now)
            if o.remaining == 0:
                self._finish(o, now, None)

    def _expire(self, o: _Order, now: int, note: str = "") -> None:
        if o.done:
            return
        if note:
            o.row["note"] = note
        self._finish(o, now, None)

    def _apply(self, o: _Order, f: Fill, m: MarketReplay, now: int) -> None:
        m.on_event(f, now)
        own = f.yes_price if o.intent.side == "yes" else ONE - f.yes_price
        o.filled += f.count
        o.value += own * f.count
        o.yes_value += f.yes_price * f.count
        o.fees += f.fee
        o.fills += 1
        pos = m.monitor.position(o.order.ticker)
        pid = pos.position_id if pos is not None else (m.out.closed[-1].position_id if m.out.closed else "")
        o.row["position_id"] = pid
        rec = next((e for e in m.out.entries if e.position_id == pid), None)
        if rec is None:
            m.out.entries.append(EntryRecord(o.order.ticker, pid, o.intent.side, now, f.count, own, f.fee))
        else:
            total = rec.count + f.count
            rec.price = (rec.price * rec.count + own * f.count + total // 2) // total
            rec.count = total
            rec.fee += f.fee

    def _finish(self, o: _Order, now: int, update: OrderUpdate | None) -> None:
        """The order is done: tell the monitor (as the exchange's order update would) and fill in its row."""
        o.done = True
        resting = self._resting.get(o.order.ticker)
        if resting is not None and o in resting:
            resting.remove(o)
            if not resting:
                del self._resting[o.order.ticker]
        if update is None:
            update = OrderUpdate(
                order_id=f"replay-{o.order.client_order_id}",
                client_order_id=o.order.client_order_id,
                ticker=o.order.ticker,
                status="executed" if o.remaining == 0 else "canceled",
                fill_count=o.filled,
                remaining_count=0,
                book_side=o.order.book_side,
                yes_price=o.order.yes_price,
                initial_count=o.order.count,
                fees=o.fees,
                average_fill_price=(o.yes_value + o.filled // 2) // o.filled if o.filled else None,
                exchange_ns=now,
                recv_ns=now,
            )
        self.markets[o.order.ticker].on_event(update, now)
        r = o.row
        r["filled"] = o.filled
        r["fill_price"] = (o.value + o.filled // 2) // o.filled if o.filled else None
        r["fees"] = o.fees
        r["status"] = "filled" if o.remaining == 0 else ("partial" if o.filled else "unfilled")
        r["done_ns"] = now


def _row(now: int, intent: OrderIntent | None, action: str, why: str) -> dict[str, Any]:
    return {
        "ns": now,
        "ticker": intent.ticker if intent else "",
        "side": intent.side if intent else "",
        "count": intent.count if intent else 0,
        "limit": intent.limit_price if intent else None,
        "time_in_force": intent.time_in_force if intent else "",
        "action": action,
        "why": why,
        "reason": intent.reason if intent else "",
        "status": "refused" if action == "refused" else ("invalid" if action == "invalid" else "sent"),
        "filled": 0,
        "fill_price": None,
        "fees": 0,
        "position_id": "",
        "note": "",
    }


def _ts(ns: int | None) -> pd.Timestamp | None:
    return None if ns is None else pd.Timestamp(ns, unit="ns", tz="UTC")


def _entries_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    out = []
    for r in rows:
        out.append(
            {
                "ns": r["ns"],
                "ts": _ts(r["ns"]),
                "ticker": r["ticker"],
                "side": r["side"],
                "count": r["count"] / COUNT_SCALE,
                "limit": None if r["limit"] is None else r["limit"] / ONE,
                "time_in_force": r["time_in_force"],
                "action": r["action"],
                "why": r["why"],
                "reason": r["reason"],
                "status": r["status"],
                "filled": r["filled"] / COUNT_SCALE,
                "fill_price": None if r["fill_price"] is None else r["fill_price"] / ONE,
                "fees": r["fees"] / MONEY_SCALE,
                "position_id": r["position_id"],
                "note": r.get("note", ""),
            }
        )
    return pd.DataFrame(out, columns=ENTRY_COLUMNS)


def _cycles_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    out = []
    for r in rows:
        d = dict(r)
        d["ts"] = _ts(r["ns"])
        d["balance"] = r["balance"] / MONEY_SCALE
        out.append(d)
    return pd.DataFrame(out, columns=CYCLE_COLUMNS)


# ============================================================================ the entry point
def _results(results: Mapping[str, str | tuple[str, int | None]] | None) -> dict[str, tuple[str, int | None]]:
    out: dict[str, tuple[str, int | None]] = {}
    for t, r in (results or {}).items():
        if isinstance(r, str):
            if r not in ("yes", "no"):
                raise ConfigError(f"result for {t} must be yes or no (or (result, settlement value)), got {r!r}")
            out[t] = (r, None)
        else:
            out[t] = (r[0], r[1])
    return out


def _split_sources(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> tuple[list[Path], list[Path]]:
    paths = [Path(sources)] if isinstance(sources, str | os.PathLike) else [Path(s) for s in sources]
    if not paths:
        raise ConfigError("give at least one recording (or directory of recordings) to replay the strategy over")
    for p in paths:
        if not p.exists():
            raise ConfigError(f"replay source {str(p)!r} does not exist")
        if is_parquet(p):
            raise ConfigError(
                f"{p}: replay_strategy reads recordings/JSONL (it needs the lifecycle frames' market titles); "
                "give the recording the Parquet file was made from"
            )
    files = recording_files(paths)
    odds = [f for f in files if is_odds_recording(f)]
    frames = [f for f in files if f not in odds]
    return frames, odds


def replay_strategy(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    strategy: Strategy,
    *,
    odds: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    gather: GatherConfig | None = None,
    risk: RiskLimits | RiskManager | None = None,
    interval_s: float = 30.0,
    start_ns: int | None = None,
    bankroll: int = 1_000 * MONEY_SCALE,
    latency_ms: float = 0.0,
    fees: FeesArg = None,
    unknown_size: int | None = None,
    stale_after_s: float | None = 60.0,
    results: Mapping[str, str | tuple[str, int | None]] | None = None,
    keep_decisions: bool = True,
) -> StrategyReplayResult:
    """Replay ``strategy`` over the market recordings ``sources`` (files or directories) with the odds recordings
    ``odds`` (default: the odds recordings found among ``sources``; ``()`` for none). See the module docstring.

    ``gather``: the universe and consensus settings (as given to the live Kit; None: every market of the recording,
    odds of the sports recorded). ``risk``: limits or a RiskManager (None: default RiskLimits(), as the Kit).
    ``interval_s``: recording seconds between cycles; ``start_ns``: the first cycle (default: the first quote or
    lifecycle frame).
    ``bankroll``: micro-dollars at the start. ``latency_ms``: decision-to-book delay of entries and exits.
    ``results``: ticker -> result for markets whose settlement the recording lacks (as :func:`replay`).
    ``fees``: fee schedules per series (:mod:`kalshikit.replay.fees`: a FeeSchedule for every market, or
    ``{"KXMLBGAME": 0.5, ...}``; default: the recording's ``series.json``, else the standard schedule). They price
    the fills, and the strategy and risk limits see them in ``ctx.fees``; the summary states them
    (``fee_schedules``).
    """
    if not interval_s > 0:
        raise ConfigError(f"interval_s must be > 0 seconds, got {interval_s!r}")
    if isinstance(bankroll, bool) or not isinstance(bankroll, int) or bankroll <= 0:
        raise ConfigError(f"bankroll must be an int > 0 in micro-dollars (MONEY_SCALE = $1), got {bankroll!r}")
    if latency_ms < 0:
        raise ConfigError(f"latency_ms must be >= 0, got {latency_ms!r}")
    if stale_after_s is not None and stale_after_s <= 0:
        raise ConfigError(f"stale_after_s must be > 0 seconds or None, got {stale_after_s!r}")
    t0 = time.perf_counter()
    frame_files, odds_found = _split_sources(sources)
    if not frame_files:
        raise ConfigError("no market recording among the sources (only odds recordings); give the ticker recording")
    report = ReadReport()
    odds_report = ReadReport()
    if odds is None:
        snapshots = read_odds(odds_found, odds_report) if odds_found else []
    else:
        given = [Path(odds)] if isinstance(odds, str | os.PathLike) else [Path(p) for p in odds]
        snapshots = read_odds(given, odds_report) if given else []
    fee_table = resolve_fees(fees, frame_files)
    manager = risk if isinstance(risk, RiskManager) else RiskManager(risk or RiskLimits(), fees=fee_table.default)
    fill = FillModel(
        latency_ns=int(latency_ms * NS_PER_MS),
        fees=fee_table.default,
        unknown_size=unknown_size,
        series_fees=fee_table.by_series,
    )
    problems: list[tuple[str, int, str]] = []
    session = _Session(
        strategy,
        snapshots,
        gather,
        manager,
        int(interval_s * NS_PER_S),
        start_ns,
        bankroll,
        fill,
        None if stale_after_s is None else int(stale_after_s * NS_PER_S),
        keep_decisions,
        problems,
    )
    session.run(read_frames(frame_files, report), report)
    session.end()
    res = _results(results)
    outputs: dict[str, MarketOutput] = {t: m.finish(result=res.get(t)) for t, m in session.markets.items()}
    skipped = [
        (Entry(r["ticker"], r["ns"], r["side"], r["count"], r["limit"]), r["note"] or "nothing at or below the limit")
        for r in session.rows
        if r["action"] == "sent" and r["filled"] == 0
    ]
    announced = {
        t: (ms.result, ms.settlement_value)
        for t, m in session.markets.items()
        if (ms := m.monitor.markets.get(t)) is not None and ms.result
    }
    elapsed = time.perf_counter() - t0
    stats = {
        "ticks": session.ticks,
        "cycles": len(session.cycle_rows),
        "intents": len(session.rows),
        "entries_sent": sum(1 for r in session.rows if r["action"] == "sent"),
        "entries_refused": sum(1 for r in session.rows if r["action"] == "refused"),
        "entries_filled": sum(1 for r in session.rows if r["filled"] > 0),
        "strategy_errors": session.errors,
        "markets_replayed": len(session.markets),
        "markets_without_metadata": sum(1 for m in session.meta.values() if not m.created),
        "odds_snapshots": len(snapshots),
        "odds_snapshots_used": len(session.odds_used),
        "final_balance": session._balance() / MONEY_SCALE,
        "quotes_fed_to_monitor": sum(o.quotes_fed for o in outputs.values()),
        "seconds": elapsed,
        "read_problems": list(report.problems) + list(odds_report.problems) + problems,
    }
    settings = {
        "strategy": getattr(strategy, "name", type(strategy).__name__),
        "interval_s": interval_s,
        "start_ns": start_ns,
        "bankroll": bankroll / MONEY_SCALE,
        "latency_ms": latency_ms,
        "stale_after_s": stale_after_s,
        "gather": gather,
        "risk": manager.limits,
        "market_files": [str(p) for p in frame_files],
        "odds_snapshots": len(snapshots),
    }
    settings["fees"] = fee_table.describe(session.markets)
    base = build_result(outputs, skipped, stats, settings, res, announced)
    base.summary["fee_schedules"] = settings["fees"]
    return StrategyReplayResult(
        **{f: getattr(base, f) for f in base.__dataclass_fields__},
        entries=_entries_frame(session.rows),
        cycles=_cycles_frame(session.cycle_rows),
    )


__all__ = ["StrategyReplayResult", "replay_strategy"]
