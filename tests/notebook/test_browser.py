"""The dashboard in a real browser: JupyterLab runs notebook 01 top to bottom in headless Debian Chromium, and Voila
serves the standalone dashboard page; in both the dashboard must show a position whose price changes. Screenshots
go to test-output/ (gitignored). Skips with a reason when /usr/bin/chromium is not installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import eventually
from tests.notebook.nb_testkit import (
    NOTEBOOKS,
    chart_points,
    chromium_page,
    dashboard_rows,
    jupyterlab,
    require_chromium,
    screenshot,
    voila,
    wait_for_price_change,
)

HAVE_ANYWIDGET = importlib.util.find_spec("anywidget") is not None  # plotly's FigureWidget needs it
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

KERNEL_IDLE_JS = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const s = w && w.sessionContext;
    return !!(s && s.session && s.session.kernel && s.session.kernel.status === 'idle');
}"""
CELLS_JS = """() => {
    const m = window.jupyterapp.shell.currentWidget.content.model;
    const out = [];
    for (let i = 0; i < m.cells.length; i++) {
        const c = m.cells.get(i);
        if (c.type !== 'code') continue;
        const errors = [];
        for (let j = 0; j < c.outputs.length; j++) {
            const o = c.outputs.get(j).toJSON();
            if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
        }
        out.push({count: c.executionCount, errors: errors});
    }
    return out;
}"""


# Returns at once (the command's promise resolves only when every cell ran); the file browser is folded away so
# the dashboard gets the width.
RUN_ALL_JS = """() => {
    window.jupyterapp.commands.execute('application:toggle-left-area');
    window.jupyterapp.commands.execute('notebook:run-all-cells');
    return true;
}"""


def _run_state(page: Any) -> str:
    return str(page.evaluate("() => (document.querySelector('.kk-dashboard .kk-run-state') || {}).textContent"))


def test_quickstart_notebook_runs_in_jupyterlab(tmp_path: Path) -> None:
    require_chromium()
    nb = NOTEBOOKS / "01_quickstart_live.ipynb"
    with jupyterlab(tmp_path, [nb]) as (server, token, _root), chromium_page() as page:
        page.goto(f"{server.url}/lab/tree/{nb.name}?token={token}")
        eventually(lambda: page.evaluate(KERNEL_IDLE_JS), 90, interval=0.2, what="the notebook's kernel to start")
        page.evaluate(RUN_ALL_JS)  # no wait

        page.wait_for_selector(".kk-dashboard tr.kk-row", timeout=90_000)
        ticker, before, after = wait_for_price_change(page, 60)
        if HAVE_ANYWIDGET:
            eventually(lambda: sum(chart_points(page)[:2]) > 0, 30, interval=0.2, what="bid/ask in the chart")
        live = screenshot(page, "jupyterlab-01_quickstart_live.png", ".kk-dashboard")
        assert live.stat().st_size > 10_000
        assert "running" in _run_state(page) or "STOPPED" in _run_state(page)

        # The notebook ends with kit.stop(): every cell ran, none failed, and the dashboard says STOPPED.
        eventually(lambda: "STOPPED" in _run_state(page), 120, interval=0.25, what="the dashboard to show STOPPED")
        eventually(lambda: page.evaluate(KERNEL_IDLE_JS), 30, interval=0.2, what="the run to finish")
        cells = page.evaluate(CELLS_JS)
        assert all(c["count"] for c in cells), cells
        assert not [c["errors"] for c in cells if c["errors"]], server.log()
        screenshot(page, "jupyterlab-01_quickstart_stopped.png", ".kk-dashboard")
    assert before != after, (ticker, before, after)


def test_dashboard_voila_page_updates_live(tmp_path: Path) -> None:
    require_chromium()
    nb = NOTEBOOKS / "dashboard_voila.ipynb"
    with voila(tmp_path, nb) as server, chromium_page() as page:
        page.goto(server.url)
        page.wait_for_selector(".kk-dashboard tr.kk-row", timeout=90_000)
        _ticker, before, after = wait_for_price_change(page, 60)
        assert before != after
        if HAVE_ANYWIDGET:  # the chart was made before this page connected: it must still show the prices
            eventually(lambda: sum(chart_points(page)[:2]) > 0, 30, interval=0.2, what="bid/ask in the chart")
        assert "running" in _run_state(page)
        assert page.locator(".kk-dashboard .kk-env").first.text_content() == "SIM"
        assert page.locator(".jp-InputArea, .jp-CodeCell .jp-Editor").count() == 0  # only outputs on the page
        assert dashboard_rows(page)
        shot = screenshot(page, "voila-dashboard.png")
        assert shot.stat().st_size > 10_000
        if HAVE_ANYWIDGET:  # the chart follows the window: narrower, then wider again
            for width in (800, 1300):
                page.set_viewport_size({"width": width, "height": 1000})
                eventually(lambda: chart_fits(page), 20, interval=0.2, what=f"the chart to fit a {width}px window")


CHART_WIDTH_JS = """() => {
    const d = document.querySelector('.kk-dashboard');
    const svg = d && d.querySelector('.js-plotly-plot .main-svg');
    return svg ? [svg.getBoundingClientRect().width, d.getBoundingClientRect().width, window.innerWidth] : null;
}"""


def chart_fits(page: Any) -> bool:
    """The chart spans the dashboard's width (within a scrollbar's), and the dashboard fits the window."""
    widths = page.evaluate(CHART_WIDTH_JS)
    if not widths:
        return False
    chart, dashboard, window = widths
    return bool(dashboard <= window and abs(chart - dashboard) <= 20)
