"""``Kit``: the live engine as one object, for a notebook or a script.

    kit = kalshikit.Kit.from_env()      # KALSHI_ENV etc.; the simulator when there are no credentials
    kit.start()                          # returns at once; four named threads run in the background
    kit.positions(); kit.prices()        # pandas DataFrames
    kit.protect("TICKER", stop=0.10, take_profit=0.15, trailing=0.05)
    kit.stop()

Starting twice, stopping twice and re-running the notebook cell are safe: a new Kit on the same journal stops the
old one first. On ``env=sim`` without a ``KALSHI_REST_URL`` the kit starts its own in-process simulator (with a
demo key), fed from ``recording`` or the synthetic generator.
"""

from __future__ import annotations

import atexit
import logging
import queue
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshikit.cache import PriceCache
from kalshikit.config import Settings
from kalshikit.core.events import Flatten, Protect, Quote, SetPaused, Unprotect
from kalshikit.core.marks import mark_of
from kalshikit.core.monitor import Monitor, MonitorConfig, PositionView
from kalshikit.core.rules import Protection, TriggerSource, crossed_rules, dollars_to_price, protection
from kalshikit.errors import ConfigError, CrossedLevelError, KalshiKitError, RuleError
from kalshikit.kalshi.auth import KalshiSigner
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.kalshi.ws import ACCOUNT_CHANNELS, KalshiWebSocket
from kalshikit.live.executor import OrderExecutor, rest_quotes
from kalshikit.live.monitor_thread import StopLossMonitorThread
from kalshikit.live.strategy_loop import StrategyLoopThread
from kalshikit.live.ui_thread import KitSnapshot, UIUpdateThread
from kalshikit.store import Journal, JournalLock
from kalshikit.strategy.base import NoStrategy, Strategy, StrategyContext

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("kalshikit")
NS_PER_S = 1_000_000_000
_RUNNING: dict[Path, weakref.ref[Kit]] = {}
_RUNNING_LOCK = threading.Lock()
_EMBEDDED_SIM = Path("<kit with its own simulator>")


