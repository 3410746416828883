"""The same jobs as ``bench_replay.py``'s Parquet replays, on NautilusTrader's BacktestEngine, for comparison.

Runs in an interpreter that has ``nautilus_trader`` (it does not import kalshikit): reads the benchmark's Parquet
ticks with pyarrow, makes one binary-option instrument per market and one QuoteTick per tick, and runs a strategy:

- ``simple``: like the kalshikit job, buys 10 contracts of every market at its first two-sided quote and sells them
  when the bid falls 0.10 below or rises 0.15 above the entry price;
- ``dense``: buys 1 contract at the ask of every quote while flat (re-entry after every exit) and sells at the bid
  when the bid falls ``TRAIL`` below the best bid since the entry (a trailing stop; the entry quote's bid counts).

Prints one JSON object; with ``--exits FILE`` also writes every exit (ticker, ns, price in $0.0001) as JSON lines, so
the caller can check that both engines made the same exits.

    python benchmarks/bench_nautilus.py TICKS.parquet [--job simple|dense] [--repeat N] [--exits FILE]
"""

from __future__ import annotations

import json
import time
from decimal import Decimal

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import AccountType, AssetClass, BookType, OmsType, OrderSide
from nautilus_trader.model.events import PositionOpened
from nautilus_trader.model.identifiers import InstrumentId, Symbol, TraderId, Venue
from nautilus_trader.model.instruments import BinaryOption
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.trading.strategy import Strategy

VENUE = Venue("KALSHI")
STOP = 0.10
TAKE_PROFIT = 0.15
TRAIL = 200  # $0.02 in $0.0001 units (integer comparisons, like the kit)


class StopTakeConfig(StrategyConfig, frozen=True):
    instrument_ids: tuple[str, ...] = ()


class StopTake(Strategy):
    """Buy 10 at the first two-sided quote of each instrument; sell on a 0.10 stop or a 0.15 take-profit (bid)."""

    def __init__(self, config: StopTakeConfig) -> None:
        super().__init__(config)
        self.ids = [InstrumentId.from_str(s) for s in config.instrument_ids]
        self.entry: dict[InstrumentId, float] = {}
        self.done: set[InstrumentId] = set()
        self.exits = 0

    def on_start(self) -> None:
        for iid in self.ids:
            self.subscribe_quote_ticks(iid)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        iid = tick.instrument_id
        if iid in self.done:
            return
        bid = tick.bid_price.as_double()
        entry = self.entry.get(iid)
        if entry is None:
            self.entry[iid] = tick.ask_price.as_double()
            self.submit_order(self.order_factory.market(iid, OrderSide.BUY, Quantity.from_int(10)))
            return
        if bid <= entry - STOP or bid >= entry + TAKE_PROFIT:
            self.submit_order(self.order_factory.market(iid, OrderSide.SELL, Quantity.from_int(10)))
            self.done.add(iid)
            self.exits += 1


class ReEnterTrailConfig(StrategyConfig, frozen=True):
    instrument_ids: tuple[str, ...] = ()


class ReEnterTrail(Strategy):
    """Flat: buy 1 at the ask. Held: sell 1 at the bid once the bid is TRAIL below the best bid since entry."""

    def __init__(self, config: ReEnterTrailConfig) -> None:
        super().__init__(config)
        self.ids = [InstrumentId.from_str(s) for s in config.instrument_ids]
        self.peak: dict[InstrumentId, int] = {}  # held instruments: best bid since entry ($0.0001)
        self.position: dict[InstrumentId, object] = {}  # HEDGING: the position each entry opened
        self.exits: list[tuple[str, int, int]] = []
        self.qty = Quantity.from_int(1)

    def on_start(self) -> None:
        for iid in self.ids:
            self.subscribe_quote_ticks(iid)

    def on_position_opened(self, event: PositionOpened) -> None:
        self.position[event.instrument_id] = event.position_id

    def on_quote_tick(self, tick: QuoteTick) -> None:
        iid = tick.instrument_id
        bid = round(tick.bid_price.as_double() * 10_000)
        peak = self.peak.get(iid)
        if peak is None:
            self.peak[iid] = bid
            self.submit_order(self.order_factory.market(iid, OrderSide.BUY, self.qty))
            return
        if bid > peak:
            self.peak[iid] = bid
        elif bid <= peak - TRAIL:
            del self.peak[iid]
            order = self.order_factory.market(iid, OrderSide.SELL, self.qty)
            self.submit_order(order, position_id=self.position.pop(iid, None))  # type: ignore[arg-type]
            self.exits.append((iid.symbol.value, tick.ts_event, bid))


