"""Decode + normalise throughput of :class:`kalshikit.kalshi.messages.FrameDecoder` on one core.

Frames are generated deterministically (seeded) to look like what Kalshi sends: compact JSON, ~20 markets, prices
walking tick by tick (sub-penny near 0 and 1 in the current era), sizes, volumes and open interest changing,
exchange timestamps advancing. Three streams are timed separately:

- ``ticker_current``: ``*_dollars`` / ``*_fp`` strings, ``ts_ms`` (the 2026 wire format);
- ``ticker_legacy``: integer cents and integer counts only (the pre-2026 wire format);
- ``orderbook_delta``: current-format book deltas with per-sid ``seq``.

Each frame goes through ``FrameDecoder.decode(raw, recv_ns)``. ``frames_per_s`` passes ``recv_ns`` as a reader or a
recording supplies it (replay's path: decode + normalise only); ``frames_per_s_with_time_ns_per_frame`` also reads
``time.time_ns()`` for every frame, as live ingest does. The best of ``--repeat`` passes is reported (median too).
The decoded output is first checked against the generator's own values, so a fast but wrong decoder cannot pass.
Prints one JSON object.

    python benchmarks/bench_decode.py [--frames 200000] [--repeat 5] [--seed 1]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from kalshikit.core.events import BookDelta, Quote
from kalshikit.kalshi.messages import FrameDecoder

TARGET_FRAMES_PER_S = 500_000
START_MS = 1_778_491_807_027  # 2026-05-11T09:30:07Z


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _dollars(units: int) -> str:
    return f"{units // 10_000}.{units % 10_000:04d}"


def _fp(hundredths: int) -> str:
    sign = "-" if hundredths < 0 else ""
    h = abs(hundredths)
    return f"{sign}{h // 100}.{h % 100:02d}"


@dataclass
class _Market:
    ticker: str
    market_id: str
    bid: int  # price units ($0.0001)
    spread: int
    last: int
    volume: int  # hundredths of a contract
    open_interest: int
    bid_size: int = 0
    ask_size: int = 0
    seq: int = 0
    levels: dict[tuple[str, int], int] = field(default_factory=dict)


def _markets(rng: random.Random, n: int) -> list[_Market]:
    out = []
    for i in range(n):
        strike = 60_000 + 250 * i
        bid = rng.randrange(300, 9_700, 100)
        out.append(
            _Market(
                ticker=f"KXBTCD-26MAY1117-T{strike - 0.01:.2f}",
                market_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                bid=bid,
                spread=100,
                last=bid,
                volume=rng.randrange(0, 5_000_000, 100),
                open_interest=rng.randrange(0, 1_000_000, 100),
            )
        )
    return out


def _tick(rng: random.Random, m: _Market, sub_penny: bool) -> None:
    """Move one market's quote by a tick, as a busy market does between ticker updates."""
    fine = sub_penny and (m.bid < 1_000 or m.bid > 9_000)
    step = 10 if fine else 100
    m.bid = min(max(m.bid + rng.choice((-step, 0, 0, step)), step), 9_900 - step)
    if not fine:
        m.bid -= m.bid % 100
    m.spread = rng.choice((step, step, 2 * step, 3 * step))
    if m.bid + m.spread >= 10_000:
        m.spread = 10_000 - m.bid - (10 if fine else 100)
    if rng.random() < 0.3:  # a trade
        traded = rng.choice((100, 100, 500, 1_000, 2_500, 552, 10_000))
        m.volume += traded
        m.open_interest = max(0, m.open_interest + rng.choice((-traded, traded)))
        m.last = m.bid + rng.choice((0, m.spread))
    m.bid_size = rng.choice((100, 1_000, 5_000, 30_000, 552, 12_345, 500_000))
    m.ask_size = rng.choice((100, 1_000, 5_000, 30_000, 116, 98_765, 250_000))


