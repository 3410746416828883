"""Fault injection: REST errors, reply latency, order replies that come late or never, and WebSocket drops,
freezes, sequence gaps and malformed frames (one-shot and periodic)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
import requests
import websocket
from sim_testkit import ORDERS, C, account_api, demo_api, new_market

from kalshikit.kalshi.messages import FrameDecoder, Malformed
from kalshikit.sim import Faults, Simulator
from kalshikit.sim.faults import parse_rest_errors
from tests.conftest import eventually


@pytest.fixture(autouse=True)
def _clean(sim: Simulator) -> Iterator[None]:
    sim.faults.clear()
    yield
    sim.faults.clear()
    sim.faults.unfreeze()


def test_rest_errors_429_and_5xx_have_kalshis_bodies_and_are_consumed(sim: Simulator) -> None:
    api = demo_api(sim)
    sim.faults.rest_errors(429, 2)
    for _ in range(2):
        r = api.get("/exchange/status")
        assert r.status_code == 429 and r.json() == {"error": "too many requests"}
    assert api.get("/exchange/status").status_code == 200
    sim.faults.rest_errors(503)
    r = api.get("/portfolio/balance")
    assert r.status_code == 503 and r.json()["error"]["code"] == "service_unavailable"
    assert api.get("/portfolio/balance").status_code == 200


def test_rest_errors_only_hit_the_given_path_prefix(sim: Simulator) -> None:
    api = demo_api(sim)
    t = new_market(sim)
    sim.faults.rest_errors(500, 1, path_prefix=ORDERS)
    assert api.get("/portfolio/balance").status_code == 200
    r = api.create(t)
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_server_error"
    assert api.create(t).status_code == 201
    assert sim.faults.injected["rest_error"] >= 1


def test_injected_error_comes_before_the_order_executes(sim: Simulator) -> None:
    api = account_api(sim)
    t = new_market(sim)
    sim.faults.rest_errors(503, 1, path_prefix=ORDERS)
    assert api.create(t, client_order_id="never-placed").status_code == 503
    assert api.get("/portfolio/orders", params={"ticker": t}).json()["orders"] == []
    log = [e for e in sim.order_log() if e.path.endswith(ORDERS) and e.status == 503]
    assert log and log[-1].recv_perf_ns > 0


def test_latency_delays_replies(sim: Simulator) -> None:
    api = demo_api(sim)
    sim.faults.latency_ms = 300
    t0 = time.monotonic()
    assert api.get("/exchange/status").status_code == 200
    assert time.monotonic() - t0 >= 0.3
    with pytest.raises(ValueError):
        sim.faults.latency_ms = -1


def test_hang_orders_executes_but_replies_after_the_clients_timeout(sim: Simulator) -> None:
    api = account_api(sim)
    t = new_market(sim)
    sim.faults.hang_orders(1, delay_s=1.0)
    with pytest.raises(requests.Timeout):
        api.create(t, "bid", "0.47", "2", client_order_id="late-1", timeout=0.3)
    orders = api.get("/portfolio/orders", params={"ticker": t}).json()["orders"]
    assert [(o["client_order_id"], o["status"], o["fill_count_fp"]) for o in orders] == [("late-1", "executed", "2.00")]
    # a retry with the same client_order_id is refused: the first attempt got through
    assert api.create(t, "bid", "0.47", "2", client_order_id="late-1").status_code == 409


def test_hang_orders_can_never_reply(sim: Simulator) -> None:
    api = account_api(sim)
    t = new_market(sim)
    sim.faults.hang_orders(1)
    with pytest.raises((requests.Timeout, requests.ConnectionError)):
        api.create(t, client_order_id="lost-1", timeout=0.5)
    assert api.get("/portfolio/orders", params={"ticker": t}).json()["orders"][0]["client_order_id"] == "lost-1"
    assert api.create(t).status_code == 201  # only one order was swallowed
    entry = next(e for e in sim.order_log() if e.client_order_id == "lost-1")
    assert entry.status == 0 and entry.order_ids


def test_ws_drop_connections_now(sim: Simulator) -> None:
    w = demo_api(sim).ws()
    w.subscribe(["ticker"])
    assert sim.faults.drop_connections() >= 1
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError, OSError)):
        w.sock.settimeout(5)
        while True:
            w.sock.recv()
    assert sim.faults.injected["drop"] >= 1


def test_ws_drop_every_n_seconds() -> None:
    with Simulator() as s:
        s.faults.drop_every_s = 0.2
        w = demo_api(s).ws()
        w.sock.settimeout(5)
        t0 = time.monotonic()
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError, OSError)):
            while True:
                w.sock.recv()
        assert time.monotonic() - t0 < 3
        w2 = demo_api(s).ws()  # reconnecting works, and it is dropped again
        w2.sock.settimeout(5)
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError, OSError)):
            while True:
                w2.sock.recv()


def test_ws_freeze_sends_nothing_not_even_pings_until_unfrozen() -> None:
    with Simulator(heartbeat_s=0.05) as s:
        t = new_market(s)
        w = demo_api(s).ws()
        (sid,) = w.subscribe(["ticker"], [t])
        w.sock.recv_data_frame(control_frame=True)  # pings flow
        assert s.faults.freeze() == 1
        s.set_quote(t, 4_000, 4_100)
        w.cmd("list_subscriptions")  # not answered either
        w.sock.settimeout(0.5)
        with pytest.raises(websocket.WebSocketTimeoutException):
            w.sock.recv_data_frame(control_frame=True)
        s.faults.unfreeze()
        s.set_quote(t, 4_200, 4_300)
        f = w.expect_type("ticker", sid=sid)
        assert f["msg"]["yes_bid_dollars"] == "0.4200"  # the frame sent while frozen was lost
        w.close()


def test_ws_freeze_after_n_seconds() -> None:
    with Simulator(heartbeat_s=0.05) as s:
        s.faults.freeze_after_s = 0.3
        w = demo_api(s).ws()
        eventually(lambda: s.faults.injected.get("freeze", 0) >= 1, timeout=5, what="the connection to freeze")
        w.sock.settimeout(0.4)
        with pytest.raises(websocket.WebSocketTimeoutException):
            while True:
                w.sock.recv_data_frame(control_frame=True)  # drains frames sent before the freeze, then silence


def test_ws_skip_seq_makes_a_gap_on_the_next_orderbook_frame(sim: Simulator) -> None:
    t = new_market(sim)
    with demo_api(sim).ws() as w:
        (sid,) = w.subscribe(["orderbook_delta"], [t])
        assert w.expect_type("orderbook_snapshot", sid=sid)["seq"] == 1
        sim.faults.skip_seq()
        sim.set_quote(t, 4_400, 4_700, 10 * C, 20 * C)
        sim.set_quote(t, 4_400, 4_600, 10 * C, 20 * C)
        seqs = [f["seq"] for f in w.sync() if f.get("type") == "orderbook_delta"]
        assert seqs[0] == 3 and all(b == a + 1 for a, b in itertools.pairwise(seqs))


def test_ws_malformed_frame(sim: Simulator) -> None:
    with demo_api(sim).ws() as w:
        assert sim.faults.send_malformed() >= 1
        raw = w.expect(lambda f: isinstance(f, str))
        assert isinstance(FrameDecoder().decode(raw), Malformed)
        sim.faults.send_malformed("garbage")
        assert w.expect(lambda f: isinstance(f, str)) == "garbage"


def test_periodic_malformed_and_seq_gap() -> None:
    with Simulator() as s:
        t = new_market(s)
        with demo_api(s).ws() as w:
            (sid,) = w.subscribe(["orderbook_delta"], [t])
            w.expect_type("orderbook_snapshot", sid=sid)
            s.faults.malformed_every_s = 0.1
            w.expect(lambda f: isinstance(f, str))
            s.faults.malformed_every_s = None
            s.faults.skip_seq_every_s = 0.1
            eventually(lambda: s.faults.pending_seq_skips >= 1, timeout=5, what="a periodic seq skip")
            s.faults.skip_seq_every_s = None
            s.set_quote(t, 4_000, 4_700)
            deltas = [f for f in w.sync() if isinstance(f, dict) and f.get("type") == "orderbook_delta"]
            assert deltas[0]["seq"] >= 3 and s.faults.injected["skip_seq"] >= 1


def test_fault_settings_are_checked() -> None:
    f = Faults()
    with pytest.raises(ValueError):
        f.rest_errors(200)
    with pytest.raises(ValueError):
        f.rest_errors(503, 0)
    with pytest.raises(ValueError):
        f.hang_orders(0)
    with pytest.raises(RuntimeError, match="not running"):
        f.drop_connections()
    assert parse_rest_errors("429:5") == (429, 5) and parse_rest_errors("503") == (503, 1)
    for bad in ("x", "200:1", "429:0", "429:x"):
        with pytest.raises(ValueError):
            parse_rest_errors(bad)
