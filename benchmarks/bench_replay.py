"""Replay benchmarks, side by side in one run, on deterministic data from ``benchmarks/datagen.py``. Prints ONE JSON
object (progress goes to stderr). Every speed is the median of ``--repeat`` runs, on both sides of a comparison.

- ``parquet_replay``: ``replay()`` of a Parquet tape through the real Monitor (one stop-loss/take-profit position
  per market, opened by the first-two-sided policy), end to end: reading, replay, trades table. Target 2,000,000
  ticks/s for 1,000,000 ticks over 20 markets.
- ``jsonl_replay``: the same job from gzip JSONL raw frames (decoded with the live FrameDecoder): the first run
  decodes (with the number of decode processes stated) and saves the columnar copy beside the recording; the next
  runs read that copy. Target 300,000 frames/s decoding. Its exits must equal the Parquet run's (same data).
- ``sweep``: 1,000 settings (stop × take-profit × trailing × trigger source × latency) over the Parquet tape on
  local processes, wall time including loading. Target under 30 s on 2 cores.
- ``dense``: re-entry after every exit with a trailing stop (buy 1 at the ask whenever flat, sell at the bid when
  it is 0.02 below the best bid since entry) over ``--dense-ticks`` ticks, on the kit and on NautilusTrader; the two
  exit lists (ticker, time, price) must be equal. Target: the kit at least 10x NautilusTrader.
- ``memory``: peak RSS of child processes: replaying 10,000,000 ticks from Parquet (replay streams; target 500 MB),
  and the dense job on ``--ticks`` ticks with a 0.01 trail (hundreds of thousands of round trips) against the same
  replay without re-entry: the difference per closed position (target under 1 KB).
- ``nautilus``: the first job on NautilusTrader's BacktestEngine (``benchmarks/bench_nautilus.py``), run with an
  interpreter that has ``nautilus_trader`` (this one, ``--nautilus-python`` or ``$NAUTILUS_PYTHON``); otherwise the
  reference figure (about 230,000 ticks/s on this kind of machine) is reported as not run.

    python benchmarks/bench_replay.py [--ticks 1000000] [--markets 20] [--settings 1000] [--dense-ticks 200000]
        [--memory-ticks 10000000] [--repeat 3] [--nautilus-python PATH] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
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
from kalshikit.replay.frame_cache import CACHE_DIR  # noqa: E402
from kalshikit.replay.sweep import expand_grid, sweep  # noqa: E402

NAUTILUS_REFERENCE_TICKS_PER_S = 230_000
RULES = {"stop": 0.10, "take_profit": 0.15}
POLICY = FirstTwoSided("yes", 1000)
DENSE_POLICY = FirstTwoSided("yes", 100, reenter=True)  # 1 contract, bought again whenever flat
DENSE_TRAIL = 0.02  # bench_nautilus.py's TRAIL
MEMORY_TRAIL = 0.01  # a tighter trail: more round trips for the memory figure
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


def _timed(n: int, job: Any) -> tuple[list[float], Any]:
    times, r = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        r = job()
        times.append(time.perf_counter() - t0)
    return times, r


def bench_parquet(path: Path, ticks: int, repeat: int) -> tuple[dict[str, Any], Any]:
    times, r = _timed(repeat, lambda: replay(path, policy=POLICY, **RULES))
    assert r is not None and r.stats["ticks"] == ticks
    med = statistics.median(times)
    return {
        "ticks": ticks,
        "seconds_median": round(med, 4),
        "seconds_all": [round(x, 4) for x in times],
        "ticks_per_s": round(ticks / med),
        "target_ticks_per_s": 2_000_000,
        "meets_target": ticks / med >= 2_000_000,
        "positions": len(r.trades) + len(r.open_positions),
        "exits_by_reason": r.summary["exits_by_reason"],
        "quotes_fed_to_monitor": r.stats["quotes_fed_to_monitor"],
    }, r


def bench_jsonl(path: Path, frames: int, repeat: int, reference: Any, workers: int | None) -> dict[str, Any]:
    shutil.rmtree(path.parent / CACHE_DIR, ignore_errors=True)  # the first run decodes
    t0 = time.perf_counter()
    first = replay(path, policy=POLICY, workers=workers, **RULES)
    cold = time.perf_counter() - t0
    assert first.stats["ticks"] == frames and first.settings["source_cache"].startswith("decoded and saved")
    times, again = _timed(repeat, lambda: replay(path, policy=POLICY, **RULES))
    assert again.settings["source_cache"].startswith("decoded copy read")
    med = statistics.median(times)
    return {
        "frames": frames,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "decode_processes": first.settings["decode_processes"],
        "first_run_seconds": round(cold, 4),
        "first_run_frames_per_s": round(frames / cold),
        "target_frames_per_s": 300_000,
        "meets_target": frames / cold >= 300_000,
        "cached_runs_seconds_median": round(med, 4),
        "cached_runs_seconds_all": [round(x, 4) for x in times],
        "cached_frames_per_s": round(frames / med),
        "same_exits_as_parquet": _exits(first) == _exits(reference) and _exits(again) == _exits(reference),
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


def _dense_exits(r: Any) -> list[list[Any]]:
    """(ticker, exit ns, exit price in $0.0001) of every exit, sorted: bench_nautilus.py's ``--exits`` form."""
    t = r.trades
    ns = t["exit_ts"].astype("int64").tolist()
    price = (t["exit_price"] * 10_000).round().astype(int).tolist()
    return sorted([tk, n, p] for tk, n, p in zip(t["ticker"].tolist(), ns, price, strict=True))


