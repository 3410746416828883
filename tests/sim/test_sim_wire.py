"""Small pieces of the simulator's wire layer: time and money formats, and parsing of order-write bodies."""

from __future__ import annotations

from typing import Any

import pytest

from kalshikit.sim.errors import SimError
from kalshikit.sim.order_requests import parse_amend_v2, parse_create_v1, parse_create_v2, parse_decrease
from kalshikit.sim.wire import average_per_contract, cents, count_str, fmt_price, money_str, rfc3339, rfc3339_s

NS = 1_786_085_188_978_710_123  # 2026-08-07T06:46:28.978710123Z


def test_times() -> None:
    assert rfc3339(NS) == "2026-08-07T06:46:28.978710Z"
    assert rfc3339(NS + 1_000) == "2026-08-07T06:46:28.978711Z"  # same second: cached prefix
    assert rfc3339(NS + 2_000_000_000) == "2026-08-07T06:46:30.978710Z"
    assert rfc3339_s(NS) == "2026-08-07T06:46:28Z"


def test_money_and_counts() -> None:
    assert money_str(87_200) == "0.087200" and money_str(-1_500_000) == "-1.500000"
    assert cents(999_756_280) == 99_975 and cents(-15_000) == -1
    assert count_str(1_000) == "10.00" and count_str(-5) == "-0.05" and count_str(1_000) == "10.00"
    assert fmt_price(6_300) == "0.6300" and fmt_price(9_950) == "0.9950"
    with pytest.raises(ValueError):
        fmt_price(10_001)
    # 3 contracts filled for $1.41 total -> $0.47 each; rounding half up at the micro-dollar
    assert average_per_contract(1_410_000, 300) == 470_000
    assert average_per_contract(1_000_000, 300) == 333_333 and average_per_contract(5, 0) == 0


V2 = {
    "ticker": "KX-1",
    "side": "ask",
    "count": "2.5",
    "price": "0.9950",
    "time_in_force": "good_till_canceled",
    "self_trade_prevention_type": "maker",
    "client_order_id": "c-1",
    "expiration_time": 1_900_000_000,
    "post_only": True,
}


def test_parse_v2() -> None:
    r = parse_create_v2(V2)
    assert (r.ticker, r.book_side, r.count, r.price, r.time_in_force) == (
        "KX-1",
        "ask",
        250,
        9_950,
        "good_till_canceled",
    )
    assert (r.client_order_id, r.post_only, r.reduce_only, r.expiration_ns) == (
        "c-1",
        True,
        False,
        1_900_000_000 * 10**9,
    )
    with pytest.raises(SimError, match="JSON object"):
        parse_create_v2([V2])


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"side": "no", "action": "buy", "count": 1, "no_price": 45}, None),
        ({"side": "yes", "action": "sell", "count_fp": "3.00", "yes_price_dollars": "0.61"}, None),
        ({"side": "no", "action": "sell", "count": 1, "no_price_dollars": "0.30", "buy_max_cost": 100}, None),
        ({"side": "maybe", "action": "buy", "count": 1, "yes_price": 45}, "side"),
        ({"side": "yes", "action": "hold", "count": 1, "yes_price": 45}, "action"),
        ({"side": "yes", "action": "buy", "yes_price": 45}, "count"),
        ({"side": "yes", "action": "buy", "count": 2, "count_fp": "3.00", "yes_price": 45}, "disagree"),
        ({"side": "yes", "action": "buy", "count": 1, "yes_price": 100}, "1..99"),
        (
            {"side": "yes", "action": "buy", "count": 1, "yes_price": 45, "sell_position_floor": 5},
            "sell_position_floor",
        ),
    ],
)
def test_parse_v1_maps_onto_the_yes_book(body: dict[str, Any], text: str | None) -> None:
    body = {"ticker": "KX-1", **body}
    if text is not None:
        with pytest.raises(SimError, match=text):
            parse_create_v1(body)
        return
    r = parse_create_v1(body)
    expected = {
        ("no", "buy"): ("ask", 5_500, "good_till_canceled"),  # buy NO at 0.45 = sell YES at 0.55
        ("yes", "sell"): ("ask", 6_100, "good_till_canceled"),
        ("no", "sell"): ("bid", 7_000, "fill_or_kill"),  # sell NO at 0.30 = buy YES at 0.70; buy_max_cost -> FoK
    }[(body["side"], body["action"])]
    assert (r.book_side, r.price, r.time_in_force) == expected
    assert (r.legacy_side, r.legacy_action) == (body["side"], body["action"])


def test_parse_amend_and_decrease() -> None:
    a = parse_amend_v2({"ticker": "KX-1", "side": "bid", "price": "0.40", "count": "7", "expiration_time": 0})
    assert (a["price"], a["count"], a["expiration_ns"]) == (4_000, 700, None)
    assert "expiration_ns" not in parse_amend_v2({"ticker": "KX-1", "side": "bid", "price": "0.40", "count": "7"})
    with pytest.raises(SimError):
        parse_amend_v2({"ticker": "KX-1", "side": "bid", "price": "0.40", "count": "7", "expiration_time": -5})
    assert parse_decrease({"reduce_by": "2.50"}) == (250, None)
    assert parse_decrease({"reduce_to": "0"}) == (None, 0)
    assert parse_decrease({"reduce_to": 3}) == (None, 300)  # legacy integer
    assert parse_decrease({"reduce_by_fp": "1.00"}) == (100, None)
    for bad in ({}, {"reduce_by": "1", "reduce_to": "1"}, {"reduce_by": "x"}, {"reduce_by": 1.5}):
        with pytest.raises(SimError):
            parse_decrease(bad)
