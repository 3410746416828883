"""Typed decoding of Kalshi WebSocket frames, both wire eras, into the kit's events.

Current frames carry dollar strings (``"0.6300"``) and fixed-point count strings (``"10.00"``); legacy frames carry
integer cents and integer counts; frames from the changeover carry both (the strings win: they keep sub-penny
prices). Every price, count and amount comes out as an exact integer (see :mod:`kalshikit.units`).

:class:`FrameDecoder` never raises on bad input: an unknown ``type`` becomes :class:`Unknown` (kept raw and
counted) and a frame that is not valid JSON, or has the wrong shape, becomes :class:`Malformed` carrying the raw
text and the reason.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, TypeAlias

import msgspec

from kalshikit.core.events import (
    BookDelta,
    BookSide,
    BookSnapshot,
    Fill,
    Lifecycle,
    OrderStatus,
    OrderUpdate,
    PositionUpdate,
    Quote,
    Side,
    Trade,
)
from kalshikit.errors import UnitError

# The lookup table of every grid price, shared with units.parse_price's fast path.
from kalshikit.units import _PRICE_TABLE as _PT
from kalshikit.units import (
    CENT,
    COUNT_SCALE,
    NS_PER_MS,
    NS_PER_S,
    ONE_DOLLAR,
    cents_to_price,
    parse_count,
    parse_dollars_to_money,
    parse_price,
)

CHANNEL_MESSAGE_TYPES: dict[str, tuple[str, ...]] = {
    "ticker": ("ticker",),
    "orderbook_delta": ("orderbook_snapshot", "orderbook_delta"),
    "trade": ("trade",),
    "fill": ("fill",),
    "market_positions": ("market_position",),
    "user_orders": ("user_order",),
    "market_lifecycle_v2": ("market_lifecycle_v2", "event_lifecycle"),
}

# Kalshi's WebSocket error codes (current AsyncAPI spec). 10 and 25 end the subscription: resubscribe.
WS_ERROR_CODES: dict[int, str] = {
    1: "Unable to process message",
    2: "Params required",
    3: "Channels required",
    4: "Subscription IDs required",
    5: "Unknown command",
    6: "Already subscribed (retired)",
    7: "Unknown subscription ID",
    8: "Unknown channel name",
    9: "Authentication required",
    10: "Channel error",
    11: "Invalid parameter",
    12: "Exactly one subscription ID is required",
    13: "Unsupported action",
    14: "Market Ticker required",
    15: "Action required",
    16: "Market not found (retired)",
    17: "Internal error (retired)",
    18: "Command timeout",
    19: "shard_factor must be > 0",
    20: "shard_factor is required when shard_key is set",
    21: "shard_key must be >= 0 and < shard_factor",
    22: "shard_factor must be <= 100",
    23: "Match IDs required",
    24: "Index IDs required",
    25: "Subscription buffer overflow",
    26: "Subscription market limit exceeded",
    27: "Too many requests",
    28: "Underlying tickers required",
}
TERMINAL_WS_ERRORS = frozenset({10, 25})


# ---------------------------------------------------------------------------- control replies
class Subscribed(msgspec.Struct, frozen=True, gc=False):
    id: int
    channel: str
    sid: int


class Ok(msgspec.Struct, frozen=True, gc=False):
    """Reply to ``update_subscription`` (``market_tickers`` after the change) or ``list_subscriptions``."""

    id: int
    sid: int = 0
    seq: int = 0
    market_tickers: tuple[str, ...] | None = None
    subscriptions: tuple[tuple[str, int], ...] | None = None  # (channel, sid) for list_subscriptions


class Unsubscribed(msgspec.Struct, frozen=True, gc=False):
    id: int
    sid: int
    seq: int = 0


class ErrorReply(msgspec.Struct, frozen=True, gc=False):
    id: int
    code: int
    message: str
    sid: int = 0
    market_tickers: tuple[str, ...] = ()

    @property
    def terminal(self) -> bool:
        """True for codes after which the subscription is gone and must be made again (10, 25)."""
        return self.code in TERMINAL_WS_ERRORS


class Unknown(msgspec.Struct, frozen=True, gc=False):
    """A well-formed frame of a type the kit does not use (kept, counted, otherwise ignored)."""

    type: str
    raw: str
    recv_ns: int = 0


class Malformed(msgspec.Struct, frozen=True, gc=False):
    """A frame that could not be decoded. ``raw`` is the text exactly as received."""

    raw: str
    error: str
    recv_ns: int = 0


Message: TypeAlias = (
    Quote
    | BookSnapshot
    | BookDelta
    | Trade
    | Fill
    | OrderUpdate
    | PositionUpdate
    | Lifecycle
    | Subscribed
    | Ok
    | Unsubscribed
    | ErrorReply
    | Unknown
    | Malformed
)


# ---------------------------------------------------------------------------- wire shapes (both eras)
Level = tuple[str | int, str | int]


class _TickerMsg(msgspec.Struct, gc=False):
    # Fields in the order Kalshi sends them: msgspec's decoder is fastest when keys arrive in declaration order.
    market_ticker: str
    price: int | None = None  # legacy integer cents (and their counts) come before the strings in mixed frames
    yes_bid: int | None = None
    yes_ask: int | None = None
    price_dollars: str | None = None
    yes_bid_dollars: str | None = None
    yes_ask_dollars: str | None = None
    volume: int | None = None
    volume_fp: str | None = None
    open_interest: int | None = None
    open_interest_fp: str | None = None
    yes_bid_size_fp: str | None = None
    yes_ask_size_fp: str | None = None
    ts: int | None = None
    ts_ms: int | None = None


class _SnapshotMsg(msgspec.Struct, gc=False):
    market_ticker: str
    yes_dollars_fp: list[Level] | None = None
    no_dollars_fp: list[Level] | None = None
    yes_dollars: list[Level] | None = None
    no_dollars: list[Level] | None = None
    yes: list[Level] | None = None
    no: list[Level] | None = None
    ts_ms: int | None = None


class _DeltaMsg(msgspec.Struct, gc=False):
    market_ticker: str
    side: str
    price_dollars: str | None = None
    delta_fp: str | None = None
    price: int | None = None
    delta: int | None = None
    client_order_id: str | None = None
    ts_ms: int | None = None
    ts: str | None = None  # RFC3339, deprecated; used only when ts_ms is absent


class _TradeMsg(msgspec.Struct, gc=False):
    market_ticker: str
    trade_id: str = ""
    yes_price_dollars: str | None = None
    yes_price: int | None = None
    count_fp: str | None = None
    count: int | None = None
    taker_outcome_side: str | None = None
    taker_side: str | None = None
    ts_ms: int | None = None
    ts: int | None = None


class _FillMsg(msgspec.Struct, gc=False):
    trade_id: str
    order_id: str
    market_ticker: str
    yes_price_dollars: str | None = None
    yes_price: int | None = None
    count_fp: str | None = None
    count: int | None = None
    fee_cost: str | None = None
    is_taker: bool = True
    book_side: str | None = None
    side: str | None = None
    action: str | None = None
    client_order_id: str | None = None
    post_position_fp: str | None = None
    post_position: int | None = None
    ts_ms: int | None = None
    ts: int | None = None


class _PositionMsg(msgspec.Struct, gc=False):
    market_ticker: str
    position_fp: str | None = None
    position: int | None = None
    position_cost_dollars: str | None = None
    position_cost: int | None = None  # legacy: centi-cents
    realized_pnl_dollars: str | None = None
    realized_pnl: int | None = None
    fees_paid_dollars: str | None = None
    fees_paid: int | None = None


class _UserOrderMsg(msgspec.Struct, gc=False):
    order_id: str
    ticker: str
    status: str
    client_order_id: str | None = None
    book_side: str | None = None
    yes_price_dollars: str | None = None
    yes_price: int | None = None
    fill_count_fp: str | None = None
    remaining_count_fp: str | None = None
    initial_count_fp: str | None = None
    taker_fees_dollars: str | None = None
    maker_fees_dollars: str | None = None
    last_update_reason: str | None = None
    last_updated_ts_ms: int | None = None
    created_ts_ms: int | None = None


class _LifecycleMsg(msgspec.Struct, gc=False):
    market_ticker: str
    event_type: str
    result: str | None = None
    settlement_value: str | int | None = None
    close_ts: int | None = None
    open_ts: int | None = None
    determination_ts: int | None = None
    settled_ts: int | None = None
    is_deactivated: bool | None = None


class _SubscribedMsg(msgspec.Struct, gc=False):
    channel: str
    sid: int


class _ErrorMsg(msgspec.Struct, gc=False):
    code: int
    msg: str = ""
    market_ticker: str | None = None
    market_tickers: list[str] | None = None


class _Sub(msgspec.Struct, gc=False):
    channel: str
    sid: int


class _OkMsg(msgspec.Struct, gc=False):
    market_tickers: list[str] | None = None
    market_ids: list[str] | None = None


class _F(msgspec.Struct, tag_field="type", kw_only=True, gc=False):
    sid: int = 0
    seq: int = 0
    id: int = 0


class _TickerF(_F, tag="ticker"):
    msg: _TickerMsg


class _SnapshotF(_F, tag="orderbook_snapshot"):
    msg: _SnapshotMsg


class _DeltaF(_F, tag="orderbook_delta"):
    msg: _DeltaMsg


class _TradeF(_F, tag="trade"):
    msg: _TradeMsg


class _FillF(_F, tag="fill"):
    msg: _FillMsg


class _PositionF(_F, tag="market_position"):
    msg: _PositionMsg


class _UserOrderF(_F, tag="user_order"):
    msg: _UserOrderMsg


class _LifecycleF(_F, tag="market_lifecycle_v2"):
    msg: _LifecycleMsg


class _LifecycleV1F(_F, tag="market_lifecycle"):
    msg: _LifecycleMsg


class _SubscribedF(_F, tag="subscribed"):
    msg: _SubscribedMsg


class _OkF(_F, tag="ok"):
    msg: _OkMsg | list[_Sub] | None = None


class _UnsubscribedF(_F, tag="unsubscribed"):
    pass


class _ErrorF(_F, tag="error"):
    msg: _ErrorMsg


_Frame = (
    _TickerF
    | _SnapshotF
    | _DeltaF
    | _TradeF
    | _FillF
    | _PositionF
    | _UserOrderF
    | _LifecycleF
    | _LifecycleV1F
    | _SubscribedF
    | _OkF
    | _UnsubscribedF
    | _ErrorF
)
KNOWN_TYPES = frozenset(
    t.__struct_config__.tag  # type: ignore[attr-defined]
    for t in (
        _TickerF,
        _SnapshotF,
        _DeltaF,
        _TradeF,
        _FillF,
        _PositionF,
        _UserOrderF,
        _LifecycleF,
        _LifecycleV1F,
        _SubscribedF,
        _OkF,
        _UnsubscribedF,
        _ErrorF,
    )
)


class _TypeOnly(msgspec.Struct, gc=False):
    type: str = ""


# ---------------------------------------------------------------------------- field normalisation
def _fp_count(s: str) -> int:
    """parse_count's fast path inlined for ``"<digits>.<2 digits>"`` (the shape Kalshi always sends)."""
    d = s.replace(".", "", 1)
    if 3 < len(s) < 32 and s[-3] == "." and d.isdigit() and d.isascii():
        return int(d)
    return parse_count(s)


