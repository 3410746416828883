"""Odds conversion, margin removal (each method against answers worked out by hand) and the bookmaker consensus."""

from __future__ import annotations

import math

import pytest

from kalshikit.strategy.devig import (
    Consensus,
    aggregate,
    american_to_decimal,
    american_to_prob,
    decimal_to_american,
    decimal_to_prob,
    devig,
    devig_additive,
    devig_multiplicative,
    devig_power,
    devig_shin,
    event_consensus,
    overround,
    price_to_prob,
    prob_to_american,
    prob_to_decimal,
    prob_to_price,
)
from kalshikit.strategy.odds import Bookmaker, BookMarket, OddsEvent, Outcome

# ---------------------------------------------------------------------------- conversions


@pytest.mark.parametrize(
    ("american", "decimal"),
    [(150, 2.5), (-200, 1.5), (100, 2.0), (-100, 2.0), (240, 3.4), (-303, 1 + 100 / 303), (-110, 1 + 100 / 110)],
)
def test_american_decimal_round_trip(american: float, decimal: float) -> None:
    assert american_to_decimal(american) == pytest.approx(decimal)
    back = decimal_to_american(decimal)
    # +100 and -100 are the same price; decimal 2.0 comes back as +100
    assert back == pytest.approx(100.0 if american == -100 else american)


def test_implied_probabilities() -> None:
    assert american_to_prob(-200) == pytest.approx(2 / 3)
    assert american_to_prob(150) == pytest.approx(0.4)
    assert decimal_to_prob(4.0) == 0.25
    assert prob_to_decimal(0.25) == 4.0
    assert prob_to_american(0.4) == pytest.approx(150)
    assert prob_to_american(2 / 3) == pytest.approx(-200)


@pytest.mark.parametrize("bad", [50, -99.9, 0, math.nan, math.inf, True, "150"])
def test_american_odds_between_minus_and_plus_100_do_not_exist(bad: object) -> None:
    with pytest.raises(ValueError, match="American odds"):
        american_to_decimal(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [1.0, 0.5, -2.0, math.nan])
def test_decimal_odds_must_exceed_one(bad: float) -> None:
    with pytest.raises(ValueError, match="decimal odds"):
        decimal_to_prob(bad)


def test_prices_are_integer_units() -> None:
    assert prob_to_price(0.53125) == 5313  # 5312.5 rounds half up
    assert prob_to_price(0.5) == 5000
    assert prob_to_price(0.0) == 0
    assert prob_to_price(1.0) == 10_000
    assert isinstance(prob_to_price(0.4567), int)
    assert price_to_prob(6300) == 0.63
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        prob_to_price(1.2)
    with pytest.raises(ValueError, match="price must be an int"):
        price_to_prob(6300.0)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- margin removal
# A book at 1.5 / 2.6: implied 2/3 and 5/13, which add up to 41/39 (a margin of 2/39).
BOOK = [1.5, 2.6]


def test_overround() -> None:
    assert overround(BOOK) == pytest.approx(2 / 39)
    assert overround([1.91, 1.91]) == pytest.approx(2 / 1.91 - 1)


def test_multiplicative_normalises() -> None:
    # (2/3) / (41/39) = 26/41 and (5/13) / (41/39) = 15/41
    assert devig_multiplicative(BOOK) == pytest.approx([26 / 41, 15 / 41])
    assert devig_multiplicative([1.91, 1.91]) == pytest.approx([0.5, 0.5])


def test_additive_takes_the_same_off_each_outcome() -> None:
    # margin 2/39 split in two: 2/3 - 1/39 = 25/39, 5/13 - 1/39 = 14/39
    assert devig_additive(BOOK) == pytest.approx([25 / 39, 14 / 39])


def test_additive_refuses_a_negative_longshot() -> None:
    with pytest.raises(ValueError, match="power"):
        devig_additive([1.05, 30.0, 30.0, 2.0])


