"""Position accounting for one market: signed count, cost basis, realized P&L and fees, exact in integers.

Kalshi nets YES and NO in one market: ``count`` > 0 holds YES contracts, < 0 NO contracts. A fill on the YES book's
bid side adds YES (or closes NO); on the ask side it sells YES (or adds NO). The *own-side* price of a position is
the YES price for YES holders and ``1 − YES price`` for NO holders. Money is micro-dollars (price × count).
"""

from __future__ import annotations

from dataclasses import dataclass

from kalshikit.core.events import BookSide, Side
from kalshikit.units import PRICE_SCALE

ONE = PRICE_SCALE


def own_price(side: Side, yes_price: int) -> int:
    """The price of ``side``'s contract when the YES leg trades at ``yes_price``."""
    return yes_price if side == "yes" else ONE - yes_price


def yes_payout(result: str | None, settlement_value: int | None) -> int | None:
    """What one YES contract pays at settlement: the announced value, else a dollar for ``yes`` and 0 for ``no``;
    None when neither is known (a scalar result without its value)."""
    if settlement_value is not None:
        return settlement_value
    return ONE if result == "yes" else 0 if result == "no" else None


def side_of(count: int) -> Side | None:
    if count > 0:
        return "yes"
    if count < 0:
        return "no"
    return None


def signed(book_side: BookSide, count: int) -> int:
    """Signed position change of a fill: buying YES (bid) adds, selling YES (ask) subtracts."""
    return count if book_side == "bid" else -count


@dataclass
class Position:
    """One market's net position. Mutated only by its owner (the monitor)."""

    ticker: str
    position_id: str
    count: int = 0
    cost: int = 0  # micro-dollars paid for the contracts now held (cost basis)
    realized: int = 0  # micro-dollars, before fees
    fees: int = 0  # micro-dollars
    opened_ns: int = 0
    max_abs_count: int = 0
    exit_value: int = 0  # micro-dollars received for contracts closed (for the average exit price)
    exit_count: int = 0
    opened_side: Side | None = None  # the side first held
    opened_cost: int = 0  # micro-dollars paid for everything bought on the first side
    opened_count: int = 0
    settled_result: str | None = None
    updated_ns: int = 0  # when the count last changed (reconciliation trusts the exchange only for older changes)

    @property
    def side(self) -> Side | None:
        return side_of(self.count)

    @property
    def abs_count(self) -> int:
        return abs(self.count)

    @property
    def entry_price(self) -> int | None:
        """Average own-side entry price of the contracts held, rounded to the nearest $0.0001."""
        n = abs(self.count)
        if n == 0:
            return None
        return (self.cost + n // 2) // n

    @property
    def average_entry_price(self) -> int | None:
        """Average own-side price of everything bought on the side first held (stays after the position closes)."""
        if self.opened_count == 0:
            return None
        return (self.opened_cost + self.opened_count // 2) // self.opened_count

    @property
    def average_exit_price(self) -> int | None:
        if self.exit_count == 0:
            return None
        return (self.exit_value + self.exit_count // 2) // self.exit_count

    @property
    def net_pnl(self) -> int:
        return self.realized - self.fees

    def unrealized(self, mark: int | None) -> int | None:
        """Mark-to-market P&L of the held contracts at own-side ``mark``."""
        if mark is None or self.count == 0:
            return None
        return mark * abs(self.count) - self.cost

    def apply(self, delta: int, yes_price: int, fee: int = 0, ns: int = 0) -> int:
        """Apply a signed fill of ``delta`` at ``yes_price``; returns the realized P&L it produced."""
        if delta == 0:
            self.fees += fee
            return 0
        self.fees += fee
        self.updated_ns = ns
        realized = 0
        if self.count == 0 or (self.count > 0) == (delta > 0):
            side: Side = "yes" if delta > 0 else "no"
            paid = own_price(side, yes_price) * abs(delta)
            self.cost += paid
            self.count += delta
            if self.opened_side is None:
                self.opened_side = side
            if side == self.opened_side:
                self.opened_cost += paid
                self.opened_count += abs(delta)
            if self.opened_ns == 0:
                self.opened_ns = ns
        else:
            held_side: Side = "yes" if self.count > 0 else "no"
            held = abs(self.count)
            closing = min(abs(delta), held)
            exit_own = own_price(held_side, yes_price)
            cost_out = self.cost * closing // held
            realized = exit_own * closing - cost_out
            self.cost -= cost_out
            self.realized += realized
            self.exit_value += exit_own * closing
            self.exit_count += closing
            self.count += closing if delta > 0 else -closing
            rest = abs(delta) - closing
            if rest:  # flipped through zero: the remainder opens the other side
                new_side: Side = "yes" if delta > 0 else "no"
                self.cost = own_price(new_side, yes_price) * rest
                self.count = rest if delta > 0 else -rest
        self.max_abs_count = max(self.max_abs_count, abs(self.count))
        return realized

    def settle(self, settlement_yes_price: int, result: str | None = None, ns: int = 0) -> int:
        """Close everything at the settlement value (YES payout in price units); returns realized P&L."""
        if self.count == 0:
            self.settled_result = result
            return 0
        delta = -self.count
        realized = self.apply(delta, settlement_yes_price, 0, ns)
        self.settled_result = result
        return realized

    def reset_to(self, count: int, cost: int | None, ns: int = 0) -> None:
        """Adopt the exchange's view (reconciliation). Keeps realized P&L; cost from the exchange when given."""
        if count != 0 and self.count == 0 and self.opened_ns == 0:
            self.opened_ns = ns
        self.updated_ns = ns
        if cost is not None:
            self.cost = abs(cost)
        elif count == 0:
            self.cost = 0
        elif self.count != 0 and (count > 0) == (self.count > 0):
            self.cost = self.cost * abs(count) // abs(self.count)
        else:
            self.cost = 0
        self.count = count
        self.max_abs_count = max(self.max_abs_count, abs(count))
        if count != 0 and self.opened_side is None:
            self.opened_side = side_of(count)
            self.opened_cost = self.cost
            self.opened_count = abs(count)
