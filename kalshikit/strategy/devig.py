"""Sportsbook odds math: convert odds formats, remove the bookmaker's margin (de-vig), and build a consensus.

Odds come as decimal (``2.50`` returns $2.50 per $1 staked, stake included) or American (``+150`` wins $150 on $100,
``-200`` needs $200 to win $100). A book's implied probabilities ``1/decimal`` add up to more than 1; the excess is
its margin (overround). De-vig methods turn them into fair probabilities that add up to exactly 1:

- ``multiplicative`` (normalisation): ``p_i = q_i / Σq``. Simple; spreads the margin in proportion to the odds.
- ``additive``: ``p_i = q_i − (Σq − 1)/n``. Takes the same amount off every outcome (can go negative on longshots).
- ``power``: ``p_i = q_i^k`` with ``k`` solving ``Σ q_i^k = 1``. Takes relatively more margin off longshots, which
  matches the favourite-longshot bias better than normalisation.
- ``shin``: Shin's insider-trading model; solves for the insider share ``z``. Also shades longshots.

Probabilities are floats (they are estimates, not money). Where they meet Kalshi prices use :func:`prob_to_price`,
which gives integer price units ($0.0001) as everywhere else in the kit.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from kalshikit.units import PRICE_SCALE

if TYPE_CHECKING:
    from kalshikit.strategy.odds import OddsEvent

Method = Literal["multiplicative", "additive", "power", "shin"]
Aggregate = Literal["mean", "median"]
METHODS: tuple[str, ...] = ("multiplicative", "additive", "power", "shin")
AGGREGATES: tuple[str, ...] = ("mean", "median")

__all__ = [
    "AGGREGATES",
    "METHODS",
    "Consensus",
    "aggregate",
    "american_to_decimal",
    "american_to_prob",
    "decimal_to_american",
    "decimal_to_prob",
    "devig",
    "devig_additive",
    "devig_multiplicative",
    "devig_power",
    "devig_shin",
    "event_consensus",
    "implied",
    "overround",
    "price_to_prob",
    "prob_to_american",
    "prob_to_decimal",
    "prob_to_price",
]


# ============================================================================ conversions
def _finite(x: float, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        raise ValueError(f"{what} must be a finite number, got {x!r}")
    return float(x)


def _check_decimal(d: float) -> float:
    d = _finite(d, "decimal odds")
    if d <= 1.0:
        raise ValueError(f"decimal odds must be > 1.0 (1.0 would return only the stake), got {d!r}")
    return d


def _check_prob(p: float, what: str = "probability") -> float:
    p = _finite(p, what)
    if not 0.0 < p < 1.0:
        raise ValueError(f"{what} must be strictly between 0 and 1, got {p!r}")
    return p


def american_to_decimal(american: float) -> float:
    """American odds to decimal: ``+150`` -> 2.5, ``-200`` -> 1.5. Values in (-100, +100) do not exist."""
    a = _finite(american, "American odds")
    if -100.0 < a < 100.0:
        raise ValueError(f"American odds must be <= -100 or >= +100, got {american!r}")
    return 1.0 + (a / 100.0 if a > 0 else 100.0 / -a)


def decimal_to_american(decimal: float) -> float:
    """Decimal odds to American: 2.5 -> +150, 1.5 -> -200, 2.0 -> +100."""
    d = _check_decimal(decimal)
    return (d - 1.0) * 100.0 if d >= 2.0 else -100.0 / (d - 1.0)


def decimal_to_prob(decimal: float) -> float:
    """Implied probability of decimal odds (``1/d``; still includes the margin)."""
    return 1.0 / _check_decimal(decimal)


def american_to_prob(american: float) -> float:
    """Implied probability of American odds: ``-200`` -> 2/3, ``+150`` -> 0.4."""
    return 1.0 / american_to_decimal(american)


def prob_to_decimal(prob: float) -> float:
    """Fair decimal odds of a probability (``1/p``)."""
    return 1.0 / _check_prob(prob)


def prob_to_american(prob: float) -> float:
    """Fair American odds of a probability: 0.4 -> +150, 2/3 -> -200."""
    return decimal_to_american(prob_to_decimal(prob))


def prob_to_price(prob: float) -> int:
    """A probability as a Kalshi price in integer units of $0.0001, rounded to the nearest unit (0.53125 -> 5313)."""
    p = _finite(prob, "probability")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability must be within 0..1, got {prob!r}")
    return math.floor(p * PRICE_SCALE + 0.5)


def price_to_prob(price: int) -> float:
    """A Kalshi price (units of $0.0001) read as a probability."""
    if isinstance(price, bool) or not isinstance(price, int) or not 0 <= price <= PRICE_SCALE:
        raise ValueError(f"price must be an int in 0..{PRICE_SCALE} ($0.0001 units), got {price!r}")
    return price / PRICE_SCALE


# ============================================================================ margin removal
def implied(decimals: Sequence[float]) -> list[float]:
    """Implied probabilities ``1/d`` of a complete set of outcomes (at least two)."""
    if len(decimals) < 2:
        raise ValueError(f"need the odds of every outcome (at least 2) to remove the margin, got {len(decimals)}")
    return [1.0 / _check_decimal(d) for d in decimals]


def overround(decimals: Sequence[float]) -> float:
    """The book's margin: ``Σ 1/d − 1`` (0.0476 for 1.91/1.91)."""
    return sum(implied(decimals)) - 1.0