def test_power_method() -> None:
    # Fair (0.64, 0.36) with k = 2 means implied q = sqrt(p) = (0.8, 0.6): decimal 1.25 and 5/3.
    assert devig_power([1.25, 5 / 3]) == pytest.approx([0.64, 0.36], abs=1e-9)
    # the longshot loses relatively more margin than under normalisation
    mult = devig_multiplicative([1.25, 5 / 3])
    assert devig_power([1.25, 5 / 3])[1] < mult[1]


def test_power_method_three_way_and_negative_margin() -> None:
    fair = devig_power([2.2, 2.2, 5.0])  # implied 1/2.2 + 1/2.2 + 0.2 = 1.109
    assert sum(fair) == pytest.approx(1.0)
    assert fair[0] == pytest.approx(fair[1])
    assert fair[2] < 0.2 / 1.109  # the longshot is cut more than by normalisation
    under = devig_power([2.5, 2.5])  # implied 0.8 in total: k < 1 scales them up
    assert under == pytest.approx([0.5, 0.5])


def test_shin_matches_additive_for_two_outcomes() -> None:
    # For two outcomes Shin's z gives the same answer as the additive method: 25/39 and 14/39.
    assert devig_shin(BOOK) == pytest.approx([25 / 39, 14 / 39], abs=1e-9)


def test_shin_recovers_the_model_it_assumes() -> None:
    # Build a book from Shin's own model (insider share z = 0.03) and check the fair probabilities come back.
    p = [0.5, 0.3, 0.2]
    z = 0.03
    roots = [math.sqrt(z * x + (1 - z) * x * x) for x in p]
    implied = [r * sum(roots) for r in roots]
    assert sum(implied) > 1.05
    assert devig_shin([1 / q for q in implied]) == pytest.approx(p, abs=1e-9)


@pytest.mark.parametrize("method", ["multiplicative", "additive", "power", "shin"])
def test_every_method_gives_probabilities_that_add_up_to_one(method: str) -> None:
    fair = devig([2.1, 3.4, 3.6], method)  # type: ignore[arg-type]
    assert sum(fair) == pytest.approx(1.0)
    assert fair[0] > fair[1] > fair[2] > 0


def test_bad_method_or_incomplete_book() -> None:
    with pytest.raises(ValueError, match="one of multiplicative"):
        devig(BOOK, "logit")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 2"):
        devig([1.5])


# ---------------------------------------------------------------------------- consensus
def test_aggregate_mean_median_dispersion() -> None:
    center, sd = aggregate([0.5, 0.6, 0.7])
    assert center == pytest.approx(0.6)
    assert sd == pytest.approx(math.sqrt(0.02 / 3))
    assert aggregate([0.5, 0.6, 0.9], how="median")[0] == pytest.approx(0.6)
    assert aggregate([0.5, 0.6, 0.7], [1, 1, 2])[0] == pytest.approx(0.625)
    # weighted median: half the weight (2 of 4) sits at or below 0.6, so it is the midpoint of 0.6 and 0.7
    assert aggregate([0.5, 0.6, 0.7], [1, 1, 2], "median")[0] == pytest.approx(0.65)
    assert aggregate([0.5, 0.6, 0.7], [1, 1, 5], "median")[0] == pytest.approx(0.7)
    assert aggregate([0.42]) == (0.42, 0.0)
    with pytest.raises(ValueError, match="weights"):
        aggregate([0.5, 0.6], [1, -1])
    with pytest.raises(ValueError, match="no values"):
        aggregate([])


def _book(key: str, prices: dict[str, float], market: str = "h2h", points: dict[str, float] | None = None) -> Bookmaker:
    outcomes = tuple(Outcome(n, p, p, (points or {}).get(n)) for n, p in prices.items())
    return Bookmaker(key, key.title(), (BookMarket(market, outcomes, 1_000),), 1_000)


def _event(*books: Bookmaker) -> OddsEvent:
    return OddsEvent("ev1", "basketball_nba", "NBA", 5_000, "Boston Celtics", "Los Angeles Lakers", books)