def child_replay(path: str, job: str) -> None:
    """Run in a subprocess: one replay job, then report peak RSS. ``simple``: the first job (decisions not kept);
    ``dense``: re-entry with a MEMORY_TRAIL trail; ``single``: the same trail, no re-entry (the baseline)."""
    base = _peak_kib()
    t0 = time.perf_counter()
    if job == "simple":
        r = replay(path, policy=POLICY, keep_decisions=False, **RULES)
    else:
        policy = DENSE_POLICY if job == "dense" else FirstTwoSided("yes", 100)
        r = replay(path, policy=policy, trailing=MEMORY_TRAIL, latency_ms=0, keep_decisions=False)
    seconds = time.perf_counter() - t0
    peak = _peak_kib()
    print(json.dumps({"ticks": r.stats["ticks"], "seconds": seconds, "peak_kib": peak, "baseline_kib": base,
                      "closed": len(r.trades)}))


def _child(path: Path, job: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child-replay", str(path), "--child-job", job],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


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
    d = _child(path, "simple")
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


def bench_dense_memory(path: Path, ticks: int) -> dict[str, Any]:
    log("dense job memory: with and without re-entry, each in a child process")
    dense, single = _child(path, "dense"), _child(path, "single")
    per_closed = (dense["peak_kib"] - single["peak_kib"]) * 1024 / max(1, dense["closed"] - single["closed"])
    return {
        "ticks": ticks,
        "trail": MEMORY_TRAIL,
        "closed_positions": dense["closed"],
        "seconds": round(dense["seconds"], 3),
        "peak_rss_mb": round(dense["peak_kib"] / 1024, 1),
        "peak_rss_without_reentry_mb": round(single["peak_kib"] / 1024, 1),
        "bytes_per_closed_position": round(per_closed),
        "target_bytes": 1024,
        "meets_target": per_closed < 1024,
        "how": "(peak RSS of the dense replay − peak RSS of the same replay without re-entry) / extra closed "
        "positions, both child processes; the peak includes building the result tables",
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


def bench_nautilus(python: str | None, path: Path, job: str, repeat: int, exits: Path | None = None) -> dict[str, Any]:
    ref = {"reference_ticks_per_s": NAUTILUS_REFERENCE_TICKS_PER_S} if job == "simple" else {}
    if python is None:
        return {
            "run": False,
            "reason": "nautilus_trader is not installed here (pip install nautilus_trader==1.221.0 "
            "in a Python 3.11 venv and pass --nautilus-python)",
            **ref,
        }
    log(f"running the {job} job on NautilusTrader ({python}), {repeat} run(s)")
    cmd = [python, str(HERE / "bench_nautilus.py"), str(path), "--job", job, "--repeat", str(repeat)]
    if exits is not None:
        cmd += ["--exits", str(exits)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        return {"run": False, "reason": f"bench_nautilus.py failed: {p.stderr.strip()[-500:]}", **ref}
    return {"run": True, **json.loads(p.stdout.strip().splitlines()[-1]), **ref}


def bench_dense(path: Path, ticks: int, repeat: int, python: str | None, workdir: Path) -> dict[str, Any]:
    log(f"dense job: re-entry + trailing {DENSE_TRAIL} over {ticks:,} ticks, {repeat} run(s)")
    times, r = _timed(repeat, lambda: replay(path, policy=DENSE_POLICY, trailing=DENSE_TRAIL, latency_ms=0,
                                             keep_decisions=False))
    kit_exits = _dense_exits(r)
    med = statistics.median(times)
    kit = {
        "seconds_median": round(med, 4),
        "seconds_all": [round(x, 4) for x in times],
        "ticks_per_s": round(ticks / med),
        "round_trips": len(r.trades),
        "quotes_fed_to_monitor": r.stats["quotes_fed_to_monitor"],
    }
    out: dict[str, Any] = {"ticks": ticks, "trail": DENSE_TRAIL, "kalshikit": kit}
    exits_file = workdir / "nautilus-dense-exits.jsonl"
    naut = bench_nautilus(python, path, "dense", repeat, exits_file)
    out["nautilus"] = naut
    if naut.get("run"):
        nt_exits = sorted(json.loads(line) for line in exits_file.read_text().splitlines())
        out["same_exits"] = nt_exits == kit_exits
        out["exits_compared"] = len(kit_exits)
        if nt_exits != kit_exits:
            diff = next((i for i, (a, b) in enumerate(zip(kit_exits, nt_exits, strict=False)) if a != b), None)
            out["first_difference"] = {"index": diff, "kalshikit": kit_exits[diff] if diff is not None else None,
                                       "nautilus": nt_exits[diff] if diff is not None else None,
                                       "counts": [len(kit_exits), len(nt_exits)]}
        out["kalshikit_vs_nautilus"] = round(naut["seconds_median"] / med, 1)
        out["target_ratio"] = 10
        out["meets_target"] = out["same_exits"] and out["kalshikit_vs_nautilus"] >= 10
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ticks", type=int, default=1_000_000)
    ap.add_argument("--markets", type=int, default=20)
    ap.add_argument("--settings", type=int, default=1000)
    ap.add_argument("--dense-ticks", type=int, default=200_000, help="0 skips the dense job")
    ap.add_argument("--memory-ticks", type=int, default=10_000_000, help="0 skips the memory runs")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jsonl-workers", type=int, default=None, help="decode processes (default: auto)")
    ap.add_argument("--nautilus-python", default=None, help="an interpreter with nautilus_trader installed")
    ap.add_argument("--no-nautilus", action="store_true")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the generated data here (default: a temp dir)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--child-replay", help=argparse.SUPPRESS)
    ap.add_argument("--child-job", default="simple", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_replay:
        child_replay(args.child_replay, args.child_job)
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kalshikit-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    python = None if args.no_nautilus else _nautilus_python(args.nautilus_python)
    try:
        pq = workdir / f"ticks-{args.ticks}-{args.markets}-{args.seed}.parquet"
        js = workdir / f"frames-{args.ticks}-{args.markets}-{args.seed}.jsonl.gz"
        dense_pq = workdir / f"ticks-{args.dense_ticks}-{args.markets}-{args.seed}.parquet"
        if not pq.exists():
            log(f"generating {args.ticks:,} ticks over {args.markets} markets (Parquet)")
            datagen.write_parquet(pq, args.ticks, args.markets, args.seed)
        if not js.exists():
            log("generating the same tape as gzip JSONL raw frames")
            datagen.write_jsonl_gz(js, args.ticks, args.markets, args.seed)
        if args.dense_ticks and not dense_pq.exists():
            datagen.write_parquet(dense_pq, args.dense_ticks, args.markets, args.seed)
        load = os.getloadavg()
        log("Parquet replay")
        parquet, reference = bench_parquet(pq, args.ticks, args.repeat)
        log("JSONL replay")
        jsonl = bench_jsonl(js, args.ticks, args.repeat, reference, args.jsonl_workers)
        log(f"sweep of {args.settings} settings")
        sw = bench_sweep(pq, args.ticks, args.settings)
        dense: dict[str, Any] = {"run": False}
        if args.dense_ticks:
            dense = bench_dense(dense_pq, args.dense_ticks, args.repeat, python, workdir)
        memory: dict[str, Any] = {"run": False}
        if args.memory_ticks:
            memory = {"streaming": bench_memory(workdir, args.memory_ticks, args.markets),
                      "dense": bench_dense_memory(pq, args.ticks)}
        naut = {"run": False, "reason": "--no-nautilus", "reference_ticks_per_s": NAUTILUS_REFERENCE_TICKS_PER_S}
        if not args.no_nautilus:
            naut = bench_nautilus(python, pq, "simple", args.repeat)
        nt_rate = (
            args.ticks / naut["seconds_median"] if naut.get("run") else NAUTILUS_REFERENCE_TICKS_PER_S
        )
        out = {
            "benchmark": "kalshikit replay: Parquet, JSONL, sweep, dense re-entry, memory, NautilusTrader",
            "python": platform.python_version(),
            "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "load_average_at_start": load,
                        "load_average_at_end": os.getloadavg()},
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
            "dense": dense,
            "memory": memory,
            "nautilus": naut,
            "kalshikit_parquet_vs_nautilus": round(parquet["ticks_per_s"] / nt_rate, 1) if nt_rate else None,
            "comparison": "medians of the same number of runs on both sides, end to end (loading included)",
        }
        print(json.dumps(out, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
