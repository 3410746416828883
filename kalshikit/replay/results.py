"""Replay output: the trades table, the summary, the decisions and the per-trigger gap report.

Computations are in integers (price units, micro-dollars); the DataFrames show dollars as floats for reading and
plotting. ``pnl`` is net of fees (entry and exit); ``hold_pnl`` is what holding to settlement would have made,
when the market's result is known.

``slippage`` (trades, per exit; gaps, per exit order) is the trigger price minus the average exit price, both of
the position's own side: **positive means the exit sold below the price that triggered it** (worse: a thin top,
a walk down the book, latency), negative means it sold above it (the price recovered before the order arrived).

Rules that could not be armed are never silent: ``summary["rules_rejected"]`` counts the positions on which at
least one rule was left out (the monitor's ``rules_rejected`` decision: a stop below $0, ...; a take-profit beyond
$1 is no take-profit, not a rejection), ``rules_armed_share`` is the share of positions with every rule armed and
``rules_mostly_rejected`` flags a run where that share is under one half: its P&L is mostly what holding made.
``fired_at_entry`` counts positions whose exit was ordered the moment the rules were armed (a level the price had
already crossed at entry: replay arms rules like a strategy's entry, which exits at once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kalshikit.core.actions import PositionClosed
from kalshikit.core.positions import yes_payout
from kalshikit.core.rules import Protection
from kalshikit.replay.entries import Entry
from kalshikit.replay.market import MarketOutput
from kalshikit.replay.records import NONE, dollars
from kalshikit.tables import decisions_frame
from kalshikit.tables import dollars_or_nan as _d
from kalshikit.tables import money_or_nan as _m
from kalshikit.tables import timestamp as _ts
from kalshikit.units import PRICE_SCALE

ONE = PRICE_SCALE
# What a replay of recorded ticks states about its data (history datasets state their candle assumption instead).
TICK_RESOLUTION = "tick: every recorded quote"
TICK_FILLS = (
    "exits fill at the displayed top of book when they arrive (after the latency), up to its size; the rest is "
    "re-issued on the following quotes"
)
DEPTH_FILLS = (
    "exits fill when they arrive (after the latency) against the recorded order book where the data has one "
    "(orderbook_snapshot/orderbook_delta), level by level at each level's price and size; elsewhere at the "
    "displayed top of book, up to its size; the rest is re-issued on the following quotes"
)
ARMED_SHARE_FLAG = 0.5  # below this share of positions with every rule armed, a run is flagged
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
SLIPPAGE_SIGN = (
    "slippage = trigger price − exit price, own side: positive = the exit sold below the price that triggered it "
    "(worse), negative = above it"
)


GAP_COLUMNS = [
    "ticker",
    "trigger",
    "attempt",
    "decided_ts",
    "arrival_ts",
    "trigger_price",
    "first_executable_bid",
    "count",
    "filled",
    "fill_price",
    "worst_fill_price",
    "levels",
    "fills",
    "book",
    "fee",
    "slippage",
    "client_order_id",
]


def _times(a: np.ndarray[Any, Any]) -> pd.DatetimeIndex:
    """An int ns column (``NONE`` = none) as UTC timestamps (NaT for none)."""
    return pd.to_datetime(np.where(a == NONE, np.iinfo(np.int64).min, a), unit="ns", utc=True)


def _trade_columns(ticker: str, out: MarketOutput, known: tuple[str, int | None] | None) -> dict[str, Any]:
    """One market's closed positions as trades-table columns (times still in ns, see :func:`_stack`), built from the
    record columns (see :func:`closed_figures` for the figures, one position at a time)."""
    c = out.closed
    n = len(c)
    side = c.refs("side")
    reason = c.refs("reason")
    pids = c.refs("position_id")
    count = c.ints("count")
    entry = c.ints("entry_price")
    exit_ = c.ints("exit_price").copy()
    trig = c.ints("trigger_price")
    realized, fees = c.ints("realized"), c.ints("fees")
    own_yes, own_no = _settlement_own("yes", known), _settlement_own("no", known)
    is_yes = np.fromiter((s == "yes" for s in side), dtype=bool, count=n)
    settle = np.where(is_yes, NONE if own_yes is None else own_yes, NONE if own_no is None else own_no)
    settled = np.fromiter((r == "settlement" for r in reason), dtype=bool, count=n)
    exit_[settled] = settle[settled]
    entry_fee = dict(zip(out.entries.refs("position_id"), out.entries.ints("fee").tolist(), strict=True))
    fee_in = np.fromiter((entry_fee.get(pid, 0) for pid in pids), dtype=np.int64, count=n)
    hold_ok = (settle != NONE) & (entry != NONE)
    hold = np.where(hold_ok, (settle - entry) * count - fee_in, 0) / 1_000_000
    hold[~hold_ok] = np.nan
    slip_ok = (trig != NONE) & (exit_ != NONE)
    slip = np.where(slip_ok, trig - exit_, 0) / ONE
    slip[~slip_ok] = np.nan
    attempts: dict[str, int] = {}
    for pid in out.orders.refs("position_id"):
        attempts[pid] = attempts.get(pid, 0) + 1
    return {
        "ticker": [ticker] * n,
        "side": side,
        "count": count / 100,
        "entry_ts": c.ints("opened_ns"),
        "entry_price": dollars(entry, ONE),
        "exit_reason": reason,
        "trigger_ts": c.ints("trigger_ns"),
        "trigger_price": dollars(trig, ONE),
        "exit_ts": c.ints("closed_ns"),
        "exit_price": dollars(exit_, ONE),
        "fees": fees / 1_000_000,
        "pnl": (realized - fees) / 1_000_000,
        "hold_pnl": hold,
        "result": [known[0] if known else None] * n,
        "slippage": slip,
        "exit_attempts": np.fromiter((attempts.get(pid, 0) for pid in pids), dtype=np.int64, count=n),
        "position_id": pids,
    }


def _fills_text(levels: tuple[tuple[int, int], ...]) -> str:
    """An exit order's fills as "count@price" per level (contracts, dollars), best first."""
    return ", ".join(f"{count / 100:g}@{price / ONE:.4f}" for price, count in levels)


