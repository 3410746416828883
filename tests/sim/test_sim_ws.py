"""The simulator's WebSocket API with ``websocket-client``: every command, every error code it implements, every
channel, sequence numbers, heartbeats, legacy frames and the outbound buffer limit."""

from __future__ import annotations

import json
from typing import Any

import pytest
import websocket
from sim_testkit import C, Ws, account_api, demo_api, new_market

from kalshikit.core.events import BookDelta, BookSnapshot, OrderUpdate, PositionUpdate, Quote
from kalshikit.core.events import Fill as FillEvent
from kalshikit.core.events import Trade as TradeEvent
from kalshikit.kalshi.messages import FrameDecoder
from kalshikit.sim import Simulator
from tests.conftest import scaled


@pytest.fixture
def ws(sim: Simulator) -> Any:
    with demo_api(sim).ws() as w:
        yield w


def _error(ws: Ws, cid: int) -> dict[str, Any]:
    f = ws.expect_type("error", id=cid)
    return dict(f["msg"])


# ---------------------------------------------------------------------------- commands and error codes
def test_subscribe_replies_once_per_channel_with_new_sids(ws: Ws, sim: Simulator) -> None:
    t = new_market(sim)
    sids = ws.subscribe(["ticker", "trade", "orderbook_delta"], [t])
    assert len(set(sids)) == 3 and sids == sorted(sids)
    more = ws.subscribe(["ticker"], [t])
    assert more[0] > sids[-1]
    cid = ws.cmd("list_subscriptions")
    ok = ws.expect_type("ok", id=cid)
    assert ok["msg"] == [
        {"channel": "ticker", "sid": sids[0]},
        {"channel": "trade", "sid": sids[1]},
        {"channel": "orderbook_delta", "sid": sids[2]},
        {"channel": "ticker", "sid": more[0]},
    ]


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ({"cmd": "subscribe"}, 2),
        ({"cmd": "subscribe", "params": {}}, 3),
        ({"cmd": "subscribe", "params": {"channels": []}}, 3),
        ({"cmd": "subscribe", "params": {"channels": ["ticker", "nope"]}}, 8),
        ({"cmd": "subscribe", "params": {"channels": ["ticker_v2"]}}, 8),
        ({"cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}}, 14),
        ({"cmd": "subscribe", "params": {"channels": ["ticker"], "market_ticker": "A", "market_tickers": ["B"]}}, 11),
        ({"cmd": "subscribe", "params": {"channels": ["ticker"], "market_tickers": "A"}}, 11),
        ({"cmd": "unsubscribe"}, 2),
        ({"cmd": "unsubscribe", "params": {"sids": []}}, 4),
        ({"cmd": "unsubscribe", "params": {"sids": [987654]}}, 7),
        ({"cmd": "update_subscription"}, 2),
        ({"cmd": "update_subscription", "params": {"action": "add_markets"}}, 12),
        ({"cmd": "update_subscription", "params": {"sids": [1, 2], "action": "add_markets"}}, 12),
        ({"cmd": "update_subscription", "params": {"sid": 1, "sids": [1], "action": "add_markets"}}, 12),
        ({"cmd": "update_subscription", "params": {"sid": 987654, "action": "add_markets"}}, 7),
        ({"cmd": "fly"}, 5),
        ({}, 5),
    ],
)
def test_error_codes(ws: Ws, command: dict[str, Any], code: int) -> None:
    ws.send({"id": 77, **command})
    err = _error(ws, 77)
    assert err["code"] == code and err["msg"]


def test_not_json_is_error_1(ws: Ws) -> None:
    ws.send("this is not json")
    err = ws.expect_type("error")
    assert err["msg"]["code"] == 1 and err["id"] == 0


def test_update_subscription_action_errors(ws: Ws, sim: Simulator) -> None:
    t = new_market(sim)
    (tick,) = ws.subscribe(["ticker"], [t])
    cid = ws.cmd("update_subscription", {"sid": tick})
    assert _error(ws, cid)["code"] == 15
    cid = ws.cmd("update_subscription", {"sid": tick, "action": "get_snapshot"})
    assert _error(ws, cid)["code"] == 13
    cid = ws.cmd("update_subscription", {"sid": tick, "action": "add_markets"})
    assert _error(ws, cid)["code"] == 14
    (everything,) = ws.subscribe(["ticker"])
    cid = ws.cmd("update_subscription", {"sid": everything, "action": "add_markets", "market_tickers": [t]})
    assert _error(ws, cid)["code"] == 11


