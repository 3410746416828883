"""``Dashboard(kit)``: the live ipywidgets view of a running kit — health strip, positions table, chart of the
selected position and controls — refreshed from the kit's snapshots by its UIUpdate thread.

    dash = kit.dashboard()      # or Dashboard(kit); the last expression of a cell displays it
    dash                        # (also servable with Voila: see notebooks/dashboard_voila.ipynb)

It only reads immutable snapshots and calls the kit's public methods. Each update renders on the UIUpdate thread
(a few ms for 200 positions, see benchmarks/bench_dashboard.py) and sends only widgets whose content changed; the
kernel stays free. Re-running the cell that made it replaces the old dashboard of the same kit (its listener is
removed: one registry per kit and ``name``). After ``kit.stop()`` it shows STOPPED and stops listening.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from kalshikit.notebook.chart import PositionChart
from kalshikit.notebook.controls import Controls
from kalshikit.notebook.health import HealthStrip
from kalshikit.notebook.history import PriceHistory
from kalshikit.notebook.positions_table import PositionsTable, urgency_key

log = logging.getLogger("kalshikit.notebook")
MAX_FAILURES = 10
_REGISTRY: weakref.WeakKeyDictionary[Any, dict[str, Dashboard]] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def dashboards_of(kit: Any) -> dict[str, Dashboard]:
    """The live dashboards of ``kit`` by name (at most one per name)."""
    with _REGISTRY_LOCK:
        return dict(_REGISTRY.get(kit, {}))


class Dashboard:
    """See the module docstring.

    Options: ``name`` (dashboards of one kit with different names coexist; the same name replaces),
    ``max_rows`` (the most urgent positions shown), ``history_points`` (chart points kept per market),
    ``chart`` / ``controls`` (False to leave them out), ``chart_height`` (pixels), ``select`` (a ticker to chart
    first; by default the most urgent position is charted until you choose one).
    """

    def __init__(
        self,
        kit: Any,
        *,
        name: str = "main",
        max_rows: int = 250,
        history_points: int = 2000,
        chart: bool = True,
        controls: bool = True,
        chart_height: int = 340,
        select: str | None = None,
    ) -> None:
        self.kit = kit
        self.name = name
        self.state = "live"  # live | stopped | replaced | closed | failed
        self._lock = threading.RLock()
        self._remove: Callable[[], None] | None = None
        self.latest: Any = None
        self._good: Any = None  # the last snapshot rendered without error
        self.updates = 0
        self.failures = 0  # updates in a row that raised
        self.last_error = ""
        self.update_seconds: deque[float] = deque(maxlen=200)
        self.selected: str | None = select
        self._chosen = select is not None  # the user picked a position: stop auto-selecting
        self._local = threading.local()  # ``quiet``: this thread is changing the controls itself
        stale_s = float(getattr(getattr(kit, "settings", None), "websocket_price_cache_stale_secs", 60.0))
        self.history = PriceHistory(points=history_points)
        self.health = HealthStrip(stale_after_s=stale_s)
        self.table = PositionsTable(max_rows=max_rows, stale_after_s=stale_s)
        self.chart = PositionChart(height=chart_height) if chart else None
        self.controls = Controls(kit, on_select=self._user_selected) if controls else None
        parts: list[widgets.Widget] = [self.health.widget, self.table.widget]
        if self.chart is not None:
            parts.append(self.chart.widget)
        if self.controls is not None:
            parts.append(self.controls.widget)
        self.widget = widgets.VBox(parts)
        self.widget.add_class("kk-dashboard")
        self._register()
        self._attach()

    # ------------------------------------------------------------------ lifecycle
    def _register(self) -> None:
        with _REGISTRY_LOCK:
            mine = _REGISTRY.setdefault(self.kit, {})
            old = mine.get(self.name)
            mine[self.name] = self
        if old is not None and old is not self:
            old.close("replaced")

    def _attach(self) -> None:
        if getattr(self.kit, "running", False):
            try:
                self._remove = self.kit.on_update(self._on_snapshot)
            except RuntimeError:
                self._remove = None
        self.update(self.kit.snapshot())
        if not getattr(self.kit, "running", False):
            self._stopped()

    def _on_snapshot(self, snap: Any) -> None:
        """The UIUpdate thread's listener. A dashboard that keeps failing to render (its widgets gone, say) stops
        listening after ``MAX_FAILURES`` updates in a row instead of logging a traceback every interval."""
        if self.state != "live":
            return
        try:
            self.update(snap)
        except Exception as exc:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            if self.failures == 1:
                log.exception("dashboard %s: update failed", self.name)
            if self.failures >= MAX_FAILURES:
                log.error("dashboard %s: %d updates failed in a row; it stops updating", self.name, self.failures)
                self._detach()
                self.state = "failed"
                if self._good is not None:
                    try:
                        self.health.update(self._good, self._note())
                    except Exception:
                        log.exception("dashboard %s: could not show the failure", self.name)
            return
        self.failures = 0
        if not snap.running:
            self._stopped()

    def _detach(self) -> None:
        remove, self._remove = self._remove, None
        if remove is not None:
            remove()

    def _stopped(self) -> None:
        self._detach()
        with self._lock:
            if self.state == "live":
                self.state = "stopped"
            if self.latest is not None:
                self._render(self.latest)

    def close(self, reason: str = "closed") -> None:
        """Stop updating (the widgets stay on screen with a note). ``reason``: "closed" or "replaced"."""
        self._detach()
        with self._lock:
            self.state = reason
            if self.latest is not None:
                self._render(self.latest)
            if self.controls is not None:
                self.controls.update(self.latest.positions if self.latest else (), False, False)
                self.controls.say("info", self._note())
        with _REGISTRY_LOCK:
            mine = _REGISTRY.get(self.kit)
            if mine is not None and mine.get(self.name) is self:
                del mine[self.name]

    @property
    def listening(self) -> bool:
        return self._remove is not None

    # ------------------------------------------------------------------ rendering
    def update(self, snap: Any) -> float:
        """Render one snapshot (what the kit's UIUpdate thread calls); returns the seconds it took."""
        t0 = time.perf_counter()
        with self._lock:
            self.latest = snap
            self.history.add_snapshot(snap)
            self._render(snap)
            self._good = snap
            self.updates += 1
        took = time.perf_counter() - t0
        self.update_seconds.append(took)
        return took

    def refresh(self) -> None:
        """Render the kit's latest snapshot now."""
        self.update(self.kit.snapshot())

    def _note(self) -> str:
        return {
            "stopped": "stopped — the kit is not running; start it and display a new dashboard",
            "replaced": "replaced by a newer dashboard of this kit — this one no longer updates",
            "closed": "closed — this dashboard no longer updates",
            "failed": f"failed — this dashboard no longer updates ({self.last_error})",
        }.get(self.state, "")

    def _render(self, snap: Any) -> None:
        if not self._chosen and snap.positions and (self.selected is None or self._closed(self.selected, snap)):
            self.selected = min(snap.positions, key=urgency_key).ticker
        self.health.update(snap, self._note())
        self.table.update(snap.positions, snap.now_ns, self.selected)
        live = snap.running and self.state == "live"
        if self.controls is not None:
            self._local.quiet = True
            try:
                self.controls.update(snap.positions, snap.paused, live)
                if self.controls.selected != self.selected:
                    self.controls.select(self.selected)
            finally:
                self._local.quiet = False
        if self.chart is not None:
            self.chart.show(self.selected, self.history.get(self.selected) if self.selected else None, snap.now_ns)

    def _closed(self, ticker: str, snap: Any) -> bool:
        return all(p.ticker != ticker for p in snap.positions)

    def select(self, ticker: str | None) -> None:
        """Chart (and act on) ``ticker``; None clears the choice. Either stops the automatic choice of the most
        urgent position."""
        with self._lock:
            self.selected = ticker
            self._chosen = True
            if self.controls is not None:
                self._local.quiet = True
                try:
                    self.controls.select(ticker)
                finally:
                    self._local.quiet = False
            if self.latest is not None:
                self._render(self.latest)

    def _user_selected(self, ticker: str | None) -> None:
        if getattr(self._local, "quiet", False):  # our own change of the dropdown, not the user's
            return
        self.select(ticker)

    # ------------------------------------------------------------------ display
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        n = len(self.latest.positions) if self.latest is not None else 0
        return f"<Dashboard {self.name} {self.state} positions={n} updates={self.updates}>"
