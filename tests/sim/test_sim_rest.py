"""The simulator's REST API over 127.0.0.1 with plain ``requests`` and the kit's signing: every endpoint, filters,
pagination, order writes (V2 and legacy V1), batch endpoints, errors and the token bucket."""

from __future__ import annotations

import uuid

import pytest
from sim_testkit import ORDERS, C, account_api, demo_api, new_market

from kalshikit.sim import RateLimits, Simulator
from kalshikit.sim.ratelimit import RateLimiter


def test_exchange_status_is_a_bare_object_and_public(sim: Simulator) -> None:
    api = demo_api(sim)
    r = api.get("/exchange/status", signed=False)
    assert r.status_code == 200
    assert r.json()["exchange_active"] is True and r.json()["trading_active"] is True
    sim.set_exchange_status(trading_active=False)
    try:
        assert api.get("/exchange/status").json()["trading_active"] is False
    finally:
        sim.set_exchange_status(trading_active=True)


def test_markets_list_filters_and_pages(sim: Simulator) -> None:
    event = "KXEV" + uuid.uuid4().hex[:6].upper() + "-26DEC31"
    tickers = [new_market(sim, event=event) for _ in range(5)]
    api = demo_api(sim)
    got = api.get("/markets", params={"event_ticker": event}, signed=False).json()
    assert [m["ticker"] for m in got["markets"]] == tickers and got["cursor"] == ""
    page1 = api.get("/markets", params={"event_ticker": event, "limit": 2}).json()
    assert len(page1["markets"]) == 2 and page1["cursor"]
    page2 = api.get("/markets", params={"event_ticker": event, "limit": 2, "cursor": page1["cursor"]}).json()
    page3 = api.get("/markets", params={"event_ticker": event, "limit": 2, "cursor": page2["cursor"]}).json()
    assert [m["ticker"] for m in page1["markets"] + page2["markets"] + page3["markets"]] == tickers
    assert page3["cursor"] == ""
    sim.close_market(tickers[0])
    open_ = api.get("/markets", params={"event_ticker": event, "status": "open"}).json()["markets"]
    assert tickers[0] not in [m["ticker"] for m in open_] and len(open_) == 4
    closed = api.get("/markets", params={"event_ticker": event, "status": "closed"}).json()["markets"]
    assert [m["ticker"] for m in closed] == [tickers[0]] and closed[0]["status"] == "closed"
    two = api.get("/markets", params={"tickers": ",".join(tickers[1:3])}).json()["markets"]
    assert [m["ticker"] for m in two] == tickers[1:3]
    series = event.split("-")[0]
    assert len(api.get("/markets", params={"series_ticker": series}).json()["markets"]) == 5


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"status": "live"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"cursor": "zz"}, "cursor"),
    ],
)
def test_markets_bad_params_are_400_with_a_clear_message(sim: Simulator, params: dict[str, str], text: str) -> None:
    r = demo_api(sim).get("/markets", params=params)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "invalid_parameters" and text in err["message"] and err["service"] == "exchange"


def test_one_market_has_current_fields_and_404_when_unknown(sim: Simulator) -> None:
    t = new_market(sim)
    api = demo_api(sim)
    m = api.get(f"/markets/{t}").json()["market"]
    assert m["ticker"] == t and m["status"] == "active" and m["market_type"] == "binary"
    assert (m["yes_bid_dollars"], m["yes_ask_dollars"], m["no_bid_dollars"], m["no_ask_dollars"]) == (
        "0.4500",
        "0.4700",
        "0.5300",
        "0.5500",
    )
    assert (m["yes_bid_size_fp"], m["yes_ask_size_fp"]) == ("10.00", "20.00")
    assert m["price_level_structure"] == "linear_cent" and m["price_ranges"][0]["step"] == "0.0100"
    assert m["close_time"].endswith("Z") and m["settlement_bounds_type"] == "default"
    r = api.get("/markets/KXNOPE-1")
    assert r.status_code == 404 and r.json()["error"]["code"] == "market_not_found"


