"""Tests for kalshikit.core.fees: Kalshi's quadratic and flat fees, exact in micro-dollars.

The oracle recomputes ``rate × C × P × (1 − P)`` in :class:`decimal.Decimal` and rounds up to the step. Real fills
from ``../shared/realdata/kalshi_cockpit`` (when present) check the formula against Kalshi's own ``fee_cost``.
"""

from __future__ import annotations

import json
import re
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import pytest

from kalshikit.core.fees import (
    MAKER_RATE_PPM,
    STANDARD_FEES,
    TAKER_RATE_PPM,
    FeeSchedule,
    conservative_fees,
    parse_fee_multiplier,
    quadratic_fee,
    series_of,
    taker_fee,
)
from kalshikit.errors import UnitError
from kalshikit.units import parse_count, parse_dollars_to_money, parse_price

STEP_DOLLARS = {"centicent": Decimal("0.0001"), "cent": Decimal("0.01"), "none": Decimal("0.000001")}
PRICES = [*range(0, 10_001, 7), 1, 10, 50, 100, 1700, 5000, 9950, 9990, 9999, 10_000]
COUNTS = [1, 27, 50, 100, 116, 552, 1000, 12_345, 1_000_000]


def oracle(price: int, count: int, rate: Decimal, rounding: str = "centicent") -> int:
    """Fee in micro-dollars: rate × contracts × P × (1 − P), rounded up to the step."""
    p = Decimal(price) / 10_000
    fee = rate * (Decimal(count) / 100) * p * (1 - p)
    step = STEP_DOLLARS[rounding]
    rounded = (fee / step).to_integral_value(rounding=ROUND_CEILING) * step
    return int(rounded * 1_000_000)


# ---------------------------------------------------------------------------- worked examples
@pytest.mark.parametrize(
    ("price", "count", "fee"),
    [
        (1700, 552, 54_600),  # 5.52 contracts at $0.17: 0.07 × 5.52 × 0.17 × 0.83 = 0.054521 -> $0.0546
        (1600, 116, 11_000),  # 1.16 at $0.16: 0.0109133 -> $0.0110 (real demo fill)
        (5000, 100, 17_500),  # the maximum per contract: 0.07 / 4 = $0.0175
        (5000, 10_000, 1_750_000),  # 100 contracts at $0.50 = $1.75
        (100, 100, 700),  # 1 contract at $0.01: 0.000693 -> $0.0007
        (9900, 100, 700),  # symmetric
        (10, 22_727, 15_900),  # 227.27 at $0.001: 0.01589299 -> $0.0159
    ],
)
def test_worked_examples(price: int, count: int, fee: int) -> None:
    assert taker_fee(price, count) == fee
    assert oracle(price, count, Decimal("0.07")) == fee


def test_rates() -> None:
    assert Decimal(TAKER_RATE_PPM) / 1_000_000 == Decimal("0.07")
    assert Decimal(MAKER_RATE_PPM) / 1_000_000 == Decimal("0.0175")


# ---------------------------------------------------------------------------- exhaustive against the oracle
@pytest.mark.parametrize("rounding", ["centicent", "cent", "none"])
def test_quadratic_fee_matches_the_oracle(rounding: str) -> None:
    for price in PRICES:
        for count in COUNTS:
            got = quadratic_fee(price, count, TAKER_RATE_PPM, rounding)  # type: ignore[arg-type]
            assert got == oracle(price, count, Decimal("0.07"), rounding), (price, count, rounding)


def test_rounding_steps_on_the_worked_example() -> None:
    assert quadratic_fee(1700, 552, TAKER_RATE_PPM, "centicent") == 54_600  # $0.0546
    assert quadratic_fee(1700, 552, TAKER_RATE_PPM, "cent") == 60_000  # $0.06
    assert quadratic_fee(1700, 552, TAKER_RATE_PPM, "none") == 54_522  # $0.054521.04 -> up to the micro-dollar


def test_fee_is_never_below_the_exact_amount_nor_a_step_above_it() -> None:
    for rounding, step in (("centicent", 100), ("cent", 10_000)):
        for price in range(1, 10_000, 13):
            for count in (1, 552, 9_999):
                exact = Decimal(70_000 * count * price * (10_000 - price)) / 10**10  # micro-dollars
                fee = quadratic_fee(price, count, TAKER_RATE_PPM, rounding)  # type: ignore[arg-type]
                assert fee % step == 0
                assert exact <= fee < exact + step


