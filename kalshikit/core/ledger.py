"""The position ledger: which positions are open, each with its guard; opening, adopting, correcting, settling and
closing them, and which of the exchange's reconciliation rows to believe.

Every position gets an id ``<ticker>#<epoch>`` that never repeats for a journal (the epoch of a market counts the
positions it has had). A closed position leaves a :class:`PositionClosed` summary; the time each market's last
position closed is remembered, so an exchange snapshot taken before that close cannot resurrect it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kalshikit.core.actions import PositionClosed
from kalshikit.core.events import PositionUpdate
from kalshikit.core.guard import Guard, GuardState
from kalshikit.core.positions import Position
from kalshikit.core.rules import Protection, ResolvedLevels


@dataclass
class Holding:
    """An open position and its guard."""

    pos: Position
    guard: Guard

    @property
    def ticker(self) -> str:
        return self.pos.ticker

    @property
    def state(self) -> GuardState | None:
        return self.guard.state

    @property
    def levels(self) -> ResolvedLevels | None:
        return self.guard.levels

    @property
    def protection(self) -> Protection | None:
        return self.guard.protection


class PositionLedger:
    """Owned by one monitor; not thread-safe."""

    def __init__(self) -> None:
        self.holdings: dict[str, Holding] = {}
        self.epochs: dict[str, int] = {}
        self.closed_at: dict[str, int] = {}  # when each market's last position closed here

    def get(self, ticker: str) -> Holding | None:
        return self.holdings.get(ticker)

    def open(self, ticker: str, now: int, protection: Protection | None) -> Holding:
        epoch = self.epochs.get(ticker, 0) + 1
        self.epochs[ticker] = epoch
        h = Holding(Position(ticker, f"{ticker}#{epoch}", opened_ns=now), Guard(protection=protection))
        self.holdings[ticker] = h
        return h

    def close(self, h: Holding, reason: str, now: int) -> PositionClosed:
        """Remove a flat (or written-off) position; returns its summary."""
        pos, g = h.pos, h.guard
        triggered = bool(g.trigger) and reason == g.trigger
        summary = PositionClosed(
            ticker=pos.ticker,
            position_id=pos.position_id,
            side=pos.opened_side or "",
            count=pos.max_abs_count,
            entry_price=pos.average_entry_price,
            opened_ns=pos.opened_ns,
            closed_ns=now,
            reason=reason or "external",
            trigger_ns=g.trigger_ns if triggered else None,
            trigger_price=g.trigger_mark if triggered else None,
            exit_price=pos.average_exit_price,
            realized=pos.realized,
            fees=pos.fees,
            settlement_result=pos.settled_result,
        )
        del self.holdings[pos.ticker]
        self.closed_at[pos.ticker] = now
        return summary

    def believe(self, update: PositionUpdate, as_of_ns: int) -> bool:
        """Whether a reconciliation row taken at ``as_of_ns`` may change this market here: not when the position
        changed locally after the snapshot, nor when it closed here after it."""
        h = self.holdings.get(update.ticker)
        if h is not None:
            return h.pos.updated_ns <= as_of_ns
        return self.closed_at.get(update.ticker, 0) <= as_of_ns

    def missing_from(self, seen: set[str], as_of_ns: int) -> list[str]:
        """Held markets absent from an exchange snapshot taken at ``as_of_ns`` (flat there) that did not change
        here since."""
        return [
            t
            for t, h in self.holdings.items()
            if t not in seen and h.pos.updated_ns <= as_of_ns and h.pos.count != 0
        ]
