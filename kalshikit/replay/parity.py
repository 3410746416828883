"""Live-vs-replay parity: did replaying the recording of a live session make the same decisions, on the same
quotes, as the live engine did?

    report = parity(kit.decisions(), "recordings/session", entries=kit.entries(), stop=0.05, take_profit=0.10)
    report.table        # one row per trigger, live and replay side by side
    report.ok           # every trigger matched on the same quote

Both sides stamp a decision with the receive time of the quote it was made on; the recording stores exactly that
receive time for every frame, so the two can be joined on it. A live decision made on a REST price (the socket was
down, or a confirmation read) has no frame in the recording: it is reported as such, not as a mismatch of logic.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from kalshikit.core.rules import Protection
from kalshikit.replay.engine import replay
from kalshikit.replay.results import ReplayResult
from kalshikit.units import PRICE_SCALE

KINDS = ("trigger",)
COLUMNS = [
    "ticker", "trigger", "status", "live_ts", "replay_ts", "live_mark", "replay_mark", "live_level", "replay_level",
    "quote_recv_ns", "live_quote_source", "note",
]


@dataclass
class ParityReport:
    table: pd.DataFrame
    replay: ReplayResult

    @property
    def matched(self) -> int:
        return int((self.table["status"] == "same quote").sum())

    @property
    def ok(self) -> bool:
        """True when every live trigger that was made on a recorded quote was made by the replay on that quote."""
        relevant = self.table[self.table["status"] != "live on REST price"]
        return bool(len(relevant)) and bool((relevant["status"] == "same quote").all())

    @property
    def summary(self) -> dict[str, Any]:
        counts = self.table["status"].value_counts().to_dict()
        return {"triggers": len(self.table), "ok": self.ok, **counts}

    def __repr__(self) -> str:
        return f"<ParityReport {self.summary}>"


def _frame(decisions: pd.DataFrame | Iterable[Any]) -> pd.DataFrame:
    """Live decisions as ``kit.decisions()`` shows them (mark and level in dollars); Decision records (integer
    price units) are converted."""
    if isinstance(decisions, pd.DataFrame):
        return decisions
    rows = [{f: getattr(d, f) for f in d.__struct_fields__} for d in decisions]
    frame = pd.DataFrame(rows)
    for col in ("mark", "level"):
        if col in frame:
            frame[col] = frame[col].astype("float64") / PRICE_SCALE
    return frame


def _dollars(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def compare(live: pd.DataFrame, replayed: pd.DataFrame) -> pd.DataFrame:
    """Side-by-side table of trigger decisions, joined on (ticker, trigger, receive time of the quote)."""
    live = live[live["kind"].isin(KINDS)] if len(live) else live
    rep = replayed[replayed["kind"].isin(KINDS)] if len(replayed) else replayed
    rows: list[dict[str, Any]] = []
    used: set[int] = set()
    rep_rows = list(rep.itertuples(index=False)) if len(rep) else []
    for d in (live.itertuples(index=False) if len(live) else []):
        match = None
        pid = getattr(d, "position_id", None)
        for i, r in enumerate(rep_rows):
            same_position = pid is None or getattr(r, "position_id", pid) == pid
            if i not in used and r.ticker == d.ticker and r.trigger == d.trigger and same_position:
                if r.quote_recv_ns == d.quote_recv_ns:
                    match = i
                    break
                if match is None:
                    match = i
        source = getattr(d, "quote_source", "") or ""
        if match is None:
            status = "live on REST price" if source == "rest" else "live only"
            rows.append({"ticker": d.ticker, "trigger": d.trigger, "status": status,
                         "live_ts": pd.Timestamp(d.now_ns, unit="ns", tz="UTC"), "replay_ts": None,
                         "live_mark": _dollars(d.mark), "replay_mark": None, "live_level": _dollars(d.level),
                         "replay_level": None, "quote_recv_ns": d.quote_recv_ns, "live_quote_source": source,
                         "note": "no replay decision" if source != "rest" else "REST prices are not in recordings"})
            continue
        used.add(match)
        r = rep_rows[match]
        same = r.quote_recv_ns == d.quote_recv_ns
        status = "same quote" if same else ("live on REST price" if source == "rest" else "different quote")
        rows.append({"ticker": d.ticker, "trigger": d.trigger, "status": status,
                     "live_ts": pd.Timestamp(d.now_ns, unit="ns", tz="UTC"), "replay_ts": r.ts,
                     "live_mark": _dollars(d.mark), "replay_mark": r.mark, "live_level": _dollars(d.level),
                     "replay_level": r.level, "quote_recv_ns": d.quote_recv_ns, "live_quote_source": source,
                     "note": "" if same else f"replay triggered on the quote received at {r.quote_recv_ns}"})
    for i, r in enumerate(rep_rows):
        if i not in used:
            rows.append({"ticker": r.ticker, "trigger": r.trigger, "status": "replay only", "live_ts": None,
                         "replay_ts": r.ts, "live_mark": None, "replay_mark": r.mark, "live_level": None,
                         "replay_level": r.level, "quote_recv_ns": r.quote_recv_ns, "live_quote_source": "",
                         "note": "the live engine did not trigger here"})
    return pd.DataFrame(rows, columns=COLUMNS)


def parity(
    live_decisions: pd.DataFrame | Iterable[Any],
    recording: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    entries: pd.DataFrame,
    rules: Protection | Mapping[str, Any] | None = None,
    latency_ms: float = 0.0,
    **rule_args: Any,
) -> ParityReport:
    """Replay ``recording`` with the live session's ``entries`` and rules, and compare the trigger decisions."""
    result = replay(recording, entries=entries, rules=rules, latency_ms=latency_ms, **rule_args)
    return ParityReport(compare(_frame(live_decisions), result.decisions), result)
