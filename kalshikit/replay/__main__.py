"""Command line for replay and sweeps: ``python -m kalshikit.replay`` (prices in dollars).

    python -m kalshikit.replay SOURCE... (--entries FILE | --policy first-two-sided[:yes|no[:COUNT]])
        [--stop-loss 0.10] [--take-profit 0.15] [--trailing 0.05] [--trailing-activation 0.03]
        [--trigger-source bid|last|mid] [--latency-ms N] [--results FILE] --out trades.csv [--html report.html]
    python -m kalshikit.replay sweep [SOURCE...] --grid backtest/example_sweep.toml
        [--executor dask://HOST:PORT] [--workers N] [--out DIR] [--html heatmap.html]

Prints the summary (replay) or the best settings (sweep). Bad input exits with code 2 and says what to fix.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from kalshikit.errors import KalshiKitError

EXIT_BAD_INPUT = 2


def _dollars(text: str) -> str:
    """A price distance in dollars, strictly between 0 and 1, at most 4 decimals (kept as text: exact)."""
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a dollar amount (e.g. 0.10)") from None
    if not d.is_finite() or not 0 < d < 1:
        raise argparse.ArgumentTypeError(f"{text} must be a dollar amount between 0 and 1 (e.g. 0.10 for 10 cents)")
    if d * 10_000 != (d * 10_000).to_integral_value():
        raise argparse.ArgumentTypeError(f"{text} has more precision than $0.0001")
    return text


def _latency(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of milliseconds") from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a number of milliseconds >= 0")
    return v


def _workers(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text} must be >= 0")
    return v


def _policy(text: str) -> Any:
    """``first-two-sided[:yes|no[:COUNT]]`` (COUNT contracts, default 10)."""
    from kalshikit.replay.entries import FirstTwoSided

    parts = text.split(":")
    if parts[0] != "first-two-sided" or len(parts) > 3:
        raise argparse.ArgumentTypeError(f"{text!r}: the policy is first-two-sided[:yes|no[:COUNT]]")
    side = parts[1] if len(parts) > 1 and parts[1] else "yes"
    if side not in ("yes", "no"):
        raise argparse.ArgumentTypeError(f"{text!r}: the side must be yes or no, got {side!r}")
    count = Decimal("10")
    if len(parts) > 2:
        try:
            count = Decimal(parts[2])
        except InvalidOperation:
            raise argparse.ArgumentTypeError(f"{text!r}: COUNT {parts[2]!r} is not a number of contracts") from None
        if not count.is_finite() or count <= 0 or count * 100 != (count * 100).to_integral_value():
            raise argparse.ArgumentTypeError(f"{text!r}: COUNT must be a positive number of contracts (2 decimals)")
    return FirstTwoSided(side, int(count * 100))


def _replay_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m kalshikit.replay",
        description="Replay recorded Kalshi data through the live stop-loss monitor and write the trades. "
        "Use 'python -m kalshikit.replay sweep --help' for parameter sweeps.",
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="recordings, JSONL or Parquet files/folders")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--entries", type=Path, help="CSV with ticker, entry_time, side, count[, entry_price]")
    who.add_argument("--policy", type=_policy, help="first-two-sided[:yes|no[:COUNT]]: enter every market once")
    p.add_argument("--stop-loss", type=_dollars, help="stop this many dollars below entry (e.g. 0.10)")
    p.add_argument("--take-profit", type=_dollars, help="take profit this many dollars above entry")
    p.add_argument("--trailing", type=_dollars, help="trailing stop this many dollars below the best price")
    p.add_argument("--trailing-activation", type=_dollars, help="start trailing after this gain (dollars)")
    p.add_argument("--trigger-source", choices=("bid", "last", "mid"), default="bid", help="price the rules watch")
    p.add_argument("--latency-ms", type=_latency, default=0.0, help="order latency in milliseconds (default 0)")
    p.add_argument("--results", type=Path, help="CSV (ticker,result[,settlement_value]) or JSON of market results")
    p.add_argument("--out", type=Path, required=True, help="where to write the trades CSV")
    p.add_argument("--html", type=Path, help="also write an HTML report (equity, gaps, price paths)")
    p.add_argument("--workers", type=_workers, help="processes decoding large JSONL inputs (0: none)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def _sweep_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m kalshikit.replay sweep",
        description="Replay a recording under every setting of a grid (TOML) and save one summary row per setting.",
    )
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="recordings/JSONL/Parquet (default: the grid's)")
    p.add_argument("--grid", type=Path, required=True, help="sweep TOML file, e.g. backtest/example_sweep.toml")
    p.add_argument("--executor", help="local (default), serial, or dask://HOST:PORT")
    p.add_argument("--workers", type=_workers, help="local worker processes (default: one per core)")
    p.add_argument("--out", type=Path, help="directory for the results (default: the grid's [output] dir)")
    p.add_argument("--html", type=Path, help="also write a heatmap of P&L by stop × take-profit")
    p.add_argument("--top", type=_workers, default=10, help="how many of the best settings to print")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None, help="show a progress bar")
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _missing(paths: list[Path], what: str) -> str | None:
    for p in paths:
        if not p.exists():
            return f"{what} {str(p)!r} does not exist"
    return None


def run_replay(argv: list[str]) -> int:
    args = _replay_parser().parse_args(argv)
    from kalshikit.replay import replay
    from kalshikit.replay.outcomes import load_results

    sources = [Path(s) for s in args.sources]
    problem = _missing(sources, "source") or _missing([args.entries] if args.entries else [], "entries file")
    if problem:
        return _fail(problem)
    rules: dict[str, Any] = {"trigger_source": args.trigger_source}
    for key, value in (
        ("stop", args.stop_loss),
        ("take_profit", args.take_profit),
        ("trailing", args.trailing),
        ("trailing_activation", args.trailing_activation),
    ):
        if value is not None:
            rules[key] = value
    if args.trailing_activation is not None and args.trailing is None:
        return _fail("--trailing-activation needs --trailing")
    try:
        results = load_results(args.results) if args.results else None
        res = replay(
            sources,
            entries=args.entries,
            policy=args.policy,
            latency_ms=args.latency_ms,
            results=results,
            workers=args.workers,
            **rules,
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        res.to_csv(args.out)
        if args.html:
            from kalshikit.replay.report import replay_report

            replay_report(res, sources, args.html)
    except KalshiKitError as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(res.summary, default=str, indent=2))
    else:
        _print_summary(res, args.out, args.html)
    return 0


def _print_summary(res: Any, out: Path, html: Path | None) -> None:
    s = res.summary
    st = res.stats
    print(f"replayed {st['ticks']:,} ticks of {st['markets_replayed']} market(s) in {st['seconds']:.2f} s")
    print(f"trades            {s['trades']}")
    print(f"net P&L           ${s['pnl']:,.2f} (fees ${s['fees']:,.2f})")
    print(f"win rate          {s['win_rate']:.1%}")
    print(f"max drawdown      ${s['max_drawdown']:,.2f}")
    print(f"average slippage  ${s['average_slippage']:.4f}")
    if s["hold_pnl"] is not None:
        print(f"holding instead   ${s['hold_pnl']:,.2f} (these trades: ${s['pnl_where_hold_known']:,.2f})")
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(s["exits_by_reason"].items()))
    print(f"exits             {reasons or '-'}")
    if s["open_positions"]:
        print(f"still open        {s['open_positions']} (unrealized ${s['open_unrealized']:,.2f})")
    problems = st.get("read_problems") or []
    if problems:
        print(f"read problems     {len(problems)} (skipped):")
        for path, line, reason in problems[:5]:
            print(f"  {path}:{line}: {reason}")
    print(f"trades written to {out}")
    if html:
        print(f"report written to {html}")


def run_sweep(argv: list[str]) -> int:
    args = _sweep_parser().parse_args(argv)
    from kalshikit.replay.sweep import load_sweep_file

    try:
        spec = load_sweep_file(args.grid)
        sources = [Path(s) for s in args.sources] or spec.sources
        problem = _missing(sources, "source")
        if problem:
            return _fail(problem)
        overrides: dict[str, Any] = {"progress": args.progress}
        if args.executor:
            overrides["executor"] = args.executor
        if args.workers is not None:
            overrides["workers"] = args.workers
        if args.out is not None:
            overrides["out_dir"] = args.out
        res = spec.run(sources, **overrides)
        if args.html:
            from kalshikit.replay.report import save_html, sweep_heatmap

            x, y = _axes(res.table, spec.grid)
            save_html([sweep_heatmap(res, x=x, y=y), res.best(n=args.top)], args.html, title="kalshikit sweep")
    except KalshiKitError as exc:
        return _fail(str(exc))
    print(f"{len(res.table)} settings in {res.seconds:.1f} s ({res.executor})")
    with_cols = [c for c in res.table.columns if c in spec.grid] + ["trades", "pnl", "win_rate", "max_drawdown"]
    print(res.best(n=args.top)[with_cols].to_string(index=False))
    if res.csv_path:
        print(f"results written to {res.csv_path} and {res.parquet_path}")
    if args.html:
        print(f"heatmap written to {args.html}")
    return 0


def _axes(table: Any, grid: dict[str, Any]) -> tuple[str, str]:
    varied = [k for k, v in grid.items() if isinstance(v, list) and len(v) > 1 and k != "latency_ms"]
    x = "stop" if "stop" in grid else (varied[0] if varied else next(iter(grid)))
    y_choices = ["take_profit"] if "take_profit" in grid else [k for k in varied if k != x] or [x]
    return x, y_choices[0]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "sweep":
        return run_sweep(argv[1:])
    return run_replay(argv)


if __name__ == "__main__":
    sys.exit(main())
