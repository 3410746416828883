"""Download Kalshi market history into a Parquet dataset: ``python -m kalshikit.history``.

    python -m kalshikit.history (--series S | --event E | --tickers T1,T2) [--start DATE] [--end DATE] --out DIR
        [--env sim|demo|prod] [--env-file .env] [--rate REQUESTS_PER_S] [--no-trades] [--page-size N] [--no-progress]
    python -m kalshikit.history --out DIR      # continue the download that is in DIR

Markets of every status are included (settled ones with their results); their 1-minute candlesticks and trade
prints go into DIR (see :mod:`kalshikit.history.dataset`). Running the same command again skips what is complete
and continues where it stopped, even after ``kill -9``. Exit codes: 0 done; 2 bad arguments, settings or
credentials (the message says what to fix); 1 stopped by the exchange or the network after the client's retries,
130 interrupted (both: what is stored stays, run the same command again to continue).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from kalshikit.errors import ExchangeError, KalshiKitError

EXIT_BAD_INPUT = 2
EXIT_STOPPED = 1
EXIT_INTERRUPTED = 130


def _rate(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of requests per second") from None
    if not 0 < v < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number of requests per second (e.g. 10)")
    return v


def _page_size(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= v <= 1000:
        raise argparse.ArgumentTypeError(f"{text} must be 1..1000 (Kalshi's page limit)")
    return v


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m kalshikit.history",
        description="Download a series', an event's or some markets' history (settled markets with results, "
        "1-minute candlesticks with bid/ask OHLC, trade prints) into a Parquet dataset; resumable.",
    )
    p.add_argument("--series", help="a series ticker (e.g. KXNBAGAME); with --event/--tickers: their series")
    p.add_argument("--event", help="an event ticker: its markets")
    p.add_argument("--tickers", help="comma-separated market tickers")
    p.add_argument("--start", help="from this date/time, UTC (YYYY-MM-DD or ISO; default: each market's open)")
    p.add_argument("--end", help="up to this date/time, inclusive (default: each market's close, or now)")
    p.add_argument("--out", type=Path, required=True, help="the dataset folder (new, empty, or a download to continue)")
    p.add_argument("--env", choices=("sim", "demo", "prod"), help="overrides KALSHI_ENV")
    p.add_argument("--env-file", default=".env", help="settings file read under the environment (default .env)")
    p.add_argument("--rate", type=_rate, help="requests per second (default KALSHI_READS_PER_SECOND, 20)")
    p.add_argument("--no-trades", dest="trades", action="store_false", help="candlesticks only, no trade prints")
    p.add_argument("--page-size", type=_page_size, default=1000, help="trades per page, 1..1000 (default 1000)")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None, help="no progress bar")
    return p


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from kalshikit.history.downloader import download

    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    again = f"what is stored in {args.out} stays; run the same command again to continue"
    try:
        report = download(
            args.out,
            series=args.series,
            event=args.event,
            tickers=args.tickers,
            start=args.start,
            end=args.end,
            env=args.env,
            env_file=args.env_file,
            trades=args.trades,
            rate=args.rate,
            page_size=args.page_size,
            progress=args.progress,
        )
    except KeyboardInterrupt:
        return _fail(f"interrupted; {again}", EXIT_INTERRUPTED)
    except KalshiKitError as exc:
        if isinstance(exc, ExchangeError) and exc.who_acts != "user":
            return _fail(f"stopped: {exc}; {again}", EXIT_STOPPED)
        return _fail(str(exc))
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
