"""Price-time matching of one incoming order against a market's tape liquidity and the resting orders of accounts.

:func:`plan` looks without touching anything, so fill-or-kill and post-only can ask "what would happen" first;
:func:`take_external` then removes what was matched from the tape's :class:`~kalshikit.core.book.OrderBook`.
At one price, resting orders of accounts go before the tape's liquidity (they are the only queue the simulator
knows), and among them the earlier order goes first. Fills happen at the maker's price.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kalshikit.core.events import BookSide
from kalshikit.sim.model import ONE, Market, Order


@dataclass(frozen=True)
class Match:
    """``count`` at YES ``price`` against a resting ``maker`` order, or the tape's liquidity when ``maker`` is None."""

    price: int
    count: int
    maker: Order | None = None


@dataclass
class Plan:
    matches: list[Match] = field(default_factory=list)
    self_trade_stop: bool = False  # taker_at_cross met its own resting order: the rest of the taker is canceled
    cancel_makers: list[Order] = field(default_factory=list)  # stp=maker: own resting orders to cancel

    @property
    def count(self) -> int:
        return sum(m.count for m in self.matches)


def crosses(book_side: BookSide, limit: int, price: int) -> bool:
    """True when a YES ``price`` on the other side is acceptable to an order on ``book_side`` with ``limit``."""
    return price <= limit if book_side == "bid" else price >= limit


def _candidates(m: Market, book_side: BookSide, limit: int) -> list[tuple[int, int, int, Order | None, int]]:
    """``(sort_key, tie, yes_price, maker, size)`` of everything the order could trade with, best first."""
    out: list[tuple[int, int, int, Order | None, int]] = []
    sign = 1 if book_side == "bid" else -1  # bids want the lowest YES ask first; asks the highest YES bid
    if book_side == "bid":
        for p, c in m.book.no.items():
            yes = ONE - p
            if yes <= limit:
                out.append((sign * yes, 1 << 62, yes, None, c))
    else:
        for p, c in m.book.yes.items():
            if p >= limit:
                out.append((sign * p, 1 << 62, p, None, c))
    for o in m.resting:
        if o.book_side != book_side and o.remaining > 0 and crosses(book_side, limit, o.price):
            out.append((sign * o.price, o.priority, o.price, o, o.remaining))
    out.sort(key=lambda t: (t[0], t[1]))
    return out


def plan(m: Market, book_side: BookSide, limit: int, count: int, account: str, stp: str) -> Plan:
    """What an order of ``account`` would match now (nothing is changed)."""
    result = Plan()
    remaining = count
    for _key, _tie, price, maker, size in _candidates(m, book_side, limit):
        if remaining <= 0:
            break
        if maker is not None and maker.account == account:
            if stp == "maker":
                result.cancel_makers.append(maker)
                continue
            result.self_trade_stop = True
            break
        n = min(size, remaining)
        result.matches.append(Match(price, n, maker))
        remaining -= n
    return result


def take_external(m: Market, book_side: BookSide, yes_price: int, count: int) -> None:
    """Remove ``count`` of tape liquidity at ``yes_price`` from the side an order on ``book_side`` trades with."""
    if book_side == "bid":
        m.book.add("no", ONE - yes_price, -count)
    else:
        m.book.add("yes", yes_price, -count)


def external_against(m: Market, order: Order) -> int:
    """How much tape liquidity now crosses a resting ``order`` (the tape moved through its price)."""
    if order.book_side == "bid":
        return sum(c for p, c in m.book.no.items() if ONE - p <= order.price)
    return sum(c for p, c in m.book.yes.items() if p >= order.price)


def consume_external(m: Market, order: Order, count: int) -> None:
    """Remove ``count`` of the crossing tape liquidity, best levels first (the resting order fills at its price)."""
    m.book.take(order.book_side, order.price, count)


def by_priority(orders: list[Order]) -> list[Order]:
    """Resting orders best first per side: bids high to low, asks low to high, then by time."""
    return sorted(orders, key=lambda o: ((-o.price if o.book_side == "bid" else o.price), o.priority))
