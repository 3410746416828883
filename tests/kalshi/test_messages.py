"""Tests for kalshikit.kalshi.messages: typed decoding of Kalshi WebSocket frames in both wire eras.

Part one uses our own frames, built from the field lists in the protocol notes (§4.5), for every message type the kit
uses, the control replies, unknown types and malformed input. Part two decodes every frame of the real captures
under ``../shared/realdata/`` (skipped when absent) and checks each price, count and amount against values computed
independently here with :class:`decimal.Decimal` from the raw JSON.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kalshikit.core.events import BookDelta, BookSnapshot, Fill, Lifecycle, OrderUpdate, PositionUpdate, Quote, Trade
from kalshikit.kalshi.messages import (
    ErrorReply,
    FrameDecoder,
    Malformed,
    Message,
    Ok,
    Subscribed,
    Unknown,
    Unsubscribed,
    as_dict,
    decode_frame,
)

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000


# ---------------------------------------------------------------------------- independent oracles
def exact(text: str, scale: int) -> int:
    value = Decimal(text) * scale
    assert value == value.to_integral_value(), f"{text!r} is not exact at scale {scale}"
    return int(value)


def px(text: str) -> int:
    """Dollar price string -> $0.0001 units."""
    return exact(text, 10_000)


def cnt(text: str) -> int:
    """Fixed-point count string -> 1/100 contract."""
    return exact(text, 100)


def usd(text: str) -> int:
    """Dollar amount string -> micro-dollars."""
    return exact(text, 1_000_000)


def wire(obj: Any) -> str:
    """Compact JSON, as Kalshi sends it."""
    return json.dumps(obj, separators=(",", ":"))


@pytest.fixture
def dec() -> FrameDecoder:
    return FrameDecoder()


def decode_ok(dec: FrameDecoder, frame: dict[str, Any] | str, recv_ns: int = 0) -> Message:
    raw = frame if isinstance(frame, str) else wire(frame)
    msg = dec.decode(raw, recv_ns)
    assert not isinstance(msg, Malformed | Unknown), msg
    # bytes in, same message out
    assert FrameDecoder().decode(raw.encode(), recv_ns) == msg
    return msg


# ============================================================================ ticker
TICKER_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "legacy-minimal",
        {"market_ticker": "KXA", "yes_bid": 63, "yes_ask": 64, "volume": 12345},
        {"yes_bid": 63 * 100, "yes_ask": 64 * 100, "volume": 12345 * 100, "last": None, "open_interest": None},
    ),
    (
        "legacy-full",
        {
            "market_id": "2868eae7",
            "market_ticker": "KXGREENLAND-29",
            "price": 25,
            "yes_bid": 24,
            "yes_ask": 25,
            "volume": 196,
            "open_interest": 32,
            "dollar_volume": 98,
            "dollar_open_interest": 16,
            "ts": 1737064763,
        },
        {
            "yes_bid": 2400,
            "yes_ask": 2500,
            "last": 2500,
            "volume": 19600,
            "open_interest": 3200,
            "yes_bid_size": None,
            "yes_ask_size": None,
            "exchange_ns": 1737064763 * NS_PER_S,
        },
    ),
    (
        "current",
        {
            "market_ticker": "FED-23DEC-T3.00",
            "price_dollars": "0.4800",
            "yes_bid_dollars": "0.4500",
            "yes_ask_dollars": "0.5300",
            "volume_fp": "33896.00",
            "open_interest_fp": "20422.00",
            "dollar_volume": 16948,
            "dollar_open_interest": 10211,
            "yes_bid_size_fp": "300.00",
            "yes_ask_size_fp": "150.00",
            "last_trade_size_fp": "25.00",
            "ts": 1669149841,
            "ts_ms": 1669149841123,
            "time": "2022-11-22T20:44:01Z",
            "market_id": "9b0f",
        },
        {
            "yes_bid": px("0.4500"),
            "yes_ask": px("0.5300"),
            "last": px("0.4800"),
            "volume": cnt("33896.00"),
            "open_interest": cnt("20422.00"),
            "yes_bid_size": cnt("300.00"),
            "yes_ask_size": cnt("150.00"),
            "exchange_ns": 1669149841123 * NS_PER_MS,
        },
    ),
    (
        "current-sub-penny-fractional",
        {
            "market_ticker": "KXBTC15M-X",
            "price_dollars": "0.9955",
            "yes_bid_dollars": "0.9950",
            "yes_ask_dollars": "0.9960",
            "yes_bid_size_fp": "5.52",
            "yes_ask_size_fp": "0.01",
            "volume_fp": "1406474.86",
            "open_interest_fp": "0.50",
            "ts_ms": 1778491807027,
        },
        {
            "yes_bid": px("0.9950"),
            "yes_ask": px("0.9960"),
            "last": px("0.9955"),
            "yes_bid_size": 552,
            "yes_ask_size": 1,
            "volume": cnt("1406474.86"),
            "open_interest": 50,
            "exchange_ns": 1778491807027 * NS_PER_MS,
        },
    ),
    (
        "current-near-zero-ticks",
        {"market_ticker": "X", "yes_bid_dollars": "0.0010", "yes_ask_dollars": "0.0020", "price_dollars": "0.0015"},
        {"yes_bid": 10, "yes_ask": 20, "last": 15},
    ),
    (
        "current-two-decimal-strings",
        {"market_ticker": "X", "yes_bid_dollars": "0.63", "yes_ask_dollars": "0.64", "volume_fp": "10"},
        {"yes_bid": 6300, "yes_ask": 6400, "volume": 1000},
    ),
    (
        "changeover-strings-win-over-cents",
        {
            "market_ticker": "KXXRP-26FEB1317-B1.3899500",
            "price": 99,
            "yes_bid": 99,
            "yes_ask": 100,
            "price_dollars": "0.9945",
            "yes_bid_dollars": "0.9950",
            "yes_ask_dollars": "0.9990",
            "volume": 13446,
            "volume_fp": "13446.00",
            "open_interest": 892,
            "open_interest_fp": "892.00",
            "ts": 1770897976,
            "Clock": 13281241747,
        },
        {
            "yes_bid": px("0.9950"),
            "yes_ask": px("0.9990"),
            "last": px("0.9945"),
            "volume": cnt("13446.00"),
            "open_interest": cnt("892.00"),
            "exchange_ns": 1770897976 * NS_PER_S,
        },
    ),
    (
        "ts-ms-wins-over-ts",
        {"market_ticker": "X", "yes_bid_dollars": "0.5000", "ts": 1, "ts_ms": 5000},
        {"exchange_ns": 5000 * NS_PER_MS},
    ),
    (
        "no-trade-yet-legacy",
        {"market_ticker": "X", "price": 0, "yes_bid": 10, "yes_ask": 20, "volume": 0},
        {"last": None, "volume": 0},
    ),
    (
        "no-trade-yet-changeover",
        {"market_ticker": "X", "price": 0, "price_dollars": "", "yes_bid_dollars": "0.1000", "volume_fp": "0.00"},
        {"last": None, "volume": 0, "yes_bid": 1000},
    ),
]


@pytest.mark.parametrize(("msg", "expected"), [c[1:] for c in TICKER_CASES], ids=[c[0] for c in TICKER_CASES])
def test_ticker(dec: FrameDecoder, msg: dict[str, Any], expected: dict[str, Any]) -> None:
    q = decode_ok(dec, {"type": "ticker", "sid": 11, "msg": msg}, recv_ns=42)
    assert isinstance(q, Quote)
    assert q.ticker == msg["market_ticker"]
    assert q.recv_ns == 42
    assert q.source == "ws"
    for field, value in expected.items():
        assert getattr(q, field) == value, field


def test_ticker_frame_from_the_brief(dec: FrameDecoder) -> None:
    raw = '{"type":"ticker","msg":{"market_ticker":"KXA","yes_bid":63,"yes_ask":64,"volume":12345}}'
    assert dec.decode(raw, 7) == Quote("KXA", 6300, 6400, None, None, None, 1234500, None, 0, 7)


@pytest.mark.parametrize(
    ("msg", "bid", "ask"),
    [
        ({"yes_bid_dollars": "0.0000", "yes_ask_dollars": "1.0000"}, None, None),
        ({"yes_bid": 0, "yes_ask": 100}, None, None),
        ({"yes_bid": 0, "yes_ask": 0}, None, None),  # expired legacy markets report zeros on both sides
        ({"yes_bid": 0, "yes_ask": 100, "yes_bid_dollars": "0.0000", "yes_ask_dollars": "1.0000"}, None, None),
        ({"yes_bid_dollars": "0.0000", "yes_ask_dollars": "0.5500"}, None, 5500),
        ({"yes_bid_dollars": "0.4500", "yes_ask_dollars": "1.0000"}, 4500, None),
        ({"yes_bid": 45, "yes_ask": 100}, 4500, None),
        ({"yes_bid": 0, "yes_ask": 55}, None, 5500),
        ({"yes_bid_dollars": "0.9990", "yes_ask_dollars": "1.0000"}, 9990, None),
        ({}, None, None),
    ],
)
def test_ticker_empty_book_sides_become_none(dec: FrameDecoder, msg: dict[str, Any], bid: int, ask: int) -> None:
    q = decode_ok(dec, {"type": "ticker", "sid": 1, "msg": {"market_ticker": "X", **msg}})
    assert isinstance(q, Quote)
    assert (q.yes_bid, q.yes_ask) == (bid, ask)


# ============================================================================ order book
def test_orderbook_snapshot_current(dec: FrameDecoder) -> None:
    frame = {
        "type": "orderbook_snapshot",
        "sid": 2,
        "seq": 2,
        "msg": {
            "market_ticker": "FED-23DEC-T3.00",
            "market_id": "9b0f",
            "yes_dollars_fp": [["0.2200", "333.00"], ["0.0800", "300.00"], ["0.0995", "5.52"]],
            "no_dollars_fp": [["0.5600", "146.00"], ["0.5400", "20.00"]],
        },
    }
    s = decode_ok(dec, frame, recv_ns=9)
    assert isinstance(s, BookSnapshot)
    assert s.ticker == "FED-23DEC-T3.00"
    assert s.yes == ((px("0.08"), cnt("300")), (px("0.0995"), 552), (px("0.22"), cnt("333")))
    assert s.no == ((5400, 2000), (5600, 14600))
    assert (s.sid, s.seq, s.recv_ns) == (2, 2, 9)


def test_orderbook_snapshot_with_an_empty_side_omitted(dec: FrameDecoder) -> None:
    s = decode_ok(
        dec,
        {"type": "orderbook_snapshot", "sid": 1, "seq": 1, "id": 7, "msg": {"market_ticker": "X", "no_dollars_fp": []}},
    )
    assert isinstance(s, BookSnapshot)
    assert (s.yes, s.no) == ((), ())


def test_orderbook_snapshot_legacy_cents(dec: FrameDecoder) -> None:
    frame = {
        "type": "orderbook_snapshot",
        "sid": 2,
        "seq": 1,
        "msg": {"market_ticker": "X", "yes": [[22, 333], [8, 300]], "no": [[54, 20], [56, 146]]},
    }
    s = decode_ok(dec, frame)
    assert isinstance(s, BookSnapshot)
    assert s.yes == ((800, 30000), (2200, 33300))
    assert s.no == ((5400, 2000), (5600, 14600))


def test_orderbook_snapshot_legacy_dollars_with_integer_counts(dec: FrameDecoder) -> None:
    frame = {
        "type": "orderbook_snapshot",
        "sid": 2,
        "seq": 1,
        "msg": {
            "market_ticker": "X",
            "yes": [[8, 300]],
            "yes_dollars": [["0.08", 300]],
            "no": [[54, 20]],
            "no_dollars": [["0.54", 20]],
        },
    }
    s = decode_ok(dec, frame)
    assert isinstance(s, BookSnapshot)
    assert s.yes == ((800, 30000),)
    assert s.no == ((5400, 2000),)


DELTA_CASES: list[tuple[str, dict[str, Any], tuple[str, int, int, str | None, int]]] = [
    (
        "current",
        {
            "market_ticker": "FED-23DEC-T3.00",
            "market_id": "9b0f",
            "price_dollars": "0.9600",
            "delta_fp": "-54.00",
            "side": "yes",
            "ts": "2022-11-22T20:44:01Z",
            "ts_ms": 1669149841000,
        },
        ("yes", px("0.96"), cnt("-54"), None, 1669149841000 * NS_PER_MS),
    ),
    (
        "current-own-order",
        {
            "market_ticker": "X",
            "price_dollars": "0.0995",
            "delta_fp": "5.52",
            "side": "no",
            "client_order_id": "my-order-1",
            "subaccount": 3,
            "ts_ms": 1782873105308,
        },
        ("no", 995, 552, "my-order-1", 1782873105308 * NS_PER_MS),
    ),
    (
        "rfc3339-only",
        {
            "market_ticker": "X",
            "price_dollars": "0.9300",
            "delta_fp": "-5000.00",
            "side": "no",
            "ts": "2026-04-18T06:46:28.97871Z",
        },
        ("no", 9300, -500000, None, pd.Timestamp("2026-04-18T06:46:28.97871Z").value),
    ),
    (
        "legacy",
        {"market_ticker": "X", "price": 96, "delta": -54, "side": "yes"},
        ("yes", 9600, -5400, None, 0),
    ),
    (
        "changeover",
        {"market_ticker": "X", "price": 43, "delta": 7, "price_dollars": "0.4300", "delta_fp": "7.00", "side": "no"},
        ("no", 4300, 700, None, 0),
    ),
]


@pytest.mark.parametrize(("msg", "expected"), [c[1:] for c in DELTA_CASES], ids=[c[0] for c in DELTA_CASES])
def test_orderbook_delta(
    dec: FrameDecoder, msg: dict[str, Any], expected: tuple[str, int, int, str | None, int]
) -> None:
    d = decode_ok(dec, {"type": "orderbook_delta", "sid": 2, "seq": 3, "msg": msg}, recv_ns=5)
    assert isinstance(d, BookDelta)
    assert (d.side, d.price, d.delta, d.client_order_id, d.exchange_ns) == expected
    assert (d.ticker, d.sid, d.seq, d.recv_ns) == (msg["market_ticker"], 2, 3, 5)


# ============================================================================ trades and account
def test_trade_current(dec: FrameDecoder) -> None:
    frame = {
        "type": "trade",
        "sid": 11,
        "seq": 2,
        "msg": {
            "trade_id": "d91b",
            "market_ticker": "HIGHNY-22DEC23-B53.5",
            "yes_price_dollars": "0.3600",
            "no_price_dollars": "0.6400",
            "count_fp": "136.00",
            "taker_side": "yes",
            "taker_outcome_side": "no",
            "taker_book_side": "ask",
            "is_block_trade": False,
            "ts": 1669149841,
            "ts_ms": 1669149841000,
        },
    }
    t = decode_ok(dec, frame, recv_ns=1)
    assert t == Trade("HIGHNY-22DEC23-B53.5", "d91b", px("0.36"), cnt("136"), "no", 11, 2, 1669149841000 * NS_PER_MS, 1)


def test_trade_legacy(dec: FrameDecoder) -> None:
    frame = {
        "type": "trade",
        "sid": 2,
        "seq": 48,
        "msg": {
            "trade_id": "d6af",
            "market_ticker": "KXBTCD-26FEB1217-T67749.99",
            "yes_price": 57,
            "no_price": 43,
            "count": 90,
            "taker_side": "no",
            "ts": 1770897984,
        },
    }
    t = decode_ok(dec, frame)
    assert t == Trade("KXBTCD-26FEB1217-T67749.99", "d6af", 5700, 9000, "no", 2, 48, 1770897984 * NS_PER_S, 0)


def test_trade_fractional_sub_penny(dec: FrameDecoder) -> None:
    frame = {
        "type": "trade",
        "sid": 1,
        "seq": 1,
        "msg": {"market_ticker": "X", "yes_price_dollars": "0.0010", "count_fp": "0.27", "taker_side": "maybe"},
    }
    t = decode_ok(dec, frame)
    assert isinstance(t, Trade)
    assert (t.yes_price, t.count, t.taker_side) == (10, 27, None)


FILL_CURRENT = {
    "trade_id": "d91b",
    "order_id": "ee58",
    "client_order_id": "my-order-1",
    "market_ticker": "HIGHNY-22DEC23-B53.5",
    "exchange_index": 2,
    "is_taker": True,
    "side": "yes",
    "yes_price_dollars": "0.7500",
    "count_fp": "278.00",
    "fee_cost": "0.010000",
    "action": "buy",
    "ts": 1671899397,
    "ts_ms": 1671899397000,
    "post_position_fp": "500.00",
    "purchased_side": "yes",
    "outcome_side": "yes",
    "book_side": "bid",
    "subaccount": 3,
}


def test_fill_current(dec: FrameDecoder) -> None:
    f = decode_ok(dec, {"type": "fill", "sid": 13, "msg": FILL_CURRENT}, recv_ns=3)
    assert f == Fill(
        trade_id="d91b",
        order_id="ee58",
        ticker="HIGHNY-22DEC23-B53.5",
        book_side="bid",
        yes_price=px("0.75"),
        count=cnt("278"),
        fee=usd("0.010000"),
        is_taker=True,
        client_order_id="my-order-1",
        post_position=cnt("500"),
        exchange_ns=1671899397000 * NS_PER_MS,
        recv_ns=3,
    )


def test_fill_fractional_contracts_and_fee(dec: FrameDecoder) -> None:
    msg = {
        **FILL_CURRENT,
        "yes_price_dollars": "0.1700",
        "count_fp": "5.52",
        "fee_cost": "0.054600",
        "post_position_fp": "-5.52",
        "book_side": "ask",
        "is_taker": False,
    }
    f = decode_ok(dec, {"type": "fill", "sid": 2, "msg": msg})
    assert isinstance(f, Fill)
    assert (f.yes_price, f.count, f.fee, f.post_position, f.book_side, f.is_taker) == (
        1700,
        552,
        54_600,
        -552,
        "ask",
        False,
    )


@pytest.mark.parametrize(
    ("side", "action", "book_side"),
    [("yes", "buy", "bid"), ("yes", "sell", "ask"), ("no", "buy", "ask"), ("no", "sell", "bid")],
)
def test_fill_legacy_side_and_action(dec: FrameDecoder, side: str, action: str, book_side: str) -> None:
    msg = {
        "trade_id": "t1",
        "order_id": "o1",
        "market_ticker": "X",
        "is_taker": False,
        "side": side,
        "action": action,
        "yes_price": 75,
        "no_price": 25,
        "count": 278,
        "post_position": -12,
        "ts": 1671899397,
    }
    f = decode_ok(dec, {"type": "fill", "sid": 13, "msg": msg})
    assert isinstance(f, Fill)
    assert f.book_side == book_side
    assert (f.yes_price, f.count, f.post_position, f.fee, f.is_taker) == (7500, 27800, -1200, 0, False)
    assert f.exchange_ns == 1671899397 * NS_PER_S
    assert f.client_order_id is None


def test_fill_book_side_wins_over_legacy_side(dec: FrameDecoder) -> None:
    msg = {**FILL_CURRENT, "side": "yes", "action": "buy", "book_side": "ask"}
    f = decode_ok(dec, {"type": "fill", "sid": 13, "msg": msg})
    assert isinstance(f, Fill) and f.book_side == "ask"


def test_market_position_current(dec: FrameDecoder) -> None:
    msg = {
        "user_id": "user123",
        "market_ticker": "FED-23DEC-T3.00",
        "position_fp": "100.00",
        "position_cost_dollars": "50.0000",
        "realized_pnl_dollars": "-10.0000",
        "fees_paid_dollars": "1.0000",
        "position_fee_cost_dollars": "0.5000",
        "volume_fp": "15.00",
    }
    p = decode_ok(dec, {"type": "market_position", "sid": 14, "msg": msg}, recv_ns=8)
    assert p == PositionUpdate("FED-23DEC-T3.00", cnt("100"), usd("50"), usd("-10"), usd("1"), "ws", 0, 8)


@pytest.mark.parametrize(
    ("position", "cost_cc", "pnl_cc", "fees_cc"),
    [(100, 500_000, 100_000, 10_000), (-7, 12_345, -50, 1), (0, 0, 0, 0)],
)
def test_market_position_legacy_centi_cents(
    dec: FrameDecoder, position: int, cost_cc: int, pnl_cc: int, fees_cc: int
) -> None:
    msg = {
        "user_id": "u",
        "market_ticker": "X",
        "position": position,
        "position_cost": cost_cc,
        "realized_pnl": pnl_cc,
        "fees_paid": fees_cc,
        "volume": 15,
    }
    p = decode_ok(dec, {"type": "market_position", "sid": 14, "msg": msg})
    assert isinstance(p, PositionUpdate)

    def centi_cents(v: int) -> int:  # 1/10,000 dollar -> micro-dollars
        return usd(str(Decimal(v) / 10_000))

    assert p.position == position * 100
    assert (p.cost, p.realized_pnl, p.fees_paid) == (centi_cents(cost_cc), centi_cents(pnl_cc), centi_cents(fees_cc))
    if cost_cc == 500_000:
        assert p.cost == 50_000_000  # the notes' example: 500000 centi-cents = $50


USER_ORDER = {
    "order_id": "ee58",
    "user_id": "a1b2",
    "ticker": "FED-23DEC-T3.00",
    "exchange_index": 2,
    "status": "resting",
    "side": "yes",
    "is_yes": True,
    "outcome_side": "yes",
    "book_side": "bid",
    "yes_price_dollars": "0.3500",
    "fill_count_fp": "0.00",
    "remaining_count_fp": "10.00",
    "initial_count_fp": "10.00",
    "taker_fill_cost_dollars": "0.000000",
    "maker_fill_cost_dollars": "0.000000",
    "taker_fees_dollars": "0.000000",
    "maker_fees_dollars": "0.000000",
    "client_order_id": "my-order-1",
    "created_time": "2024-12-01T10:00:00Z",
    "created_ts_ms": 1733047200000,
    "subaccount_number": 0,
}


def test_user_order_resting(dec: FrameDecoder) -> None:
    o = decode_ok(dec, {"type": "user_order", "sid": 22, "msg": USER_ORDER}, recv_ns=4)
    assert o == OrderUpdate(
        order_id="ee58",
        client_order_id="my-order-1",
        ticker="FED-23DEC-T3.00",
        status="resting",
        fill_count=0,
        remaining_count=cnt("10"),
        book_side="bid",
        yes_price=px("0.35"),
        initial_count=cnt("10"),
        fees=0,
        reason=None,
        exchange_ns=1733047200000 * NS_PER_MS,
        recv_ns=4,
    )


def test_user_order_partly_filled_with_fees(dec: FrameDecoder) -> None:
    msg = {
        **USER_ORDER,
        "status": "executed",
        "book_side": "ask",
        "yes_price_dollars": "0.9950",
        "fill_count_fp": "4.52",
        "remaining_count_fp": "0.00",
        "initial_count_fp": "4.52",
        "taker_fees_dollars": "0.028000",
        "maker_fees_dollars": "0.001500",
        "last_update_reason": "Trade",
        "last_updated_ts_ms": 1733047260000,
    }
    o = decode_ok(dec, {"type": "user_order", "sid": 22, "msg": msg})
    assert isinstance(o, OrderUpdate)
    assert (o.status, o.book_side, o.yes_price) == ("executed", "ask", 9950)
    assert (o.fill_count, o.remaining_count, o.initial_count) == (452, 0, 452)
    assert o.fees == usd("0.028000") + usd("0.001500")
    assert o.reason == "Trade"
    assert o.exchange_ns == 1733047260000 * NS_PER_MS


@pytest.mark.parametrize(
    ("status", "expected"),
    [("resting", "resting"), ("canceled", "canceled"), ("executed", "executed"), ("pending", "unknown")],
)
def test_user_order_status(dec: FrameDecoder, status: str, expected: str) -> None:
    o = decode_ok(dec, {"type": "user_order", "sid": 22, "msg": {**USER_ORDER, "status": status}})
    assert isinstance(o, OrderUpdate) and o.status == expected


LIFECYCLE_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "determined",
        {
            "market_ticker": "INXD-23SEP14-B4487",
            "event_type": "determined",
            "result": "yes",
            "settlement_value": "1.0000",
            "determination_ts": 1694721700,
        },
        {"result": "yes", "settlement_value": 10_000, "exchange_ns": 1694721700 * NS_PER_S},
    ),
    (
        "determined-scalar-sub-penny",
        {
            "market_ticker": "X",
            "event_type": "determined",
            "result": "scalar",
            "settlement_value": "0.4730",
            "determination_ts": 1694721700,
        },
        {"result": "scalar", "settlement_value": px("0.4730")},
    ),
    (
        "settled",
        {"market_ticker": "X", "event_type": "settled", "settled_ts": 1694722000},
        {"exchange_ns": 1694722000 * NS_PER_S, "settlement_value": None},
    ),
    (
        "created",
        {
            "market_ticker": "X",
            "event_type": "created",
            "open_ts": 1694700000,
            "close_ts": 1694721600,
            "additional_metadata": {"name": "n", "title": "t"},
            "price_level_structure": "linear_cent",
            "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}],
        },
        {"open_ns": 1694700000 * NS_PER_S, "close_ns": 1694721600 * NS_PER_S, "exchange_ns": 0},
    ),
    (
        "deactivated",
        {"market_ticker": "X", "event_type": "deactivated", "is_deactivated": True},
        {"is_deactivated": True, "close_ns": None},
    ),
    (
        "close-date-updated",
        {"market_ticker": "X", "event_type": "close_date_updated", "close_ts": 1694800000},
        {"close_ns": 1694800000 * NS_PER_S},
    ),
]


@pytest.mark.parametrize(("msg", "expected"), [c[1:] for c in LIFECYCLE_CASES], ids=[c[0] for c in LIFECYCLE_CASES])
def test_market_lifecycle_v2(dec: FrameDecoder, msg: dict[str, Any], expected: dict[str, Any]) -> None:
    e = decode_ok(dec, {"type": "market_lifecycle_v2", "sid": 13, "seq": 4, "msg": msg}, recv_ns=6)
    assert isinstance(e, Lifecycle)
    assert (e.ticker, e.event_type, e.sid, e.seq, e.recv_ns) == (msg["market_ticker"], msg["event_type"], 13, 4, 6)
    for field, value in expected.items():
        assert getattr(e, field) == value, field


# ============================================================================ control replies
def test_subscribed(dec: FrameDecoder) -> None:
    frame = '{"id":1,"type":"subscribed","msg":{"channel":"orderbook_delta","sid":1}}'
    assert decode_ok(dec, frame) == Subscribed(1, "orderbook_delta", 1)


def test_ok_after_update_subscription(dec: FrameDecoder) -> None:
    frame = {"id": 123, "sid": 456, "seq": 222, "type": "ok", "msg": {"market_tickers": ["A-1", "B-2"]}}
    assert decode_ok(dec, frame) == Ok(123, 456, 222, ("A-1", "B-2"), None)


def test_ok_with_market_ids(dec: FrameDecoder) -> None:
    frame = {"id": 5, "sid": 2, "seq": 1, "type": "ok", "msg": {"market_ids": ["9b0f", "1a2b"]}}
    assert decode_ok(dec, frame) == Ok(5, 2, 1, ("9b0f", "1a2b"), None)


def test_ok_list_subscriptions(dec: FrameDecoder) -> None:
    frame = '{"id":3,"type":"ok","msg":[{"channel":"orderbook_delta","sid":1},{"channel":"ticker","sid":2}]}'
    ok = decode_ok(dec, frame)
    assert ok == Ok(3, 0, 0, None, (("orderbook_delta", 1), ("ticker", 2)))


def test_ok_without_message(dec: FrameDecoder) -> None:
    assert decode_ok(dec, '{"id":9,"sid":4,"seq":2,"type":"ok"}') == Ok(9, 4, 2, None, None)


def test_unsubscribed(dec: FrameDecoder) -> None:
    assert decode_ok(dec, '{"id":124,"sid":2,"seq":7,"type":"unsubscribed"}') == Unsubscribed(124, 2, 7)


# Codes and texts from the current AsyncAPI spec (protocol notes §4.4).
SPEC_ERRORS = {
    1: "Unable to process message",
    2: "Params required",
    3: "Channels required",
    5: "Unknown command",
    7: "Unknown subscription ID",
    8: "Unknown channel name",
    9: "Authentication required",
    10: "Channel error",
    14: "Market Ticker required",
    25: "Subscription buffer overflow",
    26: "Subscription market limit exceeded",
    27: "Too many requests",
}


@pytest.mark.parametrize("code", range(1, 29))
def test_error_codes(dec: FrameDecoder, code: int) -> None:
    frame = {"id": 123, "type": "error", "msg": {"code": code, "msg": f"text {code}"}}
    e = decode_ok(dec, frame)
    assert isinstance(e, ErrorReply)
    assert (e.id, e.code, e.message) == (123, code, f"text {code}")
    assert e.terminal is (code in (10, 25))


@pytest.mark.parametrize(("code", "text"), sorted(SPEC_ERRORS.items()))
def test_error_without_text_uses_the_spec_message(dec: FrameDecoder, code: int, text: str) -> None:
    e = decode_ok(dec, {"id": 4, "type": "error", "msg": {"code": code}})
    assert isinstance(e, ErrorReply) and e.message == text


def test_error_scoped_to_a_subscription_and_markets(dec: FrameDecoder) -> None:
    frame = {
        "id": 4,
        "sid": 3,
        "seq": 9,
        "type": "error",
        "msg": {"code": 10, "msg": "Channel error", "market_tickers": ["A", "B"], "market_ticker": "C"},
    }
    e = decode_ok(dec, frame)
    assert isinstance(e, ErrorReply)
    assert (e.sid, e.terminal) == (3, True)
    assert set(e.market_tickers) == {"A", "B", "C"}


# ============================================================================ unknown and malformed
@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"ticker_v2","sid":1,"msg":{"market_ticker":"X","price":5}}',
        '{"type":"multivariate_lookup","sid":1,"msg":{}}',
        '{"type":"rfq_created","sid":3,"msg":{"id":"r1"}}',
        '{"type":"order_group_updates","sid":1,"seq":1,"msg":{"event_type":"created"}}',
        '{"type":"cfbenchmarks_value","sid":4,"seq":1,"msg":{"value":"1.0"}}',
        '{"type":"brand_new_thing"}',
    ],
)
def test_unknown_types_are_kept_and_counted(dec: FrameDecoder, frame: str) -> None:
    kind = json.loads(frame)["type"]
    for n in (1, 2):
        m = dec.decode(frame, recv_ns=77)
        assert m == Unknown(kind, frame, 77)
        assert dec.unknown_types[kind] == n
    assert dec.malformed == 0
    b = dec.decode(frame.encode(), recv_ns=1)
    assert isinstance(b, Unknown) and b.raw == frame
    assert dec.unknown_types[kind] == 3


TICK = '{"type":"ticker","sid":1,"msg":{"market_ticker":"X","yes_bid_dollars":"0.5000"}}'
MALFORMED: list[tuple[str, str]] = [
    ("invalid-json", "not json"),
    ("empty", ""),
    ("whitespace", "   "),
    ("truncated", TICK[:-3]),
    ("trailing-garbage", TICK + " x"),
    ("array", "[1,2]"),
    ("string", '"ticker"'),
    ("null", "null"),
    ("no-type", '{"sid":1,"msg":{"market_ticker":"X"}}'),
    ("type-not-string", '{"type":5,"msg":{}}'),
    ("sid-as-string", '{"type":"ticker","sid":"1","msg":{"market_ticker":"X"}}'),
    ("legacy-price-as-string", '{"type":"ticker","sid":1,"msg":{"market_ticker":"X","yes_bid":"63"}}'),
    ("dollar-price-as-number", '{"type":"ticker","sid":1,"msg":{"market_ticker":"X","yes_bid_dollars":0.63}}'),
    ("legacy-price-as-bool", '{"type":"ticker","sid":1,"msg":{"market_ticker":"X","yes_bid":true}}'),
    ("price-too-many-decimals", '{"type":"ticker","sid":1,"msg":{"market_ticker":"X","yes_bid_dollars":"0.12345"}}'),
    ("price-above-one", '{"type":"ticker","sid":1,"msg":{"market_ticker":"X","yes_ask_dollars":"1.5"}}'),
    ("price-negative", '{"type":"ticker","sid":1,"msg":{"market_ticker":"X","yes_bid_dollars":"-0.01"}}'),
    ("price-garbage", '{"type":"ticker","sid":1,"msg":{"market_ticker":"X","price_dollars":"abc"}}'),
    ("price-exponent", '{"type":"ticker","sid":1,"msg":{"market_ticker":"X","yes_bid_dollars":"1e-3"}}'),
    ("legacy-cents-above-100", '{"type":"ticker","sid":1,"msg":{"market_ticker":"X","yes_bid":150}}'),
    ("legacy-cents-negative", '{"type":"ticker","sid":1,"msg":{"market_ticker":"X","yes_ask":-3}}'),
    ("legacy-last-price-out-of-range", '{"type":"ticker","sid":1,"msg":{"market_ticker":"X","price":101}}'),
    (
        "lifecycle-settlement-cents-out-of-range",
        '{"type":"market_lifecycle_v2","sid":1,"seq":1,"msg":{"market_ticker":"X","event_type":"determined",'
        '"settlement_value":250}}',
    ),
    ("size-garbage", '{"type":"ticker","sid":1,"msg":{"market_ticker":"X","yes_bid_size_fp":"lots"}}'),
    ("volume-too-precise", '{"type":"ticker","sid":1,"msg":{"market_ticker":"X","volume_fp":"1.001"}}'),
    ("ticker-missing-market", '{"type":"ticker","sid":1,"msg":{"yes_bid_dollars":"0.5000"}}'),
    ("ticker-missing-msg", '{"type":"ticker","sid":1}'),
    ("ticker-msg-null", '{"type":"ticker","sid":1,"msg":null}'),
    ("ticker-msg-list", '{"type":"ticker","sid":1,"msg":[]}'),
    ("snapshot-missing-msg", '{"type":"orderbook_snapshot","sid":1,"seq":1}'),
    (
        "snapshot-bad-level",
        '{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"X","yes_dollars_fp":[["0.5000"]]}}',
    ),
    (
        "snapshot-bad-price",
        '{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"X",'
        '"yes_dollars_fp":[["0.50001","1.00"]]}}',
    ),
    (
        "snapshot-legacy-cents-out-of-range",
        '{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"X","yes":[[101,5]]}}',
    ),
    ("delta-missing-msg", '{"type":"orderbook_delta","sid":1,"seq":2}'),
    (
        "delta-bad-side",
        '{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"X","side":"maybe",'
        '"price_dollars":"0.5000","delta_fp":"1.00"}}',
    ),
    (
        "delta-missing-price",
        '{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"X","side":"yes","delta_fp":"1.00"}}',
    ),
    (
        "delta-missing-delta",
        '{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"X","side":"yes","price_dollars":"0.5000"}}',
    ),
    (
        "delta-bad-count",
        '{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"X","side":"yes",'
        '"price_dollars":"0.5000","delta_fp":"abc"}}',
    ),
    (
        "delta-legacy-cents-out-of-range",
        '{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"X","side":"yes","price":250,"delta":1}}',
    ),
    ("trade-missing-price", '{"type":"trade","sid":1,"seq":1,"msg":{"market_ticker":"X","count_fp":"1.00"}}'),
    (
        "fill-missing-order-id",
        '{"type":"fill","sid":1,"msg":{"trade_id":"t","market_ticker":"X",'
        '"yes_price_dollars":"0.5000","count_fp":"1.00","book_side":"bid"}}',
    ),
    (
        "fill-no-side-info",
        '{"type":"fill","sid":1,"msg":{"trade_id":"t","order_id":"o","market_ticker":"X",'
        '"yes_price_dollars":"0.5000","count_fp":"1.00"}}',
    ),
    (
        "fill-bad-fee",
        '{"type":"fill","sid":1,"msg":{"trade_id":"t","order_id":"o","market_ticker":"X",'
        '"yes_price_dollars":"0.5000","count_fp":"1.00","book_side":"bid","fee_cost":"0.0000001"}}',
    ),
    ("fill-missing-msg", '{"type":"fill","sid":1}'),
    ("position-missing-position", '{"type":"market_position","sid":1,"msg":{"market_ticker":"X"}}'),
    ("position-missing-msg", '{"type":"market_position","sid":1}'),
    ("user-order-missing-msg", '{"type":"user_order","sid":1}'),
    ("user-order-missing-status", '{"type":"user_order","sid":1,"msg":{"order_id":"o","ticker":"X"}}'),
    ("lifecycle-missing-msg", '{"type":"market_lifecycle_v2","sid":1,"seq":1}'),
    ("lifecycle-missing-event-type", '{"type":"market_lifecycle_v2","sid":1,"seq":1,"msg":{"market_ticker":"X"}}'),
    ("subscribed-missing-msg", '{"type":"subscribed","id":1}'),
    ("subscribed-missing-sid", '{"type":"subscribed","id":1,"msg":{"channel":"ticker"}}'),
    ("error-missing-msg", '{"type":"error","id":1}'),
    ("error-missing-code", '{"type":"error","id":1,"msg":{"msg":"oops"}}'),
    ("error-code-as-string", '{"type":"error","id":1,"msg":{"code":"8","msg":"oops"}}'),
    ("ok-msg-wrong-shape", '{"type":"ok","id":1,"msg":"done"}'),
]


@pytest.mark.parametrize("raw", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_frames_carry_the_raw_text_and_a_reason(dec: FrameDecoder, raw: str) -> None:
    m = dec.decode(raw, recv_ns=123)
    assert isinstance(m, Malformed), m
    assert m.raw == raw
    assert isinstance(m.error, str) and len(m.error) > 5
    assert m.recv_ns == 123
    assert dec.malformed == 1
    assert not dec.unknown_types
    mb = dec.decode(raw.encode("utf-8"), recv_ns=124)
    assert isinstance(mb, Malformed) and mb.raw == raw
    assert dec.malformed == 2


def test_malformed_reason_says_what_is_wrong(dec: FrameDecoder) -> None:
    bad_price = dec.decode('{"type":"ticker","sid":1,"msg":{"market_ticker":"X","yes_bid_dollars":"0.12345"}}')
    assert isinstance(bad_price, Malformed) and "0.12345" in bad_price.error
    missing = dec.decode('{"type":"fill","sid":1,"msg":{"trade_id":"t","market_ticker":"X"}}')
    assert isinstance(missing, Malformed) and "order_id" in missing.error
    not_json = dec.decode("{oops")
    assert isinstance(not_json, Malformed) and "JSON" in not_json.error


def test_invalid_utf8_bytes(dec: FrameDecoder) -> None:
    m = dec.decode(b'{"type":"ticker","msg":{"market_ticker":"\xff\xfe"}}')
    assert isinstance(m, Malformed)
    assert "\ufffd" in m.raw


def valid_frames() -> list[str]:
    frames = [wire({"type": "ticker", "sid": 1, "msg": msg}) for _, msg, _ in TICKER_CASES]
    frames += [wire({"type": "orderbook_delta", "sid": 2, "seq": 3, "msg": msg}) for _, msg, _ in DELTA_CASES]
    frames += [wire({"type": "market_lifecycle_v2", "sid": 1, "seq": 1, "msg": m}) for _, m, _ in LIFECYCLE_CASES]
    frames += [
        wire({"type": "fill", "sid": 13, "msg": FILL_CURRENT}),
        wire({"type": "user_order", "sid": 22, "msg": USER_ORDER}),
        '{"id":3,"type":"ok","msg":[{"channel":"orderbook_delta","sid":1},{"channel":"ticker","sid":2}]}',
        '{"id":1,"type":"subscribed","msg":{"channel":"orderbook_delta","sid":1}}',
        '{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"X","yes_dollars_fp":[["0.0100","5.00"]]}}',
    ]
    return frames


def test_the_decoder_never_raises_on_damaged_frames() -> None:
    dec = FrameDecoder()
    rng = random.Random(20260511)
    alphabet = '{}[]":,.-0123456789eE truefalsnl\\\x00\xff٣'
    seen: Counter[str] = Counter()
    for frame in valid_frames():
        variants = [frame[:i] for i in range(len(frame))]
        for _ in range(200):
            chars = list(frame)
            for _ in range(rng.randint(1, 4)):
                chars[rng.randrange(len(chars))] = rng.choice(alphabet)
            variants.append("".join(chars))
        for v in variants:
            for raw in (v, v.encode("utf-8", "surrogatepass")):
                m = dec.decode(raw)
                seen[type(m).__name__] += 1
                if isinstance(m, Malformed):
                    assert m.raw == (raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))
    assert seen["Malformed"] > 1000
    assert dec.malformed == seen["Malformed"]


def test_module_level_decode_frame_and_as_dict() -> None:
    m = decode_frame(TICK, 5)
    assert isinstance(m, Quote) and m.yes_bid == 5000 and m.recv_ns == 5
    d = as_dict(m)
    assert d["kind"] == "Quote" and d["yes_bid"] == 5000 and d["ticker"] == "X"
    assert as_dict(decode_frame("nope"))["kind"] == "Malformed"


# ============================================================================ real captured data
KIND_OF_TYPE: dict[str, type] = {
    "ticker": Quote,
    "orderbook_snapshot": BookSnapshot,
    "orderbook_delta": BookDelta,
    "trade": Trade,
    "fill": Fill,
    "market_position": PositionUpdate,
    "user_order": OrderUpdate,
    "market_lifecycle_v2": Lifecycle,
    "subscribed": Subscribed,
    "ok": Ok,
    "unsubscribed": Unsubscribed,
    "error": ErrorReply,
}


def capture_frames(root: Path, name: str) -> Iterator[tuple[str, int]]:
    """(raw frame text, recv_ns) of one capture, unwrapping that file's own format."""
    if name == "bot_btc":
        for line in (root / "bot_btc_1hr_ws_frames/kalshi_ws_frames.jsonl").read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                yield rec["raw"], rec["recv_ts_ns"]
    elif name == "mm_demo":
        for line in (root / "kalshi_mm_demo_capture/session.jsonl").read_text().splitlines():
            if line.strip():
                yield line, 0
    elif name == "ssmd":
        for fname in ("kalshi_ticker.jsonl", "kalshi_trade.jsonl"):
            for line in (root / "ssmd" / fname).read_text().splitlines():
                if line.strip():
                    yield line, 0
    elif name == "codetilldawn":
        for frame in json.loads((root / "codetilldawn_datafeed/DataFeed_Ticker.json").read_text()):
            yield wire(frame), 0
    elif name == "cockpit":
        doc = json.loads((root / "kalshi_cockpit/ws_orderbook_stream.json").read_text())
        for rec in doc["frames"]:
            yield wire(rec["frame"]), rec["received_ms"] * NS_PER_MS
    else:  # pragma: no cover
        raise ValueError(name)


