"""The StopLossMonitor thread: owns the Monitor, feeds it every event, saves its state, carries out its actions.

It wakes on every relevant price change (the PriceCache puts held markets' quotes in its inbox), on account
events, on commands from the Kit and the strategy, on the outcomes of its own orders, at the monitor's deadlines,
and at least every ``STOP_LOSS_CHECK_INTERVAL`` for a sweep: markets whose price is stale (or all held markets
while the socket is down) are re-read over REST and the monitor gets a Tick.

One writer, one transaction: this thread is the only one that writes the monitor's state. Before it carries out
any order, lookup or confirmation a batch of events asked for, it saves everything that batch changed (state rows,
decision log, closed positions, fills) in one SQLite transaction (:meth:`Journal.save`). Whatever instant the
process dies at, the journal holds a state the monitor really was in, including every order it may have sent.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from kalshikit.cache import PriceCache
from kalshikit.core.actions import (
    Action,
    Alert,
    ConfirmQuote,
    Decision,
    LookupOrder,
    PlaceOrder,
    PositionClosed,
    Transition,
    Unwatch,
    Watch,
)
from kalshikit.core.events import Fill, OrderNotFound, OrderRejected, OrderUnknown, OrderUpdate, Tick
from kalshikit.core.monitor import Monitor, PositionView
from kalshikit.live.executor import OrderExecutor
from kalshikit.live.faultpoints import crash_point
from kalshikit.store import Journal, LogEntry

log = logging.getLogger("kalshikit.monitor")
NS_PER_S = 1_000_000_000
_STOP = object()
_EXTERNAL = (PlaceOrder, LookupOrder, ConfirmQuote)  # actions that reach the exchange: saved state first
_OUTCOMES = (Fill, OrderUpdate, OrderRejected, OrderUnknown, OrderNotFound)
_LOGGED_DECISIONS = frozenset(
    {
        "trigger",
        "confirmed",
        "not_confirmed",
        "held_stale",
        "exit_partial",
        "exit_failed",
        "exit_unknown",
        "exit_resent",
        "adopted",
        "position_corrected",
        "disarmed",
        "protect",
        "protect_refused",
        "rules_rejected",
    }
)


class Barrier:
    """Put in the inbox to wait until everything before it has been processed and saved."""

    def __init__(self) -> None:
        self.done = threading.Event()


class StopLossMonitorThread(threading.Thread):
    def __init__(
        self,
        monitor: Monitor,
        inbox: queue.SimpleQueue[Any],
        executor: OrderExecutor,
        journal: Journal,
        cache: PriceCache,
        *,
        sweep_interval: float,
        watch: Callable[[list[str]], None],
        unwatch: Callable[[list[str]], None],
        feed_is_up: Callable[[], bool],
        on_event: Callable[[object], None] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__(name="StopLossMonitor", daemon=True)
        self.monitor = monitor
        self.inbox = inbox
        self.executor = executor
        self.journal = journal
        self.cache = cache
        self.sweep_ns = int(sweep_interval * NS_PER_S)
        self._watch = watch
        self._unwatch = unwatch
        self._feed_is_up = feed_is_up
        self._on_event = on_event
        self._clock = clock_ns
        self.snapshot: tuple[PositionView, ...] = ()
        self.held: frozenset[str] = frozenset(monitor.positions)
        self.recent: deque[object] = deque(maxlen=500)  # decisions, alerts, closed positions for the UI
        self.decisions: list[Decision] = []
        self.closed: list[PositionClosed] = []
        self.events_fed = 0
        self.sweeps = 0
        self.saves = 0
        self.last_error = ""
        self._last_snapshot = 0
        self._log: list[LogEntry] = []
        self._closed_batch: list[PositionClosed] = []
        self._fills: list[Fill] = []
        self.initial_actions: list[Action] = []  # from Monitor.resume: watch restored markets, look up orders

    # ------------------------------------------------------------------ control
    def post(self, event: object) -> None:
        self.inbox.put(event)

    def stop(self, timeout: float = 5.0) -> None:
        self.inbox.put(_STOP)
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def barrier(self, timeout: float = 5.0) -> bool:
        """Block until every event posted before this call has been fed and saved (False on timeout or stop)."""
        if not self.is_alive():
            return False
        b = Barrier()
        self.inbox.put(b)
        return b.done.wait(timeout)

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        next_sweep = self._clock() + self.sweep_ns
        get = self.inbox.get
        try:
            crash_point("resumed")
            self._carry_out(self.initial_actions, self._clock())
            self.initial_actions = []
            while True:
                now = self._clock()
                deadline = self.monitor.next_deadline()
                wake = next_sweep if deadline is None else min(next_sweep, deadline)
                try:
                    ev = get(timeout=max(0.0, (wake - now) / NS_PER_S))
                except queue.Empty:
                    ev = None
                if ev is _STOP:
                    break
                if ev is not None:
                    self._process(ev)
                    # drain what is already waiting without blocking, so bursts are handled in one go
                    for _ in range(10_000):
                        try:
                            ev = self.inbox.get_nowait()
                        except queue.Empty:
                            break
                        if ev is _STOP:
                            return
                        self._process(ev)
                now = self._clock()
                deadline = self.monitor.next_deadline()
                if deadline is not None and now >= deadline:
                    self._feed(Tick(), now)
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + self.sweep_ns
                self._save(now)
                if now - self._last_snapshot > 100_000_000:
                    self._publish(now)
        except Exception:  # never die silently: the monitor protects money
            log.exception("StopLossMonitor thread crashed")
            self.last_error = "monitor thread crashed; see the log"
            raise
        finally:
            now = self._clock()
            self._save(now)
            self._publish(now)

    def _process(self, ev: object) -> None:
        if isinstance(ev, Barrier):
            now = self._clock()
            self._save(now)
            self._publish(now)
            ev.done.set()
            return
        self._feed(ev, self._clock())

    def _feed(self, ev: object, now: int) -> None:
        self.events_fed += 1
        try:
            actions = self.monitor.feed(ev, now)  # type: ignore[arg-type]
        except Exception as exc:  # a bad command must not stop the protection of everything else
            log.exception("monitor rejected %s", type(ev).__name__)
            self._record(Alert("error", getattr(ev, "ticker", ""), f"{type(exc).__name__}: {exc}", now))
            return
        if type(ev) is Fill:
            self._fills.append(ev)
        if type(ev) in _OUTCOMES:
            crash_point("after_outcome")
        if actions:
            self._carry_out(actions, now)

    def _carry_out(self, actions: list[Action], now: int) -> None:
        """Record the actions, save the state if any of them reaches the exchange, then carry them out."""
        for a in actions:
            if type(a) in (Decision, Alert, PositionClosed, Transition):
                self._record(a)
        if any(type(a) in _EXTERNAL for a in actions):
            self._save(now)
            crash_point("after_journal")
        # Orders first: an exit must not wait for the subscription changes of the decision that caused it.
        for a in actions:
            if type(a) is PlaceOrder:
                self.executor.place(a)
        for a in actions:
            t = type(a)
            if t is ConfirmQuote:
                self.executor.confirm(a.ticker)  # type: ignore[attr-defined]
            elif t is LookupOrder:
                self.executor.lookup(a.client_order_id, a.ticker, a.sent_ns)  # type: ignore[attr-defined]
            elif t is Watch:
                self.held = self.held | {a.ticker}  # type: ignore[attr-defined]
                self.cache.set_held(self.held)
                self._watch([a.ticker])  # type: ignore[attr-defined]
            elif t is Unwatch:
                self.held = self.held - {a.ticker}  # type: ignore[attr-defined]
                self.cache.set_held(self.held)
                self._unwatch([a.ticker])  # type: ignore[attr-defined]

    def _record(self, a: Any) -> None:
        self.recent.append(a)
        ns = getattr(a, "now_ns", 0) or getattr(a, "closed_ns", 0) or self._clock()
        if isinstance(a, Decision):
            self.decisions.append(a)
            if a.kind in _LOGGED_DECISIONS:
                lvl = logging.WARNING if a.kind in ("exit_failed", "exit_rejected", "rules_rejected") else logging.INFO
                log.log(
                    lvl,
                    "%s %s %s%s%s%s",
                    a.ticker,
                    a.kind,
                    a.trigger,
                    f" at {a.mark / 10_000:.4f}" if a.mark is not None else "",
                    f" (level {a.level / 10_000:.4f})" if a.level is not None else "",
                    f": {a.detail}" if a.detail and a.kind in ("rules_rejected", "protect_refused") else "",
                )
            entry = (ns, a.kind, a.ticker, a.position_id, f"{a.trigger} mark={a.mark} level={a.level} {a.detail}")
        elif isinstance(a, Alert):
            log.log(
                logging.ERROR if a.level == "error" else logging.WARNING if a.level == "warning" else logging.INFO,
                "%s %s",
                a.ticker,
                a.message,
            )
            entry = (ns, f"alert:{a.level}", a.ticker, "", a.message)
        elif isinstance(a, PositionClosed):
            self.closed.append(a)
            self._closed_batch.append(a)
            log.info("%s closed (%s): realized %.2f, fees %.2f", a.ticker, a.reason, a.realized / 1e6, a.fees / 1e6)
            entry = (ns, "closed", a.ticker, a.position_id, a.reason)
        else:
            entry = (ns, "transition", a.ticker, a.position_id, f"{a.old}->{a.new}: {a.reason}")
        self._log.append(entry)
        if self._on_event is not None:
            try:
                self._on_event(a)
            except Exception:
                log.exception("event listener failed")

    # ------------------------------------------------------------------ sweep, saving, snapshot
    def _sweep(self, now: int) -> None:
        self.sweeps += 1
        held = sorted(self.held)
        if held:
            stale = held if not self._feed_is_up() else self.cache.stale_tickers(held, now)
            if stale:
                self.executor.refresh_prices(stale, self.cache.update)
        self._feed(Tick(), now)

    def _save(self, now: int) -> None:
        """Save everything changed since the last save in one transaction. A failure is loud and retried on the
        next save (the changes are kept); exits still go out, so a full disk never stops protection."""
        changes = self.monitor.changes()
        if not changes and not self._log and not self._closed_batch and not self._fills:
            return
        try:
            self.journal.save(changes, now, log=self._log, closed=self._closed_batch, fills=self._fills)
        except Exception as exc:
            log.error("journal write failed: %s", exc)
            self.last_error = f"journal write failed: {exc}"
            self.monitor.unsave(changes)
            return
        self.saves += 1
        self._log = []
        self._closed_batch = []
        self._fills = []

    def _publish(self, now: int) -> None:
        self.snapshot = self.monitor.snapshot(now)
        self._last_snapshot = now


__all__ = ["Barrier", "StopLossMonitorThread"]
