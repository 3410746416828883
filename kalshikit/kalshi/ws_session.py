"""Kalshi's WebSocket protocol as a sans-I/O session: decoded messages in, command frames out, time as an argument.

The session owns everything the protocol needs to stay correct on one connection, and nothing else: no socket, no
thread, no clock, no sleep (the style of h11, wsproto and the sans-I/O core of ``websockets``). The thread that owns
the socket (:class:`kalshikit.kalshi.ws.KalshiWebSocket`) drives it::

    session.connection_made()              # a new connection: every sid, seq, book and pending command is gone
    session.set_markets(tickers, depth)     # what we want to watch (any time)
    session.poll(now)                       # time-driven work: subscription diffs, retries, timeouts
    out = session.receive(message, now)     # a decoded frame; returns a Quote (from a book), an event, or None
    for text in session.data_to_send(): socket.send(text)

What it does:

- **Command ids** unique for the life of the session; one ``subscribe`` per channel; the wanted market sets are
  kept with ``update_subscription`` ``add_markets`` / ``delete_markets`` (one command per channel in flight), or
  ``unsubscribe`` when a channel is no longer wanted. Account channels and ``all_markets`` channels carry no market
  filter.
- **Seq per sid**: every sequenced frame counts, including ``ok`` replies and types the kit does not decode (their
  ``sid``/``seq`` are read from the raw frame). Kalshi's real traffic interleaves the ``ok`` to an ``add_markets``
  with the order book frames, so not counting it looks like a gap. Channels whose data carries no seq (``ticker``,
  ``fill``, ``market_positions``, ``user_orders``) are not checked. An ``unsubscribed`` ends its sid, so its seq
  has nothing left to guard.
- **Gap -> snapshot**: a gap on an ``orderbook_delta`` sid invalidates that sid's books only and asks for
  ``get_snapshot`` of its markets; deltas for an invalid book are dropped until its snapshot arrives; a snapshot
  that does not come within ``snapshot_timeout_ns`` is asked for again. A gap on another channel is counted (there
  is nothing to rebuild).
- **Errors**: a refused ``subscribe``/``update_subscription`` (26 market limit, 27 too many requests, ...) or one
  that gets no reply within ``command_timeout_ns`` is retried with exponential backoff (``retry_delay_ns`` doubling
  to ``max_retry_delay_ns``, ±20% jitter), never in a loop; a terminal error (10 channel error, 25 buffer overflow)
  ends the subscription and it is made again, with the same backoff. The backoff of a channel starts over once it
  has gone ``2 * max_retry_delay_ns`` without a failure.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import msgspec

from kalshikit.core.book import OrderBook
from kalshikit.core.events import BookDelta, BookSnapshot, Lifecycle, Quote, Trade
from kalshikit.kalshi.messages import ErrorReply, Malformed, Message, Ok, Subscribed, Unknown, Unsubscribed

log = logging.getLogger("kalshikit.ws")

NS_PER_S = 1_000_000_000
ACCOUNT_CHANNELS = ("fill", "user_orders", "market_positions", "market_lifecycle_v2")
# Every channel name in Kalshi's current AsyncAPI description.
KALSHI_CHANNELS = frozenset(
    {
        "orderbook_delta",
        "ticker",
        "trade",
        "fill",
        "market_positions",
        "market_lifecycle_v2",
        "multivariate_market_lifecycle",
        "communications",
        "order_group_updates",
        "user_orders",
        "cfbenchmarks_value",
        "cfbenchmarks_value_5hz",
        "pyth_value",
    }
)
# Channels whose data messages carry no seq: nothing on them can go missing unnoticed by a seq check.
UNSEQUENCED_CHANNELS = frozenset({"ticker", "fill", "market_positions", "user_orders"})
MARKET_LIMIT = 26  # "Subscription market limit exceeded"
TOO_MANY_REQUESTS = 27


def backoff_delay_ns(attempt: int, base_ns: int, max_ns: int, rng: random.Random) -> int:
    """Delay before retry number ``attempt`` (0 = first): ``base * 2**attempt`` capped at ``max``, ±20% jitter,
    always within ``[0.8 * nominal, max]``."""
    if base_ns <= 0:
        raise ValueError(f"backoff base must be a positive number of ns, got {base_ns}")
    nominal = min(max_ns, base_ns << min(attempt, 40))
    return min(max_ns, int(nominal * (1 + rng.uniform(-0.2, 0.2))))


@dataclass
class SessionStats:
    """Counters of what the protocol had to deal with (cumulative over reconnects)."""

    seq_gaps: int = 0
    snapshot_requests: int = 0
    error_replies: int = 0
    resubscribes: int = 0  # subscriptions made again after a terminal error (10, 25)
    subscribe_retries: int = 0  # subscribe/update commands sent again after a refusal or a timeout
    commands: int = 0
    last_error: str = ""


class Subscription:
    """One live subscription: channel, sid, the markets it covers (empty: no filter) and its last ``seq``."""

    __slots__ = ("awaiting", "channel", "cmd_id", "last_seq", "markets", "sequenced", "sid")

    def __init__(self, channel: str, sid: int, markets: set[str], cmd_id: int = 0) -> None:
        self.channel = channel
        self.sid = sid
        self.markets = markets
        self.sequenced = channel not in UNSEQUENCED_CHANNELS
        self.last_seq = 0
        self.cmd_id = cmd_id
        self.awaiting: dict[str, int] = {}  # orderbook: market -> when to ask again for the snapshot it waits for

    def __repr__(self) -> str:
        return f"Subscription({self.channel!r}, sid={self.sid}, markets={len(self.markets)}, seq={self.last_seq})"


class _Command:
    """A command waiting for its reply."""

    __slots__ = ("action", "channel", "id", "markets", "sent_ns", "sid")

    def __init__(self, cid: int, channel: str, action: str, markets: frozenset[str], sid: int, sent_ns: int) -> None:
        self.id = cid
        self.channel = channel
        self.action = action  # subscribe | add_markets | delete_markets | get_snapshot
        self.markets = markets
        self.sid = sid
        self.sent_ns = sent_ns


class _Failures:
    __slots__ = ("count", "last_ns", "not_before")

    def __init__(self) -> None:
        self.count = 0
        self.last_ns = 0
        self.not_before = 0


class _SidSeq(msgspec.Struct, gc=False):
    sid: int = 0
    seq: int = 0


_sid_seq = msgspec.json.Decoder(_SidSeq)


class WsSession:
    """See the module docstring. Not thread-safe: the thread that owns the socket owns the session."""

    def __init__(
        self,
        *,
        account_channels: Iterable[str] = ACCOUNT_CHANNELS,
        all_markets: bool = False,
        extra_channels: Iterable[str] = (),
        retry_delay_ns: int = NS_PER_S,
        max_retry_delay_ns: int = 60 * NS_PER_S,
        command_timeout_ns: int = 10 * NS_PER_S,
        snapshot_timeout_ns: int = 10 * NS_PER_S,
        rng: random.Random | None = None,
    ) -> None:
        self.account_channels = tuple(dict.fromkeys(account_channels))
        self.extra_channels = tuple(c for c in dict.fromkeys(extra_channels) if c not in ("ticker", "orderbook_delta"))
        unknown = [c for c in (*self.account_channels, *self.extra_channels) if c not in KALSHI_CHANNELS]
        if unknown:
            raise ValueError(f"unknown Kalshi channel(s) {unknown}; use names from {sorted(KALSHI_CHANNELS)}")
        if retry_delay_ns <= 0:
            raise ValueError(f"retry_delay_ns must be positive, got {retry_delay_ns}")
        if max_retry_delay_ns < retry_delay_ns:
            raise ValueError(f"max_retry_delay_ns ({max_retry_delay_ns}) must be >= retry_delay_ns ({retry_delay_ns})")
        if command_timeout_ns <= 0 or snapshot_timeout_ns <= 0:
            raise ValueError("command_timeout_ns and snapshot_timeout_ns must be positive")
        self.all_markets = all_markets
        self.retry_delay_ns = retry_delay_ns
        self.max_retry_delay_ns = max_retry_delay_ns
        self.command_timeout_ns = command_timeout_ns
        self.snapshot_timeout_ns = snapshot_timeout_ns
        self._rng = rng or random.Random()
        self.books: dict[str, OrderBook] = {}
        self.stats = SessionStats()
        self.revision = 0  # bumped whenever stats or subscriptions change (the driver copies them then)
        self._want_ticker: frozenset[str] = frozenset()
        self._want_depth: frozenset[str] = frozenset()
        self._subs: dict[int, Subscription] = {}
        self._by_channel: dict[str, Subscription] = {}
        self._pending: dict[int, _Command] = {}
        self._busy: dict[str, int] = {}  # channel -> id of its subscribe/add/delete in flight
        self._failures: dict[str, _Failures] = {}
        self._retrying: set[str] = set()  # channels whose last subscribe/update was refused or timed out
        self._resubscribing: set[str] = set()  # channels ended by a terminal error
        self._outbox: list[str] = []
        self._next_id = 1
        self._connected = False
        self._dirty = False
        self._deadline: int | None = None

    # ------------------------------------------------------------------ inputs from the driver
    def set_markets(self, tickers: Iterable[str], depth: Iterable[str] = ()) -> None:
        """Watch exactly ``tickers`` (ticker channel, and the extra channels) and the order books of ``depth``."""
        ticker = frozenset(tickers)
        book = frozenset(depth) & ticker
        if ticker != self._want_ticker or book != self._want_depth:
            self._want_ticker = ticker
            self._want_depth = book
            self._dirty = True

    def connection_made(self) -> None:
        """A new connection is open: forget the old one's sids, seqs, books and commands; subscribe on ``poll``."""
        self._subs.clear()
        self._by_channel.clear()
        self._pending.clear()
        self._busy.clear()
        self._failures.clear()
        self._retrying.clear()
        self._resubscribing.clear()
        self._outbox.clear()
        self.books.clear()
        self._connected = True
        self._dirty = True
        self._deadline = None
        self.revision += 1

    def connection_lost(self) -> None:
        """The connection is gone: nothing more is sent until :meth:`connection_made`."""
        self._connected = False
        self._outbox.clear()

    def receive(self, msg: Message, now_ns: int) -> object | None:
        """Take one decoded frame. Returns the best-price :class:`Quote` of a book that changed, a data event to
        pass on (fill, order update, position, trade, lifecycle, ticker quote), or None (replies, dropped frames)."""
        t = type(msg)
        if t is BookDelta or t is BookSnapshot:
            return self._on_book(msg, now_ns)  # type: ignore[arg-type]
        if t is Ok:
            self._on_ok(msg, now_ns)  # type: ignore[arg-type]
            return None
        if t is Subscribed:
            self._on_subscribed(msg, now_ns)  # type: ignore[arg-type]
            return None
        if t is ErrorReply:
            self._on_error(msg, now_ns)  # type: ignore[arg-type]
            return None
        if t is Unsubscribed:
            self._on_unsubscribed(msg)  # type: ignore[arg-type]
            return None
        if t is Unknown:
            self._on_unknown(msg, now_ns)  # type: ignore[arg-type]
            return None
        if t is Malformed:
            return None  # a lost frame: if it was sequenced, the next frame of its sid shows the gap
        if t is Trade or t is Lifecycle:
            self._check_seq(msg.sid, msg.seq, now_ns)  # type: ignore[union-attr]
        return msg

    def poll(self, now_ns: int) -> None:
        """Do what time or new wishes call for: subscription diffs, retries after backoff, command and snapshot
        timeouts. Cheap when nothing is due; call it on every pass of the socket loop."""
        if not self._connected or (not self._dirty and (self._deadline is None or now_ns < self._deadline)):
            return
        self._dirty = False
        self._expire_commands(now_ns)
        self._ask_again_for_snapshots(now_ns)
        self._sync(now_ns)
        self._deadline = self._earliest_deadline(now_ns)

    # ------------------------------------------------------------------ outputs
    def data_to_send(self) -> list[str]:
        """Command frames (JSON text) to send now, in order; each is returned once."""
        out = self._outbox
        self._outbox = []
        return out

    def next_deadline(self) -> int | None:
        """When :meth:`poll` next has time-driven work (a retry, a timeout), or None."""
        return self._deadline

    @property
    def subscriptions(self) -> dict[str, list[str]]:
        """Confirmed subscriptions: channel -> sorted markets (empty list: every market)."""
        return {ch: sorted(s.markets) for ch, s in self._by_channel.items()}

    @property
    def subscriptions_by_sid(self) -> Mapping[int, Subscription]:
        return MappingProxyType(self._subs)

    # ------------------------------------------------------------------ order books and seq
    def _on_book(self, msg: BookSnapshot | BookDelta, now_ns: int) -> Quote | None:
        sub = self._subs.get(msg.sid)
        if sub is None:
            return None  # a sid we no longer (or never) asked for
        ticker = msg.ticker
        seq = msg.seq
        if seq:
            if seq == sub.last_seq + 1:
                sub.last_seq = seq
            else:
                self._gap(sub, seq, now_ns, keep=ticker if type(msg) is BookSnapshot else None)
        if type(msg) is BookSnapshot:
            book = self.books.get(ticker)
            if book is None:
                book = self.books[ticker] = OrderBook(ticker)
            book.apply_snapshot(msg)
            sub.awaiting.pop(ticker, None)
            sub.markets.add(ticker)
        else:
            book = self.books.get(ticker)
            if book is None:
                return None  # no snapshot yet, or invalidated by a gap: wait for one
            book.apply_delta(msg)  # type: ignore[arg-type]
        return book.quote(recv_ns=now_ns, exchange_ns=msg.exchange_ns)

    def _check_seq(self, sid: int, seq: int, now_ns: int) -> None:
        if not seq:
            return
        sub = self._subs.get(sid)
        if sub is None or not sub.sequenced:
            return
        if seq == sub.last_seq + 1:
            sub.last_seq = seq
        else:
            self._gap(sub, seq, now_ns)

    def _gap(self, sub: Subscription, seq: int, now_ns: int, keep: str | None = None) -> None:
        expected = sub.last_seq + 1
        sub.last_seq = seq
        self.stats.seq_gaps += 1
        self.revision += 1
        if sub.channel != "orderbook_delta":
            log.warning("%s seq gap on sid %d: expected %d, got %d", sub.channel, sub.sid, expected, seq)
            return
        log.warning("orderbook seq gap on sid %d: expected %d, got %d; asking for snapshots", sub.sid, expected, seq)
        targets = sorted(sub.markets - {keep} if keep else sub.markets)
        for t in targets:
            self.books.pop(t, None)
        ask = [t for t in targets if t not in sub.awaiting]
        if ask:
            self._get_snapshot(sub, ask, now_ns)

    def _get_snapshot(self, sub: Subscription, tickers: list[str], now_ns: int) -> None:
        deadline = now_ns + self.snapshot_timeout_ns
        for t in tickers:
            sub.awaiting[t] = deadline
        self.stats.snapshot_requests += 1
        self.revision += 1
        params = {"sid": sub.sid, "action": "get_snapshot", "market_tickers": tickers}
        self._send("update_subscription", params, sub.channel, "get_snapshot", frozenset(tickers), sub.sid, now_ns)
        self._note_deadline(deadline)

    def _ask_again_for_snapshots(self, now_ns: int) -> None:
        for sub in self._subs.values():
            if not sub.awaiting:
                continue
            due = []
            for t, when in list(sub.awaiting.items()):
                if t not in sub.markets:
                    del sub.awaiting[t]
                elif when <= now_ns:
                    due.append(t)
            if due:
                log.warning("no snapshot of %d market(s) on sid %d yet; asking again", len(due), sub.sid)
                self._get_snapshot(sub, sorted(due), now_ns)

    # ------------------------------------------------------------------ replies
    def _on_subscribed(self, msg: Subscribed, now_ns: int) -> None:
        cmd = self._pending.get(msg.id)
        markets: set[str] = set()
        if cmd is not None and cmd.action == "subscribe" and cmd.channel == msg.channel:
            del self._pending[msg.id]
            markets = set(cmd.markets)
            self._busy.pop(cmd.channel, None)
        channel = msg.channel
        old = self._by_channel.get(channel)
        sub = Subscription(channel, msg.sid, markets, msg.id)
        self._subs[msg.sid] = sub
        self._by_channel[channel] = sub
        if old is not None and old.sid != msg.sid:  # a duplicate (a late reply to a timed-out subscribe)
            self._drop(old)
            self._send("unsubscribe", {"sids": [old.sid]}, channel, "unsubscribe", frozenset(), old.sid, now_ns)
        self._retrying.discard(channel)
        if channel in self._resubscribing:
            self._resubscribing.discard(channel)
            self.stats.resubscribes += 1
            log.info("resubscribed to %s (sid %d)", channel, msg.sid)
        self._dirty = True
        self.revision += 1

    def _on_ok(self, msg: Ok, now_ns: int) -> None:
        if msg.sid:
            self._check_seq(msg.sid, msg.seq, now_ns)
        cmd = self._pending.pop(msg.id, None)
        sub = self._subs.get(msg.sid) if msg.sid else None
        if cmd is not None and cmd.action in ("add_markets", "delete_markets"):
            if self._busy.get(cmd.channel) == cmd.id:
                del self._busy[cmd.channel]
            self._retrying.discard(cmd.channel)
            self._dirty = True
            if sub is not None and msg.market_tickers is None:  # skip_ticker_ack: apply the change we asked for
                if cmd.action == "add_markets":
                    sub.markets |= cmd.markets
                else:
                    sub.markets -= cmd.markets
        if sub is not None and msg.market_tickers is not None:
            sub.markets = set(msg.market_tickers)
        self.revision += 1

    def _on_unsubscribed(self, msg: Unsubscribed) -> None:
        sub = self._subs.get(msg.sid)
        if sub is not None:  # the server ended it on its own: subscribe again when still wanted
            self._drop(sub)
            self._dirty = True
            self.revision += 1

    def _on_unknown(self, msg: Unknown, now_ns: int) -> None:
        try:
            head = _sid_seq.decode(msg.raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return
        if head.sid and head.seq:
            self._check_seq(head.sid, head.seq, now_ns)

    def _on_error(self, msg: ErrorReply, now_ns: int) -> None:
        self.stats.error_replies += 1
        self.stats.last_error = f"WebSocket error {msg.code}: {msg.message}"
        self.revision += 1
        cmd = self._pending.pop(msg.id, None) if msg.id else None
        sub = self._subs.get(msg.sid) if msg.sid else None
        if sub is None and msg.terminal and msg.id:
            sub = next((s for s in self._subs.values() if s.cmd_id == msg.id), None)
        if msg.terminal and sub is not None:
            self._drop(sub)
            delay = self._failed(sub.channel, now_ns)
            self._resubscribing.add(sub.channel)
            log.warning(
                "Kalshi ended the %s subscription (sid %d) with error %d (%s); subscribing again in %.1f s",
                sub.channel,
                sub.sid,
                msg.code,
                msg.message,
                delay / NS_PER_S,
            )
            return
        if cmd is None or cmd.action == "unsubscribe":
            log.warning("Kalshi WebSocket error %d (%s) for command %d", msg.code, msg.message, msg.id)
            return
        if cmd.action == "get_snapshot":
            target = self._subs.get(cmd.sid)
            delay = self._failed(f"get_snapshot:{cmd.sid}", now_ns)
            if target is not None:
                for t in cmd.markets:
                    if t in target.awaiting:
                        target.awaiting[t] = now_ns + delay
                self._note_deadline(now_ns + delay)
            log.warning("get_snapshot refused with error %d (%s); asking again in %.1f s", msg.code, msg.message,
                        delay / NS_PER_S)
            return
        if self._busy.get(cmd.channel) == cmd.id:
            del self._busy[cmd.channel]
        delay = self._failed(cmd.channel, now_ns)
        self._retrying.add(cmd.channel)
        what = f"{cmd.action} on {cmd.channel}" + (f" ({len(cmd.markets)} markets)" if cmd.markets else "")
        if msg.code == MARKET_LIMIT:
            self.stats.last_error = f"WebSocket error 26: Kalshi's per-subscription market limit refused {what}"
            log.warning("Kalshi's per-subscription market limit (error 26) refused %s; retrying in %.1f s", what,
                        delay / NS_PER_S)
        else:
            log.warning("%s refused with error %d (%s); retrying in %.1f s", what, msg.code, msg.message,
                        delay / NS_PER_S)

    def _expire_commands(self, now_ns: int) -> None:
        for cmd in [c for c in self._pending.values() if now_ns - c.sent_ns >= self.command_timeout_ns]:
            del self._pending[cmd.id]
            if cmd.action == "get_snapshot":
                continue  # the snapshot timeout asks again
            if self._busy.get(cmd.channel) == cmd.id:
                del self._busy[cmd.channel]
            delay = self._failed(cmd.channel, now_ns)
            self._retrying.add(cmd.channel)
            self.stats.last_error = f"{cmd.action} on {cmd.channel} timed out (no reply in "
            self.stats.last_error += f"{self.command_timeout_ns / NS_PER_S:g} s)"
            log.warning("%s; retrying in %.1f s", self.stats.last_error, delay / NS_PER_S)

    # ------------------------------------------------------------------ subscriptions
    def _desired(self) -> dict[str, frozenset[str] | None]:
        """channel -> wanted markets (None: every market, no filter); channels not listed are not wanted."""
        want: dict[str, frozenset[str] | None] = dict.fromkeys(self.account_channels)
        market_channels = ("ticker", *self.extra_channels)
        if self.all_markets:
            want.update(dict.fromkeys(market_channels))
        elif self._want_ticker:
            want["ticker"] = self._want_ticker
        if self._want_depth:
            want["orderbook_delta"] = self._want_depth
        if not self.all_markets and self._want_ticker:
            for ch in self.extra_channels:
                want[ch] = self._want_ticker
        return want

    def _sync(self, now_ns: int) -> None:
        want = self._desired()
        for channel in [*want, *(c for c in self._by_channel if c not in want)]:
            if channel in self._busy:
                continue  # one command per channel in flight: the reply triggers the next diff
            failures = self._failures.get(channel)
            if failures is not None and failures.not_before > now_ns:
                continue
            markets = want.get(channel, frozenset())
            sub = self._by_channel.get(channel)
            if sub is None:
                if markets is None or markets:
                    self._subscribe(channel, markets, now_ns)
                continue
            if markets is None:
                continue  # every market: nothing to diff
            if not markets:
                self._drop(sub)
                self._send("unsubscribe", {"sids": [sub.sid]}, channel, "unsubscribe", frozenset(), sub.sid, now_ns)
                self.revision += 1
                continue
            add = markets - sub.markets
            if add:
                params: dict[str, Any] = {"sid": sub.sid, "action": "add_markets", "market_tickers": sorted(add)}
                if channel == "ticker":
                    params["send_initial_snapshot"] = True
                self._send_for(channel, "update_subscription", params, "add_markets", add, sub.sid, now_ns)
                continue
            remove = sub.markets - markets
            if remove:
                params = {"sid": sub.sid, "action": "delete_markets", "market_tickers": sorted(remove)}
                self._send_for(channel, "update_subscription", params, "delete_markets", remove, sub.sid, now_ns)
                if channel == "orderbook_delta":
                    for t in remove:
                        self.books.pop(t, None)
                        sub.awaiting.pop(t, None)

    def _subscribe(self, channel: str, markets: frozenset[str] | None, now_ns: int) -> None:
        params: dict[str, Any] = {"channels": [channel]}
        if markets:
            params["market_tickers"] = sorted(markets)
            if channel == "ticker":
                params["send_initial_snapshot"] = True
        self._send_for(channel, "subscribe", params, "subscribe", markets or frozenset(), 0, now_ns)

    def _send_for(
        self, channel: str, cmd: str, params: dict[str, Any], action: str, markets: frozenset[str] | set[str],
        sid: int, now_ns: int,
    ) -> None:
        """Send a subscribe/add/delete for ``channel``; it stays busy until the reply (or a timeout)."""
        if channel in self._retrying:
            self.stats.subscribe_retries += 1
            self.revision += 1
        cid = self._send(cmd, params, channel, action, frozenset(markets), sid, now_ns)
        self._busy[channel] = cid
        self._note_deadline(now_ns + self.command_timeout_ns)

    def _send(
        self, cmd: str, params: dict[str, Any], channel: str, action: str, markets: frozenset[str], sid: int,
        now_ns: int,
    ) -> int:
        cid = self._next_id
        self._next_id += 1
        self._outbox.append(json.dumps({"id": cid, "cmd": cmd, "params": params}, separators=(",", ":")))
        self.stats.commands += 1
        if action != "unsubscribe":
            self._pending[cid] = _Command(cid, channel, action, markets, sid, now_ns)
        return cid

    def _drop(self, sub: Subscription) -> None:
        """Forget a subscription (ended, replaced or unsubscribed) and the books it fed."""
        self._subs.pop(sub.sid, None)
        if self._by_channel.get(sub.channel) is sub:
            del self._by_channel[sub.channel]
        if sub.channel == "orderbook_delta":
            for t in sub.markets:
                self.books.pop(t, None)
        self.revision += 1

    # ------------------------------------------------------------------ backoff
    def _failed(self, key: str, now_ns: int) -> int:
        """Record a failure of ``key`` (a channel) and return the delay before it may be tried again."""
        f = self._failures.get(key)
        if f is None:
            f = self._failures[key] = _Failures()
        elif now_ns - f.last_ns >= 2 * self.max_retry_delay_ns:
            f.count = 0  # it went well for long enough: start over
        delay = backoff_delay_ns(f.count, self.retry_delay_ns, self.max_retry_delay_ns, self._rng)
        f.count += 1
        f.last_ns = now_ns
        f.not_before = now_ns + delay
        self._note_deadline(f.not_before)
        self._dirty = True
        return delay

    def _note_deadline(self, when: int) -> None:
        if self._deadline is None or when < self._deadline:
            self._deadline = when

    def _earliest_deadline(self, now_ns: int) -> int | None:
        times = [c.sent_ns + self.command_timeout_ns for c in self._pending.values()]
        times.extend(f.not_before for f in self._failures.values() if f.not_before > now_ns)
        for sub in self._subs.values():
            times.extend(sub.awaiting.values())
        return min(times) if times else None