def devig_multiplicative(decimals: Sequence[float]) -> list[float]:
    """Normalisation: ``p_i = q_i / Σq``."""
    q = implied(decimals)
    total = sum(q)
    return [x / total for x in q]


def devig_additive(decimals: Sequence[float]) -> list[float]:
    """Equal margin off each outcome: ``p_i = q_i − (Σq − 1)/n``. Raises when a longshot would go to <= 0."""
    q = implied(decimals)
    cut = (sum(q) - 1.0) / len(q)
    out = [x - cut for x in q]
    if min(out) <= 0.0:
        raise ValueError(
            f"additive de-vig gives a probability <= 0 for odds {list(decimals)}; use method='power' or "
            "'multiplicative' for books with longshots"
        )
    return out


def _bisect(fn: Callable[[float], float], lo: float, hi: float, what: str, iterations: int = 200) -> float:
    """Root of a monotone function on [lo, hi] by bisection (fn(lo) and fn(hi) must differ in sign)."""
    flo = fn(lo)
    fhi = fn(hi)
    if flo == 0.0:
        return lo
    if fhi == 0.0:
        return hi
    if (flo > 0) == (fhi > 0):
        raise ValueError(f"could not solve for {what}: no sign change on [{lo}, {hi}]")
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        fm = fn(mid)
        if fm == 0.0 or hi - lo < 1e-15:
            return mid
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return 0.5 * (lo + hi)


def devig_power(decimals: Sequence[float]) -> list[float]:
    """Power method: ``p_i = q_i^k`` with ``k`` such that the probabilities add up to 1."""
    q = implied(decimals)
    total = sum(q)
    if abs(total - 1.0) < 1e-15:
        return list(q)
    # Σ q^k is decreasing in k (every q < 1); k > 1 when the book has a margin, k < 1 for a negative margin.
    hi = 1.0
    while sum(x**hi for x in q) > 1.0:
        hi *= 2.0
        if hi > 1e6:
            raise ValueError(f"power de-vig did not converge for odds {list(decimals)}")
    lo = min(1.0, hi / 2.0) if total > 1.0 else 1e-9
    k = _bisect(lambda k: sum(x**k for x in q) - 1.0, lo, hi, "the power exponent")
    out = [x**k for x in q]
    s = sum(out)
    return [x / s for x in out]  # remove the last ~1e-15 of bisection error