def test_orderbook_bids_only_ascending_with_depth(sim: Simulator) -> None:
    t = new_market(sim)
    sim.set_book(t, [(4_300, 5 * C), (4_500, 6 * C), (4_400, 1)], [(5_000, 7 * C), (5_300, 10 * C)])
    api = demo_api(sim)
    ob = api.get(f"/markets/{t}/orderbook", signed=False).json()["orderbook_fp"]
    assert ob["yes_dollars"] == [["0.4300", "5.00"], ["0.4400", "0.01"], ["0.4500", "6.00"]]
    assert ob["no_dollars"] == [["0.5000", "7.00"], ["0.5300", "10.00"]]
    top = api.get(f"/markets/{t}/orderbook", params={"depth": 1}).json()["orderbook_fp"]
    assert top == {"yes_dollars": [["0.4500", "6.00"]], "no_dollars": [["0.5300", "10.00"]]}
    assert api.get(f"/markets/{t}/orderbook", params={"depth": "101"}).status_code == 400
    assert api.get("/markets/KXNOPE-2/orderbook").status_code == 404


def test_public_trades_newest_first(sim: Simulator) -> None:
    t = new_market(sim)
    sim.add_trade(t, 4_600, 3 * C, "yes")
    sim.add_trade(t, 4_500, 2 * C, "no")
    trades = demo_api(sim).get("/markets/trades", params={"ticker": t}).json()["trades"]
    assert [(x["yes_price_dollars"], x["count_fp"], x["taker_outcome_side"], x["taker_book_side"]) for x in trades] == [
        ("0.4500", "2.00", "no", "ask"),
        ("0.4600", "3.00", "yes", "bid"),
    ]
    assert trades[0]["no_price_dollars"] == "0.5500" and trades[0]["is_block_trade"] is False


def test_balance_positions_fills_after_an_ioc_buy(sim: Simulator) -> None:
    api = account_api(sim)
    t = new_market(sim)
    bal = api.get("/portfolio/balance").json()
    assert bal["balance"] == 1_000_000 and bal["balance_dollars"] == "10000.0000"
    assert isinstance(bal["updated_ts"], int) and bal["portfolio_value"] == 0
    r = api.create(t, "bid", "0.50", "5", client_order_id="buy-1")
    assert r.status_code == 201
    body = r.json()
    assert (body["fill_count"], body["remaining_count"], body["client_order_id"]) == ("5.00", "0.00", "buy-1")
    assert body["average_fill_price"] == "0.470000" and body["average_fee_paid"] == "0.017440"
    assert isinstance(body["ts_ms"], int)
    bal = api.get("/portfolio/balance").json()
    assert bal["balance_dollars"] == "9997.5628" and bal["portfolio_value"] == 225  # 5 x $0.45 bid
    pos = api.get("/portfolio/positions").json()
    assert pos["cursor"] == ""
    (mp,) = pos["market_positions"]
    assert (mp["ticker"], mp["position_fp"], mp["market_exposure_dollars"], mp["fees_paid_dollars"]) == (
        t,
        "5.00",
        "2.350000",
        "0.087200",
    )
    assert pos["event_positions"][0]["event_ticker"] == t.rsplit("-", 1)[0]
    (fill,) = api.get("/portfolio/fills").json()["fills"]
    assert (fill["ticker"], fill["book_side"], fill["outcome_side"], fill["count_fp"], fill["is_taker"]) == (
        t,
        "bid",
        "yes",
        "5.00",
        True,
    )
    assert fill["order_id"] == body["order_id"] and fill["fee_cost"] == "0.087200"
    (order,) = api.get("/portfolio/orders").json()["orders"]
    assert order["status"] == "executed" and order["taker_fill_cost_dollars"] == "2.350000"
    one = api.get(f"/portfolio/orders/{body['order_id']}").json()["order"]
    assert one == order
    assert api.get("/portfolio/orders/nope").status_code == 404


