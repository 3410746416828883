"""Candlesticks the simulator builds from what its markets did: one record per market per minute.

Every quote change (YES bid, YES ask, open interest) and every trade is observed with its time; a minute's record
keeps the OHLC of the bid, the ask and the traded price, the traded volume and value, and the open interest. A
record starts from the state carried over from before its minute, as Kalshi defines a candle's ``open`` ("the
price at the start of the period"), so a minute with no event is the previous close held flat. Events are expected
in time order (seeding sorts them; the exchange clock only moves forward); one older than the latest minute still
lands in its own minute, but minutes after it are not recomputed.

:meth:`CandleStore.candles` answers ``GET /series/{s}/markets/{t}/candlesticks`` for a period of 1, 60 or 1440
minutes (hours and days aligned to UTC), as the JSON Kalshi sends: dollar strings, ``_fp`` counts, an empty bid as
``"0.0000"`` and an empty ask as ``"1.0000"`` (as in the market object), and the traded ``price`` fields only when
something traded (``previous_dollars`` once anything has). Integers throughout: prices in $0.0001, counts in
1/100 contract, times in ns UTC (seconds on the wire).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from kalshikit.sim.wire import count_str, fmt_price
from kalshikit.units import NS_PER_S, PRICE_SCALE

ONE = PRICE_SCALE
MINUTE_S = 60
_MINUTE_NS = MINUTE_S * NS_PER_S
PERIOD_MINUTES = (1, 60, 1440)
MAX_MINUTES_PER_MARKET = 200_000  # about 4.5 months of minutes; older minutes are forgotten first


def minute_end_s(ns: int) -> int:
    """End (Unix seconds, inclusive) of the one-minute period holding the time ``ns``: (end - 60 s, end]."""
    return -(-ns // _MINUTE_NS) * MINUTE_S


@dataclass(slots=True)
class Minute:
    """One market's minute. Bids are 0 and asks ``ONE`` while that side of the book is empty."""

    end_s: int
    bid: list[int]  # open, high, low, close
    ask: list[int]
    oi: int | None
    previous: int | None  # last trade before the minute
    last_quote_ns: int = 0
    fresh: bool = False  # nothing carried into it (the market's first minute): its first quote opens it
    price: list[int] | None = None  # open, high, low, close of trades
    first_trade_ns: int = 0
    last_trade_ns: int = 0
    value: int = 0  # sum of price * count
    volume: int = 0


@dataclass
class MarketCandles:
    """Observed minutes of one market plus the state carried into the next minute."""

    minutes: dict[int, Minute] = field(default_factory=dict)
    ends: list[int] = field(default_factory=list)  # sorted keys of ``minutes``
    bid: int = 0
    ask: int = ONE
    oi: int | None = None
    price: int | None = None  # last trade
    last_ns: int = 0  # time of the latest quote observed
    last_trade_ns: int = 0

    def minute(self, end_s: int) -> Minute:
        m = self.minutes.get(end_s)
        if m is not None:
            return m
        i = bisect.bisect_left(self.ends, end_s)
        fresh = i == 0  # no earlier minute: nothing to carry in
        if i == len(self.ends) and not fresh:  # the usual case: a new latest minute, carried from the current state
            bid, ask, oi, prev = self.bid, self.ask, self.oi, self.price
        elif not fresh:  # an event older than the latest minute (a clock step back): carry from the one before
            before = self.minutes[self.ends[i - 1]]
            bid, ask, oi = before.bid[3], before.ask[3], before.oi
            prev = before.price[3] if before.price is not None else before.previous
        else:
            bid, ask, oi, prev = 0, ONE, None, None
        self.ends.insert(i, end_s)
        m = Minute(end_s, [bid, bid, bid, bid], [ask, ask, ask, ask], oi, prev, fresh=fresh)
        self.minutes[end_s] = m
        if len(self.ends) > MAX_MINUTES_PER_MARKET:
            del self.minutes[self.ends.pop(0)]
        return m


def _ohlc_update(v: list[int], value: int, latest: bool) -> None:
    if value > v[1]:
        v[1] = value
    if value < v[2]:
        v[2] = value
    if latest:
        v[3] = value


