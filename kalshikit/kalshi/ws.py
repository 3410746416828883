"""The WebSocketClient thread: one signed connection to Kalshi, subscriptions kept in sync with held markets.

- Signed handshake (``GET /trade-api/ws/v2``), ``Connected to Kalshi WebSocket (<env>, <url>)`` in the log.
- ``ticker`` only for markets we hold (``watch``/``unwatch``; changes are batched into one ``update_subscription``
  per channel); ``orderbook_delta`` for markets asked for with depth; the account channels ``fill``,
  ``user_orders``, ``market_positions`` and ``market_lifecycle_v2`` once per connection (they carry only our own
  activity and lifecycle news, so a fill in a brand-new market is seen at once).
- On every (re)connect: initial prices of held markets over REST first, then (re)subscribe.
- Reconnects with exponential backoff and jitter between the configured delays; a connection with no frames and
  no pings for ``silence_timeout`` is treated as dead; an ``orderbook_delta`` seq gap asks for a fresh snapshot.
- Decoded quotes go to the PriceCache; everything else to ``sink``. The raw frame and receive time go to an
  optional recorder first, so a recording holds exactly what arrived.
- For the recorder: ``all_markets=True`` subscribes ``ticker`` for every market (no market filter), and
  ``extra_channels`` (e.g. ``trade``) adds market-data channels for the watched markets (or every market).
"""

from __future__ import annotations

import contextlib
import json
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
from kalshikit.core.events import BookDelta, BookSnapshot, FeedStatus, Lifecycle, Quote
from kalshikit.kalshi.auth import KalshiSigner
from kalshikit.kalshi.messages import ErrorReply, FrameDecoder, Malformed, Ok, Subscribed, Unknown, Unsubscribed
from kalshikit.kalshi.wsframes import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, FrameReader

log = logging.getLogger("kalshikit.ws")

ACCOUNT_CHANNELS = ("fill", "user_orders", "market_positions", "market_lifecycle_v2")
NS_PER_S = 1_000_000_000


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
    error_replies: int = 0
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
            "error_replies": self.error_replies,
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


class _Sub:
    """One live subscription: its sid, channel and the markets it covers."""

    __slots__ = ("channel", "last_seq", "markets", "sid")

    def __init__(self, channel: str, sid: int, markets: set[str]) -> None:
        self.channel = channel
        self.sid = sid
        self.markets = markets
        self.last_seq = 0