def test_update_subscription_add_delete_and_get_snapshot(ws: Ws, sim: Simulator) -> None:
    t1, t2, t3 = new_market(sim), new_market(sim), new_market(sim)
    (sid,) = ws.subscribe(["orderbook_delta"], [t1])
    snap = ws.expect_type("orderbook_snapshot", sid=sid, market_ticker=t1)
    assert snap["seq"] == 1
    cid = ws.cmd("update_subscription", {"sids": [sid], "action": "add_markets", "market_tickers": [t2, t3]})
    s2 = ws.expect_type("orderbook_snapshot", sid=sid, market_ticker=t2)
    s3 = ws.expect_type("orderbook_snapshot", sid=sid, market_ticker=t3)
    ok = ws.expect_type("ok", id=cid)
    assert (ok["seq"], s2["seq"], s3["seq"]) == (2, 3, 4)  # as on Kalshi: the ok takes a seq, then the snapshots
    assert ok["sid"] == sid and ok["msg"]["market_tickers"] == sorted([t1, t2, t3])
    cid = ws.cmd("update_subscription", {"sid": sid, "action": "delete_markets", "market_ticker": t1})
    ok = ws.expect_type("ok", id=cid)
    assert ok["msg"]["market_tickers"] == sorted([t2, t3])
    cid = ws.cmd("update_subscription", {"sid": sid, "action": "get_snapshot", "market_tickers": [t2]})
    again = ws.expect_type("orderbook_snapshot", sid=sid, id=cid)
    assert again["seq"] == 6 and again["msg"]["market_ticker"] == t2  # after the delete_markets ok (seq 5)
    # a deleted market sends nothing any more
    sim.set_quote(t1, 4_000, 4_200, 5 * C, 5 * C)
    sim.set_quote(t2, 4_000, 4_200, 5 * C, 5 * C)
    frames = ws.sync()
    tickers = {f["msg"]["market_ticker"] for f in frames if f.get("type") == "orderbook_delta"}
    assert tickers == {t2}


def test_unsubscribe_one_reply_per_sid_with_seq_and_then_silence(ws: Ws, sim: Simulator) -> None:
    t = new_market(sim)
    tick, book = ws.subscribe(["ticker", "orderbook_delta"], [t])
    ws.expect_type("orderbook_snapshot", sid=book)
    cid = ws.cmd("unsubscribe", {"sids": [tick, book, 424242]})
    u1 = ws.expect_type("unsubscribed", sid=tick)
    u2 = ws.expect_type("unsubscribed", sid=book)
    assert (u1["id"], u1["seq"], u2["seq"]) == (cid, 0, 1)
    assert _error(ws, cid)["code"] == 7
    sim.set_quote(t, 4_100, 4_900)
    assert [f for f in ws.sync() if f.get("type") in ("ticker", "orderbook_delta")] == []


# ---------------------------------------------------------------------------- channels
def test_ticker_frames_are_current_format_without_seq(ws: Ws, sim: Simulator) -> None:
    t = new_market(sim)
    (sid,) = ws.subscribe(["ticker"], [t])
    sim.set_quote(t, 4_400, 4_650, 3 * C, 7 * C, last=4_500, volume=1_000 * C, open_interest=300 * C)
    f = ws.expect_type("ticker", sid=sid)
    assert "seq" not in f and "id" not in f
    m = f["msg"]
    assert (m["market_ticker"], m["yes_bid_dollars"], m["yes_ask_dollars"], m["price_dollars"]) == (
        t,
        "0.4400",
        "0.4650",
        "0.4500",
    )
    assert (m["yes_bid_size_fp"], m["yes_ask_size_fp"], m["volume_fp"], m["open_interest_fp"]) == (
        "3.00",
        "7.00",
        "1000.00",
        "300.00",
    )
    assert isinstance(m["ts_ms"], int) and isinstance(m["ts"], int) and m["time"].endswith("Z")
    assert m["dollar_volume"] == 450 and m["dollar_open_interest"] == 135 and m["market_id"]
    q = FrameDecoder().decode(ws.raw[-1])
    assert isinstance(q, Quote) and (q.yes_bid, q.yes_ask, q.yes_bid_size, q.last) == (4_400, 4_650, 3 * C, 4_500)


