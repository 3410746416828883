"""Table-driven tests of the pure monitor: every rule, binary-contract semantics, stale policies, lifecycle, exits."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from kalshikit.core.actions import (
    Alert,
    ConfirmQuote,
    Decision,
    LookupOrder,
    PlaceOrder,
    PositionClosed,
    Transition,
    Unwatch,
    Watch,
)
from kalshikit.core.events import (
    ConfirmFailed,
    FeedStatus,
    Fill,
    Flatten,
    Lifecycle,
    MarketInfo,
    OrderNotFound,
    OrderRejected,
    OrderUnknown,
    OrderUpdate,
    PositionUpdate,
    Protect,
    Quote,
    Reconcile,
    SetPaused,
    Tick,
    TrackOrder,
    Trade,
    Unprotect,
)
from kalshikit.core.grid import PriceGrid
from kalshikit.core.guard import TABLE, Guard, GuardEvent, GuardState
from kalshikit.core.marks import mark_of
from kalshikit.core.monitor import Monitor, MonitorConfig, exit_order_id
from kalshikit.core.rules import BreakEven, Level, Protection, TimeExit, Trailing, protection
from kalshikit.errors import IllegalTransition, RuleError

S = 1_000_000_000  # ns per second
T = "KXTEST-26DEC31-T50"


def c(dollars: str) -> int:
    """Dollar string to price units, computed independently of kalshikit.units."""
    whole, _, frac = dollars.partition(".")
    return int(whole or 0) * 10_000 + int((frac + "0000")[:4])


def quote(
    bid: str | None,
    ask: str | None,
    t: float,
    *,
    last: str | None = None,
    source: str = "ws",
    ticker: str = T,
    recv_delay: float = 0.0,
) -> Quote:
    return Quote(
        ticker,
        c(bid) if bid is not None else None,
        c(ask) if ask is not None else None,
        10_000,
        10_000,
        c(last) if last is not None else None,
        exchange_ns=int(t * S),
        recv_ns=int((t - recv_delay) * S),
        source=source,
    )


@dataclass
class Harness:
    """Feeds a monitor and keeps every action, so a test reads like a tape."""

    monitor: Monitor = field(default_factory=lambda: Monitor(MonitorConfig(id_salt="test")))
    actions: list[Any] = field(default_factory=list)
    trade_ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def feed(self, event: Any, t: float) -> list[Any]:
        out = self.monitor.feed(event, int(t * S))
        self.actions.extend(out)
        return out

    def buy(self, side: str, count: int, price: str, t: float, ticker: str = T) -> list[Any]:
        """Open (or add to) a position with an external fill: ``side`` yes buys YES at price, no buys NO at price."""
        yes_price = c(price) if side == "yes" else 10_000 - c(price)
        book_side = "bid" if side == "yes" else "ask"
        f = Fill(f"t{next(self.trade_ids)}", f"entry-{t}", ticker, book_side, yes_price, count * 100)
        return self.feed(f, t)

    def of(self, kind: type, out: list[Any] | None = None) -> list[Any]:
        return [a for a in (self.actions if out is None else out) if isinstance(a, kind)]

    def state(self, ticker: str = T) -> str:
        g = self.monitor.positions.get(ticker)
        if g is None:
            return "gone"
        return g.state.value if g.state is not None else "unprotected"

    def fill_exit(self, order: PlaceOrder, count: int, yes_price: int, t: float, *, done: bool = True) -> list[Any]:
        out = []
        if count:
            fill = Fill(
                f"t{next(self.trade_ids)}",
                f"oid-{order.client_order_id}",
                order.ticker,
                order.book_side,
                yes_price,
                count,
                fee=0,
                client_order_id=order.client_order_id,
            )
            out += self.feed(fill, t)
        if done:
            status = "executed" if count == order.count else "canceled"
            upd = OrderUpdate(
                f"oid-{order.client_order_id}",
                order.client_order_id,
                order.ticker,
                status,
                count,
                order.count - count if status == "canceled" else 0,
            )
            out += self.feed(upd, t)
        return out


def armed(side: str = "yes", entry: str = "0.50", count: int = 10, **rules: Any) -> Harness:
    h = Harness()
    h.buy(side, count, entry, 0.0)
    h.feed(Protect(T, protection(**rules)), 0.0)
    assert h.state() == "armed"
    return h


# ------------------------------------------------------------------------------------------ mark semantics
@pytest.mark.parametrize(
    ("side", "source", "bid", "ask", "last", "expected"),
    [
        ("yes", "bid", "0.40", "0.45", None, "0.4000"),
        ("no", "bid", "0.40", "0.45", None, "0.5500"),  # NO bid = 1 - YES ask
        ("yes", "bid", None, "0.45", None, None),  # no YES bid: not a price
        ("no", "bid", "0.40", None, None, None),  # no YES ask = no NO bid
        ("yes", "last", "0.40", "0.45", "0.42", "0.4200"),
        ("no", "last", "0.40", "0.45", "0.42", "0.5800"),
        ("yes", "last", "0.40", "0.45", None, None),
        ("yes", "mid", "0.40", "0.45", None, "0.4250"),
        ("no", "mid", "0.40", "0.45", None, "0.5750"),
        ("yes", "mid", None, "0.45", None, None),
    ],
)
def test_mark_of(
    side: str, source: str, bid: str | None, ask: str | None, last: str | None, expected: str | None
) -> None:
    q = quote(bid, ask, 1.0, last=last)
    assert mark_of(side, q, source) == (c(expected) if expected else None)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ the rules
@dataclass
class Case:
    name: str
    side: str
    entry: str
    rules: dict[str, Any]
    tape: list[tuple[str | None, str | None]]  # YES bid, YES ask per quote (one per second)
    fires_at: int | None  # index of the quote that triggers, or None
    trigger: str = ""
    book_side: str = ""
    last: list[str | None] | None = None


CASES = [
    Case(
        "stop distance, long YES",
        "yes",
        "0.50",
        {"stop": 0.10},
        [("0.49", "0.51"), ("0.41", "0.43"), ("0.40", "0.42")],
        2,
        "stop_loss",
        "ask",
    ),
    Case(
        "stop price, long YES",
        "yes",
        "0.50",
        {"stop_price": "0.45"},
        [("0.46", "0.48"), ("0.45", "0.47")],
        1,
        "stop_loss",
        "ask",
    ),
    Case(
        "stop fraction 20%, long YES",
        "yes",
        "0.50",
        {"stop_fraction": 0.2},
        [("0.41", "0.43"), ("0.40", "0.43")],
        1,
        "stop_loss",
        "ask",
    ),
    Case(
        "stop on NO bid = 1 - YES ask, long NO",
        "no",
        "0.40",
        {"stop": 0.10},
        [("0.60", "0.69"), ("0.65", "0.70")],
        1,
        "stop_loss",
        "bid",
    ),
    Case("long NO ignores the YES bid", "no", "0.40", {"stop": 0.10}, [("0.10", "0.62"), ("0.05", "0.69")], None),
    Case("no bid never triggers a bid rule", "yes", "0.50", {"stop": 0.10}, [(None, "0.30"), (None, "0.20")], None),
    Case(
        "take-profit, long YES",
        "yes",
        "0.50",
        {"take_profit": 0.15},
        [("0.60", "0.62"), ("0.65", "0.66")],
        1,
        "take_profit",
        "ask",
    ),
    Case(
        "take-profit, long NO",
        "no",
        "0.30",
        {"take_profit": 0.10},
        [("0.55", "0.61"), ("0.55", "0.60")],
        1,
        "take_profit",
        "bid",
    ),
    Case(
        "trailing ratchets up, fires on the pull-back",
        "yes",
        "0.50",
        {"trailing": 0.05},
        [("0.52", "0.53"), ("0.60", "0.61"), ("0.56", "0.57"), ("0.58", "0.59"), ("0.55", "0.56")],
        4,
        "trailing_stop",
        "ask",
    ),
    Case(
        "trailing never ratchets down",
        "yes",
        "0.50",
        {"trailing": 0.05},
        [("0.52", "0.53"), ("0.48", "0.49"), ("0.47", "0.48")],
        2,
        "trailing_stop",
        "ask",
    ),
    Case(
        "trailing waits for its activation",
        "yes",
        "0.50",
        {"trailing": 0.05, "trailing_activation": 0.05},
        [("0.53", "0.54"), ("0.40", "0.41"), ("0.56", "0.57"), ("0.51", "0.52")],
        3,
        "trailing_stop",
        "ask",
    ),
    Case(
        "trailing fraction",
        "yes",
        "0.50",
        {"trailing_fraction": 0.1},
        [("0.80", "0.81"), ("0.73", "0.74"), ("0.72", "0.73")],
        2,
        "trailing_stop",
        "ask",
    ),
    Case(
        "break-even moves the stop to entry",
        "yes",
        "0.50",
        {"stop": 0.20, "break_even_after": 0.05},
        [("0.51", "0.52"), ("0.56", "0.57"), ("0.51", "0.52"), ("0.50", "0.51")],
        3,
        "break_even",
        "ask",
    ),
    Case(
        "stop and take-profit crossed by one quote: stop wins",
        "yes",
        "0.50",
        {"take_profit": 0.10, "break_even_after": 0.05, "break_even_offset": 0.12},
        [("0.61", "0.62")],
        0,
        "break_even",
        "ask",
    ),
    Case(
        "trigger on last trade",
        "yes",
        "0.50",
        {"stop": 0.10, "trigger_source": "last"},
        [("0.30", "0.60"), ("0.30", "0.60")],
        1,
        "stop_loss",
        "ask",
        last=["0.45", "0.40"],
    ),
    Case(
        "trigger on mid",
        "yes",
        "0.50",
        {"stop": 0.10, "trigger_source": "mid"},
        [("0.30", "0.52"), ("0.30", "0.50")],
        1,
        "stop_loss",
        "ask",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[k.name for k in CASES])
def test_rule_table(case: Case) -> None:
    h = armed(case.side, case.entry, **case.rules)
    fired_at = None
    order = None
    for i, (bid, ask) in enumerate(case.tape):
        last = case.last[i] if case.last else None
        out = h.feed(quote(bid, ask, 1.0 + i, last=last), 1.0 + i)
        orders = h.of(PlaceOrder, out)
        if orders:
            assert fired_at is None, f"fired twice (again at {i})"
            fired_at, order = i, orders[0]
    assert fired_at == case.fires_at
    if order is None:
        assert h.state() == "armed"
        return
    assert order.trigger == case.trigger
    assert order.book_side == case.book_side
    assert order.time_in_force == "immediate_or_cancel" and order.reduce_only
    assert order.count == 1000
    # Fully aggressive exit on a linear-cent grid: sell YES at 0.01 / buy YES back at 0.99.
    assert order.yes_price == (c("0.01") if case.book_side == "ask" else c("0.99"))
    decision = next(d for d in h.of(Decision) if d.kind == "trigger")
    assert decision.trigger == case.trigger
    if "stop wins" in case.name:
        assert "stop wins" in decision.detail
    assert h.state() == "exit_sent"


def test_rules_resolve_against_entry_and_reject_impossible_levels() -> None:
    with pytest.raises(RuleError, match="below \\$0"):
        protection(stop=0.60).check(c("0.50"))
    with pytest.raises(RuleError, match="at or below the stop-loss"):
        protection(stop_price=0.6, take_profit_price=0.55).check(c("0.50"))
    with pytest.raises(RuleError, match="only one of"):
        protection(stop=0.1, stop_price=0.4)
    with pytest.raises(RuleError, match="precision"):
        protection(stop=0.00001)
    with pytest.raises(RuleError, match="trailing"):
        Trailing(Level.price(0.4))
    with pytest.raises(RuleError):
        Protection(stale_policy="sometimes")  # type: ignore[arg-type]
    levels = Protection(stop_loss=Level.fraction(0.25), take_profit=Level.distance(0.2)).resolve(c("0.40"))
    assert (levels.stop, levels.take_profit) == (c("0.30"), c("0.60"))


def test_rules_on_a_position_with_bad_levels_are_not_armed() -> None:
    h = Harness()
    h.buy("yes", 10, "0.05", 0.0)
    out = h.feed(Protect(T, protection(stop=0.10)), 0.0)
    assert h.of(Alert, out) and "rules not armed" in h.of(Alert, out)[0].message
    assert h.state() == "unprotected"


# ------------------------------------------------------------------------------------------ time
def test_time_exit_at_a_time() -> None:
    h = armed(time_exit_at_ns=100 * S)
    assert h.monitor.next_deadline() == 100 * S
    assert h.of(PlaceOrder, h.feed(Tick(), 99.9)) == []
    orders = h.of(PlaceOrder, h.feed(Tick(), 100.0))
    assert [o.trigger for o in orders] == ["time_exit"]


def test_time_exit_before_close_and_close_disarms() -> None:
    h = armed(exit_before_close_s=30)
    h.feed(MarketInfo(T, close_ns=200 * S), 1.0)
    assert h.monitor.next_deadline() == 170 * S
    orders = h.of(PlaceOrder, h.feed(Tick(), 170.0))
    assert orders and orders[0].trigger == "time_exit"


def test_market_close_disarms_rules() -> None:
    h = armed(stop=0.10)
    h.feed(MarketInfo(T, close_ns=50 * S), 1.0)
    assert h.monitor.next_deadline() == 50 * S
    h.feed(Tick(), 50.0)
    assert h.state() == "disarmed"
    assert h.of(PlaceOrder, h.feed(quote("0.10", "0.12", 51.0), 51.0)) == []


# ------------------------------------------------------------------------------------------ stale prices
@pytest.mark.parametrize("policy", ["hold", "confirm", "fire"])
def test_stale_policy(policy: str) -> None:
    h = armed(stop=0.10, stale_policy=policy, stale_after_s=60)
    # A crossing quote that was received 61 s ago (a backlog) is stale at decision time.
    out = h.feed(quote("0.39", "0.41", 100.0, recv_delay=61.0), 100.0)
    if policy == "hold":
        assert h.of(PlaceOrder, out) == [] and h.state() == "armed"
        assert [d.kind for d in h.of(Decision, out)] == ["held_stale"]
        assert h.of(Decision, h.feed(quote("0.38", "0.41", 101.0, recv_delay=61.0), 101.0)) == []  # said once
        assert h.of(PlaceOrder, h.feed(quote("0.38", "0.41", 102.0), 102.0))  # a fresh price acts
    elif policy == "confirm":
        assert h.of(ConfirmQuote, out) and h.state() == "triggered"
        assert h.of(PlaceOrder, out) == []
        fresh = h.feed(quote("0.39", "0.41", 101.0, source="rest"), 101.0)
        assert [d.kind for d in h.of(Decision, fresh)][:2] == ["confirmed", "trigger"]
        assert h.of(PlaceOrder, fresh)
    else:
        assert h.of(PlaceOrder, out) and h.state() == "exit_sent"


def test_confirm_not_confirmed_returns_to_armed_and_asks_again_on_timeout() -> None:
    h = armed(stop=0.10, stale_after_s=60)
    h.feed(FeedStatus(False, "socket closed", recv_ns=10 * S), 10.0)
    out = h.feed(Tick(), 11.0)  # the cached price is from before the drop: stale
    assert h.of(PlaceOrder, out) == []
    h.feed(quote("0.39", "0.40", 5.0), 5.0)  # (fed late on purpose: recv 5 s < drop at 10 s)
    out = h.feed(Tick(), 12.0)
    assert h.of(ConfirmQuote, out) and h.state() == "triggered"
    assert h.monitor.next_deadline() == 17 * S
    assert h.of(ConfirmQuote, h.feed(Tick(), 17.0))  # no answer within 5 s: ask again
    h.feed(ConfirmFailed(T, "HTTP 503"), 17.5)
    assert h.state() == "triggered"
    out = h.feed(quote("0.45", "0.46", 18.0, source="rest"), 18.0)
    assert [d.kind for d in h.of(Decision, out)] == ["not_confirmed"]
    assert h.state() == "armed"


# ------------------------------------------------------------------------------------------ lifecycle
def test_determined_disarms_and_settlement_closes_with_pnl() -> None:
    h = armed(stop=0.10)
    h.feed(Lifecycle(T, "determined", result="no", settlement_value=0), 5.0)
    assert h.state() == "disarmed"
    assert h.of(PlaceOrder, h.feed(quote("0.01", "0.02", 6.0), 6.0)) == []
    out = h.feed(Lifecycle(T, "settled", result="no"), 7.0)
    closed = h.of(PositionClosed, out)[0]
    assert closed.reason == "settlement" and closed.settlement_result == "no"
    assert closed.realized == -c("0.50") * 1000  # paid 0.50 per contract, 10 contracts, worth 0
    assert h.of(Unwatch, out) and h.state() == "gone"


def test_pause_and_resume_of_a_market() -> None:
    h = armed(stop=0.10)
    h.feed(Lifecycle(T, "deactivated", is_deactivated=True), 1.0)
    assert h.state() == "disarmed"
    h.feed(Lifecycle(T, "activated", is_deactivated=False), 2.0)
    assert h.state() == "armed"


def test_settled_yes_long_no_loses_everything() -> None:
    h = armed("no", "0.30", stop=0.10)
    out = h.feed(Lifecycle(T, "settled", result="yes", settlement_value=10_000), 3.0)
    assert h.of(PositionClosed, out)[0].realized == -c("0.30") * 1000


# ------------------------------------------------------------------------------------------ exits
def test_exit_fills_close_the_position_and_count_once() -> None:
    h = armed(stop=0.10)
    order = h.of(PlaceOrder, h.feed(quote("0.40", "0.41", 1.0), 1.0))[0]
    assert order.client_order_id == exit_order_id("test", f"{T}#1", "stop_loss", 1)
    fill = Fill("x1", "oid-1", T, "ask", c("0.40"), 1000, fee=170000, client_order_id=order.client_order_id)
    h.feed(fill, 1.1)
    h.feed(fill, 1.1)  # the same trade again (e.g. after a reconnect): ignored
    out = h.feed(OrderUpdate("oid-1", order.client_order_id, T, "executed", 1000, 0, fees=170000), 1.2)
    closed = h.of(PositionClosed, out)[0]
    assert closed.reason == "stop_loss" and closed.exit_price == c("0.40") and closed.entry_price == c("0.50")
    assert closed.realized == -c("0.10") * 1000 and closed.fees == 170000
    assert closed.trigger_price == c("0.40")


def test_order_report_before_fills_does_not_double_count() -> None:
    h = armed(stop=0.10)
    order = h.of(PlaceOrder, h.feed(quote("0.40", "0.41", 1.0), 1.0))[0]
    h.feed(OrderUpdate("oid-1", order.client_order_id, T, "canceled", 600, 400, average_fill_price=c("0.40")), 1.1)
    assert h.monitor.position(T).count == 400  # type: ignore[union-attr]
    h.feed(Fill("x1", "oid-1", T, "ask", c("0.40"), 600, client_order_id=order.client_order_id), 1.2)
    assert h.monitor.position(T).count == 400  # type: ignore[union-attr]


def test_partial_fill_retries_the_remainder_with_a_new_id_until_flat() -> None:
    h = armed(stop=0.10)
    first = h.of(PlaceOrder, h.feed(quote("0.40", "0.41", 1.0), 1.0))[0]
    h.fill_exit(first, 300, c("0.40"), 1.1)
    assert h.state() == "triggered"
    assert h.monitor.next_deadline() == int(2.1 * S)  # retry_interval 1 s
    second = h.of(PlaceOrder, h.feed(quote("0.38", "0.41", 1.5), 1.5))[0]  # a new bid: retry now
    # A fresh id, and attempt 1 again: the first attempt sold something (only futile attempts count).
    assert second.count == 700 and second.client_order_id != first.client_order_id and second.attempt == 1
    out = h.fill_exit(second, 700, c("0.38"), 1.6)
    assert h.of(PositionClosed, out)[0].exit_price == (300 * c("0.40") + 700 * c("0.38")) // 1000


def test_a_retry_waits_for_a_bid_to_sell_into() -> None:
    h = armed(stop=0.10)
    first = h.of(PlaceOrder, h.feed(quote("0.40", "0.41", 1.0), 1.0))[0]
    h.fill_exit(first, 0, 0, 1.1)
    assert h.of(PlaceOrder, h.feed(quote(None, "0.41", 1.5), 1.5)) == []  # still no bid
    assert h.of(PlaceOrder, h.feed(Tick(), 2.1)) == []  # the deadline passes: a fresh price shows no bid, wait
    assert h.state() == "triggered" and h.monitor.next_deadline() == int(3.1 * S)
    second = h.of(PlaceOrder, h.feed(quote("0.35", "0.41", 2.5), 2.5))  # a bid: retry at once
    assert [o.count for o in second] == [1000] and second[0].attempt == 2


def test_a_retry_on_a_stale_price_is_sent_anyway() -> None:
    h = armed(stop=0.10, stale_after_s=5)
    first = h.of(PlaceOrder, h.feed(quote("0.40", "0.41", 1.0), 1.0))[0]
    h.fill_exit(first, 0, 0, 1.1)
    h.feed(quote(None, "0.41", 1.5), 1.5)
    assert h.of(PlaceOrder, h.feed(Tick(), 7.0))  # the no-bid price is 5.5 s old: it proves nothing, send


def test_futile_attempts_fail_the_exit_but_it_is_tried_again_later() -> None:
    h = armed(stop=0.10, max_attempts=2)
    o1 = h.of(PlaceOrder, h.feed(quote("0.40", "0.41", 1.0), 1.0))[0]
    h.fill_exit(o1, 0, 0, 1.1)
    o2 = h.of(PlaceOrder, h.feed(quote("0.39", "0.41", 2.0), 2.0))[0]
    h.fill_exit(o2, 0, 0, 2.1)
    h.feed(quote("0.39", "0.41", 3.0), 3.0)
    assert h.state() == "failed" and h.monitor.next_deadline() == 33 * S
    out = h.feed(Tick(), 33.0)
    again = h.of(PlaceOrder, out)
    assert again and again[0].client_order_id not in (o1.client_order_id, o2.client_order_id)
    assert any("again" in a.message for a in h.of(Alert, out))


def test_an_exit_that_keeps_selling_in_small_pieces_is_not_failed() -> None:
    h = armed(stop=0.10, max_attempts=2, count=10)
    order = h.of(PlaceOrder, h.feed(quote("0.40", "0.41", 1.0), 1.0))[0]
    for i in range(9):  # nine attempts that each sell one contract
        h.fill_exit(order, 100, c("0.40"), 1.1 + i)
        order = h.of(PlaceOrder, h.feed(quote("0.40", "0.41", 1.5 + i), 1.5 + i))[0]
    assert h.state() == "exit_sent" and order.count == 100
    assert h.of(PositionClosed, h.fill_exit(order, 100, c("0.40"), 20.0))


def test_attempts_exhausted_fail_with_an_alert_and_can_be_rearmed() -> None:
    h = armed(stop=0.10, max_attempts=2)
    o1 = h.of(PlaceOrder, h.feed(quote("0.40", "0.41", 1.0), 1.0))[0]
    h.fill_exit(o1, 0, 0, 1.1)
    o2 = h.of(PlaceOrder, h.feed(quote("0.39", "0.41", 2.0), 2.0))[0]
    out = h.fill_exit(o2, 0, 0, 2.1)
    out += h.feed(quote("0.39", "0.41", 3.0), 3.0)
    out += h.feed(Tick(), 4.0)
    assert h.state() == "failed"
    assert any(a.level == "error" and "2 attempts" in a.message for a in h.of(Alert, out))
    # Re-arming with the price still through the stop would exit at once: refused unless asked for.
    out = h.feed(Protect(T, protection(stop=0.10)), 5.0)
    assert h.of(PlaceOrder, out) == [] and h.state() == "failed"
    assert [d.kind for d in h.of(Decision, out)] == ["protect_refused"]
    o3 = h.of(PlaceOrder, h.feed(Protect(T, protection(stop=0.10), allow_immediate=True), 5.0))[0]
    assert o3.client_order_id not in (o1.client_order_id, o2.client_order_id)


def test_terminal_rejection_fails_the_guard() -> None:
    h = armed(stop=0.10)
    order = h.of(PlaceOrder, h.feed(quote("0.40", "0.41", 1.0), 1.0))[0]
    out = h.feed(OrderRejected(order.client_order_id, "insufficient_balance", "no"), 1.1)
    assert h.state() == "failed" and h.of(Alert, out)


def test_unknown_outcome_blocks_new_exits_until_looked_up() -> None:
    h = armed(stop=0.10)
    order = h.of(PlaceOrder, h.feed(quote("0.40", "0.41", 1.0), 1.0))[0]
    out = h.feed(OrderUnknown(order.client_order_id, "timeout"), 1.1)
    assert h.of(LookupOrder, out)
    assert h.of(PlaceOrder, h.feed(quote("0.30", "0.41", 1.2), 1.2)) == []
    assert h.of(PlaceOrder, h.feed(Tick(), 2.0)) == []
    assert h.of(LookupOrder, h.feed(Tick(), 3.1))  # looked up again after lookup_retry
    resent = h.of(PlaceOrder, h.feed(OrderNotFound(order.client_order_id), 3.2))
    assert [o.client_order_id for o in resent] == [order.client_order_id]  # same id: a duplicate is refused
    out = h.fill_exit(order, 1000, c("0.40"), 3.3)
    assert h.of(PositionClosed, out)


def test_an_exit_that_never_reaches_the_exchange_is_never_given_up() -> None:
    """Each lookup that finds nothing re-sends the same id; later lookups back off; a person is told at 3."""
    h = armed(stop=0.10)
    order = h.of(PlaceOrder, h.feed(quote("0.40", "0.41", 1.0), 1.0))[0]
    t, alerts = 1.0, []
    for i in range(6):
        t += 0.1
        out = h.feed(OrderUnknown(order.client_order_id, "HTTP 503"), t)
        assert bool(h.of(LookupOrder, out)) == (i == 0), "only the first unknown is looked up at once"
        deadline = h.monitor.next_deadline()
        assert deadline is not None and deadline > int(t * S)
        t = deadline / S
        assert h.of(LookupOrder, h.feed(Tick(), t))
        out = h.feed(OrderNotFound(order.client_order_id), t)
        alerts += [a.message for a in h.of(Alert, out)]
        assert [o.client_order_id for o in h.of(PlaceOrder, out)] == [order.client_order_id]
    assert h.state() == "exit_sent"
    assert alerts == [f"exit {order.client_order_id} has not reached the exchange after 3 sends; still trying"]


def test_unknown_outcome_resolved_as_executed() -> None:
    h = armed(stop=0.10)
    order = h.of(PlaceOrder, h.feed(quote("0.40", "0.41", 1.0), 1.0))[0]
    h.feed(OrderUnknown(order.client_order_id, "timeout"), 1.1)
    out = h.feed(OrderUpdate("oid-9", order.client_order_id, T, "executed", 1000, 0), 2.0)
    assert h.of(PositionClosed, out) and h.state() == "gone"


# ------------------------------------------------------------------------------------------ positions
def test_adopted_position_gets_default_rules_and_is_watched() -> None:
    m = Monitor(MonitorConfig(id_salt="s", default_protection=protection(stop=0.05)))
    out = m.feed(PositionUpdate(T, -500, cost=c("0.30") * 500, source="reconcile"), 1 * S)
    assert any(isinstance(a, Watch) for a in out)
    assert m.positions[T].state is GuardState.ARMED
    assert m.positions[T].levels.stop == c("0.25")  # type: ignore[union-attr]
    out = m.feed(quote("0.70", "0.75", 2.0), 2 * S)  # NO bid 0.25
    assert [o.book_side for o in out if isinstance(o, PlaceOrder)] == ["bid"]


def test_position_closed_elsewhere() -> None:
    h = armed(stop=0.10)
    out = h.feed(PositionUpdate(T, 0, source="reconcile"), 2.0)
    assert h.of(PositionClosed, out)[0].reason == "external"


def test_tracked_entry_opens_with_its_protection_atomically() -> None:
    h = Harness()
    h.feed(TrackOrder("entry-1", T, "bid", 500, protection=protection(stop=0.10)), 0.0)
    out = h.feed(Fill("e1", "oid-e", T, "bid", c("0.50"), 500, client_order_id="entry-1"), 0.5)
    assert h.of(Watch, out) and h.state() == "armed"
    assert any(isinstance(a, Transition) and a.new == "armed" for a in out)


def test_adding_to_a_position_moves_levels_with_the_average_entry() -> None:
    h = armed(stop=0.10, entry="0.50")
    h.buy("yes", 10, "0.40", 1.0)
    assert h.monitor.positions[T].levels.stop == c("0.35")  # type: ignore[union-attr]


def test_flatten_pause_and_unprotect() -> None:
    h = armed(stop=0.10)
    h.feed(SetPaused(True), 1.0)
    assert h.of(PlaceOrder, h.feed(quote("0.30", "0.31", 1.5), 1.5)) == []
    h.feed(SetPaused(False), 2.0)
    assert h.of(PlaceOrder, h.feed(Tick(), 2.5))  # the sweep acts on the cached price
    h2 = armed(stop=0.10)
    h2.feed(Unprotect(T), 1.0)
    assert h2.state() == "unprotected"
    out = h2.feed(Flatten(T), 2.0)
    assert [o.trigger for o in h2.of(PlaceOrder, out)] == ["manual"]


def test_trade_events_update_the_last_price() -> None:
    h = armed(stop=0.10, trigger_source="last")
    h.feed(quote("0.30", "0.60", 1.0, last="0.48"), 1.0)
    out = h.feed(Trade(T, "tr1", c("0.40"), 100), 2.0)
    assert h.of(PlaceOrder, out)


def test_grid_and_slippage_cap_price_the_exit() -> None:
    h = armed(stop=0.10, max_slippage=0.03)
    h.feed(MarketInfo(T, grid=PriceGrid.named("deci_cent")), 0.5)
    order = h.of(PlaceOrder, h.feed(quote("0.3995", "0.41", 1.0), 1.0))[0]
    assert order.yes_price == c("0.370")  # 0.3995 - 0.03 = 0.3695, rounded up onto the 0.001 grid


# ------------------------------------------------------------------------------------------ the guard table
def test_every_move_outside_the_table_raises_and_closed_is_terminal() -> None:
    for state, event in itertools.product([None, *GuardState], GuardEvent):
        g = Guard(_state=state)
        if (state, event) in TABLE:
            _, new = g.handle(event, 0)
            assert new is TABLE[(state, event)][0]
        else:
            with pytest.raises(IllegalTransition):
                g.handle(event, 0)
            assert g.state is state  # a refused move changes nothing
    assert not [e for (s, e) in TABLE if s is GuardState.CLOSED]


def test_only_the_guard_writes_its_state() -> None:
    """No module of the kit assigns a guard's state: every move goes through Guard.handle and its table."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "kalshikit"
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for path in root.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\._state\s*=[^=]|\b(g|guard)\.state\s*=[^=]", line) and path.name != "guard.py"
    ]
    assert offenders == []