_COUNT_MEMO: dict[str, int] = {}
_COUNT_MEMO_MAX = 100_000


def _count(s: str) -> int:
    """parse_count with a bounded memo: sizes and volumes repeat across a market's ticker frames."""
    v = _COUNT_MEMO.get(s)
    if v is None:
        v = _fp_count(s)
        if len(_COUNT_MEMO) >= _COUNT_MEMO_MAX:
            _COUNT_MEMO.clear()
        _COUNT_MEMO[s] = v
    return v


_MISS: Any = object()
# Price tables for bids and last prices ($0 = none) and for asks ($0 and $1 = none): every grid spelling.
_BID: dict[str, int | None] = {k: (v or None) for k, v in _PT.items()}
_ASK: dict[str, int | None] = {k: (v if 0 < v < ONE_DOLLAR else None) for k, v in _PT.items()}


def _price(s: str) -> int:
    v = _PT.get(s)
    return v if v is not None else parse_price(s)


def _price_or_cents(dollars: str | None, cents: int | None) -> int | None:
    """The price from the dollar string when present (exact), else from legacy cents; None when absent/empty."""
    if dollars:
        return _price(dollars)
    if cents is not None:
        return cents_to_price(cents)
    return None


def _legacy_cents(cents: int | None) -> int | None:
    """Slow path of the inlined legacy-cent checks: None stays None, anything outside 0..100 raises UnitError."""
    return None if cents is None else cents_to_price(cents)