def test_ticker_empty_sides_and_initial_snapshot(ws: Ws, sim: Simulator) -> None:
    t = new_market(sim, bid=None, ask=None)
    (sid,) = ws.subscribe(["ticker"], [t], send_initial_snapshot=True)
    m = ws.expect_type("ticker", sid=sid)["msg"]
    assert (m["yes_bid_dollars"], m["yes_ask_dollars"], m["price_dollars"]) == ("0.0000", "1.0000", "0.0000")
    q = FrameDecoder().decode(ws.raw[-1])
    assert isinstance(q, Quote) and q.yes_bid is None and q.yes_ask is None


def test_all_market_ticker_subscription_sees_every_market_and_filters_do_not(sim: Simulator) -> None:
    api = demo_api(sim)
    t1, t2 = new_market(sim), new_market(sim)
    with api.ws() as a, api.ws() as b:
        (sa,) = a.subscribe(["ticker"])
        b.subscribe(["ticker"], [t1])
        sim.set_quote(t2, 4_000, 4_100)
        sim.set_quote(t1, 4_000, 4_100)
        assert a.expect_type("ticker", sid=sa, market_ticker=t2) and a.expect_type("ticker", sid=sa, market_ticker=t1)
        seen = {f["msg"]["market_ticker"] for f in b.sync() if f.get("type") == "ticker"}
        assert seen == {t1}


def test_orderbook_snapshot_then_sequenced_deltas_that_rebuild_the_book(ws: Ws, sim: Simulator) -> None:
    t = new_market(sim)
    sim.set_book(t, [(4_400, 5 * C), (4_500, 10 * C)], [(5_300, 20 * C)])
    (sid,) = ws.subscribe(["orderbook_delta"], [t])
    snap = ws.expect_type("orderbook_snapshot", sid=sid)
    assert snap["seq"] == 1
    assert snap["msg"]["yes_dollars_fp"] == [["0.4400", "5.00"], ["0.4500", "10.00"]]
    assert snap["msg"]["no_dollars_fp"] == [["0.5300", "20.00"]]
    dec = FrameDecoder()
    book = dec.decode(json.dumps(snap))
    assert isinstance(book, BookSnapshot)
    levels = {"yes": dict(book.yes), "no": dict(book.no)}
    sim.set_book(t, [(4_500, 12 * C)], [(5_300, 20 * C), (5_400, 1 * C)])
    api = demo_api(sim)
    api.create(t, "bid", "0.41", "3", "good_till_canceled")  # a resting order shows in the book
    frames = [f for f in ws.sync() if f.get("type") == "orderbook_delta"]
    assert [f["seq"] for f in frames] == list(range(2, 2 + len(frames)))
    for f in frames:
        d = dec.decode(json.dumps(f))
        assert isinstance(d, BookDelta)
        side = levels[d.side]
        side[d.price] = side.get(d.price, 0) + d.delta
        if side[d.price] == 0:
            del side[d.price]
    assert levels == {"yes": {4_100: 3 * C, 4_500: 12 * C}, "no": {5_300: 20 * C, 5_400: 1 * C}}
    assert api.get(f"/markets/{t}/orderbook").json()["orderbook_fp"]["yes_dollars"] == [
        ["0.4100", "3.00"],
        ["0.4500", "12.00"],
    ]


def test_empty_book_side_is_omitted_from_the_snapshot(ws: Ws, sim: Simulator) -> None:
    t = new_market(sim, bid=4_500, ask=None)
    (sid,) = ws.subscribe(["orderbook_delta"], [t])
    msg = ws.expect_type("orderbook_snapshot", sid=sid)["msg"]
    assert "no_dollars_fp" not in msg and msg["yes_dollars_fp"] == [["0.4500", "10.00"]]


def test_trade_channel_is_sequenced(ws: Ws, sim: Simulator) -> None:
    t = new_market(sim)
    (sid,) = ws.subscribe(["trade"], [t])
    sim.add_trade(t, 4_600, 2 * C, "yes")
    demo_api(sim).create(t, "ask", "0.45", "1")  # our own taker trade is public too
    a = ws.expect_type("trade", sid=sid, seq=1)
    b = ws.expect_type("trade", sid=sid, seq=2)
    assert (a["msg"]["yes_price_dollars"], a["msg"]["taker_outcome_side"], a["msg"]["count_fp"]) == (
        "0.4600",
        "yes",
        "2.00",
    )
    assert (b["msg"]["yes_price_dollars"], b["msg"]["taker_book_side"]) == ("0.4500", "ask")
    ev = FrameDecoder().decode(json.dumps(a))
    assert isinstance(ev, TradeEvent) and (ev.yes_price, ev.count, ev.taker_side) == (4_600, 2 * C, "yes")


