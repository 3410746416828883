"""Fault injection: REST errors, reply latency, order replies that come late or never, and WebSocket drops,
freezes, sequence gaps, really lost orderbook deltas, terminal channel errors, refused subscribes and malformed
frames (one-shot and periodic)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import websocket
from sim_testkit import ORDERS, C, Ws, account_api, demo_api, new_market

from kalshikit.config import read_env_file
from kalshikit.core.events import BookDelta
from kalshikit.kalshi.auth import KalshiSigner, load_private_key_file
from kalshikit.kalshi.messages import FrameDecoder, Malformed
from kalshikit.sim import Faults, Simulator
from kalshikit.sim.faults import parse_reject_subscribes, parse_rest_errors
from tests.conftest import eventually, scaled


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
    sim.faults.latency_ms = 30_000  # a reply 30 s late: a client waiting 0.5 s gives up, whatever the load
    with pytest.raises(requests.Timeout):
        api.get("/exchange/status", timeout=0.5)
    sim.faults.latency_ms = 0
    assert api.get("/exchange/status").status_code == 200  # the same request, without the latency
    with pytest.raises(ValueError):
        sim.faults.latency_ms = -1


def test_hang_orders_executes_but_replies_after_the_clients_timeout(sim: Simulator) -> None:
    api = account_api(sim)
    t = new_market(sim)
    sim.faults.hang_orders(1, delay_s=30.0)  # far beyond the client's 0.3 s, even on a busy machine
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
        w.sock.settimeout(scaled(5))
        while True:
            w.sock.recv()
    assert sim.faults.injected["drop"] >= 1


def test_ws_drop_every_n_seconds() -> None:
    with Simulator() as s:
        s.faults.drop_every_s = 0.2
        w = demo_api(s).ws()
        w.sock.settimeout(scaled(5))  # no drop within that: WebSocketTimeoutException, which fails the test
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError, OSError)):
            while True:
                w.sock.recv()
        assert s.faults.injected["drop"] >= 1
        w2 = demo_api(s).ws()  # reconnecting works, and it is dropped again
        w2.sock.settimeout(scaled(5))
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
        eventually(lambda: s.faults.injected.get("freeze", 0) >= 1, timeout=scaled(5), what="the connection to freeze")
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


def test_ws_drop_deltas_loses_the_change_and_uses_up_its_seq(sim: Simulator) -> None:
    t = new_market(sim)
    sim.set_book(t, [(4_400, 5 * C), (4_500, 10 * C)], [(5_300, 20 * C)])
    with demo_api(sim).ws() as w:
        (sid,) = w.subscribe(["orderbook_delta"], [t])
        snap = w.expect_type("orderbook_snapshot", sid=sid)
        assert snap["seq"] == 1
        before = sim.faults.injected.get("drop_delta", 0)
        sim.faults.drop_deltas()
        sim.set_book(t, [(4_400, 7 * C), (4_600, 1 * C)], [(5_300, 20 * C)])  # three level changes, three deltas
        deltas = [f for f in w.sync() if f.get("type") == "orderbook_delta"]
        assert [f["seq"] for f in deltas] == [3, 4], "the lost delta used up seq 2"
        assert sim.faults.injected["drop_delta"] == before + 1 and sim.faults.pending_delta_drops == 0
        yes = {p: c for p, c in FrameDecoder().decode(json.dumps(snap)).yes}  # type: ignore[union-attr]
        for f in deltas:
            d = FrameDecoder().decode(json.dumps(f))
            assert isinstance(d, BookDelta) and d.side == "yes"
            yes[d.price] = yes.get(d.price, 0) + d.delta
        rebuilt = {p: c for p, c in yes.items() if c}
        assert rebuilt != sim.book(t).yes, "without a new snapshot the client's book is wrong"
        assert sim.book(t).yes == {4_400: 7 * C, 4_600: 1 * C}
        assert rebuilt == {4_400: 5 * C, 4_600: 1 * C}, "the first change (0.44: 5 -> 7) never arrived"


def test_periodic_delta_drop_is_timed_by_the_given_clock() -> None:
    f = Faults()
    assert not f.take_delta_drop(100.0)
    f.drop_delta_every_s = 1.0
    assert [f.take_delta_drop(t) for t in (100.0, 100.5, 100.99, 101.0, 101.2)] == [True, False, False, True, False]
    f.drop_delta_every_s = None
    f.drop_deltas(2)
    assert [f.take_delta_drop(200.0) for _ in range(3)] == [True, True, False]
    assert f.injected["drop_delta"] == 4
    f.drop_deltas(1)
    f.clear()
    assert f.pending_delta_drops == 0 and not f.take_delta_drop(300.0)


def test_periodic_delta_drop_on_the_wire() -> None:
    with Simulator() as s:
        t = new_market(s)
        with demo_api(s).ws() as w:
            (sid,) = w.subscribe(["orderbook_delta"], [t])
            w.expect_type("orderbook_snapshot", sid=sid)
            s.faults.drop_delta_every_s = 0.05
            bids = itertools.cycle((4_000, 4_010))

            def move_and_check() -> bool:
                s.set_quote(t, next(bids), 4_700)
                return s.faults.injected.get("drop_delta", 0) >= 2

            eventually(move_and_check, timeout=scaled(10), what="two periodic delta drops")
            s.faults.drop_delta_every_s = None
            s.set_quote(t, 3_900, 4_700)  # a last change that is surely sent
            seqs = [f["seq"] for f in w.sync() if f.get("type") == "orderbook_delta"]
            lost = s.faults.injected["drop_delta"]
            assert lost >= 2 and seqs[-1] - 1 == len(seqs) + lost


def test_ws_channel_error_ends_that_channels_subscriptions_with_their_sid(sim: Simulator) -> None:
    api = account_api(sim)
    t = new_market(sim)
    with api.ws() as w:
        fill, tick = w.subscribe(["fill", "ticker"], [t])
        assert sim.faults.channel_error("fill", 10) == 1
        err = w.expect_type("error", sid=fill)
        assert err["msg"]["code"] == 10 and err["id"] == 0
        cid = w.cmd("list_subscriptions")
        assert w.expect_type("ok", id=cid)["msg"] == [{"channel": "ticker", "sid": tick}]
        api.create(t, "bid", "0.47", "1")
        assert [f for f in w.sync() if f.get("type") == "fill"] == [], "the ended subscription sends nothing"
        assert sim.faults.channel_error("ticker", 25) == 1
        assert w.expect_type("error", sid=tick)["msg"]["code"] == 25
    with pytest.raises(ValueError, match="terminal"):
        sim.faults.channel_error("fill", 26)


def test_ws_reject_subscribes_answers_with_the_error_code_then_subscribes_again(sim: Simulator) -> None:
    t1, t2 = new_market(sim), new_market(sim)
    with demo_api(sim).ws() as w:
        sim.faults.reject_subscribes(26, 2, channel="ticker")
        (trade,) = w.subscribe(["trade"], [t1])  # another channel is not affected
        for _ in range(2):
            cid = w.cmd("subscribe", {"channels": ["ticker"], "market_tickers": [t1]})
            err = w.expect_type("error", id=cid)
            assert err["msg"]["code"] == 26 and err["msg"]["msg"].startswith("Subscription market limit exceeded")
        (tick,) = w.subscribe(["ticker"], [t1])
        sim.faults.reject_subscribes(27, 1)
        cid = w.cmd("update_subscription", {"sid": tick, "action": "add_markets", "market_tickers": [t2]})
        err = w.expect_type("error", id=cid)
        assert (err["msg"]["code"], err["sid"]) == (27, tick)
        cid = w.cmd("update_subscription", {"sid": tick, "action": "add_markets", "market_tickers": [t2]})
        assert w.expect_type("ok", id=cid)["msg"]["market_tickers"] == sorted([t1, t2])
        assert trade and sim.faults.injected["reject_subscribe"] >= 3


def test_ws_reject_subscribes_until_cleared(sim: Simulator) -> None:
    t = new_market(sim)
    with demo_api(sim).ws() as w:
        sim.faults.reject_subscribes(26, None)
        for _ in range(3):
            cid = w.cmd("subscribe", {"channels": ["ticker"], "market_tickers": [t]})
            assert w.expect_type("error", id=cid)["msg"]["code"] == 26
        sim.faults.clear()
        assert w.subscribe(["ticker"], [t])


def test_cli_flags_for_refused_subscribes_and_lost_deltas(tmp_path: Path) -> None:
    args = ["--no-tape", "--state-dir", str(tmp_path), "--reject-subscribes", "26:2", "--drop-delta-every", "0.5"]
    proc = subprocess.Popen([sys.executable, "-m", "kalshikit.sim", *args], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        fields = dict(part.split("=", 1) for part in line.split()[2:])
        env = read_env_file(Path(fields["settings"]))
        signer = KalshiSigner(env["KALSHI_API_KEY_ID"], load_private_key_file(Path(env["KALSHI_PRIVATE_KEY_PATH"])))
        with Ws(fields["ws"], signer.headers("GET", fields["ws"])) as w:
            for _ in range(2):
                cid = w.cmd("subscribe", {"channels": ["ticker"]})
                assert w.expect_type("error", id=cid)["msg"]["code"] == 26
            assert w.subscribe(["ticker"])
    finally:
        proc.terminate()
        proc.wait(timeout=scaled(20))
    bad = subprocess.run([sys.executable, "-m", "kalshikit.sim", "--reject-subscribes", "99"], capture_output=True,
                         text=True, timeout=scaled(60))
    assert bad.returncode == 2 and "--reject-subscribes expects a Kalshi WebSocket error code" in bad.stderr


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
            eventually(lambda: s.faults.pending_seq_skips >= 1, timeout=scaled(5), what="a periodic seq skip")
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
    for code, count in ((99, 1), (6, 1), (26, 0)):
        with pytest.raises(ValueError, match=r"code|count"):
            f.reject_subscribes(code, count)
    with pytest.raises(ValueError):
        f.drop_deltas(0)
    assert parse_reject_subscribes("26:3") == (26, 3) and parse_reject_subscribes("27") == (27, 1)
    for bad in ("x", "99", "26:0", "26:x", "16"):
        with pytest.raises(ValueError, match="--reject-subscribes"):
            parse_reject_subscribes(bad)