@pytest.mark.parametrize("count", COUNTS)
def test_zero_fee_at_price_zero_and_one(count: int) -> None:
    assert taker_fee(0, count) == 0
    assert taker_fee(10_000, count) == 0
    for schedule in (FeeSchedule("quadratic_with_maker_fees"), FeeSchedule(multiplier_ppm=2_000_000)):
        assert schedule.taker(0, count) == schedule.taker(10_000, count) == 0
        assert schedule.maker(0, count) == schedule.maker(10_000, count) == 0


@pytest.mark.parametrize("count", [0, -1, -552])
def test_no_fee_without_contracts(count: int) -> None:
    assert taker_fee(5000, count) == 0
    assert FeeSchedule("flat", flat_ppm=10_000).taker(5000, count) == 0
    assert FeeSchedule("quadratic_with_maker_fees").maker(5000, count) == 0


def test_no_fee_at_zero_rate() -> None:
    assert quadratic_fee(5000, 100, 0) == 0
    assert FeeSchedule(multiplier_ppm=0).taker(5000, 100) == 0


def test_fee_is_symmetric_in_yes_and_no_price() -> None:
    for price in range(0, 10_001, 11):
        for count in (1, 552, 10_000):
            assert taker_fee(price, count) == taker_fee(10_000 - price, count)


@pytest.mark.parametrize("price", [-1, 10_001, 20_000])
def test_price_out_of_range(price: int) -> None:
    with pytest.raises(ValueError, match=str(price)):
        quadratic_fee(price, 100, TAKER_RATE_PPM)


# ---------------------------------------------------------------------------- schedules
@pytest.mark.parametrize(
    ("multiplier_ppm", "multiplier"),
    [(1_000_000, "1"), (500_000, "0.5"), (250_000, "0.25"), (2_000_000, "2"), (1_500_000, "1.5")],
)
def test_multiplier(multiplier_ppm: int, multiplier: str) -> None:
    schedule = FeeSchedule("quadratic", multiplier_ppm=multiplier_ppm)
    for price in range(0, 10_001, 97):
        for count in (1, 552, 10_000):
            assert schedule.taker(price, count) == oracle(price, count, Decimal("0.07") * Decimal(multiplier))


@pytest.mark.parametrize(
    ("fee_type", "has_maker_fee"),
    [
        ("quadratic", False),
        ("quadratic_with_maker_fees", True),
        ("quadratic_with_combo_maker_fees", True),
        ("flat", False),
    ],
)
def test_maker_fee_only_on_maker_fee_series(fee_type: str, has_maker_fee: bool) -> None:
    schedule = FeeSchedule(fee_type, flat_ppm=10_000)
    for price in range(100, 10_000, 250):
        for count in (100, 552, 10_000):
            expected = oracle(price, count, Decimal("0.0175")) if has_maker_fee else 0
            assert schedule.maker(price, count) == expected


def test_maker_fee_with_multiplier() -> None:
    schedule = FeeSchedule("quadratic_with_maker_fees", multiplier_ppm=500_000)
    assert schedule.maker(5000, 10_000) == oracle(5000, 10_000, Decimal("0.0175") * Decimal("0.5"))
    assert schedule.maker(5000, 10_000) == 218_800  # 0.00875 × 100 × 0.25 = 0.21875 -> $0.2188
    assert schedule.taker(5000, 10_000) == 875_000  # 0.035 × 100 × 0.25 = $0.875


@pytest.mark.parametrize(
    ("flat_ppm", "count", "rounding", "fee"),
    [
        (10_000, 100, "centicent", 10_000),  # $0.01 per contract, 1 contract
        (10_000, 552, "centicent", 55_200),  # 5.52 contracts -> $0.0552
        (10_000, 552, "cent", 60_000),  # -> $0.06
        (12_345, 3, "centicent", 400),  # 0.03 × $0.012345 = $0.00037035 -> $0.0004
        (12_345, 3, "none", 371),
    ],
)
def test_flat_fee(flat_ppm: int, count: int, rounding: str, fee: int) -> None:
    schedule = FeeSchedule("flat", flat_ppm=flat_ppm, rounding=rounding)  # type: ignore[arg-type]
    expected = Decimal(flat_ppm) / 1_000_000 * Decimal(count) / 100
    step = STEP_DOLLARS[rounding]
    assert fee == int((expected / step).to_integral_value(rounding=ROUND_CEILING) * step * 1_000_000)
    for price in (100, 5000, 9900):  # independent of price
        assert schedule.taker(price, count) == fee