class CandleStore:
    """Minute records of every market. Not thread-safe: the simulator's event loop owns it."""

    def __init__(self) -> None:
        self.markets: dict[str, MarketCandles] = {}

    def has(self, ticker: str) -> bool:
        return ticker in self.markets

    def _market(self, ticker: str) -> MarketCandles:
        mc = self.markets.get(ticker)
        if mc is None:
            mc = self.markets[ticker] = MarketCandles()
        return mc

    def observe_quote(
        self, ticker: str, ns: int, yes_bid: int | None, yes_ask: int | None, open_interest: int | None = None
    ) -> None:
        """The top of the book (``None`` = that side is empty) at time ``ns``."""
        mc = self.markets.get(ticker) or self._market(ticker)
        bid = 0 if yes_bid is None else yes_bid
        ask = ONE if yes_ask is None else yes_ask
        end_s = -(-ns // _MINUTE_NS) * MINUTE_S
        m = mc.minutes.get(end_s) or mc.minute(end_s)
        if m.fresh:  # the market's first minute: its first quote opens it
            m.fresh = False
            m.bid[:] = [bid] * 4
            m.ask[:] = [ask] * 4
        b, a = m.bid, m.ask
        if bid > b[1]:
            b[1] = bid
        elif bid < b[2]:
            b[2] = bid
        if ask > a[1]:
            a[1] = ask
        elif ask < a[2]:
            a[2] = ask
        if ns >= m.last_quote_ns:
            b[3] = bid
            a[3] = ask
            m.last_quote_ns = ns
            if open_interest is not None:
                m.oi = open_interest
        if ns >= mc.last_ns:
            mc.last_ns = ns
            mc.bid, mc.ask = bid, ask
            if open_interest is not None:
                mc.oi = open_interest

    def observe_trade(self, ticker: str, ns: int, yes_price: int, count: int) -> None:
        """A print of ``count`` at ``yes_price`` at time ``ns``."""
        mc = self._market(ticker)
        m = mc.minute(minute_end_s(ns))
        if m.price is None:
            m.price = [yes_price, yes_price, yes_price, yes_price]
            m.first_trade_ns = m.last_trade_ns = ns
        else:
            if ns < m.first_trade_ns:
                m.price[0] = yes_price
                m.first_trade_ns = ns
            latest = ns >= m.last_trade_ns
            _ohlc_update(m.price, yes_price, latest)
            if latest:
                m.last_trade_ns = ns
        m.value += yes_price * count
        m.volume += count
        if mc.price is None or ns >= mc.last_trade_ns:
            mc.price = yes_price
            mc.last_trade_ns = ns

    def first_end_s(self, ticker: str) -> int | None:
        mc = self.markets.get(ticker)
        return mc.ends[0] if mc is not None and mc.ends else None

    def last_end_s(self, ticker: str) -> int | None:
        mc = self.markets.get(ticker)
        return mc.ends[-1] if mc is not None and mc.ends else None

    def candles(self, ticker: str, start_s: int, end_s: int, period_minutes: int, until_s: int) -> list[dict[str, Any]]:
        """Candles of ``period_minutes`` ending in ``[start_s, end_s]`` and no later than the period holding
        ``until_s`` (now, or the market's close), from the first period the market was observed in; JSON-ready."""
        if period_minutes not in PERIOD_MINUTES:
            raise ValueError(f"period_minutes must be one of {PERIOD_MINUTES}")
        mc = self.markets.get(ticker)
        if mc is None or not mc.ends:
            return []
        p = period_minutes * MINUTE_S
        first = -(-mc.ends[0] // p) * p
        last = min(end_s, -(-until_s // p) * p)
        e = max(first, -(-start_s // p) * p)
        if e > last:
            return []
        ends = mc.ends
        i = bisect.bisect_right(ends, e - p)  # first minute of the first period
        carry = mc.minutes[ends[i - 1]] if i > 0 else None
        out: list[dict[str, Any]] = []
        while e <= last:
            j = bisect.bisect_right(ends, e, lo=i)
            inside = [mc.minutes[k] for k in ends[i:j]]
            out.append(_fold(e, inside, carry))
            if inside:
                carry = inside[-1]
            i = j
            e += p
        return out


def _close_price(m: Minute) -> int | None:
    return m.price[3] if m.price is not None else m.previous


def _fold(end_s: int, inside: list[Minute], carry: Minute | None) -> dict[str, Any]:
    """One candle from the minutes of its period (``inside``, oldest first) and the minute before it."""
    if inside:
        first = inside[0]
        bid = [first.bid[0], max(m.bid[1] for m in inside), min(m.bid[2] for m in inside), inside[-1].bid[3]]
        ask = [first.ask[0], max(m.ask[1] for m in inside), min(m.ask[2] for m in inside), inside[-1].ask[3]]
        oi = inside[-1].oi
        previous = first.previous
        traded = [m for m in inside if m.price is not None]
    else:
        assert carry is not None, "the first period always holds a minute"
        bid = [carry.bid[3]] * 4
        ask = [carry.ask[3]] * 4
        oi = carry.oi
        previous = _close_price(carry)
        traded = []
    price: dict[str, str] = {}
    volume = sum(m.volume for m in traded)
    if traded:
        highs = [m.price[1] for m in traded if m.price is not None]
        lows = [m.price[2] for m in traded if m.price is not None]
        value = sum(m.value for m in traded)
        assert traded[0].price is not None and traded[-1].price is not None
        price["open_dollars"] = fmt_price(traded[0].price[0])
        price["high_dollars"] = fmt_price(max(highs))
        price["low_dollars"] = fmt_price(min(lows))
        price["close_dollars"] = fmt_price(traded[-1].price[3])
        if volume > 0:
            price["mean_dollars"] = fmt_price((2 * value + volume) // (2 * volume))  # volume-weighted, half up
    if previous is not None:
        price["previous_dollars"] = fmt_price(previous)
    return {
        "end_period_ts": end_s,
        "yes_bid": _ohlc_json(bid),
        "yes_ask": _ohlc_json(ask),
        "price": price,
        "volume_fp": count_str(volume),
        "open_interest_fp": count_str(oi or 0),
    }


def _ohlc_json(v: list[int]) -> dict[str, str]:
    return {
        "open_dollars": fmt_price(v[0]),
        "low_dollars": fmt_price(v[2]),
        "high_dollars": fmt_price(v[1]),
        "close_dollars": fmt_price(v[3]),
    }


__all__ = ["MINUTE_S", "PERIOD_MINUTES", "CandleStore", "MarketCandles", "Minute", "minute_end_s"]
