"""Replay recorded market data through the live Monitor: ``replay(sources, entries=..., stop_loss=0.10, ...)``.

Sources are the kit's recordings, plain JSONL of raw Kalshi frames (either era; several files merge in time order)
or Parquet files from :func:`kalshikit.recording.columnar.to_parquet` (fastest). Positions come from an entries
table or an entry policy; rules from :func:`kalshikit.core.rules.protection` arguments or a Protection; fills from
the explicit :class:`~kalshikit.replay.fills.FillModel`. The result carries a trades table, a summary, the
monitor's decisions and a per-trigger gap report.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from kalshikit.core.events import Quote
from kalshikit.core.rules import Protection, protection
from kalshikit.errors import ConfigError
from kalshikit.recording.reader import ReadReport
from kalshikit.replay.dataset import ReplayData
from kalshikit.replay.depth import BookTape
from kalshikit.replay.entries import Entry, FirstTwoSided, load_entries
from kalshikit.replay.fastframes import FastFrameReader, FrameBlock, feed_block, single_stream
from kalshikit.replay.fees import FeesArg, resolve_fees
from kalshikit.replay.fills import FillModel
from kalshikit.replay.frame_cache import FrameCache
from kalshikit.replay.market import MarketOutput, MarketReplay, TickArrays, replay_monitor_config
from kalshikit.replay.results import ReplayResult, build_result
from kalshikit.replay.sources import data_resolution, distinct_sources, frame_events, is_parquet, parquet_blocks

NS_PER_MS = 1_000_000
NOT_IN_DATA = "not in the data: check the ticker, or add the recording that has this market"

log = logging.getLogger("kalshikit.replay")


def _expand(sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(sources, str | os.PathLike):
        sources = [sources]
    paths = [Path(s) for s in sources]
    for p in paths:
        if not p.exists():
            raise ConfigError(f"replay source {str(p)!r} does not exist")
    if not paths:
        raise ConfigError("give at least one recording, JSONL or Parquet file to replay")
    return distinct_sources(paths, "replay")


def resolve_protection(rules: Protection | Mapping[str, Any] | None) -> Protection | None:
    if rules is None or isinstance(rules, Protection):
        return rules
    return protection(**dict(rules))


def replay(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | ReplayData,
    *,
    entries: str | Path | pd.DataFrame | list[Entry] | None = None,
    policy: FirstTwoSided | None = None,
    rules: Protection | Mapping[str, Any] | None = None,
    latency_ms: float = 0.0,
    fees: FeesArg = None,
    unknown_size: int | None = None,
    results: Mapping[str, str | tuple[str, int | None]] | None = None,
    keep_decisions: bool = True,
    batch_rows: int = 1 << 18,
    workers: int | None = None,
    frame_by_frame: bool = False,
    candles: str | None = None,
    book_quotes: bool = False,
    cache: bool = True,
    **rule_args: Any,
) -> ReplayResult:
    """Replay ``sources`` with the rules given as ``rules`` (a Protection or a dict) or as keyword arguments of
    :func:`kalshikit.core.rules.protection` (``stop=0.10``, ``take_profit=0.15``, ``trailing=0.05``, ...).

    ``results`` maps ticker -> ``"yes"``/``"no"`` (or ``(result, settlement value)``) for markets whose result the
    data does not announce; positions left open then settle at it, else are marked at the last bid.

    ``workers``: processes that decode recordings/JSONL when the input is one large stream (None: one per core for
    inputs over a few MB; 0: decode in this process). ``frame_by_frame=True`` reads recordings/JSONL through the
    general merging reader one frame at a time instead (slower; the reference the fast path is tested against).
    Neither changes a decision.

    ``fees``: fee schedules per series (:mod:`kalshikit.replay.fees`: one FeeSchedule for every market, or
    ``{"KXMLBGAME": 0.5, ...}``; default: the recording's ``series.json``, else the standard schedule); the summary
    states which schedule priced which series (``fee_schedules``).

    A history dataset (``python -m kalshikit.history``: 1-minute candles) replays as quotes made from its candles
    under ``candles="pessimistic"`` (default) or ``"optimistic"`` (:mod:`kalshikit.history.quotes`); every result
    states its data's ``resolution`` and ``fill_assumption`` (``summary`` and ``settings``).

    Recordings with order books (``orderbook_snapshot`` / ``orderbook_delta`` frames, e.g. ``python -m
    kalshikit.record --depth``; in Parquet the ``.book.parquet`` file) fill exits against the recorded book, level
    by level (:mod:`kalshikit.replay.depth`), on every path. ``book_quotes=True`` also feeds the books' best prices
    to the monitor as quotes (as the live client's price cache holds them with depth), for captures that have
    books but no ``ticker`` frames; it replays recordings/JSONL frame by frame and refuses Parquet and preloaded
    data (their quotes are the ticker frames only).

    The same file named twice (a folder and a file in it, a path and a link to it) is read once; two files with the
    same content (a copy) are refused: they would feed every frame twice.

    ``cache``: a recording (one stream of gzip JSONL files) is decoded once and its columnar form kept beside it
    (:mod:`kalshikit.replay.frame_cache`, ``.kalshikit-cache/``); replaying it again reads that copy while the files
    are unchanged (``settings["source_cache"]`` says which happened, ``settings["decode_processes"]`` how many
    processes decoded it when it was decoded). ``cache=False`` neither reads nor writes it.
    """
    if rules is not None and rule_args:
        raise ConfigError("give the rules either as rules= or as keyword arguments, not both")
    prot = resolve_protection(rules) if rules is not None else (protection(**rule_args) if rule_args else None)
    if entries is None and policy is None:
        raise ConfigError("give entries= (a CSV path or DataFrame) or policy= (e.g. FirstTwoSided())")
    entry_list = load_entries(entries) if entries is not None else []
    src = sources if isinstance(sources, ReplayData) else _expand(sources)
    fee_table = resolve_fees(fees, () if isinstance(src, ReplayData) else src)
    fill = FillModel(
        latency_ns=int(latency_ms * NS_PER_MS),
        fees=fee_table.default,
        unknown_size=unknown_size,
        series_fees=fee_table.by_series,
    )
    settings: dict[str, Any] = {"rules": prot, "latency_ms": latency_ms, "policy": policy, "entries": len(entry_list)}
    settings["sources"] = [str(p) for p in src] if isinstance(src, list) else ["(preloaded data)"]
    settings["unknown_size"] = unknown_size
    src, stated = data_resolution(src, candles)  # history datasets become candle quotes; the result says how
    settings.update(stated, candles=getattr(src, "candles", None), book_quotes=book_quotes)
    if book_quotes:
        if isinstance(src, ReplayData) or any(is_parquet(p) for p in src):
            raise ConfigError(
                "book_quotes=True takes quotes from the order-book frames of recordings/JSONL, replayed frame by "
                "frame: give the recording itself, not Parquet or preloaded data"
            )
        frame_by_frame = True
    result = run(
        src,
        prot,
        fill,
        entry_list,
        policy,
        _results(results),
        keep_decisions,
        batch_rows,
        settings,
        workers=workers,
        frame_by_frame=frame_by_frame,
        book_quotes=book_quotes,
        use_cache=cache,
    )
    traded = [*result.trades.get("ticker", ()), *result.open_positions.get("ticker", ())]
    result.settings["fees"] = result.summary["fee_schedules"] = fee_table.describe(traded)
    for w in result.summary["warnings"]:
        log.warning("replay: %s", w)
    return result


def _results(results: Mapping[str, str | tuple[str, int | None]] | None) -> dict[str, tuple[str, int | None]]:
    out: dict[str, tuple[str, int | None]] = {}
    for t, r in (results or {}).items():
        if isinstance(r, str):
            if r not in ("yes", "no"):
                raise ConfigError(f"result for {t} must be yes or no (or (result, settlement value)), got {r!r}")
            out[t] = (r, None)
        else:
            out[t] = (r[0], r[1])
    return out


class _Session:
    """The markets of one replay run: made on first sight, only where an entry or the policy needs them."""

    def __init__(
        self,
        prot: Protection | None,
        fill: FillModel,
        entry_list: list[Entry],
        policy: FirstTwoSided | None,
        keep_decisions: bool,
        book_quotes: bool = False,
    ) -> None:
        self.book_quotes = book_quotes
        self.prot = prot
        self.fill = fill
        self.policy = policy
        self.keep_decisions = keep_decisions
        self.by_ticker: dict[str, list[Entry]] = {}
        for e in entry_list:
            self.by_ticker.setdefault(e.ticker, []).append(e)
        self.markets: dict[str, MarketReplay] = {}
        self.config = replay_monitor_config()
        self.ticks = 0

    def market(self, ticker: str) -> MarketReplay | None:
        m = self.markets.get(ticker)
        if m is None:
            p = self.policy
            if ticker not in self.by_ticker and not (p is not None and (p.tickers is None or ticker in p.tickers)):
                return None
            m = self.markets[ticker] = MarketReplay(
                ticker,
                protection=self.prot,
                fill_model=self.fill,
                entries=self.by_ticker.get(ticker),
                policy=p,
                config=self.config,
                keep_decisions=self.keep_decisions,
                book_quotes=self.book_quotes,
            )
        return m

    def arrays(
        self,
        ticker: str,
        arrays: TickArrays | None,
        specials: list[tuple[int, int, Any]] | None,
        book: BookTape | None = None,
    ) -> None:
        self.ticks += len(arrays) if arrays is not None else 0
        m = self.market(ticker)
        if m is None:
            return
        if book is not None:
            m.add_book(book)
        if arrays is None:
            for _, ns, ev in specials or ():
                m.on_event(ev, ns)
        else:
            m.process_arrays(arrays, specials)

    def result(
        self, results: dict[str, tuple[str, int | None]], started: float, problems: list[Any], settings: dict[str, Any]
    ) -> ReplayResult:
        outputs: dict[str, MarketOutput] = {t: m.finish(result=results.get(t)) for t, m in self.markets.items()}
        skipped = [(e, NOT_IN_DATA) for t, es in self.by_ticker.items() if t not in self.markets for e in es]
        skipped += [item for o in outputs.values() for item in o.skipped_entries]
        elapsed = time.perf_counter() - started
        stats = {
            "ticks": self.ticks,
            "markets_replayed": len(self.markets),
            "quotes_fed_to_monitor": sum(o.quotes_fed for o in outputs.values()),
            "seconds": elapsed,
            "ticks_per_s": self.ticks / elapsed if elapsed > 0 else float("inf"),
            "read_problems": problems,
            "book_rows": sum(o.book_rows for o in outputs.values()),
            "first_ns": min((o.first_ns for o in outputs.values() if o.first_ns), default=None),
            "last_ns": max((o.last_ns for o in outputs.values() if o.last_ns), default=None),
        }
        announced = {
            t: (ms.result, ms.settlement_value)
            for t, m in self.markets.items()
            if (ms := m.monitor.markets.get(t)) is not None and ms.result
        }
        return build_result(outputs, skipped, stats, settings, results, announced)


def _feed_parquet(session: _Session, path: Path, batch_rows: int) -> None:
    """Feed one Parquet file batch by batch (its own function so the last batch is released when it returns)."""
    for blocks, specials, books in parquet_blocks(path, batch_rows=batch_rows):
        for ticker in sorted(set(blocks) | set(specials) | set(books)):
            session.arrays(ticker, blocks.get(ticker), specials.get(ticker), books.get(ticker))


def run(
    source: list[Path] | ReplayData,
    prot: Protection | None,
    fill: FillModel,
    entry_list: list[Entry],
    policy: FirstTwoSided | None,
    results: dict[str, tuple[str, int | None]],
    keep_decisions: bool = True,
    batch_rows: int = 1 << 18,
    settings: dict[str, Any] | None = None,
    workers: int | None = None,
    frame_by_frame: bool = False,
    book_quotes: bool = False,
    use_cache: bool = True,
) -> ReplayResult:
    """The replay loop over resolved inputs: files (streamed in bounded memory) or a preloaded ReplayData.

    Recordings/JSONL forming one stream take the fast path (:mod:`kalshikit.replay.fastframes`: bulk reading,
    one decode per frame, vectorised quiet-band skipping); several streams are merged frame by frame.
    """
    t0 = time.perf_counter()
    session = _Session(prot, fill, entry_list, policy, keep_decisions, book_quotes)
    report = ReadReport()
    if isinstance(source, ReplayData):
        for ticker, arrays in source.markets.items():
            session.arrays(ticker, arrays, source.specials.get(ticker), source.books.get(ticker))
        return session.result(results, t0, list(source.problems), settings or {})
    parquet = [p for p in source if is_parquet(p)]
    frames = [p for p in source if not is_parquet(p)]
    if parquet and frames:
        raise ConfigError("replay Parquet files or recordings/JSONL in one run, not both (convert the recordings)")
    for path in parquet:
        _feed_parquet(session, path, batch_rows)
    stream = single_stream(frames) if frames and not frame_by_frame else None
    if stream is not None:
        cache = FrameCache(stream) if use_cache else None
        meta = cache.load() if cache is not None else None
        writer = None
        if meta is not None and cache is not None:
            blocks: Iterable[FrameBlock] = cache.blocks(meta)
            report.problems.extend(tuple(p) for p in meta["problems"])  # what decoding it reported the first time
            if settings is not None:
                settings["source_cache"] = f"decoded copy read from {cache.dir}"
        else:
            reader = FastFrameReader(stream, report, workers=workers)
            blocks = reader.blocks()
            if settings is not None:
                settings["decode_processes"] = reader.workers  # 0: decoded in this process
            writer = cache.writer() if cache is not None else None
            if settings is not None and writer is not None:
                settings["source_cache"] = f"decoded and saved to {writer.cache.dir}"
        try:
            for block in blocks:
                if writer is not None:
                    writer.add(block)
                session.ticks += block.quotes
                for ticker in block.order:
                    m = session.market(ticker)
                    if m is not None:
                        feed_block(m, block.ticks.get(ticker), block.specials.get(ticker), block.books.get(ticker))
        except BaseException:
            if writer is not None:
                writer.abandon()
            raise
        if writer is not None:
            writer.commit(list(report.problems))
    elif frames:
        for ev, now in frame_events(frames, report):
            if type(ev) is Quote:
                session.ticks += 1
                m = session.market(ev.ticker)
                if m is not None:
                    m.on_quote(ev)
            else:
                m = session.market(ev.ticker)
                if m is not None:
                    m.on_event(ev, now)
    return session.result(results, t0, list(report.problems), settings or {})
