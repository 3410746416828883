"""Replay benchmarks, side by side in one run, on deterministic data from ``benchmarks/datagen.py``. Prints ONE JSON
object (progress goes to stderr).

- ``parquet_replay``: ``replay()`` of a Parquet tape through the real Monitor (one stop-loss/take-profit position
  per market, opened by the first-two-sided policy), end to end: reading, replay, trades table. Target 2,000,000
  ticks/s for 1,000,000 ticks over 20 markets.
- ``jsonl_replay``: the same job from gzip JSONL raw frames (decoded with the live FrameDecoder). Target 300,000
  frames/s. Its exits must equal the Parquet run's (same data), so a fast but wrong path cannot pass.
- ``sweep``: 1,000 settings (stop × take-profit × trailing × trigger source × latency) over the Parquet tape on
  local processes, wall time including loading. Target under 30 s on 2 cores.
- ``memory``: peak RSS of a child process replaying 10,000,000 ticks from Parquet (replay streams). Target 500 MB.
- ``nautilus``: the same job on NautilusTrader's BacktestEngine (``benchmarks/bench_nautilus.py``), run with an
  interpreter that has ``nautilus_trader`` (this one, ``--nautilus-python`` or ``$NAUTILUS_PYTHON``); otherwise the
  reference figure (about 230,000 ticks/s on this kind of machine) is reported as not run.

    python benchmarks/bench_replay.py [--ticks 1000000] [--markets 20] [--settings 1000] [--memory-ticks 10000000]
        [--repeat 3] [--nautilus-python PATH] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import datagen  # noqa: E402

from kalshikit.replay import FirstTwoSided, replay  # noqa: E402
from kalshikit.replay.sweep import expand_grid, sweep  # noqa: E402

NAUTILUS_REFERENCE_TICKS_PER_S = 230_000
RULES = {"stop": 0.10, "take_profit": 0.15}
POLICY = FirstTwoSided("yes", 1000)
GRID = {
    "stop": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.10, 0.15, 0.20],
    "take_profit": [None, 0.05, 0.10, 0.15, 0.20],
    "trailing": [None, 0.01, 0.02, 0.05, 0.10],
    "trigger_source": ["bid", "mid"],
    "latency_ms": [0, 250],
}  # 10 x 5 x 5 x 2 x 2 = 1000


def log(msg: str) -> None:
    print(f"[bench_replay] {msg}", file=sys.stderr, flush=True)


def _exits(r: Any) -> list[tuple[str, str, float]]:
    t = r.trades
    return sorted(zip(t["ticker"], t["exit_reason"], t["exit_price"], strict=True))


def bench_parquet(path: Path, ticks: int, repeat: int) -> tuple[dict[str, Any], Any]:
    times = []
    r = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = replay(path, policy=POLICY, **RULES)
        times.append(time.perf_counter() - t0)
    assert r is not None and r.stats["ticks"] == ticks
    best = min(times)
    return {
        "ticks": ticks,
        "seconds_best": round(best, 4),
        "seconds_all": [round(x, 4) for x in times],
        "ticks_per_s": round(ticks / best),
        "target_ticks_per_s": 2_000_000,
        "meets_target": ticks / best >= 2_000_000,
        "positions": len(r.trades) + len(r.open_positions),
        "exits_by_reason": r.summary["exits_by_reason"],
        "quotes_fed_to_monitor": r.stats["quotes_fed_to_monitor"],
    }, r


def bench_jsonl(path: Path, frames: int, repeat: int, reference: Any, workers: int | None) -> dict[str, Any]:
    times = []
    r = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = replay(path, policy=POLICY, workers=workers, **RULES)
        times.append(time.perf_counter() - t0)
    assert r is not None and r.stats["ticks"] == frames
    best = min(times)
    return {
        "frames": frames,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "seconds_best": round(best, 4),
        "seconds_all": [round(x, 4) for x in times],
        "frames_per_s": round(frames / best),
        "target_frames_per_s": 300_000,
        "meets_target": frames / best >= 300_000,
        "decode_workers": "auto (one per core)" if workers is None else workers,
        "same_exits_as_parquet": _exits(r) == _exits(reference),
    }


def bench_sweep(path: Path, ticks: int, n_settings: int) -> dict[str, Any]:
    settings = expand_grid(GRID)[:n_settings]
    t0 = time.perf_counter()
    res = sweep(path, settings, policy=POLICY, out_dir=None, progress=False)
    seconds = time.perf_counter() - t0
    return {
        "settings": len(settings),
        "ticks": ticks,
        "seconds": round(seconds, 3),
        "settings_per_s": round(len(settings) / seconds, 1),
        "target_seconds": 30,
        "meets_target": seconds < 30 if len(settings) >= 1000 else None,
        "executor": res.executor,
        "best_pnl": round(float(res.table["pnl"].max()), 4),
        "distinct_pnl": int(res.table["pnl"].nunique()),
    }


def _peak_kib() -> int:
    """This process's peak RSS in KiB. Linux's VmHWM belongs to the process image, so it starts afresh at exec;
    ``ru_maxrss`` (the fallback elsewhere) also carries the RSS of the parent that forked us."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_replay(path: str) -> None:
    """Run in a subprocess: the Parquet job, then report peak RSS."""
    base = _peak_kib()
    t0 = time.perf_counter()
    r = replay(path, policy=POLICY, keep_decisions=False, **RULES)
    seconds = time.perf_counter() - t0
    peak = _peak_kib()
    print(json.dumps({"ticks": r.stats["ticks"], "seconds": seconds, "peak_kib": peak, "baseline_kib": base}))


