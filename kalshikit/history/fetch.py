"""Download one market's history into the dataset, resuming whatever an earlier run left unfinished.

Candles: the minutes of the market's window that no candle file answers for yet are asked for in requests of at
most ``candles_per_request`` candles (``GET /series/{s}/markets/{t}/candlesticks``, ``period_interval=1``), each
answer stored as one file. Trades: the seconds of the window not yet covered are listed newest first
(``GET /markets/trades`` with ``ticker``, ``min_ts``, ``max_ts``), page by page; every ``flush_pages`` pages the
new prints are stored, then the cursor is saved, so a killed run continues at the saved cursor. A print whose
``trade_id`` is already stored is skipped, which makes a page fetched twice (after a crash, or in the one second of
overlap between two listings) harmless. A saved cursor the exchange no longer accepts (HTTP 400) restarts that
listing.

Every request goes through :class:`~kalshikit.kalshi.rest.KalshiRest`: its token bucket keeps the rate, and it
retries 429s, 5xx answers and dropped connections with backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from kalshikit.errors import ExchangeError
from kalshikit.history.dataset import HistoryDataset, TradeState, gaps
from kalshikit.history.request import MINUTE_S
from kalshikit.kalshi.models import PublicTrade
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.units import NS_PER_S

log = logging.getLogger("kalshikit.history")

MAX_CANDLES_PER_REQUEST = 5_000


@dataclass(frozen=True)
class MarketPlan:
    """One market to download: its series (for the candlesticks path) and window ``(from_s, to_s)``.
    ``window_closed``: the window ends where the market's data ends (its close or ``--end``), not at "now"."""

    ticker: str
    series: str
    window: tuple[int, int]
    window_closed: bool


@dataclass
class MarketProgress:
    """What one market's download did; ``complete`` when nothing of its window is missing and it cannot grow."""

    ticker: str
    candles: int = 0  # candles stored by this run
    trades: int = 0  # trades stored by this run
    requests: int = 0
    candle_gaps: int = 0  # candle ranges still missing after the run (0 when it finished)
    trade_gaps: int = 0
    complete: bool = False


