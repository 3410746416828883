"""Generate realistic synthetic Kalshi WebSocket tapes (current or legacy wire format), deterministic for a seed.

Model, per market: a fair YES probability ``p = Φ(S / sqrt(h·(τ+1)))`` where ``S`` is a Brownian motion with
occasional jumps (news), ``τ`` the seconds to close and ``h`` a per-market horizon factor. Like a real short-dated
binary, the price wanders, jumps, and converges to 0 or 1 at close. Quotes sit on the market's price grid
(``linear_cent``, or ``tapered_deci_cent`` with $0.001 ticks near 0 and 1), usually 1–3 ticks wide, sometimes wide or
one-sided. Update times are bursty (quiet / normal / burst regimes; bursts after news; several updates a second at
peaks). Trades produce ``trade`` frames and move last price, volume and open interest. At close the book empties
(``"0.0000"`` / ``"1.0000"``), then ``determined`` (result from the last quote) and ``settled`` lifecycle frames follow.

Frames come out in receive order. Receive time = exchange time + latency (tens of ms, with rare backlog episodes of
seconds); each market's frames arrive in order, different markets' may interleave out of exchange order, as on the
real feed. ``RawFrame.exchange_ns`` follows the reader's rule (see :class:`RawFrame`), so a tape written with
:func:`write_synthetic_recording` reads back as exactly the same frames.

``sports=True`` generates NBA game markets shaped like Kalshi's: one event per game (``KXNBAGAME-26MAY111000LALBOS``,
date and start time in US Eastern time, away team first), two markets per game, one per team
(``KXNBAGAME-26MAY111000LALBOS-LAL``, title ``"Los Angeles L at Boston"``, ``yes_sub_title`` ``"Los Angeles L"``).
The two markets of a game mirror each other (YES bid of one = 1 − YES ask of the other), so their mids add up to 1
as a real pair's roughly do. :class:`SyntheticGameMarket` carries the sportsbook names of the teams and the start
time, which the Odds API stub (:mod:`kalshikit.sim.odds_stub`) uses to quote consistent odds. The default mode is
unchanged by this option (same bytes for the same arguments).

``depth=True`` also emits each market's order book, as a recorder subscribed to ``orderbook_delta`` receives it:
an ``orderbook_snapshot`` at its first quote, then before every ``ticker`` frame the ``orderbook_delta`` frames that
turn the previous book into the new one (one sid per market, in ``seq`` order). The book's best levels are the
ticker frame's bid and ask with their sizes (a thin top, about 120 contracts on average); :data:`DEPTH_LEVELS` more
levels per side sit one grid step apart behind them, larger (about 400 contracts) and slowly changing. The book
empties at close. Depth draws its own random numbers, so the ticker, trade and lifecycle frames are the same bytes
with or without it (only their neighbours differ).
"""

from __future__ import annotations

import calendar
import heapq
import math
import os
import random
import time
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from statistics import NormalDist
from zoneinfo import ZoneInfo

import msgspec

from kalshikit.core.grid import PriceGrid
from kalshikit.errors import RecordingError
from kalshikit.recording.format import RawFrame
from kalshikit.recording.writer import RecordingWriter
from kalshikit.units import NS_PER_S, PRICE_SCALE, format_price

DEFAULT_START_NS = calendar.timegm((2026, 5, 11, 14, 0, 0, 0, 0, 0)) * NS_PER_S  # 2026-05-11T14:00:00Z
SYNTHETIC_PATH = "<synthetic>"
TICKER_SID, TRADE_SID, LIFECYCLE_SID = 1, 2, 3
BOOK_SID_BASE = 100  # market i's orderbook_delta frames come on sid BOOK_SID_BASE + i
DEPTH_LEVELS = 4  # levels behind the best one, per side, when depth=True

_ONE = PRICE_SCALE
_PRICE_STR = [format_price(p) for p in range(_ONE + 1)]
_GRID_PRICES = {s: PriceGrid.named(s).prices() for s in ("linear_cent", "tapered_deci_cent")}
_PRICE_RANGES = {
    "linear_cent": (("0.0000", "1.0000", "0.0100"),),
    "tapered_deci_cent": (
        ("0.0000", "0.1000", "0.0010"),
        ("0.1000", "0.9000", "0.0100"),
        ("0.9000", "1.0000", "0.0010"),
    ),
}
_SQRT2 = math.sqrt(2.0)

# Update-rate regimes: (multiplier of rate_hz, mean duration in s, trade probability per update). Chosen with
# equal odds, their time-weighted mean multiplier is 1, so rate_hz is the mean update rate per market.
_REGIMES = ((0.25, 20.0, 0.15), (1.0, 30.0, 0.30), (4.0, 5.0, 0.50))
_BURST = 2
_JUMP_MEAN_S = 240.0  # mean time between news jumps, per market
_JUMP_Z = 0.4  # jump size (std) in z units
_EPISODE_MEAN_S = 400.0  # mean time between feed backlog episodes

_THEMES = (
    ("BTC", "Will Bitcoin be above ${strike:,} at {close}?", "Above ${strike:,}", (61_000, 62_500, 64_000, 65_500)),
    ("RAIN", "Will it rain in Springfield by {close}?", "Rain by {close}", (0,)),
    ("FED", "Will the Fed cut rates by at least {strike} bp at the next meeting?", "Cut of {strike}+ bp", (25, 50)),
    ("GAME", "Will the Springfield Isotopes beat Shelbyville (game {strike})?", "Isotopes win", (1, 2, 3)),
)


