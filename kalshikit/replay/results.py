"""Replay output: the trades table, the summary, the decisions and the per-trigger gap report.

Computations are in integers (price units, micro-dollars); the DataFrames show dollars as floats for reading and
plotting. ``pnl`` is net of fees (entry and exit); ``hold_pnl`` is what holding to settlement would have made,
when the market's result is known. ``slippage`` is the trigger price minus the average exit price (own side, so
positive means the exit was worse than the trigger).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kalshikit.core.actions import PositionClosed
from kalshikit.core.positions import yes_payout
from kalshikit.replay.entries import Entry
from kalshikit.replay.market import MarketOutput
from kalshikit.units import PRICE_SCALE

ONE = PRICE_SCALE
# What a replay of recorded ticks states about its data (history datasets state their candle assumption instead).
TICK_RESOLUTION = "tick: every recorded quote"
TICK_FILLS = (
    "exits fill at the displayed top of book when they arrive (after the latency), up to its size; the rest is "
    "re-issued on the following quotes"
)
TRADE_COLUMNS = [
    "ticker",
    "side",
    "count",
    "entry_ts",
    "entry_price",
    "exit_reason",
    "trigger_ts",
    "trigger_price",
    "exit_ts",
    "exit_price",
    "fees",
    "pnl",
    "hold_pnl",
    "result",
    "slippage",
    "exit_attempts",
    "position_id",
]


def _d(price: int | None) -> float | None:
    return None if price is None else price / ONE


def _m(money: int | None) -> float | None:
    return None if money is None else money / 1_000_000


def _ts(ns: int | None) -> pd.Timestamp | None:
    return None if ns is None else pd.Timestamp(ns, unit="ns", tz="UTC")


@dataclass
class ReplayResult:
    trades: pd.DataFrame
    summary: dict[str, Any]
    decisions: pd.DataFrame
    gaps: pd.DataFrame
    open_positions: pd.DataFrame
    skipped: pd.DataFrame
    stats: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_csv(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        self.trades.to_csv(p, index=False)
        return p

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"<ReplayResult trades={s['trades']} pnl=${s['pnl']:.2f} win_rate={s['win_rate']:.0%} "
            f"max_dd=${s['max_drawdown']:.2f} ticks={self.stats.get('ticks')} data={s.get('resolution')!r}>"
        )


def _settlement_own(side: str, known: tuple[str, int | None] | None) -> int | None:
    """What one contract of ``side`` pays at the ``known`` (result, settlement value); None if not known."""
    value = yes_payout(*known) if known is not None else None
    if value is None:
        return None
    return value if side == "yes" else ONE - value


def closed_figures(
    c: PositionClosed, known: tuple[str, int | None] | None, entry_fees: Mapping[str, int]
) -> tuple[int | None, int | None, int | None]:
    """Of one closed position: (own-side settlement payout, P&L had it been held to settlement after its entry
    fee, slippage from the trigger price to the exit price); each None when not known."""
    settle = _settlement_own(c.side, known)
    hold = None
    if settle is not None and c.entry_price is not None:
        hold = (settle - c.entry_price) * c.count - entry_fees.get(c.position_id, 0)
    slip = None
    if c.trigger_price is not None and c.exit_price is not None:
        slip = c.trigger_price - c.exit_price
    return settle, hold, slip


def build_result(
    outputs: dict[str, MarketOutput],
    skipped: list[tuple[Entry, str]],
    stats: dict[str, Any],
    settings: dict[str, Any],
    results: dict[str, tuple[str, int | None]],
    announced: dict[str, tuple[str, int | None]],
) -> ReplayResult:
    rows: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    gaps: list[dict[str, Any]] = []
    open_rows: list[dict[str, Any]] = []
    skipped_rows = [
        {"ticker": e.ticker, "entry_ts": _ts(e.entry_ns), "side": e.side, "count": e.count / 100, "reason": why}
        for e, why in skipped
    ]
    for ticker, out in outputs.items():
        known = results.get(ticker) or announced.get(ticker)
        entry_fee = {e.position_id: e.fee for e in out.entries}
        attempts: dict[str, int] = {}
        for o in out.orders:
            attempts[o.position_id] = attempts.get(o.position_id, 0) + 1
        for c in out.closed:
            settle_own, hold, slip = closed_figures(c, known, entry_fee)
            rows.append(
                {
                    "ticker": ticker,
                    "side": c.side,
                    "count": c.count / 100,
                    "entry_ts": _ts(c.opened_ns),
                    "entry_price": _d(c.entry_price),
                    "exit_reason": c.reason,
                    "trigger_ts": _ts(c.trigger_ns),
                    "trigger_price": _d(c.trigger_price),
                    "exit_ts": _ts(c.closed_ns),
                    "exit_price": _d(c.exit_price if c.reason != "settlement" else settle_own),
                    "fees": _m(c.fees),
                    "pnl": _m(c.realized - c.fees),
                    "hold_pnl": _m(hold),
                    "result": known[0] if known else None,
                    "slippage": _d(slip),
                    "exit_attempts": attempts.get(c.position_id, 0),
                    "position_id": c.position_id,
                }
            )
        for d in out.decisions:
            decisions.append(
                {
                    "ticker": d.ticker,
                    "position_id": d.position_id,
                    "kind": d.kind,
                    "trigger": d.trigger,
                    "ts": _ts(d.now_ns),
                    "now_ns": d.now_ns,
                    "mark": _d(d.mark),
                    "level": _d(d.level),
                    "quote_recv_ns": d.quote_recv_ns,
                    "quote_exchange_ns": d.quote_exchange_ns,
                    "detail": d.detail,
                }
            )
        for o in out.orders:
            slip = None
            if o.reference_price is not None and o.average_price is not None:
                slip = o.reference_price - o.average_price
            gaps.append(
                {
                    "ticker": o.ticker,
                    "trigger": o.trigger,
                    "attempt": o.attempt,
                    "decided_ts": _ts(o.decided_ns),
                    "arrival_ts": _ts(o.arrival_ns),
                    "trigger_price": _d(o.reference_price),
                    "first_executable_bid": _d(o.first_bid),
                    "count": o.count / 100,
                    "filled": o.filled / 100,
                    "fill_price": _d(o.average_price),
                    "fee": _m(o.fees),
                    "slippage": _d(slip),
                    "client_order_id": o.client_order_id,
                }
            )
        for p in out.open_positions:
            open_rows.append(
                {
                    "ticker": p["ticker"],
                    "side": p["side"],
                    "count": p["count"] / 100,
                    "entry_ts": _ts(p["opened_ns"]),
                    "entry_price": _d(p["entry_price"]),
                    "mark": _d(p["mark"]),
                    "unrealized": _m(p["unrealized"]),
                    "realized": _m(p["realized"]),
                    "fees": _m(p["fees"]),
                }
            )
    trades = pd.DataFrame(rows, columns=TRADE_COLUMNS).sort_values(["exit_ts", "ticker"], ignore_index=True)
    gap_frame = pd.DataFrame(gaps)
    if gaps:
        gap_frame = gap_frame.sort_values(["decided_ts", "ticker"], kind="stable", ignore_index=True)
    return ReplayResult(
        trades=trades,
        summary=summarize(trades, gap_frame, pd.DataFrame(open_rows))
        | {
            "resolution": settings.get("resolution", TICK_RESOLUTION),
            "fill_assumption": settings.get("fill_assumption", TICK_FILLS),
        },
        decisions=pd.DataFrame(decisions).sort_values(["now_ns", "ticker"], kind="stable", ignore_index=True)
        if decisions
        else pd.DataFrame(decisions),
        gaps=gap_frame,
        open_positions=pd.DataFrame(open_rows),
        skipped=pd.DataFrame(skipped_rows),
        stats=stats,
        settings=settings,
    )


def equity_curve(trades: pd.DataFrame) -> pd.DataFrame:
    """Cumulative net P&L by exit time, with the running peak and the drawdown below it."""
    t = trades.sort_values("exit_ts")
    eq = t["pnl"].cumsum()
    peak = eq.cummax().clip(lower=0.0)
    return pd.DataFrame(
        {
            "exit_ts": t["exit_ts"].to_numpy(),
            "equity": eq.to_numpy(),
            "peak": peak.to_numpy(),
            "drawdown": (eq - peak).to_numpy(),
        }
    )


def summarize(trades: pd.DataFrame, gaps: pd.DataFrame, open_positions: pd.DataFrame) -> dict[str, Any]:
    n = len(trades)
    pnl = float(trades["pnl"].sum()) if n else 0.0
    curve = equity_curve(trades) if n else None
    rule_exits = trades[~trades["exit_reason"].isin(["settlement", "external"])] if n else trades
    hold_known = trades["hold_pnl"].notna() if n else None
    return {
        "trades": n,
        "pnl": pnl,
        "fees": float(trades["fees"].sum()) if n else 0.0,
        "win_rate": float((trades["pnl"] > 0).mean()) if n else 0.0,
        "average_pnl": pnl / n if n else 0.0,
        "max_drawdown": float(curve["drawdown"].min()) if curve is not None else 0.0,
        "average_slippage": float(rule_exits["slippage"].mean())
        if len(rule_exits) and rule_exits["slippage"].notna().any()
        else 0.0,
        "exits_by_reason": trades["exit_reason"].value_counts().to_dict() if n else {},
        "hold_pnl": float(trades.loc[hold_known, "hold_pnl"].sum()) if n and hold_known.any() else None,
        "pnl_where_hold_known": float(trades.loc[hold_known, "pnl"].sum()) if n and hold_known.any() else None,
        "open_positions": len(open_positions),
        "open_unrealized": float(open_positions["unrealized"].fillna(0).sum()) if len(open_positions) else 0.0,
        "exit_orders": len(gaps),
    }
