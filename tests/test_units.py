"""Tests for kalshikit.units: exact parsing/formatting of prices, counts and money in both Kalshi wire eras.

Expected values are derived independently with :class:`decimal.Decimal` (or written from the unit definitions:
price in $0.0001, count in 1/100 contract, money in micro-dollars), never copied from the code's output.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from kalshikit.errors import KalshiKitError, UnitError
from kalshikit.units import (
    CENT,
    COUNT_SCALE,
    MONEY_SCALE,
    ONE_DOLLAR,
    PRICE_SCALE,
    cents_to_price,
    count_to_contracts,
    format_count,
    format_money,
    format_price,
    money_from_cents,
    notional,
    parse_count,
    parse_dollars_to_money,
    parse_price,
    price_to_dollars,
)


def scaled(text: str, scale: int) -> int:
    """Independent oracle: ``Decimal(text) * scale`` as an exact int (fails if it would not be exact)."""
    value = Decimal(text) * scale
    assert value == value.to_integral_value(), f"{text!r} is not exact at scale {scale}"
    return int(value)


# ---------------------------------------------------------------------------- scales
def test_scales_match_the_unit_definitions() -> None:
    assert PRICE_SCALE == 10_000 == ONE_DOLLAR
    assert CENT == 100
    assert COUNT_SCALE == 100
    assert MONEY_SCALE == 1_000_000


def test_unit_error_is_a_user_facing_value_error() -> None:
    assert issubclass(UnitError, KalshiKitError)
    assert issubclass(UnitError, ValueError)
    assert UnitError.who_acts == "user"


# ---------------------------------------------------------------------------- prices
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.63", 6300),
        ("0.6300", 6300),
        ("0.9950", 9950),  # sub-penny
        ("0.0010", 10),
        ("0.001", 10),
        ("0.995", 9950),
        ("1", 10_000),
        ("1.00", 10_000),
        ("1.0000", 10_000),
        ("0", 0),
        ("0.0000", 0),
        (".5", 5_000),
        ("0.5", 5_000),
        ("0.0001", 1),
        ("0.9999", 9_999),
        ("0.630000", 6300),  # trailing zeros beyond four decimals are not significant
        ("0.12340", 1234),
    ],
)
def test_parse_price_dollar_strings(text: str, expected: int) -> None:
    assert parse_price(text) == expected
    assert parse_price(text) == scaled(text, PRICE_SCALE)


@pytest.mark.parametrize("cents", range(0, 101))
def test_legacy_cents_equal_the_dollar_string(cents: int) -> None:
    price = cents_to_price(cents)
    assert price == cents * 100
    assert price == scaled(f"{Decimal(cents) / 100:.2f}", PRICE_SCALE)
    assert price == parse_price(f"{Decimal(cents) / 100:.4f}")


@pytest.mark.parametrize("bad", [-1, 101, 1000, True, False, 63.0, "63", None])
def test_legacy_cents_rejects_out_of_range_and_non_int(bad: Any) -> None:
    with pytest.raises(UnitError) as info:
        cents_to_price(bad)
    assert repr(bad) in str(info.value)


PRICE_GARBAGE: list[Any] = [
    "abc",
    "0.12345",  # five significant decimals
    "0.99999",
    "1.5",  # above one dollar
    "1.0001",
    "2",
    "-0.1",  # negative
    "-0.0001",
    "1e-3",
    "1E2",
    "0x10",
    "٣",  # ARABIC-INDIC DIGIT THREE: str.isdigit() is True, but it is not a wire digit
    "0.٣",
    "０.５",  # fullwidth digits
    "²",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "0,5",
    "0.5.0",
    "--0.5",
    "+-0.5",
    "-",
    "+",
    ".",
    "0. 5",
    "1_000",
    "0.5$",
    "$0.5",
    "9" * 5000,  # absurdly long: must still be a clear UnitError, not a bare int() error
]


@pytest.mark.parametrize("bad", PRICE_GARBAGE)
def test_parse_price_rejects_garbage_naming_the_value(bad: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_price(bad)
    msg = str(info.value)
    assert "price" in msg
    assert repr(bad)[:20] in msg


@pytest.mark.parametrize("blank", ["", " ", "\t", "  \n"])
def test_parse_price_rejects_blank(blank: str) -> None:
    with pytest.raises(UnitError, match="empty"):
        parse_price(blank)


@pytest.mark.parametrize("bad", [None, 0.63, 0.5, 63, 1, b"0.63", Decimal("0.63")])
def test_parse_price_rejects_non_strings(bad: Any) -> None:
    with pytest.raises(UnitError) as info:
        parse_price(bad)
    assert type(bad).__name__ in str(info.value)


def test_every_grid_price_formats_and_parses_back() -> None:
    for p in range(0, PRICE_SCALE + 1):
        text = format_price(p)
        # Kalshi's 4-decimal spelling, derived independently.
        assert text == f"{Decimal(p) / PRICE_SCALE:.4f}", p
        assert parse_price(text) == p
        # The shortest spelling ("0.63", "0.995", "1", "0") parses to the same value.
        short = format(Decimal(p).scaleb(-4).normalize(), "f")
        assert parse_price(short) == p, short
        # Extra insignificant zeros are fine.
        assert parse_price(text + "00") == p
        if p % CENT == 0:
            assert parse_price(f"{Decimal(p) / PRICE_SCALE:.2f}") == p


@pytest.mark.parametrize("bad", [-1, PRICE_SCALE + 1, 10**9])
def test_format_price_rejects_out_of_range(bad: int) -> None:
    with pytest.raises(UnitError) as info:
        format_price(bad)
    assert str(bad) in str(info.value)


def test_price_to_dollars_is_display_only_float() -> None:
    assert price_to_dollars(6300) == pytest.approx(0.63)
    assert price_to_dollars(9950) == pytest.approx(0.995)
    assert isinstance(price_to_dollars(1), float)


# ---------------------------------------------------------------------------- counts
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.00", 1_000),
        ("10", 1_000),
        ("10.0", 1_000),
        ("0.5", 50),
        ("0.50", 50),
        ("5.52", 552),  # fractional contracts, as in a real fill
        ("0.01", 1),
        ("-3.25", -325),
        ("-100.00", -10_000),
        ("0.00", 0),
        ("0", 0),
        ("1406474.86", 140_647_486),
        ("13446.00", 1_344_600),
        ("1.230", 123),  # insignificant trailing zero
    ],
)
def test_parse_count_strings(text: str, expected: int) -> None:
    assert parse_count(text) == expected
    assert parse_count(text) == scaled(text, COUNT_SCALE)


@pytest.mark.parametrize("legacy", [0, 1, 10, 12345, -3, -500])
def test_parse_count_legacy_integers(legacy: int) -> None:
    assert parse_count(legacy) == legacy * 100


COUNT_GARBAGE: list[Any] = [
    "abc",
    "0.001",  # three significant decimals: finer than 1/100 contract
    "1.005",
    "1e3",
    "0x10",
    "٣",
    "٣.00",
    "1.2.3",
    "--1",
    "1,000",
    "10.00 contracts",
    "inf",
    "9" * 5000 + ".00",
]


@pytest.mark.parametrize("bad", COUNT_GARBAGE)
def test_parse_count_rejects_garbage_naming_the_value(bad: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_count(bad)
    assert repr(bad)[:20] in str(info.value)


@pytest.mark.parametrize("blank", ["", " "])
def test_parse_count_rejects_blank(blank: str) -> None:
    with pytest.raises(UnitError, match="empty"):
        parse_count(blank)


@pytest.mark.parametrize("bad", [None, 1.5, 10.0, True, False, b"10.00", [10]])
def test_parse_count_rejects_non_string_non_int(bad: Any) -> None:
    with pytest.raises(UnitError):
        parse_count(bad)


def test_counts_round_trip() -> None:
    for c in range(-20_000, 20_001, 7):
        text = format_count(c)
        assert text == f"{Decimal(c) / COUNT_SCALE:.2f}", c
        assert parse_count(text) == c
    for c in (0, 1, 99, 100, 101, 10**12, -(10**12)):
        assert parse_count(format_count(c)) == c


def test_count_to_contracts_is_display_only_float() -> None:
    assert count_to_contracts(552) == pytest.approx(5.52)


# ---------------------------------------------------------------------------- money
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.010000", 10_000),
        ("0.054600", 54_600),
        ("-12.5", -12_500_000),
        ("50.0000", 50_000_000),
        ("0", 0),
        ("0.000001", 1),
        ("123456.789012", 123_456_789_012),
        ("-0.000001", -1),
    ],
)
def test_parse_dollars_to_money(text: str, expected: int) -> None:
    assert parse_dollars_to_money(text) == expected
    assert parse_dollars_to_money(text) == scaled(text, MONEY_SCALE)


@pytest.mark.parametrize("bad", ["0.0000001", "abc", "", "1e-6", "٣", "0x1"])
def test_parse_dollars_to_money_rejects_garbage(bad: str) -> None:
    with pytest.raises(UnitError):
        parse_dollars_to_money(bad)


@pytest.mark.parametrize("bad", [None, 0.01, 1])
def test_parse_dollars_to_money_rejects_non_strings(bad: Any) -> None:
    with pytest.raises(UnitError):
        parse_dollars_to_money(bad)


def test_money_from_cents() -> None:
    for cents in (-250, -1, 0, 1, 99, 100, 123_456):
        assert money_from_cents(cents) == scaled(str(Decimal(cents) / 100), MONEY_SCALE)


def test_format_money_rounds_half_away_from_zero() -> None:
    values = [*range(-20_000, 20_001, 37), 1_005_000, -1_005_000, 4_999_999, 5_000_000, -500_000, 499_999]
    for decimals in range(0, 7):
        quantum = Decimal(1).scaleb(-decimals)
        for money in values:
            d = (Decimal(money) / MONEY_SCALE).quantize(quantum, rounding=ROUND_HALF_UP)
            expected = f"{d:f}"
            if d == 0 and money < 0:  # a negative amount that rounds to zero keeps its sign
                expected = "-" + expected.lstrip("-")
            assert format_money(money, decimals) == expected, (money, decimals)


@pytest.mark.parametrize("bad", [-1, 7])
def test_format_money_rejects_bad_decimals(bad: int) -> None:
    with pytest.raises(UnitError):
        format_money(1, bad)


def test_notional_is_exact_in_micro_dollars() -> None:
    for price in range(0, PRICE_SCALE + 1, 37):
        for count in (1, 50, 552, 1000, 140_647_486):
            dollars = Decimal(price) / PRICE_SCALE * Decimal(count) / COUNT_SCALE
            assert notional(price, count) == scaled(str(dollars), MONEY_SCALE)
