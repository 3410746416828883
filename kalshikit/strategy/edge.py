"""The edge strategy: buy the side of a Kalshi market that the sportsbooks' consensus says is too cheap.

For each market with a consensus in ``ctx.odds`` it compares the fair probability of each side (YES: the
consensus ``p``; NO: ``1 − p``) with what buying that side now costs: the side's ask (YES ask, or 1 − YES bid for NO)
plus Kalshi's taker fee for the market's series (``ctx.fees``; :mod:`kalshikit.core.fees`). It buys when
``fair − (ask + fee per contract)`` is at least ``min_edge``, sized by fractional Kelly: for a contract costing ``c``
(fee included) that pays $1 with probability ``p``, the Kelly fraction of the bankroll is ``(p − c) / (1 − c)``; the
strategy stakes ``kelly_fraction`` of that, capped by ``max_contracts``, by ``max_cost_per_market`` (including what
is already held there) and by the size shown at the ask. Each intent carries a protective
:class:`~kalshikit.core.rules.Protection` (adapted when a level would fall outside $0–$1 for its entry price) and a
``reason`` a person can read.

It is a pure function of the :class:`~kalshikit.strategy.base.StrategyContext`: no clock, no I/O. Risk limits are
not its business (see :mod:`kalshikit.strategy.risk`), but it skips stale prices and closed markets anyway.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from kalshikit.core.events import Side
from kalshikit.core.fees import STANDARD_FEES, FeeSchedule
from kalshikit.core.rules import Protection, protection
from kalshikit.errors import ConfigError
from kalshikit.strategy.base import OrderIntent, StrategyContext
from kalshikit.strategy.devig import Consensus
from kalshikit.units import COUNT_SCALE, MONEY_SCALE, NS_PER_S, PRICE_SCALE

ONE = PRICE_SCALE
_OPEN = frozenset({"active", "open", ""})


def default_protection() -> Protection:
    """A 10-cent stop below entry and a 15-cent take-profit above it (both on the side bought)."""
    return protection(stop=0.10, take_profit=0.15)


def fit_protection(p: Protection | None, entry: int) -> tuple[Protection | None, str]:
    """``p`` made valid for an entry at ``entry``: a rule that cannot apply there (a 10-cent stop below a 5-cent
    entry, a take-profit beyond $1) is dropped. Returns it and a note of what was dropped."""
    if p is None:
        return None, ""
    levels = p.resolve(entry)
    drop = [rule for rule, _ in levels.rejected]
    if p.take_profit is not None and levels.take_profit is None and "take_profit" not in drop:
        drop.append("take_profit")  # beyond $1: nothing to take
    attrs = {"stop_loss": "stop_loss", "take_profit": "take_profit", "break_even": "break_even",
             "trailing_stop": "trailing"}
    changes = {attrs[rule]: None for rule in drop if rule in attrs}
    if not changes:
        return p, ""
    names = ", ".join(dict.fromkeys(r.replace("_stop", "").replace("_", "-") for r in drop))
    return dataclasses.replace(p, **changes), f"{names} dropped: outside $0..$1 for an entry at {entry / ONE:.4f}"


@dataclass(frozen=True)
class EdgeDecision:
    """One market's evaluation: ``intent`` is set when the strategy buys, ``reason`` says why (or why not)."""

    ticker: str
    action: Literal["buy", "skip"]
    reason: str
    side: Side | None = None
    fair: int | None = None  # fair price of the side, $0.0001 units
    ask: int | None = None  # ask of the side, $0.0001 units
    fee: int | None = None  # taker fee of the order, micro-dollars
    edge: int | None = None  # fair − ask − fee per contract, $0.0001 units
    count: int = 0  # 1/100 contract
    intent: OrderIntent | None = None


@dataclass(frozen=True)
class _Odds:
    prob: float
    books: int | None
    dispersion: float
    as_of_ns: int
    commence_ns: int


def _odds(value: Any) -> _Odds | None:
    if isinstance(value, Consensus):
        return _Odds(value.prob, value.books, value.dispersion, value.fetched_ns or value.updated_ns, value.commence_ns)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _Odds(float(value), None, 0.0, 0, 0)
    return None