@dataclass(frozen=True)
class SyntheticMarket:
    """One generated market, as its ``created`` lifecycle frame describes it."""

    ticker: str
    event_ticker: str
    market_id: str
    title: str
    yes_sub_title: str
    no_sub_title: str
    open_ns: int
    close_ns: int
    price_level_structure: str
    price_ranges: tuple[tuple[str, str, str], ...]  # (start, end, step) dollar strings, as Kalshi sends them
    initial_price: int  # fair YES price at open, price units ($0.0001)

    @property
    def grid(self) -> PriceGrid:
        return PriceGrid.named(self.price_level_structure)


@dataclass(frozen=True)
class _Spec:
    market: SyntheticMarket
    horizon: float  # h: larger = calmer
    z0: float


def _check_args(markets: int, duration_s: float, rate_hz: float) -> None:
    if isinstance(markets, bool) or not isinstance(markets, int) or not 1 <= markets <= 100_000:
        raise RecordingError(f"markets must be an int in 1..100000; got {markets!r}")
    if not isinstance(duration_s, int | float) or not 1 <= duration_s <= 366 * 86_400:
        raise RecordingError(f"duration_s must be 1 s .. 1 year; got {duration_s!r}")
    if not isinstance(rate_hz, int | float) or not 0 < rate_hz <= 1_000:
        raise RecordingError(f"rate_hz must be in (0, 1000] updates/s per market; got {rate_hz!r}")


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _specs(markets: int, duration_s: float, seed: int, start_ns: int, legacy: bool) -> list[_Spec]:
    rng = random.Random(f"kalshikit-synthetic-markets:{seed}")
    start_s = start_ns // NS_PER_S
    end_s = start_s + max(1, int(duration_s))
    day = time.strftime("%y%b%d", time.gmtime(start_s)).upper()
    out: list[_Spec] = []
    for i in range(markets):
        code, title_t, sub_t, strikes = _THEMES[i % len(_THEMES)]
        strike = strikes[(i // len(_THEMES)) % len(strikes)]
        early = markets > 2 and i % 3 == 2
        close_s = start_s + max(1, int(duration_s * rng.uniform(0.6, 0.9))) if early else end_s
        close_txt = time.strftime("%H:%M UTC", time.gmtime(close_s))
        event = f"KXSYN{code}-{day}{time.strftime('%H%M', time.gmtime(close_s))}"
        ticker = f"{event}-{'T' if code == 'BTC' else 'M'}{strike if code != 'RAIN' else i + 1}-{i + 1:02d}"
        structure = "linear_cent" if legacy or i % 2 == 0 else "tapered_deci_cent"
        if structure == "tapered_deci_cent" and i % 4 == 1:
            p0 = rng.uniform(0.03, 0.09) if rng.random() < 0.5 else rng.uniform(0.91, 0.97)
        else:
            p0 = rng.uniform(0.3, 0.7)
        market = SyntheticMarket(
            ticker=ticker,
            event_ticker=event,
            market_id=_uuid(rng),
            title=f"{title_t.format(strike=strike, close=close_txt)} (synthetic)",
            yes_sub_title=sub_t.format(strike=strike, close=close_txt),
            no_sub_title=f"Not: {sub_t.format(strike=strike, close=close_txt)}",
            open_ns=start_s * NS_PER_S,
            close_ns=close_s * NS_PER_S,
            price_level_structure=structure,
            price_ranges=_PRICE_RANGES[structure],
            initial_price=round(p0 * _ONE),
        )
        out.append(_Spec(market, math.exp(rng.uniform(math.log(2.0), math.log(20.0))), NormalDist().inv_cdf(p0)))
    return out


def synthetic_markets(
    markets: int = 6,
    duration_s: float = 600,
    seed: int = 7,
    start_ns: int | None = None,
    legacy: bool = False,
    sports: bool = False,
) -> list[SyntheticMarket]:
    """The markets :func:`synthetic_frames` generates for the same arguments (ticker, event, title, times, grid).

    With ``sports=True`` they are :class:`SyntheticGameMarket` objects, the two teams of each game in turn."""
    _check_args(markets, duration_s, 1.0)
    t0 = DEFAULT_START_NS if start_ns is None else start_ns
    if sports:
        _check_sports(legacy)
        specs, mirror = _sports_specs(markets, duration_s, seed, t0)
        return [m for s in specs for m in (s.market, mirror[s.market.ticker])]
    return [s.market for s in _specs(markets, duration_s, seed, t0, legacy)]


def _check_sports(legacy: bool) -> None:
    if legacy:
        raise RecordingError("sports=True needs the current wire format; it cannot be combined with legacy=True")


# ============================================================================ sports mode
SPORTS_SERIES = "KXNBAGAME"
SPORTS_KEY = "basketball_nba"
SPORTS_TITLE = "NBA"
_EASTERN = ZoneInfo("America/New_York")

# (ticker code, Kalshi's name as in titles and yes_sub_title, the sportsbooks' full name)
NBA_TEAMS: tuple[tuple[str, str, str], ...] = (
    ("ATL", "Atlanta", "Atlanta Hawks"),
    ("BOS", "Boston", "Boston Celtics"),
    ("BKN", "Brooklyn", "Brooklyn Nets"),
    ("CHA", "Charlotte", "Charlotte Hornets"),
    ("CHI", "Chicago", "Chicago Bulls"),
    ("CLE", "Cleveland", "Cleveland Cavaliers"),
    ("DAL", "Dallas", "Dallas Mavericks"),
    ("DEN", "Denver", "Denver Nuggets"),
    ("DET", "Detroit", "Detroit Pistons"),
    ("GSW", "Golden State", "Golden State Warriors"),
    ("HOU", "Houston", "Houston Rockets"),
    ("IND", "Indiana", "Indiana Pacers"),
    ("LAC", "Los Angeles C", "Los Angeles Clippers"),
    ("LAL", "Los Angeles L", "Los Angeles Lakers"),
    ("MEM", "Memphis", "Memphis Grizzlies"),
    ("MIA", "Miami", "Miami Heat"),
    ("MIL", "Milwaukee", "Milwaukee Bucks"),
    ("MIN", "Minnesota", "Minnesota Timberwolves"),
    ("NOP", "New Orleans", "New Orleans Pelicans"),
    ("NYK", "New York", "New York Knicks"),
    ("OKC", "Oklahoma City", "Oklahoma City Thunder"),
    ("ORL", "Orlando", "Orlando Magic"),
    ("PHI", "Philadelphia", "Philadelphia 76ers"),
    ("PHX", "Phoenix", "Phoenix Suns"),
    ("POR", "Portland", "Portland Trail Blazers"),
    ("SAC", "Sacramento", "Sacramento Kings"),
    ("SAS", "San Antonio", "San Antonio Spurs"),
    ("TOR", "Toronto", "Toronto Raptors"),
    ("UTA", "Utah", "Utah Jazz"),
    ("WAS", "Washington", "Washington Wizards"),
)
MAX_GAMES = len(NBA_TEAMS) // 2


@dataclass(frozen=True)
class SyntheticGameMarket(SyntheticMarket):
    """A game market of the sports mode: YES pays if ``team`` wins. Team names are Kalshi's short names in
    ``team``/``yes_sub_title`` and the sportsbooks' full names in ``team_full``, ``home_team``, ``away_team``."""

    team: str = ""
    team_full: str = ""
    home_team: str = ""
    away_team: str = ""
    commence_ns: int = 0
    sport_key: str = SPORTS_KEY
    rules_primary: str = ""


def _sports_specs(
    markets: int, duration_s: float, seed: int, start_ns: int
) -> tuple[list[_Spec], dict[str, SyntheticGameMarket]]:
    """One random-walk spec per game (its away team's market) and, per such ticker, the mirrored home market."""
    if markets % 2 or not 2 <= markets <= 2 * MAX_GAMES:
        raise RecordingError(
            f"sports mode makes two markets per game: markets must be even, 2..{2 * MAX_GAMES}; got {markets!r}"
        )
    rng = random.Random(f"kalshikit-synthetic-sports:{seed}")
    start_s = start_ns // NS_PER_S
    end_s = start_s + max(1, int(duration_s))
    # The game starts halfway through the tape (a pre-game half, then in-play), on a whole minute so that the
    # ticker's HHMM names it exactly (short tapes: at the open).
    commence_s = max(start_s, (start_s + max(1, int(duration_s)) // 2) // 60 * 60)
    local = datetime.fromtimestamp(commence_s, UTC).astimezone(_EASTERN)
    stamp = f"{local:%y}{local:%b}".upper() + f"{local:%d%H%M}"
    by_code = {t[0]: t for t in NBA_TEAMS}
    others = [t for t in NBA_TEAMS if t[0] not in ("LAL", "BOS")]
    rng.shuffle(others)
    pairs = [(by_code["LAL"], by_code["BOS"])] + [(others[i], others[i + 1]) for i in range(0, len(others) - 1, 2)]
    specs: list[_Spec] = []
    mirror: dict[str, SyntheticGameMarket] = {}
    for g in range(markets // 2):
        away, home = pairs[g]
        event = f"{SPORTS_SERIES}-{stamp}{away[0]}{home[0]}"
        title = f"{away[1]} at {home[1]}"
        p0 = rng.uniform(0.25, 0.75)

        made: list[SyntheticGameMarket] = []
        for team, price in ((away, round(p0 * _ONE)), (home, 0)):
            made.append(
                SyntheticGameMarket(
                    ticker=f"{event}-{team[0]}",
                    event_ticker=event,
                    market_id=_uuid(rng),
                    title=title,
                    yes_sub_title=team[1],
                    no_sub_title=team[1],
                    open_ns=start_s * NS_PER_S,
                    close_ns=end_s * NS_PER_S,
                    price_level_structure="linear_cent",
                    price_ranges=_PRICE_RANGES["linear_cent"],
                    initial_price=price or _ONE - made[0].initial_price,
                    team=team[1],
                    team_full=team[2],
                    home_team=home[2],
                    away_team=away[2],
                    commence_ns=commence_s * NS_PER_S,
                    rules_primary=f"If {team[1]} wins the {title} professional basketball game scheduled for "
                    f"{local:%b %d, %Y} {local:%H:%M} ET, the market resolves to Yes. Synthetic market generated "
                    "by kalshikit; it never traded anywhere.",
                )
            )
        primary, twin = made
        specs.append(_Spec(primary, math.exp(rng.uniform(math.log(2.0), math.log(20.0))), NormalDist().inv_cdf(p0)))
        mirror[primary.ticker] = twin
    return specs, mirror


def _flip(price: str) -> str:
    return _PRICE_STR[_ONE - _PRICE_LOOKUP[price]]


_PRICE_LOOKUP = {p: i for i, p in enumerate(_PRICE_STR)}


def _mirror_frames(frames: Iterator[RawFrame], mirror: dict[str, SyntheticGameMarket]) -> Iterator[RawFrame]:
    """Add, after each frame of a game's primary market, the same frame for the other team's market (prices
    mirrored: bid = 1 − ask, last = 1 − last, result flipped), renumbering lifecycle ``seq`` and ``line``."""
    line = 0
    lifecycle_seq = 0
    encode = msgspec.json.encode
    for f in frames:
        frame = msgspec.json.decode(f.raw)
        kind = frame.get("type")
        msg = frame.get("msg", {})
        twin = mirror.get(msg.get("market_ticker", ""))
        out: list[str] = []
        if kind == "market_lifecycle_v2":
            lifecycle_seq += 1
            frame["seq"] = lifecycle_seq
            out.append(encode(frame).decode())
            if twin is not None:
                lifecycle_seq += 1
                if msg.get("event_type") == "created":
                    out.append(_created_frame(twin, lifecycle_seq))
                else:
                    m2 = dict(msg, market_ticker=twin.ticker)
                    if "result" in m2:
                        m2["result"] = {"yes": "no", "no": "yes"}.get(m2["result"], m2["result"])
                    if "settlement_value" in m2:
                        m2["settlement_value"] = _flip(m2["settlement_value"])
                    out.append(encode(dict(frame, seq=lifecycle_seq, msg=m2)).decode())
        else:
            out.append(f.raw)
            if kind == "ticker" and twin is not None:
                last = msg["price_dollars"]
                m2 = dict(
                    msg,
                    market_id=twin.market_id,
                    market_ticker=twin.ticker,
                    price_dollars=last if last == _PRICE_STR[0] else _flip(last),
                    yes_bid_dollars=_flip(msg["yes_ask_dollars"]),
                    yes_ask_dollars=_flip(msg["yes_bid_dollars"]),
                    yes_bid_size_fp=msg["yes_ask_size_fp"],
                    yes_ask_size_fp=msg["yes_bid_size_fp"],
                )
                out.append(encode(dict(frame, msg=m2)).decode())
        for raw in out:
            line += 1
            yield RawFrame(f.recv_ns, raw, f.exchange_ns, SYNTHETIC_PATH, line)


def _created_frame(m: SyntheticMarket, seq: int) -> str:
    msg = {
        "market_ticker": m.ticker,
        "event_type": "created",
        "open_ts": m.open_ns // NS_PER_S,
        "close_ts": m.close_ns // NS_PER_S,
        "price_level_structure": m.price_level_structure,
        "price_ranges": [{"start": a, "end": b, "step": c} for a, b, c in m.price_ranges],
        "additional_metadata": {
            "name": m.title,
            "title": m.title,
            "yes_sub_title": m.yes_sub_title,
            "no_sub_title": m.no_sub_title,
            "rules_primary": getattr(m, "rules_primary", "")
            or f"If {m.yes_sub_title} at {m.close_ns // NS_PER_S} (unix time), the market resolves to "
            "Yes. Synthetic market generated by kalshikit; it never traded anywhere.",
            "rules_secondary": "",
            "can_close_early": False,
            "event_ticker": m.event_ticker,
            "expected_expiration_ts": m.close_ns // NS_PER_S,
        },
    }
    frame = {"type": "market_lifecycle_v2", "sid": LIFECYCLE_SID, "seq": seq, "msg": msg}
    return msgspec.json.encode(frame).decode()


class _State:
    """Mutable per-market simulation state (prices in $0.0001, counts in 1/100 contract, times in µs)."""

    __slots__ = (
        "ask",
        "ask_size",
        "bid",
        "bid_size",
        "book_no",
        "book_seq",
        "book_yes",
        "deep",
        "grid",
        "horizon",
        "index",
        "last",
        "last_recv",
        "last_size",
        "last_us",
        "m",
        "next_jump_us",
        "notional",
        "oi",
        "p",
        "regime",
        "regime_end_us",
        "result",
        "s",
        "ticker_prefix",
        "trade_prefix",
        "volume",
    )

    def __init__(self, spec: _Spec, t0_us: int, regime_end_us: int, next_jump_us: int) -> None:
        m = spec.market
        self.m = m
        self.horizon = spec.horizon
        self.grid: list[int] = _GRID_PRICES[m.price_level_structure]
        close_s = (m.close_ns - m.open_ns) / NS_PER_S
        self.s = spec.z0 * math.sqrt(spec.horizon * (close_s + 1.0))  # the underlying random walk
        self.p = m.initial_price / _ONE  # fair YES probability
        self.bid = self.bid_size = self.ask_size = 0
        self.ask = _ONE
        self.last = self.last_size = self.volume = self.oi = 0
        self.notional = 0  # traded money, micro-dollars
        self.result = ""
        self.last_us = t0_us
        self.last_recv = 0
        self.regime = 1
        self.regime_end_us = regime_end_us
        self.next_jump_us = next_jump_us
        self.ticker_prefix = (
            f'{{"type":"ticker","sid":{TICKER_SID},"msg":{{"market_id":"{m.market_id}","market_ticker":"{m.ticker}",'
        )
        self.book_yes: dict[int, int] | None = None  # the book last sent (depth=True); None before the snapshot
        self.book_no: dict[int, int] = {}
        self.book_seq = 0
        self.deep: dict[tuple[int, int], int] = {}  # (side, price) -> resting size behind the best level
        self.index = 0
        self.trade_prefix = f'"market_ticker":"{m.ticker}",'


def synthetic_frames(
    markets: int = 6,
    duration_s: float = 600,
    seed: int = 7,
    start_ns: int | None = None,
    rate_hz: float = 2.0,
    legacy: bool = False,
    sports: bool = False,
    depth: bool = False,
) -> Iterator[RawFrame]:
    """Yield a synthetic tape in receive order as :class:`RawFrame` (``path`` ``"<synthetic>"``, ``line`` 1, 2, ...).

    ``markets`` markets open at ``start_ns`` (default 2026-05-11T14:00:00Z; never the wall clock, so a seed always
    gives the same bytes) and close within ``duration_s`` seconds. ``rate_hz`` is the mean ticker update rate per
    market. ``legacy=True`` emits the pre-2026 integer-cent ticker and trade frames (all markets on ``linear_cent``).
    ``sports=True`` makes ``markets // 2`` NBA games of two mirrored markets each (see the module docstring).
    ``depth=True`` adds each market's order book (snapshot and deltas; see the module docstring).
    """
    _check_args(markets, duration_s, rate_hz)
    if depth and (legacy or sports):
        raise RecordingError("depth=True makes current-format order books of plain markets: not with legacy or sports")
    t0_ns = DEFAULT_START_NS if start_ns is None else start_ns
    if isinstance(t0_ns, bool) or not isinstance(t0_ns, int) or t0_ns < 0:
        raise RecordingError(f"start_ns must be a non-negative int (ns UTC); got {start_ns!r}")
    if sports:
        _check_sports(legacy)
        game_specs, mirror = _sports_specs(markets, duration_s, seed, t0_ns)
        return _mirror_frames(_generate(game_specs, seed, t0_ns, float(rate_hz), False), mirror)
    specs = _specs(markets, duration_s, seed, t0_ns, legacy)
    return _generate(specs, seed, t0_ns, float(rate_hz), legacy, depth)


def _count_str(c: int) -> str:
    sign = "-" if c < 0 else ""
    c = abs(c)
    return f"{sign}{c // 100}.{c % 100:02d}"


def _levels_json(levels: dict[int, int]) -> str:
    return "[" + ",".join(f'["{_PRICE_STR[p]}","{_count_str(c)}"]' for p, c in sorted(levels.items())) + "]"


def _generate(
    specs: list[_Spec], seed: int, t0_ns: int, rate_hz: float, legacy: bool, depth: bool = False
) -> Iterator[RawFrame]:
    rng = random.Random(f"kalshikit-synthetic-tape:{seed}")
    drng = random.Random(f"kalshikit-synthetic-depth:{seed}")  # depth has its own draws: the rest stays the same
    rand, gauss, expo, bits = rng.random, rng.gauss, rng.expovariate, rng.getrandbits
    erf, sqrt = math.erf, math.sqrt
    ps = _PRICE_STR
    t0_us = t0_ns // 1_000

    states: list[_State] = []
    events: list[tuple[int, int, int, int]] = []  # (time_us, order, kind, market index)
    order = 0
    for i, spec in enumerate(specs):
        regime_end = t0_us + int(expo(1.0 / _REGIMES[1][1]) * 1e6)
        st = _State(spec, t0_us, regime_end, t0_us + int(expo(1.0 / _JUMP_MEAN_S) * 1e6))
        st.index = i
        states.append(st)
        events.append((t0_us + 1_000 + int(rand() * 300_000), order, 0, i))
        order += 1
    heapq.heapify(events)

    pending: list[tuple[int, int, str, int]] = []  # (recv_ns, order, raw, exchange_ns or -1)
    sent = 0
    carry = -1  # exchange time of the last emitted frame that had one
    episode_start = episode_len = 0
    episode_peak = 0.0
    next_episode_us = t0_us + int(expo(1.0 / _EPISODE_MEAN_S) * 1e6)
    sec_cache: dict[int, str] = {}
    heappop = heapq.heappop
    seq = {TRADE_SID: 0, LIFECYCLE_SID: 0}

    sid_recv = {TICKER_SID: 0, TRADE_SID: 0, LIFECYCLE_SID: 0}

    def push(st: _State, t_us: int, raw: str, ex_ns: int, sid: int) -> int:
        """Queue a frame for delivery: after its latency, after the market's previous frame, and after the previous
        frame of its sid when that sid is sequenced (a subscription's frames arrive in ``seq`` order)."""
        nonlocal order, episode_start, episode_len, episode_peak, next_episode_us
        if t_us >= next_episode_us:
            episode_start, episode_len = t_us, int(rng.uniform(3.0, 10.0) * 1e6)
            episode_peak = rng.uniform(0.3, 2.5)
            next_episode_us = t_us + episode_len + int(expo(1.0 / _EPISODE_MEAN_S) * 1e6)
        lat = 0.035 + expo(60.0)  # seconds: ~35 ms floor + jitter (mean ~17 ms)
        age = t_us - episode_start
        if age < episode_len:
            lat += episode_peak * (1.0 - age / episode_len)
        recv = t_us * 1_000 + int(lat * 1e9)
        if recv <= st.last_recv:
            recv = st.last_recv + 1_000
        if sid != TICKER_SID:
            if recv <= sid_recv[sid]:
                recv = sid_recv[sid] + 1_000
            sid_recv[sid] = recv
        previous = st.last_recv
        st.last_recv = recv
        order += 1
        heapq.heappush(pending, (recv, order, raw, ex_ns))
        return previous

    book_order = 0  # tie-breaker of book frames in ``pending`` (negative: before a main frame at the same time)

    def book_frames(st: _State, t_us: int, previous_recv: int) -> None:
        """The market's order book after this update, as the frames that make it (just before its ticker frame).

        Called right after the ticker frame was pushed: the book frames take receive times between the market's
        previous frame and that ticker frame, so a reader sees the book change, then the ticker that shows it."""
        nonlocal book_order
        g = st.grid
        yes: dict[int, int] = {}
        no: dict[int, int] = {}
        if st.bid:
            yes[st.bid] = st.bid_size
            i = bisect_right(g, st.bid) - 1
            for d in range(1, DEPTH_LEVELS + 1):
                if i - d >= 0 and g[i - d] > 0:
                    yes[g[i - d]] = deep_size(st, 0, g[i - d])
        if st.ask < _ONE:
            no[_ONE - st.ask] = st.ask_size
            i = bisect_right(g, st.ask) - 1
            for d in range(1, DEPTH_LEVELS + 1):
                if i + d < len(g) and g[i + d] < _ONE:
                    no[_ONE - g[i + d]] = deep_size(st, 1, _ONE - g[i + d])
        sid = BOOK_SID_BASE + st.index
        mid = st.m.market_id
        raws: list[tuple[str, int]] = []
        if st.book_yes is None:
            st.book_seq += 1
            raws.append(
                (
                    f'{{"type":"orderbook_snapshot","sid":{sid},"seq":{st.book_seq},"msg":{{"market_ticker":'
                    f'"{st.m.ticker}","market_id":"{mid}","yes_dollars_fp":{_levels_json(yes)},'
                    f'"no_dollars_fp":{_levels_json(no)}}}}}',
                    -1,
                )
            )
        else:
            _, ms, iso = stamp(t_us)
            for side, old, new in (("yes", st.book_yes, yes), ("no", st.book_no, no)):
                for price in sorted(old.keys() | new.keys()):
                    change = new.get(price, 0) - old.get(price, 0)
                    if change:
                        st.book_seq += 1
                        raws.append(
                            (
                                f'{{"type":"orderbook_delta","sid":{sid},"seq":{st.book_seq},"msg":{{"market_ticker":'
                                f'"{st.m.ticker}","market_id":"{mid}","price_dollars":"{_PRICE_STR[price]}",'
                                f'"delta_fp":"{_count_str(change)}","side":"{side}","ts":"{iso}","ts_ms":{ms}}}}}',
                                ms * 1_000_000,
                            )
                        )
        st.book_yes, st.book_no = yes, no
        recv = st.last_recv  # the ticker frame's receive time; there are >= 1 µs after previous_recv before it
        room = recv - previous_recv - 1
        n = len(raws)
        step = max(1, min(1_000, room // (n + 1))) if n else 1
        for k, (raw, ex) in enumerate(raws):
            book_order -= 1
            heapq.heappush(pending, (recv - (n - k) * step, book_order, raw, ex))

    def deep_size(st: _State, side: int, price: int) -> int:
        """The resting size behind the best level at ``price`` (drawn once, redrawn now and then)."""
        key = (side, price)
        size = st.deep.get(key)
        if size is None or drng.random() < 0.05:
            size = st.deep[key] = (int(drng.expovariate(1.0 / 400.0)) + 20) * 100
        return size

    def drain(upto_ns: int) -> Iterator[RawFrame]:
        nonlocal sent, carry
        while pending and pending[0][0] <= upto_ns:
            recv, _, raw, ex = heapq.heappop(pending)
            if ex >= 0:
                carry = ex
            sent += 1
            yield RawFrame(recv, raw, ex if ex >= 0 else (carry if carry >= 0 else recv), SYNTHETIC_PATH, sent)

    def stamp(t_us: int) -> tuple[int, int, str]:
        sec = t_us // 1_000_000
        s = sec_cache.get(sec)
        if s is None:
            if len(sec_cache) > 4_096:
                sec_cache.clear()
            s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
            sec_cache[sec] = s
        return sec, t_us // 1_000, f"{s}.{t_us % 1_000_000:06d}Z"

    def ticker_frame(st: _State, t_us: int) -> None:
        sec, ms, iso = stamp(t_us)
        if legacy:
            raw = (
                f'{st.ticker_prefix}"price":{st.last // 100},"yes_bid":{st.bid // 100},"yes_ask":{st.ask // 100},'
                f'"volume":{st.volume // 100},"open_interest":{st.oi // 100},'
                f'"dollar_volume":{st.notional // 1_000_000},"dollar_open_interest":{st.oi * st.last // 1_000_000},'
                f'"ts":{sec}}}}}'
            )
            push(st, t_us, raw, sec * NS_PER_S, TICKER_SID)
            return
        bs = st.bid_size if st.bid else 0
        az = st.ask_size if st.ask < _ONE else 0
        v, oi, ls = st.volume, st.oi, st.last_size
        raw = (
            f'{st.ticker_prefix}"price_dollars":"{ps[st.last]}","yes_bid_dollars":"{ps[st.bid]}",'
            f'"yes_ask_dollars":"{ps[st.ask]}","volume_fp":"{v // 100}.{v % 100:02d}",'
            f'"open_interest_fp":"{oi // 100}.{oi % 100:02d}","dollar_volume":{st.notional // 1_000_000},'
            f'"dollar_open_interest":{oi * st.last // 1_000_000},"yes_bid_size_fp":"{bs // 100}.{bs % 100:02d}",'
            f'"yes_ask_size_fp":"{az // 100}.{az % 100:02d}","last_trade_size_fp":"{ls // 100}.{ls % 100:02d}",'
            f'"ts":{sec},"ts_ms":{ms},"time":"{iso}"}}}}'
        )
        previous = push(st, t_us, raw, ms * 1_000_000, TICKER_SID)
        if depth:
            book_frames(st, t_us, previous)

    def trade_frame(st: _State, t_us: int, price: int, count: int, taker_yes: bool) -> None:
        sec, ms, _ = stamp(t_us)
        seq[TRADE_SID] += 1
        h = f"{bits(128):032x}"
        tid = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"
        side = "yes" if taker_yes else "no"
        if legacy:
            raw = (
                f'{{"type":"trade","sid":{TRADE_SID},"seq":{seq[TRADE_SID]},"msg":{{"trade_id":"{tid}",'
                f'{st.trade_prefix}"yes_price":{price // 100},"no_price":{(_ONE - price) // 100},'
                f'"count":{count // 100},"taker_side":"{side}","ts":{sec}}}}}'
            )
            push(st, t_us, raw, sec * NS_PER_S, TRADE_SID)
            return
        raw = (
            f'{{"type":"trade","sid":{TRADE_SID},"seq":{seq[TRADE_SID]},"msg":{{"trade_id":"{tid}",'
            f'{st.trade_prefix}"yes_price_dollars":"{ps[price]}","no_price_dollars":"{ps[_ONE - price]}",'
            f'"count_fp":"{count // 100}.{count % 100:02d}","taker_side":"{side}","taker_outcome_side":"{side}",'
            f'"taker_book_side":"{"bid" if taker_yes else "ask"}","is_block_trade":false,"ts":{sec},"ts_ms":{ms}}}}}'
        )
        push(st, t_us, raw, ms * 1_000_000, TRADE_SID)

    def lifecycle_frame(st: _State, t_us: int, body: str) -> None:
        seq[LIFECYCLE_SID] += 1
        raw = (
            f'{{"type":"market_lifecycle_v2","sid":{LIFECYCLE_SID},"seq":{seq[LIFECYCLE_SID]},'
            f'"msg":{{"market_ticker":"{st.m.ticker}",{body}}}}}'
        )
        push(st, t_us, raw, -1, LIFECYCLE_SID)

    def size() -> int:
        c = (int(expo(1.0 / 120.0)) + 1) * 100
        if not legacy and rand() < 0.1:
            c += 1 + int(rand() * 99)
        return c

    # Every market's ``created`` frame comes first.
    for st in states:
        seq[LIFECYCLE_SID] += 1
        push(st, t0_us, _created_frame(st.m, seq[LIFECYCLE_SID]), -1, LIFECYCLE_SID)

    while events:
        t_us, _, kind, idx = heapq.heappop(events)
        upto = t_us * 1_000
        while pending and pending[0][0] <= upto:  # deliver what has arrived by now (drain(), inlined: hot)
            recv, _, raw, ex = heappop(pending)
            if ex >= 0:
                carry = ex
            sent += 1
            yield RawFrame(recv, raw, ex if ex >= 0 else (carry if carry >= 0 else recv), SYNTHETIC_PATH, sent)
        st = states[idx]
        close_us = st.m.close_ns // 1_000
        if kind == 0:  # quote update
            dt = (t_us - st.last_us) / 1e6
            st.last_us = t_us
            s = st.s + gauss(0.0, sqrt(dt))
            tau = (close_us - t_us) / 1e6
            scale = sqrt(st.horizon * (tau + 1.0))
            if t_us >= st.next_jump_us:
                s += _JUMP_Z * gauss(0.0, 1.0) * scale
                st.next_jump_us = t_us + int(expo(1.0 / _JUMP_MEAN_S) * 1e6)
                st.regime = _BURST
                st.regime_end_us = t_us + int(expo(1.0 / _REGIMES[_BURST][1]) * 1e6)
            elif t_us >= st.regime_end_us:
                st.regime = int(rand() * 3)
                st.regime_end_us = t_us + int(expo(1.0 / _REGIMES[st.regime][1]) * 1e6)
            st.s = s
            p_old = st.p
            p = st.p = 0.5 * (1.0 + erf(s / scale / _SQRT2))
            # The book: best bid at or below the fair price, best ask above, widened to k ticks.
            g = st.grid
            n = len(g)
            i = bisect_right(g, p * _ONE) - 1
            r = rand()
            k = 1 if r < 0.55 else (2 if r < 0.85 else 3)
            if rand() < 0.03:
                k = 5 + int(rand() * 8)
            j = int(rand() * k)
            bi, ai = i - j, i + k - j
            bid = g[bi] if bi >= 0 else 0
            ask = g[ai] if ai < n else _ONE
            if rand() < 0.01:
                if rand() < 0.5:
                    bid = 0
                else:
                    ask = _ONE
            st.bid, st.ask = bid, ask
            st.bid_size = size() if bid else 0
            st.ask_size = size() if ask < _ONE else 0
            mult, _, trade_p = _REGIMES[st.regime]
            if rand() < trade_p:
                bias = max(-0.3, min(0.3, (p - p_old) * 20.0))
                taker_yes = rand() < 0.5 + bias
                price = ask if taker_yes else bid
                if 0 < price < _ONE:
                    count = min(size(), st.ask_size if taker_yes else st.bid_size)
                    st.last, st.last_size = price, count
                    st.volume += count
                    st.notional += price * count
                    st.oi = max(0, st.oi + int((rand() * 2.0 - 0.5) * count))
                    trade_frame(st, t_us, price, count, taker_yes)
            ticker_frame(st, t_us)
            rate = rate_hz * mult * (1.5 if tau < 0.1 * (close_us - t0_us) / 1e6 else 1.0)
            nxt = t_us + max(1_000, int(expo(rate) * 1e6))
            heapq.heappush(events, (nxt, order, 0, idx) if nxt < close_us else (close_us, order, 1, idx))
            order += 1
        elif kind == 1:  # close: the book empties
            b, a = st.bid, st.ask
            if b and a < _ONE:
                mid2 = b + a
            else:
                mid2 = 2 * b if b else (2 * a if a < _ONE else _ONE)
            st.result = "yes" if mid2 > _ONE or (mid2 == _ONE and st.p >= 0.5) else "no"
            st.bid, st.ask = 0, _ONE
            st.bid_size = st.ask_size = 0
            ticker_frame(st, t_us)
            heapq.heappush(events, (t_us + int(rng.uniform(2.0, 15.0) * 1e6), order, 2, idx))
            order += 1
        elif kind == 2:  # determined
            res = st.result
            lifecycle_frame(
                st,
                t_us,
                f'"event_type":"determined","result":"{res}","settlement_value":"{ps[_ONE if res == "yes" else 0]}",'
                f'"determination_ts":{t_us // 1_000_000}',
            )
            heapq.heappush(events, (t_us + int(rng.uniform(5.0, 30.0) * 1e6), order, 3, idx))
            order += 1
        else:  # settled
            lifecycle_frame(st, t_us, f'"event_type":"settled","settled_ts":{t_us // 1_000_000}')
    yield from drain(1 << 62)


def write_synthetic_recording(
    directory: str | os.PathLike[str],
    *,
    prefix: str = "synthetic",
    markets: int = 6,
    duration_s: float = 600,
    seed: int = 7,
    start_ns: int | None = None,
    rate_hz: float = 2.0,
    legacy: bool = False,
    note: str | None = None,
    sports: bool = False,
    depth: bool = False,
) -> list[Path]:
    """Write :func:`synthetic_frames` as a kit recording (env ``synthetic``, header ``synthetic: true``).

    Byte-for-byte reproducible: the header time is the tape's start and gzip members are cut at whole seconds of
    receive time (as a live recorder's once-a-second flush would). Returns the files written.
    """
    t0 = DEFAULT_START_NS if start_ns is None else start_ns
    tickers = [m.ticker for m in synthetic_markets(markets, duration_s, seed, t0, legacy, sports)]
    if note is None:
        note = (
            f"SYNTHETIC data from kalshikit.recording.synthetic (seed={seed}, markets={markets}, "
            f"duration_s={duration_s}, rate_hz={rate_hz}, legacy={legacy}{', sports=True' if sports else ''}"
            f"{', depth=True' if depth else ''}); not a capture of any real exchange."
        )
    channels = ["ticker", "trade", "market_lifecycle_v2"] + (["orderbook_delta"] if depth else [])
    subscriptions = {"channels": channels, "market_tickers": tickers}
    writer = RecordingWriter(
        directory,
        prefix=prefix,
        env="synthetic",
        subscriptions=subscriptions,
        note=note,
        synthetic=True,
        flush_interval=None,
        created_ns=t0,
    )
    with writer:
        second = -1
        for f in synthetic_frames(markets, duration_s, seed, t0, rate_hz, legacy, sports, depth):
            s = f.recv_ns // NS_PER_S
            if s != second:
                if second >= 0:
                    writer.flush()
                second = s
            writer.write(f.raw, f.recv_ns)
    return list(writer.paths)


__all__ = [
    "DEFAULT_START_NS",
    "DEPTH_LEVELS",
    "NBA_TEAMS",
    "SPORTS_KEY",
    "SPORTS_SERIES",
    "SyntheticGameMarket",
    "SyntheticMarket",
    "synthetic_frames",
    "synthetic_markets",
    "write_synthetic_recording",
]
