"""Parse and check order-write request bodies (V2 ``/portfolio/events/orders`` and legacy V1 ``/portfolio/orders``).

Bad input raises :class:`~kalshikit.sim.errors.SimError` 400 with a message that names the field and what is
allowed. V2 bodies take strings only for ``count`` and ``price`` (``"10.00"``, ``"0.5600"``); legacy V1 bodies take
integer cents/counts or the ``*_dollars`` / ``count_fp`` strings and are mapped onto the YES book.
"""

from __future__ import annotations

from typing import Any

from kalshikit.core.events import BookSide
from kalshikit.errors import UnitError
from kalshikit.sim.errors import bad_request
from kalshikit.sim.model import ONE, STP_TYPES, TIME_IN_FORCE, OrderRequest
from kalshikit.units import CENT, NS_PER_S, parse_count, parse_price


def _obj(body: Any, what: str = "request body") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request(f"{what} must be a JSON object")
    return body


def _str(body: dict[str, Any], name: str, required: bool = True) -> str | None:
    v = body.get(name)
    if v is None:
        if required:
            raise bad_request(f"{name} is required", "missing_parameters")
        return None
    if not isinstance(v, str):
        raise bad_request(f"{name} must be a string, got {type(v).__name__}")
    return v


def _bool(body: dict[str, Any], name: str) -> bool:
    v = body.get(name)
    if v is None:
        return False
    if not isinstance(v, bool):
        raise bad_request(f"{name} must be true or false")
    return v


def _int(body: dict[str, Any], name: str) -> int | None:
    v = body.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise bad_request(f"{name} must be an integer")
    return v


def parse_count_field(text: str, name: str = "count") -> int:
    try:
        c = parse_count(text)
    except UnitError as exc:
        raise bad_request(f'{name}: {exc}; use a contract count string such as "10" or "10.00"') from None
    if c <= 0:
        raise bad_request(f"{name} must be positive, got {text!r}")
    return c


def parse_price_field(text: str, name: str = "price") -> int:
    try:
        return parse_price(text)
    except UnitError as exc:
        msg = f'{name}: {exc}; use a dollar string such as "0.56" or "0.5600"'
        raise bad_request(msg, "invalid_price") from None


def _check_account(body: dict[str, Any]) -> None:
    sub = _int(body, "subaccount")
    if sub not in (None, 0):
        raise bad_request("the simulator has only the primary account: omit subaccount or send 0")
    idx = _int(body, "exchange_index")
    if idx not in (None, 0, -1):
        raise bad_request("the simulator has one exchange shard: omit exchange_index or send 0 or -1")


def _common(body: dict[str, Any]) -> dict[str, Any]:
    exp = _int(body, "expiration_time") if "expiration_time" in body else _int(body, "expiration_ts")
    return {
        "client_order_id": _str(body, "client_order_id", required=False) or "",
        "post_only": _bool(body, "post_only"),
        "reduce_only": _bool(body, "reduce_only"),
        "cancel_order_on_pause": _bool(body, "cancel_order_on_pause"),
        "expiration_ns": exp * NS_PER_S if exp else None,
        "order_group_id": _str(body, "order_group_id", required=False),
    }


def parse_create_v2(body: Any) -> OrderRequest:
    """``CreateOrderV2Request`` -> :class:`OrderRequest`."""
    b = _obj(body)
    ticker = _str(b, "ticker")
    side = _str(b, "side")
    if side not in ("bid", "ask"):
        raise bad_request(f"side must be 'bid' (buy YES) or 'ask' (sell YES), got {side!r}")
    count_v = b.get("count")
    if not isinstance(count_v, str):
        raise bad_request('count is required and must be a string such as "10.00"', "missing_parameters")
    price_v = b.get("price")
    if not isinstance(price_v, str):
        raise bad_request('price is required and must be a YES dollar string such as "0.5600"', "missing_parameters")
    tif = _str(b, "time_in_force")
    if tif not in TIME_IN_FORCE:
        raise bad_request(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}, got {tif!r}")
    stp = _str(b, "self_trade_prevention_type")
    if stp not in STP_TYPES:
        raise bad_request(f"self_trade_prevention_type must be one of {', '.join(STP_TYPES)}, got {stp!r}")
    _check_account(b)
    assert ticker is not None and tif is not None and stp is not None
    book_side: BookSide = side  # type: ignore[assignment]
    return OrderRequest(
        ticker=ticker,
        book_side=book_side,
        price=parse_price_field(price_v),
        count=parse_count_field(count_v),
        time_in_force=tif,
        self_trade_prevention_type=stp,
        **_common(b),
    )