def test_positions_filters(sim: Simulator) -> None:
    api = account_api(sim)
    t1, t2 = new_market(sim), new_market(sim)
    sim.seed_position(t1, 3 * C, 4_000, account=api.account)
    sim.seed_position(t2, 2 * C, 4_000, account=api.account)
    api.create(t2, "ask", "0.40", "2")  # closes t2: position 0, total_traded stays
    all_ = api.get("/portfolio/positions").json()["market_positions"]
    assert {p["ticker"] for p in all_} == {t1, t2}
    only = api.get("/portfolio/positions", params={"count_filter": "position"}).json()["market_positions"]
    assert [p["ticker"] for p in only] == [t1]
    one = api.get("/portfolio/positions", params={"ticker": t2}).json()["market_positions"]
    assert one[0]["position_fp"] == "0.00" and one[0]["realized_pnl_dollars"] == "0.100000"
    sim.settle_market(t1, "yes")
    assert t1 not in [p["ticker"] for p in api.get("/portfolio/positions").json()["market_positions"]]
    settled = api.get("/portfolio/positions", params={"settlement_status": "settled"}).json()["market_positions"]
    assert [p["ticker"] for p in settled] == [t1] and settled[0]["realized_pnl_dollars"] == "1.800000"
    assert api.get("/portfolio/positions", params={"settlement_status": "x"}).status_code == 400
    assert api.get("/portfolio/positions", params={"count_filter": "volume"}).status_code == 400


def test_settlements_endpoint(sim: Simulator) -> None:
    api = account_api(sim)
    t = new_market(sim)
    sim.seed_position(t, -4 * C, 5_500, account=api.account)
    sim.settle_market(t, "no")
    (s,) = api.get("/portfolio/settlements").json()["settlements"]
    assert (s["ticker"], s["market_result"], s["no_count_fp"], s["no_total_cost_dollars"], s["revenue"]) == (
        t,
        "no",
        "4.00",
        "2.200000",
        400,
    )
    assert s["yes_count_fp"] == "0.00" and s["value"] == 0 and s["settled_time"].endswith("Z")
    assert api.get("/portfolio/balance").json()["balance"] == 1_000_400


def test_orders_filters_and_pagination(sim: Simulator) -> None:
    api = account_api(sim)
    t1, t2 = new_market(sim), new_market(sim)
    ids = [api.create(t1, "bid", "0.40", "1", "good_till_canceled").json()["order_id"] for _ in range(3)]
    api.create(t2, "bid", "0.47", "1")
    resting = api.get("/portfolio/orders", params={"status": "resting"}).json()["orders"]
    assert [o["order_id"] for o in resting] == ids[::-1]  # newest first
    assert len(api.get("/portfolio/orders", params={"ticker": t2}).json()["orders"]) == 1
    p1 = api.get("/portfolio/orders", params={"limit": 3}).json()
    p2 = api.get("/portfolio/orders", params={"limit": 3, "cursor": p1["cursor"]}).json()
    assert len(p1["orders"]) == 3 and len(p2["orders"]) == 1 and p2["cursor"] == ""
    assert api.get("/portfolio/orders", params={"status": "open"}).status_code == 400
    event = t1.rsplit("-", 1)[0]
    assert len(api.get("/portfolio/orders", params={"event_ticker": event}).json()["orders"]) == 3


def test_fills_filter_by_order_and_ticker(sim: Simulator) -> None:
    api = account_api(sim)
    t1, t2 = new_market(sim), new_market(sim)
    o1 = api.create(t1, "bid", "0.47", "1").json()["order_id"]
    api.create(t2, "bid", "0.47", "2")
    assert [f["order_id"] for f in api.get("/portfolio/fills", params={"order_id": o1}).json()["fills"]] == [o1]
    assert [f["ticker"] for f in api.get("/portfolio/fills", params={"ticker": t2}).json()["fills"]] == [t2]
    both = api.get("/portfolio/fills", params={"ticker": f"{t1},{t2}"}).json()["fills"]
    assert len(both) == 2


def test_resting_order_cancel_amend_decrease(sim: Simulator) -> None:
    api = account_api(sim)
    t = new_market(sim)
    r = api.create(t, "bid", "0.40", "10", "good_till_canceled", client_order_id="rest-1")
    assert r.status_code == 201 and r.json()["remaining_count"] == "10.00"
    oid = r.json()["order_id"]
    ob = api.get(f"/markets/{t}/orderbook").json()["orderbook_fp"]
    assert ["0.4000", "10.00"] in ob["yes_dollars"]
    d = api.post(f"{ORDERS}/{oid}/decrease", {"reduce_by": "4"})
    assert d.status_code == 200 and d.json()["remaining_count"] == "6.00" and d.json()["client_order_id"] == "rest-1"
    a = api.post(f"{ORDERS}/{oid}/amend", {"ticker": t, "side": "bid", "price": "0.42", "count": "8"})
    assert a.status_code == 200 and a.json()["remaining_count"] == "8.00" and a.json()["fill_count"] == "0.00"
    order = api.get(f"/portfolio/orders/{oid}").json()["order"]
    assert (order["yes_price_dollars"], order["remaining_count_fp"], order["status"]) == ("0.4200", "8.00", "resting")
    c = api.delete(f"{ORDERS}/{oid}")
    assert c.status_code == 200 and c.json() == {
        "order_id": oid,
        "client_order_id": "rest-1",
        "reduced_by": "8.00",
        "ts_ms": c.json()["ts_ms"],
    }
    again = api.delete(f"{ORDERS}/{oid}")
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    assert api.post(f"{ORDERS}/{oid}/decrease", {"reduce_by": "1"}).status_code == 404
    bad = api.post(f"{ORDERS}/{oid}/decrease", {"reduce_by": "1", "reduce_to": "1"})
    assert bad.status_code == 400 and "exactly one" in bad.json()["error"]["message"]