def _gap_columns(out: MarketOutput) -> dict[str, Any]:
    """One market's exit orders as gap-report columns (times still in ns), built from the record columns."""
    o = out.orders
    ref, avg = o.ints("reference_price"), o.ints("average_price")
    ok = (ref != NONE) & (avg != NONE)
    slip = np.where(ok, ref - avg, 0) / ONE
    slip[~ok] = np.nan
    fills = [
        _fills_text(taken) if taken else f"{filled / 100:g}@{price / ONE:.4f}" if filled and price != NONE else ""
        for taken, filled, price in zip(o.refs("taken"), o.ints("filled").tolist(), avg.tolist(), strict=True)
    ]
    return {
        "ticker": o.refs("ticker"),
        "trigger": o.refs("trigger"),
        "attempt": o.ints("attempt").copy(),
        "decided_ts": o.ints("decided_ns"),
        "arrival_ts": o.ints("arrival_ns"),
        "trigger_price": dollars(ref, ONE),
        "first_executable_bid": dollars(o.ints("first_bid"), ONE),
        "count": o.ints("count") / 100,
        "filled": o.ints("filled") / 100,
        "fill_price": dollars(avg, ONE),
        "worst_fill_price": dollars(o.ints("worst_price"), ONE),
        "levels": o.ints("levels").copy(),
        "fills": fills,
        "book": o.refs("book"),
        "fee": o.ints("fees") / 1_000_000,
        "slippage": slip,
        "client_order_id": o.refs("client_order_id"),
    }


_NS_MAX = np.iinfo(np.int64).max


