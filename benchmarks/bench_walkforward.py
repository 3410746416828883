"""Walk-forward and bootstrap benchmarks. Prints ONE JSON object (progress goes to stderr).

- ``sample``: the bundled ``recordings/sample`` (5 markets) under ``backtest/example_sweep.toml``'s 192 settings:
  the sweep (its 1,000-draw intervals timed apart), then ``walk_forward`` (2 folds, 1,000 draws; by P&L and by
  lower bound).
- ``synthetic``: back-to-back synthetic sessions (``--sessions`` × ``--markets`` markets, 300 s each) converted to
  Parquet, swept over ``--settings`` settings on local processes, then walked forward (``--folds`` folds).
- ``table``: the walk-forward arithmetic alone on a random per-market table of ``--table-settings`` ×
  ``--table-markets`` (no replay): windows, selection and 1,000-draw intervals.

    python benchmarks/bench_walkforward.py [--sessions 30] [--markets 10] [--settings 192] [--folds 4]
        [--table-settings 1000] [--table-markets 5000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from kalshikit.recording.columnar import to_parquet  # noqa: E402
from kalshikit.recording.synthetic import DEFAULT_START_NS, write_synthetic_recording  # noqa: E402
from kalshikit.replay import FirstTwoSided  # noqa: E402
from kalshikit.replay.bootstrap import total_interval  # noqa: E402
from kalshikit.replay.permarket import MarketPnL  # noqa: E402
from kalshikit.replay.sweep import SweepResult, expand_grid, load_sweep_file, sweep  # noqa: E402
from kalshikit.replay.walkforward import walk_forward  # noqa: E402
from kalshikit.units import NS_PER_S  # noqa: E402

POLICY = FirstTwoSided("yes", 1000)
SESSION_S = 300


def log(msg: str) -> None:
    print(f"[bench_walkforward] {msg}", file=sys.stderr, flush=True)


def _timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _walks(res: SweepResult, folds: int) -> dict[str, Any]:
    wf, by_pnl = _timed(lambda: walk_forward(res, folds, bootstrap=1000, seed=0))
    _, by_low = _timed(lambda: walk_forward(res, folds, select="ci_low", bootstrap=1000, seed=0))
    walk, hindsight = wf.overall.iloc[0], wf.overall.iloc[1]
    return {
        "folds": folds,
        "walk_forward_seconds_select_pnl": round(by_pnl, 4),
        "walk_forward_seconds_select_ci_low": round(by_low, 4),
        "out_of_sample_mean_per_market": round(float(walk["mean"]), 4),
        "hindsight_best_mean_per_market": round(float(hindsight["mean"]), 4),
    }


def bench_sweep_and_walk(source: Path | list[Path], grid: Any, folds: int, **kw: Any) -> dict[str, Any]:
    res, t_sweep = _timed(lambda: sweep(source, grid, policy=POLICY, out_dir=None, progress=False, **kw))
    pm = res.per_market
    assert pm is not None
    _, t_intervals = _timed(lambda: total_interval(pm.pnl, 1000, 0.90, 0))
    return {
        "settings": len(res.table),
        "markets": len(pm.tickers),
        "executor": res.executor,
        "sweep_seconds": round(t_sweep, 3),
        "of_which_1000_draw_intervals_seconds": round(t_intervals, 4),
        **_walks(res, folds),
    }


def bench_table(n_settings: int, n_markets: int, folds: int) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    pnl = rng.integers(-2_000_000, 2_000_000, size=(n_settings, n_markets), dtype=np.int64)
    ones = np.ones((n_settings, n_markets), np.int64)
    times = np.sort(rng.integers(0, 10**12, n_markets)).astype(np.int64)
    pm = MarketPnL(
        tuple(f"M{j:05d}" for j in range(n_markets)), tuple(range(n_settings)), pnl, ones, ones, times - 10**9, times
    )
    table = pd.DataFrame({"setting": range(n_settings), "stop": [0.01 * (1 + i % 50) for i in range(n_settings)]})
    return {"settings": n_settings, "markets": n_markets, **_walks(SweepResult(table, per_market=pm), folds)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=30)
    ap.add_argument("--markets", type=int, default=10)
    ap.add_argument("--settings", type=int, default=192)
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--table-settings", type=int, default=1000)
    ap.add_argument("--table-markets", type=int, default=5000)
    ap.add_argument("--workdir", type=Path)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_wf_"))
    try:
        spec = load_sweep_file(ROOT / "backtest" / "example_sweep.toml")
        log("sample")
        sample = bench_sweep_and_walk(spec.sources, spec.grid, 2, fixed=spec.fixed)
        log(f"writing {args.sessions} sessions x {args.markets} markets")
        dirs = []
        for k in range(args.sessions):
            dirs.append(work / f"s{k:03d}")
            write_synthetic_recording(
                dirs[-1],
                markets=args.markets,
                duration_s=SESSION_S,
                seed=100 + k,
                start_ns=DEFAULT_START_NS + k * SESSION_S * NS_PER_S,
            )
        tape = work / "sessions.parquet"
        to_parquet(dirs, tape)
        log("synthetic sweep and walk-forward")
        grid = expand_grid(spec.grid)[: args.settings]
        synthetic = bench_sweep_and_walk(tape, grid, args.folds, fixed=spec.fixed)
        log("table")
        table = bench_table(args.table_settings, args.table_markets, args.folds)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(
            {
                "benchmark": "kalshikit walk-forward and bootstrap intervals",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "sample": sample,
                "synthetic": synthetic,
                "table": table,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