def main(path: str, job: str = "simple") -> dict[str, object]:
    t0 = time.perf_counter()
    table = pq.read_table(path, columns=["ticker", "recv_ns", "yes_bid", "yes_ask", "yes_bid_size", "yes_ask_size"])
    tickers = table.column("ticker").combine_chunks()
    codes = np.asarray(tickers.indices)
    names = tickers.dictionary.to_pylist()
    col = {c: np.asarray(pc.fill_null(table.column(c), 0)) for c in table.column_names if c != "ticker"}
    engine = BacktestEngine(
        BacktestEngineConfig(trader_id=TraderId("BENCH-001"), logging=LoggingConfig(bypass_logging=True))
    )
    engine.add_venue(
        venue=VENUE,
        # Dense: one position per entry (HEDGING). NETTING reuses one position per instrument and keeps a snapshot
        # of every closed round trip, which made a 1M-tick dense run ten times slower than 200k ticks.
        oms_type=OmsType.HEDGING if job == "dense" else OmsType.NETTING,
        account_type=AccountType.CASH,
        base_currency=USD,
        starting_balances=[Money(10_000_000, USD)],
        book_type=BookType.L1_MBP,
    )
    ids = []
    n = len(codes)
    ordered: list[QuoteTick | None] = [None] * n  # every tick in the tape's (time) order
    for code, name in enumerate(names):
        iid = InstrumentId(Symbol(name), VENUE)
        ids.append(str(iid))
        inst = BinaryOption(
            instrument_id=iid,
            raw_symbol=Symbol(name),
            asset_class=AssetClass.ALTERNATIVE,
            currency=USD,
            price_precision=2,
            size_precision=0,
            price_increment=Price.from_str("0.01"),
            size_increment=Quantity.from_int(1),
            activation_ns=0,
            expiration_ns=int(col["recv_ns"].max()) + 1,
            ts_event=0,
            ts_init=0,
            maker_fee=Decimal(0),
            taker_fee=Decimal(0),
        )
        engine.add_instrument(inst)
        rows = codes == code
        ts = col["recv_ns"][rows].astype(np.uint64)
        ticks = QuoteTick.from_raw_arrays_to_list(
            iid,
            2,
            0,
            col["yes_bid"][rows] / 10_000.0,  # dollars (the wrangler's float arrays)
            col["yes_ask"][rows] / 10_000.0,
            (col["yes_bid_size"][rows] // 100).astype(np.float64),  # whole contracts
            (col["yes_ask_size"][rows] // 100).astype(np.float64),
            ts,
            ts,
        )
        for i, t in zip(np.flatnonzero(rows).tolist(), ticks, strict=True):
            ordered[i] = t
    engine.add_data(ordered, sort=False)
    strategy: StopTake | ReEnterTrail
    if job == "dense":
        strategy = ReEnterTrail(ReEnterTrailConfig(instrument_ids=tuple(ids)))
    else:
        strategy = StopTake(StopTakeConfig(instrument_ids=tuple(ids)))
    engine.add_strategy(strategy)
    t1 = time.perf_counter()
    engine.run()
    t2 = time.perf_counter()
    fills = len(engine.trader.generate_order_fills_report())
    engine.dispose()
    import nautilus_trader

    exits = strategy.exits
    return {
        "engine": f"nautilus_trader {nautilus_trader.__version__} BacktestEngine",
        "job": job,
        "ticks": n,
        "markets": len(names),
        "exits": len(exits) if isinstance(exits, list) else exits,
        "fills": fills,
        "data_build_seconds": round(t1 - t0, 3),
        "run_seconds": round(t2 - t1, 3),
        "seconds": round(t2 - t0, 3),
        "ticks_per_s_run": round(n / (t2 - t1)),
        "ticks_per_s_end_to_end": round(n / (t2 - t0)),
        "_exit_list": exits if isinstance(exits, list) else [],
    }


if __name__ == "__main__":
    import argparse
    import statistics

    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--job", choices=("simple", "dense"), default="simple")
    ap.add_argument("--repeat", type=int, default=1, help="runs; the figures are the median run's")
    ap.add_argument("--exits", help="write the exits of the first run here as JSON lines")
    args = ap.parse_args()
    runs = [main(args.path, args.job) for _ in range(args.repeat)]
    if args.exits:
        with open(args.exits, "w") as f:
            for e in runs[0]["_exit_list"]:  # type: ignore[union-attr]
                f.write(json.dumps(e) + "\n")
    med = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]  # type: ignore[arg-type, return-value]
    out = {k: v for k, v in med.items() if not k.startswith("_")}
    out["runs"] = len(runs)
    out["seconds_all"] = [r["seconds"] for r in runs]
    out["seconds_median"] = statistics.median(r["seconds"] for r in runs)  # type: ignore[misc]
    print(json.dumps(out))
