"""Deterministic benchmark data: random-walk quote tapes for N markets, as Parquet ticks or gzip JSONL raw frames.

Kept separate from the synthetic recording generator on purpose: benchmarks need millions of ticks in seconds.
Prices move on a one-cent grid inside [0.02, 0.98] with a 1-3 cent spread and sizes of 1-500 contracts.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kalshikit.recording.columnar import TICK_SCHEMA

START_NS = 1_780_000_000 * 1_000_000_000


def tape(n_ticks: int, markets: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, markets, n_ticks)
    gaps = rng.exponential(20_000_000, n_ticks).astype(np.int64) + 1  # ~50 ticks/s overall
    recv = START_NS + np.cumsum(gaps)
    bid = np.empty(n_ticks, dtype=np.int64)
    for m in range(markets):
        idx = np.flatnonzero(codes == m)
        steps = rng.choice(np.array([-100, 0, 100]), size=len(idx), p=[0.3, 0.4, 0.3])
        walk = 5000 + np.cumsum(steps)
        # reflect into [200, 9700]
        walk = np.abs((walk - 200) % 19000 - 9500) + 200
        bid[idx] = walk - walk % 100
    spread = rng.integers(1, 4, n_ticks) * 100
    ask = np.minimum(bid + spread, 9900)
    return {
        "code": codes,
        "recv": recv,
        "exch": recv - 30_000_000,
        "bid": bid,
        "ask": ask,
        "bid_size": rng.integers(1, 501, n_ticks) * 100,
        "ask_size": rng.integers(1, 501, n_ticks) * 100,
    }


def ticker_name(code: int) -> str:
    return f"KXBENCH-26DEC31-M{code:03d}"


def write_parquet(path: Path, n_ticks: int, markets: int, seed: int = 1, chunk: int = 1 << 20) -> Path:
    t = tape(n_ticks, markets, seed)
    names = [ticker_name(i) for i in range(markets)]
    with pq.ParquetWriter(path, TICK_SCHEMA) as w:
        for s in range(0, n_ticks, chunk):
            e = min(n_ticks, s + chunk)
            tick = pa.DictionaryArray.from_arrays(pa.array(t["code"][s:e].astype(np.int32)), pa.array(names))
            cols = [tick, t["recv"][s:e], t["exch"][s:e], t["bid"][s:e], t["ask"][s:e], t["bid_size"][s:e],
                    t["ask_size"][s:e], t["bid"][s:e], np.full(e - s, 100_000), np.full(e - s, 50_000)]
            w.write_table(pa.Table.from_arrays([pa.array(c) if not isinstance(c, pa.Array) else c for c in cols],
                                               schema=TICK_SCHEMA))
    return path


def write_jsonl_gz(path: Path, n_ticks: int, markets: int, seed: int = 1) -> Path:
    """Plain JSONL of raw current-format ticker frames (one frame per line), gzip."""
    t = tape(n_ticks, markets, seed)
    names = [ticker_name(i) for i in range(markets)]
    with gzip.open(path, "wt", compresslevel=1) as f:
        for i in range(n_ticks):
            b = int(t["bid"][i])
            a = int(t["ask"][i])
            ms = int(t["exch"][i]) // 1_000_000
            f.write(
                f'{{"type":"ticker","sid":1,"msg":{{"market_ticker":"{names[int(t["code"][i])]}",'
                f'"price_dollars":"0.{b:04d}","yes_bid_dollars":"0.{b:04d}","yes_ask_dollars":"0.{a:04d}",'
                f'"volume_fp":"{1000 + i}.00","open_interest_fp":"{500 + i // 2}.00","dollar_volume":10,'
                f'"dollar_open_interest":5,"yes_bid_size_fp":"{int(t["bid_size"][i]) // 100}.00",'
                f'"yes_ask_size_fp":"{int(t["ask_size"][i]) // 100}.00","last_trade_size_fp":"1.00",'
                f'"ts":{ms // 1000},"ts_ms":{ms}}}}}\n'
            )
    return path
