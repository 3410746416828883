#!/usr/bin/env python3
"""Set up ``.venv/`` at the repo root and run the kit's main job or its test suite. Standard library only.

    python3 tasks.py demo     # set up, then run the live monitor on the built-in simulator (no credentials)
    python3 tasks.py test     # set up, then run the whole test suite (what CI runs via .ci/run)
    python3 tasks.py setup    # only set up / refresh .venv

The virtual environment is refreshed whenever pyproject.toml changes (a hash is kept in .venv). Extra arguments
after the task name go to the program (``python3 tasks.py test -k units``). Ctrl-C (SIGINT) and SIGTERM are passed
on to the program, and tasks.py waits for it to finish cleanly (the demo prints its summary) and exits with its code.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".kalshikit-installed"
# Kalshi's official SDK, used only by the conformance tests. Its metadata says Python >= 3.13 but it runs on 3.11.
OFFICIAL_SDK = "kalshi-python-sync>=3.30"


def _python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _run(cmd: list[str], **kw: object) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def run_program(cmd: list[str]) -> int:
    """Run ``cmd`` in the repo and return its exit code, passing SIGINT/SIGTERM on to it instead of dying with a
    KeyboardInterrupt: it stops the way it chooses to (the demo stops its threads and prints its summary) and we
    wait for that. A Ctrl-C in a terminal reaches the program directly too; a second signal does no harm."""
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT)

    def forward(signum: int, _frame: object) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code if code >= 0 else 128 - code  # killed by a signal: the shell's convention


def _wanted_stamp(with_test_extras: bool) -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return f"{digest}:{'test' if with_test_extras else 'run'}:{sys.version_info[:2]}"


def setup(with_test_extras: bool) -> Path:
    """Create or refresh .venv; returns its python."""
    if sys.version_info < (3, 11):  # noqa: UP036 - tasks.py may be started by an older python3
        sys.exit(f"kalshikit needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    py = _python()
    if not py.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    have = STAMP.read_text().split("\n") if STAMP.exists() else []
    want = _wanted_stamp(with_test_extras)
    # A test install also satisfies the demo; a demo install does not satisfy the tests.
    satisfied = want in have or (not with_test_extras and _wanted_stamp(True) in have)
    if not satisfied:
        _run([str(py), "-m", "pip", "install", "--upgrade", "pip"], cwd=ROOT)
        target = ".[dev]" if with_test_extras else "."
        _run([str(py), "-m", "pip", "install", "-e", target], cwd=ROOT)
        if with_test_extras:
            _run([str(py), "-m", "pip", "install", "--ignore-requires-python", OFFICIAL_SDK], cwd=ROOT)
        STAMP.write_text("\n".join([*have, want]))
    return py


def _ensure_chromium() -> None:
    """The browser tests drive Debian's chromium with Playwright; install it when we can (root + apt)."""
    if shutil.which("chromium") or os.environ.get("KALSHIKIT_SKIP_BROWSER_SETUP"):
        return
    if os.name == "posix" and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            _run(["apt-get", "update", "-qq"], env=env)
            _run(["apt-get", "install", "-y", "-qq", "chromium"], env=env)
        except subprocess.CalledProcessError:
            print("could not install chromium; the browser tests will be skipped", flush=True)
    else:
        print("chromium is not installed and cannot be installed here; browser tests will be skipped", flush=True)


def _workers(rest: list[str]) -> list[str]:
    """pytest-xdist workers for the suite: one per core, at least 2 (the tests wait on subprocesses and sockets much
    of the time, so 2 workers halve the wall time even on 2 cores) and at most 4. Given ``-n``/``--numprocesses``
    or ``-p no:xdist`` after ``test``, that choice stands."""
    if any(a.startswith(("-n", "--numprocesses", "--dist")) or a == "no:xdist" for a in rest):
        return []
    return ["-n", str(min(4, max(2, os.cpu_count() or 1)))]


def main(argv: list[str]) -> int:
    task, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if task == "setup":
        setup(with_test_extras=True)
        return 0
    if task == "demo":
        py = setup(with_test_extras=False)
        return run_program([str(py), "-m", "kalshikit.live", "--demo", *rest])
    if task == "test":
        py = setup(with_test_extras=True)
        _ensure_chromium()
        notebooks = ["--nbmake", "notebooks"] if any((ROOT / "notebooks").glob("*.ipynb")) else []
        return run_program([str(py), "-m", "pytest", *_workers(rest), "tests", *notebooks, *rest])
    print(__doc__)
    return 0 if task in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
