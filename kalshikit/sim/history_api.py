"""The simulator's market history: 1-minute candlesticks and the public tape of past markets.

:class:`MarketHistory` sits in front of the WebSocket hub as the exchange's listener: every quote change of an open
market and every trade (played from the tape, or matched between accounts) goes into a
:class:`~kalshikit.sim.candles.CandleStore` at the exchange's time, and on to the hub unchanged. :func:`seed_history`
gives a running simulator *past* markets from a recording (or the synthetic generator): the markets are created with
their lifecycle (closed, determined, settled, with their results), their quotes and trades are aggregated into
candles at the times they carry, and their trades are kept for ``GET /markets/trades``. So history can be downloaded
from the simulator as from Kalshi, instantly and offline.

:class:`HistoryApi` serves ``GET /series/{series_ticker}/markets/{ticker}/candlesticks`` (``start_ts``, ``end_ts``,
``period_interval`` 1/60/1440; at most :data:`MAX_CANDLES` per request) in Kalshi's current shape
(``GetMarketCandlesticksResponse``), and merges the seeded trades into the trades listing
(:meth:`HistoryApi.with_recorded_trades`).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from kalshikit.config import REST_PATH
from kalshikit.core.events import Lifecycle, Quote, Trade
from kalshikit.kalshi.messages import FrameDecoder
from kalshikit.sim.candles import PERIOD_MINUTES, CandleStore
from kalshikit.sim.errors import bad_request, not_found
from kalshikit.sim.exchange import Exchange, Listener, grid_from_ranges
from kalshikit.sim.feed import TapeFrame
from kalshikit.sim.model import Account, FillRecord, Market, Order, PositionRecord, PublicTrade
from kalshikit.sim.wire import encode
from kalshikit.units import NS_PER_S, PRICE_SCALE, parse_price

if TYPE_CHECKING:
    from kalshikit.sim.server import Simulator

MAX_CANDLES = 5_000  # per request; the cap Kalshi's candlestick relays document (400 beyond it)
ONE = PRICE_SCALE
_OPEN_STATUSES = frozenset({"initialized", "active", "inactive"})


class MarketHistory:
    """The exchange's listener: records candles, forwards everything to ``inner`` (the WebSocket hub).

    Also holds the trades of seeded past markets. ``paused`` stops recording (while seeding, so the exchange's own
    reactions to the seeded lifecycle are not taken for market data at the current time).
    """

    def __init__(self, inner: Listener, clock: Callable[[], int]) -> None:
        self.inner = inner
        self.clock = clock
        self.store = CandleStore()
        self.paused = False
        self.trades: dict[str, list[PublicTrade]] = {}  # seeded trades per market, oldest first
        self._last: dict[str, tuple[int | None, int | None, int]] = {}  # last top of book recorded per market
        self._trade_times: dict[str, list[int]] = {}

    # ------------------------------------------------------------------ Listener
    def market_changed(self, m: Market, tape_ticker: bool) -> None:
        if not self.paused and m.status in _OPEN_STATUSES:
            if m.resting:
                bid, _bs, ask, _as = m.top()
            else:
                yes, no = m.book.yes, m.book.no
                bid = max(yes) if yes else None
                ask = ONE - max(no) if no else None
            state = (bid, ask, m.open_interest)
            if self._last.get(m.ticker) != state:  # unchanged: the minute's candle carries it already
                self._last[m.ticker] = state
                self.store.observe_quote(m.ticker, self.clock(), bid, ask, m.open_interest)
        self.inner.market_changed(m, tape_ticker)

    def trade(self, m: Market, t: PublicTrade) -> None:
        if not self.paused:
            self.store.observe_trade(t.ticker, t.ts_ns, t.yes_price, t.count)
        self.inner.trade(m, t)

    def lifecycle(self, m: Market, event_type: str, extra: dict[str, object]) -> None:
        self.inner.lifecycle(m, event_type, extra)

    def order_changed(self, acct: Account, o: Order) -> None:
        self.inner.order_changed(acct, o)

    def fill(self, acct: Account, f: FillRecord, m: Market) -> None:
        self.inner.fill(acct, f, m)

    def position_changed(self, acct: Account, rec: PositionRecord) -> None:
        self.inner.position_changed(acct, rec)

    def __getattr__(self, name: str) -> Any:  # anything else the hub offers (the exchange may grow new callbacks)
        if name == "inner":  # not set yet (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    # ------------------------------------------------------------------ seeded trades
    def add_trade(self, t: PublicTrade) -> None:
        times = self._trade_times.setdefault(t.ticker, [])
        trades = self.trades.setdefault(t.ticker, [])
        i = bisect.bisect_right(times, t.ts_ns)
        times.insert(i, t.ts_ns)
        trades.insert(i, t)

    def recorded_trades(self, ticker: str | None, lo_ns: int | None, hi_ns: int | None) -> list[PublicTrade]:
        """Seeded trades of ``ticker`` (every market when None) with ``lo_ns <= time <= hi_ns``, newest first."""
        out: list[PublicTrade] = []
        for t in [ticker] if ticker is not None else list(self.trades):
            times = self._trade_times.get(t)
            if not times:
                continue
            i = 0 if lo_ns is None else bisect.bisect_left(times, lo_ns)
            j = len(times) if hi_ns is None else bisect.bisect_right(times, hi_ns)
            out.extend(self.trades[t][i:j])
        out.sort(key=lambda x: x.ts_ns, reverse=True)
        return out

    # ------------------------------------------------------------------ seeding past markets
    def seed(self, ex: Exchange, frames: Iterable[TapeFrame]) -> SeedStats:
        """Create the markets of ``frames`` with their lifecycle and results, and record their quotes and trades at
        the times they carry (the exchange time of each frame, else its receive time). Runs on the event loop."""
        stats = SeedStats()
        events = _timed_events(frames, stats)
        self.paused = True
        try:
            markets: dict[str, _Seeded] = {}
            for ns, ev, raw in events:
                s = markets.get(ev.ticker)
                if s is None:
                    s = markets[ev.ticker] = _Seeded(first_ns=ns)
                s.last_ns = ns
                if type(ev) is Quote:
                    self.store.observe_quote(ev.ticker, ns, ev.yes_bid, ev.yes_ask, ev.open_interest)
                    if ev.open_interest is not None:
                        s.open_interest = ev.open_interest
                    stats.quotes += 1
                elif type(ev) is Trade:
                    self.store.observe_trade(ev.ticker, ns, ev.yes_price, ev.count)
                    self.add_trade(PublicTrade(ev.trade_id, ev.ticker, ev.yes_price, ev.count, ev.taker_side, ns))
                    s.volume += ev.count
                    s.last_price = ev.yes_price
                    stats.trades += 1
                else:
                    s.lifecycle(ev, raw, ns)
            for ticker, s in markets.items():
                s.create(ex, ticker)
            stats.markets = len(markets)
            stats.tickers = sorted(markets)
        finally:
            self.paused = False
        return stats


@dataclass
class SeedStats:
    """What :func:`seed_history` added."""

    markets: int = 0
    quotes: int = 0
    trades: int = 0
    skipped: int = 0  # frames that were neither a quote, a trade nor a lifecycle event
    tickers: list[str] = field(default_factory=list)


class _CreatedMeta(msgspec.Struct):
    title: str | None = None
    event_ticker: str | None = None


class _CreatedMsg(msgspec.Struct):
    price_level_structure: str | None = None
    price_ranges: list[dict[str, str]] | None = None
    additional_metadata: _CreatedMeta | None = None


class _CreatedFrame(msgspec.Struct):
    msg: _CreatedMsg | None = None


_created_decoder = msgspec.json.Decoder(_CreatedFrame)


@dataclass
class _Seeded:
    """What the frames said about one past market."""

    first_ns: int
    last_ns: int = 0
    open_ns: int | None = None
    close_ns: int | None = None
    title: str | None = None
    event_ticker: str | None = None
    structure: str | None = None
    ranges: list[tuple[int, int, int]] = field(default_factory=list)
    result: str | None = None
    settlement_value: int | None = None
    determined_ns: int | None = None
    settled_ns: int | None = None
    volume: int = 0
    open_interest: int = 0
    last_price: int | None = None

    def lifecycle(self, ev: Lifecycle, raw: str, ns: int) -> None:
        et = ev.event_type
        if ev.open_ns is not None:
            self.open_ns = ev.open_ns
        if ev.close_ns is not None:
            self.close_ns = ev.close_ns
        if et in ("created", "price_level_structure_updated", "metadata_updated"):
            try:
                msg = _created_decoder.decode(raw).msg
            except (msgspec.DecodeError, msgspec.ValidationError):
                msg = None
            if msg is not None:
                self.structure = msg.price_level_structure or self.structure
                try:
                    ranges = [
                        (parse_price(r["start"]), parse_price(r["end"]), parse_price(r["step"]))
                        for r in msg.price_ranges or ()
                    ]
                except (KeyError, TypeError, ValueError):
                    ranges = []
                self.ranges = ranges or self.ranges
                meta = msg.additional_metadata
                if meta is not None:
                    self.title = meta.title or self.title
                    self.event_ticker = meta.event_ticker or self.event_ticker
        elif et == "determined" and ev.result in ("yes", "no", "scalar"):
            self.result = ev.result
            self.settlement_value = ev.settlement_value
            self.determined_ns = ns
        elif et == "settled":
            self.settled_ns = ns

    def create(self, ex: Exchange, ticker: str) -> None:
        now = ex.clock()
        close = self.close_ns if self.close_ns is not None else self.last_ns
        opened = self.open_ns if self.open_ns is not None else self.first_ns
        status = "closed" if close <= now else ("active" if opened <= now else "initialized")
        grid = None
        if self.ranges or self.structure:
            try:
                grid = grid_from_ranges(self.structure or "custom", self.ranges)
            except ValueError:
                grid = None
        m = ex.add_market(
            ticker,
            event_ticker=self.event_ticker,
            grid=grid,
            open_ns=opened,
            close_ns=close,
            status=status,
            title=self.title,
            from_tape=grid is not None,
        )
        m.created_ns = min(self.first_ns, opened)
        m.last_price = self.last_price
        m.tape_volume = self.volume
        m.open_interest = self.open_interest
        if self.result is not None:
            ex.determine_market(ticker, self.result, self.settlement_value)
            m.determined_ns = self.determined_ns or now
            if self.settled_ns is not None:
                ex.settle_market(ticker)
                m.settled_ns = self.settled_ns
        m.updated_ns = max(self.last_ns, m.determined_ns, m.settled_ns)


def _timed_events(frames: Iterable[TapeFrame], stats: SeedStats) -> list[tuple[int, Any, str]]:
    """Quotes, trades and lifecycle events of ``frames`` with their times, sorted by time (stable)."""
    decoder = FrameDecoder()
    out: list[tuple[int, Any, str]] = []
    for f in frames:
        ev = decoder.decode(f.raw, f.recv_ns)
        if type(ev) in (Quote, Trade, Lifecycle):
            out.append((ev.exchange_ns or f.recv_ns, ev, f.raw))  # type: ignore[union-attr]
        else:
            stats.skipped += 1
    out.sort(key=lambda e: e[0])
    return out


# ---------------------------------------------------------------------------- REST
def _int_param(q: Any, name: str) -> int:
    raw = q.get(name)
    if raw is None or raw == "":
        raise bad_request(
            f"{name} is required (Unix time in seconds)"
            if name != "period_interval"
            else "period_interval is required: 1 (minute), 60 (hour) or 1440 (day)"
        )
    if not raw.lstrip("-").isdigit():
        raise bad_request(f"{name} must be an integer, got {raw[:40]!r}")
    return int(raw)


class HistoryApi:
    """The candlesticks route and the trades merge. ``check_auth`` verifies signed headers when present."""

    def __init__(self, exchange: Exchange, check_auth: Callable[[web.Request], None]) -> None:
        self.ex = exchange
        self.check_auth = check_auth
        listener = exchange.listener
        if isinstance(listener, MarketHistory):  # a restarted simulator keeps its history
            self.history = listener
        else:
            self.history = MarketHistory(listener, exchange.clock)
            exchange.listener = self.history

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(REST_PATH + "/series/{series_ticker}/markets/{ticker}/candlesticks", self.candlesticks)

    async def candlesticks(self, request: web.Request) -> web.StreamResponse:
        self.check_auth(request)
        series = request.match_info["series_ticker"]
        ticker = request.match_info["ticker"]
        m = self.ex.market(ticker)
        if m.series_ticker != series:
            raise not_found(f"market {ticker!r} is not in series {series!r} (its series is {m.series_ticker!r})")
        q = request.query
        start = _int_param(q, "start_ts")
        end = _int_param(q, "end_ts")
        period = _int_param(q, "period_interval")
        if period not in PERIOD_MINUTES:
            raise bad_request(f"period_interval must be 1 (minute), 60 (hour) or 1440 (day), got {period}")
        if end < start:
            raise bad_request(f"end_ts {end} is before start_ts {start}")
        wanted = (end - start) // (period * 60) + 1
        if wanted > MAX_CANDLES:
            raise bad_request(
                f"start_ts..end_ts spans {wanted} candlesticks of {period} minute(s); at most {MAX_CANDLES} per "
                "request: ask for a shorter range or a longer period_interval"
            )
        until_ns = self.ex.clock() if m.status in _OPEN_STATUSES else min(m.close_ns, self.ex.clock())
        # Up to the period holding that instant: rounded up to the second, since a period ends on a whole second
        # (rounding down took an instant early in a minute for the minute before, and lost the current candle).
        candles = self.history.store.candles(ticker, start, end, period, -(-until_ns // NS_PER_S))
        body = encode({"ticker": ticker, "candlesticks": candles})
        return web.Response(body=body, content_type="application/json")

    def with_recorded_trades(
        self, live: list[PublicTrade], ticker: str | None, rng: tuple[int | None, int | None]
    ) -> list[PublicTrade]:
        """The trades listing (``live``: the exchange's, newest first) with the seeded past trades merged in."""
        if not self.history.trades:
            return live
        seeded = self.history.recorded_trades(ticker, rng[0], rng[1])
        if not seeded:
            return live
        merged = live + seeded
        merged.sort(key=lambda t: t.ts_ns, reverse=True)
        return merged


# ---------------------------------------------------------------------------- Python API
def history_of(sim: Simulator) -> MarketHistory:
    """The history of a started simulator."""
    listener = sim.exchange.listener
    if not isinstance(listener, MarketHistory):
        raise RuntimeError("the simulator is not started; start() it before seeding history")
    return listener


def seed_history(
    sim: Simulator, source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Iterable[TapeFrame]
) -> SeedStats:
    """Give a started simulator the past markets of ``source``: recording files/directories, or frames (objects
    with ``recv_ns`` and ``raw``, e.g. :func:`kalshikit.recording.synthetic_frames`). See the module docstring."""
    history = history_of(sim)
    if isinstance(source, str | os.PathLike):
        source = [source]
    items = list(source)
    if items and all(isinstance(x, str | os.PathLike) for x in items):
        from kalshikit.recording.reader import read_frames

        frames: list[TapeFrame] = list(read_frames([os.fspath(x) for x in items]))  # type: ignore[arg-type]
    else:
        frames = items  # type: ignore[assignment]
    return sim.call(lambda ex: history.seed(ex, frames))


def seed_synthetic_history(
    sim: Simulator, *, end_ns: int, markets: int = 8, duration_s: float = 7200.0, seed: int = 1, rate_hz: float = 1.0
) -> SeedStats:
    """Seed synthetic NBA game markets (series ``KXNBAGAME``, two markets per game) that opened ``duration_s``
    before ``end_ns`` and have all settled by then (the tape's last minutes). Synthetic data, not real prices."""
    from kalshikit.recording.synthetic import synthetic_frames

    start = (end_ns - int(duration_s * NS_PER_S)) // (60 * NS_PER_S) * 60 * NS_PER_S
    frames = synthetic_frames(
        markets=markets, duration_s=duration_s, seed=seed, start_ns=start, rate_hz=rate_hz, sports=True
    )
    return seed_history(sim, frames)


__all__ = [
    "MAX_CANDLES",
    "HistoryApi",
    "MarketHistory",
    "SeedStats",
    "history_of",
    "seed_history",
    "seed_synthetic_history",
]
