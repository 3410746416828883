"""Capture the market data a strategy replay needs while a live session runs: every market's ``ticker`` frames and
the ``market_lifecycle_v2`` frames (titles, teams, close times, results) over one WebSocket, into a kit recording.

The live Kit's ``record_dir`` recording holds only the markets it holds (its socket follows nothing else), and the
odds recorder beside it holds the sportsbook answers; a strategy replay also needs the quotes of every market the
strategy *could* have entered, and their lifecycle ``created`` frames (the matching code reads the titles).
:class:`MarketCapture` records them with the kit's own WebSocket client (signed, reconnecting, subscriptions with no
market filter) and :class:`~kalshikit.recording.writer.RecordingWriter` (prefix ``market``)::

    sim = Simulator(synthetic={"sports": True, "markets": 8}, odds=True, tape_waits_for_subscriber=True).start()
    capture = MarketCapture.on_simulator(sim, "session/market").start()   # subscribes first: the tape starts now
    ...run the Kit with simulator=sim, record_dir="session/kit"...
    capture.stop()
    replay_strategy("session/market", strategy, odds="session/kit", gather=...)

A ``created`` frame is sent once, when the market is created: start the capture before the tape (the simulator's
``tape_waits_for_subscriber``) or before the markets open, or the replay will know those markets by ticker only.

Fees: given a REST client (``rest=``; :meth:`MarketCapture.on_simulator` makes one), ``stop()`` reads the series of
every market seen (``GET /series/{series_ticker}``, once per series) and writes their fee fields to
``series.json`` in the capture directory (:func:`kalshikit.replay.fees.write_series_file`); replays of the capture
price each market's fills with its series' schedule from it. Series that could not be read are listed in
:attr:`MarketCapture.series_problems` and priced by the replay's default.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from kalshikit.cache import PriceCache
from kalshikit.core.fees import series_of
from kalshikit.kalshi.auth import KalshiSigner
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.kalshi.series_fees import SeriesFeeCache
from kalshikit.kalshi.ws import KalshiWebSocket
from kalshikit.recording.writer import RecordingWriter
from kalshikit.replay.fees import write_series_file

CHANNELS = ("market_lifecycle_v2", "ticker")


class MarketCapture:
    """Records every market's ticker and lifecycle frames from ``ws_url`` into ``directory`` (see the module
    docstring). ``start()`` returns once both subscriptions are confirmed; ``stop()`` closes the socket and the file."""

    def __init__(
        self,
        ws_url: str,
        signer: KalshiSigner | None,
        directory: str | os.PathLike[str],
        *,
        prefix: str = "market",
        env: str = "sim",
        note: str = "",
        reconnect_delay: float = 0.5,
        silence_timeout: float = 30.0,
        rest: KalshiRest | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.rest = rest
        self.series_path: Path | None = None
        self.series_problems: dict[str, str] = {}
        self._lifecycle_tickers: set[str] = set()
        self.writer = RecordingWriter(
            self.directory,
            prefix=prefix,
            env=env,
            subscriptions={"channels": list(CHANNELS), "market_tickers": "all"},
            note=note or "recorded by kalshikit.replay.capture: ticker and lifecycle frames of every market",
        )
        self.ws = KalshiWebSocket(
            ws_url,
            signer,
            cache=PriceCache(),
            sink=self._sink,
            env_name=env,
            reconnect_delay=reconnect_delay,
            max_reconnect_delay=max(reconnect_delay, 5.0),
            silence_timeout=silence_timeout,
            recorder=self.writer,
            account_channels=("market_lifecycle_v2",),  # first: the created frames come before any quote
            all_markets=True,
        )
        self._lock = threading.Lock()
        self.events = 0

    @classmethod
    def on_simulator(cls, sim: Any, directory: str | os.PathLike[str], **kw: Any) -> MarketCapture:
        """A capture of a :class:`~kalshikit.sim.Simulator` (signed with its demo key; series fees read from its
        REST API)."""
        signer = sim.signer()
        kw.setdefault("rest", KalshiRest(sim.rest_url, signer))
        return cls(sim.ws_url, signer, directory, env="sim", **kw)

    def _sink(self, event: object) -> None:
        ticker = getattr(event, "ticker", None)
        with self._lock:
            self.events += 1
            if isinstance(ticker, str) and ticker:
                self._lifecycle_tickers.add(ticker)

    def write_series(self) -> Path | None:
        """Read the series of every market seen so far and write their fee fields to ``series.json`` (see the module
        docstring). Returns the file, or None without a REST client or a market."""
        if self.rest is None:
            return None
        with self._lock:
            tickers = set(self._lifecycle_tickers)
        tickers |= set(self.ws.cache.snapshot())
        names = sorted({series_of(t) for t in tickers})
        if not names:
            return None
        cache = SeriesFeeCache(self.rest, retry_s=0.0)
        for name in names:
            cache.schedule(name)
        self.series_problems = dict(cache.problems)
        self.series_path = write_series_file(self.directory, cache.series().values())
        return self.series_path

    def start(self, timeout: float = 10.0) -> MarketCapture:
        """Connect and subscribe; returns once the exchange confirmed both channels (raises TimeoutError if not)."""
        self.ws.start()
        deadline = time.monotonic() + timeout
        while set(self.ws.metrics.subscriptions) < set(CHANNELS):
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(
                    f"the market capture did not subscribe within {timeout:g} s "
                    f"(state {self.ws.metrics.state}, {self.ws.metrics.last_error or 'no error'})"
                )
            self.ws.wait_connected(0.05)
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close the socket, flush and close the recording, then write the series fee file. Idempotent."""
        if self.ws.is_alive():
            self.ws.stop(timeout)
        self.writer.close()
        if self.series_path is None:
            self.write_series()

    @property
    def paths(self) -> list[Path]:
        return list(self.writer.paths)

    @property
    def frames(self) -> int:
        return self.writer.frames_written

    def __enter__(self) -> MarketCapture:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"MarketCapture({str(self.directory)!r}, frames={self.frames}, state={self.ws.metrics.state})"


__all__ = ["CHANNELS", "MarketCapture"]