@dataclass
class _Stream:
    frames: list[str]
    check: Callable[[list[Any]], None]


def _ticker_stream(n: int, n_markets: int, seed: int, era: str) -> _Stream:
    rng = random.Random(seed)
    markets = _markets(rng, n_markets)
    frames: list[str] = []
    expected: list[tuple[str, int, int, int]] = []  # ticker, bid, ask, volume for spot checks
    ts_ms = START_MS
    for _ in range(n):
        m = markets[rng.randrange(n_markets)]
        _tick(rng, m, sub_penny=era == "current")
        ts_ms += rng.choice((1, 3, 7, 20, 55))
        ask = m.bid + m.spread
        if era == "current":
            msg: dict[str, Any] = {
                "market_ticker": m.ticker,
                "price_dollars": _dollars(m.last),
                "yes_bid_dollars": _dollars(m.bid),
                "yes_ask_dollars": _dollars(ask),
                "volume_fp": _fp(m.volume),
                "open_interest_fp": _fp(m.open_interest),
                "dollar_volume": m.volume * m.last // 1_000_000,
                "dollar_open_interest": m.open_interest * m.last // 1_000_000,
                "yes_bid_size_fp": _fp(m.bid_size),
                "yes_ask_size_fp": _fp(m.ask_size),
                "last_trade_size_fp": "1.00",
                "ts": ts_ms // 1000,
                "ts_ms": ts_ms,
                "time": datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat().replace("+00:00", "Z"),
                "market_id": m.market_id,
            }
            expected.append((m.ticker, m.bid, ask, m.volume))
        else:
            msg = {
                "market_id": m.market_id,
                "market_ticker": m.ticker,
                "price": m.last // 100,
                "yes_bid": m.bid // 100,
                "yes_ask": ask // 100,
                "volume": m.volume // 100,
                "open_interest": m.open_interest // 100,
                "dollar_volume": m.volume * m.last // 1_000_000,
                "dollar_open_interest": m.open_interest * m.last // 1_000_000,
                "ts": ts_ms // 1000,
            }
            expected.append((m.ticker, m.bid // 100 * 100, ask // 100 * 100, m.volume // 100 * 100))
        frames.append(_dumps({"type": "ticker", "sid": 1, "msg": msg}))

    def check(out: list[Any]) -> None:
        for q, (ticker, bid, ask, volume) in zip(out, expected, strict=True):
            if not (isinstance(q, Quote) and q.ticker == ticker and q.yes_bid == bid and q.yes_ask == ask):
                raise AssertionError(f"wrong decode: {q!r} expected {(ticker, bid, ask)}")
            if q.volume != volume:
                raise AssertionError(f"wrong volume: {q!r} expected {volume}")

    return _Stream(frames, check)


def _delta_stream(n: int, n_markets: int, seed: int) -> _Stream:
    rng = random.Random(seed + 1)
    markets = _markets(rng, n_markets)
    frames: list[str] = []
    expected: list[tuple[str, str, int, int, int]] = []
    ts_ms = START_MS
    for seq in range(1, n + 1):
        m = markets[rng.randrange(n_markets)]
        _tick(rng, m, sub_penny=True)
        side = rng.choice(("yes", "no"))
        price = m.bid if side == "yes" else 10_000 - m.bid - m.spread
        price += rng.choice((0, 0, -100, -200)) if price > 300 else 0
        key = (side, price)
        resting = m.levels.get(key, 0)
        delta = -rng.randint(1, resting) if resting and rng.random() < 0.45 else rng.choice((100, 552, 5_000, 184))
        m.levels[key] = resting + delta
        ts_ms += rng.choice((1, 2, 5, 11))
        msg = {
            "market_ticker": m.ticker,
            "market_id": m.market_id,
            "price_dollars": _dollars(price),
            "delta_fp": _fp(delta),
            "side": side,
            "ts": datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat().replace("+00:00", "Z"),
            "ts_ms": ts_ms,
        }
        frames.append(_dumps({"type": "orderbook_delta", "sid": 1, "seq": seq, "msg": msg}))
        expected.append((m.ticker, side, price, delta, seq))

    def check(out: list[Any]) -> None:
        for d, (ticker, side, price, delta, seq_) in zip(out, expected, strict=True):
            got = (d.ticker, d.side, d.price, d.delta, d.seq) if isinstance(d, BookDelta) else d
            if got != (ticker, side, price, delta, seq_):
                raise AssertionError(f"wrong decode: {d!r}")

    return _Stream(frames, check)


def _passes(frames: list[str], repeat: int, live_clock: bool) -> list[float]:
    """Seconds per timed pass, each with a fresh decoder. Outputs are discarded here and checked separately."""
    recv = list(range(START_MS * 1_000_000, START_MS * 1_000_000 + len(frames)))
    seconds: list[float] = []
    for _ in range(repeat):
        dec = FrameDecoder()
        decode = dec.decode
        clock = time.time_ns
        gc.collect()
        if live_clock:
            t0 = time.perf_counter_ns()
            for raw in frames:
                decode(raw, clock())
        else:
            t0 = time.perf_counter_ns()
            for raw, ns in zip(frames, recv, strict=True):
                decode(raw, ns)
        seconds.append((time.perf_counter_ns() - t0) / 1e9)
        if dec.malformed or dec.unknown_types:
            raise AssertionError(f"{dec.malformed} malformed, unknown {dict(dec.unknown_types)}")
    return seconds


def _report(stream: _Stream, repeat: int) -> dict[str, Any]:
    dec = FrameDecoder()
    stream.check([dec.decode(raw, i) for i, raw in enumerate(stream.frames)])  # untimed: right answers first
    n = len(stream.frames)
    seconds = _passes(stream.frames, repeat, live_clock=False)
    clocked = _passes(stream.frames, repeat, live_clock=True)
    best = min(seconds)
    return {
        "frames": n,
        "mean_frame_bytes": round(sum(len(f) for f in stream.frames) / n, 1),
        "best_seconds": round(best, 4),
        "frames_per_s": round(n / best),
        "frames_per_s_median": round(n / statistics.median(seconds)),
        "ns_per_frame": round(best * 1e9 / n, 1),
        "frames_per_s_with_time_ns_per_frame": round(n / min(clocked)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200_000, help="frames per stream (default 200000)")
    ap.add_argument("--markets", type=int, default=20, help="markets the frames are spread over (default 20)")
    ap.add_argument("--repeat", type=int, default=5, help="timed passes per stream; the best is reported")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU (Linux); default: no pinning")
    args = ap.parse_args(argv)
    if args.frames < 1 or args.markets < 1 or args.repeat < 1:
        ap.error("--frames, --markets and --repeat must be >= 1")

    # The decode loop is single-threaded: one core either way. Pinning only helps on a quiet machine.
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})

    streams = {
        "ticker_current": _ticker_stream(args.frames, args.markets, args.seed, "current"),
        "ticker_legacy": _ticker_stream(args.frames, args.markets, args.seed, "legacy"),
        "orderbook_delta": _delta_stream(args.frames, args.markets, args.seed),
    }
    results = {name: _report(stream, args.repeat) for name, stream in streams.items()}
    print(
        json.dumps(
            {
                "benchmark": "FrameDecoder.decode (decode + normalise), one core",
                "python": sys.version.split()[0],
                "msgspec": msgspec.__version__,
                "machine": platform.machine(),
                "pinned_cpu": args.cpu,
                "markets": args.markets,
                "repeat": args.repeat,
                "seed": args.seed,
                "results": results,
                "target_frames_per_s": TARGET_FRAMES_PER_S,
                "meets_target": {
                    name: results[name]["frames_per_s"] >= TARGET_FRAMES_PER_S
                    for name in ("ticker_current", "ticker_legacy")
                },
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
