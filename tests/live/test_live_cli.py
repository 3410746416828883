"""``python -m kalshikit.live`` as a user runs it: the demo on the simulator, clean stops, and exit code 2 with a
message that says what to fix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KALSHI", "STOP_LOSS", "WEBSOCKET"))}
    return subprocess.run([sys.executable, "-m", "kalshikit.live", *args], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_demo_triggers_exits_and_stops_cleanly(tmp_path: Path) -> None:
    p = run("--demo", "--duration", "15", "--status-every", "2", "--record", str(tmp_path / "rec"),
            env={"KALSHIKIT_DATA_DIR": str(tmp_path)})
    assert p.returncode == 0, p.stderr[-2000:]
    assert "Connected to Kalshi WebSocket (sim, ws://127.0.0.1" in p.stderr
    assert "[SIM]" in p.stdout and "positions" in p.stdout  # status lines
    assert " trigger " in p.stderr and "closed (" in p.stderr  # triggers and exits logged with their reason
    assert "positions closed this session" in p.stdout and "net P&L" in p.stdout
    assert list((tmp_path / "rec").glob("*.jsonl.gz")), "the session was recorded"


def test_sigterm_stops_the_engine_and_flushes(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI")}
    proc = subprocess.Popen([sys.executable, "-m", "kalshikit.live", "--status-every", "1"], cwd=ROOT,
                            env={**base, "KALSHIKIT_DATA_DIR": str(tmp_path)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        line = ""
        while "[SIM]" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        assert "[SIM]" in line
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "received SIGTERM, stopping" in err and "kalshikit stopping" in err
    assert "positions closed this session" in out


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {"STOP_LOSS_CHECK_INTERVAL": "-1"}, "STOP_LOSS_CHECK_INTERVAL='-1' is not valid"),
        ((), {"WEBSOCKET_ENABLED": "maybe"}, "WEBSOCKET_ENABLED='maybe' is not valid"),
        (("--env", "prod"), {}, "KALSHI_ENV=prod needs credentials"),
        (("--env", "demo", "--recording", "recordings/sample"), {"KALSHI_API_KEY_ID": "abc",
                                                               "KALSHI_PRIVATE_KEY": "-----BEGIN X-----"},
         "cannot be used with --env demo"),
        (("--stop-loss", "1.5"), {}, "prices move within $0..$1"),
        (("--demo", "--env", "demo"), {"KALSHI_API_KEY_ID": "k", "KALSHI_PRIVATE_KEY": "-----BEGIN X-----"},
         "--demo runs on the simulator only"),
    ],
)
def test_bad_configuration_exits_2_with_what_to_fix(args: tuple[str, ...], env: dict[str, str],
                                                    message: str) -> None:
    p = run(*args, "--duration", "1", env=env, timeout=60)
    assert p.returncode == 2, (p.returncode, p.stderr[-1500:])
    assert message in p.stderr


def test_missing_key_file_is_a_clear_error(tmp_path: Path) -> None:
    p = run("--env", "demo", "--duration", "1",
            env={"KALSHI_API_KEY_ID": "abcdef12-3456", "KALSHI_PRIVATE_KEY_PATH": str(tmp_path / "nope.key")})
    assert p.returncode == 2
    assert "KALSHI_PRIVATE_KEY_PATH" in p.stderr and "does not exist" in p.stderr
    assert "abcdef12-3456" not in p.stderr  # the full key id is never printed


def test_live_cli_trades_a_simulator_started_from_the_command_line(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI")}
    sim = subprocess.Popen([sys.executable, "-m", "kalshikit.sim", "--port", "0", "--state-dir", str(tmp_path)],
                           cwd=ROOT, env=base, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert sim.stdout is not None
        fields = dict(part.split("=", 1) for part in sim.stdout.readline().split()[2:])
        p = run("--env-file", fields["settings"], "--duration", "3", env={"KALSHIKIT_DATA_DIR": str(tmp_path)})
        assert p.returncode == 0, p.stderr[-2000:]
        assert f"Connected to Kalshi WebSocket (sim, {fields['ws']})" in p.stderr
    finally:
        sim.terminate()
        sim.wait(30)