# Frame counts per type, as listed in ../shared/realdata/README.md.
CAPTURE_COUNTS: dict[str, dict[str, int]] = {
    "bot_btc": {"orderbook_snapshot": 8, "orderbook_delta": 61, "error": 3, "subscribed": 2},
    "mm_demo": {"orderbook_delta": 2885, "orderbook_snapshot": 5, "fill": 2, "subscribed": 2, "ok": 4},
    "ssmd": {"ticker": 10, "trade": 10},
    "codetilldawn": {"ticker": 302},
    "cockpit": {"subscribed": 1, "ok": 11, "orderbook_snapshot": 12, "orderbook_delta": 245},
}


def expected_ticker(m: dict[str, Any]) -> dict[str, Any]:
    def price(key: str) -> int | None:
        s = m.get(f"{key}_dollars")
        if s:
            if m.get(key) is not None and m[key] != 0:  # both eras present: they must agree
                assert m[key] * 100 == px(s), (key, m)
            return px(s)
        return m[key] * 100 if m.get(key) is not None else None

    def count(key: str) -> int | None:
        if m.get(f"{key}_fp"):
            if m.get(key) is not None:
                assert m[key] * 100 == cnt(m[f"{key}_fp"])
            return cnt(m[f"{key}_fp"])
        return m[key] * 100 if m.get(key) is not None else None

    bid, ask, last = price("yes_bid"), price("yes_ask"), price("price")
    return {
        "ticker": m["market_ticker"],
        "yes_bid": bid or None,
        "yes_ask": None if not ask or ask >= 10_000 else ask,
        "last": last or None,
        "yes_bid_size": cnt(m["yes_bid_size_fp"]) if "yes_bid_size_fp" in m else None,
        "yes_ask_size": cnt(m["yes_ask_size_fp"]) if "yes_ask_size_fp" in m else None,
        "volume": count("volume"),
        "open_interest": count("open_interest"),
        "exchange_ns": m["ts_ms"] * NS_PER_MS if "ts_ms" in m else m.get("ts", 0) * NS_PER_S,
    }


