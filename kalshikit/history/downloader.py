"""``download()``: a series', an event's or some markets' history (settled markets included, with their results)
into a history dataset, resumable and rate-limited, with a progress bar. The CLI (``python -m kalshikit.history``)
and notebooks call this.

The environment comes from :class:`~kalshikit.config.Settings` like everywhere in the kit (``KALSHI_ENV``,
credentials, ``KALSHI_READS_PER_SECOND``). On ``sim`` without ``KALSHI_REST_URL`` an in-process simulator is started
with a synthetic history to try it offline: 8 NBA game markets (series ``KXNBAGAME``) over the two hours before
today 00:00 UTC, all settled (synthetic, not real prices).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kalshikit.config import Settings
from kalshikit.errors import ConfigError, ExchangeError, NotFoundError
from kalshikit.history.dataset import HistoryDataset, grid_json, is_history_dataset, market_row
from kalshikit.history.fetch import MarketFetcher, MarketPlan, MarketProgress
from kalshikit.history.request import MINUTE_S, HistoryRequest, market_window
from kalshikit.kalshi.models import Market
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.units import NS_PER_S

log = logging.getLogger("kalshikit.history")

DEMO_SERIES = "KXNBAGAME"
_TICKERS_PER_LISTING = 100
_FINAL = frozenset({"closed", "determined", "finalized", "settled", "disputed", "amended"})


@dataclass
class DownloadReport:
    """What a download did. ``markets`` has one entry per market of the request inside the window."""

    path: Path
    request: HistoryRequest
    env: str
    markets: list[MarketProgress] = field(default_factory=list)
    outside_window: int = 0  # markets of the request with nothing inside the window
    requests: int = 0  # HTTP requests sent (retries included)
    http_429: int = 0  # answers "too many requests" (each retried after a pause)
    seconds: float = 0.0
    rate_limit: float = 0.0  # the client's reads per second
    waited_s: float = 0.0  # time spent waiting for the rate limiter
    notes: list[str] = field(default_factory=list)

    @property
    def candles(self) -> int:
        return sum(m.candles for m in self.markets)

    @property
    def trades(self) -> int:
        return sum(m.trades for m in self.markets)

    @property
    def complete(self) -> int:
        return sum(m.complete for m in self.markets)

    def summary(self) -> str:
        n = len(self.markets)
        rate = self.requests / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"history of {self.request.describe()} from {self.env} in {self.path}",
            f"{n} market(s): {self.complete} complete, {n - self.complete} to continue later (still open, or cut)"
            + (f"; {self.outside_window} outside the window" if self.outside_window else ""),
            f"stored {self.candles:,} candles and {self.trades:,} trades in {self.requests:,} requests, "
            f"{self.seconds:.1f} s ({rate:.1f} requests/s; limit {self.rate_limit:g}/s, "
            f"{self.waited_s:.1f} s waited for it; {self.http_429} answered 429)",
        ]
        lines += self.notes
        return "\n".join(lines)


@contextmanager
def _client(
    settings: Settings | None, env: str | None, env_file: str | os.PathLike[str] | None, rate: float | None
) -> Iterator[tuple[KalshiRest, str]]:
    """A REST client for the environment (an in-process simulator with a synthetic history on bare ``sim``)."""
    overrides: dict[str, Any] = {"env": env} if env else {}
    file = Path(env_file) if env_file is not None else None
    s = settings if settings is not None else Settings.from_env(env_file=file, **overrides)
    if settings is not None and env and env != settings.env:
        raise ConfigError(f"env={env!r} contradicts the settings given (env={settings.env!r})")
    if rate is not None and not rate > 0:
        raise ConfigError(f"rate must be a positive number of requests per second, got {rate}")
    sim = None
    signer = None
    if s.env == "sim" and not s.rest_url:
        from kalshikit.sim import Simulator
        from kalshikit.sim.history_api import seed_synthetic_history

        sim = Simulator().start()
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        seed_synthetic_history(sim, end_ns=int(day.timestamp()) * NS_PER_S, markets=8, duration_s=7200.0)
        s = s.replace(rest_url=sim.rest_url, ws_url=sim.ws_url)
        signer = sim.signer()
    kw: dict[str, Any] = {"max_token_wait": 3600.0, "read_attempts": 5, "backoff_max": 4.0}
    if rate is not None:
        kw["reads_per_second"] = rate
    rest = KalshiRest.from_settings(s, signer, **kw)
    try:
        yield rest, s.env
    finally:
        rest.close()
        if sim is not None:
            sim.stop()


def _request(out: Path, series: str | None, event: str | None, tickers: Any, start: Any, end: Any) -> HistoryRequest:
    if series is None and event is None and tickers is None:
        if start is not None or end is not None:
            raise ConfigError("--start/--end need the markets too: --series, --event or --tickers")
        if is_history_dataset(out):
            return HistoryDataset.open(out).request  # continue the download that is there
        raise ConfigError(
            f"say which markets: --series SERIES, --event EVENT or --tickers T1,T2 ({out} has no download to continue)"
        )
    return HistoryRequest.build(series=series, event=event, tickers=tickers, start=start, end=end)


def list_markets(rest: KalshiRest, request: HistoryRequest) -> list[Market]:
    """The markets of the request (every status), those closing before ``--start`` left out where Kalshi can."""
    min_close = request.start_ns
    if request.tickers is not None:
        found: list[Market] = []
        ts = list(request.tickers)
        for i in range(0, len(ts), _TICKERS_PER_LISTING):
            found += rest.markets(tickers=ts[i : i + _TICKERS_PER_LISTING])
        unknown = sorted(set(ts) - {m.ticker for m in found})
        if unknown:
            raise ConfigError(f"unknown market ticker(s): {', '.join(unknown[:10])} (check the tickers and --env)")
        return found
    if request.event is not None:
        found = rest.markets(event_ticker=request.event, min_close_ns=min_close)
        what = f"event {request.event!r}"
    else:
        found = rest.markets(series_ticker=request.series, min_close_ns=min_close)
        what = f"series {request.series!r}"
    if not found:
        after = " closing after --start" if min_close is not None else ""
        raise ConfigError(f"{what} has no markets{after} (check the ticker and --env)")
    return found


def _plan(request: HistoryRequest, m: Market, now_ns: int) -> MarketPlan | None:
    window = market_window(request, m.open_ns, m.close_ns, now_ns)
    if window is None:
        return None
    last_complete = (now_ns // NS_PER_S - MINUTE_S) // MINUTE_S * MINUTE_S
    closed = m.status in _FINAL or window[1] < last_complete
    return MarketPlan(m.ticker, request.series_of(m.event_ticker, m.ticker), window, closed)


def _row(m: Market, plan: MarketPlan | None, complete: bool) -> dict[str, Any]:
    grid = m.grid
    return market_row(
        ticker=m.ticker,
        event_ticker=m.event_ticker,
        series_ticker=plan.series if plan is not None else None,
        title=m.title,
        yes_sub_title=m.yes_sub_title,
        status=m.status,
        result=m.result or None,
        settlement_value=m.settlement_value,
        open_ns=m.open_ns,
        close_ns=m.close_ns,
        settlement_ns=m.settlement_ns,
        price_level_structure=grid.structure if grid is not None else None,
        price_ranges=grid_json((r.start, r.end, r.step) for r in grid.ranges) if grid is not None else None,
        volume=m.volume,
        open_interest=m.open_interest,
        from_ns=plan.window[0] * NS_PER_S if plan is not None else None,
        to_ns=plan.window[1] * NS_PER_S if plan is not None else None,
        complete=complete,
    )


def _write_series(rest: KalshiRest, ds: HistoryDataset, series: Iterable[str], report: DownloadReport) -> None:
    """``series.json`` with the series' fee schedules, so replays price fills with each series' own fees."""
    from kalshikit.replay.fees import write_series_file

    got = []
    for s in sorted(set(series)):
        try:
            got.append(rest.series(s))
        except (NotFoundError, ExchangeError) as exc:
            report.notes.append(f"series {s}: no fee schedule ({exc}); replays use the standard fees for it")
    if got:
        write_series_file(ds.path, got)


def download(
    out: str | os.PathLike[str],
    *,
    series: str | None = None,
    event: str | None = None,
    tickers: str | Iterable[str] | None = None,
    start: Any = None,
    end: Any = None,
    settings: Settings | None = None,
    env: str | None = None,
    env_file: str | os.PathLike[str] | None = ".env",
    trades: bool = True,
    rate: float | None = None,
    page_size: int = 1000,
    progress: bool | None = None,
) -> DownloadReport:
    """Download the markets of ``series`` / ``event`` / ``tickers`` (settled ones included) between ``start`` and
    ``end`` (dates, ISO times, datetimes or ns UTC; default each market's whole life) into the folder ``out``.

    Resumable: run it again with the same arguments (or only ``out``: then also its environment) and it skips what
    is complete, continues a partly downloaded market and extends open markets to now. ``rate``: requests per
    second (default ``KALSHI_READS_PER_SECOND``). ``progress``: a tqdm bar (None: when on a terminal). Returns a
    :class:`DownloadReport`; errors are the kit's (:class:`ConfigError` says what to fix; an
    :class:`ExchangeError` after the client's retries stops the run, and running it again continues).
    """
    path = Path(out).expanduser()
    if not 1 <= page_size <= 1000:
        raise ConfigError(f"page_size must be 1..1000 (Kalshi's limit), got {page_size}")
    tick = list(tickers) if tickers is not None and not isinstance(tickers, str) else tickers
    request = _request(path, series, event, tick, start, end)
    if env is None and settings is None and series is None and event is None and tick is None:
        env = HistoryDataset.open(path).env or None  # continuing with only ``out``: the environment it came from
    with _client(settings, env, env_file, rate) as (rest, env_name):
        t0 = time.perf_counter()
        ds = HistoryDataset.create(path, request, env_name)
        report = DownloadReport(path, request, env_name, rate_limit=rest.read_bucket.rate)
        started_ns = time.time_ns()
        markets = list_markets(rest, request)
        now_ns = time.time_ns()
        plans = {m.ticker: _plan(request, m, now_ns) for m in markets}
        report.outside_window = sum(p is None for p in plans.values())
        earlier = {r["ticker"]: r for r in ds.markets_table().to_pylist()}  # kept when no longer listed
        earlier_complete = {t: bool(r.get("complete")) for t, r in earlier.items()}
        rows = {m.ticker: _row(m, plans[m.ticker], earlier_complete.get(m.ticker, False)) for m in markets}
        ds.write_markets(list({**earlier, **rows}.values()))  # metadata first: a killed run has it
        active = [p for p in plans.values() if p is not None]
        _write_series(rest, ds, {p.series for p in active}, report)
        done: dict[str, MarketProgress] = {}
        bar = _progress_bar(len(active), progress)
        fetcher = MarketFetcher(
            rest, ds, trades=trades, page_size=page_size, on_request=lambda p: _show(bar, done, p, rest)
        )
        try:
            for plan in active:
                bar.set_description(plan.ticker[-28:])
                done[plan.ticker] = fetcher.fetch(plan)
                report.markets.append(done[plan.ticker])
                bar.update(1)
        finally:
            bar.close()
            metrics = rest.metrics()
            report.requests += metrics["requests"]
            report.http_429 = metrics["http_429"]
            report.waited_s = rest.read_bucket.waited_s
            report.seconds = time.perf_counter() - t0
            complete = {t: p.complete for t, p in done.items()}
            rows = {
                m.ticker: _row(m, plans[m.ticker], complete.get(m.ticker, earlier_complete.get(m.ticker, False)))
                for m in markets
            }
            ds.write_markets(list({**earlier, **rows}.values()))
            ds.record_run(
                {
                    "started_ns": started_ns,
                    "finished_ns": time.time_ns(),
                    "markets": len(active),
                    "finished_markets": len(done),
                    "complete": sum(complete.values()),
                    "candles": sum(p.candles for p in done.values()),
                    "trades": sum(p.trades for p in done.values()),
                    "requests": report.requests,
                    "trades_included": trades,
                }
            )
    if not trades:
        report.notes.append("trades skipped (--no-trades): markets are complete only once their trades are stored")
    empty = [p.ticker for p in report.markets if p.complete and ds.candle_rows(p.ticker) == 0]
    if empty:
        report.notes.append(
            f"{len(empty)} market(s) had no candles at all (e.g. {empty[0]}): Kalshi serves markets settled before "
            "its historical cutoff only under /historical/..., which this download does not read"
        )
    return report


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_description(self, text: str) -> None:
        pass

    def set_postfix(self, **kw: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, progress: bool | None) -> Any:
    if progress is False:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="market", disable=None if progress is None else False, dynamic_ncols=True)


def _show(bar: Any, done: dict[str, MarketProgress], p: MarketProgress, rest: KalshiRest) -> None:
    bar.set_postfix(
        candles=sum(x.candles for x in done.values()) + p.candles,
        trades=sum(x.trades for x in done.values()) + p.trades,
        requests=rest.metrics()["requests"],
        refresh=False,
    )


__all__ = ["DEMO_SERIES", "DownloadReport", "download", "list_markets"]
