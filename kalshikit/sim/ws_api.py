"""The simulator's WebSocket endpoint ``/trade-api/ws/v2``: signed handshake, commands, channels and fan-out.

Commands (Kalshi's envelope ``{"id", "cmd", "params"}``): ``subscribe`` (one ``subscribed`` per channel with a new
``sid``), ``unsubscribe`` (one ``unsubscribed`` per sid with its ``seq``), ``update_subscription`` (``add_markets``,
``delete_markets``, ``get_snapshot``; ``ok`` with the full ``market_tickers``), ``list_subscriptions`` (``ok`` with an
array) and Kalshi's numeric error replies. As in Kalshi's real traffic, the ``ok`` to an ``update_subscription``
takes the subscription's next ``seq`` and comes before the snapshots of the markets it added.

Channels: ``ticker`` (no seq), ``orderbook_delta`` (``orderbook_snapshot`` then ``orderbook_delta``, ``seq`` per sid
from 1), ``trade``, ``market_lifecycle_v2`` (sequenced), and the private ``fill``, ``market_positions``
(``market_position``), ``user_orders`` (``user_order``). A Ping with payload ``heartbeat`` goes out every
``heartbeat_s``.

Fan-out is cheap: a ticker update is encoded once and only the ``sid`` prefix differs per subscription. Each
connection has its own outbound queue and writer task, so a slow reader never stalls the exchange; a queue over
``buffer_limit`` frames ends that connection's subscriptions with error 25, as Kalshi does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import WSMsgType, web

from kalshikit.kalshi.auth import HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP
from kalshikit.kalshi.messages import WS_ERROR_CODES
from kalshikit.sim import shapes
from kalshikit.sim.exchange import Exchange
from kalshikit.sim.faults import Faults
from kalshikit.sim.keys import AuthFailure, KeyRegistry
from kalshikit.sim.model import Account, FillRecord, Market, Order, PositionRecord, PublicTrade
from kalshikit.sim.wire import decode, encode_str, error_body

log = logging.getLogger("kalshikit.sim.ws")

PUBLIC_CHANNELS = frozenset({"ticker", "trade", "market_lifecycle_v2", "orderbook_delta"})
PRIVATE_CHANNELS = frozenset({"fill", "market_positions", "user_orders"})
# Channels Kalshi knows but the simulator has nothing to send on: subscribing works, no data comes.
SILENT_CHANNELS = frozenset(
    {
        "multivariate_market_lifecycle",
        "communications",
        "order_group_updates",
        "cfbenchmarks_value",
        "cfbenchmarks_value_5hz",
        "pyth_value",
    }
)
CHANNELS = PUBLIC_CHANNELS | PRIVATE_CHANNELS | SILENT_CHANNELS
SEND_HISTORY = 1024  # ticker send times kept per market
MARKET_ACTIONS = frozenset({"add_markets", "delete_markets"})
CHANNEL_ACTIONS: dict[str, frozenset[str]] = {
    "orderbook_delta": MARKET_ACTIONS | {"get_snapshot"},
    "ticker": MARKET_ACTIONS,
    "trade": MARKET_ACTIONS,
    "fill": MARKET_ACTIONS,
    "user_orders": MARKET_ACTIONS,
    "market_positions": MARKET_ACTIONS,
}


class Sub:
    """One subscription: a channel on a connection, optionally limited to some markets."""

    __slots__ = ("channel", "conn", "dead", "prefix", "seq", "sid", "tickers")

    def __init__(self, conn: Conn, sid: int, channel: str, tickers: set[str] | None) -> None:
        self.conn = conn
        self.sid = sid
        self.channel = channel
        self.tickers = tickers  # None = all markets
        self.seq = 0
        self.dead = False  # removed (unsubscribed, overflowed, connection gone): publish loops skip it
        self.prefix = f'{{"type":"ticker","sid":{sid},"msg":'


class Conn:
    """One WebSocket connection: its subscriptions and its outbound queue."""

    __slots__ = (
        "account",
        "frozen",
        "hub",
        "key_id",
        "next_sid",
        "opened",
        "queue",
        "subs",
        "tasks",
        "transport",
        "wake",
        "ws",
    )

    def __init__(self, hub: WsHub, ws: web.WebSocketResponse, account: str | None, key_id: str) -> None:
        self.hub = hub
        self.ws = ws
        self.account = account
        self.key_id = key_id
        self.subs: dict[int, Sub] = {}
        self.next_sid = 1
        self.queue: deque[tuple[str | None, str]] = deque()
        self.wake = asyncio.Event()
        self.frozen = False
        self.opened = time.monotonic()
        self.transport: asyncio.BaseTransport | None = None
        self.tasks: list[asyncio.Task[None]] = []

    def push(self, ticker: str | None, text: str) -> None:
        """Queue one text frame (``ticker`` marks ticker frames, whose send time is recorded)."""
        if self.frozen:
            return
        q = self.queue
        q.append((ticker, text))
        if len(q) > self.hub.buffer_limit:
            self.hub.overflow(self)
            return
        if not self.wake.is_set():
            self.wake.set()

    async def run_writer(self) -> None:
        ws = self.ws
        q = self.queue
        sent = self.hub.ticker_sent
        perf = time.perf_counter_ns
        wall = time.time_ns
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                while q:
                    if self.frozen:
                        q.clear()
                        break
                    ticker, text = q.popleft()
                    await ws.send_str(text)
                    if ticker is not None:
                        times = sent.get(ticker)
                        if times is None:
                            times = sent[ticker] = deque(maxlen=SEND_HISTORY)
                        times.append((perf(), wall()))
        except (ConnectionError, RuntimeError):
            return

    async def run_pinger(self, every_s: float) -> None:
        try:
            while True:
                await asyncio.sleep(every_s)
                if not self.frozen and not self.ws.closed:
                    await self.ws.ping(b"heartbeat")
        except (ConnectionError, RuntimeError):
            return


class WsHub:
    """All connections and subscriptions; the exchange's :class:`~kalshikit.sim.exchange.Listener`."""

    def __init__(
        self,
        exchange: Exchange,
        keys: KeyRegistry,
        faults: Faults,
        *,
        heartbeat_s: float = 10.0,
        legacy: bool = False,
        buffer_limit: int = 100_000,
        allow_anonymous: bool = False,
    ) -> None:
        self.exchange = exchange
        self.keys = keys
        self.faults = faults
        self.heartbeat_s = heartbeat_s
        self.legacy = legacy
        self.buffer_limit = buffer_limit
        self.allow_anonymous = allow_anonymous
        self.conns: set[Conn] = set()
        self._all: dict[str, set[Sub]] = {c: set() for c in CHANNELS}
        self._by_market: dict[str, dict[str, set[Sub]]] = {c: {} for c in CHANNELS}
        self._books: dict[str, tuple[dict[int, int], dict[int, int]]] = {}
        self._last_ticker: dict[str, tuple[Any, ...]] = {}
        # ticker -> (perf_counter_ns, time_ns) of its last SEND_HISTORY ticker frames written to a socket
        self.ticker_sent: dict[str, deque[tuple[int, int]]] = {}
        self.on_subscribe: Callable[[], None] | None = None  # called after every successful subscribe
        self.frames_out = 0

    # ================================================================== connection handling
    async def handle(self, request: web.Request) -> web.StreamResponse:
        has_auth = any(h in request.headers for h in (HEADER_KEY, HEADER_TIMESTAMP, HEADER_SIGNATURE))
        account: str | None = None
        key_id = ""
        if has_auth or not self.allow_anonymous:
            try:
                entry = self.keys.verify_headers("GET", request.path, request.headers)
            except AuthFailure as exc:
                return web.json_response(error_body("unauthorized", str(exc)), status=401)
            account, key_id = entry.account, entry.key_id
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = Conn(self, ws, account, key_id)
        conn.transport = request.transport
        self.conns.add(conn)
        loop = asyncio.get_running_loop()
        conn.tasks.append(loop.create_task(conn.run_writer()))
        if self.heartbeat_s > 0:
            conn.tasks.append(loop.create_task(conn.run_pinger(self.heartbeat_s)))
        try:
            async for msg in ws:
                if conn.frozen:
                    continue
                if msg.type == WSMsgType.TEXT:
                    self.command(conn, msg.data)
                elif msg.type == WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self._error(conn, 0, 1, "binary frames are not supported; send JSON text")
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        finally:
            self._close_conn(conn)
        return ws

    def _close_conn(self, conn: Conn) -> None:
        for sub in list(conn.subs.values()):
            self._remove_sub(sub)
        self.conns.discard(conn)
        for t in conn.tasks:
            t.cancel()
        conn.queue.clear()

    async def close_all(self) -> None:
        for conn in list(self.conns):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.close(code=1001, message=b"simulator shutting down")
            self._close_conn(conn)

    # ================================================================== fault actions (event loop)
    def drop_all(self) -> int:
        n = 0
        for conn in list(self.conns):
            if conn.transport is not None:
                conn.transport.abort()  # type: ignore[attr-defined]
                n += 1
            self._close_conn(conn)
        return n

    def freeze_all(self, frozen: bool) -> int:
        for conn in self.conns:
            conn.frozen = frozen
            if frozen:
                conn.queue.clear()
        return len(self.conns)

    def freeze_older_than(self, seconds: float) -> int:
        now = time.monotonic()
        n = 0
        for conn in self.conns:
            if not conn.frozen and now - conn.opened >= seconds:
                conn.frozen = True
                conn.queue.clear()
                n += 1
        return n

    def send_malformed(self, text: str) -> int:
        n = 0
        for conn in self.conns:
            if not conn.frozen:
                conn.push(None, text)
                n += 1
        return n

    def channel_error(self, channel: str, code: int) -> int:
        """End every subscription to ``channel`` with terminal error ``code`` (naming its sid)."""
        n = 0
        for conn in list(self.conns):
            for sub in [s for s in conn.subs.values() if s.channel == channel]:
                self._remove_sub(sub)
                self._error(conn, 0, code, f"injected fault on {channel}", sub.sid)
                n += 1
        return n

    def backlog(self) -> int:
        """The longest outbound queue (the tape feed slows down to this when it runs as fast as it can)."""
        return max((len(c.queue) for c in self.conns), default=0)

    def overflow(self, conn: Conn) -> None:
        """A connection's queue overflowed: its subscriptions end with error 25 (terminal, resubscribe)."""
        conn.queue.clear()
        for sub in list(conn.subs.values()):
            self._remove_sub(sub)
            conn.queue.append((None, self._error_text(0, 25, sub.sid)))
        if not conn.wake.is_set():
            conn.wake.set()

    # ================================================================== commands
    def command(self, conn: Conn, text: str) -> None:
        try:
            obj = decode(text)
        except Exception:
            self._error(conn, 0, 1, "message is not valid JSON")
            return
        if not isinstance(obj, dict):
            self._error(conn, 0, 1, "message must be a JSON object with id, cmd and params")
            return
        cid = obj.get("id", 0)
        if not isinstance(cid, int) or isinstance(cid, bool):
            cid = 0
        cmd = obj.get("cmd")
        params = obj.get("params")
        if cmd == "subscribe":
            self._subscribe(conn, cid, params)
        elif cmd == "unsubscribe":
            self._unsubscribe(conn, cid, params)
        elif cmd == "update_subscription":
            self._update(conn, cid, params)
        elif cmd == "list_subscriptions":
            subs = [{"channel": s.channel, "sid": s.sid} for s in sorted(conn.subs.values(), key=lambda s: s.sid)]
            self._reply(conn, {"id": cid, "type": "ok", "msg": subs})
        else:
            self._error(
                conn,
                cid,
                5,
                f"unknown command {cmd!r}; use subscribe, unsubscribe, update_subscription or list_subscriptions",
            )

    def _reply(self, conn: Conn, obj: dict[str, Any]) -> None:
        conn.push(None, encode_str(obj))

    @staticmethod
    def _error_text(cid: int, code: int, sid: int = 0, detail: str = "") -> str:
        msg: dict[str, Any] = {"code": code, "msg": WS_ERROR_CODES.get(code, "error")}
        if detail:
            msg["msg"] = f"{msg['msg']}: {detail}"
        obj: dict[str, Any] = {"id": cid, "type": "error", "msg": msg}
        if sid:
            obj["sid"] = sid
        return encode_str(obj)

    def _error(self, conn: Conn, cid: int, code: int, detail: str = "", sid: int = 0) -> None:
        conn.push(None, self._error_text(cid, code, sid, detail))

    @staticmethod
    def _tickers(params: dict[str, Any]) -> tuple[list[str] | None, str]:
        """Market tickers named in params (None when none); second item is an error detail."""
        one = params.get("market_ticker")
        many = params.get("market_tickers")
        if one is not None and many is not None:
            return None, "give market_ticker or market_tickers, not both"
        if one is not None:
            if not isinstance(one, str) or not one:
                return None, "market_ticker must be a non-empty string"
            return [one], ""
        if many is not None:
            if not isinstance(many, list) or not all(isinstance(t, str) and t for t in many):
                return None, "market_tickers must be a list of non-empty strings"
            return list(dict.fromkeys(many)), ""
        return None, ""

    def _subscribe(self, conn: Conn, cid: int, params: Any) -> None:
        if not isinstance(params, dict):
            self._error(conn, cid, 2)
            return
        channels = params.get("channels")
        if not isinstance(channels, list) or not channels:
            self._error(conn, cid, 3, "params.channels must be a non-empty list")
            return
        for ch in channels:
            if ch not in CHANNELS:
                self._error(conn, cid, 8, f"{ch!r}")
                return
        tickers, problem = self._tickers(params)
        if problem:
            self._error(conn, cid, 11, problem)
            return
        if "orderbook_delta" in channels and not tickers:
            self._error(conn, cid, 14, "orderbook_delta needs market_ticker or market_tickers")
            return
        if conn.account is None and any(ch in PRIVATE_CHANNELS or ch == "orderbook_delta" for ch in channels):
            self._error(conn, cid, 9, "this connection was opened without signed headers")
            return
        rejected = self.faults.take_subscribe_rejection(channels)
        if rejected is not None:
            self._error(conn, cid, rejected, "injected fault")
            return
        for ch in dict.fromkeys(channels):
            sid = conn.next_sid
            conn.next_sid += 1
            chosen = None if tickers is None or ch == "market_lifecycle_v2" else set(tickers)
            sub = Sub(conn, sid, ch, chosen)
            self._add_sub(sub)
            self._reply(conn, {"id": cid, "type": "subscribed", "msg": {"channel": ch, "sid": sid}})
            if ch == "orderbook_delta":
                for t in tickers or ():
                    self._send_snapshot(sub, t)
            elif ch == "ticker" and params.get("send_initial_snapshot"):
                wanted = tickers if tickers is not None else list(self.exchange.markets)
                for t in wanted:
                    m = self.exchange.markets.get(t)
                    if m is not None:
                        msg = encode_str(shapes.ticker_msg(m, self.exchange.clock(), self.legacy))
                        conn.push(t, sub.prefix + msg + "}")
        if self.on_subscribe is not None:
            self.on_subscribe()

    def _unsubscribe(self, conn: Conn, cid: int, params: Any) -> None:
        if not isinstance(params, dict):
            self._error(conn, cid, 2)
            return
        sids = params.get("sids")
        if not isinstance(sids, list) or not sids:
            self._error(conn, cid, 4)
            return
        for sid in sids:
            sub = conn.subs.get(sid) if isinstance(sid, int) else None
            if sub is None:
                self._error(conn, cid, 7, f"sid {sid!r}", sid if isinstance(sid, int) else 0)
                continue
            self._remove_sub(sub)
            self._reply(conn, {"id": cid, "sid": sub.sid, "seq": sub.seq, "type": "unsubscribed"})

    def _update(self, conn: Conn, cid: int, params: Any) -> None:
        if not isinstance(params, dict):
            self._error(conn, cid, 2)
            return
        sid = params.get("sid")
        sids = params.get("sids")
        if (sid is None) == (sids is None) or (sids is not None and (not isinstance(sids, list) or len(sids) != 1)):
            self._error(conn, cid, 12, "give sid, or sids with exactly one element")
            return
        if sid is None:
            assert isinstance(sids, list)
            sid = sids[0]
        sub = conn.subs.get(sid) if isinstance(sid, int) else None
        if sub is None:
            self._error(conn, cid, 7, f"sid {sid!r}")
            return
        action = params.get("action")
        if not action:
            self._error(conn, cid, 15, "", sub.sid)
            return
        if action not in CHANNEL_ACTIONS.get(sub.channel, frozenset()):
            self._error(conn, cid, 13, f"{action!r} on channel {sub.channel}", sub.sid)
            return
        tickers, problem = self._tickers(params)
        if problem:
            self._error(conn, cid, 11, problem, sub.sid)
            return
        if action == "get_snapshot":
            for t in tickers if tickers is not None else sorted(sub.tickers or ()):
                self._send_snapshot(sub, t, cid)
            self._ok(sub, cid)
            return
        if not tickers:
            self._error(conn, cid, 14, f"{action} needs market_ticker or market_tickers", sub.sid)
            return
        if sub.tickers is None:
            self._error(conn, cid, 11, "this subscription covers all markets; subscribe again with tickers", sub.sid)
            return
        if action == "add_markets":
            rejected = self.faults.take_subscribe_rejection([sub.channel])
            if rejected is not None:
                self._error(conn, cid, rejected, "injected fault", sub.sid)
                return
        self._remove_sub(sub, keep=True)
        if action == "add_markets":
            new = [t for t in tickers if t not in sub.tickers]
            sub.tickers.update(tickers)
        else:
            new = []
            sub.tickers.difference_update(tickers)
        self._add_sub(sub)
        self._ok(sub, cid)  # Kalshi answers first, then sends the new markets' snapshots
        if sub.channel == "orderbook_delta":
            for t in new:
                self._send_snapshot(sub, t)

    def _ok(self, sub: Sub, cid: int) -> None:
        """The ``ok`` to an ``update_subscription``: it carries the subscription's next ``seq``, as on Kalshi."""
        sub.seq += 1
        msg = encode_str({"market_tickers": sorted(sub.tickers or ())})
        sub.conn.push(None, f'{{"id":{cid},"sid":{sub.sid},"seq":{sub.seq},"type":"ok","msg":{msg}}}')

    # ================================================================== subscription index
    def _add_sub(self, sub: Sub) -> None:
        sub.conn.subs[sub.sid] = sub
        if sub.tickers is None:
            self._all[sub.channel].add(sub)
        else:
            idx = self._by_market[sub.channel]
            for t in sub.tickers:
                idx.setdefault(t, set()).add(sub)

    def _remove_sub(self, sub: Sub, keep: bool = False) -> None:
        if not keep:
            sub.conn.subs.pop(sub.sid, None)
            sub.dead = True
        self._all[sub.channel].discard(sub)
        if sub.tickers is not None:
            idx = self._by_market[sub.channel]
            for t in sub.tickers:
                group = idx.get(t)
                if group is not None:
                    group.discard(sub)
                    if not group:
                        del idx[t]
                        if sub.channel == "orderbook_delta":
                            self._books.pop(t, None)

    def _subs(self, channel: str, ticker: str) -> Iterable[Sub]:
        a = self._all[channel]
        b = self._by_market[channel].get(ticker)
        if b is None:
            return a
        if not a:
            return b
        return a | b

    # ================================================================== sequenced frames
    def _seq_text(self, sub: Sub, type_: str, msg_json: str, cid: int = 0) -> str:
        seq = sub.seq + 1
        if type_.startswith("orderbook") and self.faults.take_seq_skip():
            seq += 1
        sub.seq = seq
        head = f'{{"type":"{type_}","sid":{sub.sid},"seq":{seq},'
        if cid:
            head += f'"id":{cid},'
        return head + '"msg":' + msg_json + "}"

    def _book_of(self, m: Market) -> tuple[dict[int, int], dict[int, int]]:
        book = self._books.get(m.ticker)
        if book is None:
            book = (m.visible("yes"), m.visible("no"))
            self._books[m.ticker] = book
        return book

    def _send_snapshot(self, sub: Sub, ticker: str, cid: int = 0) -> None:
        m = self.exchange.markets.get(ticker)
        if m is None:
            return
        yes, no = self._book_of(m)
        msg = encode_str(shapes.snapshot_msg(m, yes, no, self.legacy))
        sub.conn.push(None, self._seq_text(sub, "orderbook_snapshot", msg, cid))

    def _publish_book(self, m: Market) -> None:
        subs = list(self._subs("orderbook_delta", m.ticker))
        if not subs:
            return
        old = self._books.get(m.ticker)
        new = (m.visible("yes"), m.visible("no"))
        self._books[m.ticker] = new
        if old is None:
            for sub in subs:
                yes, no = new
                sub.conn.push(
                    None,
                    self._seq_text(sub, "orderbook_snapshot", encode_str(shapes.snapshot_msg(m, yes, no, self.legacy))),
                )
            return
        now = self.exchange.clock()
        mono = time.monotonic()
        drop = self.faults.take_delta_drop
        for side, before, after in (("yes", old[0], new[0]), ("no", old[1], new[1])):
            if before == after:
                continue
            for p in sorted(before.keys() | after.keys()):
                d = after.get(p, 0) - before.get(p, 0)
                if d:
                    msg = encode_str(shapes.delta_msg(m, side, p, d, now, self.legacy))
                    for sub in subs:
                        if not sub.dead:
                            text = self._seq_text(sub, "orderbook_delta", msg)
                            if not drop(mono):  # a dropped delta used up its seq but is never sent
                                sub.conn.push(None, text)

    # ================================================================== exchange listener
    def market_changed(self, m: Market, tape_ticker: bool) -> None:
        subs = self._subs("ticker", m.ticker)
        if subs:
            top = m.top()
            fields = (*top, m.last_price, m.volume, m.open_interest, m.last_trade_size)
            if tape_ticker or self._last_ticker.get(m.ticker) != fields:
                self._last_ticker[m.ticker] = fields
                msg = encode_str(shapes.ticker_msg(m, self.exchange.clock(), self.legacy, top))
                t = m.ticker
                tail = msg + "}"
                for sub in tuple(subs):
                    if not sub.dead:
                        sub.conn.push(t, sub.prefix + tail)
        if self._by_market["orderbook_delta"] and m.ticker in self._by_market["orderbook_delta"]:
            self._publish_book(m)

    def trade(self, m: Market, t: PublicTrade) -> None:
        subs = list(self._subs("trade", m.ticker))
        if subs:
            msg = encode_str(shapes.trade_msg(t, self.legacy))
            for sub in subs:
                if not sub.dead:
                    sub.conn.push(None, self._seq_text(sub, "trade", msg))

    def lifecycle(self, m: Market, event_type: str, extra: dict[str, object]) -> None:
        subs = list(self._all["market_lifecycle_v2"])
        if subs:
            msg = encode_str(shapes.lifecycle_msg(m, event_type, extra))
            for sub in subs:
                if not sub.dead:
                    sub.conn.push(None, self._seq_text(sub, "market_lifecycle_v2", msg))

    def _private(self, channel: str, acct: Account, ticker: str, type_: str, msg: dict[str, Any]) -> None:
        subs = [s for s in self._subs(channel, ticker) if s.conn.account == acct.name]
        if subs:
            body = encode_str(msg)
            for sub in subs:
                if not sub.dead:
                    sub.conn.push(None, f'{{"type":"{type_}","sid":{sub.sid},"msg":{body}}}')

    def order_changed(self, acct: Account, o: Order) -> None:
        self._private("user_orders", acct, o.ticker, "user_order", shapes.user_order_msg(o))

    def fill(self, acct: Account, f: FillRecord, m: Market) -> None:
        self._private("fill", acct, f.ticker, "fill", shapes.fill_msg(f))

    def position_changed(self, acct: Account, rec: PositionRecord) -> None:
        self._private("market_positions", acct, rec.ticker, "market_position", shapes.position_msg(acct, rec))
