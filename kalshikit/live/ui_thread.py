"""The UIUpdate thread: every ``UI_UPDATE_INTERVAL`` it builds one immutable KitSnapshot and hands it to the
listeners (the notebook dashboard, the headless status line); it logs a metrics line every 5 minutes and writes a
daily report (closed positions, P&L, fees, connection figures) when the UTC day changes and when the kit stops.

Listeners run on this thread; one that raises is logged and kept, and never blocks the monitor.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

log = logging.getLogger("kalshikit.ui")
NS_PER_S = 1_000_000_000


class KitSnapshot(msgspec.Struct, frozen=True):
    """Everything a dashboard shows, at one instant. Prices/counts/money are integers (see kalshikit.units)."""

    now_ns: int
    env: str
    running: bool
    paused: bool
    positions: tuple[Any, ...]  # PositionView
    connection: dict[str, Any]
    rest: dict[str, Any]
    monitor: dict[str, Any]
    strategy: dict[str, Any]
    recent: tuple[Any, ...]  # latest decisions / alerts / closed positions
    realized_today: int
    fees_today: int
    unrealized: int


class UIUpdateThread(threading.Thread):
    def __init__(
        self,
        build: Callable[[], KitSnapshot],
        *,
        interval: float,
        report_dir: Path | None,
        report: Callable[[str], dict[str, Any]] | None = None,
        metrics_log_interval: float = 300.0,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__(name="UIUpdate", daemon=True)
        self._build = build
        self.interval = interval
        self.report_dir = report_dir
        self._report = report
        self.metrics_log_ns = int(metrics_log_interval * NS_PER_S)
        self._clock = clock_ns
        self._stop_event = threading.Event()
        self._listeners: tuple[Callable[[KitSnapshot], None], ...] = ()
        self._lock = threading.Lock()
        self.latest: KitSnapshot | None = None
        self.updates = 0
        self.listener_errors = 0
        self.last_update_s = 0.0
        self.reports_written: list[Path] = []

    def add_listener(self, fn: Callable[[KitSnapshot], None]) -> None:
        with self._lock:
            self._listeners = (*self._listeners, fn)

    def remove_listener(self, fn: Callable[[KitSnapshot], None]) -> None:
        with self._lock:
            self._listeners = tuple(x for x in self._listeners if x is not fn)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def refresh(self) -> KitSnapshot:
        """Build and publish a snapshot now (also used right before stopping)."""
        t0 = time.perf_counter()
        snap = self._build()
        self.latest = snap
        self.updates += 1
        for fn in self._listeners:
            try:
                fn(snap)
            except Exception:
                self.listener_errors += 1
                log.exception("dashboard listener failed")
        self.last_update_s = time.perf_counter() - t0
        return snap

    def run(self) -> None:
        last_metrics = self._clock()
        day = _utc_day(self._clock())
        while not self._stop_event.wait(self.interval):
            try:
                snap = self.refresh()
            except Exception:
                log.exception("UI snapshot failed")
                continue
            now = self._clock()
            if now - last_metrics >= self.metrics_log_ns:
                last_metrics = now
                log.info("metrics: %s", metrics_line(snap))
            today = _utc_day(now)
            if today != day:
                self.write_report(day)
                day = today
        try:
            self.refresh()
        except Exception:
            log.exception("final UI snapshot failed")
        self.write_report(_utc_day(self._clock()))

    def write_report(self, day: str) -> Path | None:
        """Write ``<report_dir>/kalshikit-<day>.json``; returns its path."""
        if self.report_dir is None or self._report is None:
            return None
        try:
            self.report_dir.mkdir(parents=True, exist_ok=True)
            path = self.report_dir / f"kalshikit-{day}.json"
            path.write_text(json.dumps(self._report(day), indent=1, default=str))
        except Exception:
            log.exception("daily report failed")
            return None
        self.reports_written.append(path)
        return path


def _utc_day(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS_PER_S, UTC).strftime("%Y-%m-%d")


def metrics_line(snap: KitSnapshot) -> str:
    c = snap.connection
    return (
        f"ws={c.get('state', '-')} frames/s={c.get('frames_per_s', 0):.0f} reconnects={c.get('reconnects', 0)} "
        f"decode_errors={c.get('decode_errors', 0)} positions={len(snap.positions)} "
        f"events={snap.monitor.get('events_fed', 0)} realized_today={snap.realized_today / 1e6:.2f} "
        f"unrealized={snap.unrealized / 1e6:.2f} rest_errors={sum(snap.rest.get('errors', {}).values())}"
    )


def status_line(snap: KitSnapshot) -> str:
    """One compact line for the headless runner; rules that could not be armed on a position are named in it."""
    c = snap.connection
    state = c.get("state", "-")
    if state == "reconnecting" and c.get("next_retry_in_s") is not None:
        state += f" in {c['next_retry_in_s']:.0f}s"
    armed = sum(1 for p in snap.positions if p.state == "armed")
    exiting = sum(1 for p in snap.positions if p.state in ("triggered", "exit_sent"))
    parts = [
        f"[{snap.env.upper()}]",
        f"ws {state}",
        f"{c.get('frames_per_s', 0):.0f} fr/s",
        f"positions {len(snap.positions)} (armed {armed}, exiting {exiting})",
        f"unrealized {snap.unrealized / 1e6:+.2f}",
        f"realized today {snap.realized_today / 1e6:+.2f}",
    ]
    if snap.paused:
        parts.append("PAUSED")
    rejected = [p for p in snap.positions if p.rules_rejected]
    if rejected:  # the other rules of these positions are armed; these are not, and the user should know
        parts.append("RULES NOT ARMED: " + "; ".join(f"{p.ticker}: {p.rules_rejected}" for p in rejected))
    return " | ".join(parts)
