"""The tables of a replay report, formatted for reading: what produced it (sources, rules, latency, fill model,
data and its date range), the summary with money in $ and rates in %, warnings, the trades and the exit orders.

The result's DataFrames keep floats (dollars) for computing; these tables are strings, for an HTML page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from kalshikit.core.rules import Protection
from kalshikit.core.views import describe
from kalshikit.replay.entries import FirstTwoSided
from kalshikit.replay.results import SLIPPAGE_SIGN, ReplayResult

MONEY = {"pnl", "fees", "average_pnl", "max_drawdown", "hold_pnl", "pnl_where_hold_known", "open_unrealized", "fee"}
PRICES = {
    "average_slippage",
    "entry_price",
    "trigger_price",
    "exit_price",
    "slippage",
    "first_executable_bid",
    "fill_price",
    "worst_fill_price",
    "mark",
}
RATES = {"win_rate", "rules_armed_share"}
HIDDEN = {"warnings", "fee_schedules", "resolution", "fill_assumption"}  # shown in their own tables
LABELS = {
    "pnl": "net P&L",
    "fees": "fees",
    "average_pnl": "average P&L per trade",
    "max_drawdown": "max drawdown",
    "average_slippage": "average slippage per exit (trigger − exit price)",
    "hold_pnl": "P&L had every position been held to settlement",
    "pnl_where_hold_known": "P&L of the trades whose settlement is known",
    "open_unrealized": "unrealized P&L of open positions",
    "win_rate": "win rate",
    "rules_armed_share": "positions with every rule armed",
    "rules_rejected": "positions with a rule that could not be armed",
    "rules_mostly_rejected": "rules not armed on most positions",
    "fired_at_entry": "positions that exited the moment their rules were armed",
    "depth_markets": "markets with a recorded order book",
    "exit_orders_on_depth": "exit orders filled against the recorded order book",
    "entries_skipped": "entries not replayed",
}


@dataclass(frozen=True)
class Note:
    """A paragraph of text in an HTML report (a plain ``str`` is a heading)."""

    text: str


def money(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    return f"-${-v:,.2f}" if v < 0 else f"${v:,.2f}"


def price(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    return f"-${-v:.4f}" if v < 0 else f"${v:.4f}"


def rate(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    return f"{v:.1%}"


def _ts(ns: int | None) -> str:
    return "–" if ns is None else str(pd.Timestamp(ns, unit="ns", tz="UTC"))


def provenance(result: ReplayResult) -> pd.DataFrame:
    """What produced the result: sources, entries, rules, latency, fill model, fees, data and its date range."""
    st, s, stats = result.settings, result.summary, result.stats
    rules = st.get("rules")
    policy = st.get("policy")
    entries = _policy_text(policy) if policy is not None else f"{st.get('entries', 0)} entries from a table"
    unknown = st.get("unknown_size")
    fees = s.get("fee_schedules") or st.get("fees") or {}
    rows = [
        ("sources", "; ".join(st.get("sources") or ["–"])),
        ("entries", entries),
        ("rules", describe(rules) if isinstance(rules, Protection) else "none (positions held to settlement)"),
        ("order latency", f"{float(st.get('latency_ms') or 0):g} ms"),
        ("fill model", s.get("fill_assumption", "–")),
        ("size of a quote without a size", "unlimited" if unknown is None else f"{unknown / 100:g} contracts"),
        ("quotes from order books", "yes (book_quotes=True)" if st.get("book_quotes") else "no: ticker frames only"),
        ("fees", "; ".join(f"{k}: {v}" for k, v in fees.items()) if isinstance(fees, Mapping) else str(fees)),
        ("data", s.get("resolution", "–")),
        ("data from", _ts(stats.get("first_ns"))),
        ("data to", _ts(stats.get("last_ns"))),
        ("ticks read", f"{stats.get('ticks', 0):,} of {stats.get('markets_replayed', 0)} market(s)"),
    ]
    return pd.DataFrame(rows, columns=["what", "value"])


def _policy_text(policy: Any) -> str:
    if not isinstance(policy, FirstTwoSided):
        return str(policy)
    where = "every market" if policy.tickers is None else ", ".join(sorted(policy.tickers))
    after = f", from {_ts(policy.after_ns)}" if policy.after_ns else ""
    return f"at the first two-sided quote of {where}: {policy.side.upper()} × {policy.count / 100:g} contracts{after}"


def summary_formatted(summary: Mapping[str, Any]) -> pd.DataFrame:
    """The summary with money as $, prices as $0.0000 and rates as %."""
    rows: list[tuple[str, str]] = []
    for k, v in summary.items():
        if k in HIDDEN:
            continue
        label = LABELS.get(k, k.replace("_", " "))
        if isinstance(v, dict):
            rows.extend((f"{label}: {kk}", str(vv)) for kk, vv in v.items())
        elif k in MONEY:
            rows.append((label, money(v)))
        elif k in PRICES:
            rows.append((label, price(v)))
        elif k in RATES:
            rows.append((label, rate(v)))
        elif isinstance(v, bool):
            rows.append((label, "YES" if v else "no"))
        else:
            rows.append((label, "–" if v is None else f"{v:,}" if isinstance(v, int) else str(v)))
    return pd.DataFrame(rows, columns=["figure", "value"])


def formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a trades / gaps / open-positions table with money as $, prices as $0.0000 and times as text."""
    out = frame.copy()
    for c in out.columns:
        if c in MONEY or c in ("realized", "unrealized"):
            out[c] = [money(v) for v in out[c]]
        elif c in PRICES:
            out[c] = [price(v) for v in out[c]]
        elif c == "count" or c == "filled":
            out[c] = [f"{v:g}" for v in out[c]]
    return out


def slippage_note() -> Note:
    return Note(
        SLIPPAGE_SIGN + ". It includes what a thin top, a walk down the recorded order book and the "
        "latency cost; the trigger price is the own-side mark the rule fired on."
    )