def levels(rows: list[list[Any]] | None) -> tuple[tuple[int, int], ...]:
    return tuple(sorted((px(p), cnt(c)) for p, c in rows or []))


def check_against_raw(msg: Message, frame: dict[str, Any], recv_ns: int) -> None:
    """Every field that carries a number, compared with the raw JSON via Decimal."""
    t, m = frame["type"], frame.get("msg")
    assert isinstance(msg, KIND_OF_TYPE[t])
    if t == "ticker":
        assert isinstance(msg, Quote) and isinstance(m, dict)
        for field, value in expected_ticker(m).items():
            assert getattr(msg, field) == value, (field, m)
        assert msg.recv_ns == recv_ns
    elif t == "orderbook_snapshot":
        assert isinstance(msg, BookSnapshot) and isinstance(m, dict)
        assert msg.yes == levels(m.get("yes_dollars_fp"))
        assert msg.no == levels(m.get("no_dollars_fp"))
        for side in (msg.yes, msg.no):
            prices = [p for p, _ in side]
            assert prices == sorted(set(prices)), "levels must be strictly ascending"
            assert all(0 < p < 10_000 for p in prices)
        assert (msg.ticker, msg.sid, msg.seq, msg.recv_ns) == (m["market_ticker"], frame["sid"], frame["seq"], recv_ns)
    elif t == "orderbook_delta":
        assert isinstance(msg, BookDelta) and isinstance(m, dict)
        assert (msg.ticker, msg.side, msg.price, msg.delta) == (
            m["market_ticker"],
            m["side"],
            px(m["price_dollars"]),
            cnt(m["delta_fp"]),
        )
        assert (msg.sid, msg.seq) == (frame["sid"], frame["seq"])
        expected_ns = m["ts_ms"] * NS_PER_MS if "ts_ms" in m else pd.Timestamp(m["ts"]).value if "ts" in m else 0
        assert msg.exchange_ns == expected_ns
        assert msg.client_order_id == m.get("client_order_id")
    elif t == "trade":
        assert isinstance(msg, Trade) and isinstance(m, dict)
        assert msg.yes_price == px(m["yes_price_dollars"]) == m["yes_price"] * 100
        assert px(m["no_price_dollars"]) == 10_000 - msg.yes_price
        assert msg.count == cnt(m["count_fp"]) == m["count"] * 100
        assert (msg.ticker, msg.trade_id, msg.taker_side) == (m["market_ticker"], m["trade_id"], m["taker_side"])
        assert (msg.sid, msg.seq, msg.exchange_ns) == (frame["sid"], frame["seq"], m["ts"] * NS_PER_S)
    elif t == "fill":
        assert isinstance(msg, Fill) and isinstance(m, dict)
        assert msg.yes_price == px(m["yes_price_dollars"])
        assert msg.count == cnt(m["count_fp"])
        assert msg.fee == usd(m["fee_cost"])
        assert msg.post_position == cnt(m["post_position_fp"])
        assert (msg.book_side, msg.is_taker, msg.trade_id, msg.order_id) == (
            m["book_side"],
            m["is_taker"],
            m["trade_id"],
            m["order_id"],
        )
        assert msg.exchange_ns == m["ts_ms"] * NS_PER_MS
    elif t == "ok":
        assert isinstance(msg, Ok) and isinstance(m, dict)
        assert msg.market_tickers == tuple(m["market_tickers"])
        assert (msg.id, msg.sid, msg.seq) == (frame["id"], frame["sid"], frame["seq"])
    elif t == "subscribed":
        assert msg == Subscribed(frame["id"], m["channel"], m["sid"])  # type: ignore[index]
    elif t == "error":
        assert isinstance(msg, ErrorReply) and isinstance(m, dict)
        assert (msg.code, msg.message, msg.id, msg.terminal) == (m["code"], m["msg"], frame["id"], False)
    else:  # pragma: no cover - the captures hold no other types
        raise AssertionError(f"unexpected type {t}")