def parse_create_v1(body: Any) -> OrderRequest:
    """Legacy ``CreateOrderRequest`` (side yes|no + action buy|sell) -> :class:`OrderRequest` on the YES book."""
    b = _obj(body)
    ticker = _str(b, "ticker")
    side = _str(b, "side")
    action = _str(b, "action")
    if side not in ("yes", "no"):
        raise bad_request(f"side must be 'yes' or 'no', got {side!r}")
    if action not in ("buy", "sell"):
        raise bad_request(f"action must be 'buy' or 'sell', got {action!r}")
    if b.get("type") not in (None, "limit"):
        raise bad_request("market orders are no longer offered; send a limit order with a price")
    count_int = _int(b, "count")
    count_fp = _str(b, "count_fp", required=False)
    if count_int is None and count_fp is None:
        raise bad_request("give count (integer) or count_fp (string)", "missing_parameters")
    count = parse_count_field(count_fp, "count_fp") if count_fp is not None else (count_int or 0) * 100
    if count_int is not None and count_fp is not None and count_int * 100 != count:
        raise bad_request("count and count_fp disagree; send one of them")
    if count <= 0:
        raise bad_request("count must be positive")
    prices = {k: b.get(k) for k in ("yes_price", "no_price", "yes_price_dollars", "no_price_dollars")}
    given = {k: v for k, v in prices.items() if v is not None}
    if len(given) != 1:
        raise bad_request("give exactly one of yes_price, no_price, yes_price_dollars, no_price_dollars")
    key, value = next(iter(given.items()))
    if key.endswith("_dollars"):
        if not isinstance(value, str):
            raise bad_request(f"{key} must be a dollar string")
        p = parse_price_field(value, key)
    else:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 99:
            raise bad_request(f"{key} must be an integer number of cents 1..99")
        p = value * CENT
    own_is_yes = key.startswith("yes")
    yes_price = p if own_is_yes else ONE - p
    buys_yes = (side == "yes") == (action == "buy")
    tif = _str(b, "time_in_force", required=False) or "good_till_canceled"
    if b.get("buy_max_cost") is not None:
        tif = "fill_or_kill"
    if tif not in TIME_IN_FORCE:
        raise bad_request(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}, got {tif!r}")
    floor = _int(b, "sell_position_floor")
    if floor not in (None, 0):
        raise bad_request("sell_position_floor is deprecated; only 0 is accepted")
    stp = _str(b, "self_trade_prevention_type", required=False) or "taker_at_cross"
    if stp not in STP_TYPES:
        raise bad_request(f"self_trade_prevention_type must be one of {', '.join(STP_TYPES)}, got {stp!r}")
    _check_account(b)
    assert ticker is not None
    return OrderRequest(
        ticker=ticker,
        book_side="bid" if buys_yes else "ask",
        price=yes_price,
        count=count,
        time_in_force=tif,
        self_trade_prevention_type=stp,
        legacy_side=side,
        legacy_action=action,
        **_common(b),
    )


def parse_amend_v2(body: Any) -> dict[str, Any]:
    b = _obj(body)
    ticker = _str(b, "ticker")
    side = _str(b, "side")
    if side not in ("bid", "ask"):
        raise bad_request(f"side must be 'bid' or 'ask', got {side!r}")
    price_v = _str(b, "price")
    count_v = _str(b, "count")
    assert price_v is not None and count_v is not None
    out: dict[str, Any] = {
        "ticker": ticker,
        "book_side": side,
        "price": parse_price_field(price_v),
        "count": parse_count_field(count_v),
        "client_order_id": _str(b, "client_order_id", required=False),
        "updated_client_order_id": _str(b, "updated_client_order_id", required=False),
    }
    if "expiration_time" in b:
        exp = _int(b, "expiration_time")
        if exp is not None and exp < 0:
            raise bad_request("expiration_time must be a Unix time in seconds, or 0 to remove the expiry")
        out["expiration_ns"] = exp * NS_PER_S if exp else None
    _check_account(b)
    return out


def parse_decrease(body: Any) -> tuple[int | None, int | None]:
    """``(reduce_by, reduce_to)`` counts from a V2 (strings) or legacy (ints or ``*_fp``) decrease body."""
    b = _obj(body)

    def one(name: str) -> int | None:
        v = b.get(name)
        fp = b.get(name + "_fp")
        if isinstance(v, str):
            return _count(v, name)
        if isinstance(v, int) and not isinstance(v, bool):
            return v * 100
        if isinstance(fp, str):
            return _count(fp, name + "_fp")
        if v is not None or fp is not None:
            raise bad_request(f'{name} must be a count string such as "5.00"')
        return None

    def _count(text: str, name: str) -> int:
        try:
            return parse_count(text)
        except UnitError as exc:
            raise bad_request(f"{name}: {exc}") from None

    by, to = one("reduce_by"), one("reduce_to")
    if (by is None) == (to is None):
        raise bad_request("give exactly one of reduce_by and reduce_to")
    return by, to