def _count_or_int(fp: str | None, legacy: int | None) -> int | None:
    if fp:
        return _count(fp)
    if legacy is not None:
        return legacy * COUNT_SCALE
    return None


def _level_price(p: str | int) -> int:
    return _price(p) if isinstance(p, str) else cents_to_price(p)


def _level_count(c: str | int) -> int:
    return _count(c) if isinstance(c, str) else c * COUNT_SCALE


def _levels(rows: list[Level] | None) -> tuple[tuple[int, int], ...]:
    if not rows:
        return ()
    out = [(_level_price(p), _level_count(c)) for p, c in rows]
    out.sort()
    return tuple(out)


def _exchange_ns(ts_ms: int | None, ts: int | None) -> int:
    if ts_ms is not None:
        return ts_ms * NS_PER_MS
    if ts is not None:
        return ts * NS_PER_S
    return 0


def _book_side(book_side: str | None, side: str | None, action: str | None) -> BookSide:
    """Side of the YES book. Legacy frames say (side, action): buy YES / sell NO = bid; sell YES / buy NO = ask."""
    if book_side in ("bid", "ask"):
        return book_side  # type: ignore[return-value]
    if side in ("yes", "no") and action:
        buying = action == "buy"
        return "bid" if (side == "yes") == buying else "ask"
    raise msgspec.ValidationError("fill has neither book_side nor side+action")


