"""``python -m kalshikit.live`` as a user runs it: the demo on the simulator, clean stops, and exit code 2 with a
message that says what to fix."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshikit.sim import Simulator
from tests.conftest import ROOT, scaled


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KALSHI", "STOP_LOSS", "WEBSOCKET"))}
    return subprocess.run([sys.executable, "-m", "kalshikit.live", *args], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=scaled(timeout))


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
        deadline = time.monotonic() + scaled(30)
        line = ""
        while "[SIM]" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        assert "[SIM]" in line
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=scaled(30))
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
        sim.wait(scaled(30))


# ---------------------------------------------------------------------------- issue 11: rules on positions held
@pytest.fixture
def held_exchange() -> Iterator[Simulator]:
    """A simulator (in this process) where the account already holds 10 YES bought at 0.50, bid 0.50 / ask 0.51."""
    sim = Simulator(heartbeat_s=0.5)
    sim.start()
    sim.add_market(HELD, yes_bid=5000, yes_ask=5100, yes_bid_size=50_000, yes_ask_size=50_000)
    sim.seed_position(HELD, 1000, 5000)
    yield sim
    sim.stop()


HELD = "KXCLI-26DEC31-T50"


def exits_sent(sim: Simulator) -> list[object]:
    return [o for o in sim.order_log() if o.client_order_id.startswith("kk-")]


def test_rules_that_cannot_be_armed_on_a_position_held_stop_the_start(held_exchange: Simulator,
                                                                    tmp_path: Path) -> None:
    p = run("--stop-loss", "0.60", "--take-profit", "0.10", "--duration", "30",
            env={**held_exchange.kit_env(), "KALSHIKIT_DATA_DIR": str(tmp_path)})
    assert p.returncode == 2, p.stderr[-2000:]
    assert f"{HELD} (10 YES, entry 0.5): stop-loss 0.6000 from entry resolves to -0.1000" in p.stderr
    assert "that rule cannot be armed on it: change it" in p.stderr and "Traceback" not in p.stderr
    assert "kalshikit starting" not in p.stderr and not exits_sent(held_exchange)  # never ran unprotected


def test_a_level_the_price_already_crosses_needs_allow_immediate(held_exchange: Simulator, tmp_path: Path) -> None:
    env = {**held_exchange.kit_env(), "KALSHIKIT_DATA_DIR": str(tmp_path)}
    rules = tmp_path / "rules.toml"
    rules.write_text("[rules]\nstop_price = 0.55\n")  # a typo for 0.45: it would sell at once
    p = run("--rules", str(rules), "--duration", "30", env=env)
    assert p.returncode == 2, p.stderr[-2000:]
    assert "stop-loss 0.5500 is at or above the current price 0.5000" in p.stderr
    assert "pass --allow-immediate to exit it now" in p.stderr and not exits_sent(held_exchange)
    p = run("--stop-price", "0.55", "--allow-immediate", "--duration", "3", env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert held_exchange.position(HELD) is None or held_exchange.position(HELD).count == 0
    assert f"{HELD} closed (stop_loss)" in p.stderr and len(exits_sent(held_exchange)) == 1


def test_a_take_profit_beyond_one_dollar_is_none_not_an_error(held_exchange: Simulator, tmp_path: Path) -> None:
    p = run("--stop-loss", "0.10", "--take-profit", "0.60", "--duration", "2", "--status-every", "0.5",
            env={**held_exchange.kit_env(), "KALSHIKIT_DATA_DIR": str(tmp_path)})
    assert p.returncode == 0, p.stderr[-2000:]
    assert "the rules can protect the 1 position(s) held" in p.stderr
    assert "RULES NOT ARMED" not in p.stdout and "positions 1 (armed 1, exiting 0)" in p.stdout


# ---------------------------------------------------------------------------- issue 11: LOG_LEVEL, Ctrl-C
def test_log_level_takes_effect_and_a_bad_one_is_a_clear_error(tmp_path: Path) -> None:
    env = {"KALSHIKIT_DATA_DIR": str(tmp_path)}
    quiet = run("--duration", "1", env={**env, "LOG_LEVEL": "WARNING"})
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert " INFO " not in quiet.stderr and "positions closed this session" in quiet.stdout
    loud = run("--duration", "1", "--log-level", "debug", env={**env, "LOG_LEVEL": "WARNING"})  # the flag wins
    assert loud.returncode == 0 and " DEBUG " in loud.stderr and "kalshikit starting" in loud.stderr
    bad = run("--log-level", "bogus", "--duration", "1", env=env)
    assert bad.returncode == 2 and "--log-level: invalid choice: 'BOGUS'" in bad.stderr
    assert "Traceback" not in bad.stderr
    bad = run("--duration", "1", env={**env, "LOG_LEVEL": "chatty"})
    assert bad.returncode == 2
    assert "LOG_LEVEL='chatty' is not valid; allowed: debug | info | warning | error" in bad.stderr


def _tasks_setup_is_done() -> bool:
    """Whether ``tasks.py demo`` would start the demo at once (.venv set up for this Python) or install first."""
    spec = importlib.util.spec_from_file_location("kk_tasks", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    have = tasks.STAMP.read_text().split("\n") if tasks.STAMP.exists() else []
    return bool({tasks._wanted_stamp(False), tasks._wanted_stamp(True)} & set(have)) and tasks._python().exists()


@pytest.mark.parametrize("delivery", ["to tasks.py", "to the terminal's process group"])
def test_ctrl_c_on_tasks_demo_stops_the_demo_cleanly_with_its_summary(delivery: str, tmp_path: Path) -> None:
    """SIGINT to ``tasks.py demo`` alone (``kill -INT``) is passed on to the demo; Ctrl-C in a terminal reaches both.
    Either way the demo stops its threads, prints its summary and exits 0, and nothing prints a traceback."""
    if _tasks_setup_is_done():
        cmd = [sys.executable, str(ROOT / "tasks.py"), "demo", "--status-every", "1"]
    else:  # .venv would be installed first (slow, network): run the same forwarding code on the same command
        inner = [sys.executable, "-m", "kalshikit.live", "--demo", "--status-every", "1"]
        cmd = [sys.executable, "-c", f"import sys, tasks; sys.exit(tasks.run_program({inner!r}))"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI")}
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**base, "KALSHIKIT_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while "[SIM]" not in line and time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
        assert "[SIM]" in line, "the demo never printed its status line"
        if delivery == "to tasks.py":
            proc.send_signal(signal.SIGINT)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=scaled(60))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(scaled(10))
    assert proc.returncode == 0, err[-2000:]
    assert "received SIGINT, stopping" in err and "kalshikit stopping" in err
    assert "positions closed this session" in out
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
