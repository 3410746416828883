"""Exact integer units for prices, counts and money, and their wire formats (both Kalshi eras).

- Price: ``int`` in units of $0.0001 (``"0.63"`` = ``"0.6300"`` = legacy ``63`` cents = 6300).
- Count: ``int`` in hundredths of a contract (``"10.00"`` = 1000); Kalshi allows fractional contracts.
- Money: ``int`` in micro-dollars ($0.000001). A price times a count is exact in this unit, and so are the
  6-decimal fee strings Kalshi sends (``"0.010000"``).
- Time: ``int`` nanoseconds since the epoch, UTC.

Parsing never goes through ``float``. Garbage raises :class:`UnitError` naming the bad value.
"""

from __future__ import annotations

from kalshikit.errors import UnitError

PRICE_SCALE = 10_000  # price units per dollar
COUNT_SCALE = 100  # count units per contract
MONEY_SCALE = 1_000_000  # money units per dollar
ONE_DOLLAR = PRICE_SCALE  # price of a contract that pays out
CENT = PRICE_SCALE // 100  # one cent in price units
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

__all__ = [
    "CENT",
    "COUNT_SCALE",
    "MONEY_SCALE",
    "NS_PER_MS",
    "NS_PER_S",
    "ONE_DOLLAR",
    "PRICE_SCALE",
    "UnitError",
    "cents_to_price",
    "count_to_contracts",
    "format_count",
    "format_money",
    "format_price",
    "money_from_cents",
    "notional",
    "parse_count",
    "parse_dollars_to_money",
    "parse_price",
    "price_to_dollars",
]


_POW10 = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000]


def _parse_decimal(text: str, max_decimals: int, what: str) -> int:
    """Parse an unsigned or signed decimal string into an integer scaled by 10**max_decimals, exactly."""
    if not isinstance(text, str):
        raise UnitError(f"{what} must be a decimal string, got {type(text).__name__} {text!r}")
    s = text.strip()
    if not s:
        raise UnitError(f"{what} is empty; expected a decimal string such as '0.6300'")
    negative = s[0] == "-"
    if s[0] in "+-":
        s = s[1:]
    whole, _, frac = s.partition(".")
    if (not whole and not frac) or (whole and not whole.isdigit()) or (frac and not frac.isdigit()):
        raise UnitError(f"{what} {text!r} is not a plain decimal number")
    if not (whole + frac).isascii():
        raise UnitError(f"{what} {text!r} is not a plain decimal number")
    if len(whole) > 30:  # also keeps int() below its 4300-digit limit, which would raise a bare ValueError
        raise UnitError(f"{what} {text[:24]!r}... has too many digits ({len(whole)})")
    if len(frac) > max_decimals:
        extra = frac[max_decimals:]
        if extra.strip("0"):
            raise UnitError(f"{what} {text!r} has more than {max_decimals} significant decimal places")
        frac = frac[:max_decimals]
    value = int(whole or "0") * _POW10[max_decimals] + int((frac + "0" * max_decimals)[:max_decimals] or "0")
    return -value if negative else value


def _build_price_table() -> dict[str, int]:
    # Every grid price in the two spellings Kalshi uses ("0.63", "0.6300"); lookups make decoding fast.
    table: dict[str, int] = {}
    for p in range(PRICE_SCALE + 1):
        four = f"{p // PRICE_SCALE}.{p % PRICE_SCALE:04d}"
        table[four] = p
        if p % CENT == 0:
            table[f"{p // PRICE_SCALE}.{(p % PRICE_SCALE) // CENT:02d}"] = p
    return table


_PRICE_TABLE = _build_price_table()


def parse_price(text: str) -> int:
    """Parse a dollar price string (``"0.63"``, ``"0.6300"``, ``"0.9950"``) to price units ($0.0001).

    Kalshi prices lie in [0, 1]. Up to four significant decimals; trailing zeros beyond that are accepted.
    """
    hit = _PRICE_TABLE.get(text)
    if hit is not None:
        return hit
    value = _parse_decimal(text, 4, "price")
    if not 0 <= value <= PRICE_SCALE:
        raise UnitError(f"price {text!r} is outside 0..1 dollars")
    return value


def cents_to_price(cents: int) -> int:
    """Convert a legacy integer-cent price (``63``) to price units."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise UnitError(f"legacy cent price must be an integer, got {cents!r}")
    if not 0 <= cents <= 100:
        raise UnitError(f"legacy cent price {cents!r} is outside 0..100")
    return cents * CENT


def price_to_dollars(price: int) -> float:
    """Price units to a float in dollars, for display only."""
    return price / PRICE_SCALE


def format_price(price: int) -> str:
    """Format price units as Kalshi's 4-decimal dollar string (6300 -> ``"0.6300"``)."""
    if not 0 <= price <= PRICE_SCALE:
        raise UnitError(f"price {price!r} (units of $0.0001) is outside 0..{PRICE_SCALE}")
    return f"{price // PRICE_SCALE}.{price % PRICE_SCALE:04d}"


def parse_count(text: str | int) -> int:
    """Parse a count (``"10.00"``, ``"10"``, ``"0.5"``, legacy int ``10``) to hundredths of a contract.

    Negative values are allowed (signed positions: negative = NO contracts).
    """
    if isinstance(text, bool):
        raise UnitError(f"count must be a decimal string or integer, got {text!r}")
    if isinstance(text, int):
        return text * COUNT_SCALE
    if not isinstance(text, str):
        raise UnitError(f"count must be a decimal string or integer, got {type(text).__name__} {text!r}")
    # Fast path: "<digits>.<2 digits>", as Kalshi always sends in responses.
    digits = text.replace(".", "", 1)
    if digits.isdigit() and digits.isascii() and 3 < len(text) < 32 and text[-3] == ".":
        return int(digits)
    return _parse_decimal(text, 2, "count")


def format_count(count: int) -> str:
    """Format hundredths of a contract as Kalshi's 2-decimal string (1000 -> ``"10.00"``)."""
    sign = "-" if count < 0 else ""
    c = abs(count)
    return f"{sign}{c // COUNT_SCALE}.{c % COUNT_SCALE:02d}"


def count_to_contracts(count: int) -> float:
    """Hundredths of a contract to a float number of contracts, for display only."""
    return count / COUNT_SCALE


def parse_dollars_to_money(text: str) -> int:
    """Parse a dollar amount (``"0.010000"``, ``"-12.5"``) to micro-dollars, exactly (up to 6 decimals)."""
    return _parse_decimal(text, 6, "dollar amount")


def money_from_cents(cents: int) -> int:
    """Integer cents (balance, settlement revenue) to micro-dollars."""
    return cents * (MONEY_SCALE // 100)


def format_money(money: int, decimals: int = 2) -> str:
    """Micro-dollars to a dollar string rounded half away from zero to ``decimals`` places (display)."""
    if not 0 <= decimals <= 6:
        raise UnitError(f"decimals must be 0..6, got {decimals}")
    step = 10 ** (6 - decimals)
    sign = "-" if money < 0 else ""
    rounded = (abs(money) + step // 2) // step
    if decimals == 0:
        return f"{sign}{rounded}"
    scale = 10**decimals
    return f"{sign}{rounded // scale}.{rounded % scale:0{decimals}d}"


def notional(price: int, count: int) -> int:
    """Money value of ``count`` contracts at ``price``: exact in micro-dollars."""
    return price * count