def test_standard_schedule() -> None:
    assert FeeSchedule("quadratic", 1_000_000, "centicent", 0) == STANDARD_FEES
    assert STANDARD_FEES.maker(5000, 100) == 0


# ---------------------------------------------------------------------------- real fills
def test_real_fills_match_the_series_fee_schedule(realdata: Path) -> None:
    """Each real fill of a series whose fee fields were captured: fee_cost equals the taker fee exactly."""
    fills = json.loads((realdata / "kalshi_cockpit/portfolio_fills_redacted.json").read_text())["payload"]["fills"]
    series = json.loads((realdata / "kalshi_cockpit/series_fee_fields.json").read_text())["payloads"]
    checked = 0
    for fill in fills:
        prefix = fill["market_ticker"].split("-")[0]
        if prefix not in series:
            continue
        meta = series[prefix]["series"]
        schedule = FeeSchedule(meta["fee_type"], multiplier_ppm=int(Decimal(str(meta["fee_multiplier"])) * 1_000_000))
        price = int(Decimal(fill["yes_price_dollars"]) * 10_000)
        count = int(Decimal(fill["count_fp"]) * 100)
        fee = schedule.taker(price, count) if fill["is_taker"] else schedule.maker(price, count)
        assert fee == int(Decimal(fill["fee_cost"]) * 1_000_000), fill
        checked += 1
    assert checked >= 10


# ---------------------------------------------------------------------------- series wire fields
@pytest.mark.parametrize(
    ("fee_multiplier", "ppm"),
    [
        (0.5, 500_000),
        ("0.5", 500_000),
        (1, 1_000_000),
        (0.25, 250_000),
        ("0.000001", 1),
        (Decimal("1.5"), 1_500_000),
        (0, 0),
        (2, 2_000_000),
        ("0.10", 100_000),
        (0.1, 100_000),
    ],
)
def test_schedule_from_series_wire_fields_is_exact(fee_multiplier: object, ppm: int) -> None:
    schedule = FeeSchedule.from_wire("quadratic_with_maker_fees", fee_multiplier)
    assert schedule == FeeSchedule("quadratic_with_maker_fees", ppm)
    assert parse_fee_multiplier(fee_multiplier) == ppm
    assert Decimal(str(schedule.to_wire()["fee_multiplier"])) == Decimal(ppm) / 1_000_000  # and back, exactly


@pytest.mark.parametrize("multiplier", ["0.5", "0.333333", "1.25", "0.000001", "0.999999"])
def test_a_multiplier_applies_to_the_formula_without_rounding_the_rate(multiplier: str) -> None:
    """The multiplier multiplies the exact fee, not a truncated rate (0.07 × 0.333333 is not a whole ppm rate)."""
    taker = FeeSchedule.from_wire("quadratic", multiplier)
    both = FeeSchedule.from_wire("quadratic_with_maker_fees", multiplier)
    for price in range(1, 10_000, 37):
        for count in (1, 100, 552, 12_345):
            assert taker.taker(price, count) == oracle(price, count, Decimal("0.07") * Decimal(multiplier))
            assert both.maker(price, count) == oracle(price, count, Decimal("0.0175") * Decimal(multiplier))


@pytest.mark.parametrize(
    ("fee_type", "fee_multiplier", "message"),
    [
        ("margin_market_maker_program_fees", 1, "unknown series fee_type 'margin_market_maker_program_fees'"),
        ("", 1, "unknown series fee_type ''"),
        (None, 1, "unknown series fee_type None"),
        ("flat", 1, "pass flat_ppm"),
        ("quadratic", -0.5, "finite number >= 0"),
        ("quadratic", float("nan"), "finite number"),
        ("quadratic", True, "must be a number"),
        ("quadratic", None, "must be a number"),
        ("quadratic", "half", "is not a number"),
        ("quadratic", "0.0000001", "more than 6 decimals"),
    ],
)
def test_unusable_series_fee_fields_are_refused(fee_type: object, fee_multiplier: object, message: str) -> None:
    with pytest.raises(UnitError, match=re.escape(message)):
        FeeSchedule.from_wire(fee_type, fee_multiplier)


def test_a_schedule_with_an_unknown_type_or_bad_numbers_is_refused() -> None:
    with pytest.raises(UnitError, match="fee_type 'cubic' is not one of quadratic"):
        FeeSchedule("cubic")
    with pytest.raises(UnitError, match="multiplier_ppm must be an int >= 0"):
        FeeSchedule(multiplier_ppm=-1)
    with pytest.raises(UnitError, match="rounding must be one of"):
        FeeSchedule(rounding="dollar")  # type: ignore[arg-type]