def bench_memory(workdir: Path, n_ticks: int, markets: int) -> dict[str, Any]:
    path = workdir / f"mem-{n_ticks}.parquet"
    if not path.exists():
        log(f"generating {n_ticks:,} ticks for the memory run (in a child process)")
        code = (
            f"import sys; sys.path.insert(0, {str(HERE)!r}); import datagen; from pathlib import Path; "
            f"datagen.write_parquet(Path({str(path)!r}), {n_ticks}, {markets})"
        )
        subprocess.run([sys.executable, "-c", code], check=True)
    log("replaying it in a child process")
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child-replay", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    d = json.loads(out.stdout.strip().splitlines()[-1])
    peak_mb = d["peak_kib"] / 1024
    return {
        "ticks": d["ticks"],
        "peak_rss_mb": round(peak_mb, 1),
        "rss_after_imports_mb": round(d["baseline_kib"] / 1024, 1),
        "seconds": round(d["seconds"], 3),
        "ticks_per_s": round(d["ticks"] / d["seconds"]),
        "target_mb": 500,
        "meets_target": peak_mb < 500,
        "how": "peak RSS (VmHWM, else getrusage ru_maxrss) of a child process running replay() on the Parquet file",
    }


def _nautilus_python(arg: str | None) -> str | None:
    if arg:
        return arg
    if os.environ.get("NAUTILUS_PYTHON"):
        return os.environ["NAUTILUS_PYTHON"]
    try:
        import nautilus_trader  # noqa: F401
    except ImportError:
        return None
    return sys.executable


def bench_nautilus(python: str | None, path: Path) -> dict[str, Any]:
    ref = {"reference_ticks_per_s": NAUTILUS_REFERENCE_TICKS_PER_S}
    if python is None:
        return {
            "run": False,
            "reason": "nautilus_trader is not installed here (pip install nautilus_trader==1.221.0 "
            "in a Python 3.11 venv and pass --nautilus-python)",
            **ref,
        }
    log(f"running the same job on NautilusTrader ({python})")
    p = subprocess.run(
        [python, str(HERE / "bench_nautilus.py"), str(path)], capture_output=True, text=True, timeout=1800
    )
    if p.returncode != 0:
        return {"run": False, "reason": f"bench_nautilus.py failed: {p.stderr.strip()[-500:]}", **ref}
    return {"run": True, **json.loads(p.stdout.strip().splitlines()[-1]), **ref}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ticks", type=int, default=1_000_000)
    ap.add_argument("--markets", type=int, default=20)
    ap.add_argument("--settings", type=int, default=1000)
    ap.add_argument("--memory-ticks", type=int, default=10_000_000, help="0 skips the memory run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jsonl-workers", type=int, default=None, help="decode processes (default: auto)")
    ap.add_argument("--nautilus-python", default=None, help="an interpreter with nautilus_trader installed")
    ap.add_argument("--no-nautilus", action="store_true")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the generated data here (default: a temp dir)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--child-replay", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_replay:
        child_replay(args.child_replay)
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kalshikit-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        pq = workdir / f"ticks-{args.ticks}-{args.markets}-{args.seed}.parquet"
        js = workdir / f"frames-{args.ticks}-{args.markets}-{args.seed}.jsonl.gz"
        if not pq.exists():
            log(f"generating {args.ticks:,} ticks over {args.markets} markets (Parquet)")
            datagen.write_parquet(pq, args.ticks, args.markets, args.seed)
        if not js.exists():
            log("generating the same tape as gzip JSONL raw frames")
            datagen.write_jsonl_gz(js, args.ticks, args.markets, args.seed)
        load = os.getloadavg()
        log("Parquet replay")
        parquet, reference = bench_parquet(pq, args.ticks, args.repeat)
        log("JSONL replay")
        jsonl = bench_jsonl(js, args.ticks, max(1, min(args.repeat, 2)), reference, args.jsonl_workers)
        log(f"sweep of {args.settings} settings")
        sw = bench_sweep(pq, args.ticks, args.settings)
        memory = bench_memory(workdir, args.memory_ticks, args.markets) if args.memory_ticks else {"run": False}
        naut = {"run": False, "reason": "--no-nautilus", "reference_ticks_per_s": NAUTILUS_REFERENCE_TICKS_PER_S}
        if not args.no_nautilus:
            naut = bench_nautilus(_nautilus_python(args.nautilus_python), pq)
        nt_rate = naut.get("ticks_per_s_end_to_end") if naut.get("run") else NAUTILUS_REFERENCE_TICKS_PER_S
        out = {
            "benchmark": "kalshikit replay: Parquet, JSONL, sweep, memory, NautilusTrader",
            "python": platform.python_version(),
            "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "load_average_at_start": load},
            "data": {
                "ticks": args.ticks,
                "markets": args.markets,
                "seed": args.seed,
                "generator": "benchmarks/datagen.py",
                "job": "first-two-sided YES entry per market, stop 0.10, take-profit 0.15 (bid)",
            },
            "parquet_replay": parquet,
            "jsonl_replay": jsonl,
            "sweep": sw,
            "memory": memory,
            "nautilus": naut,
            "kalshikit_parquet_vs_nautilus": round(parquet["ticks_per_s"] / nt_rate, 1) if nt_rate else None,
        }
        print(json.dumps(out, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