# ------------------------------------------------------------------------------------------ quiet band
@pytest.mark.parametrize("seed", range(8))
def test_quiet_band_skips_change_nothing(seed: int) -> None:
    """Feeding only the quotes outside the monitor's quiet band gives exactly the same decisions and orders."""
    rng = random.Random(seed)
    rules = rng.choice(
        [
            {"stop": 0.08},
            {"stop": 0.05, "take_profit": 0.10},
            {"trailing": 0.04},
            {"trailing": 0.03, "trailing_activation": 0.02, "stop": 0.10},
            {"stop": 0.10, "break_even_after": 0.04},
        ]
    )
    side = rng.choice(["yes", "no"])
    full, skip = armed(side, "0.50", **rules), armed(side, "0.50", **rules)
    price = 5000
    fed_skip = 0
    for i in range(3000):
        price = max(100, min(9800, price + rng.choice([-100, 0, 100])))
        bid = None if rng.random() < 0.05 else price
        q = Quote(T, bid, price + 100, 100, 100, None, exchange_ns=(i + 1) * S, recv_ns=(i + 1) * S)
        a = full.monitor.feed(q, (i + 1) * S)
        band = skip.monitor.quiet_band(T)
        if band is not None:
            low, high, s, src = band
            m = mark_of(s, q, src)
            if m is None or low < m < high:
                skip.monitor.quotes[T] = q
                assert a == [], f"quote {i} inside the band produced {a}"
                continue
        fed_skip += 1
        b = skip.monitor.feed(q, (i + 1) * S)
        assert a == b
        if any(isinstance(x, PlaceOrder) for x in a):
            break
    assert fed_skip < 3000


