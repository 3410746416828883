"""Decoding REST responses into typed results: real captured responses of both wire eras (``../shared/realdata``,
skipped when absent) and small hand-written current-shape replies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kalshikit.errors import ProtocolError, UnitError
from kalshikit.kalshi import models
from kalshikit.kalshi.messages import parse_rfc3339_ns
from kalshikit.kalshi.models import OrderRequest
from kalshikit.units import parse_count, parse_dollars_to_money, parse_price


def _golden(realdata: Path, name: str) -> tuple[bytes, Any]:
    """A response of the starter-code golden set: (raw bytes, decoded JSON)."""
    obj = json.loads((realdata / "kalshi_starter_golden_rest" / name).read_text())["response"]
    return json.dumps(obj).encode(), obj


def _cockpit(realdata: Path, name: str) -> Any:
    return json.loads((realdata / "kalshi_cockpit" / name).read_text())


# ---------------------------------------------------------------------------- real captures: market data
def test_legacy_market_with_empty_book(realdata: Path) -> None:
    raw, obj = _golden(realdata, "market_single_response.json")
    m = models.decode_market(raw)
    w = obj["market"]
    assert m.ticker == w["ticker"] and m.event_ticker == w["event_ticker"] and m.status == "active"
    # "0.0000" bid/ask/last on an empty legacy book mean "no price", not a price of zero.
    assert (m.yes_bid, m.yes_ask, m.last) == (None, None, None)
    assert m.close_ns == parse_rfc3339_ns(w["close_time"]) and m.open_ns == parse_rfc3339_ns(w["open_time"])
    assert m.volume == 0 and m.open_interest == 0
    assert m.grid is not None and m.grid.structure == "deci_cent"
    assert m.grid.is_valid(9950) and not m.grid.is_valid(9955)
    q = m.quote(recv_ns=5)
    assert q.source == "rest" and q.yes_bid is None and q.recv_ns == 5


def test_current_market_agrees_with_its_order_book(realdata: Path) -> None:
    cap = _cockpit(realdata, "market_single.json")
    m = models.decode_market(json.dumps(cap["single"]).encode())
    book = models.decode_orderbook(json.dumps(cap["orderbook"]).encode(), m.ticker, recv_ns=7)
    w = cap["single"]["market"]
    assert m.yes_bid == parse_price(w["yes_bid_dollars"]) and m.yes_ask == parse_price(w["yes_ask_dollars"])
    assert m.last == parse_price(w["last_price_dollars"])
    assert m.volume == parse_count(w["volume_fp"]) and m.open_interest == parse_count(w["open_interest_fp"])
    # The book's best bids (last = highest, ascending order) are the market's quote; a NO bid p is a YES ask 1-p.
    assert book.yes == tuple(sorted(book.yes)) and book.no == tuple(sorted(book.no))
    assert book.yes[-1] == (m.yes_bid, m.yes_bid_size)
    assert (10_000 - book.no[-1][0], book.no[-1][1]) == (m.yes_ask, m.yes_ask_size)
    assert book.recv_ns == 7 and book.ticker == m.ticker
    assert m.grid is not None and m.grid.is_valid(5500) and not m.grid.is_valid(5550)


def test_markets_page_keeps_every_market_and_the_cursor(realdata: Path) -> None:
    raw, obj = _golden(realdata, "markets_list_response.json")
    markets, cursor = models.decode_markets_page(raw)
    assert [m.ticker for m in markets] == [w["ticker"] for w in obj["markets"]]
    assert cursor == obj["cursor"] and cursor


def test_settled_markets_carry_result_and_settlement_value(realdata: Path) -> None:
    wires = _cockpit(realdata, "markets_settled.json")["markets"]
    markets, _ = models.decode_markets_page(json.dumps({"markets": wires, "cursor": ""}).encode())
    assert len(markets) == len(wires)
    settled = 0
    for m, w in zip(markets, wires, strict=True):
        assert (m.result, m.status) == (w["result"], w["status"])
        if w.get("settlement_value_dollars"):
            assert m.settlement_value == parse_price(w["settlement_value_dollars"])
            assert m.settlement_ns == parse_rfc3339_ns(w["settlement_ts"])
            assert m.settlement_value == (10_000 if m.result == "yes" else 0)
            settled += 1
    assert settled > 0


def test_legacy_orderbook_with_null_sides_is_empty(realdata: Path) -> None:
    raw, _ = _golden(realdata, "orderbook_response.json")
    book = models.decode_orderbook(raw, "T")
    assert book.yes == () and book.no == ()


def test_demo_capture_orderbooks(realdata: Path) -> None:
    lines = (realdata / "kalshi_mm_demo_capture" / "rest.jsonl").read_text().splitlines()
    books = 0
    for line in filter(str.strip, lines):
        rec = json.loads(line)
        if not rec["url"].endswith("/orderbook"):
            continue
        ticker = rec["url"].rsplit("/", 2)[-2]
        body = json.loads(rec["response_body"])["orderbook_fp"]
        book = models.decode_orderbook(rec["response_body"].encode(), ticker)
        assert book.yes == tuple((parse_price(p), parse_count(c)) for p, c in body["yes_dollars"])
        assert book.no == tuple((parse_price(p), parse_count(c)) for p, c in body["no_dollars"])
        books += 1
    assert books == 5


def test_exchange_status(realdata: Path) -> None:
    raw, obj = _golden(realdata, "exchange_status_response.json")
    s = models.decode_exchange_status(raw)
    assert (s.exchange_active, s.trading_active, s.estimated_resume_ns) == (
        obj["exchange_active"],
        obj["trading_active"],
        None,
    )


# ---------------------------------------------------------------------------- real captures: portfolio
def test_balance_in_cents_becomes_micro_dollars(realdata: Path) -> None:
    raw, obj = _golden(realdata, "portfolio_balance_response.json")
    b = models.decode_balance(raw)
    assert b.balance == obj["balance"] * 10_000 and b.portfolio_value == obj["portfolio_value"] * 10_000
    assert b.updated_ns == obj["updated_ts"] * 1_000_000_000


def test_legacy_positions_dollars_win_over_cents(realdata: Path) -> None:
    raw, obj = _golden(realdata, "portfolio_positions_response.json")
    positions, cursor = models.decode_positions_page(raw)
    assert cursor == "" and len(positions) == len(obj["market_positions"])
    for p, w in zip(positions, obj["market_positions"], strict=True):
        assert p.ticker == w["ticker"] and p.position == w["position"] * 100
        assert p.exposure == parse_dollars_to_money(w["market_exposure_dollars"])
        assert p.fees_paid == parse_dollars_to_money(w["fees_paid_dollars"])
        ev = p.to_event(recv_ns=3)
        assert (ev.ticker, ev.position, ev.cost, ev.source, ev.recv_ns) == (
            p.ticker,
            p.position,
            p.exposure,
            "reconcile",
            3,
        )


def test_current_positions_from_the_demo_capture(realdata: Path) -> None:
    lines = (realdata / "kalshi_mm_demo_capture" / "rest.jsonl").read_text().splitlines()
    rec = next(json.loads(x) for x in lines if x.strip() and "/portfolio/positions" in json.loads(x)["url"])
    positions, cursor = models.decode_positions_page(rec["response_body"].encode())
    wires = json.loads(rec["response_body"])["market_positions"]
    assert cursor == "" and [p.ticker for p in positions] == [w["ticker"] for w in wires]
    for p, w in zip(positions, wires, strict=True):
        assert p.position == parse_count(w["position_fp"])
        assert p.realized_pnl == parse_dollars_to_money(w["realized_pnl_dollars"])
        assert p.total_traded == parse_dollars_to_money(w["total_traded_dollars"])
        assert p.last_updated_ns == parse_rfc3339_ns(w["last_updated_ts"])


def test_legacy_orders(realdata: Path) -> None:
    raw, obj = _golden(realdata, "portfolio_orders_response.json")
    orders, cursor = models.decode_orders_page(raw, recv_ns=11)
    assert cursor == obj["cursor"]
    for o, w in zip(orders, obj["orders"], strict=True):
        assert o.order_id == w["order_id"] and o.ticker == w["ticker"] and o.status == w["status"]
        assert o.client_order_id == (w["client_order_id"] or None)
        assert (o.fill_count, o.remaining_count, o.initial_count) == (
            w["fill_count"] * 100,
            w["remaining_count"] * 100,
            w["initial_count"] * 100,
        )
        assert o.yes_price == parse_price(w["yes_price_dollars"])
        # (side, action): buy YES / sell NO are bids of the YES book; sell YES / buy NO are asks.
        assert o.book_side == ("bid" if (w["side"] == "yes") == (w["action"] == "buy") else "ask")
        assert o.fees == parse_dollars_to_money(w["taker_fees_dollars"]) + w["maker_fees"] * 10_000
        assert o.exchange_ns == parse_rfc3339_ns(w["last_update_time"]) and o.recv_ns == 11
    assert {o.book_side for o in orders} == {"bid"}  # buy yes and sell no both


def test_legacy_fills(realdata: Path) -> None:
    raw, obj = _golden(realdata, "portfolio_fills_response.json")
    fills, cursor = models.decode_fills_page(raw)
    assert cursor == obj["cursor"]
    for f, w in zip(fills, obj["fills"], strict=True):
        assert f.trade_id == w["trade_id"] and f.ticker == w["ticker"] and f.order_id == w["order_id"]
        assert f.yes_price == parse_price(w["yes_price_fixed"]) == w["yes_price"] * 100
        assert f.count == w["count"] * 100 and f.fee == 0
        assert f.exchange_ns == parse_rfc3339_ns(w["created_time"])


def test_current_fills_with_sub_penny_prices_and_fees(realdata: Path) -> None:
    cap = _cockpit(realdata, "portfolio_fills_redacted.json")
    fills, _ = models.decode_fills_page(json.dumps(cap["payload"]).encode())
    wires = cap["payload"]["fills"]
    assert len(fills) == len(wires)
    for f, w in zip(fills, wires, strict=True):
        assert f.book_side == w["book_side"] and f.count == parse_count(w["count_fp"])
        assert f.yes_price == parse_price(w["yes_price_dollars"])
        assert f.yes_price + parse_price(w["no_price_dollars"]) == 10_000
        assert f.fee == parse_dollars_to_money(w["fee_cost"]) and f.is_taker == w["is_taker"]


def test_settlements_both_eras(realdata: Path) -> None:
    raw, obj = _golden(realdata, "portfolio_settlements_response.json")
    (s,), _ = models.decode_settlements_page(raw)
    w = obj["settlements"][0]
    assert (s.yes_count, s.no_count) == (w["yes_count"] * 100, w["no_count"] * 100)
    assert s.yes_total_cost == w["yes_total_cost"] * 10_000 and s.fee_cost == parse_dollars_to_money(w["fee_cost"])
    assert s.settled_ns == parse_rfc3339_ns(w["settled_time"])
    cap = _cockpit(realdata, "portfolio_settlements_redacted.json")
    current, _ = models.decode_settlements_page(json.dumps(cap["payload"]).encode())
    for s, w in zip(current, cap["payload"]["settlements"], strict=True):
        assert s.market_result == w["market_result"] and s.revenue == w["revenue"] * 10_000
        assert s.yes_count == parse_count(w["yes_count_fp"])
        assert s.yes_total_cost == parse_dollars_to_money(w["yes_total_cost_dollars"])
        ev = s.to_event()
        assert (ev.ticker, ev.result, ev.revenue) == (s.ticker, s.market_result, s.revenue)


def test_legacy_order_write_replies(realdata: Path) -> None:
    raw, obj = _golden(realdata, "create_order_response.json")
    r = models.decode_create(raw)
    assert r is not None and r.order_id == obj["order"]["order_id"] and r.remaining_count == 200
    assert r.status == "resting" and not r.recovered
    raw, obj = _golden(realdata, "cancel_order_response.json")
    c = models.decode_cancel(raw)
    assert c.order_id == obj["order"]["order_id"] and c.reduced_by == obj["reduced_by"] * 100
    raw, obj = _golden(realdata, "amend_order_response.json")
    a = models.decode_amend(raw)
    assert a.order_id == obj["order"]["order_id"] and a.client_order_id == obj["order"]["client_order_id"]
    raw, obj = _golden(realdata, "decrease_order_response.json")
    d = models.decode_decrease(raw)
    assert d.remaining_count == obj["order"]["remaining_count"] * 100
    raw, obj = _golden(realdata, "batch_create_orders_response.json")
    items = models.decode_batch_create(raw)
    results = [models.create_result_from_wire(i) for i in items]
    assert [r.order_id for r in results if r] == [w["order"]["order_id"] for w in obj["orders"]]
    raw, obj = _golden(realdata, "batch_cancel_orders_response.json")
    cancels = [models.cancel_result_from_wire(i) for i in models.decode_batch_cancel(raw)]
    assert [c.order_id for c in cancels] == [w["order"]["order_id"] for w in obj["orders"]]


# ---------------------------------------------------------------------------- current shapes (own fixtures)
REQ = OrderRequest("KXFOO-26DEC31-T50", "ask", 100, 2500, "immediate_or_cancel", "sl-7f3a", reduce_only=True)


def test_v2_create_reply() -> None:
    raw = (
        b'{"order_id":"o-1","client_order_id":"sl-7f3a","fill_count":"25.00","remaining_count":"0.00",'
        b'"average_fill_price":"0.3100","average_fee_paid":"0.0150","ts_ms":1764000000000}'
    )
    r = models.decode_create(raw, REQ)
    assert r is not None
    assert (r.order_id, r.client_order_id, r.fill_count, r.remaining_count) == ("o-1", "sl-7f3a", 2500, 0)
    assert (r.average_fill_price, r.average_fee_paid, r.ts_ns) == (3100, 15_000, 1_764_000_000_000_000_000)
    assert r.status == "executed" and r.ticker == REQ.ticker and r.book_side == "ask"
    ev = r.to_event(recv_ns=9)
    assert (ev.status, ev.fill_count, ev.average_fill_price, ev.recv_ns) == ("executed", 2500, 3100, 9)


def test_v2_create_reply_partial_ioc_is_canceled_and_missing_order_id_is_none() -> None:
    raw = b'{"order_id":"o-2","fill_count":"10.00","remaining_count":"0.00","ts_ms":1}'
    r = models.decode_create(raw, REQ)
    assert r is not None and r.status == "canceled" and r.client_order_id == "sl-7f3a"
    assert models.decode_create(b'{"fill_count":"0.00","remaining_count":"0.00","ts_ms":1}', REQ) is None
    assert models.decode_create(b'{"order_id":"","ts_ms":1}', REQ) is None


def test_v2_cancel_amend_decrease_replies() -> None:
    c = models.decode_cancel(b'{"order_id":"o-1","client_order_id":"c","reduced_by":"7.50","ts_ms":2}')
    assert (c.order_id, c.client_order_id, c.reduced_by, c.ts_ns) == ("o-1", "c", 750, 2_000_000)
    a = models.decode_amend(b'{"order_id":"o-1","remaining_count":"3.00","fill_count":"1.00","ts_ms":3}')
    assert (a.remaining_count, a.fill_count, a.client_order_id) == (300, 100, None)
    d = models.decode_decrease(b'{"order_id":"o-1","remaining_count":"1.00","ts_ms":4}')
    assert (d.remaining_count, d.ts_ns) == (100, 4_000_000)
    with pytest.raises(ProtocolError):
        models.decode_decrease(b'{"ts_ms":4}')


def test_current_order_with_book_side() -> None:
    raw = json.dumps(
        {
            "order": {
                "order_id": "o-9",
                "user_id": "u",
                "client_order_id": "c-9",
                "ticker": "T",
                "outcome_side": "no",
                "book_side": "ask",
                "type": "limit",
                "status": "resting",
                "yes_price_dollars": "0.9950",
                "no_price_dollars": "0.0050",
                "fill_count_fp": "1.50",
                "remaining_count_fp": "8.50",
                "initial_count_fp": "10.00",
                "taker_fill_cost_dollars": "0.000000",
                "maker_fill_cost_dollars": "1.492500",
                "taker_fees_dollars": "0.000000",
                "maker_fees_dollars": "0.000200",
                "created_time": "2026-08-07T06:46:28.97871Z",
            }
        }
    ).encode()
    o = models.decode_order(raw)
    assert (o.book_side, o.yes_price, o.fill_count, o.remaining_count, o.initial_count) == ("ask", 9950, 150, 850, 1000)
    assert o.fees == 200 and o.client_order_id == "c-9"
    assert o.exchange_ns == parse_rfc3339_ns("2026-08-07T06:46:28.97871Z")


def test_dollar_strings_win_over_legacy_cents() -> None:
    raw = b'{"market":{"ticker":"T","yes_bid":99,"yes_bid_dollars":"0.9950","yes_ask":100,"yes_ask_dollars":"1.0000"}}'
    m = models.decode_market(raw)
    assert m.yes_bid == 9950 and m.yes_ask is None  # $1 ask = empty side


def test_legacy_orderbook_with_integer_levels() -> None:
    raw = b'{"orderbook":{"yes":[[42,13],[1,200]],"no":[[56,17]],"yes_dollars":null,"no_dollars":null}}'
    book = models.decode_orderbook(raw, "T")
    assert book.yes == ((100, 20_000), (4200, 1300)) and book.no == ((5600, 1700),)


def test_unknown_price_structure_without_ranges_has_no_grid() -> None:
    m = models.decode_market(b'{"market":{"ticker":"T","price_level_structure":"banded_centi_cent"}}')
    assert m.grid is None


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"market": {"ticker": 5}}',
        b'{"market": {"ticker": "T", "yes_bid_dollars": "1.5000"}}',
        b'{"market": {"ticker": "T", "close_time": "yesterday"}}',
        b"{}",
    ],
)
def test_bad_market_replies_raise_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError, match="could not decode market"):
        models.decode_market(raw)


def test_orderbook_without_either_key_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="neither"):
        models.decode_orderbook(b'{"book": {}}', "T")


# ---------------------------------------------------------------------------- order requests
def test_order_request_wire_body() -> None:
    assert REQ.to_wire() == {
        "ticker": "KXFOO-26DEC31-T50",
        "side": "ask",
        "count": "25.00",
        "price": "0.0100",
        "time_in_force": "immediate_or_cancel",
        "self_trade_prevention_type": "taker_at_cross",
        "client_order_id": "sl-7f3a",
        "reduce_only": True,
    }
    gtc = OrderRequest("T", "bid", 9950, 5, expiration_ns=1_764_000_000_999_999_999, post_only=True)
    body = gtc.to_wire()
    assert body["price"] == "0.9950" and body["count"] == "0.05" and body["expiration_time"] == 1_764_000_000
    assert body["post_only"] is True and "reduce_only" not in body and "client_order_id" not in body


@pytest.mark.parametrize(
    "kw,problem",
    [
        ({"side": "buy"}, "side"),
        ({"price": 0}, "price"),
        ({"price": 10_000}, "price"),
        ({"count": 0}, "count"),
        ({"time_in_force": "gtt"}, "time_in_force"),
        ({"reduce_only": True}, "reduce_only"),
        ({"time_in_force": "immediate_or_cancel", "expiration_ns": 1}, "expiration"),
        ({"ticker": ""}, "ticker"),
    ],
)
def test_order_request_check(kw: dict[str, Any], problem: str) -> None:
    base: dict[str, Any] = {"ticker": "T", "side": "bid", "price": 5000, "count": 100}
    base.update(kw)
    with pytest.raises(UnitError, match=problem):
        OrderRequest(**base).check()