def devig_shin(decimals: Sequence[float]) -> list[float]:
    """Shin's method: ``p_i = (sqrt(z² + 4(1−z)·q_i²/Σq) − z) / (2(1−z))`` with ``z`` making them add up to 1."""
    q = implied(decimals)
    total = sum(q)
    if total <= 1.0:  # no margin to explain: Shin's model needs an overround
        return [x / total for x in q]

    def probs(z: float) -> list[float]:
        return [(math.sqrt(z * z + 4.0 * (1.0 - z) * x * x / total) - z) / (2.0 * (1.0 - z)) for x in q]

    z = _bisect(lambda z: sum(probs(z)) - 1.0, 0.0, 0.999, "Shin's z")
    out = probs(z)
    s = sum(out)
    return [x / s for x in out]


_DEVIG = {
    "multiplicative": devig_multiplicative,
    "additive": devig_additive,
    "power": devig_power,
    "shin": devig_shin,
}


def devig(decimals: Sequence[float], method: Method = "multiplicative") -> list[float]:
    """Fair probabilities of a complete set of outcomes (same order as ``decimals``)."""
    fn = _DEVIG.get(method)
    if fn is None:
        raise ValueError(f"de-vig method must be one of {', '.join(METHODS)}, got {method!r}")
    return fn(decimals)


# ============================================================================ consensus
def _weighted_median(values: Sequence[float], weights: Sequence[float]) -> float:
    pairs = sorted(zip(values, weights, strict=True))
    half = sum(weights) / 2.0
    acc = 0.0
    for i, (v, w) in enumerate(pairs):
        acc += w
        if acc > half + 1e-12:
            return v
        if abs(acc - half) <= 1e-12:  # exactly half the weight below: average with the next value
            return 0.5 * (v + pairs[i + 1][0]) if i + 1 < len(pairs) else v
    return pairs[-1][0]


def aggregate(
    values: Sequence[float], weights: Sequence[float] | None = None, how: Aggregate = "mean"
) -> tuple[float, float]:
    """``(center, dispersion)`` of several estimates: the (weighted) mean or median, and the (weighted) population
    standard deviation around the weighted mean (0.0 for a single value)."""
    if not values:
        raise ValueError("no values to aggregate")
    if how not in AGGREGATES:
        raise ValueError(f"how must be one of {', '.join(AGGREGATES)}, got {how!r}")
    w = [1.0] * len(values) if weights is None else [float(x) for x in weights]
    if len(w) != len(values):
        raise ValueError(f"{len(values)} values but {len(w)} weights")
    if any(not math.isfinite(x) or x < 0 for x in w) or sum(w) <= 0:
        raise ValueError(f"weights must be finite, >= 0 and not all 0, got {w}")
    total = sum(w)
    mean = sum(v * x for v, x in zip(values, w, strict=True)) / total
    var = sum(x * (v - mean) ** 2 for v, x in zip(values, w, strict=True)) / total
    if how == "mean":
        center = mean
    elif weights is None:
        center = statistics.median(values)
    else:
        center = _weighted_median(values, w)
    return center, math.sqrt(max(var, 0.0))


@dataclass(frozen=True)
class Consensus:
    """The market's view of one outcome: the de-vigged probability agreed across ``books`` bookmakers.

    ``prob`` is a float in (0, 1); :attr:`price` is the same as a Kalshi price in $0.0001 units. ``dispersion`` is the
    standard deviation of the books' de-vigged probabilities, ``low``/``high`` their range. ``updated_ns`` is the
    newest bookmaker update used and ``fetched_ns`` when the odds were received (ns UTC; 0 when unknown).
    """

    outcome: str
    prob: float
    books: int
    dispersion: float
    low: float
    high: float
    method: str = "multiplicative"
    how: str = "mean"
    event_id: str = ""
    sport: str = ""
    home_team: str = ""
    away_team: str = ""
    commence_ns: int = 0
    updated_ns: int = 0
    bookmakers: tuple[str, ...] = ()
    fetched_ns: int = 0

    @property
    def price(self) -> int:
        return prob_to_price(self.prob)

    def complement(self, outcome: str = "") -> Consensus:
        """The opposite of a two-way outcome (the NO side of a Kalshi market, say)."""
        return Consensus(
            outcome=outcome or f"not {self.outcome}",
            prob=1.0 - self.prob,
            books=self.books,
            dispersion=self.dispersion,
            low=1.0 - self.high,
            high=1.0 - self.low,
            method=self.method,
            how=self.how,
            event_id=self.event_id,
            sport=self.sport,
            home_team=self.home_team,
            away_team=self.away_team,
            commence_ns=self.commence_ns,
            updated_ns=self.updated_ns,
            bookmakers=self.bookmakers,
            fetched_ns=self.fetched_ns,
        )


