"""The live chart of the selected position: own-side bid/ask path with its entry, stop-loss, trailing stop and
take-profit levels over time, and markers where a rule fired and where the exit filled.

A ``plotly.graph_objects.FigureWidget`` fed from :class:`~kalshikit.notebook.history.PriceHistory`; it is redrawn
only when the selected market's history changed. Without ``anywidget`` (which plotly's FigureWidget needs) the chart
is replaced by a one-line note and the rest of the dashboard works.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np

from kalshikit.notebook import fmt
from kalshikit.notebook.history import FIELDS, MarketHistory
from kalshikit.units import PRICE_SCALE

# name, history field, line style
LINES = (
    ("bid", "bid", {"color": "#1f77b4", "width": 2, "shape": "hv"}),
    ("ask", "ask", {"color": "#9ecae1", "width": 1, "shape": "hv"}),
    ("entry", "entry", {"color": "#555", "width": 1, "dash": "dot", "shape": "hv"}),
    ("stop-loss", "stop_loss", {"color": "#d62728", "width": 1.5, "dash": "dash", "shape": "hv"}),
    ("trailing stop", "trailing", {"color": "#ff7f0e", "width": 1.5, "dash": "dash", "shape": "hv"}),
    ("take-profit", "take_profit", {"color": "#2ca02c", "width": 1.5, "dash": "dash", "shape": "hv"}),
)
MARKERS = (
    ("trigger", "trigger", {"symbol": "x", "size": 11, "color": "#d62728"}),
    ("exit fill", "exit", {"symbol": "triangle-down", "size": 12, "color": "#000"}),
)


def _figure_widget(height: int) -> Any | None:
    """The figure with all its traces given at construction: plotly syncs a FigureWidget's traces to the browser
    in full only on construction (later additions are one-off messages a view created afterwards, e.g. by Voila
    or a page reload, never sees), so the set of traces is fixed here and only their data changes."""
    try:
        import plotly.graph_objects as go

        traces = [go.Scatter(x=[], y=[], mode="lines", name=n, line=line, connectgaps=False) for n, _, line in LINES]
        traces += [
            go.Scatter(x=[], y=[], mode="markers", name=n, marker=m, text=[], hoverinfo="x+y+text")
            for n, _, m in MARKERS
        ]
        layout = go.Layout(
            height=height,
            margin={"l": 50, "r": 10, "t": 36, "b": 30},
            title={"text": "select a position", "font": {"size": 13}},
            yaxis={"title": {"text": "own-side price ($)"}, "tickformat": ".2f"},
            xaxis={"title": {"text": "seconds"}, "type": "linear", "zeroline": False},
            legend={"orientation": "h", "y": -0.18, "font": {"size": 11}},
            uirevision="kalshikit",
        )
        fig = go.FigureWidget(data=traces, layout=layout)
    except ImportError:
        return None
    # Plotly's widget view listens for window resizes only when it lives in a Lumino panel (classic ipywidgets);
    # as an anywidget (plotly 6+) it never does. plotly.js' own ``responsive`` option makes the figure follow the
    # window: it re-measures its container on every resize (no width is set in the layout, so it fills it).
    fig._config = {**fig._config, "responsive": True}
    return fig


class PositionChart:
    """Shows one market's history in :attr:`widget`; call :meth:`show` with the history to draw."""

    def __init__(self, *, height: int = 340) -> None:
        self.figure = _figure_widget(height)
        self.redraws = 0
        self._drawn: tuple[str | None, int] = (None, -1)
        if self.figure is None:
            self.widget: widgets.Widget = widgets.HTML(
                "<i>The live chart needs the <code>anywidget</code> package (plotly's FigureWidget uses it): "
                "<code>pip install anywidget</code>, then restart the kernel.</i>"
            )
            return
        self.widget = self.figure

    def show(self, ticker: str | None, history: MarketHistory | None, now_ns: int | None = None) -> bool:
        """Draw ``history`` (None clears the chart); returns True when the figure was redrawn."""
        if self.figure is None:
            return False
        version = history.version if history is not None else -1
        if (ticker, version) == self._drawn:  # the x axis is relative to now: it moves with every new point
            return False
        self._drawn = (ticker, version)
        self.redraws += 1
        fig = self.figure
        with fig.batch_update():
            if history is None or not len(history):
                for trace in fig.data:
                    trace.x, trace.y = (), ()
                fig.layout.title.text = "select a position" if ticker is None else f"{ticker}: no prices yet"
                return True
            # Time as seconds (or minutes) before now: a plain number axis. (A plotly "date" axis fed numbers turns
            # itself back into a number axis on every data update of a FigureWidget.)
            now = now_ns if now_ns is not None else history.last_ns
            times = history.times()
            span_s = (now - int(times[0])) / 1e9
            unit, per = ("minutes", 60e9) if span_s > 600 else ("seconds", 1e9)
            t = (times - now) / per
            rows = history.values() / PRICE_SCALE  # missing -> nan (a gap in the line)
            for i, (_, name, _) in enumerate(LINES):
                trace = fig.data[i]
                trace.x = t
                trace.y = rows[:, FIELDS.index(name)]
            for j, (_, kind, _) in enumerate(MARKERS):
                ms = [m for m in history.markers if m.kind == kind]
                trace = fig.data[len(LINES) + j]
                trace.x = (np.array([m.ns for m in ms], dtype=np.int64) - now) / per
                trace.y = np.array([m.price / PRICE_SCALE for m in ms], dtype=float)
                trace.text = [m.label for m in ms]
            side = (history.side or "").upper()
            last = rows[-1]
            bid, ask = last[FIELDS.index("bid")], last[FIELDS.index("ask")]
            quote = f"bid {bid:.4g} / ask {ask:.4g}".replace("nan", "–")
            state = " — closed" if history.closed else ""
            # The title changes with the price, so a view that connects late (Voila, a reload) catches up.
            fig.layout.title.text = f"{ticker} · {side} side · {quote}{state}"
            fig.layout.xaxis.title.text = f"{unit} before {fmt.clock(now)} UTC"
        return True
