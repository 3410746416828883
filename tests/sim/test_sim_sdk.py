"""Conformance: Kalshi's official SDK (``kalshi_python_sync``, strict pydantic models) against the simulator.

Every call below deserializes the simulator's answer into the SDK's generated models, so a missing required field
or a wrong type fails here.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sim_testkit import C, new_market

from kalshikit.sim import Simulator

pytestmark = pytest.mark.sdk

kalshi = pytest.importorskip("kalshi_python_sync")


@pytest.fixture(scope="module")
def client(sim: Simulator) -> Any:
    account = "sdk-" + uuid.uuid4().hex[:8]
    key = sim.create_key(account=account)
    config = kalshi.Configuration(host=sim.rest_url)
    config.api_key_id = key.key_id
    config.private_key_pem = key.private_key_path.read_text()
    c = kalshi.KalshiClient(config)
    c.sim_account = account
    return c


def test_exchange_status(client: Any) -> None:
    st = client.get_exchange_status()
    assert st.exchange_active is True and st.trading_active is True


def test_markets_and_one_market(client: Any, sim: Simulator) -> None:
    event = "KXSDK" + uuid.uuid4().hex[:6].upper() + "-26DEC31"
    t = new_market(sim, event=event)
    resp = client.get_markets(event_ticker=event, limit=10)
    assert [m.ticker for m in resp.markets] == [t] and resp.cursor == ""
    m = client.get_market(t).market
    assert (m.ticker, m.status, m.yes_bid_dollars, m.yes_ask_dollars) == (t, "active", "0.4500", "0.4700")
    assert m.price_ranges[0].step == "0.0100" and m.close_time.year >= 2026


def test_orderbook(client: Any, sim: Simulator) -> None:
    t = new_market(sim)
    ob = client.get_market_orderbook(t).orderbook_fp
    assert ob.yes_dollars == [["0.4500", "10.00"]] and ob.no_dollars == [["0.5300", "20.00"]]


def test_trades(client: Any, sim: Simulator) -> None:
    t = new_market(sim)
    sim.add_trade(t, 4_600, 2 * C, "yes")
    trades = client.get_trades(ticker=t).trades
    assert [(x.yes_price_dollars, x.taker_book_side) for x in trades] == [("0.4600", "bid")]


def test_balance(client: Any) -> None:
    b = client.get_balance()
    assert isinstance(b.balance, int) and b.balance_dollars.startswith(str(b.balance // 100))


def test_create_order_v2_fills_and_shows_in_positions_orders_fills(client: Any, sim: Simulator) -> None:
    t = new_market(sim)
    cid = "sdk-" + uuid.uuid4().hex[:8]
    r = client.create_order_v2(
        ticker=t,
        side="bid",
        count="3",
        price="0.50",
        time_in_force="immediate_or_cancel",
        self_trade_prevention_type="taker_at_cross",
        client_order_id=cid,
    )
    assert (r.fill_count, r.remaining_count, r.client_order_id, r.average_fill_price) == (
        "3.00",
        "0.00",
        cid,
        "0.470000",
    )
    pos = client.get_positions(ticker=t)
    assert [(p.ticker, p.position_fp) for p in pos.market_positions] == [(t, "3.00")]
    assert pos.event_positions[0].event_ticker == t.rsplit("-", 1)[0]
    orders = client.get_orders(ticker=t).orders
    assert [(o.order_id, o.status, o.book_side, o.outcome_side) for o in orders] == [
        (r.order_id, "executed", "bid", "yes")
    ]
    assert client.get_order(r.order_id).order.client_order_id == cid
    fills = client.get_fills(ticker=t).fills
    assert [(f.order_id, f.count_fp, f.is_taker) for f in fills] == [(r.order_id, "3.00", True)]


def test_resting_order_amend_decrease_cancel(client: Any, sim: Simulator) -> None:
    t = new_market(sim)
    r = client.create_order_v2(
        ticker=t,
        side="ask",
        count="4",
        price="0.60",
        time_in_force="good_till_canceled",
        self_trade_prevention_type="maker",
    )
    assert r.remaining_count == "4.00"
    a = client.amend_order_v2(r.order_id, ticker=t, side="ask", price="0.58", count="5")
    assert a.remaining_count == "5.00"
    d = client.decrease_order_v2(r.order_id, reduce_by="2")
    assert d.remaining_count == "3.00"
    resting = client.get_orders(ticker=t, status="resting").orders
    assert [(o.order_id, o.yes_price_dollars) for o in resting] == [(r.order_id, "0.5800")]
    c = client.cancel_order_v2(r.order_id)
    assert (c.order_id, c.reduced_by) == (r.order_id, "3.00")


def test_batch_create_and_cancel(client: Any, sim: Simulator) -> None:
    t = new_market(sim)
    item = {
        "ticker": t,
        "side": "bid",
        "count": "1",
        "price": "0.40",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
    }
    created = client.batch_create_orders_v2(orders=[item, {**item, "price": "0.41"}]).orders
    assert all(o.order_id and o.error is None for o in created)
    canceled = client.batch_cancel_orders_v2(orders=[{"order_id": o.order_id} for o in created]).orders
    assert [o.reduced_by for o in canceled] == ["1.00", "1.00"]


def test_settlements_and_settled_positions(client: Any, sim: Simulator) -> None:
    t = new_market(sim)
    sim.seed_position(t, 2 * C, 3_000, account=client.sim_account)
    sim.settle_market(t, "yes")
    s = client.get_settlements(ticker=t).settlements
    assert [(x.ticker, x.market_result, x.revenue) for x in s] == [(t, "yes", 200)]
    settled = client.get_positions(ticker=t, settlement_status="settled").market_positions
    assert settled[0].realized_pnl_dollars == "1.400000"


def test_sdk_errors_map_to_its_exceptions(client: Any, sim: Simulator) -> None:
    with pytest.raises(kalshi.NotFoundException):
        client.get_market("KXNOPE-404")
    t = new_market(sim)
    with pytest.raises(kalshi.BadRequestException) as info:
        client.create_order_v2(
            ticker=t,
            side="bid",
            count="1",
            price="0.475",
            time_in_force="immediate_or_cancel",
            self_trade_prevention_type="taker_at_cross",
        )
    assert "invalid_price" in str(info.value.body)
