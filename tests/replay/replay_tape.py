"""Small hand-made tapes for replay tests: current-format Kalshi frames written as kit recordings or plain JSONL.

Times are milliseconds after ``T0``; prices are dollars as strings or floats, sizes contracts. Every frame's
exchange time is its receive time minus ``lag_ms`` (a kit recording keeps both; plain JSONL only has ts_ms).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kalshikit.recording.writer import RecordingWriter

T0_MS = 1_780_000_000_000
NS_PER_MS = 1_000_000


def ns(ms: float) -> int:
    """Receive time in ns of a frame at ``ms`` after T0."""
    return (T0_MS + int(ms)) * NS_PER_MS


def _d(x: float | str | None) -> str:
    if x is None:
        return "0.0000"
    return f"{float(x):.4f}"


def ticker(
    t: str,
    ms: float,
    bid: float | None,
    ask: float | None,
    bid_size: float = 100,
    ask_size: float = 100,
    last: float | None = None,
    lag_ms: int = 20,
) -> str:
    msg: dict[str, Any] = {
        "market_ticker": t,
        "price_dollars": _d(last if last is not None else bid),
        "yes_bid_dollars": _d(bid),
        "yes_ask_dollars": "1.0000" if ask is None else _d(ask),
        "yes_bid_size_fp": f"{bid_size:.2f}",
        "yes_ask_size_fp": f"{ask_size:.2f}",
        "volume_fp": "100.00",
        "open_interest_fp": "50.00",
        "ts": (T0_MS + int(ms) - lag_ms) // 1000,
        "ts_ms": T0_MS + int(ms) - lag_ms,
    }
    return json.dumps({"type": "ticker", "sid": 1, "msg": msg}, separators=(",", ":"))


def lifecycle(t: str, event_type: str, **fields: Any) -> str:
    msg = {"market_ticker": t, "event_type": event_type, **fields}
    return json.dumps({"type": "market_lifecycle_v2", "sid": 3, "msg": msg}, separators=(",", ":"))


def created(t: str, close_s: int | None = None) -> str:
    return lifecycle(
        t,
        "created",
        open_ts=T0_MS // 1000,
        close_ts=close_s if close_s is not None else T0_MS // 1000 + 3600,
        price_level_structure="linear_cent",
        price_ranges=[{"start": "0.0000", "end": "1.0000", "step": "0.0100"}],
    )


Row = tuple[float, str]  # (ms after T0, frame text)


def write_recording(directory: Path, rows: Iterable[Row], prefix: str = "tape") -> Path:
    """A kit recording (header + {"recv_ns", "raw"} lines) of ``rows`` in the given order; returns the file."""
    w = RecordingWriter(directory, prefix=prefix, env="sim", flush_interval=None, synthetic=True, created_ns=ns(0))
    for ms, raw in rows:
        w.write(raw, ns(ms))
    w.close()
    assert len(w.paths) == 1
    return w.paths[0]


def write_jsonl(path: Path, frames: Iterable[str], gz: bool = True) -> Path:
    """Plain JSONL of raw frames (no receive times)."""
    text = "".join(f + "\n" for f in frames)
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def snapshot(
    t: str, yes: Iterable[tuple[float, float]], no: Iterable[tuple[float, float]], sid: int = 7, seq: int = 1
) -> str:
    """An ``orderbook_snapshot``: ``yes`` / ``no`` bids as (dollar price, contracts)."""
    msg = {
        "market_ticker": t,
        "yes_dollars_fp": [[_d(p), f"{c:.2f}"] for p, c in yes],
        "no_dollars_fp": [[_d(p), f"{c:.2f}"] for p, c in no],
    }
    return json.dumps({"type": "orderbook_snapshot", "sid": sid, "seq": seq, "msg": msg}, separators=(",", ":"))


def delta(
    t: str, ms: float, side: str, price: float, change: float, sid: int = 7, seq: int = 2, lag_ms: int = 20
) -> str:
    """An ``orderbook_delta``: ``change`` contracts (signed) at one level of ``side``'s bids."""
    msg = {
        "market_ticker": t,
        "price_dollars": _d(price),
        "delta_fp": f"{change:.2f}",
        "side": side,
        "ts_ms": T0_MS + int(ms) - lag_ms,
    }
    return json.dumps({"type": "orderbook_delta", "sid": sid, "seq": seq, "msg": msg}, separators=(",", ":"))
