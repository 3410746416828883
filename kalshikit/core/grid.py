"""A market's price grid: which prices an order may use (``price_level_structure`` / ``price_ranges``).

``linear_cent``: $0.01 steps over $0.01..$0.99. ``deci_cent``: $0.001 everywhere. ``tapered_deci_cent``: $0.001 below
$0.10 and above $0.90, $0.01 in between. Markets may also send explicit ``price_ranges`` (``start``, ``end``,
``step`` in price units here), which win over the name. Prices of exactly $0 and $1 are never valid order prices,
even when a range is written as 0.0000..1.0000 (as Kalshi writes ``linear_cent``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import cached_property

from kalshikit.units import PRICE_SCALE

_ONE = PRICE_SCALE


@dataclass(frozen=True)
class PriceRange:
    start: int
    end: int
    step: int

    def __post_init__(self) -> None:
        if self.step <= 0 or self.start > self.end or self.start < 0 or self.end > _ONE:
            raise ValueError(f"bad price range {self}")

    def contains(self, price: int) -> bool:
        return self.start <= price <= self.end and (price - self.start) % self.step == 0


@dataclass(frozen=True)
class PriceGrid:
    """The valid order prices of one market, in price units ($0.0001)."""

    ranges: tuple[PriceRange, ...]
    structure: str = "custom"

    @classmethod
    def named(cls, structure: str) -> PriceGrid:
        if structure == "linear_cent":
            return cls((PriceRange(100, 9_900, 100),), structure)
        if structure == "deci_cent":
            return cls((PriceRange(10, 9_990, 10),), structure)
        if structure == "tapered_deci_cent":
            return cls(
                (PriceRange(10, 1_000, 10), PriceRange(1_000, 9_000, 100), PriceRange(9_000, 9_990, 10)),
                structure,
            )
        raise ValueError(
            f"unknown price_level_structure {structure!r}; known: linear_cent, deci_cent, tapered_deci_cent"
        )

    @cached_property
    def _valid(self) -> tuple[int, ...]:
        # Orders must be priced strictly between $0 and $1, even where a range is written as 0.0000..1.0000
        # (as Kalshi sends linear_cent): the ends are excluded here.
        out: set[int] = set()
        for r in self.ranges:
            out.update(p for p in range(r.start, r.end + 1, r.step) if 0 < p < _ONE)
        if not out:
            raise ValueError(f"price grid {self.ranges} has no valid order price strictly between $0 and $1")
        return tuple(sorted(out))

    @cached_property
    def _valid_set(self) -> frozenset[int]:
        return frozenset(self._valid)

    def is_valid(self, price: int) -> bool:
        """True when an order may use this YES price."""
        return price in self._valid_set

    @property
    def min_price(self) -> int:
        return self._valid[0]

    @property
    def max_price(self) -> int:
        return self._valid[-1]

    def floor(self, price: int) -> int | None:
        """The highest valid price <= ``price`` (None when below the grid)."""
        i = bisect.bisect_right(self._valid, price)
        return self._valid[i - 1] if i else None

    def ceil(self, price: int) -> int | None:
        """The lowest valid price >= ``price`` (None when above the grid)."""
        i = bisect.bisect_left(self._valid, price)
        return self._valid[i] if i < len(self._valid) else None

    def prices(self) -> list[int]:
        """Every valid order price, ascending."""
        return list(self._valid)


LINEAR_CENT = PriceGrid.named("linear_cent")