def test_event_consensus_averages_devigged_books() -> None:
    ev = _event(
        _book("a", {"Boston Celtics": 1.5, "Los Angeles Lakers": 2.6}),  # 26/41, 15/41
        _book("b", {"Boston Celtics": 1.91, "Los Angeles Lakers": 1.91}),  # 1/2, 1/2
        _book("c", {"Boston Celtics": 1.4, "Los Angeles Lakers": 2.9}),  # two-way: p1 = d2 / (d1 + d2) = 29/43
    )
    out = event_consensus(ev)
    boston = [26 / 41, 0.5, 29 / 43]
    assert out["Boston Celtics"].prob == pytest.approx(sum(boston) / 3)
    assert out["Los Angeles Lakers"].prob == pytest.approx(1 - sum(boston) / 3)
    assert out["Boston Celtics"].books == 3
    mean = sum(boston) / 3
    assert out["Boston Celtics"].dispersion == pytest.approx(math.sqrt(sum((b - mean) ** 2 for b in boston) / 3))
    assert (out["Boston Celtics"].low, out["Boston Celtics"].high) == pytest.approx((0.5, 29 / 43))
    assert out["Boston Celtics"].bookmakers == ("a", "b", "c")
    assert out["Boston Celtics"].price == prob_to_price(mean)
    # power de-vig and the median change the answer in the expected way
    med = event_consensus(ev, how="median")["Boston Celtics"].prob
    assert med == pytest.approx(sorted(boston)[1])
    powered = event_consensus(ev, method="power")["Boston Celtics"].prob
    assert powered > mean  # the favourite keeps more under the power method


def test_event_consensus_weights_filters_and_minimum_books() -> None:
    ev = _event(
        _book("sharp", {"Boston Celtics": 1.5, "Los Angeles Lakers": 2.6}),
        _book("soft", {"Boston Celtics": 1.91, "Los Angeles Lakers": 1.91}),
        _book("partial", {"Boston Celtics": 1.2}),  # one outcome only: cannot be de-vigged
        _book("junk", {"Boston Celtics": 1.1, "Los Angeles Lakers": 1.2}),  # a 74% margin: a data error
        _book("spreads", {"Boston Celtics": 1.91, "Los Angeles Lakers": 1.91}, market="spreads"),
    )
    out = event_consensus(ev)
    assert out["Boston Celtics"].books == 2
    weighted = event_consensus(ev, weights={"sharp": 3.0})["Boston Celtics"].prob
    assert weighted == pytest.approx((3 * 26 / 41 + 0.5) / 4)
    assert event_consensus(ev, bookmakers=["soft"])["Boston Celtics"].prob == pytest.approx(0.5)
    assert event_consensus(ev, min_books=3) == {}
    assert event_consensus(ev, weights={"sharp": 0, "soft": 0}) == {}


def test_event_consensus_three_way_and_complement() -> None:
    ev = _event(_book("a", {"Boston Celtics": 2.0, "Los Angeles Lakers": 4.0, "Draw": 4.0}))  # implied exactly 1
    out = event_consensus(ev)
    assert out["Draw"].prob == pytest.approx(0.25)
    c: Consensus = out["Boston Celtics"]
    no = c.complement()
    assert no.prob == pytest.approx(0.5)
    assert no.outcome == "not Boston Celtics"


def test_event_consensus_spreads_name_the_line() -> None:
    ev = _event(
        _book("a", {"Boston Celtics": 1.91, "Los Angeles Lakers": 1.91}, "spreads", {"Boston Celtics": -3.5,
              "Los Angeles Lakers": 3.5}),
        _book("b", {"Boston Celtics": 1.91, "Los Angeles Lakers": 1.91}, "spreads", {"Boston Celtics": -4.5,
              "Los Angeles Lakers": 4.5}),
        _book("c", {"Boston Celtics": 1.87, "Los Angeles Lakers": 1.95}, "spreads", {"Boston Celtics": -3.5,
              "Los Angeles Lakers": 3.5}),
    )  # fmt: skip
    out = event_consensus(ev, market="spreads")
    assert set(out) == {"Boston Celtics -3.5", "Los Angeles Lakers +3.5"}  # the most common line only
    assert out["Boston Celtics -3.5"].books == 2