def _yes_no(value: str | None) -> Side | None:
    return value if value in ("yes", "no") else None  # type: ignore[return-value]


def _quote(f: _TickerF, recv_ns: int) -> Quote:
    # The hot path of live ingest and replay: table lookups are inlined on purpose. The side tables map the
    # "empty side" spellings ("0.0000" bid, "1.0000" ask, "0.0000" last) straight to None.
    m = f.msg
    memo = _COUNT_MEMO
    s = m.yes_bid_dollars
    if s:
        bid = _BID.get(s, _MISS)
        if bid is _MISS:
            bid = parse_price(s) or None
    else:
        c = m.yes_bid
        bid = (c * CENT or None) if c is not None and 0 <= c <= 100 else _legacy_cents(c) or None
    s = m.yes_ask_dollars
    if s:
        ask = _ASK.get(s, _MISS)
        if ask is _MISS:
            ask = parse_price(s)
            ask = ask if 0 < ask < ONE_DOLLAR else None
    else:
        c = m.yes_ask
        ask = c * CENT if c is not None and 0 < c < 100 else None if c in (0, 100, None) else _legacy_cents(c)
    s = m.price_dollars
    if s:
        last = _BID.get(s, _MISS)
        if last is _MISS:
            last = parse_price(s) or None
    else:
        c = m.price
        last = (c * CENT or None) if c is not None and 0 <= c <= 100 else _legacy_cents(c) or None
    s = m.yes_bid_size_fp
    bid_size = (memo.get(s) or _count(s)) if s else None
    s = m.yes_ask_size_fp
    ask_size = (memo.get(s) or _count(s)) if s else None
    s = m.volume_fp
    if s:
        volume = memo.get(s) or _count(s)
    else:
        volume = m.volume * COUNT_SCALE if m.volume is not None else None
    s = m.open_interest_fp
    if s:
        oi = memo.get(s) or _count(s)
    else:
        oi = m.open_interest * COUNT_SCALE if m.open_interest is not None else None
    ts_ms = m.ts_ms
    return Quote(
        m.market_ticker,
        bid,
        ask,
        bid_size,
        ask_size,
        last,
        volume,
        oi,
        ts_ms * NS_PER_MS if ts_ms is not None else (m.ts * NS_PER_S if m.ts is not None else 0),
        recv_ns,
    )


