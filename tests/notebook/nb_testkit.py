"""Helpers for the notebook and browser tests: the notebooks folder, free ports, a JupyterLab or Voila server in a
temporary root with its own config dirs, headless Debian Chromium through Playwright, and reading the dashboard
out of the page. Plain functions and classes (tests/conftest.py holds the shared fixtures)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, eventually, scaled

NOTEBOOKS = ROOT / "notebooks"
OUTPUT = ROOT / "test-output"
BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Jupyter refuses to run as root unless told; CI runs as root on a throwaway machine.
ROOT_OK = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []


def notebook_files() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_chromium() -> None:
    """Skip the calling test when the browser or Playwright is missing (CI installs chromium via tasks.py)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian: apt-get install -y chromium; tasks.py test does it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright Python package is not installed (pip install -e .[dev])")


def clean_env(home: Path) -> dict[str, str]:
    """The environment for a server: no Kalshi credentials or settings, Jupyter/IPython state under ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KALSHI_", "JUPYTER_", "IPYTHON"))}
    for name in ("config", "data", "runtime", "ipython", "kalshikit"):
        (home / name).mkdir(parents=True, exist_ok=True)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
        KALSHIKIT_DATA_DIR=str(home / "kalshikit"),
        PYTHONUNBUFFERED="1",
    )
    return env


class Server:
    """A Jupyter server process (JupyterLab or Voila) started by a test; its log goes to ``log_path``."""

    def __init__(self, cmd: list[str], url: str, env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.url = url
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_ready(self, probe: str, timeout: float = 60.0) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(probe, timeout=2) as r:
                    return bool(r.status == 200)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False

        eventually(up, timeout, interval=0.2, what=f"server at {probe}")

    def stop(self) -> None:
        """Ask the server to stop (it shuts its kernels down), then make sure its process group is gone."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(scaled(15))
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group we started: kernels it left behind, if any
        self.proc.wait(scaled(5))
        self._log.close()


@contextmanager
def jupyterlab(tmp: Path, notebooks: list[Path]) -> Iterator[tuple[Server, str, Path]]:
    """JupyterLab on 127.0.0.1 with a token, serving copies of ``notebooks`` from a temporary root (so nothing it
    autosaves touches the repository). Yields (server, token, root)."""
    root = tmp / "root"
    root.mkdir()
    for nb in notebooks:
        shutil.copy(nb, root / nb.name)
    settings = tmp / "lab-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # Render every cell (no virtual scrolling), so the dashboard stays in the page while later cells run.
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    notices = tmp / "lab-settings" / "@jupyterlab" / "apputils-extension"
    notices.mkdir(parents=True)
    (notices / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    token = os.urandom(12).hex()
    port = free_port()
    cmd = [
        str(BIN / "jupyter"),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={tmp / 'lab-settings'}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--ServerApp.terminals_enabled=False",
        *ROOT_OK,
    ]
    server = Server(cmd, f"http://127.0.0.1:{port}", clean_env(tmp / "home"), root, tmp / "jupyterlab.log")
    try:
        server.wait_ready(f"{server.url}/api/status?token={token}")
        yield server, token, root
    finally:
        server.stop()


@contextmanager
def voila(tmp: Path, notebook: Path) -> Iterator[Server]:
    """Voila serving ``notebook`` (a copy, from a temporary root) on 127.0.0.1 with a token."""
    root = tmp / "root"
    root.mkdir()
    shutil.copy(notebook, root / notebook.name)
    token = os.urandom(12).hex()
    port = free_port()
    cmd = [
        str(BIN / "voila"),
        notebook.name,
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        f"--port={port}",
        "--Voila.port_retries=0",
        f"--token={token}",
    ]
    url = f"http://127.0.0.1:{port}/?token={token}"
    server = Server(cmd, url, clean_env(tmp / "home"), root, tmp / "voila.log")
    try:
        # Voila runs the notebook per page request; it is up once it serves its static files.
        server.wait_ready(f"http://127.0.0.1:{port}/voila/static/voila.js")
        yield server
    finally:
        server.stop()


@contextmanager
def chromium_page(width: int = 1500, height: int = 1100) -> Iterator[Any]:
    """A page in headless Debian Chromium (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


ROW_PRICES_JS = """() => Array.from(document.querySelectorAll('.kk-dashboard tr.kk-row')).map(r => [
    r.dataset.ticker,
    (r.querySelector('td.kk-bid') || {}).textContent,
    (r.querySelector('td.kk-ask') || {}).textContent,
])"""


def dashboard_rows(page: Any) -> list[tuple[str, str, str]]:
    """(ticker, YES bid, YES ask) of every row the dashboard shows right now."""
    return [(str(t), str(b), str(a)) for t, b, a in page.evaluate(ROW_PRICES_JS)]


def wait_for_price_change(page: Any, timeout: float) -> tuple[str, str, str]:
    """Wait until a market in the dashboard shows another bid/ask than when first seen there; returns
    (ticker, first "bid/ask", later "bid/ask")."""
    first: dict[str, str] = {}

    def changed() -> tuple[str, str, str] | None:
        for ticker, bid, ask in dashboard_rows(page):
            now = f"{bid}/{ask}"
            before = first.setdefault(ticker, now)
            if now != before:
                return ticker, before, now
        return None

    return eventually(changed, timeout, interval=0.1, what="a price change shown in the dashboard")


CHART_POINTS_JS = """() => {
    const g = document.querySelector('.kk-dashboard .js-plotly-plot');
    return g && g.data ? g.data.map(t => (t.x || []).length) : [];
}"""


def chart_points(page: Any) -> list[int]:
    """Points per trace of the dashboard's chart as drawn in the page (bid, ask, entry, levels, markers)."""
    return [int(n) for n in page.evaluate(CHART_POINTS_JS)]


def screenshot(page: Any, name: str, selector: str | None = None) -> Path:
    """Save ``test-output/<name>``: the element ``selector`` (scrolled into view) or the whole page."""
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / name
    if selector is not None:
        page.locator(selector).first.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=True)
    return path


# ---------------------------------------------------------------------------- a kit on a private simulator
def open_position(sim: Any, kit: Any, ticker: str, count: int = 1000, price: int = 5000) -> None:
    """Give the account a position on the exchange and wait until the kit has adopted it."""
    sim.seed_position(ticker, count, price)
    kit.reconcile_now()

    def adopted() -> bool:
        kit.sync()
        return any(v.ticker == ticker and v.count == abs(count) for v in kit.snapshot().positions)

    eventually(adopted, 10, what=f"adoption of {ticker}")
