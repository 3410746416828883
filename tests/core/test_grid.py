"""Tests for kalshikit.core.grid: valid order prices, floor and ceil, for Kalshi's named structures and custom ranges.

Each grid's valid set is written out independently from Kalshi's definitions (protocol notes §5) and every price
0..$1 is checked against it by brute force.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from kalshikit.core.grid import LINEAR_CENT, PriceGrid, PriceRange
from kalshikit.units import PRICE_SCALE

ONE = PRICE_SCALE

# Valid prices in $0.0001 units, from the structure definitions.
VALID: dict[str, set[int]] = {
    "linear_cent": set(range(100, 9_901, 100)),  # $0.01 .. $0.99 by $0.01
    "deci_cent": set(range(10, 9_991, 10)),  # $0.001 .. $0.999 by $0.001
    # $0.001 below $0.10 and above $0.90, $0.01 in between
    "tapered_deci_cent": set(range(10, 1_001, 10)) | set(range(1_000, 9_001, 100)) | set(range(9_000, 9_991, 10)),
}


def check_grid(grid: PriceGrid, valid: set[int], lo: int = -50, hi: int = ONE + 50) -> None:
    """Brute force over every price in [lo, hi]: validity, and floor/ceil found by sweeping up and down."""
    ordered = sorted(valid)
    assert grid.prices() == ordered
    assert (grid.min_price, grid.max_price) == (ordered[0], ordered[-1])
    floor: dict[int, int | None] = {}
    last: int | None = None
    for p in range(lo, hi + 1):
        last = p if p in valid else last
        floor[p] = last
    ceil: dict[int, int | None] = {}
    last = None
    for p in range(hi, lo - 1, -1):
        last = p if p in valid else last
        ceil[p] = last
    for p in range(lo, hi + 1):
        assert grid.is_valid(p) == (p in valid), p
        assert grid.floor(p) == floor[p], p
        assert grid.ceil(p) == ceil[p], p


@pytest.mark.parametrize("structure", sorted(VALID))
def test_named_structures_brute_force(structure: str) -> None:
    grid = PriceGrid.named(structure)
    assert grid.structure == structure
    check_grid(grid, VALID[structure])


@pytest.mark.parametrize(
    ("structure", "price", "valid", "floor", "ceil"),
    [
        ("linear_cent", 6300, True, 6300, 6300),
        ("linear_cent", 6350, False, 6300, 6400),
        ("linear_cent", 9950, False, 9900, None),
        ("linear_cent", 50, False, None, 100),
        ("linear_cent", 0, False, None, 100),
        ("linear_cent", ONE, False, 9900, None),
        ("deci_cent", 9950, True, 9950, 9950),
        ("deci_cent", 9955, False, 9950, 9960),
        ("deci_cent", 5, False, None, 10),
        ("tapered_deci_cent", 950, True, 950, 950),  # $0.095
        ("tapered_deci_cent", 1000, True, 1000, 1000),  # $0.10 is on both sides of the taper
        ("tapered_deci_cent", 1050, False, 1000, 1100),  # $0.105: cents only above $0.10
        ("tapered_deci_cent", 1550, False, 1500, 1600),
        ("tapered_deci_cent", 8990, False, 8900, 9000),
        ("tapered_deci_cent", 9050, True, 9050, 9050),  # $0.905
        ("tapered_deci_cent", 9055, False, 9050, 9060),
        ("tapered_deci_cent", 9995, False, 9990, None),
    ],
)
def test_named_structures_spot_checks(
    structure: str, price: int, valid: bool, floor: int | None, ceil: int | None
) -> None:
    grid = PriceGrid.named(structure)
    assert (grid.is_valid(price), grid.floor(price), grid.ceil(price)) == (valid, floor, ceil)


def test_linear_cent_constant() -> None:
    assert PriceGrid.named("linear_cent") == LINEAR_CENT


def test_unknown_structure_is_refused_with_the_known_names() -> None:
    with pytest.raises(ValueError) as info:
        PriceGrid.named("banded_centi_cent")
    msg = str(info.value)
    assert "banded_centi_cent" in msg
    for name in VALID:
        assert name in msg


CUSTOM: list[tuple[str, tuple[PriceRange, ...], set[int]]] = [
    # Kalshi writes linear_cent as 0.0000..1.0000 by 0.01; $0 and $1 are never order prices.
    ("full-cent-range", (PriceRange(0, ONE, 100),), set(range(100, ONE, 100))),
    ("offset-start", (PriceRange(5, 95, 10),), set(range(5, 96, 10))),
    (
        "gap-between-ranges",
        (PriceRange(100, 1000, 100), PriceRange(5000, 6000, 250)),
        set(range(100, 1001, 100)) | set(range(5000, 6001, 250)),
    ),
    (
        "overlapping-steps",
        (PriceRange(0, 5000, 500), PriceRange(2000, 3000, 30)),
        set(range(500, 5001, 500)) | set(range(2000, 3001, 30)),
    ),
    ("single-price", (PriceRange(4200, 4200, 1),), {4200}),
    ("end-not-on-step", (PriceRange(100, 1050, 100),), set(range(100, 1001, 100))),
    ("centi-cent", (PriceRange(1, 9999, 1),), set(range(1, 10_000))),
]


@pytest.mark.parametrize(("ranges", "valid"), [c[1:] for c in CUSTOM], ids=[c[0] for c in CUSTOM])
def test_custom_ranges_brute_force(ranges: tuple[PriceRange, ...], valid: set[int]) -> None:
    grid = PriceGrid(ranges)
    assert grid.structure == "custom"
    check_grid(grid, valid)


def test_custom_range_spot_checks() -> None:
    grid = PriceGrid((PriceRange(100, 1000, 100), PriceRange(5000, 6000, 250)))
    assert grid.floor(3000) == 1000
    assert grid.ceil(3000) == 5000
    assert grid.floor(5600) == 5500
    assert grid.ceil(5600) == 5750
    assert grid.ceil(6001) is None
    assert grid.floor(99) is None


@pytest.mark.parametrize(
    ("start", "end", "step"),
    [(0, 100, 0), (0, 100, -10), (500, 400, 10), (-10, 100, 10), (0, ONE + 1, 10)],
)
def test_bad_ranges_are_refused(start: int, end: int, step: int) -> None:
    with pytest.raises(ValueError, match="bad price range"):
        PriceRange(start, end, step)


def test_a_grid_with_only_the_ends_has_no_order_price() -> None:
    grid = PriceGrid((PriceRange(0, ONE, ONE),))
    with pytest.raises(ValueError, match="no valid order price"):
        grid.is_valid(5000)


def test_range_contains() -> None:
    r = PriceRange(5, 95, 10)
    assert [p for p in range(0, 101) if r.contains(p)] == list(range(5, 96, 10))


def test_real_price_ranges(realdata: Path) -> None:
    """Kalshi's verbatim ``price_ranges`` for linear_cent ($0.00..$1.00 by $0.01) agree with the named grid
    strictly between $0 and $1; the named grid leaves out $0 and $1 themselves, where no order can be placed."""
    doc = json.loads((realdata / "kalshi_cockpit/price_grids.json").read_text())
    assert doc["grids"]
    for entry in doc["grids"]:
        ranges = tuple(
            PriceRange(*(int(Decimal(r[k]) * ONE) for k in ("start", "end", "step"))) for r in entry["price_ranges"]
        )
        real = PriceGrid(ranges)
        named = PriceGrid.named(entry["price_level_structure"])
        for p in range(1, ONE):
            assert real.is_valid(p) == named.is_valid(p), p
        for p in range(named.min_price, named.max_price + 1):
            assert real.floor(p) == named.floor(p), p
            assert real.ceil(p) == named.ceil(p), p