def test_snapshot_describes_each_position() -> None:
    h = armed(stop=0.10, take_profit=0.20, trailing=0.05)
    h.feed(quote("0.55", "0.56", 1.0), 1.0)
    (view,) = h.monitor.snapshot(2 * S)
    assert view.state == "armed" and view.mark == c("0.55") and view.trailing_peak == c("0.55")
    assert view.stop == c("0.50") and view.stop_rule == "trailing_stop" and view.take_profit == c("0.70")
    assert view.unrealized == (c("0.55") - c("0.50")) * 1000
    assert view.nearest_trigger == "trailing_stop" and view.distance_to_trigger == c("0.05")
    assert not view.stale
    assert h.monitor.snapshot(200 * S)[0].stale


def test_monitor_rejects_unknown_events() -> None:
    with pytest.raises(TypeError):
        Monitor().feed(object(), 0)


def test_break_even_and_time_exit_objects_validate() -> None:
    with pytest.raises(RuleError):
        TimeExit()
    with pytest.raises(RuleError):
        TimeExit(before_close_s=-1)
    assert BreakEven(Level.distance(0.05)).offset == 0


def test_reconcile_snapshot_older_than_a_local_close_does_not_resurrect_the_position() -> None:
    h = armed(stop=0.10)
    order = h.of(PlaceOrder, h.feed(quote("0.40", "0.41", 10.0), 10.0))[0]
    h.fill_exit(order, 1000, c("0.40"), 10.1)
    assert h.state() == "gone"
    stale = Reconcile((PositionUpdate(T, 1000, cost=c("0.50") * 1000, source="reconcile"),), as_of_ns=9 * S)
    assert h.feed(stale, 11.0) == [] and h.state() == "gone"
    fresh = Reconcile((PositionUpdate(T, 300, cost=c("0.45") * 300, source="reconcile"),), as_of_ns=12 * S)
    assert h.of(Watch, h.feed(fresh, 13.0)) and h.monitor.position(T).count == 300  # type: ignore[union-attr]


def test_reconcile_keeps_local_changes_newer_than_the_snapshot_and_zeroes_missing_ones() -> None:
    h = armed(stop=0.10)  # position changed locally at t=0
    h.feed(Reconcile((), as_of_ns=-1 * S), 1.0)  # snapshot from before our fill: keep ours
    assert h.monitor.position(T).count == 1000  # type: ignore[union-attr]
    out = h.feed(Reconcile((), as_of_ns=5 * S), 6.0)  # newer snapshot without the market: flat elsewhere
    assert h.of(PositionClosed, out)[0].reason == "external"


def test_late_report_of_an_exit_never_reopens_its_closed_position() -> None:
    h = armed(stop=0.10)
    order = h.of(PlaceOrder, h.feed(quote("0.40", "0.41", 1.0), 1.0))[0]
    h.feed(PositionUpdate(T, 0, source="ws"), 1.1)  # closed by the exchange's own report first
    h.feed(OrderUpdate("oid", order.client_order_id, T, "executed", 1000, 0), 1.2)
    assert h.state() == "gone"
    h.feed(Fill("late", "oid", T, "ask", c("0.40"), 1000, client_order_id=order.client_order_id), 1.3)
    assert h.state() == "gone" and not h.of(Watch, h.actions[-3:])
