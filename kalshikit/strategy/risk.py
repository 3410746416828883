"""Risk limits on new entries, enforced outside every strategy: the StrategyLoop asks before sending each intent.

:meth:`RiskManager.check` returns ``None`` (allowed) or the reason it refuses. It refuses an entry when:

- the exchange is not trading (``ctx.exchange_open`` is False) or the intent's market price is stale (in
  ``ctx.stale``);
- today's P&L has reached the daily loss limit: new entries halt for the rest of the day (exits are not intents
  and keep running); the halt holds even if prices recover, until the day changes or :meth:`RiskManager.reset_halt`;
- the intent would take one market's exposure, the total exposure, the number of open positions or the single-order
  cost over its limit.

Exposure is money at risk: held contracts × their entry price, plus, for an intent, count × limit price + the taker
fee of the market's series (``ctx.fees``; the manager's ``fees`` for markets the context has no schedule for). What
the manager has allowed in the current cycle (one ``StrategyContext``, recognised by its ``now_ns``) counts as held,
so two intents of one cycle cannot together breach a limit. Today's P&L = ``ctx.realized_today`` (or what was
reported with :meth:`RiskManager.record_closed`) + the realized P&L net of fees and the unrealized P&L of the
positions still open. Money is integer micro-dollars (:data:`kalshikit.units.MONEY_SCALE` = $1).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kalshikit.core.fees import STANDARD_FEES, FeeSchedule
from kalshikit.errors import ConfigError
from kalshikit.strategy.base import OrderIntent, StrategyContext
from kalshikit.units import MONEY_SCALE, NS_PER_S, PRICE_SCALE, format_money


def _usd(money: int) -> str:
    """Micro-dollars as ``$5.18`` / ``-$50.00`` (rounded half away from zero, exactly)."""
    return ("-" if money < 0 else "") + "$" + format_money(abs(money))


@dataclass(frozen=True)
class RiskLimits:
    """Limits in micro-dollars (``None`` = no limit). Build with dollars via :meth:`from_dollars`.

    ``day_tz``: the time zone whose midnight starts a new trading day for the daily loss limit.
    """

    max_market_exposure: int | None = 100 * MONEY_SCALE
    max_total_exposure: int | None = 1_000 * MONEY_SCALE
    max_open_positions: int | None = 10
    daily_loss_limit: int | None = 200 * MONEY_SCALE
    max_order_cost: int | None = None
    day_tz: str = "UTC"

    def __post_init__(self) -> None:
        problems = []
        for name in ("max_market_exposure", "max_total_exposure", "daily_loss_limit", "max_order_cost"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                problems.append(f"{name} must be None or an int > 0 in micro-dollars (MONEY_SCALE = $1), got {v!r}")
        v = self.max_open_positions
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
            problems.append(f"max_open_positions must be None or an int > 0, got {v!r}")
        try:
            ZoneInfo(self.day_tz)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"day_tz {self.day_tz!r} is not a time zone name (e.g. 'UTC', 'America/New_York')")
        if problems:
            raise ConfigError("invalid RiskLimits: " + "; ".join(problems))

    @classmethod
    def from_dollars(
        cls,
        *,
        market: float | None = 100,
        total: float | None = 1_000,
        positions: int | None = 10,
        daily_loss: float | None = 200,
        order: float | None = None,
        day_tz: str = "UTC",
    ) -> RiskLimits:
        """Limits given in dollars (``daily_loss=50`` halts entries after losing $50 in a day)."""

        def money(v: float | None) -> int | None:
            return None if v is None else round(v * MONEY_SCALE)

        return cls(money(market), money(total), positions, money(daily_loss), money(order), day_tz)


def _exposure(p: Any) -> int:
    count = getattr(p, "count", 0) or 0
    entry = getattr(p, "entry_price", None)
    return abs(count) * entry if entry is not None else 0


def _pnl(p: Any) -> int:
    realized = getattr(p, "realized", 0) or 0
    fees = getattr(p, "fees", 0) or 0
    unrealized = getattr(p, "unrealized", 0) or 0
    return realized - fees + unrealized


class RiskManager:
    """See the module docstring. ``check`` is called from the StrategyLoop thread; :meth:`status` may be read from
    any thread."""

    def __init__(self, limits: RiskLimits | None = None, *, fees: FeeSchedule = STANDARD_FEES) -> None:
        self.limits = limits or RiskLimits()
        self.fees = fees
        self._tz = ZoneInfo(self.limits.day_tz)
        self._lock = threading.Lock()
        self._cycle_ns: int | None = None
        self._cycle_cost: dict[str, int] = {}
        self._day: date | None = None
        self._closed_today = 0
        self._halt: str | None = None
        self._last_pnl: int | None = None
        self.allowed = 0
        self.refused = 0

    # ------------------------------------------------------------------ state
    @property
    def halted(self) -> str | None:
        """Why new entries are halted for the day (None when they are not)."""
        with self._lock:
            return self._halt

    def reset_halt(self) -> None:
        """Lift a daily-loss halt by hand (it lifts by itself when the day changes)."""
        with self._lock:
            self._halt = None

    def record_closed(self, pnl: int, now_ns: int) -> None:
        """Report the realized P&L (net of fees, micro-dollars) of a position that closed, when the context carries
        no ``realized_today``."""
        with self._lock:
            self._roll_day(now_ns)
            self._closed_today += pnl

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "halted": self._halt,
                "pnl_today": self._last_pnl,
                "allowed": self.allowed,
                "refused": self.refused,
                "cycle_cost": dict(self._cycle_cost),
                "day": self._day.isoformat() if self._day else None,
            }

    def _roll_day(self, now_ns: int) -> None:
        today = datetime.fromtimestamp(now_ns / NS_PER_S, UTC).astimezone(self._tz).date()
        if today != self._day:
            self._day = today
            self._closed_today = 0
            self._halt = None

    # ------------------------------------------------------------------ the check
    def check(self, intent: OrderIntent, ctx: StrategyContext) -> str | None:
        """None when the entry is allowed (and then counted against this cycle's limits), else the reason."""
        with self._lock:
            why = self._check(intent, ctx)
            if why is None:
                self.allowed += 1
            else:
                self.refused += 1
            return why

    def _check(self, intent: OrderIntent, ctx: StrategyContext) -> str | None:
        lim = self.limits
        self._roll_day(ctx.now_ns)
        if ctx.now_ns != self._cycle_ns:
            self._cycle_ns = ctx.now_ns
            self._cycle_cost = {}
        if intent.side not in ("yes", "no") or intent.count <= 0 or not 0 < intent.limit_price < PRICE_SCALE:
            return (
                f"invalid intent for {intent.ticker}: side {intent.side!r}, count {intent.count}, limit "
                f"{intent.limit_price} (need yes/no, count > 0, 0 < limit < {PRICE_SCALE})"
            )
        if not ctx.exchange_open:
            return "the exchange is not trading: no new entries until it is"
        if intent.ticker in ctx.stale:
            return f"the price of {intent.ticker} is stale: no entry on an old quote"

        if lim.daily_loss_limit is not None:
            if self._halt is not None:
                return self._halt
            closed = ctx.realized_today if ctx.realized_today is not None else self._closed_today
            pnl = closed + sum(_pnl(p) for p in ctx.positions)
            self._last_pnl = pnl
            if pnl <= -lim.daily_loss_limit:
                self._halt = (
                    f"daily loss limit reached: P&L today {_usd(pnl)} <= -{_usd(lim.daily_loss_limit)}; new entries "
                    "are halted until the day ends (exits keep running)"
                )
                return self._halt

        fees = ctx.fee_schedule(intent.ticker, self.fees)
        cost = intent.limit_price * intent.count + fees.taker(intent.limit_price, intent.count)
        if lim.max_order_cost is not None and cost > lim.max_order_cost:
            return f"order cost {_usd(cost)} > max_order_cost {_usd(lim.max_order_cost)}"

        held: dict[str, int] = {}
        for p in ctx.positions:
            if (getattr(p, "count", 0) or 0) != 0:
                t = getattr(p, "ticker", "")
                held[t] = held.get(t, 0) + _exposure(p)
        pending = self._cycle_cost
        if lim.max_market_exposure is not None:
            now_in = held.get(intent.ticker, 0) + pending.get(intent.ticker, 0)
            if now_in + cost > lim.max_market_exposure:
                return (
                    f"{intent.ticker}: exposure {_usd(now_in)} + this order {_usd(cost)} > per-market limit "
                    f"{_usd(lim.max_market_exposure)}"
                )
        if lim.max_total_exposure is not None:
            total = sum(held.values()) + sum(pending.values())
            if total + cost > lim.max_total_exposure:
                return f"total exposure {_usd(total)} + this order {_usd(cost)} > limit {_usd(lim.max_total_exposure)}"
        if lim.max_open_positions is not None and intent.ticker not in held and intent.ticker not in pending:
            open_now = len(held) + sum(1 for t in pending if t not in held)
            if open_now + 1 > lim.max_open_positions:
                return (
                    f"{open_now} positions open (or entering this cycle); max_open_positions is "
                    f"{lim.max_open_positions}"
                )
        pending[intent.ticker] = pending.get(intent.ticker, 0) + cost
        return None


__all__ = ["RiskLimits", "RiskManager"]