class KalshiWebSocket(threading.Thread):
    """See the module docstring. ``start()`` it; ``stop()`` ends it and closes the socket."""

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
        self.books: dict[str, OrderBook] = {}
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._want_ticker: set[str] = set()
        self._want_depth: set[str] = set()
        self._dirty = threading.Event()
        self._ws: websocket.WebSocket | None = None
        self._decoder = FrameDecoder()
        self._subs: dict[int, _Sub] = {}
        self._by_channel: dict[str, _Sub] = {}
        self._pending: dict[int, tuple[str, set[str]]] = {}  # command id -> (channel, markets) for subscribes
        self._next_id = 1
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
                self._session()
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
        ws.connect(
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
        self._subs.clear()
        self._by_channel.clear()
        self._pending.clear()
        self.metrics.subscriptions = {}
        log.info("Connected to Kalshi WebSocket (%s, %s)", self.env_name, self.url)
        self.sink(FeedStatus(True, "connected", recv_ns=now))
        self._connected.set()
        with self._lock:
            held = sorted(self._want_ticker)
        self._load_initial_prices(held)
        for channel in self.account_channels:
            self._subscribe(channel, set())
        if self.all_markets:
            for channel in ("ticker", *self.extra_channels):
                self._subscribe(channel, set())
        self._dirty.set()

    def _teardown(self) -> None:
        ws = self._ws
        self._ws = None
        self._connected.clear()
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

    def _session(self) -> None:
        ws = self._ws
        assert ws is not None
        reader = FrameReader.after_handshake(ws)
        decode = self._decoder.decode
        metrics = self.metrics
        recorder = self.recorder
        clock = self._clock
        update = self.cache.update
        by_market = metrics.last_frame_by_market
        last_rate = 0
        while not self._stop_event.is_set():
            if self._dirty.is_set():
                self._dirty.clear()
                self._sync_subscriptions()
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
    def _handle(self, msg: object, now: int) -> None:
        if isinstance(msg, BookSnapshot | BookDelta):
            self._on_book(msg, now)
        elif isinstance(msg, Subscribed):
            self._on_subscribed(msg)
        elif isinstance(msg, Ok):
            sub = self._subs.get(msg.sid)
            if sub is not None and msg.market_tickers is not None:
                sub.markets = set(msg.market_tickers)
                self._publish_subscriptions()
        elif isinstance(msg, Unsubscribed):
            sub = self._subs.pop(msg.sid, None)
            if sub is not None and self._by_channel.get(sub.channel) is sub:
                del self._by_channel[sub.channel]
            self._publish_subscriptions()
        elif isinstance(msg, ErrorReply):
            self._on_error_reply(msg)
        elif isinstance(msg, Malformed):
            self.metrics.decode_errors += 1
            self.metrics.last_error = f"malformed frame: {msg.error}"[:300]
            log.warning("malformed frame skipped (%s): %.200r", msg.error, msg.raw)
        elif isinstance(msg, Unknown):
            self.metrics.unknown_frames += 1
        else:
            if isinstance(msg, Lifecycle):
                self.metrics.last_frame_by_market[msg.ticker] = now
            self.sink(msg)

    def _on_book(self, msg: BookSnapshot | BookDelta, now: int) -> None:
        sub = self._subs.get(msg.sid)
        if sub is not None and msg.seq:
            expected = sub.last_seq + 1
            if sub.last_seq and msg.seq != expected:
                self.metrics.seq_gaps += 1
                log.warning(
                    "orderbook seq gap on sid %d: expected %d, got %d; asking for a snapshot",
                    sub.sid,
                    expected,
                    msg.seq,
                )
                sub.last_seq = msg.seq
                self._command(
                    "update_subscription",
                    {"sid": sub.sid, "action": "get_snapshot", "market_tickers": sorted(sub.markets)},
                )
                for t in sub.markets:
                    self.books.pop(t, None)  # invalid until the snapshot arrives
                return
            sub.last_seq = msg.seq
        if isinstance(msg, BookSnapshot):
            book = self.books.setdefault(msg.ticker, OrderBook(msg.ticker))
            book.apply_snapshot(msg)
        else:
            book = self.books.get(msg.ticker)
            if book is None:
                return  # no snapshot yet (or invalidated by a gap): wait for one
            book.apply_delta(msg)
        self.metrics.last_frame_by_market[msg.ticker] = now
        self.cache.update(book.quote(recv_ns=now, exchange_ns=msg.exchange_ns))

    def _on_subscribed(self, msg: Subscribed) -> None:
        _, markets = self._pending.pop(msg.id, (msg.channel, set()))
        old = self._by_channel.get(msg.channel)
        sub = _Sub(msg.channel, msg.sid, markets)
        self._subs[msg.sid] = sub
        self._by_channel[msg.channel] = sub
        if old is not None and old.sid != msg.sid:
            self._command("unsubscribe", {"sids": [old.sid]})
        self._publish_subscriptions()

    def _on_error_reply(self, msg: ErrorReply) -> None:
        self.metrics.error_replies += 1
        self.metrics.last_error = f"WebSocket error {msg.code}: {msg.message}"
        log.warning("Kalshi WebSocket error %d (%s) for command %d", msg.code, msg.message, msg.id)
        pending = self._pending.pop(msg.id, None)
        if msg.terminal and msg.sid in self._subs:
            sub = self._subs.pop(msg.sid)
            self._by_channel.pop(sub.channel, None)
            self._dirty.set()  # resubscribe on the next loop
        elif pending is not None:
            self._dirty.set()

    # ------------------------------------------------------------------ subscriptions
    def _command(self, cmd: str, params: dict[str, Any] | None = None) -> int:
        ws = self._ws
        if ws is None:
            return 0
        cid = self._next_id
        self._next_id += 1
        body: dict[str, Any] = {"id": cid, "cmd": cmd}
        if params is not None:
            body["params"] = params
        ws.send(json.dumps(body, separators=(",", ":")))
        return cid

    def _subscribe(self, channel: str, markets: set[str]) -> None:
        params: dict[str, Any] = {"channels": [channel]}
        if markets:
            params["market_tickers"] = sorted(markets)
            if channel == "ticker":
                params["send_initial_snapshot"] = True
        cid = self._command("subscribe", params)
        self._pending[cid] = (channel, set(markets))

    def _sync_subscriptions(self) -> None:
        """Bring ticker / orderbook_delta subscriptions to the wanted market sets, one command per change."""
        with self._lock:
            want = {"ticker": set(self._want_ticker), "orderbook_delta": set(self._want_depth)}
        if self.all_markets:  # ticker and the extra channels cover every market already
            del want["ticker"]
        else:
            for channel in self.extra_channels:
                want[channel] = set(want["ticker"])
        for channel, markets in want.items():
            sub = self._by_channel.get(channel)
            pending = any(ch == channel for ch, _ in self._pending.values())
            if pending:
                self._dirty.set()  # wait for the reply, then sync again
                continue
            if sub is None:
                if markets:
                    self._subscribe(channel, markets)  # ticker: with send_initial_snapshot
                continue
            add = markets - sub.markets
            remove = sub.markets - markets
            if not markets:
                self._command("unsubscribe", {"sids": [sub.sid]})
                del self._by_channel[channel]
                self._subs.pop(sub.sid, None)
                continue
            if add:
                # New markets get a WebSocket snapshot (send_initial_snapshot); a market whose first price is late
                # is read over REST by the monitor's sweep (a market without a price counts as stale).
                params: dict[str, Any] = {"sid": sub.sid, "action": "add_markets", "market_tickers": sorted(add)}
                if channel == "ticker":
                    params["send_initial_snapshot"] = True
                self._command("update_subscription", params)
                sub.markets |= add
            if remove:
                self._command(
                    "update_subscription",
                    {"sid": sub.sid, "action": "delete_markets", "market_tickers": sorted(remove)},
                )
                sub.markets -= remove
                for t in remove:
                    self.books.pop(t, None)
        self._publish_subscriptions()

    def _publish_subscriptions(self) -> None:
        self.metrics.subscriptions = {s.channel: sorted(s.markets) for s in self._subs.values()}

    def send_raw(self, text: str) -> None:
        """Send a raw text frame (diagnostics and tests)."""
        ws = self._ws
        if ws is not None:
            ws.send(text)


def _fmt(price: int | None) -> str:
    return "-" if price is None else f"{price / 10_000:.4f}"