class Kit:
    """The live engine. See the module docstring."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        strategy: Strategy | None = None,
        default_protection: Protection | None = None,
        recording: str | Path | Iterable[str | Path] | None = None,
        sim_speed: float = 1.0,
        sim_loop: bool = True,
        record_dir: str | Path | None = None,
        journal_path: str | Path | None = None,
        simulator: Any = None,
        sim_options: dict[str, Any] | None = None,
        risk: Any = None,
        gather: Any = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.strategy: Strategy = strategy or NoStrategy()
        self.default_protection = default_protection
        if recording is None:
            self.recordings: list[Path] = []
        elif isinstance(recording, str | Path):
            self.recordings = [Path(recording)]
        else:
            self.recordings = [Path(r) for r in recording]
        self.sim_speed = sim_speed
        self.sim_loop = sim_loop
        self.record_dir = Path(record_dir) if record_dir else None
        self._journal_path = Path(journal_path) if journal_path else None
        self.sim = simulator
        self.sim_options = dict(sim_options or {})
        self._own_sim = False
        self.risk = risk  # RiskLimits or RiskManager; default limits apply as soon as a strategy trades
        self.gather = gather  # GatherConfig: market discovery + sportsbook odds for the strategy
        self.gatherer: Any = None
        self.odds: Any = None
        self._risk_manager: Any = None
        self._lock = threading.RLock()
        self._running = False
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self.journal: Journal | None = None
        self._jlock: JournalLock | None = None
        self.rest: KalshiRest | None = None
        self.cache: PriceCache | None = None
        self.monitor: Monitor | None = None
        self.ws: KalshiWebSocket | None = None
        self.executor: OrderExecutor | None = None
        self.monitor_thread: StopLossMonitorThread | None = None
        self.strategy_thread: StrategyLoopThread | None = None
        self.ui_thread: UIUpdateThread | None = None
        self.recorder: Any = None
        self.odds_recorder: Any = None
        self.started_ns = 0
        self._log_levels: tuple[int | None, int | None] = (None, None)  # (found, set) on start: LOG_LEVEL

    @classmethod
    def from_env(cls, *, env_file: str | Path | None = ".env", **kwargs: Any) -> Kit:
        """Settings from the environment (and ``.env``); keyword arguments that are settings fields override them,
        the rest go to the constructor (``strategy=``, ``recording=``, ...)."""
        from kalshikit.config import ENV_VARS

        overrides = {k: kwargs.pop(k) for k in list(kwargs) if k in ENV_VARS}
        return cls(Settings.from_env(env_file=env_file, **overrides), **kwargs)

    # ================================================================== lifecycle
    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> Kit:
        """Start everything and return at once. Starting a running kit does nothing."""
        with self._lock:
            if self._running:
                log.info("kit already running")
                return self
            self._set_log_level()
            try:
                self._start()
            except BaseException:
                self._teardown()
                self._restore_log_level()
                raise
            self._running = True
            atexit.register(self.stop)
        return self

    def _start(self) -> None:
        s = self.settings
        signer: KalshiSigner | None = None
        if s.env == "sim" and not s.rest_url:
            self._replace_previous(_EMBEDDED_SIM)
            self._start_sim()
            s = self.settings
            signer = self.sim.signer()
        elif s.has_credentials:
            signer = KalshiSigner.from_settings(s)
        if s.env == "prod":
            log.warning("PRODUCTION: trading real money on %s", s.rest_url)
        journal_path = self._journal_path or self._default_journal_path()
        self._claim_journal(journal_path)
        self.journal = Journal(journal_path)
        self.rest = KalshiRest.from_settings(s, signer)
        inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._inbox = inbox
        self.cache = PriceCache(s.websocket_price_cache_stale_secs, on_held_update=inbox.put)
        config = MonitorConfig(id_salt=self.journal.id_salt, default_protection=self._default_rules(),
                               stale_after_ns=self._stale_after_ns())
        self.monitor = Monitor.from_state(config, self.journal.load_state())
        resume_actions = self.monitor.resume(time.time_ns())
        self.executor = OrderExecutor(self.rest, inbox.put)
        if self.record_dir is not None:
            from kalshikit.recording.writer import RecordingWriter

            self.recorder = RecordingWriter(
                self.record_dir,
                env=s.env,
                note="recorded by kalshikit.live: ticker frames of the markets held, and account channels",
                subscriptions={"channels": ["ticker", *ACCOUNT_CHANNELS], "market_tickers": []},
            )
        if s.websocket_enabled:
            self.ws = KalshiWebSocket(
                s.ws_url,
                signer,
                cache=self.cache,
                sink=inbox.put,
                env_name=s.env,
                initial_prices=lambda tickers: rest_quotes(self.rest, tickers),  # type: ignore[arg-type]
                reconnect_delay=s.websocket_reconnect_delay,
                max_reconnect_delay=s.websocket_max_reconnect_delay,
                silence_timeout=s.websocket_silence_secs,
                verbose=s.verbose,
                recorder=self.recorder,
            )
        ws = self.ws
        self.monitor_thread = StopLossMonitorThread(
            self.monitor,
            inbox,
            self.executor,
            self.journal,
            self.cache,
            sweep_interval=s.stop_loss_check_interval,
            watch=(lambda t: ws.watch(t)) if ws else (lambda t: None),
            unwatch=(lambda t: ws.unwatch(t)) if ws else (lambda t: None),
            feed_is_up=(lambda: ws.metrics.state == "connected") if ws else (lambda: False),
        )
        self.monitor_thread.initial_actions = resume_actions
        self.strategy_thread = StrategyLoopThread(
            strategy=self.strategy,
            executor=self.executor,
            post=inbox.put,
            held=lambda: self.monitor_thread.held if self.monitor_thread else frozenset(),
            sync_subscriptions=(lambda held: ws.set_markets(held)) if ws else (lambda held: None),
            context=self._strategy_context,
            strategy_interval=s.strategy_loop_interval,
            reconcile_interval=s.reconcile_interval,
            id_salt=self.journal.id_salt,
            risk_check=self._setup_strategy(),
            arm=self.with_settings,
        )
        self.ui_thread = UIUpdateThread(
            self._build_snapshot,
            interval=s.ui_update_interval,
            report_dir=self._report_dir(),
            report=self._daily_report,
        )
        self.started_ns = time.time_ns()
        log.info("kalshikit starting (%s)", s.describe())
        self.monitor_thread.start()
        if self.ws is not None:
            self.ws.start()
        self.strategy_thread.start()
        self.ui_thread.start()

    def _start_sim(self) -> None:
        from kalshikit.sim import Simulator

        if self.sim is None:
            options: dict[str, Any] = {
                "recordings": self.recordings or None,
                "synthetic": not self.recordings,
                "speed": self.sim_speed,
                "loop": self.sim_loop,
            }
            if self.gather is not None:
                # A strategy that reads sportsbook odds gets the simulator's sports markets and its Odds API stub.
                options.update({"synthetic": {"sports": True, "markets": 8} if not self.recordings else False,
                                "odds": True})
            options.update(self.sim_options)
            if options.get("recordings"):
                options["synthetic"] = False
            self.sim = Simulator(**options)
            self._own_sim = True
        if self.sim._thread is None:
            self.sim.start()
        changes: dict[str, Any] = {"rest_url": self.sim.rest_url, "ws_url": self.sim.ws_url}
        if getattr(self.sim, "odds_url", None):
            changes.update(odds_api_url=self.sim.odds_url, odds_api_key=self.sim.odds.api_key)
        self.settings = self.settings.replace(**changes)

    def _default_journal_path(self) -> Path:
        if self._own_sim:
            # The embedded simulator forgets everything when it stops; so does its journal.
            self._tmpdir = tempfile.TemporaryDirectory(prefix="kalshikit-sim-")
            return Path(self._tmpdir.name) / "journal.sqlite"
        return journal_path_for(self.settings)

    def _report_dir(self) -> Path:
        if self._tmpdir is not None:
            return Path(self._tmpdir.name) / "reports"
        return self.settings.data_dir / self.settings.env / "reports"

    def _replace_previous(self, key: Path) -> None:
        """One running kit per journal (and one with its own simulator) per process: re-running a notebook cell
        that makes a new Kit stops the previous one instead of leaving it trading in the background."""
        with _RUNNING_LOCK:
            ref = _RUNNING.get(key)
            old = ref() if ref is not None else None
            _RUNNING[key] = weakref.ref(self)
        if old is not None and old is not self and old.running:
            what = "its own simulator" if key == _EMBEDDED_SIM else key
            log.warning("another Kit is running on %s in this process; stopping it first", what)
            old.stop()

    def _claim_journal(self, path: Path) -> None:
        self._replace_previous(path.resolve())
        self._jlock = JournalLock(path)
        self._jlock.acquire()

    def _default_rules(self) -> Protection | None:
        return self.with_settings(self.default_protection) if self.default_protection is not None else None

    def with_settings(self, p: Protection) -> Protection:
        """``p`` with what its maker left open taken from the settings: STALE_PRICE_POLICY,
        WEBSOCKET_PRICE_CACHE_STALE_SECS, EXIT_MAX_ATTEMPTS and EXIT_MAX_SLIPPAGE. Every protection the kit arms
        (``protect``, default rules, a strategy's entries) goes through here."""
        s = self.settings
        slip = s.exit_max_slippage
        return p.with_settings(
            stale_policy=s.stale_policy,
            stale_after_ns=int(s.websocket_price_cache_stale_secs * NS_PER_S),
            max_attempts=s.exit_max_attempts,
            max_slippage=dollars_to_price(slip, "EXIT_MAX_SLIPPAGE") if slip is not None else None,
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every thread, flush the journal and release it. Stopping a stopped kit does nothing."""
        with self._lock:
            if not self._running:
                return
            self._running = False
            log.info("kalshikit stopping")
            self._teardown(timeout)
            self._restore_log_level()
            atexit.unregister(self.stop)

    def _set_log_level(self) -> None:
        """LOG_LEVEL is the level of the ``kalshikit`` loggers while this kit runs (what reaches your handlers, or
        stderr for warnings when you configured none); the level found is put back on stop."""
        level = logging.getLevelName(self.settings.log_level.upper())
        self._log_levels = (log.level, level)
        log.setLevel(level)

    def _restore_log_level(self) -> None:
        before, mine = self._log_levels
        if before is not None and log.level == mine:  # unless someone (another kit, the user) changed it since
            log.setLevel(before)
        self._log_levels = (None, None)

    def _teardown(self, timeout: float = 5.0) -> None:
        for t in (self.strategy_thread, self.ws):
            if t is not None and t.is_alive():
                t.stop(timeout)
        if self.monitor_thread is not None and self.monitor_thread.is_alive():
            self.monitor_thread.stop(timeout)
        if self.ui_thread is not None and self.ui_thread.is_alive():
            self.ui_thread.stop(timeout)
        if self.executor is not None:
            self.executor.close(wait=True)
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None
        if self.odds_recorder is not None:
            self.odds_recorder.close()
            self.odds_recorder = None
        if self.rest is not None:
            self.rest.close()
        if self.journal is not None:
            self.journal.close()
        if self._jlock is not None:
            self._jlock.release()
            self._jlock = None
        if self._own_sim and self.sim is not None:
            self.sim.stop()

    def __enter__(self) -> Kit:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<Kit {self.settings.env} {state} positions={len(self._views())}>"

    # ================================================================== commands
    def _post(self, event: object, wait: bool) -> None:
        t = self.monitor_thread
        if t is None or not self._running:
            raise RuntimeError("the kit is not running; call kit.start() first")
        t.post(event)
        if wait:
            t.barrier(timeout=10.0)

    def protect(self, ticker: str, *, wait: bool = True, allow_immediate: bool = False, **rules: Any) -> None:
        """Arm rules on a held position, e.g. ``protect(t, stop=0.10, take_profit=0.15, trailing=0.05)``.

        Dollar arguments: ``stop``/``take_profit`` are distances from the entry price, ``stop_price``/
        ``take_profit_price`` absolute levels, ``*_fraction`` fractions of entry; ``trailing`` (with optional
        ``trailing_activation``), ``break_even_after``, ``exit_before_close_s``, ``time_exit_at_ns``,
        ``trigger_source`` (bid|last|mid), ``stale_policy`` (hold|confirm|fire).

        Raises RuleError, changing nothing, when a rule cannot apply to the position (a stop below $0), and its
        subclass CrossedLevelError when the current price already crosses a level (a stop at or above the bid would
        sell at once: a typo like 0.95 for 0.45 must not dump the position); without a price yet, it is read over
        REST first. ``allow_immediate=True`` means "exit now if it is crossed".
        """
        self._require_running()
        p = self._protection(**rules)
        view = self._view(ticker)
        if view is None:
            raise RuleError(f"no open position in {ticker}; open one first (or wait for reconciliation)")
        if view.quote_recv_ns is None and self.rest is not None and self.cache is not None:
            # No price yet (a position adopted a moment ago): read it now, or a crossed level would only show
            # itself by exiting on the first quote.
            try:
                for q in rest_quotes(self.rest, [ticker]):
                    self.cache.update(q)  # the monitor gets it too (a held market)
            except KalshiKitError as exc:
                log.warning("%s: could not read the current price before arming rules (%s)", ticker, exc)
            view = self._view(ticker) or view
        if view.entry_price is not None:
            levels = p.check(view.entry_price)  # raises naming every rule that cannot apply
            crossed = crossed_rules(p, levels, view_mark(view, p.trigger_source), time.time_ns(), view.close_ns)
            if crossed and not allow_immediate:
                raise _crossed(ticker, crossed)
        t = self.monitor_thread
        before = len(t.decisions) if t is not None else 0
        self._post(Protect(ticker, p, allow_immediate), wait)
        if wait and t is not None:
            refused = [d for d in t.decisions[before:] if d.ticker == ticker and d.kind == "protect_refused"]
            if refused:  # the price moved across a level between the check above and the monitor
                raise _crossed(ticker, refused[-1].detail.split("; "))

    def _require_running(self) -> None:
        if self.monitor_thread is None or not self._running:
            raise RuntimeError("the kit is not running; call kit.start() first")

    def _protection(self, **rules: Any) -> Protection:
        try:
            return self.with_settings(protection(**rules))
        except TypeError as exc:
            raise RuleError(f"unknown rule argument: {exc}") from None

    def unprotect(self, ticker: str, *, wait: bool = True) -> None:
        self._post(Unprotect(ticker), wait)

    def flatten(self, ticker: str, *, wait: bool = True) -> None:
        """Exit the whole position now with an aggressive IOC reduce-only order."""
        self._require_running()
        if self._view(ticker) is None:
            raise RuleError(f"no open position in {ticker}")
        self._post(Flatten(ticker, "manual"), wait)

    def pause(self) -> None:
        """Stop starting new exits (orders already sent still resolve)."""
        self._post(SetPaused(True), True)

    def resume(self) -> None:
        self._post(SetPaused(False), True)

    def reconcile_now(self, wait: bool = False, timeout: float = 10.0) -> None:
        """Read the positions held from the exchange now (positions bought elsewhere are adopted). ``wait=True``
        returns once that is done and the monitor has taken it in, so ``kit.positions()`` shows them."""
        t = self.strategy_thread
        if t is None or not self._running:
            if wait:
                self._require_running()
            return
        if not wait:
            t.reconcile_now()
            return
        if not t.reconcile_now(timeout):
            raise TimeoutError(f"no reconciliation within {timeout:g} s (see kit.status()['strategy']['last_error'])")
        self.sync(timeout)

    def sync(self, timeout: float = 10.0) -> bool:
        """Wait until the monitor has processed everything posted so far."""
        return self.monitor_thread.barrier(timeout) if self.monitor_thread else False

    def on_update(self, fn: Callable[[KitSnapshot], None]) -> Callable[[], None]:
        """Call ``fn(snapshot)`` on every UI update; returns a function that removes it."""
        if self.ui_thread is None:
            raise RuntimeError("the kit is not started")
        self.ui_thread.add_listener(fn)
        ui = self.ui_thread
        return lambda: ui.remove_listener(fn)

    def dashboard(self, **options: Any) -> Any:
        """The live ipywidgets dashboard of this kit (positions, health, chart, controls); display it in a cell."""
        from kalshikit.notebook.dashboard import Dashboard

        return Dashboard(self, **options)

    # ================================================================== reading
    def _views(self) -> tuple[PositionView, ...]:
        return self.monitor_thread.snapshot if self.monitor_thread is not None else ()

    def _view(self, ticker: str) -> PositionView | None:
        if self.monitor_thread is not None and self._running:
            self.monitor_thread.barrier(5.0)
        return next((v for v in self._views() if v.ticker == ticker), None)

    def snapshot(self) -> KitSnapshot:
        """The latest snapshot (built now if the UI thread has none yet)."""
        if self.ui_thread is not None and self.ui_thread.latest is not None:
            return self.ui_thread.latest
        return self._build_snapshot()

    def positions(self) -> pd.DataFrame:
        """Open positions with their rules (and ``rules_rejected``: rules that could not be armed, with the reason),
        levels, guard state and price age. Prices and money in dollars (NaN before prices arrive), counts in
        contracts; ``stale`` uses WEBSOCKET_PRICE_CACHE_STALE_SECS."""
        from kalshikit.live.frames import positions_frame

        return positions_frame(self._views(), time.time_ns(), self._stale_after_ns())

    def _stale_after_ns(self) -> int:
        return int(self.settings.websocket_price_cache_stale_secs * NS_PER_S)

    def prices(self) -> pd.DataFrame:
        """The price cache: one row per market with bid/ask/last, age and staleness."""
        from kalshikit.live.frames import prices_frame

        quotes = self.cache.snapshot() if self.cache else {}
        return prices_frame(quotes, time.time_ns(), self._stale_after_ns())

    def decisions(self) -> pd.DataFrame:
        """Every decision of the monitor this session (trigger, exit, protect, rules_rejected, ...) with the price
        it was made on: mark and level in dollars, ``ts`` a UTC timestamp, raw times in the ``*_ns`` columns."""
        from kalshikit.tables import decisions_frame

        return decisions_frame(self.monitor_thread.decisions if self.monitor_thread else [])

    def trades(self) -> pd.DataFrame:
        """Closed positions of this session: entry, exit, reason, P&L (dollars)."""
        from kalshikit.live.frames import trades_frame

        return trades_frame(self.monitor_thread.closed if self.monitor_thread else [])

    def entries(self) -> pd.DataFrame:
        """The positions of this session as an entries table (ticker, entry_time as a UTC timestamp, side, count in
        contracts, entry_price in dollars): what ``kalshikit.replay.replay`` / ``parity`` need to replay the session
        with the same positions."""
        from kalshikit.live.frames import entries_frame

        closed = list(self.monitor_thread.closed) if self.monitor_thread else []
        done = {c.position_id for c in closed}  # a position that just closed may still be in the last snapshot
        return entries_frame([*closed, *(v for v in self._views() if v.position_id not in done)])

    def alerts(self) -> list[Any]:
        from kalshikit.core.actions import Alert

        return [a for a in (self.monitor_thread.recent if self.monitor_thread else ()) if isinstance(a, Alert)]

    def status(self) -> dict[str, Any]:
        snap = self.snapshot()
        return {
            "env": snap.env,
            "running": snap.running,
            "paused": snap.paused,
            "positions": len(snap.positions),
            "connection": snap.connection,
            "monitor": snap.monitor,
            "strategy": snap.strategy,
            "rest": snap.rest,
        }

    # ================================================================== snapshot building (UIUpdate thread)
    def _build_snapshot(self) -> KitSnapshot:
        now = time.time_ns()
        views = self._views()
        mt = self.monitor_thread
        st = self.strategy_thread
        conn = self.ws.metrics.snapshot(now) if self.ws is not None else {"state": "disabled"}
        day_start = int(datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()) * NS_PER_S
        closed_today = [c for c in (mt.closed if mt else []) if c.closed_ns >= day_start]
        return KitSnapshot(
            now_ns=now,
            env=self.settings.env,
            running=self._running,
            paused=bool(self.monitor and self.monitor.paused),
            positions=views,
            connection=conn,
            rest=self.rest.metrics() if self.rest is not None else {},
            monitor={
                "events_fed": mt.events_fed if mt else 0,
                "sweeps": mt.sweeps if mt else 0,
                "inbox": self._inbox.qsize() if hasattr(self, "_inbox") else 0,
                "exits_sent": self.executor.sent if self.executor else 0,
                "exits_failed": self.executor.failed if self.executor else 0,
                "last_error": mt.last_error if mt else "",
                "uptime_s": (now - self.started_ns) / NS_PER_S if self.started_ns else 0.0,
            },
            strategy={
                "name": getattr(self.strategy, "name", "?"),
                "cycles": st.cycles if st else 0,
                "reconciles": st.reconciles if st else 0,
                "errors": st.errors if st else 0,
                "last_error": st.last_error if st else "",
                "entries_sent": st.entries_sent if st else 0,
                "entries_refused": st.entries_refused if st else 0,
                "entries_cancelled": st.entries_cancelled if st else 0,
                "recent": list(st.decisions[-10:]) if st else [],
                "halted": bool(self._risk_manager is not None and self._risk_manager.halted),
            },
            recent=tuple(list(mt.recent)[-20:]) if mt else (),
            realized_today=sum(c.realized - c.fees for c in closed_today),
            fees_today=sum(c.fees for c in closed_today),
            unrealized=sum(v.unrealized or 0 for v in views),
        )

    def _setup_strategy(self) -> Callable[[Any, StrategyContext], str | None] | None:
        """Odds and discovery for the strategy (when ``gather`` is set) and the risk manager (always, once a
        strategy other than the default is given)."""
        if isinstance(self.strategy, NoStrategy):
            return None
        from kalshikit.strategy.risk import RiskLimits, RiskManager

        if self.gather is not None:
            from kalshikit.strategy.data import DataGatherer
            from kalshikit.strategy.odds import OddsClient

            if self.settings.odds_api_key is None:
                raise ConfigError("the strategy needs sportsbook odds: set ODDS_API_KEY (or run on the simulator)")
            record = None
            if self.record_dir is not None:  # odds snapshots beside the ticker recording, for strategy replay
                from kalshikit.strategy.odds_recording import OddsRecorder

                self.odds_recorder = OddsRecorder(self.record_dir, env=self.settings.env)
                record = self.odds_recorder
            self.odds = OddsClient.from_settings(self.settings, record=record)
            assert self.rest is not None  # made in _start before the strategy is set up
            self.gatherer = DataGatherer(self.rest, self.odds, self.gather)
        risk = self.risk if self.risk is not None else RiskLimits()
        self._risk_manager = risk if isinstance(risk, RiskManager) else RiskManager(risk)
        return self._risk_manager.check  # type: ignore[no-any-return]

    def _strategy_context(self) -> StrategyContext:
        """What the strategy sees each cycle: live quotes, positions, balance, exchange state, realized P&L today,
        and (with ``gather``) the discovered markets and the sportsbook consensus."""
        quotes = self.cache.snapshot() if self.cache else {}
        now = time.time_ns()
        stale = frozenset(t for t, q in quotes.items() if self.cache and now - q.recv_ns > self.cache.stale_after_ns)
        balance: int | None = None
        exchange_open = True
        if self.rest is not None and not isinstance(self.strategy, NoStrategy):
            try:
                balance = self.rest.balance().balance
                status = self.rest.exchange_status()
                exchange_open = status.exchange_active and status.trading_active
            except KalshiKitError as exc:
                log.warning("strategy context: could not read balance/exchange status (%s)", exc)
                exchange_open = False  # unknown: no entries this cycle
        ctx = StrategyContext(now_ns=now, quotes=quotes, positions=self._views(), balance=balance, stale=stale,
                              exchange_open=exchange_open, realized_today=self._realized_today())
        if self.gatherer is not None:
            from kalshikit.strategy.data import DataGatherer

            ctx = DataGatherer.enrich(ctx, self.gatherer.refresh(now))
        return ctx

    def _realized_today(self) -> int:
        day_start = int(datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()) * NS_PER_S
        closed = self.monitor_thread.closed if self.monitor_thread else []
        return sum(c.realized - c.fees for c in closed if c.closed_ns >= day_start)

    def strategy_decisions(self) -> pd.DataFrame:
        """Every entry the strategy asked for this session: sent or refused by the risk limits, with the reason;
        ``count`` in contracts, ``limit`` in dollars, ``ts`` when it was decided (``ns``: the same, raw)."""
        from kalshikit.live.frames import strategy_decisions_frame

        return strategy_decisions_frame(list(self.strategy_thread.decisions) if self.strategy_thread else [])

    def _daily_report(self, day: str) -> dict[str, Any]:
        start = int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()) * NS_PER_S
        closed = self.journal.closed_positions(start) if self.journal is not None else []
        closed = [c for c in closed if c["closed_ns"] < start + 86_400 * NS_PER_S]
        snap = self.ui_thread.latest if self.ui_thread is not None else None
        return {
            "day": day,
            "env": self.settings.env,
            "closed_positions": closed,
            "realized": sum(c["realized"] for c in closed),
            "fees": sum(c["fees"] for c in closed),
            "net": sum(c["realized"] - c["fees"] for c in closed),
            "exits_by_reason": _count_by(closed, "reason"),
            "open_positions": len(snap.positions) if snap else None,
            "connection": snap.connection if snap else None,
            "units": "money in micro-dollars, prices in $0.0001, counts in 1/100 contract",
        }


def _crossed(ticker: str, crossed: list[str]) -> CrossedLevelError:
    return CrossedLevelError(
        f"{ticker}: {'; '.join(crossed)}, so it would exit at once; nothing was changed. Pass allow_immediate=True "
        "to exit now, or choose levels the price has not reached.",
        crossed,
    )


def journal_path_for(settings: Settings) -> Path:
    """Where a kit on an external exchange (demo, prod, a simulator started by hand) keeps its journal."""
    return settings.data_dir / settings.env / "journal.sqlite"


def view_mark(view: PositionView, source: TriggerSource) -> int | None:
    """The own-side mark of a position view's prices for a trigger source."""
    if view.side not in ("yes", "no"):
        return None
    q = Quote(view.ticker, view.yes_bid, view.yes_ask, last=view.last)
    return mark_of(view.side, q, source)  # type: ignore[arg-type]


def _count_by(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r[key]] = out.get(r[key], 0) + 1
    return out