def _snapshot(f: _SnapshotF, recv_ns: int) -> BookSnapshot:
    m = f.msg
    yes = m.yes_dollars_fp if m.yes_dollars_fp is not None else (m.yes_dollars or m.yes)
    no = m.no_dollars_fp if m.no_dollars_fp is not None else (m.no_dollars or m.no)
    return BookSnapshot(m.market_ticker, _levels(yes), _levels(no), f.sid, f.seq, _exchange_ns(m.ts_ms, None), recv_ns)


def _delta(f: _DeltaF, recv_ns: int) -> BookDelta:
    m = f.msg
    if m.side not in ("yes", "no"):
        raise msgspec.ValidationError(f"orderbook_delta side must be yes|no, got {m.side!r}")
    price = _price_or_cents(m.price_dollars, m.price)
    delta = _count_or_int(m.delta_fp, m.delta)
    if price is None or delta is None:
        raise msgspec.ValidationError("orderbook_delta needs price_dollars/price and delta_fp/delta")
    side: Side = m.side  # type: ignore[assignment]
    if m.ts_ms is not None:
        exchange_ns = m.ts_ms * NS_PER_MS
    else:
        exchange_ns = parse_rfc3339_ns(m.ts) if m.ts else 0
    return BookDelta(m.market_ticker, side, price, delta, f.sid, f.seq, m.client_order_id, exchange_ns, recv_ns)


def _trade(f: _TradeF, recv_ns: int) -> Trade:
    m = f.msg
    price = _price_or_cents(m.yes_price_dollars, m.yes_price)
    count = _count_or_int(m.count_fp, m.count)
    if price is None or count is None:
        raise msgspec.ValidationError("trade needs yes_price_dollars/yes_price and count_fp/count")
    taker = _yes_no(m.taker_outcome_side) or _yes_no(m.taker_side)
    return Trade(m.market_ticker, m.trade_id, price, count, taker, f.sid, f.seq, _exchange_ns(m.ts_ms, m.ts), recv_ns)


def _fill(f: _FillF, recv_ns: int) -> Fill:
    m = f.msg
    price = _price_or_cents(m.yes_price_dollars, m.yes_price)
    count = _count_or_int(m.count_fp, m.count)
    if price is None or count is None:
        raise msgspec.ValidationError("fill needs yes_price_dollars/yes_price and count_fp/count")
    return Fill(
        trade_id=m.trade_id,
        order_id=m.order_id,
        ticker=m.market_ticker,
        book_side=_book_side(m.book_side, m.side, m.action),
        yes_price=price,
        count=count,
        fee=parse_dollars_to_money(m.fee_cost) if m.fee_cost else 0,
        is_taker=m.is_taker,
        client_order_id=m.client_order_id or None,
        post_position=_count_or_int(m.post_position_fp, m.post_position),
        exchange_ns=_exchange_ns(m.ts_ms, m.ts),
        recv_ns=recv_ns,
    )


