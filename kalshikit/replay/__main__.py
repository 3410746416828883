"""Command line for replay and sweeps: ``python -m kalshikit.replay`` (prices in dollars).

    python -m kalshikit.replay SOURCE... (--entries FILE | --policy first-two-sided[:yes|no[:COUNT]])
        [--stop-loss 0.10] [--take-profit 0.15] [--trailing 0.05] [--trailing-activation 0.03]
        [--trigger-source bid|last|mid] [--latency-ms N] [--results FILE] --out trades.csv [--html report.html]
        [--candles pessimistic|optimistic]          (SOURCE a history dataset: python -m kalshikit.history)
        [--book-quotes]                             (SOURCE order books without ticker frames)
    python -m kalshikit.replay sweep [SOURCE...] --grid backtest/example_sweep.toml
        [--executor dask://HOST:PORT] [--workers N] [--out DIR] [--html heatmap.html]
        [--bootstrap 1000] [--ci 0.90] [--seed 0] [--walk-forward FOLDS [--rolling BLOCKS] [--select pnl|ci_low]]

Prints the summary (replay) or the best settings (sweep). Bad input exits with code 2 and says what to fix.
Warnings (rules that could not be armed, entries not replayed, markets with books but no quotes, sweep settings
whose rules were not armed on most positions) are printed, never dropped.
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


def _positive(text: str) -> int:
    v = _workers(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text} must be >= 1")
    return v


def _level(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (e.g. 0.90 for the 5th-95th percentiles)") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"{text} must be between 0 and 1 (e.g. 0.90 for the 5th-95th percentiles)")
    return v


def _policy(text: str) -> Any:
    """``first-two-sided[:yes|no[:COUNT]]`` (COUNT contracts, default 10) or ``reenter[:yes|no[:COUNT]]`` (the same,
    and again after every exit)."""
    from kalshikit.replay.entries import FirstTwoSided

    parts = text.split(":")
    if parts[0] not in ("first-two-sided", "reenter") or len(parts) > 3:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the policy is first-two-sided[:yes|no[:COUNT]] or reenter[:yes|no[:COUNT]]"
        )
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
    return FirstTwoSided(side, int(count * 100), reenter=parts[0] == "reenter")


def _replay_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m kalshikit.replay",
        description="Replay recorded Kalshi data through the live stop-loss monitor and write the trades. "
        "Use 'python -m kalshikit.replay sweep --help' for parameter sweeps.",
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="recordings, JSONL, Parquet or history datasets")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--entries", type=Path, help="CSV with ticker, entry_time, side, count[, entry_price]")
    who.add_argument("--policy", type=_policy, help="first-two-sided[:yes|no[:COUNT]]: enter every market once; "
                     "reenter[:yes|no[:COUNT]]: and again after every exit")
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
    p.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="do not read or write the decoded copy of a recording kept beside it (.kalshikit-cache/)",
    )
    p.add_argument(
        "--candles",
        choices=("pessimistic", "optimistic"),
        help="history datasets (1-minute candles): which extreme of each minute is shown (default pessimistic)",
    )
    p.add_argument(
        "--book-quotes",
        action="store_true",
        help="also feed the order books' best prices to the monitor as quotes (captures of order books without "
        "ticker frames; replays frame by frame)",
    )
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
    p.add_argument(
        "--bootstrap",
        type=_workers,
        default=1000,
        help="resamples of the markets for the P&L intervals (default 1000; 0: no intervals)",
    )
    p.add_argument("--ci", type=_level, default=0.90, help="interval level (default 0.90: 5th-95th percentiles)")
    p.add_argument("--seed", type=_workers, default=0, help="bootstrap seed (default 0; same seed, same intervals)")
    p.add_argument(
        "--walk-forward",
        type=_positive,
        metavar="FOLDS",
        help="choose a setting on earlier markets and "
        "judge it on the next block, FOLDS times (markets ordered by when their outcome became final)",
    )
    p.add_argument(
        "--rolling",
        type=_positive,
        metavar="BLOCKS",
        help="with --walk-forward: choose on the last BLOCKS blocks only (default: all earlier blocks, anchored)",
    )
    p.add_argument(
        "--select",
        choices=("pnl", "ci_low"),
        help="with --walk-forward: choose by P&L (default) or by the lower bound of its interval",
    )
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
            candles=args.candles,
            book_quotes=args.book_quotes,
            cache=args.cache,
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
    print(f"data              {s['resolution']}")
    if res.settings.get("source_cache"):
        print(f"source            {res.settings['source_cache']}")
    print(f"fills             {s['fill_assumption']}")
    print(f"trades            {s['trades']}")
    print(f"net P&L           ${s['pnl']:,.2f} (fees ${s['fees']:,.2f})")
    print(f"win rate          {s['win_rate']:.1%}")
    print(f"max drawdown      ${s['max_drawdown']:,.2f}")
    print(f"average slippage  ${s['average_slippage']:.4f} (trigger − exit price: positive = sold below the trigger)")
    share = s["rules_armed_share"]
    armed = "-" if share is None else f"{share:.1%} of {s['positions']} position(s)"
    print(f"rules armed       {armed} (rejected on {s['rules_rejected']}; fired at entry {s['fired_at_entry']})")
    if s["depth_markets"]:
        walked = s["exit_orders_on_depth"]
        print(f"order books       {s['depth_markets']} market(s); {walked} exit order(s) filled against them")
    if s["hold_pnl"] is not None:
        print(f"holding instead   ${s['hold_pnl']:,.2f} (these trades: ${s['pnl_where_hold_known']:,.2f})")
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(s["exits_by_reason"].items()))
    print(f"exits             {reasons or '-'}")
    if s["open_positions"]:
        print(f"still open        {s['open_positions']} (unrealized ${s['open_unrealized']:,.2f})")
    for w in s["warnings"]:
        print(f"warning: {w}")
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

    if args.walk_forward is None and (args.rolling is not None or args.select is not None):
        return _fail("--rolling and --select need --walk-forward FOLDS")
    if args.select == "ci_low" and args.bootstrap == 0:
        return _fail("--select ci_low chooses by the bootstrap interval: give --bootstrap N with N > 0")
    wf = None
    try:
        spec = load_sweep_file(args.grid)
        sources = [Path(s) for s in args.sources] or spec.sources
        problem = _missing(sources, "source")
        if problem:
            return _fail(problem)
        overrides: dict[str, Any] = {
            "progress": args.progress,
            "bootstrap": args.bootstrap,
            "level": args.ci,
            "seed": args.seed,
        }
        if args.executor:
            overrides["executor"] = args.executor
        if args.workers is not None:
            overrides["workers"] = args.workers
        if args.out is not None:
            overrides["out_dir"] = args.out
        if args.walk_forward is not None and str(overrides.get("executor", spec.executor) or "local") in (
            "local",
            "serial",
        ):  # fail before the sweep runs when the data cannot make that many folds (data loaded once, reused)
            from kalshikit.replay.sweep import load_data
            from kalshikit.replay.walkforward import check_data_allows

            check_data_allows(load_data(sources), args.walk_forward)
        res = spec.run(sources, **overrides)
        if args.walk_forward is not None:
            from kalshikit.replay.walkforward import walk_forward

            wf = walk_forward(
                res,
                args.walk_forward,
                rolling=args.rolling,
                select=args.select or "pnl",
                bootstrap=args.bootstrap,
                level=args.ci,
                seed=args.seed,
            )
        if args.html:
            from kalshikit.replay.report import save_html, sweep_heatmap, walk_forward_section

            x, y = _axes(res.table, spec.grid)
            items: list[Any] = [sweep_heatmap(res, x=x, y=y), res.best(n=args.top)]
            if len(res.flagged):
                items += ["Settings whose rules were not armed on most positions (left out above)", res.flagged]
            items += walk_forward_section(wf) if wf is not None else []
            save_html(items, args.html, title="kalshikit sweep")
    except KalshiKitError as exc:
        return _fail(str(exc))
    print(f"{len(res.table)} settings in {res.seconds:.1f} s ({res.executor})")
    with_cols = [c for c in res.table.columns if c in spec.grid]
    with_cols += ["markets", "trades", "pnl", "pnl_ci_low", "pnl_ci_high", "win_rate", "max_drawdown"]
    with_cols += ["rules_rejected", "rules_armed_share", "fired_at_entry"]
    print(res.best(n=args.top)[with_cols].to_string(index=False))
    _print_rule_warnings(res.table, spec.grid)
    if args.bootstrap:
        print(
            f"pnl_ci_low/high: {args.ci:.0%} interval of the total P&L, {args.bootstrap} resamples of the markets, "
            f"seed {args.seed}"
        )
    if res.csv_path:
        print(f"results written to {res.csv_path} and {res.parquet_path}")
    if wf is not None:
        _print_walk_forward(wf, len(res.table))
        if res.csv_path:
            from kalshikit.replay.sweep import save_table

            csv, _ = save_table(wf.folds, res.csv_path.parent, f"{spec.path.stem}-walkforward")
            print(f"walk-forward folds written to {csv}")
    if args.html:
        print(f"report written to {args.html}")
    return 0


def _print_rule_warnings(table: Any, grid: dict[str, Any]) -> None:
    """Say which settings had rules rejected (and which are left out of the best list), never silently."""
    rejected = table[table["rules_rejected"] > 0]
    if not len(rejected):
        return
    flagged = table[table["rules_mostly_rejected"].astype(bool)]
    keys = [c for c in table.columns if c in grid]
    print(
        f"warning: {len(rejected)} setting(s) could not arm their rules on some positions (rules_rejected > 0), "
        f"{len(flagged)} of them on most positions: those are left out of the list above, their P&L is mostly "
        "what holding made"
    )
    for r in rejected.head(5).itertuples(index=False):
        row = r._asdict()
        what = ", ".join(f"{k}={row[k]}" for k in keys)
        print(
            f"  setting {row['setting']} ({what}): {row['rules_rejected']} of {row['positions']} position(s); "
            f"e.g. {row['rules_rejected_example']}"
        )
    if len(rejected) > 5:
        print(f"  ... and {len(rejected) - 5} more (columns rules_rejected, rules_armed_share in the results)")


def _interval(mean: float, low: float, high: float) -> str:
    if low != low:  # NaN: no bootstrap
        return f"{mean:+.4f}"
    return f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]"


def _print_walk_forward(wf: Any, n_settings: int) -> None:
    import pandas as pd

    how = "anchored (all earlier blocks)" if wf.rolling is None else f"rolling (last {wf.rolling} block(s))"
    rule = "highest P&L" if wf.select == "pnl" else "highest lower interval bound"
    ci = f"{wf.level:.0%} bootstrap interval over markets ({wf.draws} draws, seed {wf.seed})" if wf.draws else "none"
    print()
    print(f"walk-forward: {len(wf.folds)} fold(s), {how}; markets ordered by when their outcome became final")
    print(f"each fold chooses the {rule} on its training markets and is judged on the next block")
    print(f"figures: mean net P&L per market ($); intervals: {ci}")
    table = pd.DataFrame(
        {
            "fold": wf.folds["fold"],
            "train": wf.folds["train_markets"],
            "test": wf.folds["test_markets"],
            "chosen": wf.folds["setting"].astype(str) + ": " + wf.folds["chosen"],
            "in sample (train)": [_interval(*r) for r in wf.folds[["train_mean", "train_low", "train_high"]].values],
            "out of sample (test)": [_interval(*r) for r in wf.folds[["test_mean", "test_low", "test_high"]].values],
            "test rank": wf.folds["test_rank"].astype(str) + f"/{n_settings}",
        }
    )
    print(table.to_string(index=False))
    for r in wf.overall.itertuples(index=False):
        who = r.chosen if pd.isna(r.setting) else f"setting {r.setting}: {r.chosen}"
        print(
            f"{r.what}: {r.markets} markets, {r.trades} trades, P&L ${r.pnl:,.2f}, "
            f"mean {_interval(r.mean, r.low, r.high)} per market ({who})"
        )


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
