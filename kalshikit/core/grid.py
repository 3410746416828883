"""A market's price grid: which prices an order may use (``price_level_structure`` / ``price_ranges``).

``linear_cent``: $0.01 steps over $0.01..$0.99. ``deci_cent``: $0.001 everywhere. ``tapered_deci_cent``: $0.001 below
$0.10 and above $0.90, $0.01 in between. Markets may also send explicit ``price_ranges`` (``start``, ``end``,
``step`` in price units here), which win over the name.
"""

from __future__ import annotations

from dataclasses import dataclass

_ONE = 10_000


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

    def is_valid(self, price: int) -> bool:
        return any(r.contains(price) for r in self.ranges)

    @property
    def min_price(self) -> int:
        return min(r.start for r in self.ranges)

    @property
    def max_price(self) -> int:
        # A range's end need not lie on its step (start 0.01, end 0.995, step 0.01): the last valid price is below.
        return max(r.end - (r.end - r.start) % r.step for r in self.ranges)

    def floor(self, price: int) -> int | None:
        """The highest valid price <= ``price`` (None when below the grid)."""
        best: int | None = None
        for r in self.ranges:
            if price < r.start:
                continue
            p = min(price, r.end)
            p -= (p - r.start) % r.step
            if best is None or p > best:
                best = p
        return best

    def ceil(self, price: int) -> int | None:
        """The lowest valid price >= ``price`` (None when above the grid)."""
        best: int | None = None
        for r in self.ranges:
            if price > r.end:
                continue
            p = max(price, r.start)
            rem = (p - r.start) % r.step
            if rem:
                p += r.step - rem
            if p <= r.end and (best is None or p < best):
                best = p
        return best

    def prices(self) -> list[int]:
        """Every valid price, ascending."""
        out: set[int] = set()
        for r in self.ranges:
            out.update(range(r.start, r.end + 1, r.step))
        return sorted(out)


LINEAR_CENT = PriceGrid.named("linear_cent")
