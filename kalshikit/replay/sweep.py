"""Parameter sweeps: replay one recording under many rule settings, in parallel, one summary row per setting.

    from kalshikit.replay import FirstTwoSided
    from kalshikit.replay.sweep import sweep

    res = sweep("day.parquet", {"stop": [0.05, 0.10, 0.20], "take_profit": [None, 0.15], "trailing": [None, 0.05],
                                "trigger_source": ["bid", "mid"], "latency_ms": [0, 250]},
                policy=FirstTwoSided("yes", 1000))
    res.table.sort_values("pnl").tail()

The grid is a dict of lists (every combination) or a list of setting dicts; keys are :func:`kalshikit.core.rules.
protection` arguments plus ``latency_ms``; ``None`` (``"none"`` in TOML) switches a rule off. A TOML file
(:func:`load_sweep_file`, see ``backtest/example_sweep.toml``) holds the same plus the data, entries and output.

Every setting is replayed by the real Monitor exactly as :func:`kalshikit.replay.replay` does (a test checks a row
against a direct replay); only the summary is computed, in integers, without building the trades DataFrames.
Settings run in chunks on local processes (default; each worker holds the data once: it is loaded before the
workers fork, or on first use keyed by path, size and mtime), on a Dask cluster (``executor="dask://HOST:PORT"`` or
a ``dask.distributed.Client``; each worker loads and caches the data from the path, which must be readable there),
or serially (``executor="serial"``). The table is saved under ``backtest/results/`` as CSV and Parquet with a
timestamped name.

Each row also says on how many markets it rests (``markets``) and how sure its ``pnl`` is: a bootstrap interval over
markets (``pnl_ci_low``, ``pnl_ci_high``). A setting whose rules could not be armed is never silent: every row has
``positions``, ``rules_rejected`` (positions with a rule left out, e.g. a stop below $0),
``rules_armed_share`` (positions with every rule armed), ``rules_mostly_rejected`` (that share under one half:
the row's P&L is mostly what holding made, and :meth:`SweepResult.best` leaves such rows out unless asked),
``rules_rejected_example`` (one reason) and ``fired_at_entry`` (positions whose exit was ordered the moment the
rules were armed, because the price already crossed a level). Every setting's P&L per market is kept
(``SweepResult.per_market``), so a walk-forward selection (:mod:`kalshikit.replay.walkforward`) needs no replay of
its own.
"""

from __future__ import annotations

import inspect
import itertools
import math
import os
import time
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kalshikit.core.fees import STANDARD_FEES, FeeSchedule
from kalshikit.core.rules import Protection, protection
from kalshikit.errors import ConfigError, RuleError
from kalshikit.recording.reader import ReadReport, recording_files
from kalshikit.replay.bootstrap import check_bootstrap, total_interval
from kalshikit.replay.dataset import ReplayData
from kalshikit.replay.depth import BookTape, concat_tapes
from kalshikit.replay.engine import _results, _Session
from kalshikit.replay.entries import Entry, FirstTwoSided, load_entries
from kalshikit.replay.fastframes import FastFrameReader, feed_block, process_context, single_stream
from kalshikit.replay.fees import FeesArg, resolve_fees
from kalshikit.replay.fills import FillModel
from kalshikit.replay.market import MarketOutput, TickArrays
from kalshikit.replay.permarket import MarketPnL, market_rows
from kalshikit.replay.results import closed_figures, rule_figures
from kalshikit.replay.sources import distinct_sources, is_parquet
from kalshikit.units import PRICE_SCALE

ONE = PRICE_SCALE
NS_PER_MS = 1_000_000
RULE_KEYS = tuple(inspect.signature(protection).parameters)
GRID_KEYS = (*RULE_KEYS, "latency_ms")
OFF = ("none", "off", "null", "")
DEFAULT_OUT = Path("backtest") / "results"
PER_MARKET = "_per_market"  # a row's per-market breakdown, taken off before the table is built
SUMMARY_COLUMNS = (
    "markets",
    "trades",
    "pnl",
    "pnl_ci_low",
    "pnl_ci_high",
    "fees",
    "win_rate",
    "average_pnl",
    "max_drawdown",
    "average_slippage",
    "hold_pnl",
    "pnl_where_hold_known",
    "open_positions",
    "open_unrealized",
    "exit_orders",
    "positions",
    "rules_rejected",
    "rules_armed_share",
    "rules_mostly_rejected",
    "fired_at_entry",
)


