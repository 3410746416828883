"""Record Kalshi WebSocket streams to the kit's recording format: ``python -m kalshikit.record``.

    python -m kalshikit.record --markets T1,T2 | --series S | --all  [--out recordings/] [--env sim|demo|prod]
        [--duration SECONDS] [--channels ticker,trade,market_lifecycle_v2,orderbook_delta] [--depth]
        [--prefix kalshi]
    python -m kalshikit.record --convert SOURCE... --out FILE.parquet

Frames are written exactly as received, with their receive time, by :class:`~kalshikit.recording.writer.
RecordingWriter` (hourly gzip files, flushed every second, header with the subscriptions) through the live
WebSocket client (:class:`~kalshikit.kalshi.ws.KalshiWebSocket`: signed connection, reconnects and resubscribes).
``--series`` finds the series' open markets over REST. ``--depth`` also records the markets' order books
(``orderbook_delta``: a snapshot, then every change), so that replay fills exits against the recorded book rather
than the top of book alone (:mod:`kalshikit.replay.depth`). Credentials and the environment come from
:class:`~kalshikit.config.Settings` (``KALSHI_*`` variables, ``.env``); on ``sim`` without ``KALSHI_REST_URL`` an
in-process simulator with a synthetic tape is started. SIGINT/SIGTERM stop cleanly (the last frames are flushed).
Bad arguments or credentials exit with code 2 and a message saying what to fix.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from kalshikit.errors import ConfigError, ExchangeError, KalshiKitError

log = logging.getLogger("kalshikit.record")

EXIT_BAD_INPUT = 2
CHANNELS = ("ticker", "trade", "market_lifecycle_v2", "orderbook_delta")
DEFAULT_CHANNELS = "ticker,trade,market_lifecycle_v2"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m kalshikit.record",
        description="Record Kalshi WebSocket frames (as received, with receive times) to hourly gzip JSONL files, "
        "or convert recordings to Parquet with --convert.",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("--markets", help="comma-separated market tickers")
    what.add_argument("--series", help="a series ticker: record its open markets")
    what.add_argument("--all", action="store_true", help="every market (ticker without a market filter)")
    what.add_argument("--convert", nargs="+", metavar="SOURCE", help="convert recordings to Parquet (--out FILE)")
    p.add_argument("--out", type=Path, help="directory for recordings (default recordings/), or the .parquet file")
    p.add_argument("--env", choices=("sim", "demo", "prod"), help="overrides KALSHI_ENV")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--channels", default=DEFAULT_CHANNELS, help=f"comma-separated, from {', '.join(CHANNELS)}")
    p.add_argument(
        "--depth",
        action="store_true",
        help="also record the order books (adds orderbook_delta to --channels): replay then fills exits against "
        "the recorded book, level by level",
    )
    p.add_argument("--prefix", default="kalshi", help="file name prefix (default kalshi)")
    p.add_argument("--env-file", default=".env", help="settings file read under the environment (default .env)")
    p.add_argument("--quiet", action="store_true", help="no status lines")
    return p


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def convert(sources: list[str], out: Path | None) -> int:
    from kalshikit.recording.columnar import to_parquet

    if out is None or out.suffix != ".parquet":
        return _fail("--convert needs --out FILE.parquet")
    for s in sources:
        if not Path(s).exists():
            return _fail(f"source {s!r} does not exist")
    try:
        stats = to_parquet(sources, out)
    except KalshiKitError as exc:
        return _fail(str(exc))
    print(
        f"converted {stats.frames:,} frames ({stats.ticks:,} ticks, {stats.trades:,} trades, "
        f"{stats.lifecycle:,} lifecycle, {stats.book_frames:,} order book) in {stats.seconds:.1f} s -> {out}"
    )
    if stats.problems or stats.malformed:
        print(f"skipped {stats.problems} unreadable line(s) and {stats.malformed} malformed frame(s):")
        for path, line, reason in stats.report.problems[:5]:
            print(f"  {path}:{line}: {reason}")
    return 0


class Recorder:
    """One recording session: settings, (simulator), REST discovery, WebSocket client and writer."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sim: Any = None
        self.ws: Any = None
        self.writer: Any = None
        self.stop_event = threading.Event()

    def setup(self) -> None:
        from kalshikit.cache import PriceCache
        from kalshikit.config import Settings
        from kalshikit.kalshi.auth import KalshiSigner
        from kalshikit.kalshi.rest import KalshiRest
        from kalshikit.kalshi.ws import KalshiWebSocket
        from kalshikit.recording.writer import RecordingWriter

        a = self.args
        channels = [c.strip() for c in a.channels.split(",") if c.strip()]
        if a.depth and "orderbook_delta" not in channels:
            channels.append("orderbook_delta")
        bad = [c for c in channels if c not in CHANNELS]
        if bad or "ticker" not in channels:
            raise ConfigError(f"--channels {a.channels!r}: use ticker plus any of {', '.join(CHANNELS[1:])}")
        if a.all and "orderbook_delta" in channels:
            raise ConfigError(
                "orderbook_delta needs market tickers: use --markets or --series with it (and with --depth), not --all"
            )
        if a.duration is not None and not a.duration > 0:
            raise ConfigError(f"--duration must be a positive number of seconds, got {a.duration}")
        overrides = {"env": a.env} if a.env else {}
        settings = Settings.from_env(env_file=a.env_file, **overrides)
        signer = None
        if settings.env == "sim" and not settings.rest_url:
            from kalshikit.sim import Simulator

            self.sim = Simulator(synthetic={"markets": 6, "rate_hz": 4.0}).start()
            settings = settings.replace(rest_url=self.sim.rest_url, ws_url=self.sim.ws_url)
            signer = self.sim.signer()
            log.info("started an in-process simulator at %s", self.sim.base_url)
        elif settings.has_credentials:
            signer = KalshiSigner.from_settings(settings)
        if not settings.ws_url:
            raise ConfigError("KALSHI_WS_URL is empty: set it (or KALSHI_ENV=demo/prod, or sim without URLs)")
        rest = KalshiRest.from_settings(settings, signer)
        try:
            if signer is not None:
                rest.balance()  # a signed call: wrong keys fail here with a clear message, not in a reconnect loop
            markets = self._markets(rest)
        finally:
            rest.close()
        subs: dict[str, Any] = {"channels": channels, "market_tickers": "all" if a.all else markets}
        if a.series:
            subs["series"] = a.series
        self.writer = RecordingWriter(
            a.out or Path("recordings"),
            prefix=a.prefix,
            env=settings.env,
            subscriptions=subs,
            note="recorded by kalshikit.record"
            + (" from an in-process simulator (synthetic tape)" if self.sim else ""),
            synthetic=self.sim is not None,
        )
        self.ws = KalshiWebSocket(
            settings.ws_url,
            signer,
            cache=PriceCache(settings.websocket_price_cache_stale_secs),
            sink=lambda event: None,
            env_name=settings.env,
            reconnect_delay=min(settings.websocket_reconnect_delay, 1.0),
            max_reconnect_delay=settings.websocket_max_reconnect_delay,
            recorder=self.writer,
            account_channels=("market_lifecycle_v2",) if "market_lifecycle_v2" in channels else (),
            all_markets=a.all,
            extra_channels=[c for c in channels if c == "trade"],
        )
        if markets:
            self.ws.watch(markets, depth="orderbook_delta" in channels)
        self.settings = settings
        self.markets = markets
        self.channels = channels

    def _markets(self, rest: Any) -> list[str]:
        a = self.args
        if a.markets:
            tickers = list(dict.fromkeys(t.strip() for t in a.markets.split(",") if t.strip()))
            if not tickers:
                raise ConfigError("--markets is empty: give comma-separated market tickers")
            known = {m.ticker for m in rest.markets(tickers=tickers)}
            unknown = [t for t in tickers if t not in known]
            if unknown:
                raise ConfigError(f"unknown market ticker(s) {', '.join(unknown)} (check the tickers and --env)")
            return tickers
        if a.series:
            found = rest.markets(series_ticker=a.series, status="open")
            if not found:
                raise ConfigError(f"series {a.series!r} has no open markets (check the series ticker and --env)")
            return sorted(m.ticker for m in found)
        return []

    def run(self) -> None:
        a = self.args
        ws, writer = self.ws, self.writer
        what = "every market" if a.all else f"{len(self.markets)} market(s)"
        print(
            f"recording {what} ({', '.join(self.channels)}) from {self.settings.env} into {writer.directory} "
            f"(Ctrl-C to stop)",
            flush=True,
        )
        started = time.monotonic()
        ws.start()
        last_status = started
        while not self.stop_event.is_set():
            left = None if a.duration is None else a.duration - (time.monotonic() - started)
            if left is not None and left <= 0:
                break
            self.stop_event.wait(0.5 if left is None else min(0.5, left))
            now = time.monotonic()
            if not a.quiet and now - last_status >= 10:
                last_status = now
                m = ws.metrics
                print(
                    f"  {m.state}: {m.frames:,} frames, {m.reconnects} reconnect(s), {writer.current_path}", flush=True
                )

    def close(self) -> None:
        if self.ws is not None:
            self.ws.stop()
        if self.writer is not None:
            self.writer.close()
            files = ", ".join(str(p) for p in self.writer.paths) or "none"
            print(f"recorded {self.writer.frames_written:,} frames into {files}", flush=True)
        if self.sim is not None:
            self.sim.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.convert:
        return convert(args.convert, args.out)
    if not (args.markets or args.series or args.all):
        return _fail("say what to record: --markets T1,T2, --series SERIES or --all (or --convert SOURCES)")
    rec = Recorder(args)
    previous = {}

    def on_signal(signum: int, frame: Any) -> None:
        rec.stop_event.set()

    try:
        try:
            rec.setup()
        except KalshiKitError as exc:
            if isinstance(exc, ExchangeError) and exc.who_acts != "user":
                print(f"error: cannot reach Kalshi: {exc}", file=sys.stderr)
                return 1
            return _fail(str(exc))
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
        rec.run()
        return 0
    finally:
        rec.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