def test_private_channels_reach_only_the_owning_account(sim: Simulator) -> None:
    alice, bob = account_api(sim), account_api(sim)
    t = new_market(sim)
    with alice.ws() as wa, bob.ws() as wb:
        fa, oa, pa = wa.subscribe(["fill", "user_orders", "market_positions"])
        wb.subscribe(["fill", "user_orders", "market_positions"])
        r = alice.create(t, "bid", "0.47", "2", client_order_id="alice-1")
        oid = r.json()["order_id"]
        fill = wa.expect_type("fill", sid=fa)["msg"]
        assert (fill["order_id"], fill["client_order_id"], fill["count_fp"], fill["post_position_fp"]) == (
            oid,
            "alice-1",
            "2.00",
            "2.00",
        )
        assert (fill["book_side"], fill["outcome_side"], fill["is_taker"], fill["fee_cost"]) == (
            "bid",
            "yes",
            True,
            "0.034900",
        )
        order = wa.expect_type("user_order", sid=oa)["msg"]
        assert (order["status"], order["fill_count_fp"], order["remaining_count_fp"]) == ("executed", "2.00", "0.00")
        assert order["last_update_reason"] == "Trade"
        pos = wa.expect_type("market_position", sid=pa)["msg"]
        assert (pos["position_fp"], pos["position_cost_dollars"], pos["market_ticker"]) == ("2.00", "0.940000", t)
        # the kit's own decoder reads all three
        dec = FrameDecoder()
        evs = [dec.decode(raw) for raw in wa.raw]
        f_ev = next(e for e in evs if isinstance(e, FillEvent))
        o_ev = next(e for e in evs if isinstance(e, OrderUpdate))
        p_ev = next(e for e in evs if isinstance(e, PositionUpdate))
        assert (f_ev.order_id, f_ev.count, f_ev.yes_price, f_ev.fee, f_ev.post_position) == (
            oid,
            200,
            4_700,
            34_900,
            200,
        )
        assert (o_ev.status, o_ev.fill_count, o_ev.client_order_id) == ("executed", 200, "alice-1")
        assert (p_ev.position, p_ev.cost) == (200, 940_000)
        assert [f for f in wb.sync() if f.get("type") in ("fill", "user_order", "market_position")] == []


def test_private_channel_market_filter(sim: Simulator) -> None:
    api = account_api(sim)
    t1, t2 = new_market(sim), new_market(sim)
    with api.ws() as w:
        (sid,) = w.subscribe(["fill"], [t1])
        api.create(t2, "bid", "0.47", "1")
        api.create(t1, "bid", "0.47", "1")
        fills = [f for f in w.sync() if f.get("type") == "fill"]
        assert [f["msg"]["market_ticker"] for f in fills] == [t1] and fills[0]["sid"] == sid


def test_user_order_lifecycle_of_a_resting_order(sim: Simulator) -> None:
    api = account_api(sim)
    t = new_market(sim)
    with api.ws() as w:
        (sid,) = w.subscribe(["user_orders"], [t])
        oid = api.create(t, "bid", "0.46", "4", "good_till_canceled").json()["order_id"]
        assert w.expect_type("user_order", sid=sid)["msg"]["status"] == "resting"
        sim.set_quote(t, 4_400, 4_600, 5 * C, 1 * C)  # the tape's ask comes down to our bid: 1 fills
        u = w.expect_type("user_order", sid=sid)["msg"]
        assert (u["fill_count_fp"], u["remaining_count_fp"], u["maker_fill_cost_dollars"]) == (
            "1.00",
            "3.00",
            "0.460000",
        )
        api.delete(f"/portfolio/events/orders/{oid}")
        u = w.expect_type("user_order", sid=sid)["msg"]
        assert (u["status"], u["remaining_count_fp"]) == ("canceled", "0.00")


