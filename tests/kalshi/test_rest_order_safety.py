"""A create whose outcome is unknown is never sent again blindly (issue 12.5).

Kalshi refuses a duplicate ``client_order_id`` only while the first order is open, as far as anyone documents; so a
re-POST after a lost reply could fill twice. The client looks the order up first and re-sends only when the
exchange's own freshness stamp shows it conclusively absent. The simulator's ``accept_reused_ids`` mode accepts a
reused id once the first order is closed (the worst case), and its ``rest_lag_s`` fault makes the order list lag the
matching engine, as Kalshi's REST does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from kalshikit.errors import OrderOutcomeUnknown, TemporaryError
from kalshikit.sim import Simulator
from tests.kalshi.test_rest import client

ORDERS = "/portfolio/events/orders"


@pytest.fixture(scope="module")
def lax() -> Iterator[Simulator]:
    """An exchange that accepts a client_order_id again once its first order is closed."""
    sim = Simulator(accept_reused_ids=True).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(autouse=True)
def _clean(lax: Simulator) -> Iterator[None]:
    lax.faults.clear()
    yield
    lax.faults.clear()


def market(sim: Simulator) -> str:
    t = f"KXSAFE-26DEC31-{uuid.uuid4().hex[:6].upper()}"
    sim.add_market(t, yes_bid=4_500, yes_ask=4_600, yes_bid_size=100_000, yes_ask_size=100_000)
    return t


def held(sim: Simulator, t: str) -> int:
    rec = sim.position(t)
    return rec.count if rec is not None else 0


def created(sim: Simulator, t: str) -> int:
    """Orders the exchange actually created in ``t`` (accepted creates)."""
    return sum(1 for e in sim.order_log() if isinstance(e.body, dict) and e.body.get("ticker") == t and e.order_ids)


def test_the_mode_really_accepts_a_closed_orders_id(lax: Simulator) -> None:
    t = market(lax)
    with client(lax) as rest:
        rest.create_order(t, "bid", 4_600, 100, client_order_id="kk-reuse-1")
        rest.create_order(t, "bid", 4_600, 100, client_order_id="kk-reuse-1")
    assert held(lax, t) == 200, "without the lookup first, a blind re-send fills twice on such an exchange"


def test_an_entry_answered_500_after_it_executed_is_not_sent_again(lax: Simulator) -> None:
    t = market(lax)
    lax.faults.fail_after_execute(500)
    with client(lax) as rest:
        result = rest.create_order(t, "bid", 4_600, 500, client_order_id="kk-entry-500")
    assert result.recovered and result.fill_count == 500
    assert held(lax, t) == 500 and created(lax, t) == 1


def test_a_lost_reply_is_looked_up_not_resent(lax: Simulator) -> None:
    t = market(lax)
    lax.faults.hang_orders(1, delay_s=None)  # executes; the reply never comes
    with client(lax, timeout=0.5) as rest:
        result = rest.create_order(t, "bid", 4_600, 300, client_order_id="kk-entry-lost")
    assert result.recovered and held(lax, t) == 300 and created(lax, t) == 1


def test_while_the_exchange_cannot_tell_yet_the_outcome_stays_unknown(lax: Simulator) -> None:
    t = market(lax)
    lax.faults.rest_lag_s = 30.0  # the order list shows the exchange as of 30 s ago
    lax.faults.fail_after_execute(503)
    with client(lax, conclusive_wait=0.3) as rest, pytest.raises(OrderOutcomeUnknown, match="not yet current"):
        rest.create_order(t, "bid", 4_600, 200, client_order_id="kk-entry-lag")
    assert held(lax, t) == 200 and created(lax, t) == 1, "nothing was re-sent while the lookup could not tell"
    lax.faults.rest_lag_s = 0.0
    with client(lax) as rest:
        found = rest.lookup_order(t, "kk-entry-lag", sent_ns=0)
    assert found.conclusive and found.order is not None and found.order.fill_count == 200


def test_a_5xx_that_did_not_execute_is_resent_once_the_exchange_shows_it_absent(lax: Simulator) -> None:
    t = market(lax)
    lax.faults.rest_errors(503, 1, path_prefix=ORDERS)  # refused before reaching the matching engine
    with client(lax) as rest:
        result = rest.create_order(t, "bid", 4_600, 100, client_order_id="kk-entry-503")
    assert result.fill_count == 100 and not result.recovered
    assert held(lax, t) == 100 and created(lax, t) == 1


def test_a_5xx_on_every_attempt_is_an_unknown_outcome_never_a_rejection(lax: Simulator) -> None:
    t = market(lax)
    lax.faults.rest_errors(503, 10, path_prefix=ORDERS)
    with client(lax) as rest, pytest.raises(TemporaryError) as err:
        rest.create_order(t, "bid", 4_600, 100, client_order_id="kk-entry-5xx")
    assert err.value.status == 503 and not isinstance(err.value, OrderOutcomeUnknown)
    assert created(lax, t) == 0


def test_lookup_order_says_when_not_found_can_be_believed(lax: Simulator) -> None:
    import time

    t = market(lax)
    with client(lax) as rest:
        now = time.time_ns()
        assert not rest.lookup_order(t, "kk-never-sent", sent_ns=now).conclusive  # sent just now: cannot tell
        assert rest.lookup_order(t, "kk-never-sent", sent_ns=now - 5_000_000_000).conclusive
        lax.faults.rest_lag_s = 10.0
        assert not rest.lookup_order(t, "kk-never-sent", sent_ns=now - 5_000_000_000).conclusive


def test_user_data_timestamp_is_the_exchange_clock_minus_the_lag(lax: Simulator) -> None:
    import time

    with client(lax) as rest:
        assert abs(rest.user_data_as_of() - time.time_ns()) < 2_000_000_000
        lax.faults.rest_lag_s = 60.0
        assert time.time_ns() - rest.user_data_as_of() > 50_000_000_000

