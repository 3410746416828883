"""The monitor's persistent state is exact by construction: for every state that random event sequences reach,

- a journal that saved every ``Monitor.changes()`` holds exactly ``Monitor.export_state()``;
- ``from_state(export_state())`` through JSON is equal, row for row and object for object;
- a monitor restored from that state (given the same prices) makes the same decisions as the original from then on.

The sequences mix everything the live engine feeds: entries and fills, rules, quotes, partial exits, unknown
outcomes and lookups, rejections, pauses, lifecycle, reconciliation, time.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from kalshikit.core.actions import LookupOrder, PlaceOrder
from kalshikit.core.events import (
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
    SubmitEntry,
    Tick,
    Unprotect,
)
from kalshikit.core.monitor import Monitor, MonitorConfig, StateChanges
from kalshikit.core.persistence import MonitorState, decode_holding, decode_order, encode_holding, encode_order
from kalshikit.core.rules import protection

S = 1_000_000_000
TICKERS = ("KXA-1", "KXB-2", "KXC-3")
RULES = [
    {"stop": 0.05},
    {"stop": 0.05, "take_profit": 0.08},
    {"trailing": 0.03, "trailing_activation": 0.02},
    {"stop": 0.10, "break_even_after": 0.03, "max_attempts": 2},
    {"stop": 0.04, "stale_policy": "confirm", "stale_after_s": 5},
    {"stop": 0.04, "stale_policy": "hold", "stale_after_s": 5},
    {"take_profit": 0.90},  # beyond $1 for most entries: no take-profit
    {"stop": 0.90, "take_profit": 0.05},  # the stop cannot apply: the take-profit is armed alone
    {"exit_before_close_s": 30},
]


@dataclass
class Journal:
    """What a journal holds after saving every change (the rows, and the append-only id lists)."""

    rows: dict[str, Any] = field(default_factory=dict)
    trade_ids: list[str] = field(default_factory=list)
    finished_ids: list[str] = field(default_factory=list)

    def save(self, ch: StateChanges) -> None:
        for k, v in ch.rows.items():
            if v is None:
                self.rows.pop(k, None)
            else:
                self.rows[k] = json.loads(json.dumps(v))
        self.trade_ids += ch.trade_ids
        self.finished_ids += ch.finished_ids


def as_json(state: MonitorState) -> MonitorState:
    return MonitorState(json.loads(json.dumps(state.rows)), list(state.trade_ids), list(state.finished_ids))


class Driver:
    """Feeds one monitor random but plausible events and answers its orders like an exchange would."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.now = 1 * S
        self.tickers = list(TICKERS)
        self.prices = dict.fromkeys(TICKERS, 5000)
        self.pending: list[PlaceOrder] = []  # orders waiting for their outcome
        self.unknown: list[str] = []  # orders whose outcome was reported unknown
        self.trades = 0
        self.entries = 0
        self.held: dict[str, int] = dict.fromkeys(TICKERS, 0)  # the exchange's positions

    def next_event(self, m: Monitor) -> Any:
        rng = self.rng
        self.now += rng.randint(1, 3) * S // 4
        t = rng.choice(self.tickers)
        r = rng.random()
        if self.pending and r < 0.25:
            return self.answer(self.pending.pop(rng.randrange(len(self.pending))))
        if self.unknown and r < 0.32:
            coid = self.unknown.pop()
            o = m.tracker.orders.get(coid)
            if o is None or rng.random() < 0.5:
                return OrderNotFound(coid)
            return self.update_for(o.client_order_id, o.ticker, o.book_side, o.count, rng.randint(0, o.count))
        if r < 0.55:
            p = self.prices[t] = max(300, min(9700, self.prices[t] + rng.choice([-300, -100, 0, 100, 200])))
            bid = None if rng.random() < 0.05 else p
            delay = 10 * S if rng.random() < 0.05 else 0
            return Quote(t, bid, p + 100, 500, 500, p, exchange_ns=self.now, recv_ns=self.now - delay)
        if r < 0.62:
            self.entries += 1
            side = rng.choice(["bid", "ask"])
            return SubmitEntry(f"en-{self.entries}", t, side, self.prices[t] + 100, rng.choice([300, 1000]),
                               protection=protection(**rng.choice(RULES)) if rng.random() < 0.7 else None)
        if r < 0.68:
            return Protect(t, protection(**rng.choice(RULES)), allow_immediate=rng.random() < 0.5)
        if r < 0.72:
            return Tick()
        if r < 0.74:
            return rng.choice([Flatten(t), Unprotect(t), SetPaused(rng.random() < 0.3)])
        if r < 0.755:
            return rng.choice([
                Lifecycle(t, "deactivated", is_deactivated=True),
                Lifecycle(t, "activated", is_deactivated=False),
                Lifecycle(t, "activated", is_deactivated=False),
                MarketInfo(t, close_ns=self.now + rng.randint(60, 200) * S),
            ])
        if r < 0.758:
            # the market settles; trading moves on to a new market
            self.tickers[self.tickers.index(t)] = new = f"{t}-{self.now}"
            self.prices[new], self.held[new] = 5000, 0
            return Lifecycle(t, "settled", result=rng.choice(["yes", "no"]))
        if r < 0.82:
            rows = tuple(
                PositionUpdate(k, v, cost=abs(v) * 5000, source="reconcile") for k, v in self.held.items() if v
            )
            return Reconcile(rows, as_of_ns=self.now - rng.randint(0, 3) * S)
        if r < 0.85:
            # a fill from an order the monitor does not know (the website)
            self.trades += 1
            count = rng.choice([100, 200])
            side = rng.choice(["bid", "ask"])
            self.held[t] += count if side == "bid" else -count
            return Fill(f"w{self.trades}", f"web-{self.trades}", t, side, self.prices[t], count, fee=700)
        return Tick()

    def update_for(self, coid: str, ticker: str, book_side: str, count: int, filled: int) -> OrderUpdate:
        self.held[ticker] += filled if book_side == "bid" else -filled
        status = "executed" if filled == count else "canceled"
        return OrderUpdate(f"x-{coid}", coid, ticker, status, filled, count - filled,
                           average_fill_price=self.prices[ticker], fees=filled * 7)  # type: ignore[arg-type]

    def answer(self, o: PlaceOrder) -> Any:
        rng = self.rng
        r = rng.random()
        if r < 0.1:
            return OrderRejected(o.client_order_id, "insufficient_balance", "no", terminal=rng.random() < 0.5)
        if r < 0.25:
            self.unknown.append(o.client_order_id)
            return OrderUnknown(o.client_order_id, "timeout")
        filled = o.count if r < 0.7 else rng.randint(0, o.count)
        if o.reduce_only:
            held = self.held[o.ticker]
            filled = min(filled, max(0, held if o.book_side == "ask" else -held))
        if rng.random() < 0.5 and filled:
            self.trades += 1
            self.held[o.ticker] += filled if o.book_side == "bid" else -filled
            return Fill(f"t{self.trades}", f"x-{o.client_order_id}", o.ticker, o.book_side, self.prices[o.ticker],
                        filled, fee=filled * 7, client_order_id=o.client_order_id)
        return self.update_for(o.client_order_id, o.ticker, o.book_side, o.count, filled)

    def take(self, actions: list[Any]) -> None:
        for a in actions:
            if isinstance(a, PlaceOrder):
                self.pending.append(a)
            elif isinstance(a, LookupOrder) and a.client_order_id not in self.unknown:
                self.unknown.append(a.client_order_id)


