"""Kalshi trading fees, exact in integers.

Taker fee per fill: ``rate × C × P × (1 − P)`` dollars for ``C`` contracts at price ``P``, with ``rate`` 0.07 on
standard markets (times the series' ``fee_multiplier``), rounded **up** to $0.0001 (Kalshi's current rounding; set
``rounding="cent"`` for the older round-up-to-a-cent rule). Maker fees (designated markets only) use rate 0.0175.
No fee on cancelled or unfilled orders.

Worked example from a real fill: 5.52 contracts at $0.17 -> 0.07 × 5.52 × 0.17 × 0.83 = $0.0545210 -> $0.0546.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kalshikit.units import PRICE_SCALE

Rounding = Literal["centicent", "cent", "none"]

_PRICE_ONE = PRICE_SCALE
# rate_ppm × count(1e-2) × price(1e-4) × (1 - price)(1e-4) is in 1e-16 dollars = 1e-10 micro-dollars.
_TO_MICRO = 10**10
_STEP = {"centicent": 100, "cent": 10_000, "none": 1}  # rounding step in micro-dollars

TAKER_RATE_PPM = 70_000  # 0.07
MAKER_RATE_PPM = 17_500  # 0.0175


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def quadratic_fee(price: int, count: int, rate_ppm: int, rounding: Rounding = "centicent") -> int:
    """Fee in micro-dollars for ``count`` (1/100 contracts) at ``price`` ($0.0001 units), rounded up."""
    if count <= 0 or rate_ppm <= 0:
        return 0
    if not 0 <= price <= _PRICE_ONE:
        raise ValueError(f"price {price} is outside 0..{_PRICE_ONE}")
    raw = rate_ppm * count * price * (_PRICE_ONE - price)
    step = _STEP[rounding]
    return _ceil_div(raw, _TO_MICRO * step) * step


@dataclass(frozen=True)
class FeeSchedule:
    """A series' fee settings. ``multiplier_ppm`` is Kalshi's ``fee_multiplier`` in parts per million (1.0 = 1e6)."""

    fee_type: str = "quadratic"
    multiplier_ppm: int = 1_000_000
    rounding: Rounding = "centicent"
    flat_ppm: int = 0  # flat fee types: dollars per contract in ppm

    def taker(self, price: int, count: int) -> int:
        if self.fee_type == "flat":
            if count <= 0:  # like the quadratic fee: nothing filled, nothing charged (never a negative fee)
                return 0
            return _ceil_div(self.flat_ppm * count, 100 * _STEP[self.rounding]) * _STEP[self.rounding]
        return quadratic_fee(price, count, TAKER_RATE_PPM * self.multiplier_ppm // 1_000_000, self.rounding)

    def maker(self, price: int, count: int) -> int:
        if self.fee_type not in ("quadratic_with_maker_fees", "quadratic_with_combo_maker_fees"):
            return 0
        return quadratic_fee(price, count, MAKER_RATE_PPM * self.multiplier_ppm // 1_000_000, self.rounding)


STANDARD_FEES = FeeSchedule()


def taker_fee(price: int, count: int) -> int:
    """Kalshi's standard taker fee in micro-dollars (rate 0.07, rounded up to $0.0001)."""
    return STANDARD_FEES.taker(price, count)
