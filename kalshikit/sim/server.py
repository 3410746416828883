"""The :class:`Simulator`: one aiohttp server (REST under ``/trade-api/v2``, WebSocket at ``/trade-api/ws/v2``) on
one port, the exchange, the tape feed, fault injection, and a thread-safe Python control API.

Run it in-process (``start()`` starts a daemon thread with its own event loop; ``stop()`` ends it; also a context
manager) or in the foreground (``serve_forever()``, used by ``python -m kalshikit.sim``). All exchange state lives
on the simulator's event loop; control calls from other threads are marshalled onto it and wait for the result.

Example::

    with Simulator() as sim:
        sim.add_market("KXDEMO-26DEC31-T50")
        sim.set_quote("KXDEMO-26DEC31-T50", yes_bid=4_500, yes_ask=4_700)   # $0.45 / $0.47
        print(sim.rest_url, sim.ws_url, sim.private_key_path)  # key ids are never printed in full
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from kalshikit.config import REST_PATH, WS_PATH
from kalshikit.core.book import OrderBook
from kalshikit.core.events import Quote, Side
from kalshikit.core.fees import STANDARD_FEES, FeeSchedule
from kalshikit.core.grid import PriceGrid
from kalshikit.kalshi.auth import KalshiSigner, load_private_key_file
from kalshikit.sim.exchange import DEFAULT_ACCOUNT, Exchange
from kalshikit.sim.faults import MALFORMED_FRAME, Faults
from kalshikit.sim.feed import Feed, TapeSource, recording_source, synthetic_source
from kalshikit.sim.keys import DemoKey, KeyRegistry, create_demo_key, demo_key
from kalshikit.sim.model import ONE, Market, PositionRecord, PublicTrade
from kalshikit.sim.ratelimit import RateLimiter, RateLimits
from kalshikit.sim.rest_api import OrderLogEntry, RestApi
from kalshikit.sim.ws_api import WsHub
from kalshikit.units import MONEY_SCALE, NS_PER_S

log = logging.getLogger("kalshikit.sim")
T = TypeVar("T")


def _ints(**values: object) -> None:
    for name, v in values.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise TypeError(f"{name} must be an int (prices in $0.0001 units, counts in 1/100 contract), got {v!r}")


def _levels(levels: Iterable[tuple[int, int]], side: str) -> tuple[tuple[int, int], ...]:
    out = tuple(levels)
    for p, c in out:
        _ints(price=p, count=c)
        if not 0 < p < ONE:
            raise ValueError(f"{side} level price {p} is outside 1..{ONE - 1} price units ($0.0001)")
    return out


class Simulator:
    """A local Kalshi-compatible exchange. See the module docstring for an example.

    Market data comes from ``recordings`` (files/directories of the kit's recording format), a ``synthetic`` tape
    (``True`` or a dict of :func:`kalshikit.sim.feed.synthetic_source` arguments), any ``tape`` source, or only from
    the control API when none is given. ``speed`` scales tape time (0 = as fast as clients read); ``loop`` replays
    the tape at its end; ``tape_waits_for_subscriber`` holds the tape until the first WebSocket subscription.

    Keys: without ``key_id`` a demo RSA key pair is made and its private key written (mode 600) to ``state_dir``
    (a new temp dir by default; an existing demo key in ``state_dir`` is reused); ``key_id`` + ``public_key_pem``
    register your own key instead. More keys:
    :meth:`register_key`, :meth:`create_key`.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        recordings: Sequence[str | os.PathLike[str]] | None = None,
        synthetic: bool | dict[str, Any] = False,
        tape: TapeSource | None = None,
        speed: float = 1.0,
        loop: bool = True,
        key_id: str | None = None,
        public_key_pem: bytes | str | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        balance_dollars: int = 10_000,
        unknown_size: int = 100 * 100,
        heartbeat_s: float = 10.0,
        skew_s: float = 60.0,
        rate_limits: RateLimits | None = None,
        legacy_frames: bool = False,
        ws_buffer_frames: int = 100_000,
        allow_anonymous_ws: bool = False,
        housekeeping_s: float = 0.1,
        fees: FeeSchedule | None = None,
        tape_waits_for_subscriber: bool = False,
        odds: bool = False,
        odds_quota: int = 10_000,
        accept_reused_ids: bool = False,
    ) -> None:
        if (key_id is None) != (public_key_pem is None):
            raise ValueError("give key_id and public_key_pem together (or neither, for a generated demo key)")
        sources = bool(recordings) + (tape is not None) + bool(synthetic)
        if sources > 1:
            raise ValueError("give at most one of recordings, synthetic and tape")
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 = as fast as clients read)")
        self.host = host
        self.port = port
        self.speed = speed
        self.loop_tape = loop
        self.housekeeping_s = housekeeping_s
        self.tape_waits_for_subscriber = tape_waits_for_subscriber
        if recordings:
            paths = [os.fspath(p) for p in recordings]
            for p in paths:
                if not Path(p).exists():
                    raise FileNotFoundError(f"recording {p!r} does not exist")
            self._source: TapeSource | None = recording_source(paths)
        elif synthetic:
            self._source = synthetic_source(**(synthetic if isinstance(synthetic, dict) else {}))
        else:
            self._source = tape
        self.keys = KeyRegistry(skew_s)
        self.demo_key: DemoKey | None = None
        if key_id is not None:
            assert public_key_pem is not None
            self.keys.add(key_id, public_key_pem, DEFAULT_ACCOUNT)
            self.key_id = key_id
            self.private_key_path: Path | None = None
        else:
            self.demo_key = demo_key(state_dir)
            self.keys.add(self.demo_key.key_id, self.demo_key.public_key_pem, DEFAULT_ACCOUNT)
            self.key_id = self.demo_key.key_id
            self.private_key_path = self.demo_key.private_key_path
        self._state_dir = (
            Path(state_dir)
            if state_dir is not None
            else (self.private_key_path.parent if self.private_key_path else None)
        )
        self.odds_enabled = odds
        self.odds_quota = odds_quota
        self.odds: Any = None  # the Odds API stub (kalshikit.sim.odds_stub.OddsApiStub) when odds=True
        self.faults = Faults()
        self.exchange = Exchange(
            default_balance=balance_dollars * MONEY_SCALE,
            unknown_size=unknown_size,
            fees=fees if fees is not None else STANDARD_FEES,
            accept_reused_ids=accept_reused_ids,
        )
        self.hub = WsHub(
            self.exchange,
            self.keys,
            self.faults,
            heartbeat_s=heartbeat_s,
            legacy=legacy_frames,
            buffer_limit=ws_buffer_frames,
            allow_anonymous=allow_anonymous_ws,
        )
        self.exchange.listener = self.hub
        self.limiter = RateLimiter(rate_limits)
        self.feed: Feed | None = None
        self.rest: RestApi | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._startup_error: BaseException | None = None

    # ================================================================== addresses
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return self.base_url + REST_PATH

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{WS_PATH}"

    def kit_env(self) -> dict[str, str]:
        """The environment variables that point a kit at this simulator with its demo key."""
        if self.private_key_path is None:
            raise RuntimeError("the simulator was started with your own key; point the kit at your private key")
        return {
            "KALSHI_ENV": "sim",
            "KALSHI_REST_URL": self.rest_url,
            "KALSHI_WS_URL": self.ws_url,
            "KALSHI_API_KEY_ID": self.key_id,
            "KALSHI_PRIVATE_KEY_PATH": str(self.private_key_path),
        }

    def signer(self) -> KalshiSigner:
        """A signer for the demo key (tests and demos)."""
        if self.private_key_path is None:
            raise RuntimeError("the simulator was started with your own key; sign with your private key")
        return KalshiSigner(self.key_id, load_private_key_file(self.private_key_path))

    # ================================================================== lifecycle
    def start(self, timeout: float = 30.0) -> Simulator:
        """Start in a background daemon thread; returns once the port is bound (``port`` is then the real one)."""
        if self._thread is not None:
            raise RuntimeError("the simulator is already started")
        self._ready.clear()
        self._startup_error = None
        self._thread = threading.Thread(target=self._thread_main, name="kalshikit-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the simulator did not start within {timeout} s")
        if self._startup_error is not None:
            raise RuntimeError(f"the simulator failed to start: {self._startup_error}") from self._startup_error
        if self.odds_enabled:
            self._start_odds()
        return self

    def _start_odds(self) -> None:
        from kalshikit.kalshi.rest import KalshiRest
        from kalshikit.sim.odds_stub import OddsApiStub, rest_provider

        self.odds = OddsApiStub(rest_provider(KalshiRest(self.rest_url, reads_per_second=1000)), quota=self.odds_quota)
        self.odds.start()

    @property
    def odds_url(self) -> str | None:
        """Base URL of the Odds API stub (``.../v4``, for ODDS_API_URL), when started with ``odds=True``."""
        return self.odds.base_url if self.odds is not None else None

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server and its thread (idempotent)."""
        if self.odds is not None:
            self.odds.stop()
            self.odds = None
        loop, thread = self._loop, self._thread
        if loop is not None and self._stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stop.set)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def __enter__(self) -> Simulator:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced to start() when it happens during startup
            if not self._ready.is_set():
                self._startup_error = exc
                self._ready.set()
            else:
                log.exception("simulator crashed")

    def serve_forever(self, on_ready: Callable[[Simulator], None] | None = None) -> None:
        """Run in the current thread until SIGINT/SIGTERM (the CLI)."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await self._main(stop, on_ready)

        asyncio.run(main())

    async def _main(
        self, stop: asyncio.Event | None = None, on_ready: Callable[[Simulator], None] | None = None
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = stop or asyncio.Event()
        self.rest = RestApi(self.exchange, self.keys, self.faults, self.limiter, self._stop)
        app = web.Application(middlewares=[self.rest.middleware], client_max_size=4 << 20)
        self.rest.add_routes(app)
        app.router.add_get(WS_PATH, self.hub.handle)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            await runner.cleanup()
            raise OSError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}; pick another --port") from exc
        self.port = sock.getsockname()[1]
        site = web.SockSite(runner, sock)
        await site.start()
        self.faults.bind(self._run_here, self.hub)
        tasks = [
            asyncio.create_task(self._housekeeping(), name="sim-housekeeping"),
            asyncio.create_task(self._fault_clock(), name="sim-faults"),
        ]
        if self._source is not None:
            self.feed = Feed(
                self.exchange, self._source, speed=self.speed, loop=self.loop_tape, backlog=self.hub.backlog
            )
            if self.tape_waits_for_subscriber:
                self.feed.pause()
                self.hub.on_subscribe = self._first_subscriber
            tasks.append(asyncio.create_task(self.feed.run(), name="sim-feed"))
        self._ready.set()
        if on_ready is not None:
            on_ready(self)
        try:
            await self._stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.hub.close_all()
            await runner.cleanup()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.housekeeping_s)
            try:
                self.exchange.housekeeping()
            except Exception:
                log.exception("housekeeping failed")

    async def _fault_clock(self) -> None:
        """Periodic faults: drop every N s, malformed frame every N s, seq gap every N s, freeze after N s."""
        last: dict[str, float] = {}
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            f = self.faults
            for name, every, action in (
                ("drop", f.drop_every_s, self.hub.drop_all),
                ("malformed", f.malformed_every_s, self._malformed_now),
                ("skip_seq", f.skip_seq_every_s, self._skip_seq_now),
            ):
                if not every:
                    last.pop(name, None)
                    continue
                start = last.setdefault(name, now)
                if now - start >= every:
                    last[name] = now
                    n = action()
                    f.injected[name] = f.injected.get(name, 0) + n
            if f.freeze_after_s:
                n = self.hub.freeze_older_than(f.freeze_after_s)
                if n:
                    f.injected["freeze"] = f.injected.get("freeze", 0) + n

    def _first_subscriber(self) -> None:
        self.hub.on_subscribe = None
        if self.feed is not None:
            self.feed.resume()

    def _malformed_now(self) -> int:
        return self.hub.send_malformed(MALFORMED_FRAME)

    def _skip_seq_now(self) -> int:
        self.faults.skip_seq(1)
        return 0  # counted when a frame consumes it

    # ================================================================== running code on the loop
    def _run_here(self, fn: Callable[[], T]) -> T:
        return self.call(lambda _ex: fn())

    def call(self, fn: Callable[[Exchange], T], timeout: float = 30.0) -> T:
        """Run ``fn(exchange)`` on the simulator's event loop and return its result (or raise its exception)."""
        loop = self._loop
        if loop is None or (self._thread is None and not loop.is_running()):
            raise RuntimeError("the simulator is not running; call start() first")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return fn(self.exchange)
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn(self.exchange))
            except BaseException as exc:
                fut.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return fut.result(timeout)

    # ================================================================== control API: markets
    def add_market(
        self,
        ticker: str,
        *,
        event_ticker: str | None = None,
        title: str | None = None,
        price_level_structure: str = "linear_cent",
        close_in_s: float | None = None,
        close_ns: int | None = None,
        open_ns: int | None = None,
        settlement_timer_seconds: int = 300,
        yes_bid: int | None = None,
        yes_ask: int | None = None,
        yes_bid_size: int | None = None,
        yes_ask_size: int | None = None,
        mve_collection_ticker: str | None = None,
    ) -> None:
        """Create a market (active unless ``open_ns`` is in the future), optionally with a first quote. Its fees are
        its series' (:meth:`add_series`; a new series gets the simulator's default). ``mve_collection_ticker``
        makes it a multivariate combo market (``GET /markets?mve_filter=exclude`` leaves it out)."""
        grid = PriceGrid.named(price_level_structure)
        if close_ns is None and close_in_s is not None:
            close_ns = time.time_ns() + int(close_in_s * NS_PER_S)

        def do(ex: Exchange) -> None:
            ex.add_market(
                ticker,
                event_ticker=event_ticker,
                title=title,
                grid=grid,
                open_ns=open_ns,
                close_ns=close_ns,
                settlement_timer_seconds=settlement_timer_seconds,
                from_tape=True,
                mve_collection_ticker=mve_collection_ticker,
            )
            if yes_bid is not None or yes_ask is not None:
                ex.apply_quote(Quote(ticker, yes_bid, yes_ask, yes_bid_size, yes_ask_size, source="sim"))

        self.call(do)

    def add_series(
        self,
        series_ticker: str,
        fee_type: str = "quadratic",
        fee_multiplier: float | int | str = 1,
        *,
        flat_ppm: int | None = None,
        title: str | None = None,
        category: str | None = None,
        tags: Iterable[str] | None = None,
    ) -> FeeSchedule:
        """Create or update a series with Kalshi's fee fields (``fee_multiplier`` parsed exactly: ``0.5``/``"0.5"``).
        ``GET /series/{series_ticker}`` serves them and every fill in the series' markets pays that schedule.
        ``flat_ppm``: the per-contract fee of a ``flat`` series. Returns the schedule."""
        fees = FeeSchedule.from_wire(fee_type, fee_multiplier, flat_ppm=flat_ppm)
        self.call(lambda ex: ex.add_series(series_ticker, fees=fees, title=title, category=category, tags=tags))
        return fees

    def series_fees(self, series_ticker: str) -> FeeSchedule:
        """The fee schedule of a series (404-style SimError when it does not exist)."""
        return self.call(lambda ex: ex.series_of(series_ticker).fees)

    def set_quote(
        self,
        ticker: str,
        yes_bid: int | None,
        yes_ask: int | None,
        yes_bid_size: int | None = None,
        yes_ask_size: int | None = None,
        *,
        last: int | None = None,
        volume: int | None = None,
        open_interest: int | None = None,
    ) -> None:
        """Push a top-of-book quote now (price units $0.0001, sizes 1/100 contract; None = empty side)."""
        _ints(yes_bid=yes_bid, yes_ask=yes_ask, yes_bid_size=yes_bid_size, yes_ask_size=yes_ask_size, last=last)
        _ints(volume=volume, open_interest=open_interest)
        for name, p in (("yes_bid", yes_bid), ("yes_ask", yes_ask), ("last", last)):
            if p is not None and not 0 <= p <= ONE:
                raise ValueError(f"{name}={p} is outside 0..{ONE} price units ($0.0001)")
        q = Quote(ticker, yes_bid, yes_ask, yes_bid_size, yes_ask_size, last, volume, open_interest, source="sim")
        self.call(lambda ex: ex.apply_quote(q))

    def set_book(self, ticker: str, yes: Iterable[tuple[int, int]], no: Iterable[tuple[int, int]]) -> None:
        """Replace a market's depth: bids per side as ``(price, count)`` (a NO bid at p is a YES ask at 1 − p)."""
        ys, ns = _levels(yes, "yes"), _levels(no, "no")
        self.call(lambda ex: ex.set_book(ticker, ys, ns))

    def add_trade(self, ticker: str, yes_price: int, count: int, taker_side: Side | None = None) -> PublicTrade:
        """A public trade on the tape now (it fills resting orders it trades through)."""
        return self.call(lambda ex: ex.apply_trade(ticker, yes_price, count, taker_side))

    def book(self, ticker: str) -> OrderBook:
        """A copy of the market's visible book (tape liquidity plus resting orders)."""

        def do(ex: Exchange) -> OrderBook:
            m = ex.market(ticker)
            b = OrderBook(ticker)
            b.yes, b.no = m.visible("yes"), m.visible("no")
            return b

        return self.call(do)

    def pause_market(self, ticker: str) -> None:
        self.call(lambda ex: ex.pause_market(ticker))

    def resume_market(self, ticker: str) -> None:
        self.call(lambda ex: ex.resume_market(ticker))

    def close_market(self, ticker: str) -> None:
        self.call(lambda ex: ex.close_market(ticker))

    def determine_market(self, ticker: str, result: str, settlement_value: int | None = None) -> None:
        self.call(lambda ex: ex.determine_market(ticker, result, settlement_value))

    def settle_market(self, ticker: str, result: str | None = None, settlement_value: int | None = None) -> None:
        """Pay out positions; ``result`` determines the market first when it is not determined yet."""
        self.call(lambda ex: ex.settle_market(ticker, result, settlement_value))

    def market_status(self, ticker: str) -> str:
        return self.call(lambda ex: ex.market(ticker).status)

    def set_exchange_status(self, *, exchange_active: bool | None = None, trading_active: bool | None = None) -> None:
        def do(ex: Exchange) -> None:
            if exchange_active is not None:
                ex.exchange_active = exchange_active
            if trading_active is not None:
                ex.trading_active = trading_active

        self.call(do)

    # ================================================================== control API: accounts
    def seed_position(self, ticker: str, count: int, price: int, account: str = DEFAULT_ACCOUNT) -> None:
        """Give an account a position: ``count`` > 0 YES / < 0 NO (1/100 contract) bought at own-side ``price``."""
        self.call(lambda ex: ex.seed_position(account, ticker, count, price))

    def open_position(
        self, contracts: float = 10, side: Side = "yes", *, account: str = DEFAULT_ACCOUNT, timeout: float = 30.0
    ) -> str:
        """Give ``account`` ``contracts`` of ``side`` bought at that side's current ask, as if bought on the website,
        in the first active market whose YES bid is within $0.15..$0.85 (waiting up to ``timeout`` seconds for the
        tape to quote one: books are empty right after start). Returns the market's ticker. The kit adopts it at
        its next reconciliation (``kit.reconcile_now(wait=True)``). :meth:`seed_position` sets any price."""
        count = round(contracts * 100)
        if count <= 0 or side not in ("yes", "no"):
            raise ValueError(f"open_position needs contracts > 0 and side yes|no, got {contracts!r}, {side!r}")
        deadline = time.monotonic() + timeout
        while True:
            for ticker in self.markets():
                book = self.book(ticker)
                bid, ask = book.yes_bid, book.yes_ask
                if bid is None or ask is None or not 1500 <= bid <= 8500 or self.market_status(ticker) != "active":
                    continue
                price = ask if side == "yes" else ONE - bid
                self.seed_position(ticker, count if side == "yes" else -count, price, account)
                return ticker
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no active market with a two-sided book within {timeout:g} s to open a position in")
            time.sleep(0.05)

    def set_balance(
        self, dollars: int | None = None, *, money: int | None = None, account: str = DEFAULT_ACCOUNT
    ) -> None:
        """Set an account's cash, in whole dollars or micro-dollars (``money``)."""
        if (dollars is None) == (money is None):
            raise ValueError("give dollars or money")
        amount = money if money is not None else (dollars or 0) * MONEY_SCALE
        self.call(lambda ex: ex.account(account, amount))

    def balance(self, account: str = DEFAULT_ACCOUNT) -> int:
        """Available balance in micro-dollars."""
        return self.call(lambda ex: ex.account(account).available)

    def position(self, ticker: str, account: str = DEFAULT_ACCOUNT) -> PositionRecord | None:
        return self.call(lambda ex: ex.account(account).positions.get(ticker))

    def register_key(self, key_id: str, public_key_pem: bytes | str, account: str = DEFAULT_ACCOUNT) -> None:
        """Accept another key; requests signed with it act on ``account`` (made with the default balance if new)."""
        self.keys.add(key_id, public_key_pem, account)
        if self._loop is not None:
            self.call(lambda ex: ex.account(account))

    def create_key(self, account: str = DEFAULT_ACCOUNT, algorithm: str = "rsa") -> DemoKey:
        """Generate and register a key pair (``rsa`` or ``ed25519``) for ``account``; the private key file goes next
        to the demo key (or into a new temp dir)."""
        key = create_demo_key(self._state_dir, algorithm)
        self.register_key(key.key_id, key.public_key_pem, account)
        return key

    # ================================================================== control API: tape and observation
    def pause_tape(self) -> None:
        if self.feed is not None:
            self.call(lambda _ex: self.feed.pause())  # type: ignore[union-attr]

    def resume_tape(self) -> None:
        if self.feed is not None:
            self.call(lambda _ex: self.feed.resume())  # type: ignore[union-attr]

    def tape_stats(self) -> dict[str, int | bool]:
        feed = self.feed
        if feed is None:
            return {"frames": 0, "passes": 0, "skipped": 0, "errors": 0, "finished": True, "paused": False}
        return self.call(
            lambda _ex: {
                "frames": feed.frames,
                "passes": feed.passes,
                "skipped": feed.skipped,
                "errors": feed.errors,
                "finished": feed.finished.is_set(),
                "paused": feed.paused,
            }
        )

    def set_order_hook(self, hook: Callable[[OrderLogEntry, str], None] | None) -> None:
        """Call ``hook(entry, phase)`` on the simulator's loop when an order create arrives (``"received"``, before it
        executes) and when it has executed (``"executed"``, before the reply goes out); None removes it. Crash tests
        use it to kill a client at exactly those moments. ``entry.held_before`` is the position at arrival."""
        if self.rest is None:
            raise RuntimeError("start the simulator first")
        self.rest.order_hook = hook

    def order_log(self) -> list[OrderLogEntry]:
        """Order-write requests received so far, oldest first, with receive times (perf_counter_ns, time_ns)."""
        return self.call(lambda _ex: list(self.rest.order_log) if self.rest else [])

    def last_ticker_sent(self, ticker: str, before_perf_ns: int | None = None) -> tuple[int, int] | None:
        """``(perf_counter_ns, time_ns)`` when the last ``ticker`` frame for ``ticker`` was written to a socket.

        With ``before_perf_ns``: the last one written at or before that time, e.g. the tick an exit order
        (:meth:`order_log` ``recv_perf_ns``) reacted to, so that ``recv_perf_ns - sent[0]`` is tick-to-exit latency.
        """

        def find(_ex: Exchange) -> tuple[int, int] | None:
            times = self.hub.ticker_sent.get(ticker)
            if not times:
                return None
            if before_perf_ns is None:
                return times[-1]
            return next((t for t in reversed(times) if t[0] <= before_perf_ns), None)

        return self.call(find)

    def ticker_send_times(self, ticker: str) -> list[tuple[int, int]]:
        """The recent ticker-frame send times of a market (up to 1024), oldest first."""
        return self.call(lambda _ex: list(self.hub.ticker_sent.get(ticker, ())))

    def markets(self) -> list[str]:
        return self.call(lambda ex: list(ex.markets))

    def market(self, ticker: str) -> Market:
        """The live market object (read it only through :meth:`call` if the tape is running)."""
        return self.call(lambda ex: ex.market(ticker))

    def ws_connections(self) -> int:
        return self.call(lambda _ex: len(self.hub.conns))
