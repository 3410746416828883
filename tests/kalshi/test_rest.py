"""The real REST client against the kit's exchange simulator on 127.0.0.1: every endpoint, pagination, errors,
retries, order-create recovery and the client-side token bucket."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kalshikit.config import Settings
from kalshikit.errors import (
    AuthError,
    ConfigError,
    DuplicateOrder,
    NotFoundError,
    OrderOutcomeUnknown,
    OrderRejected,
    RateLimited,
    TemporaryError,
)
from kalshikit.kalshi.auth import KalshiSigner, generate_rsa_key, load_private_key_file
from kalshikit.kalshi.models import OrderRequest, OrderResult
from kalshikit.kalshi.ratelimit import CLIENT_RATE_LIMIT_CODE
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.sim import Simulator
from tests.conftest import eventually

ORDERS_PATH = "/portfolio/events/orders"


@pytest.fixture(scope="module")
def rsim() -> Iterator[Simulator]:
    sim = Simulator().start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(autouse=True)
def _clean_faults(rsim: Simulator) -> Iterator[None]:
    rsim.faults.clear()
    yield
    rsim.faults.clear()


def client(sim: Simulator, **kw: Any) -> KalshiRest:
    kw.setdefault("backoff_base", 0.005)
    kw.setdefault("backoff_max", 0.02)
    kw.setdefault("timeout", 5.0)
    kw.setdefault("reads_per_second", 10_000)
    kw.setdefault("writes_per_second", 10_000)
    return KalshiRest(sim.rest_url, kw.pop("signer", None) or sim.signer(), **kw)


@pytest.fixture
def rest(rsim: Simulator) -> Iterator[KalshiRest]:
    with client(rsim) as r:
        yield r


def new_market(sim: Simulator, bid: int | None = 4_500, ask: int | None = 4_700, **kw: Any) -> str:
    """A fresh market (its own event) with a quote of 20 contracts a side."""
    ticker = f"KXT{uuid.uuid4().hex[:6].upper()}-26DEC31-T50"
    sim.add_market(ticker, yes_bid=bid, yes_ask=ask, yes_bid_size=2_000, yes_ask_size=2_000, **kw)
    return ticker


def order_log_bodies(sim: Simulator, ticker: str) -> list[dict[str, Any]]:
    return [e.body for e in sim.order_log() if isinstance(e.body, dict) and e.body.get("ticker") == ticker]


# ============================================================================ market data
def test_exchange_status(rsim: Simulator, rest: KalshiRest) -> None:
    assert rest.exchange_status().trading_active
    rsim.set_exchange_status(trading_active=False)
    try:
        st = rest.exchange_status()
        assert st.exchange_active and not st.trading_active
    finally:
        rsim.set_exchange_status(trading_active=True)


def test_market_matches_the_simulator(rsim: Simulator, rest: KalshiRest) -> None:
    t = new_market(rsim, 4_400, 4_600, price_level_structure="deci_cent")
    m = rest.market(t)
    assert (m.ticker, m.event_ticker, m.status) == (t, t.rsplit("-", 1)[0], "active")
    assert (m.yes_bid, m.yes_ask, m.yes_bid_size, m.yes_ask_size, m.last) == (4_400, 4_600, 2_000, 2_000, None)
    assert m.grid is not None and m.grid.is_valid(4_410) and not m.grid.is_valid(4_415)
    assert m.close_ns is not None and m.open_ns is not None and m.close_ns > m.open_ns
    q = m.quote(recv_ns=1)
    assert (q.yes_bid, q.yes_ask, q.source) == (4_400, 4_600, "rest")


def test_market_with_an_empty_side(rsim: Simulator, rest: KalshiRest) -> None:
    t = new_market(rsim, None, 3_000)
    m = rest.market(t)
    assert m.yes_bid is None and m.yes_bid_size is None and m.yes_ask == 3_000


def test_unknown_market_is_not_found(rest: KalshiRest) -> None:
    with pytest.raises(NotFoundError) as info:
        rest.market("KXNOPE-00JAN01-T1")
    assert info.value.status == 404 and info.value.who_acts == "user"


def test_markets_paginates_to_the_end_with_filters(rsim: Simulator, rest: KalshiRest) -> None:
    event = f"KXPG{uuid.uuid4().hex[:5].upper()}-26DEC31"
    tickers = [f"{event}-T{i}" for i in range(7)]
    for t in tickers:
        rsim.add_market(t, event_ticker=event, yes_bid=4_000, yes_ask=4_200)
    before = rest.metrics()["requests"]
    got = rest.markets(event_ticker=event, page_size=3)
    assert sorted(m.ticker for m in got) == sorted(tickers)
    assert rest.metrics()["requests"] - before == 3  # 3 + 3 + 1
    assert [m.ticker for m in rest.markets(tickers=tickers[:2], page_size=1)] == tickers[:2]
    rsim.close_market(tickers[0])
    closed = rest.markets(event_ticker=event, status="closed")
    assert [m.ticker for m in closed] == [tickers[0]] and closed[0].status == "closed"
    assert len(rest.markets(event_ticker=event, status="open")) == 6


def test_orderbook_current_shape(rsim: Simulator, rest: KalshiRest) -> None:
    t = new_market(rsim)
    rsim.set_book(t, [(4_300, 500), (4_500, 1_250)], [(5_000, 700), (5_300, 1_000)])
    book = rest.orderbook(t)
    assert book.ticker == t and book.yes == ((4_300, 500), (4_500, 1_250)) and book.no == ((5_000, 700), (5_300, 1_000))
    top = rest.orderbook(t, depth=1)
    assert top.yes == ((4_500, 1_250),) and top.no == ((5_300, 1_000),)


def test_public_reads_work_unsigned(rsim: Simulator) -> None:
    t = new_market(rsim)
    with KalshiRest(rsim.rest_url) as anon:
        assert anon.market(t).yes_ask == 4_700
        assert anon.orderbook(t).no == ((5_300, 2_000),)


# ============================================================================ portfolio
def test_balance(rsim: Simulator) -> None:
    key = rsim.create_key(account="balance-test")
    rsim.set_balance(1_234, account="balance-test")
    signer = KalshiSigner(key.key_id, load_private_key_file(key.private_key_path))
    with client(rsim, signer=signer) as r:
        b = r.balance()
    assert b.balance == 1_234_000_000 == rsim.balance("balance-test")
    assert b.portfolio_value == 0 and b.updated_ns is not None


def test_positions_and_seeded_position(rsim: Simulator, rest: KalshiRest) -> None:
    t = new_market(rsim)
    rsim.seed_position(t, -1_500, 6_000)  # 15 NO contracts bought at $0.60
    (p,) = rest.positions(ticker=t)
    assert (p.ticker, p.position, p.exposure) == (t, -1_500, 9_000_000)
    ev = p.to_event()
    assert (ev.position, ev.source) == (-1_500, "reconcile")
    assert t in {x.ticker for x in rest.positions(page_size=1)}  # pagination over all positions


def test_ioc_order_fills_and_shows_everywhere(rsim: Simulator, rest: KalshiRest) -> None:
    t = new_market(rsim)
    r = rest.create_order(t, "bid", 4_700, 500, time_in_force="immediate_or_cancel", client_order_id="ioc-1-" + t)
    assert (r.fill_count, r.remaining_count, r.average_fill_price, r.status) == (500, 0, 4_700, "executed")
    assert r.average_fee_paid is not None and r.average_fee_paid > 0 and r.ts_ns > 0 and not r.recovered
    assert r.client_order_id == "ioc-1-" + t
    (o,) = rest.orders(ticker=t)
    assert (o.order_id, o.status, o.fill_count, o.book_side, o.yes_price) == (r.order_id, "executed", 500, "bid", 4_700)
    one = rest.order(r.order_id)
    assert (one.order_id, one.client_order_id, one.fees) == (o.order_id, o.client_order_id, o.fees)
    (f,) = rest.fills(ticker=t)
    assert (f.order_id, f.count, f.yes_price, f.book_side, f.is_taker) == (r.order_id, 500, 4_700, "bid", True)
    assert f.fee == r.average_fee_paid * 5 == o.fees
    (p,) = rest.positions(ticker=t)
    assert p.position == 500 and p.fees_paid == f.fee
    assert rest.find_order(t, "ioc-1-" + t) is not None
    assert rest.find_order(t, "nope") is None


def test_fills_and_orders_paginate(rsim: Simulator, rest: KalshiRest) -> None:
    t = new_market(rsim)
    ids = [rest.create_order(t, "bid", 4_700, 100, time_in_force="immediate_or_cancel").order_id for _ in range(5)]
    assert sorted(f.order_id for f in rest.fills(ticker=t, page_size=2)) == sorted(ids)
    assert sorted(o.order_id for o in rest.orders(ticker=t, page_size=2)) == sorted(ids)
    assert [f.order_id for f in rest.fills(order_id=ids[2])] == [ids[2]]
    # find_order walks the pages until it finds the match.
    first = rest.orders(ticker=t, page_size=5)[-1]
    assert first.client_order_id is not None
    found = rest.find_order(t, first.client_order_id, page_size=2)
    assert found is not None and found.order_id == first.order_id


def test_resting_order_amend_decrease_cancel(rsim: Simulator, rest: KalshiRest) -> None:
    t = new_market(rsim)
    r = rest.create_order(t, "bid", 4_000, 1_000, client_order_id="rest-" + t)
    assert (r.status, r.remaining_count, r.fill_count) == ("resting", 1_000, 0)
    assert rest.orders(ticker=t, status="resting")[0].order_id == r.order_id
    a = rest.amend_order(r.order_id, ticker=t, side="bid", price=4_100, count=1_200, client_order_id="rest-" + t)
    assert (a.order_id, a.remaining_count, a.fill_count) == (r.order_id, 1_200, 0)
    assert rest.order(r.order_id).yes_price == 4_100
    d = rest.decrease_order(r.order_id, reduce_by=200)
    assert d.remaining_count == 1_000
    d = rest.decrease_order(r.order_id, reduce_to=600, ticker=t)
    assert d.remaining_count == 600
    c = rest.cancel_order(r.order_id, ticker=t)
    assert (c.order_id, c.client_order_id, c.reduced_by) == (r.order_id, "rest-" + t, 600)
    assert rest.order(r.order_id).status == "canceled"
    with pytest.raises(NotFoundError):
        rest.cancel_order(r.order_id)  # nothing left to cancel; not retried
    with pytest.raises(ValueError):
        rest.decrease_order(r.order_id, reduce_by=1, reduce_to=1)


def test_batch_create_and_cancel(rsim: Simulator, rest: KalshiRest) -> None:
    t = new_market(rsim)
    good = OrderRequest(t, "bid", 4_000, 300, client_order_id="b1-" + t)
    off_grid = OrderRequest(t, "bid", 4_050, 300, client_order_id="b2-" + t)  # linear_cent: not a valid price
    also = OrderRequest(t, "ask", 5_000, 200)  # gets a generated client_order_id
    res = rest.batch_create_orders([good, off_grid, also])
    assert isinstance(res[0], OrderResult) and res[0].client_order_id == "b1-" + t and res[0].status == "resting"
    assert isinstance(res[1], OrderRejected) and res[1].code == "invalid_price"
    assert isinstance(res[2], OrderResult) and res[2].client_order_id and res[2].book_side == "ask"
    cancels = rest.batch_cancel_orders([res[0].order_id, (res[2].order_id, t), "no-such-order"])
    assert [getattr(c, "reduced_by", None) for c in cancels[:2]] == [300, 200]
    assert isinstance(cancels[2], NotFoundError)
    assert {o.status for o in rest.orders(ticker=t)} == {"canceled"}
    assert rest.batch_create_orders([]) == [] and rest.batch_cancel_orders([]) == []


def test_settlement(rsim: Simulator, rest: KalshiRest) -> None:
    t = new_market(rsim)
    rsim.seed_position(t, 1_000, 4_000)  # 10 YES at $0.40
    rsim.settle_market(t, "yes")
    (s,) = rest.settlements(ticker=t)
    assert (s.ticker, s.market_result, s.yes_count, s.no_count) == (t, "yes", 1_000, 0)
    assert s.revenue == 10_000_000 and s.yes_total_cost == 4_000_000 and s.value == 10_000
    assert s.to_event().revenue == s.revenue
    m = rest.market(t)
    assert (m.status, m.result, m.settlement_value) == ("finalized", "yes", 10_000) and m.settlement_ns
    assert rest.positions(ticker=t) == []
    assert [p.ticker for p in rest.positions(ticker=t, settlement_status="settled")] == [t]


# ============================================================================ order errors
def test_order_rejections(rsim: Simulator, rest: KalshiRest) -> None:
    t = new_market(rsim)
    with pytest.raises(OrderRejected) as info:
        rest.create_order(t, "bid", 4_050, 100)
    assert (info.value.status, info.value.code) == (400, "invalid_price") and "grid" in str(info.value)
    rsim.close_market(t)
    with pytest.raises(OrderRejected) as info:
        rest.create_order(t, "bid", 4_000, 100)
    assert info.value.code == "market_closed"


def test_a_409_is_answered_by_asking_what_that_order_did(rsim: Simulator, rest: KalshiRest) -> None:
    """order_already_exists is never a final rejection: the same order again returns the first one's outcome; a
    different order under the same id is refused with a message saying so."""
    t = new_market(rsim)
    first = rest.create_order(t, "bid", 4_000, 100, client_order_id="dup-" + t)
    again = rest.create_order(t, "bid", 4_000, 100, client_order_id="dup-" + t)
    assert again.recovered and again.order_id == first.order_id
    with pytest.raises(DuplicateOrder, match="different one") as info:
        rest.create_order(t, "bid", 4_100, 100, client_order_id="dup-" + t)
    assert (info.value.status, info.value.code) == (409, "order_already_exists")
    assert len(rest.orders(ticker=t)) == 1


def test_client_side_validation_sends_nothing(rsim: Simulator, rest: KalshiRest) -> None:
    t = new_market(rsim)
    with pytest.raises(ValueError, match="reduce_only"):
        rest.create_order(t, "ask", 4_500, 100, reduce_only=True)  # reduce_only needs IOC
    assert order_log_bodies(rsim, t) == []


# ============================================================================ auth
def test_unknown_key_gives_an_actionable_auth_error(rsim: Simulator) -> None:
    key_id = "deadbeef-1111-2222-3333-444455556666"
    with client(rsim, signer=KalshiSigner(key_id, generate_rsa_key())) as r, pytest.raises(AuthError) as info:
        r.balance()
    text = str(info.value)
    assert info.value.status == 401 and info.value.who_acts == "user"
    assert key_id not in text and "deadbeef…" in text
    assert "KALSHI_API_KEY_ID" in text and "KALSHI_PRIVATE_KEY_PATH" in text and "clock" in text
    assert "PRIVATE KEY" not in text


def test_clock_skew_is_an_auth_error(rsim: Simulator) -> None:
    key = rsim.create_key()
    skewed = KalshiSigner(
        key.key_id, load_private_key_file(key.private_key_path), clock_ms=lambda: 1_000_000_000_000
    )  # year 2001
    with client(rsim, signer=skewed) as r, pytest.raises(AuthError, match="clock"):
        r.positions()


def test_wrong_private_key_for_the_key_id(rsim: Simulator) -> None:
    with client(rsim, signer=KalshiSigner(rsim.key_id, generate_rsa_key())) as r, pytest.raises(AuthError) as info:
        r.orders()
    assert rsim.key_id not in str(info.value)
    assert r.metrics()["errors"] == {"AuthError": 1} and r.metrics()["retries"] == 0


def test_403_from_the_exchange(rsim: Simulator, rest: KalshiRest) -> None:
    rsim.faults.rest_errors(403, 1, "/portfolio")
    with pytest.raises(AuthError, match="scopes"):
        rest.balance()


def test_from_settings(rsim: Simulator) -> None:
    assert rsim.private_key_path is not None
    settings = Settings.from_env(
        {
            "KALSHI_ENV": "sim",
            "KALSHI_REST_URL": rsim.rest_url,
            "KALSHI_API_KEY_ID": rsim.key_id,
            "KALSHI_PRIVATE_KEY_PATH": str(rsim.private_key_path),
            "KALSHI_READS_PER_SECOND": "7",
            "KALSHI_WRITES_PER_SECOND": "3",
            "KALSHI_HTTP_TIMEOUT": "4",
        },
        env_file=None,
    )
    with KalshiRest.from_settings(settings) as r:
        assert r.balance().balance > 0
        assert (r.read_bucket.rate, r.write_bucket.rate, r.timeout) == (7.0, 3.0, 4.0)
    with pytest.raises(ConfigError, match="KALSHI_REST_URL"):
        KalshiRest.from_settings(Settings.from_env({}, env_file=None))


# ============================================================================ retries
@pytest.mark.parametrize("status", [429, 500, 503])
def test_reads_are_retried(rsim: Simulator, status: int) -> None:
    with client(rsim) as r:
        rsim.faults.rest_errors(status, 2, "/portfolio/balance")
        assert r.balance().balance > 0
        m = r.metrics()
    assert m["retries"] == 2 and m["requests"] == 3
    assert m["http_429"] == (2 if status == 429 else 0)
    assert m["errors"] == {("RateLimited" if status == 429 else "TemporaryError"): 2}


def test_read_retries_are_bounded(rsim: Simulator) -> None:
    with client(rsim, read_attempts=3) as r:
        rsim.faults.rest_errors(503, 10, "/exchange/status")
        with pytest.raises(TemporaryError) as info:
            r.exchange_status()
        assert info.value.status == 503 and info.value.code == "service_unavailable"
        assert r.metrics()["requests"] == 3
    rsim.faults.clear()


def test_429_body_is_kalshis_string_shape(rsim: Simulator, rest: KalshiRest) -> None:
    with client(rsim, read_attempts=1, reads_per_second=1, read_burst=5) as r:
        rsim.faults.rest_errors(429, 1, "/markets")
        with pytest.raises(RateLimited) as info:
            r.markets()
    assert info.value.status == 429 and "too many requests" in str(info.value)
    assert r.read_bucket.tokens < 0.5  # a server 429 drains the client bucket (it held 4 tokens before)


def test_read_timeout_is_retried(rsim: Simulator) -> None:
    t = new_market(rsim)
    with client(rsim, timeout=0.2, read_attempts=2) as r:
        rsim.faults.latency_ms = 400
        with pytest.raises(TemporaryError) as info:
            r.market(t)
        assert info.value.code == "timeout" and r.metrics()["errors"] == {"Timeout": 2}
        rsim.faults.latency_ms = 0
        assert r.market(t).ticker == t


def test_connection_refused_is_a_temporary_error() -> None:
    r = KalshiRest("http://127.0.0.1:9/trade-api/v2", read_attempts=2, backoff_base=0.001)
    with r, pytest.raises(TemporaryError) as info:
        r.exchange_status()
    assert info.value.code == "connection_error" and r.metrics()["errors"] == {"ConnectionError": 2}


def test_create_retried_after_429_with_the_same_client_order_id(rsim: Simulator, rest: KalshiRest) -> None:
    t = new_market(rsim)
    rsim.faults.rest_errors(429, 1, ORDERS_PATH)
    r = rest.create_order(t, "bid", 4_700, 100, time_in_force="immediate_or_cancel", client_order_id="r429-" + t)
    assert r.fill_count == 100 and not r.recovered and rest.metrics()["http_429"] == 1
    assert len(rest.orders(ticker=t)) == 1


def test_lost_create_reply_is_looked_up_not_resent(rsim: Simulator) -> None:
    """The first attempt executes but its reply comes too late: the client looks the order up before any re-send,
    finds it and returns it. One request, one order."""
    t = new_market(rsim)
    rsim.faults.hang_orders(1, delay_s=1.0)
    with client(rsim, timeout=0.3) as r:
        res = r.create_order(t, "ask", 4_500, 300, time_in_force="immediate_or_cancel", client_order_id="lost-" + t)
        assert res.recovered and res.client_order_id == "lost-" + t
        assert (res.fill_count, res.remaining_count, res.status, res.book_side) == (300, 0, "executed", "ask")
        (o,) = r.orders(ticker=t)
        assert o.order_id == res.order_id
        m = r.metrics()
    assert m["recovered_orders"] == 1 and m["errors"]["Timeout"] == 1 and "DuplicateOrder" not in m["errors"]
    bodies = order_log_bodies(rsim, t)
    assert len(bodies) == 1 and bodies[0]["client_order_id"] == "lost-" + t


def test_create_5xx_then_retry_with_the_same_id(rsim: Simulator, rest: KalshiRest) -> None:
    t = new_market(rsim)
    rsim.faults.rest_errors(503, 1, ORDERS_PATH)
    r = rest.create_order(t, "bid", 4_000, 100, client_order_id="r503-" + t)
    assert r.status == "resting" and not r.recovered
    assert [o.client_order_id for o in rest.orders(ticker=t)] == ["r503-" + t]


def test_unresolvable_lost_create_raises_order_outcome_unknown(rsim: Simulator) -> None:
    t = new_market(rsim)
    rsim.faults.hang_orders(1, delay_s=1.0)
    rsim.faults.rest_errors(503, 50, "/portfolio/orders")  # the lookup fails too
    with client(rsim, timeout=0.3, write_attempts=1, read_attempts=2) as r:
        with pytest.raises(OrderOutcomeUnknown) as info:
            r.create_order(t, "bid", 4_700, 200, time_in_force="immediate_or_cancel", client_order_id="unk-" + t)
        assert info.value.client_order_id == "unk-" + t and info.value.retryable
        assert "lookup_order" in str(info.value)
        rsim.faults.clear()
        # Later, the targeted lookup resolves it: the order did execute.
        found = eventually(lambda: r.find_order(t, "unk-" + t), timeout=5, what="the lost order to be listed")
        assert found.status == "executed" and found.fill_count == 200


def test_lost_create_reply_without_retries_is_resolved_by_lookup(rsim: Simulator) -> None:
    t = new_market(rsim)
    rsim.faults.hang_orders(1, delay_s=1.0)
    with client(rsim, timeout=0.3, write_attempts=1) as r:
        res = r.create_order(t, "bid", 4_000, 100, client_order_id="one-" + t)
    assert res.recovered and res.status == "resting" and res.remaining_count == 100


def test_lost_batch_reply_is_resolved_per_item(rsim: Simulator) -> None:
    t = new_market(rsim)
    rsim.faults.hang_orders(1, delay_s=1.0)
    reqs = [OrderRequest(t, "bid", 4_000, 100, client_order_id=f"lb{i}-{t}") for i in range(2)]
    with client(rsim, timeout=0.3) as r:
        res = r.batch_create_orders(reqs)
    assert all(isinstance(x, OrderResult) and x.recovered for x in res)
    assert [x.client_order_id for x in res if isinstance(x, OrderResult)] == [q.client_order_id for q in reqs]


def test_amend_with_a_lost_reply_is_not_retried(rsim: Simulator, rest: KalshiRest) -> None:
    t = new_market(rsim)
    r = rest.create_order(t, "bid", 4_000, 100, client_order_id="am-" + t)
    rsim.faults.rest_errors(503, 1, ORDERS_PATH + "/")
    with pytest.raises(OrderOutcomeUnknown) as info:
        rest.amend_order(r.order_id, ticker=t, side="bid", price=4_100, count=100, client_order_id="am-" + t)
    assert info.value.client_order_id == "am-" + t and info.value.status == 503


def test_cancel_is_retried(rsim: Simulator, rest: KalshiRest) -> None:
    t = new_market(rsim)
    r = rest.create_order(t, "bid", 4_000, 100)
    rsim.faults.rest_errors(503, 2, ORDERS_PATH + "/")
    c = rest.cancel_order(r.order_id)
    assert c.reduced_by == 100 and rest.metrics()["retries"] == 2


# ============================================================================ token bucket
def test_token_bucket_paces_reads(rsim: Simulator) -> None:
    with client(rsim, reads_per_second=10, read_burst=1) as r:
        for _ in range(4):
            r.exchange_status()
        b = r.metrics()["read_bucket"]
    assert b["reservations"] == 4 and b["waits"] == 3
    assert 0.2 < b["waited_s"] <= 0.3 + 1e-6 and b["max_wait_s"] <= 0.1 + 1e-6


def test_token_bucket_wait_is_bounded(rsim: Simulator) -> None:
    with client(rsim, writes_per_second=1, write_burst=1, max_token_wait=0.05) as r:
        t = new_market(rsim)
        r.create_order(t, "bid", 4_000, 100)
        before = len(rsim.order_log())
        with pytest.raises(RateLimited) as info:
            r.create_order(t, "bid", 4_000, 100)
        assert info.value.code == CLIENT_RATE_LIMIT_CODE and info.value.status == 0
        assert len(rsim.order_log()) == before  # refused locally: nothing was sent
        m = r.metrics()
    assert m["write_bucket"]["rejected"] == 1 and m["errors"] == {"ClientRateLimit": 1}
    assert m["read_bucket"]["reservations"] == 0


def test_batch_costs_one_write_token_per_order(rsim: Simulator) -> None:
    t = new_market(rsim)
    with client(rsim, writes_per_second=1, write_burst=10) as r:
        r.batch_create_orders([OrderRequest(t, "bid", 4_000, 100) for _ in range(3)])
        assert r.write_bucket.tokens == pytest.approx(7, abs=0.5)
        assert r.write_bucket.snapshot()["reservations"] == 1


def test_metrics_snapshot(rsim: Simulator, rest: KalshiRest) -> None:
    rest.exchange_status()
    m = rest.metrics()
    assert set(m) >= {"requests", "retries", "http_429", "errors", "last_latency_ms", "read_bucket", "write_bucket"}
    assert m["requests"] == 1 and m["last_status"] == 200 and 0 < m["last_latency_ms"] < 5_000


def test_logs_never_contain_the_key_id(rsim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    key_id = "cafef00d-1111-2222-3333-444455556666"
    caplog.set_level("DEBUG", logger="kalshikit")
    rsim.faults.rest_errors(503, 1, "/portfolio")
    with client(rsim, signer=KalshiSigner(key_id, generate_rsa_key())) as r, pytest.raises(AuthError):
        r.balance()  # 503 (retried, logged), then 401
    assert "retrying" in caplog.text and "/portfolio/balance" in caplog.text
    assert key_id not in caplog.text and "PRIVATE" not in caplog.text