def _stack(parts: list[tuple[str, dict[str, Any]]], columns: list[str], sort_ns: str) -> pd.DataFrame:
    """One table from per-market columns, rows ordered by ``sort_ns`` (none last) then ticker, ties in record order.

    Built column by column (each joined, reordered, then released from its part), so a dense replay's table exists
    about once in memory, not as parts + joined + sorted copies. Columns named ``*_ts`` arrive as int ns."""
    ranks = {t: i for i, t in enumerate(sorted(t for t, _ in parts))}
    lengths = [len(cols[sort_ns]) for _, cols in parts]
    key = np.concatenate([cols[sort_ns] for _, cols in parts])
    order = np.lexsort((np.repeat([ranks[t] for t, _ in parts], lengths), np.where(key == NONE, _NS_MAX, key)))
    del key
    index = order.tolist()
    data: dict[str, Any] = {}
    for name in columns:
        pieces = [cols.pop(name) for _, cols in parts]
        if isinstance(pieces[0], np.ndarray):
            joined = np.concatenate(pieces)[order]
            data[name] = _times(joined) if name.endswith("_ts") else joined
        else:
            flat = [v for piece in pieces for v in piece]
            data[name] = [flat[i] for i in index]
        del pieces
    return pd.DataFrame(data, columns=columns)


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


def rule_figures(outputs: Mapping[str, MarketOutput], rules: Protection | None) -> dict[str, Any]:
    """How the rules fared on the positions of a run: positions opened, positions with a rule left out
    (``rules_rejected``), the share with every rule armed (None without rules or positions), whether that share is
    under :data:`ARMED_SHARE_FLAG`, positions that exited the moment their rules were armed, and one reason given."""
    positions = rejected = fired = 0
    reason = ""
    for o in outputs.values():
        positions += len(set(o.entries.refs("position_id")))
        rejected += o.rules_rejected
        fired += o.fired_at_entry
        if not reason and o.rejections:
            reason = o.rejections[0][2]
    share = None
    if positions and rules is not None and not rules.is_empty:
        share = (positions - rejected) / positions
    return {
        "positions": positions,
        "rules_rejected": rejected,
        "rules_armed_share": share,
        "rules_mostly_rejected": share is not None and share < ARMED_SHARE_FLAG,
        "fired_at_entry": fired,
        "rules_rejected_example": reason,
    }


def rules_warning(figures: Mapping[str, Any]) -> str | None:
    """The warning a run's rule figures call for (None when every rule was armed on every position)."""
    n, rejected = figures["positions"], figures["rules_rejected"]
    if not rejected:
        return None
    text = (
        f"rules could not be armed on {rejected} of {n} position(s) (e.g. {figures['rules_rejected_example']}); "
        "those positions were held as if unprotected, so their P&L is what holding made, not what the rules did"
    )
    if figures["rules_mostly_rejected"]:
        text = "MOST POSITIONS UNPROTECTED: " + text
    return text


