"""An exit that reaches the kit's own resting order completes (issue 12.7).

With Kalshi's ``taker_at_cross`` self-trade prevention the exit (the taker) is cancelled when it would trade with
an order of the same account, so a resting entry bid above the other bids would stop every exit attempt. Exits use
``maker`` instead: the resting order is cancelled and the exit goes on to the rest of the book.
"""

from __future__ import annotations

from collections.abc import Callable

from kalshikit.core.rules import protection
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.live.kit import Kit
from kalshikit.sim import Simulator
from tests.conftest import eventually
from tests.live.test_kit import held, open_position

T = "KXSTP-26DEC31-T50"


def test_an_exit_cancels_the_kits_own_resting_bid_and_completes(exchange: Simulator,
                                                                 make_kit: Callable[..., Kit]) -> None:
    exchange.add_market(T, yes_bid=4_600, yes_ask=4_800, yes_bid_size=100_000, yes_ask_size=100_000)
    kit = make_kit(default_protection=protection(stop=0.05))
    kit.start()
    open_position(exchange, kit, T, count=1000, price=5000)
    rest = KalshiRest(exchange.rest_url, exchange.signer())
    try:
        # Our own GTC bid at 0.44, under the others' 0.46 for now.
        resting = rest.create_order(T, "bid", 4_400, 500, time_in_force="good_till_canceled",
                                    client_order_id="my-resting-bid")
        assert resting.status == "resting"
        # The others' bid falls to 0.43: ours is the best bid, 0.44 crosses the 0.45 stop, and it is the first
        # thing the exit would sell into.
        exchange.set_quote(T, 4_300, 4_800, 100_000, 100_000)
        eventually(lambda: held(exchange, T) == 0, timeout=15, what="the exit to complete")
        (mine,) = [o for o in rest.orders(ticker=T) if o.client_order_id == "my-resting-bid"]
        assert mine.status == "canceled", "self-trade prevention cancelled the resting order, not the exit"
        exits = [o for o in exchange.order_log() if isinstance(o.body, dict) and o.body.get("reduce_only")]
        assert {o.body["self_trade_prevention_type"] for o in exits} == {"maker"}
        assert len(exits) == 1, "one exit did it: it was not cancelled and retried"
    finally:
        rest.close()