def _centicents(v: int | None) -> int | None:
    # Legacy market_position amounts are in 1/10000 dollar; micro-dollars are 100 times finer.
    return None if v is None else v * 100


def _money(dollars: str | None) -> int | None:
    return parse_dollars_to_money(dollars) if dollars else None


def _position(f: _PositionF, recv_ns: int) -> PositionUpdate:
    m = f.msg
    pos = _count_or_int(m.position_fp, m.position)
    if pos is None:
        raise msgspec.ValidationError("market_position needs position_fp/position")
    cost = _money(m.position_cost_dollars)
    pnl = _money(m.realized_pnl_dollars)
    fees = _money(m.fees_paid_dollars)
    return PositionUpdate(
        m.market_ticker,
        pos,
        cost if cost is not None else _centicents(m.position_cost),
        pnl if pnl is not None else _centicents(m.realized_pnl),
        fees if fees is not None else _centicents(m.fees_paid),
        "ws",
        0,
        recv_ns,
    )


_ORDER_STATUSES = frozenset({"resting", "canceled", "executed", "unknown"})


def _user_order(f: _UserOrderF, recv_ns: int) -> OrderUpdate:
    m = f.msg
    status: OrderStatus = m.status if m.status in _ORDER_STATUSES else "unknown"  # type: ignore[assignment]
    book_side: BookSide | None = m.book_side if m.book_side in ("bid", "ask") else None  # type: ignore[assignment]
    fees = (_money(m.taker_fees_dollars) or 0) + (_money(m.maker_fees_dollars) or 0)
    ts = m.last_updated_ts_ms if m.last_updated_ts_ms is not None else m.created_ts_ms
    return OrderUpdate(
        order_id=m.order_id,
        client_order_id=m.client_order_id or None,
        ticker=m.ticker,
        status=status,
        fill_count=parse_count(m.fill_count_fp) if m.fill_count_fp else 0,
        remaining_count=parse_count(m.remaining_count_fp) if m.remaining_count_fp else 0,
        book_side=book_side,
        yes_price=_price_or_cents(m.yes_price_dollars, m.yes_price),
        initial_count=parse_count(m.initial_count_fp) if m.initial_count_fp else None,
        fees=fees,
        reason=m.last_update_reason,
        exchange_ns=_exchange_ns(ts, None),
        recv_ns=recv_ns,
    )


def _lifecycle(f: _LifecycleF | _LifecycleV1F, recv_ns: int) -> Lifecycle:
    m = f.msg
    sv = m.settlement_value
    settlement = None if sv is None or sv == "" else (_price(sv) if isinstance(sv, str) else cents_to_price(sv))
    ts_s = m.settled_ts or m.determination_ts
    return Lifecycle(
        ticker=m.market_ticker,
        event_type=m.event_type,
        result=m.result,
        settlement_value=settlement,
        close_ns=m.close_ts * NS_PER_S if m.close_ts is not None else None,
        open_ns=m.open_ts * NS_PER_S if m.open_ts is not None else None,
        is_deactivated=m.is_deactivated,
        sid=f.sid,
        seq=f.seq,
        exchange_ns=ts_s * NS_PER_S if ts_s else 0,
        recv_ns=recv_ns,
    )


def _ok(f: _OkF) -> Ok:
    m = f.msg
    if isinstance(m, list):
        return Ok(f.id, f.sid, f.seq, None, tuple((s.channel, s.sid) for s in m))
    tickers = None
    if m is not None:
        lst = m.market_tickers if m.market_tickers is not None else m.market_ids
        tickers = tuple(lst) if lst is not None else None
    return Ok(f.id, f.sid, f.seq, tickers, None)