def test_cancel_all(sim: Simulator) -> None:
    api = account_api(sim)
    t = new_market(sim)
    for _ in range(3):
        api.create(t, "bid", "0.30", "1", "good_till_canceled")
    r = api.delete(ORDERS)
    assert r.status_code == 204 and r.content == b""
    assert api.get("/portfolio/orders", params={"status": "resting"}).json()["orders"] == []


def test_batch_create_and_cancel_report_per_item_errors(sim: Simulator) -> None:
    api = account_api(sim)
    t = new_market(sim)

    def item(price: str, cid: str, tif: str = "good_till_canceled") -> dict[str, str]:
        return {
            "ticker": t,
            "side": "bid",
            "price": price,
            "count": "1",
            "time_in_force": tif,
            "self_trade_prevention_type": "taker_at_cross",
            "client_order_id": cid,
        }

    r = api.post(f"{ORDERS}/batched", {"orders": [item("0.41", "b1"), item("0.415", "b2"), item("0.42", "b1")]})
    assert r.status_code == 201
    a, b, c = r.json()["orders"]
    assert a["client_order_id"] == "b1" and a["remaining_count"] == "1.00" and "error" not in a
    assert b["error"]["code"] == "invalid_price" and b["client_order_id"] == "b2"
    assert c["error"]["code"] == "order_already_exists"
    r = api.delete(f"{ORDERS}/batched", {"orders": [{"order_id": a["order_id"]}, {"order_id": "missing"}]})
    assert r.status_code == 200
    x, y = r.json()["orders"]
    assert (x["order_id"], x["reduced_by"]) == (a["order_id"], "1.00") and "error" not in x
    assert y["error"]["code"] == "not_found" and y["reduced_by"] == "0.00"
    assert api.post(f"{ORDERS}/batched", {"orders": []}).status_code == 400
    assert api.delete(f"{ORDERS}/batched", {"nothing": 1}).status_code == 400


