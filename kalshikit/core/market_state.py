"""What the monitor knows about one market: close time, price grid, trading status and result."""

from __future__ import annotations

from dataclasses import dataclass

from kalshikit.core.grid import LINEAR_CENT, PriceGrid

HALTED = ("closed", "determined", "settled")  # statuses in which no order can trade


@dataclass
class MarketState:
    close_ns: int | None = None
    grid: PriceGrid = LINEAR_CENT
    status: str = "active"  # active | paused | closed | determined | settled
    result: str | None = None
    settlement_value: int | None = None