def _error(f: _ErrorF) -> ErrorReply:
    m = f.msg
    tickers = tuple(m.market_tickers or ()) + ((m.market_ticker,) if m.market_ticker else ())
    return ErrorReply(f.id, m.code, m.msg or WS_ERROR_CODES.get(m.code, ""), f.sid, tickers)


def parse_rfc3339_ns(text: str) -> int:
    """RFC3339 time (``2026-08-07T06:46:28.97871Z``) to integer ns, exact to the microsecond."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (int(dt.timestamp()) * 1_000_000 + dt.microsecond) * 1000


# ---------------------------------------------------------------------------- the decoder
class FrameDecoder:
    """Decodes raw frames (``str`` or ``bytes``) to :data:`Message` objects and counts what it sees.

    Not thread-safe: give each thread its own decoder.
    """

    def __init__(self) -> None:
        self._decoder = msgspec.json.Decoder(_Frame)
        self._decode_raw = self._decoder.decode
        self._type_only = msgspec.json.Decoder(_TypeOnly)
        self.unknown_types: Counter[str] = Counter()
        self.malformed = 0

    def decode(self, raw: str | bytes, recv_ns: int = 0) -> Message:
        """Decode one frame. Never raises for bad input."""
        try:
            f = self._decode_raw(raw)
            if type(f) is _TickerF:
                return _quote(f, recv_ns)  # type: ignore[arg-type]
            return self._dispatch(f, recv_ns)
        except (msgspec.ValidationError, UnitError, ValueError, TypeError, OverflowError) as exc:
            return self._fallback(raw, recv_ns, exc)

    def _dispatch(self, f: _F, recv_ns: int) -> Message:
        t = type(f)
        if t is _DeltaF:
            return _delta(f, recv_ns)  # type: ignore[arg-type]
        if t is _SnapshotF:
            return _snapshot(f, recv_ns)  # type: ignore[arg-type]
        if t is _TradeF:
            return _trade(f, recv_ns)  # type: ignore[arg-type]
        if t is _FillF:
            return _fill(f, recv_ns)  # type: ignore[arg-type]
        if t is _PositionF:
            return _position(f, recv_ns)  # type: ignore[arg-type]
        if t is _UserOrderF:
            return _user_order(f, recv_ns)  # type: ignore[arg-type]
        if t is _LifecycleF or t is _LifecycleV1F:
            return _lifecycle(f, recv_ns)  # type: ignore[arg-type]
        if t is _SubscribedF:
            m = f.msg  # type: ignore[attr-defined]
            return Subscribed(f.id, m.channel, m.sid)
        if t is _OkF:
            return _ok(f)  # type: ignore[arg-type]
        if t is _UnsubscribedF:
            return Unsubscribed(f.id, f.sid, f.seq)
        if t is _ErrorF:
            return _error(f)  # type: ignore[arg-type]
        raise TypeError(f"no handler for {t.__name__}")  # pragma: no cover - every tag has a branch

    def _fallback(self, raw: str | bytes, recv_ns: int, exc: Exception) -> Message:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else raw
        try:
            head = self._type_only.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            head = None
        if head is not None and head.type and head.type not in KNOWN_TYPES:
            self.unknown_types[head.type] += 1
            return Unknown(head.type, text, recv_ns)
        self.malformed += 1
        return Malformed(text, f"{type(exc).__name__}: {exc}", recv_ns)


_default = FrameDecoder()


def decode_frame(raw: str | bytes, recv_ns: int = 0) -> Message:
    """Decode one frame with a module-level decoder (convenience; use a :class:`FrameDecoder` per thread)."""
    return _default.decode(raw, recv_ns)


def as_dict(message: Message) -> dict[str, Any]:
    """A message as a plain dict (for DataFrames and logs)."""
    out: dict[str, Any] = msgspec.structs.asdict(message)
    out["kind"] = type(message).__name__
    return out