class MarketFetcher:
    """Downloads markets into ``dataset`` through ``rest``. ``on_request`` is called after every request."""

    def __init__(
        self,
        rest: KalshiRest,
        dataset: HistoryDataset,
        *,
        trades: bool = True,
        page_size: int = 1000,
        candles_per_request: int = MAX_CANDLES_PER_REQUEST,
        flush_pages: int = 5,
        on_request: Callable[[MarketProgress], None] | None = None,
    ) -> None:
        if not 1 <= candles_per_request <= MAX_CANDLES_PER_REQUEST:
            raise ValueError(f"candles_per_request must be 1..{MAX_CANDLES_PER_REQUEST}")
        self.rest = rest
        self.ds = dataset
        self.trades = trades
        self.page_size = page_size
        self.candles_per_request = candles_per_request
        if flush_pages < 1:
            raise ValueError("flush_pages must be >= 1")
        self.flush_pages = flush_pages
        self.on_request = on_request or (lambda _p: None)

    # ------------------------------------------------------------------ what is missing
    def missing_candles(self, plan: MarketPlan) -> list[tuple[int, int]]:
        return gaps(plan.window, self.ds.candle_ranges(plan.ticker), MINUTE_S)

    def missing_trades(self, plan: MarketPlan, state: TradeState | None = None) -> list[tuple[int, int]]:
        st = state if state is not None else self.ds.trade_state(plan.ticker)
        return gaps(plan.window, st.covered, 1)

    # ------------------------------------------------------------------ one market
    def fetch(self, plan: MarketPlan) -> MarketProgress:
        prog = MarketProgress(plan.ticker)
        self.ds.clean_partials(plan.ticker)
        self._candles(plan, prog)
        if self.trades:
            self._trades(plan, prog)
        prog.candle_gaps = len(self.missing_candles(plan))
        prog.trade_gaps = len(self.missing_trades(plan)) if self.trades else 0
        prog.complete = plan.window_closed and prog.candle_gaps == 0 and prog.trade_gaps == 0
        return prog

    def _candles(self, plan: MarketPlan, prog: MarketProgress) -> None:
        span = (self.candles_per_request - 1) * MINUTE_S
        for lo, hi in self.missing_candles(plan):
            a = lo
            while a <= hi:
                b = min(hi, a + span)
                candles = self.rest.candlesticks(plan.series, plan.ticker, start_ns=a * NS_PER_S, end_ns=b * NS_PER_S)
                prog.requests += 1
                self.ds.write_candles(plan.ticker, a, b, candles)
                prog.candles += sum(1 for c in candles if a * NS_PER_S <= c.end_ns <= b * NS_PER_S)
                self.on_request(prog)
                a = b + MINUTE_S

    def _trades(self, plan: MarketPlan, prog: MarketProgress) -> None:
        state = self.ds.trade_state(plan.ticker)
        if self.ds.verify_trade_files(plan.ticker):  # prints were lost with an unreadable file: list it all again
            state = TradeState()
        todo: list[tuple[int, int, str]] = []
        if state.listing is not None:  # a listing a killed run left: finish it from its cursor first
            lo, hi = state.listing["lo_s"], state.listing["hi_s"]
            todo.append((lo, hi, state.listing["cursor"]))
            covered = [*state.covered, (lo, hi)]
        else:
            covered = list(state.covered)
        todo += [(lo, hi, "") for lo, hi in gaps(plan.window, covered, 1)]
        for lo, hi, cursor in todo:
            self._trade_range(plan, lo, hi, cursor, state, prog)

    def _trade_range(
        self, plan: MarketPlan, lo: int, hi: int, cursor: str, state: TradeState, prog: MarketProgress
    ) -> None:
        t = plan.ticker
        # One second of overlap with what is stored before ``lo``: whether Kalshi's min_ts/max_ts include the
        # fraction of their boundary second is not documented; the id check drops what the overlap repeats.
        q_lo = lo - 1 if lo > plan.window[0] else lo
        known = self.ds.stored_trade_ids(t, q_lo * NS_PER_S, (hi + 1) * NS_PER_S - 1)
        page_no = self.ds.next_trade_page(t, lo, hi)
        state.listing = {"lo_s": lo, "hi_s": hi, "cursor": cursor}
        self.ds.save_trade_state(t, state)
        buffer: list[PublicTrade] = []
        pending = 0  # pages read since the last save
        while True:
            answered = False
            try:
                pages = self.rest.trades_pages(
                    ticker=t, min_ns=q_lo * NS_PER_S, max_ns=hi * NS_PER_S, page_size=self.page_size, cursor=cursor
                )
                for items, nxt in pages:
                    answered = True
                    prog.requests += 1
                    pending += 1
                    for tr in items:
                        if tr.ticker == t and tr.trade_id not in known:
                            known.add(tr.trade_id)
                            buffer.append(tr)
                    if pending >= self.flush_pages or not nxt:
                        pending = 0
                        if buffer:
                            self.ds.write_trades(t, lo, hi, page_no, buffer)
                            page_no += 1
                            prog.trades += len(buffer)
                            buffer = []
                        state.listing["cursor"] = nxt
                        self.ds.save_trade_state(t, state)
                    cursor = nxt
                    self.on_request(prog)
                break
            except ExchangeError as exc:
                if exc.status != 400 or answered or not cursor:
                    raise
                # The exchange refused the cursor a killed run saved: list the range again (stored ids are skipped).
                log.warning("%s: the saved trades cursor was refused (%s); listing %d..%d again", t, exc, lo, hi)
                cursor = ""
                state.listing["cursor"] = ""
        state.covered.append((lo, hi))
        state.listing = None
        self.ds.save_trade_state(t, state)


__all__ = ["MAX_CANDLES_PER_REQUEST", "MarketFetcher", "MarketPlan", "MarketProgress"]