# ---------------------------------------------------------------------------- the grid
def _off(value: Any) -> Any:
    return None if isinstance(value, str) and value.strip().lower() in OFF else value


def expand_grid(grid: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every setting of ``grid`` (a dict of lists: all combinations in key order; or a list of dicts), validated.

    Raises :class:`ConfigError` naming a bad key, or the setting whose rules are invalid and why.
    """
    if isinstance(grid, Mapping):
        keys = list(grid)
        values = [v if isinstance(v, list | tuple) else [v] for v in grid.values()]
        for k, v in zip(keys, values, strict=True):
            if not v:
                raise ConfigError(f"grid key {k!r} has an empty list of values")
        settings = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]
    elif isinstance(grid, Sequence) and not isinstance(grid, str | bytes):
        settings = [dict(s) for s in grid]
    else:
        raise ConfigError("a grid is a dict of lists or a list of setting dicts")
    if not settings:
        raise ConfigError("the grid has no settings")
    out = []
    for s in settings:
        bad = [k for k in s if k not in GRID_KEYS]
        if bad:
            raise ConfigError(f"unknown grid key(s) {bad}; allowed: {', '.join(GRID_KEYS)}")
        clean = {k: _off(v) for k, v in s.items()}
        lat = clean.get("latency_ms")
        if lat is not None and not (isinstance(lat, int | float) and math.isfinite(lat) and lat >= 0):
            raise ConfigError(f"latency_ms must be a number >= 0, got {lat!r} in setting {s}")
        out.append(clean)
    return out


def setting_rules(
    setting: Mapping[str, Any], fixed: Mapping[str, Any] | None = None
) -> tuple[Protection | None, float]:
    """The Protection and latency (ms) of one setting over the ``fixed`` rules; raises ConfigError when invalid."""
    merged = {**(fixed or {}), **setting}
    latency = float(merged.pop("latency_ms", 0) or 0)
    rules = {k: v for k, v in merged.items() if v is not None}
    try:
        return (protection(**rules) if rules else None), latency
    except (RuleError, TypeError) as exc:
        raise ConfigError(f"setting {dict(setting)} is not valid: {exc}") from None


# ---------------------------------------------------------------------------- data, loaded once per process
@dataclass
class SweepData:
    """A recording in memory for many runs; ``kind`` says how a direct replay would feed it (same decisions)."""

    data: ReplayData
    kind: str  # "parquet" | "frames"
    files: tuple[str, ...]


_CACHE: dict[tuple[Any, ...], SweepData] = {}


def _files(sources: Iterable[str | os.PathLike[str]]) -> list[Path]:
    paths = [Path(s) for s in sources]
    if not paths:
        raise ConfigError("give at least one recording, JSONL or Parquet file to sweep over")
    for p in paths:
        if not p.exists():
            raise ConfigError(f"sweep source {str(p)!r} does not exist")
    paths = distinct_sources(paths, "sweep")
    if all(is_parquet(p) for p in paths):
        return [p.resolve() for p in paths]
    if any(is_parquet(p) for p in paths):
        raise ConfigError("sweep over Parquet files or recordings/JSONL, not both")
    return [p.resolve() for p in recording_files(paths)]


def _key(files: list[Path]) -> tuple[Any, ...]:
    return tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)


def load_data(sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> SweepData:
    """Load ``sources`` once per process (cached by path, size and mtime; a changed file is loaded again)."""
    files = _files([sources] if isinstance(sources, str | os.PathLike) else sources)
    key = _key(files)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    if is_parquet(files[0]):
        sd = SweepData(ReplayData.load(files), "parquet", tuple(map(str, files)))
    else:
        stream = single_stream(files)
        if stream is None:  # several streams: merged frame by frame, fed like Parquet blocks
            sd = SweepData(ReplayData.load(files), "parquet", tuple(map(str, files)))
        else:
            sd = SweepData(_frames_data(stream), "frames", tuple(map(str, files)))
    _CACHE.clear()  # one dataset per process is what sweeps need; keep memory bounded
    _CACHE[key] = sd
    return sd


def _frames_data(stream: list[Path]) -> ReplayData:
    report = ReadReport()
    parts: dict[str, list[TickArrays]] = {}
    specials: dict[str, list[tuple[int, int, Any]]] = {}
    tapes: dict[str, list[BookTape]] = {}
    offset: dict[str, int] = {}
    order: dict[str, None] = {}
    for block in FastFrameReader(stream, report, workers=0).blocks():
        for t in block.order:
            order.setdefault(t, None)
            base = offset.get(t, 0)
            for i, ns, ev in block.specials.get(t, ()):
                specials.setdefault(t, []).append((base + i, ns, ev))
            tape = block.books.get(t)
            if tape is not None and len(tape):
                tapes.setdefault(t, []).append(tape.shifted(base))
            arrays = block.ticks.get(t)
            if arrays is not None:
                parts.setdefault(t, []).append(arrays)
                offset[t] = base + len(arrays)
    fields = ("recv", "exch", "bid", "ask", "bid_size", "ask_size", "last")
    markets = {}
    for t in order:
        p = parts.get(t, [])
        if len(p) == 1:
            markets[t] = p[0]
        else:
            markets[t] = TickArrays(
                *(np.concatenate([getattr(a, f) for a in p]) if p else np.empty(0, np.int64) for f in fields)
            )
    ticks = sum(len(a) for a in markets.values())
    books = {t: concat_tapes(p) for t, p in tapes.items()}
    return ReplayData(markets, specials, ticks, list(report.problems), books)


# ---------------------------------------------------------------------------- one setting
@dataclass(frozen=True)
class Common:
    """What every setting of a sweep shares (sent to workers with each chunk)."""

    sources: tuple[str, ...]
    entries: tuple[Entry, ...] = ()
    policy: FirstTwoSided | None = None
    results: tuple[tuple[str, tuple[str, int | None]], ...] = ()
    fixed: tuple[tuple[str, Any], ...] = ()
    fees: FeeSchedule = field(default_factory=lambda: STANDARD_FEES)
    unknown_size: int | None = None
    series_fees: tuple[tuple[str, FeeSchedule], ...] = ()  # per-series schedules (kalshikit.replay.fees)


def run_setting(sd: SweepData, setting: Mapping[str, Any], common: Common) -> dict[str, Any]:
    """Replay one setting and return its summary row (setting values + summary figures)."""
    prot, latency_ms = setting_rules(setting, dict(common.fixed))
    fill = FillModel(
        latency_ns=int(latency_ms * NS_PER_MS),
        fees=common.fees,
        unknown_size=common.unknown_size,
        series_fees=dict(common.series_fees),
    )
    results = dict(common.results)
    session = _Session(prot, fill, list(common.entries), common.policy, keep_decisions=False)
    data = sd.data
    for ticker, arrays in data.markets.items():
        sp = data.specials.get(ticker)
        book = data.books.get(ticker)
        if sd.kind == "frames":
            session.ticks += len(arrays)
            m = session.market(ticker)
            if m is not None:
                feed_block(m, arrays, sp, book)
        else:
            session.arrays(ticker, arrays, sp, book)
    outputs = {t: m.finish(result=results.get(t)) for t, m in session.markets.items()}
    announced = {
        t: (ms.result, ms.settlement_value)
        for t, m in session.markets.items()
        if (ms := m.monitor.markets.get(t)) is not None and ms.result
    }
    row = dict(setting)
    row.update(quick_summary(outputs, results, announced))
    figures = rule_figures(outputs, prot)
    row.update({k: v for k, v in figures.items() if k != "rules_rejected_example"})
    row["rules_rejected_example"] = figures["rules_rejected_example"]
    row[PER_MARKET] = market_rows(outputs, data)
    return row


def quick_summary(
    outputs: Mapping[str, MarketOutput],
    results: Mapping[str, tuple[str, int | None]],
    announced: Mapping[str, tuple[str, int | None]],
) -> dict[str, Any]:
    """The figures of :func:`kalshikit.replay.results.summarize`, computed in integers from the markets' outputs
    (no DataFrames). Exits by reason come as ``exits_<reason>`` keys."""
    rows: list[tuple[int, str, int, int, str, int | None, int | None]] = []
    orders = open_n = 0
    open_unrealized = 0
    for ticker, mo in outputs.items():
        known = results.get(ticker) or announced.get(ticker)
        entry_fee = {e.position_id: e.fee for e in mo.entries}
        orders += len(mo.orders)
        for c in mo.closed:
            _, hold, slip = closed_figures(c, known, entry_fee)
            rows.append((c.closed_ns, ticker, c.realized - c.fees, c.fees, c.reason, slip, hold))
        for p in mo.open_positions:
            open_n += 1
            open_unrealized += p["unrealized"] or 0
    rows.sort(key=lambda r: (r[0], r[1]))
    n = len(rows)
    pnl = sum(r[2] for r in rows)
    equity = peak = 0
    worst = 0
    for r in rows:
        equity += r[2]
        peak = max(peak, equity)
        worst = min(worst, equity - peak)
    slips = [r[5] for r in rows if r[4] not in ("settlement", "external") and r[5] is not None]
    holds = [(r[6], r[2]) for r in rows if r[6] is not None]
    reasons: dict[str, int] = {}
    for r in rows:
        reasons[r[4]] = reasons.get(r[4], 0) + 1
    out: dict[str, Any] = {
        "trades": n,
        "pnl": pnl / 1e6,
        "fees": sum(r[3] for r in rows) / 1e6,
        "win_rate": sum(1 for r in rows if r[2] > 0) / n if n else 0.0,
        "average_pnl": pnl / 1e6 / n if n else 0.0,
        "max_drawdown": worst / 1e6,
        "average_slippage": sum(slips) / len(slips) / ONE if slips else 0.0,
        "hold_pnl": sum(h for h, _ in holds) / 1e6 if holds else None,
        "pnl_where_hold_known": sum(p for _, p in holds) / 1e6 if holds else None,
        "open_positions": open_n,
        "open_unrealized": open_unrealized / 1e6,
        "exit_orders": orders,
    }
    for reason, count in sorted(reasons.items()):
        out[f"exits_{reason}"] = count
    return out


def run_chunk(common: Common, chunk: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Run settings ``[(index, setting), ...]`` on the data of ``common.sources`` (loaded once per process)."""
    sd = load_data(common.sources)
    out = []
    for index, setting in chunk:
        row = run_setting(sd, setting, common)
        row["setting"] = index
        out.append(row)
    return out


# ---------------------------------------------------------------------------- the sweep
@dataclass
class SweepResult:
    """One row per setting (``table``), where it was saved, and how the run went."""

    table: pd.DataFrame
    csv_path: Path | None = None
    parquet_path: Path | None = None
    seconds: float = 0.0
    executor: str = ""
    ticks: int | None = None
    per_market: MarketPnL | None = None  # every setting's P&L in every market (walk-forward, bootstrap)
    fee_schedules: dict[str, str] = field(default_factory=dict)  # series -> the fee schedule that priced it

    def best(self, by: str = "pnl", n: int = 10, *, unprotected: bool = False) -> pd.DataFrame:
        """The ``n`` rows with the highest ``by``; rows whose rules were not armed on most positions
        (``rules_mostly_rejected``) are left out unless ``unprotected=True``: their P&L is not the rules' doing."""
        t = self.table
        if not unprotected and "rules_mostly_rejected" in t.columns:
            t = t[~t["rules_mostly_rejected"].astype(bool)]
        return t.sort_values(by, ascending=False).head(n)

    @property
    def flagged(self) -> pd.DataFrame:
        """Rows whose rules could not be armed on most positions (``rules_mostly_rejected``)."""
        t = self.table
        return t[t["rules_mostly_rejected"].astype(bool)] if "rules_mostly_rejected" in t.columns else t.iloc[:0]

    def __repr__(self) -> str:
        where = f" saved={self.csv_path}" if self.csv_path else ""
        return f"<SweepResult settings={len(self.table)} seconds={self.seconds:.1f} executor={self.executor}{where}>"


def sweep(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    grid: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    entries: str | Path | pd.DataFrame | list[Entry] | None = None,
    policy: FirstTwoSided | None = None,
    results: Mapping[str, str | tuple[str, int | None]] | None = None,
    fixed: Mapping[str, Any] | None = None,
    fees: FeesArg = None,
    unknown_size: int | None = None,
    executor: str | Executor | Any | None = None,
    workers: int | None = None,
    chunk_size: int | None = None,
    progress: bool | None = None,
    out_dir: str | os.PathLike[str] | None = DEFAULT_OUT,
    name: str = "sweep",
    bootstrap: int = 1000,
    level: float = 0.90,
    seed: int = 0,
) -> SweepResult:
    """Replay ``sources`` once per setting of ``grid``; see the module docstring.

    ``executor``: None/"local" (processes on this machine, ``workers`` of them, default one per core), "serial"
    (this process), "dask://HOST:PORT" (a Dask scheduler), a ``dask.distributed.Client`` or any
    ``concurrent.futures.Executor``. ``fixed``: rules applied to every setting (a setting's own keys win).
    ``progress``: a tqdm bar (default: on for 50 settings or more). ``out_dir=None`` does not save.

    Rows also carry ``markets`` (markets where the setting opened a position) and ``pnl_ci_low`` /
    ``pnl_ci_high``: the ``level`` interval of the total P&L over ``bootstrap`` resamples of the markets
    (:mod:`kalshikit.replay.bootstrap`; seeded, NaN when ``bootstrap=0``). ``per_market`` of the result holds every
    setting's P&L per market, for :func:`kalshikit.replay.walkforward.walk_forward`.
    """
    t0 = time.perf_counter()
    check_bootstrap(bootstrap, level, seed)
    settings = expand_grid(grid)
    fixed = {k: _off(v) for k, v in (fixed or {}).items()}
    bad = [k for k in fixed if k not in GRID_KEYS]
    if bad:
        raise ConfigError(f"unknown fixed rule key(s) {bad}; allowed: {', '.join(GRID_KEYS)}")
    for s in settings:
        setting_rules(s, fixed)  # every setting valid before anything runs
    if entries is None and policy is None:
        raise ConfigError("give entries= (a CSV path or DataFrame) or policy= (e.g. FirstTwoSided())")
    files = _files([sources] if isinstance(sources, str | os.PathLike) else list(sources))
    fee_table = resolve_fees(fees, files)
    common = Common(
        sources=tuple(map(str, files)),
        entries=tuple(load_entries(entries)) if entries is not None else (),
        policy=policy,
        results=tuple(_results(results).items()),
        fixed=tuple(fixed.items()),
        fees=fee_table.default,
        unknown_size=unknown_size,
        series_fees=tuple(sorted(fee_table.by_series.items())),
    )
    show = progress if progress is not None else len(settings) >= 50
    rows, how = _execute(common, list(enumerate(settings)), executor, workers, chunk_size, show)
    per_market = MarketPnL.from_rows({r["setting"]: r.pop(PER_MARKET) for r in rows})
    _add_intervals(rows, per_market, bootstrap, level, seed)
    table = _table(rows, settings)
    res = SweepResult(table, seconds=time.perf_counter() - t0, executor=how, per_market=per_market)
    res.fee_schedules = fee_table.describe(per_market.tickers)
    if out_dir is not None:
        res.csv_path, res.parquet_path = save_table(table, out_dir, name)
    return res


def _add_intervals(rows: list[dict[str, Any]], pm: MarketPnL, draws: int, level: float, seed: int) -> None:
    """Set each row's ``markets`` and bootstrap interval of its total P&L (dollars; NaN without draws/markets)."""
    bounds = total_interval(pm.pnl, draws, level, seed) if draws and pm.tickers else None
    for r in rows:
        i = pm.row(r["setting"])
        r["markets"] = int(np.count_nonzero(pm.entries[i]))
        r["pnl_ci_low"] = bounds[0][i] / 1e6 if bounds else float("nan")
        r["pnl_ci_high"] = bounds[1][i] / 1e6 if bounds else float("nan")


def _table(rows: list[dict[str, Any]], settings: list[dict[str, Any]]) -> pd.DataFrame:
    keys = list(dict.fromkeys(k for s in settings for k in s))
    df = pd.DataFrame(rows).sort_values("setting", ignore_index=True)
    exits = sorted(c for c in df.columns if c.startswith("exits_"))
    for c in exits:
        df[c] = df[c].fillna(0).astype(int)
    for k in keys:
        if k not in df.columns:
            df[k] = None
    cols = ["setting", *keys, *SUMMARY_COLUMNS, *exits, "rules_rejected_example"]
    return df[cols]


def save_table(table: pd.DataFrame, out_dir: str | os.PathLike[str], name: str = "sweep") -> tuple[Path, Path]:
    """Write ``<out_dir>/<name>-YYYYMMDDTHHMMSSZ.csv`` and ``.parquet``; returns both paths."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = d / f"{name}-{stamp}"
    k = 1
    while base.with_suffix(".csv").exists():
        base = d / f"{name}-{stamp}-{k}"
        k += 1
    csv = base.with_suffix(".csv")
    table.to_csv(csv, index=False)
    pq = base.with_suffix(".parquet")
    table.astype({c: "string" for c in table.columns if table[c].dtype == object}).to_parquet(pq, index=False)
    return csv, pq


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _execute(
    common: Common,
    items: list[tuple[int, dict[str, Any]]],
    executor: Any,
    workers: int | None,
    chunk_size: int | None,
    show: bool,
) -> tuple[list[dict[str, Any]], str]:
    from tqdm.auto import tqdm

    ctx = process_context()  # before the progress bar starts its monitor thread
    bar = tqdm(total=len(items), unit="setting", desc="sweep", disable=not show)
    rows: list[dict[str, Any]] = []

    def done(part: list[dict[str, Any]]) -> None:
        rows.extend(part)
        bar.update(len(part))

    try:
        if executor == "serial" or (executor in (None, "local") and workers == 1):
            for chunk in _chunks(items, chunk_size or 16):
                done(run_chunk(common, chunk))
            return rows, "serial"
        if isinstance(executor, str) and executor.startswith(("dask://", "tcp://", "tls://")):
            from dask.distributed import Client

            address = "tcp://" + executor[len("dask://") :] if executor.startswith("dask://") else executor
            _reachable(address)
            try:
                client = Client(address, timeout="10s")
            except OSError as exc:
                raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
            try:
                _on_dask(client, common, items, chunk_size, done)
            finally:
                client.close()
            return rows, f"dask {address}"
        if _is_dask_client(executor):
            _on_dask(executor, common, items, chunk_size, done)
            return rows, f"dask {executor.scheduler.address}"
        if isinstance(executor, Executor):
            n = workers or os.cpu_count() or 1
            _on_executor(executor, common, items, chunk_size or _size(len(items), n), done)
            return rows, type(executor).__name__
        if executor not in (None, "local"):
            raise ConfigError(
                f"executor {executor!r} is not one of: local, serial, dask://HOST:PORT, a dask Client or an Executor"
            )
        n = workers or os.cpu_count() or 1
        if ctx.get_start_method() == "fork":
            load_data(common.sources)  # forked workers inherit the loaded data: nothing to load again
        with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
            _on_executor(pool, common, items, chunk_size or _size(len(items), n), done)
        return rows, f"local processes x{n}"
    finally:
        bar.close()


def _size(n_items: int, n_workers: int) -> int:
    return max(1, min(64, math.ceil(n_items / (4 * max(1, n_workers)))))


def _on_executor(pool: Executor, common: Common, items: list[Any], size: int, done: Any) -> None:
    futures = [pool.submit(run_chunk, common, c) for c in _chunks(items, size)]
    try:
        for f in as_completed(futures):
            done(f.result())
    except BaseException:
        for f in futures:
            f.cancel()
        raise


def _reachable(address: str) -> None:
    """Fail fast (not after the client's connect timeout) when nothing listens at a tcp:// scheduler address."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address)
    if parts.scheme != "tcp" or not parts.hostname or not parts.port:
        if parts.scheme == "tcp":
            raise ConfigError(f"executor address {address!r} needs a host and a port: dask://HOST:PORT")
        return
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def _is_dask_client(obj: Any) -> bool:
    try:
        from dask.distributed import Client
    except ImportError:  # pragma: no cover - distributed is a dependency
        return False
    return isinstance(obj, Client)


def _on_dask(client: Any, common: Common, items: list[Any], chunk_size: int | None, done: Any) -> None:
    from dask.distributed import as_completed as dask_completed

    n = max(1, sum(w.get("nthreads", 1) for w in client.scheduler_info().get("workers", {}).values()))
    chunks = _chunks(items, chunk_size or _size(len(items), n))
    futures = client.map(run_chunk, [common] * len(chunks), chunks, pure=False)
    try:
        for f in dask_completed(futures):
            done(f.result())
    finally:
        client.cancel(futures)


# ---------------------------------------------------------------------------- TOML sweep files
@dataclass
class SweepSpec:
    """A sweep described by a TOML file (see ``backtest/example_sweep.toml``)."""

    path: Path
    sources: list[Path]
    grid: dict[str, Any]
    entries: Path | None = None
    policy: FirstTwoSided | None = None
    results: Path | None = None
    fixed: dict[str, Any] = field(default_factory=dict)
    out_dir: Path = DEFAULT_OUT
    executor: str | None = None
    workers: int | None = None

    def run(self, sources: Iterable[str | os.PathLike[str]] | None = None, **overrides: Any) -> SweepResult:
        """Run it (``sources`` replace the file's; keyword arguments go to :func:`sweep`)."""
        from kalshikit.replay.outcomes import load_results

        srcs = list(sources) if sources else self.sources
        if not srcs:
            raise ConfigError(f"{self.path}: no sources; give them in [data] sources or on the command line")
        kw: dict[str, Any] = {
            "entries": self.entries,
            "policy": self.policy,
            "results": load_results(self.results) if self.results else None,
            "fixed": self.fixed,
            "out_dir": self.out_dir,
            "executor": self.executor,
            "workers": self.workers,
            "name": self.path.stem,
        }
        kw.update(overrides)
        return sweep(srcs, self.grid, **kw)


_SECTIONS = {
    "data": ("sources", "results"),
    "entries": ("policy", "side", "count", "after", "tickers", "file"),
    "grid": GRID_KEYS,
    "fixed": GRID_KEYS,
    "output": ("dir",),
    "run": ("executor", "workers"),
}


def load_sweep_file(path: str | os.PathLike[str]) -> SweepSpec:
    """Read and check a sweep TOML file; every problem names the section and key to fix."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"grid file {str(p)!r} does not exist")
    try:
        doc = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    for section, value in doc.items():
        if section not in _SECTIONS:
            raise ConfigError(f"{p}: unknown section [{section}]; allowed: {', '.join(f'[{s}]' for s in _SECTIONS)}")
        if not isinstance(value, dict):
            raise ConfigError(f"{p}: {section} must be a [{section}] table")
        bad = [k for k in value if k not in _SECTIONS[section]]
        if bad:
            raise ConfigError(f"{p}: unknown key(s) {bad} in [{section}]; allowed: {', '.join(_SECTIONS[section])}")
    base = p.parent
    data = doc.get("data", {})
    srcs = data.get("sources", [])
    if isinstance(srcs, str):
        srcs = [srcs]
    if "grid" not in doc or not doc["grid"]:
        raise ConfigError(f"{p}: a [grid] table with at least one rule is needed (e.g. stop = [0.05, 0.10])")
    grid = dict(doc["grid"])
    try:
        expand_grid(grid)
    except ConfigError as exc:
        raise ConfigError(f"{p}: [grid]: {exc}") from None
    ent = doc.get("entries", {})
    entries_file = base / ent["file"] if "file" in ent else None
    policy = None
    if entries_file is None:
        name = str(ent.get("policy", "first-two-sided"))
        if name != "first-two-sided":
            raise ConfigError(f"{p}: [entries] policy {name!r} is not known; use first-two-sided or file = ...")
        count = ent.get("count", 10)
        if not isinstance(count, int | float) or count <= 0:
            raise ConfigError(f"{p}: [entries] count must be a positive number of contracts, got {count!r}")
        tickers = ent.get("tickers")
        try:
            policy = FirstTwoSided(
                str(ent.get("side", "yes")),
                round(count * 100),
                _after_ns(ent.get("after"), p),
                frozenset(tickers) if tickers else None,
            )
        except ConfigError as exc:
            raise ConfigError(f"{p}: [entries]: {exc}") from None
    run = doc.get("run", {})
    out = doc.get("output", {})
    return SweepSpec(
        path=p,
        sources=[base / s for s in srcs],
        grid=grid,
        entries=entries_file,
        policy=policy,
        results=base / data["results"] if "results" in data else None,
        fixed=dict(doc.get("fixed", {})),
        out_dir=base / out["dir"] if "dir" in out else DEFAULT_OUT,
        executor=run.get("executor"),
        workers=run.get("workers"),
    )


def _after_ns(value: Any, p: Path) -> int:
    if value is None:
        return 0
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ConfigError(f"{p}: [entries] after {value!r} is not a time (ISO-8601)") from None
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value)


def iter_settings(spec: SweepSpec) -> Iterator[dict[str, Any]]:
    """The settings a sweep file describes (for a dry run)."""
    yield from expand_grid(spec.grid)