@pytest.mark.parametrize("capture", sorted(CAPTURE_COUNTS))
def test_real_captures_decode_exactly(realdata: Path, capture: str) -> None:
    dec = FrameDecoder()
    types: Counter[str] = Counter()
    for raw, recv_ns in capture_frames(realdata, capture):
        frame = json.loads(raw)
        types[frame["type"]] += 1
        for data in (raw, raw.encode()):
            msg = dec.decode(data, recv_ns)
            assert not isinstance(msg, Malformed | Unknown), (msg, raw[:200])
            check_against_raw(msg, frame, recv_ns)
    assert dict(types) == CAPTURE_COUNTS[capture]
    assert dec.malformed == 0
    assert not dec.unknown_types


def test_real_fill_with_fractional_contracts(realdata: Path) -> None:
    dec = FrameDecoder()
    fills = [m for raw, _ in capture_frames(realdata, "mm_demo") if isinstance(m := dec.decode(raw), Fill)]
    assert len(fills) == 2
    first = next(f for f in fills if f.count == 552)  # "count_fp":"5.52"
    # The worked example: 5.52 contracts at $0.17 cost a $0.0546 fee.
    assert (first.yes_price, first.fee, first.book_side, first.post_position) == (1700, 54_600, "bid", 552)
    second = next(f for f in fills if f is not first)
    assert (second.yes_price, second.count, second.fee, second.book_side) == (1600, 116, 11_000, "ask")
    assert second.post_position == 436  # 5.52 - 1.16 bought back as NO


def test_real_legacy_ticker_with_quotes(realdata: Path) -> None:
    dec = FrameDecoder()
    quoted = [
        m
        for raw, _ in capture_frames(realdata, "codetilldawn")
        if isinstance(m := dec.decode(raw), Quote) and m.ticker == "KXGREENLAND-29"
    ]
    assert len(quoted) == 2
    for q in quoted:
        assert (q.yes_bid, q.yes_ask, q.last) == (2400, 2500, 2500)
        assert q.exchange_ns > 1_737_000_000 * NS_PER_S