def _outcome_name(name: str, point: float | None, market: str) -> str:
    if point is None:
        return name
    return f"{name} {point:+g}" if market == "spreads" else f"{name} {point:g}"


def event_consensus(
    event: OddsEvent,
    *,
    market: str = "h2h",
    method: Method = "multiplicative",
    how: Aggregate = "mean",
    weights: Mapping[str, float] | None = None,
    bookmakers: Iterable[str] | None = None,
    min_books: int = 1,
    max_overround: float = 0.25,
    fetched_ns: int = 0,
) -> dict[str, Consensus]:
    """Per outcome name, the consensus of every bookmaker's de-vigged probabilities for one event's ``market``.

    A bookmaker counts only when it prices every outcome of the market (the set seen across books) and its margin is
    below ``max_overround`` (a 25% margin is a data error, not a price). ``weights`` maps bookmaker keys to weights
    (missing = 1.0; 0 excludes); ``bookmakers`` keeps only those keys. Outcomes with fewer than ``min_books`` books
    are left out. For ``spreads``/``totals`` the outcome name includes the point (``"Boston -3.5"``,
    ``"Over 220.5"``), and only books quoting the most common line are used.
    """
    if method not in METHODS:
        raise ValueError(f"de-vig method must be one of {', '.join(METHODS)}, got {method!r}")
    keep = set(bookmakers) if bookmakers is not None else None
    rows: list[tuple[str, float, dict[str, float], int]] = []  # (book, weight, name -> decimal, updated_ns)
    for book in event.bookmakers:
        if keep is not None and book.key not in keep:
            continue
        w = 1.0 if weights is None else float(weights.get(book.key, 1.0))
        if w <= 0:
            continue
        bm = book.market(market)
        if bm is None or len(bm.outcomes) < 2:
            continue
        prices = {_outcome_name(o.name, o.point, market): o.decimal for o in bm.outcomes}
        rows.append((book.key, w, prices, bm.last_update_ns or book.last_update_ns or 0))
    if not rows:
        return {}
    # The outcome set: the most common one (books quoting a different spread line are a different market).
    shapes: dict[frozenset[str], int] = {}
    for _, _, prices, _ in rows:
        key = frozenset(prices)
        shapes[key] = shapes.get(key, 0) + 1
    names = max(shapes, key=lambda k: (shapes[k], sorted(k)))
    per_outcome: dict[str, list[tuple[float, float, str, int]]] = {n: [] for n in names}
    for book_key, w, prices, updated in rows:
        if frozenset(prices) != names:
            continue
        order = sorted(names)
        decimals = [prices[n] for n in order]
        try:
            if overround(decimals) > max_overround:
                continue
            fair = devig(decimals, method)
        except ValueError:
            continue
        for n, p in zip(order, fair, strict=True):
            per_outcome[n].append((p, w, book_key, updated))
    out: dict[str, Consensus] = {}
    for name, vals in per_outcome.items():
        if len(vals) < max(1, min_books):
            continue
        probs = [v[0] for v in vals]
        center, disp = aggregate(probs, [v[1] for v in vals] if weights is not None else None, how)
        out[name] = Consensus(
            outcome=name,
            prob=center,
            books=len(vals),
            dispersion=disp,
            low=min(probs),
            high=max(probs),
            method=method,
            how=how,
            event_id=event.id,
            sport=event.sport_key,
            home_team=event.home_team,
            away_team=event.away_team,
            commence_ns=event.commence_ns,
            updated_ns=max(v[3] for v in vals),
            bookmakers=tuple(v[2] for v in vals),
            fetched_ns=fetched_ns,
        )
    return out