def build_result(
    outputs: dict[str, MarketOutput],
    skipped: list[tuple[Entry, str]],
    stats: dict[str, Any],
    settings: dict[str, Any],
    results: dict[str, tuple[str, int | None]],
    announced: dict[str, tuple[str, int | None]],
) -> ReplayResult:
    trade_parts: list[tuple[str, dict[str, Any]]] = []
    gap_parts: list[tuple[str, dict[str, Any]]] = []
    decisions: list[Any] = []
    open_rows: list[dict[str, Any]] = []
    skipped_rows = [
        {"ticker": e.ticker, "entry_ts": _ts(e.entry_ns), "side": e.side, "count": e.count / 100, "reason": why}
        for e, why in skipped
    ]
    for ticker, out in outputs.items():
        known = results.get(ticker) or announced.get(ticker)
        if out.closed:
            trade_parts.append((ticker, _trade_columns(ticker, out, known)))
        if out.orders:
            gap_parts.append((ticker, _gap_columns(out)))
        decisions.extend(out.decisions)
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
    trades = _stack(trade_parts, TRADE_COLUMNS, "exit_ts") if trade_parts else pd.DataFrame(columns=TRADE_COLUMNS)
    gap_frame = _stack(gap_parts, GAP_COLUMNS, "decided_ts") if gap_parts else pd.DataFrame()
    del trade_parts, gap_parts
    figures = rule_figures(outputs, settings.get("rules"))
    depth_markets = sum(1 for o in outputs.values() if o.book_rows)
    fills = settings.get("fill_assumption", TICK_FILLS)
    if depth_markets and fills == TICK_FILLS:
        fills = DEPTH_FILLS
    warnings = [w for w in (rules_warning(figures),) if w]
    if skipped:
        warnings.append(
            f"{len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} not replayed: "
            + "; ".join(f"{e.ticker} at {_ts(e.entry_ns)}: {why}" for e, why in skipped[:5])
            + (f"; ... ({len(skipped) - 5} more in result.skipped)" if len(skipped) > 5 else "")
        )
    books_only = sorted(t for t, o in outputs.items() if o.book_rows and not o.quotes_seen)
    if books_only:
        warnings.append(
            f"{len(books_only)} market(s) have order books but no ticker frames, so no quotes reached the monitor "
            f"({', '.join(books_only[:3])}{', ...' if len(books_only) > 3 else ''}): replay with book_quotes=True "
            "(--book-quotes) to take quotes from the books"
        )
    summary = summarize(trades, gap_frame, pd.DataFrame(open_rows)) | {
        "resolution": settings.get("resolution", TICK_RESOLUTION),
        "fill_assumption": fills,
        "depth_markets": depth_markets,
        "exit_orders_on_depth": sum(b == "depth" for out in outputs.values() for b in out.orders.refs("book")),
        "entries_skipped": len(skipped),
        **{k: v for k, v in figures.items() if k != "rules_rejected_example"},
        "warnings": warnings,
    }
    return ReplayResult(
        trades=trades,
        summary=summary,
        # every replayed quote is a recorded one: the live table's quote_source (ws or REST) says nothing here
        decisions=decisions_frame(decisions)
        .drop(columns="quote_source")
        .sort_values(["now_ns", "ticker"], kind="stable", ignore_index=True),
        gaps=gap_frame,
        open_positions=pd.DataFrame(open_rows),
        skipped=pd.DataFrame(skipped_rows),
        stats=stats,
        settings=settings,
    )


def equity_curve(trades: pd.DataFrame) -> pd.DataFrame:
    """Cumulative net P&L by exit time, with the running peak and the drawdown below it."""
    t = trades[["exit_ts", "pnl"]].sort_values("exit_ts", kind="stable")
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
    # column by column, never a filtered or re-sorted copy of the whole table (a dense replay has 10^5+ rows)
    rule_slippage = trades["slippage"][~trades["exit_reason"].isin(["settlement", "external"])] if n else None
    hold_known = trades["hold_pnl"].notna() if n else None
    return {
        "trades": n,
        "pnl": pnl,
        "fees": float(trades["fees"].sum()) if n else 0.0,
        "win_rate": float((trades["pnl"] > 0).mean()) if n else 0.0,
        "average_pnl": pnl / n if n else 0.0,
        "max_drawdown": float(equity_curve(trades)["drawdown"].min()) if n else 0.0,
        "average_slippage": float(rule_slippage.mean())
        if rule_slippage is not None and rule_slippage.notna().any()
        else 0.0,
        "exits_by_reason": trades["exit_reason"].value_counts().to_dict() if n else {},
        "hold_pnl": float(trades.loc[hold_known, "hold_pnl"].sum()) if n and hold_known.any() else None,
        "pnl_where_hold_known": float(trades.loc[hold_known, "pnl"].sum()) if n and hold_known.any() else None,
        "open_positions": len(open_positions),
        "open_unrealized": float(open_positions["unrealized"].fillna(0).sum()) if len(open_positions) else 0.0,
        "exit_orders": len(gaps),
    }
