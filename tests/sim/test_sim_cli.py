"""``python -m kalshikit.sim``: the ready line, the demo key file, own keys, fault flags, clean exit on signals."""

from __future__ import annotations

import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import websocket

from kalshikit.config import mask_key_id, read_env_file
from kalshikit.kalshi.auth import KalshiSigner, generate_rsa_key, load_private_key_file
from tests.conftest import eventually, scaled


class Cli:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kalshikit.sim", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.line = self.proc.stdout.readline().strip()
        self.fields = dict(part.split("=", 1) for part in self.line.split()[2:]) if "ready" in self.line else {}

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=scaled(20))


@pytest.fixture
def cli_factory() -> Iterator[list[Cli]]:
    started: list[Cli] = []
    yield started
    for c in started:
        if c.proc.poll() is None:
            c.proc.kill()
            c.proc.wait(timeout=scaled(10))


def _start(started: list[Cli], *args: str) -> Cli:
    c = Cli(*args)
    started.append(c)
    return c


def test_ready_line_demo_key_and_clean_exit_on_sigterm(cli_factory: list[Cli], tmp_path: Path) -> None:
    c = _start(cli_factory, "--port", "0", "--no-tape", "--state-dir", str(tmp_path), "--balance-dollars", "50")
    assert c.line.startswith("kalshikit-sim ready "), c.line
    rest, ws = c.fields["rest"], c.fields["ws"]
    assert rest.startswith("http://127.0.0.1:") and rest.endswith("/trade-api/v2")
    assert ws.startswith("ws://127.0.0.1:") and ws.endswith("/trade-api/ws/v2")
    assert rest.split(":")[2].split("/")[0] == ws.split(":")[2].split("/")[0] != "0"
    key_path = Path(c.fields["private_key"])
    assert key_path.parent == tmp_path and stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert "BEGIN" not in c.line and "BEGIN" in key_path.read_text()
    settings = Path(c.fields["settings"])
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    env = read_env_file(settings)
    key_id = env["KALSHI_API_KEY_ID"]
    assert key_id not in c.line and c.fields["key_id"] == mask_key_id(key_id)  # the full id is never printed
    assert (env["KALSHI_REST_URL"], env["KALSHI_WS_URL"], env["KALSHI_PRIVATE_KEY_PATH"]) == (rest, ws, str(key_path))
    signer = KalshiSigner(key_id, load_private_key_file(key_path))
    r = requests.get(
        rest + "/portfolio/balance", headers=signer.headers("GET", rest + "/portfolio/balance"), timeout=scaled(10)
    )
    assert r.status_code == 200 and r.json()["balance"] == 5_000
    w = websocket.create_connection(ws, header=signer.headers("GET", ws), timeout=scaled(10))
    assert c.stop(signal.SIGTERM) == 0
    opcode, data = w.recv_data(control_frame=True)
    while opcode != websocket.ABNF.OPCODE_CLOSE:
        opcode, data = w.recv_data(control_frame=True)
    assert struct.unpack("!H", data[:2])[0] == 1001  # "going away"
    assert c.proc.stderr is not None and "Traceback" not in c.proc.stderr.read()


def test_sigint_also_exits_cleanly(cli_factory: list[Cli]) -> None:
    c = _start(cli_factory, "--no-tape")
    assert c.fields
    assert c.stop(signal.SIGINT) == 0


def test_own_key_and_fault_flags(cli_factory: list[Cli], tmp_path: Path) -> None:
    signer = KalshiSigner("my-key-" + uuid.uuid4().hex[:6], generate_rsa_key())
    pem = tmp_path / "pub.pem"
    pem.write_bytes(signer.public_key_pem())
    c = _start(
        cli_factory,
        "--no-tape",
        "--key-id",
        signer.key_id,
        "--public-key",
        str(pem),
        "--rest-errors",
        "429:2",
        "--rest-errors",
        "503:1",
    )
    assert "private_key" not in c.fields and c.fields["key_id"] == mask_key_id(signer.key_id) != signer.key_id
    url = c.fields["rest"] + "/portfolio/balance"
    codes = [requests.get(url, headers=signer.headers("GET", url), timeout=scaled(10)).status_code for _ in range(4)]
    assert codes == [429, 429, 503, 200]
    assert c.stop() == 0


def test_default_synthetic_tape(cli_factory: list[Cli]) -> None:
    c = _start(cli_factory, "--synthetic-markets", "2", "--synthetic-duration", "30", "--speed", "0", "--once")
    url = c.fields["rest"] + "/markets"
    markets = eventually(
        lambda: [m for m in requests.get(url, timeout=scaled(10)).json()["markets"] if m["status"] == "finalized"],
        what="the synthetic markets to settle",
    )
    assert len(markets) == 2
    assert c.stop() == 0


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--rest-errors", "200"], "--rest-errors"),
        (["--key-id", "abc"], "--key-id and --public-key"),
        (["--recording", "/no/such/file.jsonl"], "does not exist"),
        (["--speed", "-2"], "speed"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args: list[str], text: str) -> None:
    p = subprocess.run([sys.executable, "-m", "kalshikit.sim", *args], capture_output=True, text=True,
                       timeout=scaled(60))
    assert p.returncode == 2 and text in p.stderr and p.stdout == ""


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = subprocess.run(
            [sys.executable, "-m", "kalshikit.sim", "--no-tape", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=scaled(60),
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    assert p.returncode == 2 and f"127.0.0.1:{port}" in p.stderr and "Traceback" not in p.stderr
