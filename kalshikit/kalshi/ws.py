"""The WebSocketClient thread: one signed connection to Kalshi, subscriptions kept in sync with held markets.

- Signed handshake (``GET /trade-api/ws/v2``), ``Connected to Kalshi WebSocket (<env>, <url>)`` in the log.
- ``ticker`` only for markets we hold (``watch``/``unwatch``; changes are batched into one ``update_subscription``
  per channel); ``orderbook_delta`` for markets asked for with depth; the account channels ``fill``,
  ``user_orders``, ``market_positions`` and ``market_lifecycle_v2`` once per connection (they carry only our own
  activity and lifecycle news, so a fill in a brand-new market is seen at once).
- On every (re)connect: initial prices of held markets over REST first, then (re)subscribe.
- Reconnects with exponential backoff and jitter between the configured delays; a connection with no frames and
  no pings for ``silence_timeout`` is treated as dead.
- The protocol itself (command ids, sids, ``seq`` per sid, subscription diffs, retries with backoff, subscribing
  again after terminal errors, gap -> snapshot, the order books) is :class:`~kalshikit.kalshi.ws_session.WsSession`,
  a sans-I/O object this thread feeds with decoded frames and the time; it answers with commands to send.
- Decoded ticker quotes go straight to the PriceCache (the hot path does not touch the session), and so do the best
  prices of order books; everything else goes to ``sink``. The raw frame and receive time go to an optional
  recorder first, so a recording holds exactly what arrived.
- For the recorder: ``all_markets=True`` subscribes ``ticker`` for every market (no market filter), and
  ``extra_channels`` (e.g. ``trade``) adds market-data channels for the watched markets (or every market).
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import websocket

from kalshikit.cache import PriceCache
from kalshikit.config import WS_PATH
from kalshikit.core.book import OrderBook
from kalshikit.core.events import FeedStatus, Lifecycle, Quote
from kalshikit.kalshi.auth import KalshiSigner
from kalshikit.kalshi.messages import FrameDecoder, Malformed, Message, Unknown
from kalshikit.kalshi.ws_session import ACCOUNT_CHANNELS, NS_PER_S, WsSession
from kalshikit.kalshi.wsframes import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, FrameReader

log = logging.getLogger("kalshikit.ws")

__all__ = ["ACCOUNT_CHANNELS", "FrameRecorder", "KalshiWebSocket", "WsMetrics", "backoff_delays"]


class FrameRecorder(Protocol):
    def write(self, raw: str | bytes, recv_ns: int) -> None: ...


@dataclass
class WsMetrics:
    """What the dashboard shows about the connection. Written by the WebSocket thread only."""

    state: str = "idle"  # idle | connecting | connected | reconnecting | stopped
    connected_since_ns: int = 0
    reconnects: int = 0
    frames: int = 0
    decode_errors: int = 0
    unknown_frames: int = 0
    seq_gaps: int = 0
    snapshot_requests: int = 0  # get_snapshot commands sent after gaps
    error_replies: int = 0
    resubscribes: int = 0  # subscriptions made again after a terminal error (10, 25)
    subscribe_retries: int = 0  # subscribe/update commands sent again after a refusal or a timeout
    last_frame_ns: int = 0
    last_error: str = ""
    next_retry_ns: int = 0
    frames_per_s: float = 0.0
    last_frame_by_market: dict[str, int] = field(default_factory=dict)
    subscriptions: dict[str, list[str]] = field(default_factory=dict)
    _window: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=12))

    def tick_rate(self, now_ns: int) -> None:
        self._window.append((now_ns, self.frames))
        if len(self._window) >= 2:
            (t0, f0), (t1, f1) = self._window[0], self._window[-1]
            if t1 > t0:
                self.frames_per_s = (f1 - f0) * NS_PER_S / (t1 - t0)

    def snapshot(self, now_ns: int | None = None) -> dict[str, Any]:
        now = time.time_ns() if now_ns is None else now_ns
        uptime = (now - self.connected_since_ns) / NS_PER_S if self.state == "connected" else 0.0
        return {
            "state": self.state,
            "uptime_s": uptime,
            "reconnects": self.reconnects,
            "frames": self.frames,
            "frames_per_s": self.frames_per_s,
            "decode_errors": self.decode_errors,
            "unknown_frames": self.unknown_frames,
            "seq_gaps": self.seq_gaps,
            "snapshot_requests": self.snapshot_requests,
            "error_replies": self.error_replies,
            "resubscribes": self.resubscribes,
            "subscribe_retries": self.subscribe_retries,
            "last_frame_age_s": (now - self.last_frame_ns) / NS_PER_S if self.last_frame_ns else None,
            "last_error": self.last_error,
            "next_retry_in_s": max(0.0, (self.next_retry_ns - now) / NS_PER_S)
            if self.state == "reconnecting"
            else None,
            "market_age_s": {t: (now - ns) / NS_PER_S for t, ns in list(self.last_frame_by_market.items())},
            "subscriptions": {k: list(v) for k, v in list(self.subscriptions.items())},
        }


def backoff_delays(base: float, maximum: float, rng: random.Random | None = None) -> Iterable[float]:
    """Exponential backoff with ±20% jitter, always within [base, maximum]."""
    r = rng or random.Random()
    n = 0
    while True:
        d = min(maximum, base * (2**n)) * (1 + r.uniform(-0.2, 0.2))
        yield min(maximum, max(base, d))
        n = min(n + 1, 30)


class KalshiWebSocket(threading.Thread):
    """See the module docstring. ``start()`` it; ``stop()`` ends it and closes the socket.

    ``subscribe_retry_delay`` / ``max_subscribe_retry_delay``: the backoff (seconds) after a refused, unanswered or
    ended subscription. ``clock_ns``: the time source of this thread and of the protocol session (tests move it).
    """

    def __init__(
        self,
        url: str,
        signer: KalshiSigner | None,
        *,
        cache: PriceCache,
        sink: Callable[[object], None],
        env_name: str = "sim",
        initial_prices: Callable[[list[str]], list[Quote]] | None = None,
        reconnect_delay: float = 5.0,
        max_reconnect_delay: float = 60.0,
        silence_timeout: float = 30.0,
        verbose: bool = False,
        recorder: FrameRecorder | None = None,
        account_channels: Iterable[str] = ACCOUNT_CHANNELS,
        recv_timeout: float = 0.25,
        clock_ns: Callable[[], int] = time.time_ns,
        all_markets: bool = False,
        extra_channels: Iterable[str] = (),
        subscribe_retry_delay: float = 1.0,
        max_subscribe_retry_delay: float = 60.0,
    ) -> None:
        super().__init__(name="WebSocketClient", daemon=True)
        self.url = url
        self.signer = signer
        self.cache = cache
        self.sink = sink
        self.env_name = env_name
        self.initial_prices = initial_prices
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.silence_timeout = silence_timeout
        self.verbose = verbose
        self.recorder = recorder
        self.account_channels = tuple(account_channels)
        # Recorder options. all_markets: ``ticker`` (and the extra channels) for every market, no market filter,
        # subscribed once per connection. extra_channels: more market-data channels (e.g. ``trade``) for the
        # watched markets, or for every market with all_markets.
        self.all_markets = all_markets
        self.extra_channels = tuple(c for c in extra_channels if c not in ("ticker", "orderbook_delta"))
        self.recv_timeout = recv_timeout
        self._clock = clock_ns
        self.metrics = WsMetrics()
        self._protocol = WsSession(
            account_channels=self.account_channels,
            all_markets=all_markets,
            extra_channels=self.extra_channels,
            retry_delay_ns=int(subscribe_retry_delay * NS_PER_S),
            max_retry_delay_ns=int(max_subscribe_retry_delay * NS_PER_S),
        )
        self._seen_revision = -1
        self._seen_error = ""
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._want_ticker: set[str] = set()
        self._want_depth: set[str] = set()
        self._dirty = threading.Event()
        self._ws: websocket.WebSocket | None = None
        self._decoder = FrameDecoder()
        self._connected = threading.Event()

    # ------------------------------------------------------------------ public, any thread
    def watch(self, tickers: Iterable[str], *, depth: bool = False) -> None:
        """Subscribe (in the next batch) to these markets' tickers (and order books when ``depth``)."""
        with self._lock:
            self._want_ticker.update(tickers)
            if depth:
                self._want_depth.update(tickers)
        self._dirty.set()

    def unwatch(self, tickers: Iterable[str]) -> None:
        with self._lock:
            for t in tickers:
                self._want_ticker.discard(t)
                self._want_depth.discard(t)
        self._dirty.set()

    def set_markets(self, tickers: Iterable[str], depth: Iterable[str] = ()) -> None:
        """Make the watched set exactly ``tickers`` (reconciliation)."""
        with self._lock:
            self._want_ticker = set(tickers)
            self._want_depth = set(depth) & self._want_ticker
        self._dirty.set()

    @property
    def watched(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._want_ticker)

    @property
    def books(self) -> dict[str, OrderBook]:
        """Order books of the markets watched with depth. The socket thread owns them: read, never change."""
        return self._protocol.books

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop_event.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.close(timeout=0.5)
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)
        self.metrics.state = "stopped"

    def send_raw(self, text: str) -> None:
        """Send a raw text frame (diagnostics and tests)."""
        ws = self._ws
        if ws is not None:
            ws.send(text)

    # ------------------------------------------------------------------ thread body
    def run(self) -> None:
        delays = iter(backoff_delays(self.reconnect_delay, self.max_reconnect_delay))
        first = True
        while not self._stop_event.is_set():
            self.metrics.state = "connecting" if first else "reconnecting"
            up_since = 0
            try:
                self._connect()
                up_since = self._clock()
                self._serve()
            except Exception as exc:  # any failure of this connection: log it, back off, reconnect
                self.metrics.last_error = f"{type(exc).__name__}: {exc}"[:300]
                if not self._stop_event.is_set():
                    log.warning("WebSocket connection lost (%s)", self.metrics.last_error)
            finally:
                self._teardown()
            if self._stop_event.is_set():
                break
            first = False
            self.metrics.reconnects += 1
            if up_since and self._clock() - up_since > 60 * NS_PER_S:
                delays = iter(backoff_delays(self.reconnect_delay, self.max_reconnect_delay))
            delay = next(delays)
            self.metrics.state = "reconnecting"
            self.metrics.next_retry_ns = self._clock() + int(delay * NS_PER_S)
            log.info("reconnecting to Kalshi WebSocket in %.1f s", delay)
            self._stop_event.wait(delay)
        self.metrics.state = "stopped"

    def _connect(self) -> None:
        headers = self.signer.headers("GET", WS_PATH) if self.signer is not None else {}
        ws = websocket.WebSocket(skip_utf8_validation=True, enable_multithread=True)
        ws.connect(  # type: ignore[no-untyped-call]
            self.url,
            header=[f"{k}: {v}" for k, v in headers.items()],
            timeout=10,
            sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
        )
        ws.settimeout(self.recv_timeout)
        self._ws = ws
        now = self._clock()
        self.metrics.state = "connected"
        self.metrics.connected_since_ns = now
        self.metrics.last_frame_ns = now
        self._protocol.connection_made()
        self._publish()
        log.info("Connected to Kalshi WebSocket (%s, %s)", self.env_name, self.url)
        self.sink(FeedStatus(True, "connected", recv_ns=now))
        self._connected.set()
        with self._lock:
            held = sorted(self._want_ticker)
        self._load_initial_prices(held)  # first: the subscriptions then only bring changes
        self._dirty.set()

    def _teardown(self) -> None:
        ws = self._ws
        self._ws = None
        self._connected.clear()
        self._protocol.connection_lost()
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.close(timeout=0.2)
            self.sink(FeedStatus(False, self.metrics.last_error or "closed", recv_ns=self._clock()))

    def _load_initial_prices(self, tickers: list[str]) -> None:
        if not tickers or self.initial_prices is None:
            return
        try:
            for q in self.initial_prices(tickers):
                self.cache.update(q)
        except Exception as exc:  # REST trouble must not stop the socket; the monitor falls back to REST later
            log.warning("could not load initial prices over REST: %s", exc)

    def _serve(self) -> None:
        """Read frames until the connection fails or ``stop()``; between batches, let the protocol session speak."""
        ws = self._ws
        assert ws is not None
        reader = FrameReader.after_handshake(ws)
        decode = self._decoder.decode
        protocol = self._protocol
        metrics = self.metrics
        recorder = self.recorder
        clock = self._clock
        update = self.cache.update
        by_market = metrics.last_frame_by_market
        last_rate = 0
        now = clock()
        while not self._stop_event.is_set():
            if self._dirty.is_set():
                self._dirty.clear()
                with self._lock:
                    protocol.set_markets(self._want_ticker, self._want_depth)
            protocol.poll(now)
            for text in protocol.data_to_send():
                ws.send(text)
            if protocol.revision != self._seen_revision:
                self._publish()
            try:
                frames = reader.read()
            except TimeoutError:
                now = clock()
                if now - metrics.last_frame_ns > self.silence_timeout * NS_PER_S:
                    raise ConnectionError(f"no frames or pings for {self.silence_timeout:g} s") from None
                if now - last_rate > NS_PER_S:
                    metrics.tick_rate(now)
                    last_rate = now
                continue
            now = clock()
            metrics.last_frame_ns = now
            for opcode, data in frames:
                if opcode in (OP_TEXT, OP_BINARY):
                    metrics.frames += 1
                    if recorder is not None:
                        recorder.write(data, now)
                    msg = decode(data, now)
                    if type(msg) is Quote:
                        by_market[msg.ticker] = now
                        update(msg)
                        if self.verbose:
                            log.info("price %s bid %s ask %s", msg.ticker, _fmt(msg.yes_bid), _fmt(msg.yes_ask))
                    else:
                        self._handle(msg, now)
                elif opcode == OP_PING:
                    ws.pong(data)
                elif opcode == OP_CLOSE:
                    raise ConnectionError("server closed the connection")
                # a pong is proof of life only
            if now - last_rate > NS_PER_S:
                metrics.tick_rate(now)
                last_rate = now

    # ------------------------------------------------------------------ frames other than ticker
    def _handle(self, msg: Message, now: int) -> None:
        if isinstance(msg, Malformed):
            self.metrics.decode_errors += 1
            self.metrics.last_error = f"malformed frame: {msg.error}"[:300]
            log.warning("malformed frame skipped (%s): %.200r", msg.error, msg.raw)
        elif isinstance(msg, Unknown):
            self.metrics.unknown_frames += 1
        out = self._protocol.receive(msg, now)
        if out is None:
            return
        if type(out) is Quote:  # an order book's best prices after a snapshot or delta
            self.metrics.last_frame_by_market[out.ticker] = now
            self.cache.update(out)
            return
        if isinstance(out, Lifecycle):
            self.metrics.last_frame_by_market[out.ticker] = now
        self.sink(out)

    def _publish(self) -> None:
        """Copy the protocol session's counters and subscriptions into the metrics the dashboard reads."""
        protocol = self._protocol
        stats = protocol.stats
        m = self.metrics
        m.seq_gaps = stats.seq_gaps
        m.snapshot_requests = stats.snapshot_requests
        m.error_replies = stats.error_replies
        m.resubscribes = stats.resubscribes
        m.subscribe_retries = stats.subscribe_retries
        if stats.last_error != self._seen_error:
            self._seen_error = stats.last_error
            m.last_error = stats.last_error
        m.subscriptions = protocol.subscriptions
        self._seen_revision = protocol.revision


def _fmt(price: int | None) -> str:
    return "-" if price is None else f"{price / 10_000:.4f}"
