"""Small wire-format helpers shared by the simulator's REST and WebSocket layers: times, money, counts, JSON.

Everything the simulator sends goes through these so the formats match Kalshi's current API: RFC3339 times with
microseconds and ``Z``, prices as 4-decimal dollar strings, fees and costs as 6-decimal dollar strings, counts as
2-decimal strings.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import msgspec

from kalshikit.units import (
    NS_PER_MS,
    NS_PER_S,
    PRICE_SCALE,
    format_count,
    format_money,
    format_price,
)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def encode(obj: Any) -> bytes:
    """JSON bytes of a plain object (dicts, lists, str, int, bool, None)."""
    return _encoder.encode(obj)


def encode_str(obj: Any) -> str:
    return _encoder.encode(obj).decode()


def decode(data: bytes | str) -> Any:
    """Parse JSON; raises :class:`msgspec.DecodeError` on bad input."""
    return _decoder.decode(data)


_last_second: list[Any] = [-1, ""]  # one-entry cache: most times in a burst fall in the same second


def rfc3339(ns: int) -> str:
    """Integer ns UTC to ``2026-08-07T06:46:28.978710Z`` (microsecond precision, as Kalshi sends)."""
    seconds, rem = divmod(ns, NS_PER_S)
    cached = _last_second
    if cached[0] != seconds:
        cached[1] = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
        cached[0] = seconds
    return f"{cached[1]}.{rem // 1000:06d}Z"


def rfc3339_s(ns: int) -> str:
    """Integer ns UTC to a whole-second RFC3339 time (``2026-09-21T23:30:00Z``), as Kalshi sends schedule times."""
    return datetime.fromtimestamp(ns // NS_PER_S, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ms(ns: int) -> int:
    return ns // NS_PER_MS


def secs(ns: int) -> int:
    return ns // NS_PER_S


def now_ns() -> int:
    return time.time_ns()


_PRICE_STRS = [format_price(p) for p in range(PRICE_SCALE + 1)]


def fmt_price(price: int) -> str:
    """Price units as ``"0.6300"`` (table lookup; raises like :func:`kalshikit.units.format_price` when off 0..1)."""
    if 0 <= price <= PRICE_SCALE:
        return _PRICE_STRS[price]
    return format_price(price)


def price_str(price: int | None, empty: int = 0) -> str:
    """A price as ``"0.6300"``; ``None`` (no such side) becomes ``empty`` (0 for bids, 1 dollar for asks)."""
    return fmt_price(empty if price is None else price)


def no_price(price: int) -> int:
    return PRICE_SCALE - price


_COUNT_STRS: dict[int, str] = {}


def count_str(count: int) -> str:
    """Count units as ``"10.00"`` (memoised: sizes and volumes repeat)."""
    s = _COUNT_STRS.get(count)
    if s is None:
        s = format_count(count)
        if len(_COUNT_STRS) > 200_000:
            _COUNT_STRS.clear()
        _COUNT_STRS[count] = s
    return s


def money_str(money: int) -> str:
    """Micro-dollars as Kalshi's 6-decimal dollar string (fees, costs, P&L)."""
    return format_money(money, 6)


def money_str4(money: int) -> str:
    """Micro-dollars as a 4-decimal dollar string (balances: centi-cent precision), rounded half away from zero."""
    return format_money(money, 4)


def cents(money: int) -> int:
    """Micro-dollars to whole cents, rounded toward zero (Kalshi's integer-cent fields)."""
    return int(money / 10_000) if money < 0 else money // 10_000


def whole_dollars(money: int) -> int:
    return int(money / 1_000_000) if money < 0 else money // 1_000_000


def average_per_contract(total_money: int, count: int) -> int:
    """Average micro-dollars per whole contract of ``total_money`` over ``count`` (1/100 contract), rounded half up."""
    if count <= 0:
        return 0
    return (total_money * 100 * 2 + count) // (2 * count)


def legacy_cents(price: int | None) -> int:
    """A price as legacy integer cents (sub-cent prices are truncated, as Kalshi's integer fields were)."""
    return 0 if price is None else price // 100


def legacy_count(count: int) -> int:
    """A count as a legacy whole-contract integer (truncated)."""
    return count // 100


def error_body(code: str, message: str, details: str = "") -> dict[str, Any]:
    """Kalshi's observed nested error body."""
    err: dict[str, Any] = {"code": code, "message": message, "service": "exchange"}
    if details:
        err["details"] = details
    return {"error": err}


TOO_MANY_REQUESTS_BODY: dict[str, Any] = {"error": "too many requests"}
