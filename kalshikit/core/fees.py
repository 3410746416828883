"""Kalshi trading fees, exact in integers.

Taker fee per fill: ``rate × C × P × (1 − P)`` dollars for ``C`` contracts at price ``P``, with ``rate`` 0.07 on
standard markets (times the series' ``fee_multiplier``), rounded **up** to $0.0001 (Kalshi's current rounding; set
``rounding="cent"`` for the older round-up-to-a-cent rule). Maker fees (designated markets only) use rate 0.0175.
No fee on cancelled or unfilled orders.

Worked example from a real fill: 5.52 contracts at $0.17 -> 0.07 × 5.52 × 0.17 × 0.83 = $0.0545210 -> $0.0546.

Each series carries ``fee_type`` and ``fee_multiplier`` (``GET /series/{series_ticker}``): real MLB series have
``fee_multiplier`` 0.5, so their fills pay half the standard fee. :meth:`FeeSchedule.from_wire` builds a schedule
from those two wire fields exactly (the multiplier goes through :class:`decimal.Decimal`, never a float product).
An unknown ``fee_type`` is refused with :class:`~kalshikit.errors.UnitError`; :func:`conservative_fees` is the
documented fallback for callers that must go on (it charges at least the standard taker fee, plus maker fees).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from kalshikit.errors import UnitError
from kalshikit.units import PRICE_SCALE

Rounding = Literal["centicent", "cent", "none"]

_PRICE_ONE = PRICE_SCALE
# rate_ppm × count(1e-2) × price(1e-4) × (1 - price)(1e-4) is in 1e-16 dollars = 1e-10 micro-dollars.
_TO_MICRO = 10**10
_STEP = {"centicent": 100, "cent": 10_000, "none": 1}  # rounding step in micro-dollars

TAKER_RATE_PPM = 70_000  # 0.07
MAKER_RATE_PPM = 17_500  # 0.0175
PPM = 1_000_000  # fee_multiplier 1.0 in parts per million

# Kalshi's series fee types (Series.fee_type; event_fee_update may also name margin_market_maker_program_fees).
FEE_TYPES: tuple[str, ...] = ("quadratic", "quadratic_with_maker_fees", "quadratic_with_combo_maker_fees", "flat")
MAKER_FEE_TYPES = frozenset({"quadratic_with_maker_fees", "quadratic_with_combo_maker_fees"})
ROUNDINGS: tuple[str, ...] = ("centicent", "cent", "none")


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def quadratic_fee(price: int, count: int, rate_ppm: int, rounding: Rounding = "centicent") -> int:
    """Fee in micro-dollars for ``count`` (1/100 contracts) at ``price`` ($0.0001 units), rounded up."""
    return _quadratic(price, count, rate_ppm, PPM, rounding)


def _quadratic(price: int, count: int, rate_ppm: int, multiplier_ppm: int, rounding: Rounding) -> int:
    """``rate × multiplier × C × P × (1 − P)`` rounded up to the step, with no intermediate rounding."""
    if count <= 0 or rate_ppm <= 0 or multiplier_ppm <= 0:
        return 0
    if not 0 <= price <= _PRICE_ONE:
        raise ValueError(f"price {price} is outside 0..{_PRICE_ONE}")
    raw = rate_ppm * multiplier_ppm * count * price * (_PRICE_ONE - price)
    step = _STEP[rounding]
    return _ceil_div(raw, _TO_MICRO * PPM * step) * step


def parse_fee_multiplier(fee_multiplier: object) -> int:
    """A wire ``fee_multiplier`` (JSON number, or its decimal text) in parts per million, exactly.

    Goes through ``Decimal(str(value))``: a float from JSON (``0.5``) keeps its shortest decimal text, so the result
    is the multiplier Kalshi sent. Raises :class:`UnitError` for a negative, non-finite or non-number value, or one
    finer than 1e-6."""
    if isinstance(fee_multiplier, bool) or not isinstance(fee_multiplier, int | float | str | Decimal):
        raise UnitError(f"fee_multiplier must be a number, got {type(fee_multiplier).__name__} {fee_multiplier!r}")
    if isinstance(fee_multiplier, float) and not math.isfinite(fee_multiplier):
        raise UnitError(f"fee_multiplier must be a finite number, got {fee_multiplier!r}")
    try:
        value = Decimal(str(fee_multiplier).strip())
    except InvalidOperation:
        raise UnitError(f"fee_multiplier {fee_multiplier!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise UnitError(f"fee_multiplier must be a finite number >= 0, got {fee_multiplier!r}")
    scaled = value * PPM
    if scaled != scaled.to_integral_value():
        raise UnitError(f"fee_multiplier {fee_multiplier!r} has more than 6 decimals; the kit keeps it in ppm exactly")
    return int(scaled)


def multiplier_number(ppm: int) -> int | float:
    """A multiplier in ppm as the JSON number Kalshi sends (``1``, ``0.5``); exact for 6 decimals or fewer."""
    return ppm // PPM if ppm % PPM == 0 else float(Decimal(ppm) / PPM)


def series_of(ticker: str, event_ticker: str = "") -> str:
    """The series ticker of a market: the part of its event ticker (else its own ticker) before the first ``-``
    (``KXMLBGAME-26AUG18NYYBOS-NYY`` -> ``KXMLBGAME``)."""
    return (event_ticker or ticker).split("-", 1)[0]


@dataclass(frozen=True)
class FeeSchedule:
    """A series' fee settings. ``multiplier_ppm`` is Kalshi's ``fee_multiplier`` in parts per million (1.0 = 1e6)."""

    fee_type: str = "quadratic"
    multiplier_ppm: int = PPM
    rounding: Rounding = "centicent"
    flat_ppm: int = 0  # flat fee types: dollars per contract in ppm

    def __post_init__(self) -> None:
        problems = []
        if self.fee_type not in FEE_TYPES:
            problems.append(f"fee_type {self.fee_type!r} is not one of {', '.join(FEE_TYPES)}")
        for name in ("multiplier_ppm", "flat_ppm"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                problems.append(f"{name} must be an int >= 0 (parts per million), got {v!r}")
        if self.rounding not in ROUNDINGS:
            problems.append(f"rounding must be one of {', '.join(ROUNDINGS)}, got {self.rounding!r}")
        if problems:
            raise UnitError("invalid FeeSchedule: " + "; ".join(problems))

    @classmethod
    def from_wire(
        cls,
        fee_type: object,
        fee_multiplier: object,
        *,
        flat_ppm: int | None = None,
        rounding: Rounding = "centicent",
    ) -> FeeSchedule:
        """The schedule of a series from its wire fields ``fee_type`` and ``fee_multiplier``, exactly.

        ``flat`` series charge a fixed fee per contract that the series fields do not carry: give it as
        ``flat_ppm`` (dollars per contract in ppm, from Kalshi's fee schedule). Raises :class:`UnitError` for an
        unknown fee type, a flat series without ``flat_ppm``, or a bad multiplier."""
        if not isinstance(fee_type, str) or fee_type not in FEE_TYPES:
            raise UnitError(
                f"unknown series fee_type {fee_type!r}; the kit knows {', '.join(FEE_TYPES)}. Give the schedule "
                "yourself (FeeSchedule(...)) or use conservative_fees() knowingly"
            )
        if fee_type == "flat" and flat_ppm is None:
            raise UnitError(
                "series fee_type 'flat' charges a fixed fee per contract that the series fields do not carry; pass "
                "flat_ppm= (dollars per contract in ppm) from Kalshi's fee schedule"
            )
        return cls(fee_type, parse_fee_multiplier(fee_multiplier), rounding, flat_ppm or 0)

    @property
    def multiplier(self) -> int | float:
        """``fee_multiplier`` as Kalshi writes it (``1``, ``0.5``)."""
        return multiplier_number(self.multiplier_ppm)

    def to_wire(self) -> dict[str, object]:
        """The series wire fields ``{"fee_type": ..., "fee_multiplier": ...}``."""
        return {"fee_type": self.fee_type, "fee_multiplier": self.multiplier}

    def describe(self) -> str:
        """``quadratic_with_maker_fees x0.5`` (and the flat fee or a non-default rounding when they apply)."""
        text = f"{self.fee_type} x{self.multiplier:g}"
        if self.fee_type == "flat":
            text += f" (${Decimal(self.flat_ppm) / PPM:f}/contract)"
        if self.rounding != "centicent":
            text += f" rounded to the {self.rounding}"
        return text

    def taker(self, price: int, count: int) -> int:
        if self.fee_type == "flat":
            if count <= 0:  # like the quadratic fee: nothing filled, nothing charged (never a negative fee)
                return 0
            return _ceil_div(self.flat_ppm * count, 100 * _STEP[self.rounding]) * _STEP[self.rounding]
        return _quadratic(price, count, TAKER_RATE_PPM, self.multiplier_ppm, self.rounding)

    def maker(self, price: int, count: int) -> int:
        if self.fee_type not in MAKER_FEE_TYPES:
            return 0
        return _quadratic(price, count, MAKER_RATE_PPM, self.multiplier_ppm, self.rounding)


STANDARD_FEES = FeeSchedule()


def conservative_fees(fee_multiplier: object = None) -> FeeSchedule:
    """The fallback for a series whose fee fields cannot be used (unknown ``fee_type``, unreadable series): taker
    fees at the standard rate times ``max(1, fee_multiplier)`` (1 when the multiplier is missing or unreadable), and
    maker fees as well. Never below the standard schedule, so a strategy or risk check using it over-states fees
    rather than under-states them (every series captured so far has a multiplier of 1 or less)."""
    try:
        ppm = parse_fee_multiplier(fee_multiplier) if fee_multiplier is not None else PPM
    except UnitError:
        ppm = PPM
    return FeeSchedule("quadratic_with_maker_fees", max(ppm, PPM))


def taker_fee(price: int, count: int) -> int:
    """Kalshi's standard taker fee in micro-dollars (rate 0.07, rounded up to $0.0001)."""
    return STANDARD_FEES.taker(price, count)