@pytest.mark.parametrize(
    ("change", "status", "code", "text"),
    [
        ({"price": "0.475"}, 400, "invalid_price", "price grid"),
        ({"price": "1.00"}, 400, "invalid_price", "price grid"),
        ({"price": "abc"}, 400, "invalid_price", "price"),
        ({"price": 0.5}, 400, "missing_parameters", "price"),
        ({"count": 5}, 400, "missing_parameters", "count"),
        ({"count": "1.234"}, 400, "invalid_parameters", "count"),
        ({"count": "-1"}, 400, "invalid_parameters", "count"),
        ({"side": "buy"}, 400, "invalid_parameters", "side"),
        ({"time_in_force": "day"}, 400, "invalid_parameters", "time_in_force"),
        ({"self_trade_prevention_type": None}, 400, "missing_parameters", "self_trade_prevention_type"),
        ({"reduce_only": True, "time_in_force": "good_till_canceled"}, 400, "invalid_order", "reduce_only"),
        ({"reduce_only": "yes"}, 400, "invalid_parameters", "reduce_only"),
        ({"ticker": "KXNOPE-9"}, 404, "market_not_found", "KXNOPE-9"),
        ({"subaccount": 3}, 400, "invalid_parameters", "subaccount"),
    ],
)
def test_bad_orders_get_clear_errors(
    sim: Simulator, change: dict[str, object], status: int, code: str, text: str
) -> None:
    api = demo_api(sim)
    t = new_market(sim)
    body: dict[str, object] = {
        "ticker": t,
        "side": "bid",
        "price": "0.47",
        "count": "1",
        "time_in_force": "immediate_or_cancel",
        "self_trade_prevention_type": "taker_at_cross",
    }
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    r = api.post(ORDERS, body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and text in err["message"]


def test_body_that_is_not_json_is_400(sim: Simulator) -> None:
    api = demo_api(sim)
    r = api.post(ORDERS, b"{not json")
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    r = api.post(ORDERS, b"")
    assert r.status_code == 400


def test_duplicate_client_order_id_is_409(sim: Simulator) -> None:
    api = account_api(sim)
    t = new_market(sim)
    assert api.create(t, client_order_id="dup-1").status_code == 201
    r = api.create(t, client_order_id="dup-1")
    assert r.status_code == 409 and r.json()["error"]["code"] == "order_already_exists"


def test_insufficient_balance_is_400(sim: Simulator) -> None:
    api = account_api(sim)
    sim.set_balance(1, account=api.account)
    t = new_market(sim)
    r = api.create(t, "bid", "0.47", "3")
    assert r.status_code == 400 and r.json()["error"]["code"] == "insufficient_balance"


def test_legacy_v1_create_and_cancel(sim: Simulator) -> None:
    api = account_api(sim)
    t = new_market(sim)
    body = {
        "ticker": t,
        "side": "no",
        "action": "buy",
        "count": 2,
        "no_price": 55,
        "time_in_force": "immediate_or_cancel",
    }
    r = api.post("/portfolio/orders", body)
    assert r.status_code == 201
    o = r.json()["order"]
    # buy NO at 0.55 = sell YES at 0.45: hits the YES bid
    assert (o["side"], o["action"], o["book_side"], o["status"], o["fill_count_fp"]) == (
        "no",
        "buy",
        "ask",
        "executed",
        "2.00",
    )
    assert o["yes_price_dollars"] == "0.4500"
    pos = api.get("/portfolio/positions", params={"ticker": t}).json()["market_positions"][0]
    assert pos["position_fp"] == "-2.00"
    rest = api.post(
        "/portfolio/orders",
        {"ticker": t, "side": "yes", "action": "buy", "count_fp": "3.00", "yes_price_dollars": "0.30"},
    ).json()["order"]
    assert rest["status"] == "resting" and rest["client_order_id"] == ""
    c = api.delete(f"/portfolio/orders/{rest['order_id']}")
    assert c.status_code == 200 and c.json()["reduced_by"] == 3 and c.json()["reduced_by_fp"] == "3.00"
    assert c.json()["order"]["status"] == "canceled"
    bad = api.post("/portfolio/orders", {**body, "type": "market"})
    assert bad.status_code == 400 and "market orders" in bad.json()["error"]["message"]
    bad = api.post("/portfolio/orders", {**body, "yes_price": 40})
    assert bad.status_code == 400 and "exactly one" in bad.json()["error"]["message"]


def test_unknown_endpoint_and_method_get_kalshi_error_bodies(sim: Simulator) -> None:
    api = demo_api(sim)
    r = api.get("/no/such/thing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = api.request("PUT", "/markets")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_token_bucket_answers_429_with_kalshis_body() -> None:
    with Simulator(rate_limits=RateLimits(read_per_s=30, write_per_s=10, cost=10)) as s:
        api = demo_api(s)
        codes = [api.get("/portfolio/balance").status_code for _ in range(6)]
        assert codes[:3] == [200, 200, 200] and 429 in codes
        r = api.get("/portfolio/balance")
        if r.status_code != 429:
            r = api.get("/portfolio/balance")
        assert r.status_code == 429 and r.json() == {"error": "too many requests"}
        assert "Retry-After" not in r.headers


def test_rate_limiter_refills_over_time() -> None:
    now = [0.0]
    lim = RateLimiter(RateLimits(read_per_s=20, write_per_s=10, cost=10), clock=lambda: now[0])
    assert [lim.allow("k", False) for _ in range(3)] == [True, True, False]
    assert [lim.allow("k", True) for _ in range(3)] == [True, True, False]  # write bucket: 2 s of budget
    assert lim.allow("other", False)  # per key
    now[0] += 0.5
    assert lim.allow("k", False) and not lim.allow("k", False)
    assert lim.rejected == 3