def config() -> MonitorConfig:
    return MonitorConfig(id_salt="prop", default_protection=protection(stop=0.06), lookup_retry_ns=2 * S)


@pytest.mark.parametrize("seed", range(12))
def test_every_reached_state_saves_and_restores_exactly(seed: int) -> None:
    d = Driver(seed)
    m = Monitor(config())
    journal = Journal()
    states_seen: set[str] = set()
    for step in range(600):
        ev = d.next_event(m)
        out = m.feed(ev, d.now)
        d.take(out)
        journal.save(m.changes())
        full = m.export_state()
        assert journal.rows == json.loads(json.dumps(full.rows)), f"step {step}: journal rows differ after {ev}"
        assert journal.trade_ids[-len(full.trade_ids):] == full.trade_ids if full.trade_ids else True
        assert journal.finished_ids[-len(full.finished_ids):] == full.finished_ids if full.finished_ids else True
        restored = Monitor.from_state(config(), as_json(full))
        assert restored.export_state().rows == json.loads(json.dumps(full.rows)), f"step {step}"
        for h in m.positions.values():
            assert decode_holding(json.loads(json.dumps(encode_holding(h)))) == h
            states_seen.add(h.guard.state.value if h.guard.state else "unprotected")
        for o in m.tracker.orders.values():
            assert decode_order(json.loads(json.dumps(encode_order(o)))) == o
    assert {"armed", "exit_sent"} <= states_seen, states_seen


@pytest.mark.parametrize("seed", range(12))
def test_a_restored_monitor_decides_exactly_as_the_original(seed: int) -> None:
    """Restore at random points (through JSON) and run both on the same continuation: identical actions."""
    d = Driver(1000 + seed)
    m = Monitor(config())
    compared = 0
    for step in range(500):
        ev = d.next_event(m)
        d.take(m.feed(ev, d.now))
        if step % 37 != 36:
            continue
        twin = Monitor.from_state(config(), as_json(m.export_state()))
        for q in m.quotes.values():
            twin.observe(q)
        twin.feed_up, twin.feed_down_since = m.feed_up, m.feed_down_since
        probe = Driver(seed * 7 + step)
        probe.now, probe.prices, probe.held = d.now, dict(d.prices), dict(d.held)
        probe.pending, probe.unknown = list(d.pending), list(d.unknown)
        for _ in range(60):
            ev2 = probe.next_event(m)
            a, b = m.feed(ev2, probe.now), twin.feed(ev2, probe.now)
            assert a == b, f"after restore at step {step}, {ev2} gave different actions"
            assert m.next_deadline() == twin.next_deadline()
            probe.take(a)
            compared += 1
        # keep going from the probe's world
        d = probe
    assert compared >= 600