def test_market_lifecycle_channel(ws: Ws, sim: Simulator) -> None:
    (sid,) = ws.subscribe(["market_lifecycle_v2"])
    t = new_market(sim)
    created = ws.expect_type("market_lifecycle_v2", sid=sid, market_ticker=t, event_type="created")
    assert created["msg"]["price_level_structure"] == "linear_cent" and isinstance(created["msg"]["close_ts"], int)
    assert created["msg"]["additional_metadata"]["event_ticker"] == t.rsplit("-", 1)[0]
    sim.pause_market(t)
    paused = ws.expect_type("market_lifecycle_v2", sid=sid, market_ticker=t, event_type="deactivated")
    assert paused["msg"]["is_deactivated"] is True
    sim.resume_market(t)
    ws.expect_type("market_lifecycle_v2", sid=sid, market_ticker=t, event_type="deactivated")
    sim.determine_market(t, "no")
    det = ws.expect_type("market_lifecycle_v2", sid=sid, market_ticker=t, event_type="determined")
    assert (det["msg"]["result"], det["msg"]["settlement_value"]) == ("no", "0.0000")
    sim.settle_market(t)
    settled = ws.expect_type("market_lifecycle_v2", sid=sid, market_ticker=t, event_type="settled")
    assert settled["seq"] > det["seq"] > created["seq"]


# ---------------------------------------------------------------------------- connection level
def test_heartbeat_ping_carries_heartbeat_and_client_pings_get_pongs() -> None:
    with Simulator(heartbeat_s=0.1) as s:
        w = websocket.create_connection(s.ws_url, header=s.signer().headers("GET", s.ws_url), timeout=scaled(5))
        try:
            opcode, frame = w.recv_data_frame(control_frame=True)
            assert opcode == websocket.ABNF.OPCODE_PING and frame.data == b"heartbeat"
            w.ping("hello")
            while True:
                opcode, frame = w.recv_data_frame(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_PONG:
                    assert frame.data == b"hello"
                    break
        finally:
            w.close()


def test_legacy_frames_carry_the_integer_fields_too() -> None:
    with Simulator(legacy_frames=True) as s:
        t = new_market(s)
        with demo_api(s).ws() as w:
            (sid,) = w.subscribe(["ticker", "orderbook_delta"], [t])[:1]
            s.set_quote(t, 4_400, 4_650, 3 * C, 7 * C, last=4_500)
            m = w.expect_type("ticker", sid=sid)["msg"]
            assert (m["yes_bid"], m["yes_ask"], m["price"]) == (44, 46, 45) and m["yes_bid_dollars"] == "0.4400"
            snap = w.expect_type("orderbook_snapshot")["msg"]
            assert snap["yes"] == [[45, 10]] and snap["yes_dollars_fp"] == [["0.4500", "10.00"]]


def test_outbound_buffer_overflow_ends_subscriptions_with_error_25() -> None:
    with Simulator(ws_buffer_frames=50) as s:
        t = new_market(s)
        with demo_api(s).ws() as w:
            (sid,) = w.subscribe(["ticker"], [t])

            def burst(ex: Any) -> None:
                for i in range(200):
                    ex.apply_quote(Quote(t, 4_000 + (i % 5) * 100, 4_600, 1 * C, 1 * C))

            s.call(burst)
            err = w.expect_type("error", sid=sid)
            assert err["msg"]["code"] == 25
            cid = w.cmd("list_subscriptions")
            assert w.expect_type("ok", id=cid)["msg"] == []


def test_ticker_send_times_are_recorded(ws: Ws, sim: Simulator) -> None:
    t = new_market(sim)
    (sid,) = ws.subscribe(["ticker"], [t])
    sim.set_quote(t, 4_000, 4_100)
    ws.expect_type("ticker", sid=sid)
    sent = sim.last_ticker_sent(t)
    assert sent is not None and sent[0] > 0 and sent[1] > 1_700_000_000 * 10**9


def test_tick_to_exit_latency_can_be_measured(sim: Simulator) -> None:
    """A client reacts to a ticker frame with an order; the simulator knows both times (same clocks)."""
    api = account_api(sim)
    t = new_market(sim)
    with api.ws() as w:
        (sid,) = w.subscribe(["ticker"], [t])
        sim.set_quote(t, 4_000, 4_200, 5 * C, 5 * C)
        w.expect_type("ticker", sid=sid, yes_bid_dollars="0.4000")
        api.create(t, "ask", "0.40", "1", client_order_id="exit-" + t)
    entry = next(e for e in sim.order_log() if e.client_order_id == "exit-" + t)
    sent = sim.last_ticker_sent(t, before_perf_ns=entry.recv_perf_ns)
    assert sent is not None and entry.status == 201
    assert entry.recv_perf_ns > sent[0] and entry.recv_wall_ns > sent[1]  # the frame came first, on both clocks
    # the exit traded, so a newer ticker frame went out after the order arrived
    last = sim.last_ticker_sent(t)
    assert last is not None and last[0] > entry.recv_perf_ns
    assert sim.ticker_send_times(t)[-1] == last and len(sim.ticker_send_times(t)) >= 2