def test_flat_series_from_wire_fields() -> None:
    schedule = FeeSchedule.from_wire("flat", 1, flat_ppm=10_000)
    assert schedule.taker(5000, 552) == 55_200 and schedule.maker(5000, 552) == 0
    assert schedule.describe() == "flat x1 ($0.01/contract)"


def test_the_conservative_fallback_never_charges_less_than_the_standard_schedule() -> None:
    for fallback in (conservative_fees(), conservative_fees("garbage"), conservative_fees(0.5)):
        assert fallback == FeeSchedule("quadratic_with_maker_fees", 1_000_000)
    assert conservative_fees(2).multiplier_ppm == 2_000_000  # a larger multiplier is kept
    fallback = conservative_fees()
    for price in range(0, 10_001, 53):
        for count in (1, 552, 10_000):
            assert fallback.taker(price, count) >= STANDARD_FEES.taker(price, count)
            assert fallback.maker(price, count) >= STANDARD_FEES.maker(price, count)


def test_series_of_a_market() -> None:
    assert series_of("KXMLBGAME-26AUG18NYYBOS-NYY") == "KXMLBGAME"
    assert series_of("X-Y-Z", "KXNBAGAME-26MAY11LALBOS") == "KXNBAGAME"
    assert series_of("PLAIN") == "PLAIN"


def test_describe() -> None:
    assert FeeSchedule.from_wire("quadratic_with_maker_fees", 0.5).describe() == "quadratic_with_maker_fees x0.5"
    assert STANDARD_FEES.describe() == "quadratic x1"
    assert FeeSchedule(rounding="cent").describe() == "quadratic x1 rounded to the cent"


def test_all_real_fills_at_the_multiplier_of_their_series(realdata: Path) -> None:
    """All 33 real fills against the fee schedule of their series.

    Each fill's ``fee_cost`` is explained by exactly one of the multipliers real series carry (0.5 and 1): exactly
    for the 25 single-market fills, and within one centicent above the formula for the 8 multivariate combo fills
    (``KXMVE...``: 4 of them carry sub-centicent amounts the per-fill formula does not produce). The 11 fills whose
    series' fee fields were captured match exactly the schedule those fields give."""
    fills = json.loads((realdata / "kalshi_cockpit/portfolio_fills_redacted.json").read_text())["payload"]["fills"]
    payloads = json.loads((realdata / "kalshi_cockpit/series_fee_fields.json").read_text())["payloads"]
    golden = json.loads((realdata / "kalshi_starter_golden_rest/series_list_response.json").read_text())
    captured = {
        t: FeeSchedule.from_wire(p["series"]["fee_type"], p["series"]["fee_multiplier"]) for t, p in payloads.items()
    }
    seen = {s.multiplier_ppm for s in captured.values()}
    seen |= {parse_fee_multiplier(s["fee_multiplier"]) for s in golden["response"]["series"]}
    assert seen == {500_000, 1_000_000}
    by_multiplier: dict[int, int] = {}
    exact = 0
    for fill in fills:
        price = parse_price(fill["yes_price_dollars"])
        count = parse_count(fill["count_fp"])
        fee = parse_dollars_to_money(fill["fee_cost"])
        assert fill["is_taker"]  # every real fill here took liquidity
        series = series_of(fill["market_ticker"])
        model = {m: FeeSchedule("quadratic", m).taker(price, count) for m in seen}
        if series.startswith("KXMVE"):
            matching = [m for m, f in model.items() if 0 <= fee - f < 100]
        else:
            matching = [m for m, f in model.items() if f == fee]
        assert len(matching) == 1, (fill["market_ticker"], fill["fee_cost"], model)
        exact += model[matching[0]] == fee
        if series in captured:
            assert captured[series].taker(price, count) == fee, fill
            assert captured[series].multiplier_ppm == matching[0]
        by_multiplier[matching[0]] = by_multiplier.get(matching[0], 0) + 1
    assert len(fills) == 33 and exact == 29
    assert sum(1 for f in fills if series_of(f["market_ticker"]) in captured) == 11
    # 10 fills (KXMLBGAME, KXMLBSPREAD, KXMLBKS) pay half the standard fee: a multiplier-1 model over-charges them
    assert by_multiplier == {500_000: 10, 1_000_000: 23}