@dataclass(frozen=True)
class EdgeStrategy:
    """See the module docstring. Units: ``min_edge`` $0.0001 per contract (``200`` = 2 cents), ``max_contracts``
    1/100 contract (``1_000`` = 10 contracts), money in micro-dollars (``MONEY_SCALE`` = $1).

    ``bankroll``: the money Kelly sizes against when ``ctx.balance`` is None. ``min_books``/``max_dispersion``:
    trust a consensus only from that many books agreeing that closely. ``max_odds_age_s``: ignore older odds.
    ``price_range``: only buy a side priced within it (fees and noise dominate near $0 and $1).
    ``trade_in_play``: also trade after the game started (sportsbook odds move fast then; off by default).
    ``whole_contracts``: round sizes down to whole contracts. ``allow_add``: buy more where a position is held.
    ``fees``: the schedule of markets whose series schedule is not in ``ctx.fees`` (the live gatherer and the strategy
    replay fill ``ctx.fees`` from each market's series).
    """

    name: str = "edge"
    min_edge: int = 200
    kelly_fraction: float = 0.25
    max_contracts: int = 10 * COUNT_SCALE
    max_cost_per_market: int = 50 * MONEY_SCALE
    bankroll: int | None = None
    min_books: int = 2
    max_dispersion: float = 0.05
    max_odds_age_s: float = 600.0
    price_range: tuple[int, int] = (300, 9_700)
    sides: tuple[Side, ...] = ("yes", "no")
    trade_in_play: bool = False
    whole_contracts: bool = True
    allow_add: bool = False
    fees: FeeSchedule = STANDARD_FEES
    protection: Protection | None = dataclasses.field(default_factory=default_protection)
    time_in_force: Literal["immediate_or_cancel", "good_till_canceled"] = "immediate_or_cancel"

    def __post_init__(self) -> None:
        problems = []
        if isinstance(self.min_edge, bool) or not isinstance(self.min_edge, int) or self.min_edge < 0:
            problems.append(
                f"min_edge must be an int >= 0 in $0.0001 per contract (200 = 2 cents), got {self.min_edge!r}"
            )
        if not (isinstance(self.kelly_fraction, int | float) and 0 < self.kelly_fraction <= 1):
            problems.append(f"kelly_fraction must be in (0, 1] (0.25 = quarter Kelly), got {self.kelly_fraction!r}")
        if isinstance(self.max_contracts, bool) or not isinstance(self.max_contracts, int) or self.max_contracts <= 0:
            problems.append(
                f"max_contracts must be an int > 0 in 1/100 contract (1000 = 10), got {self.max_contracts!r}"
            )
        if not isinstance(self.max_cost_per_market, int) or self.max_cost_per_market <= 0:
            problems.append(
                f"max_cost_per_market must be an int > 0 in micro-dollars, got {self.max_cost_per_market!r}"
            )
        if self.bankroll is not None and (not isinstance(self.bankroll, int) or self.bankroll <= 0):
            problems.append(f"bankroll must be None or an int > 0 in micro-dollars, got {self.bankroll!r}")
        lo, hi = self.price_range
        if not 0 < lo <= hi < ONE:
            problems.append(f"price_range must satisfy 0 < low <= high < {ONE}, got {self.price_range!r}")
        if not self.sides or any(s not in ("yes", "no") for s in self.sides):
            problems.append(f"sides must be a non-empty subset of ('yes', 'no'), got {self.sides!r}")
        if self.min_books < 1 or self.max_dispersion < 0 or self.max_odds_age_s <= 0:
            problems.append("min_books must be >= 1, max_dispersion >= 0 and max_odds_age_s > 0")
        if problems:
            raise ConfigError("invalid EdgeStrategy: " + "; ".join(problems))

    # ------------------------------------------------------------------ the Strategy protocol
    def decide(self, ctx: StrategyContext) -> list[OrderIntent]:
        return [d.intent for d in self.evaluate(ctx) if d.intent is not None]

    def evaluate(self, ctx: StrategyContext) -> list[EdgeDecision]:
        """Every market with odds, with the decision and its reason (for notebooks and logs)."""
        held = {getattr(p, "ticker", ""): p for p in ctx.positions if (getattr(p, "count", 0) or 0) > 0}
        return [self._one(ticker, value, ctx, held) for ticker, value in sorted(ctx.odds.items())]

    # ------------------------------------------------------------------ one market
    def _one(self, ticker: str, value: Any, ctx: StrategyContext, held: dict[str, Any]) -> EdgeDecision:
        def skip(reason: str, **kw: Any) -> EdgeDecision:
            return EdgeDecision(ticker, "skip", reason, **kw)

        odds = _odds(value)
        if odds is None or not 0.0 < odds.prob < 1.0:
            return skip(f"no usable probability in ctx.odds ({type(value).__name__})")
        if odds.books is not None and odds.books < self.min_books:
            return skip(f"only {odds.books} book(s) price it; need {self.min_books}")
        if odds.dispersion > self.max_dispersion:
            return skip(f"books disagree (sd {odds.dispersion:.3f} > {self.max_dispersion:.3f})")
        if odds.as_of_ns and ctx.now_ns - odds.as_of_ns > self.max_odds_age_s * NS_PER_S:
            return skip(f"odds are {(ctx.now_ns - odds.as_of_ns) / NS_PER_S:.0f} s old (max {self.max_odds_age_s:g})")
        if not self.trade_in_play and odds.commence_ns and ctx.now_ns >= odds.commence_ns:
            return skip("the game has started (trade_in_play=False)")
        if ticker in ctx.stale:
            return skip("the price is stale")
        market = ctx.markets.get(ticker)
        status = getattr(market, "status", "") or ""
        if status not in _OPEN:
            return skip(f"market status is {status!r}")
        pos = held.get(ticker)
        if pos is not None and not self.allow_add:
            return skip("a position is already held (allow_add=False)")
        book = self._book(ticker, ctx)
        if book is None:
            return skip("no quote")
        yes_bid, yes_ask, bid_size, ask_size = book

        best: EdgeDecision | None = None
        for side in self.sides:
            if side == "yes":
                ask = yes_ask if yes_ask is not None and 0 < yes_ask < ONE else None
                size, prob = ask_size, odds.prob
            else:
                ask = ONE - yes_bid if yes_bid is not None and 0 < yes_bid < ONE else None
                size, prob = bid_size, 1.0 - odds.prob
            if ask is None:
                continue
            d = self._side(ticker, side, prob, ask, size, ctx, pos, odds)
            if best is None or (d.edge if d.edge is not None else -ONE) > (
                best.edge if best.edge is not None else -ONE
            ):
                best = d
        if best is None:
            return skip("no ask on either side")
        return best

    @staticmethod
    def _book(ticker: str, ctx: StrategyContext) -> tuple[int | None, int | None, int | None, int | None] | None:
        q = ctx.quotes.get(ticker)
        if q is not None:
            return q.yes_bid, q.yes_ask, q.yes_bid_size, q.yes_ask_size
        m = ctx.markets.get(ticker)
        if m is not None and (getattr(m, "yes_bid", None) is not None or getattr(m, "yes_ask", None) is not None):
            return m.yes_bid, m.yes_ask, m.yes_bid_size, m.yes_ask_size
        return None

    def _side(
        self,
        ticker: str,
        side: Side,
        prob: float,
        ask: int,
        size: int | None,
        ctx: StrategyContext,
        pos: Any,
        odds: _Odds,
    ) -> EdgeDecision:
        fair_f = prob * ONE
        fair = math.floor(fair_f + 0.5)
        fees = ctx.fee_schedule(ticker, self.fees)
        fee_one = fees.taker(ask, COUNT_SCALE)  # micro-dollars for one contract
        eff = ask + fee_one / COUNT_SCALE  # price units per contract, fee included
        edge_one = fair_f - eff

        def skip(reason: str) -> EdgeDecision:
            return EdgeDecision(ticker, "skip", reason, side, fair, ask, fee_one, math.floor(edge_one))

        lo, hi = self.price_range
        label = side.upper()
        if not lo <= ask <= hi:
            return skip(f"{label} ask {ask / ONE:.4f} outside price_range")
        if edge_one < self.min_edge:
            return skip(
                f"{label}: fair {fair / ONE:.4f} − ask {ask / ONE:.4f} − fee {fee_one / MONEY_SCALE:.4f} = "
                f"{edge_one / ONE:+.4f} < min edge {self.min_edge / ONE:.4f}"
            )
        bankroll = ctx.balance if ctx.balance is not None else self.bankroll
        if bankroll is None or bankroll <= 0:
            return skip("no bankroll to size against: ctx.balance is None; set EdgeStrategy(bankroll=...)")
        c = eff / ONE
        kelly = (prob - c) / (1.0 - c)
        stake = self.kelly_fraction * kelly * bankroll  # micro-dollars
        held_cost = 0
        if pos is not None:
            held_cost = (getattr(pos, "count", 0) or 0) * (getattr(pos, "entry_price", 0) or 0)
        room = self.max_cost_per_market - held_cost
        capped_by = "kelly"
        if room < stake:
            stake, capped_by = room, "max_cost_per_market"
        count = max(0, math.floor(stake / eff))
        if count > self.max_contracts:
            count, capped_by = self.max_contracts, "max_contracts"
        if size is not None and 0 < size < count:
            count, capped_by = size, "size at the ask"
        if self.whole_contracts:
            count -= count % COUNT_SCALE
        if count <= 0:
            return skip(
                f"{label}: edge {edge_one / ONE:.4f} but the size rounds to 0 "
                f"(stake ${max(stake, 0) / MONEY_SCALE:.2f}, capped by {capped_by})"
            )
        fee = fees.taker(ask, count)
        edge = math.floor((fair_f * count - ask * count - fee) / count)  # price units per contract, exact fee
        prot, note = fit_protection(self.protection, ask)
        books = f"{odds.books} books" if odds.books is not None else "given probability"
        reason = (
            f"buy {count / COUNT_SCALE:g} {label} @ {ask / ONE:.4f} (fee ${fee / MONEY_SCALE:.4f}, "
            f"{fees.describe()}): fair "
            f"{fair / ONE:.4f} from {books} (sd {odds.dispersion:.3f}), edge {edge / ONE:.4f}/contract >= "
            f"{self.min_edge / ONE:.4f}; Kelly {kelly:.1%} × {self.kelly_fraction:g} of ${bankroll / MONEY_SCALE:,.2f}"
            f" (capped by {capped_by})"
        )
        if note:
            reason += f"; {note}"
        intent = OrderIntent(
            ticker=ticker,
            side=side,
            count=count,
            limit_price=ask,
            reason=reason,
            time_in_force=self.time_in_force,
            protection=prot,
        )
        return EdgeDecision(ticker, "buy", reason, side, fair, ask, fee, edge, count, intent)


__all__ = ["EdgeDecision", "EdgeStrategy", "default_protection", "fit_protection"]
