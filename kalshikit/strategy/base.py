"""The strategy interface: given a snapshot of the world, return order intents.

A strategy is any object with a ``name`` and a ``decide(ctx) -> list[OrderIntent]`` method (a notebook cell can
define one in three lines). The StrategyLoop thread calls it every ``STRATEGY_LOOP_INTERVAL``; risk limits and
execution happen outside the strategy, so a strategy cannot bypass them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import msgspec

from kalshikit.core.events import Quote, Side
from kalshikit.core.fees import FeeSchedule


class OrderIntent(msgspec.Struct, frozen=True):
    """Buy ``count`` (1/100 contracts) of ``side`` in ``ticker`` paying at most ``limit_price`` (own-side price units).

    ``time_in_force``: ``immediate_or_cancel`` takes what is there now; ``good_till_canceled`` rests for
    ``rest_seconds`` and is then cancelled. ``protection`` (a :class:`kalshikit.core.rules.Protection`) is armed
    on the resulting position the moment it fills.
    """

    ticker: str
    side: Side
    count: int
    limit_price: int
    reason: str = ""
    time_in_force: Literal["immediate_or_cancel", "good_till_canceled"] = "immediate_or_cancel"
    rest_seconds: float = 30.0
    protection: Any = None


@dataclass(frozen=True)
class StrategyContext:
    """What a strategy sees on one cycle. Immutable; prices/counts/money are integers (see kalshikit.units).

    ``fees``: ticker -> the :class:`~kalshikit.core.fees.FeeSchedule` of the market's series (Kalshi's
    ``fee_type`` × ``fee_multiplier``; MLB series pay half the standard fee). :meth:`fee_schedule` looks one up
    with a fallback for markets it does not cover.
    """

    now_ns: int
    quotes: dict[str, Quote]
    positions: tuple[Any, ...]  # PositionView rows
    balance: int | None  # micro-dollars available
    markets: dict[str, Any] = field(default_factory=dict)  # ticker -> kalshikit.kalshi.models.Market
    odds: dict[str, Any] = field(default_factory=dict)  # ticker -> consensus probability data
    exchange_open: bool = True
    stale: frozenset[str] = frozenset()
    realized_today: int | None = None  # micro-dollars, net of fees, of positions closed today (None = unknown)
    fees: dict[str, FeeSchedule] = field(default_factory=dict)  # ticker -> fee schedule of its series

    def fee_schedule(self, ticker: str, default: FeeSchedule) -> FeeSchedule:
        """The fee schedule of ``ticker``'s series, or ``default`` when this context does not know it."""
        return self.fees.get(ticker, default)


class Strategy(Protocol):
    name: str

    def decide(self, ctx: StrategyContext) -> list[OrderIntent]: ...


class NoStrategy:
    """The default: trade nothing (the kit only protects positions you open yourself)."""

    name = "none"

    def decide(self, ctx: StrategyContext) -> list[OrderIntent]:
        return []
