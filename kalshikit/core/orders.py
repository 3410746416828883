"""The order tracker: every order the monitor sent or was told about, what the exchange reported of it, and how
much of it the position already contains.

- Fills are deduplicated by ``trade_id`` (a bounded, insertion-ordered memory).
- An order's filled count is the larger of what the exchange reported (order updates) and what its fills add up
  to, so the two sources never count twice; ``applied`` is how much of that the position holds already.
- An order whose outcome is unknown is looked up (``unknown``); a lookup that finds nothing lets the driver send it
  again under the same id, at most ``MAX_RESENDS`` times.
- Finished orders of closed positions are archived: their ids are remembered (bounded) so that a late report of
  them is recognised and ignored instead of opening a position of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kalshikit.core.events import BookSide, Fill, OrderUpdate
from kalshikit.core.positions import signed
from kalshikit.core.rules import Protection

OrderState = Literal["pending", "unknown", "done", "rejected"]
SEEN_TRADES_MAX = 100_000
FINISHED_MAX = 10_000
MAX_RESENDS = 3


@dataclass
class TrackedOrder:
    client_order_id: str
    ticker: str
    book_side: BookSide
    count: int
    purpose: str  # exit | entry
    position_id: str = ""
    trigger: str = ""
    attempt: int = 0
    yes_price: int | None = None
    order_id: str | None = None
    status: OrderState = "pending"  # pending (sent, no final word) | unknown | done | rejected
    reported_filled: int = 0  # fill count the exchange reported for the order
    fill_total: int = 0  # Σ count of its fills seen
    fill_value: int = 0  # Σ yes_price × count of its fills seen
    applied: int = 0  # how much of this order's fills the position already contains
    applied_value: int = 0  # Σ yes_price × count of what was applied
    fees_reported: int = 0
    fees_fills: int = 0
    fees_applied: int = 0
    average_price: int | None = None  # YES price, as reported
    protection: Protection | None = None  # entries: the rules to arm on the position it opens
    sent_ns: int = 0
    resends: int = 0  # sent again after a lookup found nothing
    lookups: int = 0  # lookups asked for while its outcome is unknown (spacing them out)
    lookup_at: int | None = None  # next lookup of an unknown order that is not a guard's exit (entries)

    @property
    def filled(self) -> int:
        return max(self.reported_filled, self.fill_total)

    @property
    def in_flight(self) -> bool:
        return self.status == "pending" or self.status == "unknown"


@dataclass(frozen=True)
class FillDelta:
    """What an order's new fills change in its market's position."""

    signed_count: int
    yes_price: int
    fee: int


class OrderTracker:
    """Owned by one monitor; not thread-safe."""

    def __init__(self, seen_trades_max: int = SEEN_TRADES_MAX, finished_max: int = FINISHED_MAX) -> None:
        self.seen_trades_max = seen_trades_max
        self.finished_max = finished_max
        self.orders: dict[str, TrackedOrder] = {}
        self.by_exchange_id: dict[str, TrackedOrder] = {}
        self.seen_trades: dict[str, None] = {}
        self.finished: dict[str, None] = {}  # client and exchange ids of archived orders
        self.new_trades: list[str] = []  # trade ids seen since the journal last took them
        self.new_finished: list[str] = []  # ids archived since the journal last took them
        self.track_new = True  # keep new_trades / new_finished for a journal (off when nothing is saved)

    # ------------------------------------------------------------------ lookup
    def add(self, o: TrackedOrder) -> None:
        self.orders[o.client_order_id] = o
        if o.order_id:
            self.by_exchange_id[o.order_id] = o

    def find(self, client_order_id: str | None, order_id: str | None) -> TrackedOrder | None:
        o = self.orders.get(client_order_id) if client_order_id else None
        if o is None and order_id:
            o = self.by_exchange_id.get(order_id)
        return o

    def is_finished(self, client_order_id: str | None, order_id: str | None) -> bool:
        """An archived order of ours: its reports are already counted."""
        return bool(
            (client_order_id and client_order_id in self.finished) or (order_id and order_id in self.finished)
        )

    def in_flight_for(self, ticker: str) -> bool:
        return any(o.in_flight and o.ticker == ticker for o in self.orders.values())

    def lookups_due(self, now: int) -> list[TrackedOrder]:
        """Unknown orders with their own lookup timer (not a guard's exit) whose time has come."""
        return [
            o
            for o in self.orders.values()
            if o.status == "unknown" and o.lookup_at is not None and now >= o.lookup_at
        ]

    def next_lookup(self) -> int | None:
        times = [o.lookup_at for o in self.orders.values() if o.status == "unknown" and o.lookup_at is not None]
        return min(times) if times else None

    def _know_exchange_id(self, o: TrackedOrder, order_id: str | None) -> None:
        if order_id and o.order_id is None:
            o.order_id = order_id
            self.by_exchange_id[order_id] = o

    # ------------------------------------------------------------------ reports
    def first_sight(self, trade_id: str) -> bool:
        """Register a fill's trade id; False when it was seen before (a duplicate)."""
        if trade_id in self.seen_trades:
            return False
        self.seen_trades[trade_id] = None
        if self.track_new:
            self.new_trades.append(trade_id)
        if len(self.seen_trades) > self.seen_trades_max:
            del self.seen_trades[next(iter(self.seen_trades))]
        return True

    def on_fill(self, o: TrackedOrder, f: Fill) -> None:
        self._know_exchange_id(o, f.order_id)
        o.fill_total += f.count
        o.fill_value += f.yes_price * f.count
        o.fees_fills += f.fee

    def on_update(self, o: TrackedOrder, u: OrderUpdate) -> bool:
        """Take an order report; returns True when it finished an order that was in flight."""
        self._know_exchange_id(o, u.order_id)
        o.reported_filled = max(o.reported_filled, u.fill_count)
        o.fees_reported = max(o.fees_reported, u.fees)
        if u.average_fill_price is not None:
            o.average_price = u.average_fill_price
        was_in_flight = o.in_flight
        if u.status in ("executed", "canceled"):
            o.status = "done"
        elif o.status == "unknown":
            o.status = "pending"  # it exists on the exchange: no longer unknown
        o.lookup_at = None
        return was_in_flight and o.status == "done"

    def take_delta(self, o: TrackedOrder) -> FillDelta | None:
        """What this order's fills add to the position since last time (and mark it applied), or None."""
        filled = o.filled
        delta = filled - o.applied
        # Fills carry the exact fee; an order report's fee may be derived from a rounded average (the create
        # reply's average_fee_paid). When the fills explain the whole order, their fee is the truth, even if that
        # corrects an earlier estimate downwards.
        fills_complete = o.fill_total >= filled and o.fill_total > 0
        fee_total = o.fees_fills if fills_complete else max(o.fees_reported, o.fees_fills)
        fee_delta = fee_total - o.fees_applied
        if delta <= 0 and fee_delta == 0:
            return None
        if delta > 0:
            if o.fill_total >= filled:
                total_value = o.fill_value  # the fills explain everything: exact prices
            else:
                unit = o.average_price if o.average_price is not None else (o.yes_price or 0)
                total_value = max(o.applied_value, unit * filled)
            delta_value = total_value - o.applied_value
            price = (delta_value + delta // 2) // delta
            o.applied = filled
            o.applied_value = total_value
        else:
            delta, price = 0, o.average_price or o.yes_price or 0
        o.fees_applied = fee_total
        return FillDelta(signed(o.book_side, delta), price, fee_delta)

    def absorb(self, o: TrackedOrder) -> None:
        """Count everything reported of ``o`` as applied without changing a position (its position is gone)."""
        o.applied = max(o.applied, o.filled)
        o.applied_value = max(o.applied_value, o.fill_value)
        o.fees_applied = o.fees_fills if o.fill_total >= o.filled and o.fill_total > 0 else max(
            o.fees_applied, o.fees_reported, o.fees_fills
        )

    # ------------------------------------------------------------------ forgetting
    def archive(self, position_id: str) -> None:
        """Forget the finished orders of a closed position, remembering their ids."""
        gone = [o for o in self.orders.values() if o.position_id == position_id and not o.in_flight]
        for o in gone:
            self._forget(o)

    def archive_order(self, o: TrackedOrder) -> None:
        if not o.in_flight:
            self._forget(o)

    def _forget(self, o: TrackedOrder) -> None:
        del self.orders[o.client_order_id]
        ids = [o.client_order_id] if not o.order_id else [o.client_order_id, o.order_id]
        if o.order_id:
            self.by_exchange_id.pop(o.order_id, None)
        for i in ids:
            self.finished[i] = None
            if self.track_new:
                self.new_finished.append(i)
        while len(self.finished) > self.finished_max:
            del self.finished[next(iter(self.finished))]

    def take_new_trades(self) -> list[str]:
        out, self.new_trades = self.new_trades, []
        return out

    def take_new_finished(self) -> list[str]:
        out, self.new_finished = self.new_finished, []
        return out
