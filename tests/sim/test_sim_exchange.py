"""The simulator's exchange without any server: order rules, matching, positions, fees, lifecycle, settlement."""

from __future__ import annotations

from typing import Any

import pytest

from kalshikit.core.events import Quote
from kalshikit.core.fees import taker_fee
from kalshikit.core.grid import PriceGrid
from kalshikit.sim.errors import SimError
from kalshikit.sim.exchange import DEFAULT_ACCOUNT, Exchange
from kalshikit.sim.model import Account, FillRecord, Market, Order, OrderRequest, PositionRecord, PublicTrade
from kalshikit.units import NS_PER_S

T = "KXTEST-26DEC31-T50"
C = 100  # one contract in count units
D = 1_000_000  # one dollar in money units


class Recorder:
    """A listener that keeps what the exchange announced."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def market_changed(self, m: Market, tape_ticker: bool) -> None:
        self.events.append(("market", m.ticker))

    def trade(self, m: Market, t: PublicTrade) -> None:
        self.events.append(("trade", t))

    def lifecycle(self, m: Market, event_type: str, extra: dict[str, object]) -> None:
        self.events.append(("lifecycle", (event_type, extra)))

    def order_changed(self, acct: Account, o: Order) -> None:
        self.events.append(("order", (o.order_id, o.status, o.reason)))

    def fill(self, acct: Account, f: FillRecord, m: Market) -> None:
        self.events.append(("fill", f))

    def position_changed(self, acct: Account, rec: PositionRecord) -> None:
        self.events.append(("position", (acct.name, rec.ticker, rec.pos.count)))

    def of(self, kind: str) -> list[Any]:
        return [v for k, v in self.events if k == kind]


class Clock:
    def __init__(self) -> None:
        self.ns = 1_800_000_000 * NS_PER_S

    def __call__(self) -> int:
        return self.ns


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def ex(clock: Clock, rec: Recorder) -> Exchange:
    e = Exchange(clock=clock, default_balance=1_000 * D, listener=rec)
    e.add_market(T)
    e.apply_quote(Quote(T, 4_500, 4_700, 10 * C, 20 * C))  # YES bid 0.45 x 10, ask 0.47 x 20
    return e


def req(
    side: str = "bid", price: int = 4_700, count: int = 5 * C, tif: str = "immediate_or_cancel", **kw: Any
) -> OrderRequest:
    return OrderRequest(T, side, price, count, tif, **kw)  # type: ignore[arg-type]


def test_ioc_buy_takes_the_ask_at_the_makers_price_and_charges_the_taker_fee(ex: Exchange, rec: Recorder) -> None:
    o, fills = ex.create_order(DEFAULT_ACCOUNT, req(price=5_000))
    assert o.status == "executed" and o.fill_count == 5 * C and o.remaining == 0
    assert [(f.yes_price, f.count, f.is_taker) for f in fills] == [(4_700, 5 * C, True)]
    fee = taker_fee(4_700, 5 * C)
    assert fills[0].fee == fee == 87_200  # 0.07 * 5 * 0.47 * 0.53 = 0.087185 -> $0.0872
    acct = ex.accounts[DEFAULT_ACCOUNT]
    assert acct.cash == 1_000 * D - 4_700 * 5 * C - fee
    pos = acct.positions[T].pos
    assert (pos.count, pos.cost, pos.fees) == (5 * C, 4_700 * 5 * C, fee)
    assert ex.markets[T].book.no == {5_300: 15 * C}  # the ask level shrank
    assert [t.taker_side for t in rec.of("trade")] == ["yes"]
    assert ex.markets[T].last_price == 4_700 and ex.markets[T].volume == 5 * C


def test_ioc_cancels_what_does_not_fill(ex: Exchange) -> None:
    o, fills = ex.create_order(DEFAULT_ACCOUNT, req(count=30 * C))
    assert (o.status, o.fill_count, o.remaining) == ("canceled", 20 * C, 0)
    assert sum(f.count for f in fills) == 20 * C
    o2, fills2 = ex.create_order(DEFAULT_ACCOUNT, req(price=4_600))
    assert (o2.status, o2.fill_count, fills2) == ("canceled", 0, [])


def test_sell_yes_walks_the_bids_best_first(ex: Exchange) -> None:
    ex.set_book(T, [(4_500, 2 * C), (4_400, 3 * C), (4_000, 50 * C)], [(5_300, 5 * C)])
    ex.seed_position(DEFAULT_ACCOUNT, T, 10 * C, 4_000)
    o, fills = ex.create_order(DEFAULT_ACCOUNT, req("ask", 4_300, 10 * C))
    assert [(f.yes_price, f.count) for f in fills] == [(4_500, 2 * C), (4_400, 3 * C)]
    assert (o.status, o.fill_count) == ("canceled", 5 * C)
    pos = ex.accounts[DEFAULT_ACCOUNT].positions[T].pos
    assert pos.count == 5 * C
    # realized: sold 5 at (0.45*2 + 0.44*3)/5 against a 0.40 basis
    assert pos.realized == 4_500 * 2 * C + 4_400 * 3 * C - 4_000 * 5 * C


def test_fill_or_kill_fills_all_or_nothing(ex: Exchange) -> None:
    o, fills = ex.create_order(DEFAULT_ACCOUNT, req(count=21 * C, tif="fill_or_kill"))
    assert (o.status, o.fill_count, fills) == ("canceled", 0, [])
    assert ex.markets[T].book.no == {5_300: 20 * C}
    o, fills = ex.create_order(DEFAULT_ACCOUNT, req(count=20 * C, tif="fill_or_kill"))
    assert (o.status, o.fill_count) == ("executed", 20 * C)


def test_gtc_rests_then_fills_when_the_tape_crosses_it_at_its_own_price(ex: Exchange, rec: Recorder) -> None:
    o, fills = ex.create_order(DEFAULT_ACCOUNT, req(price=4_600, count=8 * C, tif="good_till_canceled"))
    assert (o.status, fills) == ("resting", [])
    m = ex.markets[T]
    assert m.visible("yes") == {4_500: 10 * C, 4_600: 8 * C} and m.top()[0] == 4_600
    ex.apply_quote(Quote(T, 4_400, 4_500, 10 * C, 3 * C))  # the ask drops through the bid: 3 fill at 0.46
    assert (o.status, o.fill_count, o.remaining) == ("resting", 3 * C, 5 * C)
    f = rec.of("fill")[-1]
    assert (f.yes_price, f.count, f.is_taker, f.fee) == (4_600, 3 * C, False, 0)
    ex.apply_trade(T, 4_550, 50 * C, "no")  # a taker sells YES at 0.455: trades through our 0.46 bid
    assert (o.status, o.fill_count, o.remaining) == ("executed", 8 * C, 0)
    assert o not in m.resting


def test_trade_on_the_wrong_side_does_not_fill_a_resting_order(ex: Exchange) -> None:
    o, _ = ex.create_order(DEFAULT_ACCOUNT, req(price=4_600, count=8 * C, tif="good_till_canceled"))
    ex.apply_trade(T, 4_600, 50 * C, "yes")  # a YES buyer lifted an ask at 0.46: that does not hit our bid
    assert o.fill_count == 0


def test_later_taker_of_another_account_hits_a_resting_order_first(ex: Exchange) -> None:
    maker, _ = ex.create_order("alice", req("ask", 4_600, 4 * C, "good_till_canceled"))
    assert maker.status == "resting" and ex.markets[T].top()[2] == 4_600
    _taker, fills = ex.create_order("bob", req("bid", 4_700, 6 * C))
    assert [(f.yes_price, f.count) for f in fills] == [(4_600, 4 * C), (4_700, 2 * C)]
    assert maker.status == "executed"
    assert ex.accounts["alice"].positions[T].pos.count == -4 * C  # sold YES from flat = long NO
    assert ex.accounts["alice"].positions[T].pos.cost == (10_000 - 4_600) * 4 * C
    assert ex.accounts["bob"].positions[T].pos.count == 6 * C


def test_self_trade_taker_at_cross_cancels_the_rest_of_the_taker(ex: Exchange) -> None:
    mine, _ = ex.create_order(DEFAULT_ACCOUNT, req("ask", 4_600, 4 * C, "good_till_canceled"))
    taker, fills = ex.create_order(
        DEFAULT_ACCOUNT, req("bid", 4_700, 6 * C, self_trade_prevention_type="taker_at_cross")
    )
    assert fills == [] and (taker.status, taker.reason) == ("canceled", "SelfTradeCancel")
    assert mine.status == "resting"


def test_self_trade_maker_cancels_the_resting_order_and_continues(ex: Exchange) -> None:
    mine, _ = ex.create_order(DEFAULT_ACCOUNT, req("ask", 4_600, 4 * C, "good_till_canceled"))
    _taker, fills = ex.create_order(DEFAULT_ACCOUNT, req("bid", 4_700, 6 * C, self_trade_prevention_type="maker"))
    assert (mine.status, mine.reason) == ("canceled", "SelfTradeCancel")
    assert [(f.yes_price, f.count) for f in fills] == [(4_700, 6 * C)]


def test_post_only_is_canceled_when_it_would_cross(ex: Exchange) -> None:
    o, fills = ex.create_order(DEFAULT_ACCOUNT, req(price=4_700, tif="good_till_canceled", post_only=True))
    assert (o.status, o.reason, fills) == ("canceled", "PostOnlyCrossCancel", [])
    o, _ = ex.create_order(DEFAULT_ACCOUNT, req(price=4_600, tif="good_till_canceled", post_only=True))
    assert o.status == "resting"


def test_reduce_only_needs_ioc_caps_at_the_position_and_never_flips(ex: Exchange) -> None:
    with pytest.raises(SimError) as e:
        ex.create_order(DEFAULT_ACCOUNT, req("ask", 4_500, 5 * C, "good_till_canceled", reduce_only=True))
    assert e.value.status == 400 and "immediate_or_cancel" in e.value.message
    flat, fills = ex.create_order(DEFAULT_ACCOUNT, req("ask", 4_500, 5 * C, reduce_only=True))
    assert (flat.status, flat.reason, fills) == ("canceled", "ReduceOnlyCancel", [])
    ex.seed_position(DEFAULT_ACCOUNT, T, 3 * C, 4_000)
    o, fills = ex.create_order(DEFAULT_ACCOUNT, req("ask", 4_500, 5 * C, reduce_only=True))
    assert o.fill_count == 3 * C and ex.accounts[DEFAULT_ACCOUNT].positions[T].pos.count == 0
    # a reduce-only order in the direction that adds to the position does nothing
    ex.seed_position(DEFAULT_ACCOUNT, T, 2 * C, 4_000)
    o, fills = ex.create_order(DEFAULT_ACCOUNT, req("bid", 4_700, 1 * C, reduce_only=True))
    assert (o.status, fills) == ("canceled", [])


def test_exiting_a_long_no_position_buys_yes(ex: Exchange) -> None:
    ex.seed_position(DEFAULT_ACCOUNT, T, -4 * C, 5_000)  # long 4 NO bought at 0.50
    cash = ex.accounts[DEFAULT_ACCOUNT].cash
    o, fills = ex.create_order(DEFAULT_ACCOUNT, req("bid", 9_900, 10 * C, reduce_only=True))
    assert o.fill_count == 4 * C
    pos = ex.accounts[DEFAULT_ACCOUNT].positions[T].pos
    assert pos.count == 0
    assert pos.realized == (10_000 - 4_700) * 4 * C - 5_000 * 4 * C  # sold NO at 0.53 vs 0.50
    # closing a NO by buying YES at 0.47 releases $1 per pair: cash + 0.53 per contract - fee
    assert ex.accounts[DEFAULT_ACCOUNT].cash == cash + (10_000 - 4_700) * 4 * C - fills[0].fee


def test_duplicate_client_order_id_is_409(ex: Exchange) -> None:
    ex.create_order(DEFAULT_ACCOUNT, req(client_order_id="x-1"))
    with pytest.raises(SimError) as e:
        ex.create_order(DEFAULT_ACCOUNT, req(client_order_id="x-1"))
    assert (e.value.status, e.value.code) == (409, "order_already_exists")
    ex.create_order("other", req(client_order_id="x-1"))  # ids are per account


@pytest.mark.parametrize("price", [4_650, 0, 10_000, 12_000])
def test_price_off_the_grid_is_invalid_price(ex: Exchange, price: int) -> None:
    with pytest.raises(SimError) as e:
        ex.create_order(DEFAULT_ACCOUNT, req(price=price))
    assert (e.value.status, e.value.code) == (400, "invalid_price")


def test_sub_penny_prices_on_a_deci_cent_market(ex: Exchange) -> None:
    ex.add_market("KXFINE-1", grid=PriceGrid.named("tapered_deci_cent"))
    ex.apply_quote(Quote("KXFINE-1", 9_940, 9_950, 5 * C, 5 * C))
    _o, fills = ex.create_order(DEFAULT_ACCOUNT, OrderRequest("KXFINE-1", "bid", 9_950, 1 * C, "immediate_or_cancel"))
    assert fills[0].yes_price == 9_950
    with pytest.raises(SimError):
        ex.create_order(DEFAULT_ACCOUNT, OrderRequest("KXFINE-1", "bid", 5_005, 1 * C, "immediate_or_cancel"))


def test_insufficient_balance_is_400_but_closing_needs_no_balance(ex: Exchange) -> None:
    ex.account("poor", 1 * D)
    with pytest.raises(SimError) as e:
        ex.create_order("poor", req(count=3 * C))  # 3 x 0.47 + fee > $1
    assert (e.value.status, e.value.code) == (400, "insufficient_balance")
    ex.seed_position("poor", T, 10 * C, 4_000)
    o, _ = ex.create_order("poor", req("ask", 4_500, 10 * C))
    assert o.fill_count == 10 * C


def test_resting_orders_hold_balance(ex: Exchange) -> None:
    ex.account("carol", 10 * D)
    ex.create_order("carol", req("bid", 4_000, 20 * C, "good_till_canceled"))  # holds $8
    assert ex.accounts["carol"].available == 2 * D
    with pytest.raises(SimError):
        ex.create_order("carol", req("bid", 4_000, 6 * C, "good_till_canceled"))


def test_market_state_rules(ex: Exchange) -> None:
    with pytest.raises(SimError) as e:
        ex.create_order(DEFAULT_ACCOUNT, OrderRequest("NOPE", "bid", 5_000, C, "immediate_or_cancel"))
    assert e.value.status == 404
    ex.pause_market(T)
    with pytest.raises(SimError) as e:
        ex.create_order(DEFAULT_ACCOUNT, req())
    assert e.value.code == "trading_is_paused"
    ex.resume_market(T)
    ex.trading_active = False
    with pytest.raises(SimError) as e:
        ex.create_order(DEFAULT_ACCOUNT, req())
    assert e.value.status == 503
    ex.trading_active = True
    ex.close_market(T)
    with pytest.raises(SimError) as e:
        ex.create_order(DEFAULT_ACCOUNT, req())
    assert e.value.code == "market_closed"


@pytest.mark.parametrize(
    ("kw", "text"),
    [
        ({"count": 0}, "count"),
        ({"tif": "good_for_day"}, "time_in_force"),
        ({"self_trade_prevention_type": "none"}, "self_trade_prevention_type"),
        ({"post_only": True}, "post_only"),
        ({"expiration_ns": 1}, "expiration_time"),
    ],
)
def test_bad_order_fields_are_400_naming_the_field(ex: Exchange, kw: dict[str, Any], text: str) -> None:
    with pytest.raises(SimError) as e:
        ex.create_order(DEFAULT_ACCOUNT, req(**kw))
    assert e.value.status == 400 and text in e.value.message


def test_cancel_decrease_amend(ex: Exchange, clock: Clock) -> None:
    o, _ = ex.create_order(DEFAULT_ACCOUNT, req("bid", 4_000, 10 * C, "good_till_canceled", client_order_id="r"))
    assert ex.decrease_order(DEFAULT_ACCOUNT, o.order_id, reduce_by=3 * C).remaining == 7 * C
    assert ex.decrease_order(DEFAULT_ACCOUNT, o.order_id, reduce_to=9 * C).remaining == 7 * C  # never grows
    o, fills = ex.amend_order(DEFAULT_ACCOUNT, o.order_id, ticker=T, book_side="bid", price=4_100, count=12 * C)
    assert (o.price, o.remaining, o.status, fills) == (4_100, 12 * C, "resting", [])
    with pytest.raises(SimError):
        ex.amend_order(DEFAULT_ACCOUNT, o.order_id, ticker=T, book_side="ask", price=4_100, count=12 * C)
    # amending through the ask trades at once and rests the rest
    o, fills = ex.amend_order(
        DEFAULT_ACCOUNT, o.order_id, ticker=T, book_side="bid", price=4_700, count=30 * C, updated_client_order_id="r2"
    )
    assert sum(f.count for f in fills) == 20 * C and o.remaining == 10 * C and o.client_order_id == "r2"
    o2, reduced = ex.cancel_order(DEFAULT_ACCOUNT, o.order_id)
    assert (o2.status, reduced) == ("canceled", 10 * C)
    with pytest.raises(SimError) as e:
        ex.cancel_order(DEFAULT_ACCOUNT, o.order_id)
    assert e.value.status == 404
    o3, _ = ex.create_order(DEFAULT_ACCOUNT, req("bid", 4_000, 2 * C, "good_till_canceled"))
    ex.decrease_order(DEFAULT_ACCOUNT, o3.order_id, reduce_to=0)
    assert (o3.status, o3.reason) == ("canceled", "Decrease")


def test_expiring_orders_and_scheduled_close(ex: Exchange, clock: Clock) -> None:
    o, _ = ex.create_order(
        DEFAULT_ACCOUNT, req("bid", 4_000, C, "good_till_canceled", expiration_ns=clock.ns + 5 * NS_PER_S)
    )
    clock.ns += 6 * NS_PER_S
    ex.housekeeping()
    assert (o.status, o.reason) == ("canceled", "ExpiryCancel")
    ex.markets[T].close_ns = clock.ns + NS_PER_S
    o2, _ = ex.create_order(DEFAULT_ACCOUNT, req("bid", 4_000, C, "good_till_canceled"))
    clock.ns += 2 * NS_PER_S
    ex.housekeeping()
    assert ex.markets[T].status == "closed" and (o2.status, o2.reason) == ("canceled", "CloseCancel")


def test_settlement_pays_winners_and_records_it(ex: Exchange, rec: Recorder, clock: Clock) -> None:
    ex.seed_position(DEFAULT_ACCOUNT, T, 10 * C, 4_000)
    ex.seed_position("nina", T, -4 * C, 6_000)
    cash, nina_cash = ex.accounts[DEFAULT_ACCOUNT].cash, ex.accounts["nina"].cash
    ex.determine_market(T, "yes")
    assert ex.markets[T].status == "determined"
    clock.ns += 301 * NS_PER_S  # settlement_timer_seconds = 300
    ex.housekeeping()
    assert ex.markets[T].status == "finalized"
    assert ex.accounts[DEFAULT_ACCOUNT].cash == cash + 10 * D
    assert ex.accounts["nina"].cash == nina_cash
    s = ex.accounts[DEFAULT_ACCOUNT].settlements[0]
    assert (s.market_result, s.yes_count, s.yes_total_cost, s.revenue) == ("yes", 10 * C, 4_000 * 10 * C, 10 * D)
    closed = ex.accounts[DEFAULT_ACCOUNT].closed_positions[0]
    assert closed.pos.count == 0 and closed.pos.realized == 6 * D and closed.settled
    assert T not in ex.accounts[DEFAULT_ACCOUNT].positions
    events = [e for e, _ in rec.of("lifecycle")]
    assert events[-2:] == ["determined", "settled"]


def test_scalar_settlement_and_bad_results(ex: Exchange) -> None:
    ex.seed_position(DEFAULT_ACCOUNT, T, -2 * C, 5_000)
    cash = ex.accounts[DEFAULT_ACCOUNT].cash
    with pytest.raises(SimError):
        ex.determine_market(T, "maybe")
    with pytest.raises(SimError):
        ex.determine_market(T, "scalar")
    ex.settle_market(T, "scalar", 3_000)
    assert ex.accounts[DEFAULT_ACCOUNT].cash == cash + 7_000 * 2 * C  # NO gets 1 - 0.30


def test_settled_ticker_can_reopen_with_fresh_state(ex: Exchange) -> None:
    ex.settle_market(T, "no")
    old = ex.markets[T]
    m = ex.add_market(T)
    assert m is not old and m.status == "active" and m.result == ""


def test_grid_is_guessed_from_sub_penny_tape_prices(ex: Exchange) -> None:
    ex.apply_quote(Quote("KXGUESS-1", 9_950, 9_960, None, None))
    m = ex.markets["KXGUESS-1"]
    assert m.grid.is_valid(9_950) and m.grid.structure == "tapered_deci_cent"
    assert m.book.yes == {9_950: ex.unknown_size}


def test_portfolio_value_marks_at_the_held_sides_bid(ex: Exchange) -> None:
    ex.seed_position(DEFAULT_ACCOUNT, T, 10 * C, 4_000)
    assert ex.portfolio_value(ex.accounts[DEFAULT_ACCOUNT]) == 4_500 * 10 * C
