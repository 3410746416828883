"""Position helpers: own-side prices and what a contract pays at settlement."""

from __future__ import annotations

import pytest

from kalshikit.core.positions import own_price, side_of, yes_payout


@pytest.mark.parametrize(
    ("result", "value", "payout"),
    [
        ("yes", None, 10_000),
        ("no", None, 0),
        ("scalar", 3_700, 3_700),
        ("scalar", None, None),
        (None, None, None),
        ("yes", 9_000, 9_000),  # an announced value wins over the result's default
    ],
)
def test_yes_payout(result: str | None, value: int | None, payout: int | None) -> None:
    assert yes_payout(result, value) == payout


def test_own_price_mirrors_the_no_side() -> None:
    assert own_price("yes", 3_700) == 3_700
    assert own_price("no", 3_700) == 6_300


def test_side_of_signed_count() -> None:
    assert side_of(100) == "yes"
    assert side_of(-100) == "no"
    assert side_of(0) is None
