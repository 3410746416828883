"""The StopLossMonitor thread: owns the Monitor, feeds it every event and carries out its actions.

It wakes on every relevant price change (the PriceCache puts held markets' quotes in its inbox), on account
events, on commands from the Kit, at the monitor's own deadlines, and at least every ``STOP_LOSS_CHECK_INTERVAL``
for a sweep: markets whose price is stale (or all held markets while the socket is down) are re-read over REST,
the monitor gets a Tick, and the journal is brought up to date.
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
from kalshikit.core.events import FeedStatus, Fill, OrderUpdate, PositionUpdate, Tick
from kalshikit.core.monitor import Monitor, PositionView
from kalshikit.live.executor import OrderExecutor
from kalshikit.store import Journal

log = logging.getLogger("kalshikit.monitor")
NS_PER_S = 1_000_000_000
_STOP = object()


class Barrier:
    """Put in the inbox to wait until everything before it has been processed."""

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
        self.held: frozenset[str] = frozenset()
        self.recent: deque[object] = deque(maxlen=500)  # decisions, alerts, closed positions for the UI
        self.decisions: list[Decision] = []
        self.closed: list[PositionClosed] = []
        self.events_fed = 0
        self.sweeps = 0
        self.last_error = ""
        self._dirty: set[str] = set()
        self._removed: set[str] = set()
        self._last_snapshot = 0
        self._stopped = threading.Event()
        self._log_buffer: list[tuple[int, str, str, str, str]] = []
        self.initial_actions: list[object] = []  # from Monitor.restore: watch restored markets, look up orders

    # ------------------------------------------------------------------ control
    def post(self, event: object) -> None:
        self.inbox.put(event)

    def stop(self, timeout: float = 5.0) -> None:
        self.inbox.put(_STOP)
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def barrier(self, timeout: float = 5.0) -> bool:
        """Block until every event posted before this call has been fed (False on timeout or when stopped)."""
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
            for a in self.initial_actions:
                self._act(a, self._clock())
            self.initial_actions = []
            self._flush_log()
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
                    if not self._process(ev):
                        break
                    # drain what is already waiting without blocking, so bursts are handled in one go
                    for _ in range(10_000):
                        try:
                            ev = self.inbox.get_nowait()
                        except queue.Empty:
                            break
                        if ev is _STOP or not self._process(ev):
                            return
                now = self._clock()
                deadline = self.monitor.next_deadline()
                if deadline is not None and now >= deadline:
                    self._feed(Tick(), now)
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + self.sweep_ns
                self._persist(now)
                if now - self._last_snapshot > 100_000_000:
                    self._publish(now)
        except Exception:  # never die silently: the monitor protects money
            log.exception("StopLossMonitor thread crashed")
            self.last_error = "monitor thread crashed; see the log"
            raise
        finally:
            now = self._clock()
            self._save_all(now)
            self._publish(now)
            self._stopped.set()

    def _process(self, ev: object) -> bool:
        if isinstance(ev, Barrier):
            self._persist(self._clock())
            self._publish(self._clock())
            ev.done.set()
            return True
        now = self._clock()
        if isinstance(ev, Fill) and not self.journal.record_fill(ev):
            return True  # already journaled: a duplicate after a reconnect
        self._feed(ev, now)
        if isinstance(ev, Fill | OrderUpdate | PositionUpdate):
            ticker = ev.ticker
            if ticker:
                self._dirty.add(ticker)
        return True

    def _feed(self, ev: object, now: int) -> None:
        self.events_fed += 1
        try:
            actions = self.monitor.feed(ev, now)
        except Exception as exc:  # a bad command must not stop the protection of everything else
            log.exception("monitor rejected %s", type(ev).__name__)
            self._record(Alert("error", getattr(ev, "ticker", ""), f"{type(exc).__name__}: {exc}", now))
            self._flush_log()
            return
        if not actions:
            return
        # Orders first: an exit must not wait for the bookkeeping of the decision that caused it.
        for a in actions:
            if type(a) is PlaceOrder:
                self._act(a, now)
        for a in actions:
            if type(a) is not PlaceOrder:
                self._act(a, now)
        self._flush_log()

    def _act(self, a: object, now: int) -> None:
        t = type(a)
        if t is PlaceOrder:
            self.executor.place(a)  # type: ignore[arg-type]
            self._dirty.add(a.ticker)  # type: ignore[attr-defined]
        elif t is ConfirmQuote:
            self.executor.confirm(a.ticker)  # type: ignore[attr-defined]
        elif t is LookupOrder:
            self.executor.lookup(a.client_order_id, a.ticker)  # type: ignore[attr-defined]
        elif t is Watch:
            self.held = self.held | {a.ticker}  # type: ignore[attr-defined]
            self.cache.set_held(self.held)
            self._watch([a.ticker])  # type: ignore[attr-defined]
            self._dirty.add(a.ticker)  # type: ignore[attr-defined]
        elif t is Unwatch:
            self.held = self.held - {a.ticker}  # type: ignore[attr-defined]
            self.cache.set_held(self.held)
            self._unwatch([a.ticker])  # type: ignore[attr-defined]
            self._removed.add(a.ticker)  # type: ignore[attr-defined]
            self._dirty.discard(a.ticker)  # type: ignore[attr-defined]
        elif t is Transition:
            self._dirty.add(a.ticker)  # type: ignore[attr-defined]
            self._record(a)
        elif t in (Decision, Alert, PositionClosed):
            self._record(a)

    def _record(self, a: Any) -> None:
        self.recent.append(a)
        ns = getattr(a, "now_ns", 0) or getattr(a, "closed_ns", 0) or self._clock()
        if isinstance(a, Decision):
            self.decisions.append(a)
            lvl = logging.WARNING if a.kind in ("exit_failed", "exit_rejected") else logging.INFO
            if a.kind in (
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
            ):
                log.log(
                    lvl,
                    "%s %s %s%s%s",
                    a.ticker,
                    a.kind,
                    a.trigger,
                    f" at {a.mark / 10_000:.4f}" if a.mark is not None else "",
                    f" (level {a.level / 10_000:.4f})" if a.level is not None else "",
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
            log.info("%s closed (%s): realized %.2f, fees %.2f", a.ticker, a.reason, a.realized / 1e6, a.fees / 1e6)
            self.journal.record_closed(a.position_id, a.ticker, _asdict(a), a.closed_ns)
            entry = (ns, "closed", a.ticker, a.position_id, a.reason)
        else:
            entry = (ns, "transition", a.ticker, a.position_id, f"{a.old}->{a.new}: {a.reason}")
        self._log_buffer.append(entry)
        if self._on_event is not None:
            try:
                self._on_event(a)
            except Exception:
                log.exception("event listener failed")

    def _flush_log(self) -> None:
        if not self._log_buffer:
            return
        entries, self._log_buffer = self._log_buffer, []
        try:
            self.journal.log(entries)
        except Exception as exc:  # the journal being full must not stop exits; say it loudly
            log.error("journal write failed: %s", exc)

    # ------------------------------------------------------------------ sweep, persistence, snapshot
    def _sweep(self, now: int) -> None:
        self.sweeps += 1
        held = sorted(self.held)
        if held:
            stale = held if not self._feed_is_up() else self.cache.stale_tickers(held, now)
            if stale:
                self.executor.refresh_prices(stale, self.cache.update)
        self._feed(Tick(), now)
        self._dirty.update(self.monitor.positions)  # trailing peaks move without actions: save them too

    def _persist(self, now: int) -> None:
        if not self._dirty and not self._removed:
            return
        states = [s for t in self._dirty if (s := self.monitor.export_position(t)) is not None]
        removed = [t for t in self._removed if t not in self.monitor.positions]
        try:
            self.journal.save_positions(states, removed, now)
            self.journal.set_meta("epochs", _json(self.monitor.epochs))
        except Exception as exc:
            log.error("journal write failed: %s", exc)
            return
        self._dirty.clear()
        self._removed.clear()

    def _save_all(self, now: int) -> None:
        self._dirty.update(self.monitor.positions)
        self._persist(now)

    def _publish(self, now: int) -> None:
        self.snapshot = self.monitor.snapshot(now)
        self._last_snapshot = now


def _asdict(a: Any) -> dict[str, Any]:
    return {f: getattr(a, f) for f in a.__struct_fields__}


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, separators=(",", ":"))


__all__ = ["Barrier", "FeedStatus", "StopLossMonitorThread"]
