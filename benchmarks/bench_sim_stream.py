"""Benchmark: ticker frames per second the simulator streams to one ``websocket-client`` reader over 127.0.0.1.

The simulator runs as its own process (``python -m kalshikit.sim``), playing a generated tape of ticker updates as
fast as the reader takes them (``--speed 0``, held until the reader subscribes). The reader subscribes to
``ticker`` for all markets and counts frames; the clock runs from the first ticker frame to the last. What is
measured is the whole path: tape decode, book update, frame build, fan-out, socket write, client read.

Usage::

    python benchmarks/bench_sim_stream.py [--frames 200000] [--markets 50]

Prints one JSON object; exit status 1 when below the target (20,000 frames/s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import websocket

from kalshikit.config import read_env_file
from kalshikit.kalshi.auth import KalshiSigner, load_private_key_file

TARGET = 20_000
NS_PER_MS = 1_000_000


def write_tape(path: Path, frames: int, markets: int, seed: int = 1) -> None:
    """A kit-format recording of ``frames`` ticker updates spread over ``markets`` markets (10 ms apart)."""
    rng = random.Random(seed)
    tickers = [f"KXBENCH-26DEC31-M{i:03d}" for i in range(markets)]
    t0 = time.time_ns()
    with path.open("w") as f:
        for i in range(frames):
            bid = rng.randrange(5, 90)
            ask = bid + rng.randrange(1, 5)
            ts = t0 + i * 10 * NS_PER_MS
            msg = {
                "market_ticker": tickers[i % markets],
                "price_dollars": f"0.{bid:02d}00",
                "yes_bid_dollars": f"0.{bid:02d}00",
                "yes_ask_dollars": f"0.{ask:02d}00",
                "yes_bid_size_fp": f"{rng.randrange(1, 500)}.00",
                "yes_ask_size_fp": f"{rng.randrange(1, 500)}.00",
                "volume_fp": f"{1000 + i}.00",
                "open_interest_fp": "250.00",
                "ts_ms": ts // NS_PER_MS,
            }
            raw = json.dumps({"type": "ticker", "sid": 1, "msg": msg}, separators=(",", ":"))
            f.write(json.dumps({"recv_ns": ts, "raw": raw}, separators=(",", ":")) + "\n")


def run(frames: int, markets: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="kalshikit-bench-") as tmp:
        tape = Path(tmp) / "bench.jsonl"
        write_tape(tape, frames, markets)
        cmd = [
            sys.executable,
            "-m",
            "kalshikit.sim",
            "--recording",
            str(tape),
            "--speed",
            "0",
            "--once",
            "--wait-for-subscriber",
            "--state-dir",
            tmp,
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().split()
            fields = dict(part.split("=", 1) for part in line[2:])
            key_id = read_env_file(Path(fields["settings"]))["KALSHI_API_KEY_ID"]  # never printed in full
            signer = KalshiSigner(key_id, load_private_key_file(fields["private_key"]))
            ws = websocket.create_connection(
                fields["ws"], header=signer.headers("GET", fields["ws"]), skip_utf8_validation=True, timeout=30
            )
            ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["ticker"]}}))
            got = 0
            first = 0.0
            prefix = '{"type":"ticker"'
            while got < frames:
                text = ws.recv()
                if isinstance(text, str) and text.startswith(prefix):
                    if got == 0:
                        first = time.perf_counter()
                    got += 1
            elapsed = time.perf_counter() - first
            ws.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    rate = (frames - 1) / elapsed if elapsed > 0 else 0.0
    return {
        "benchmark": "sim_stream",
        "frames": frames,
        "markets": markets,
        "seconds": round(elapsed, 3),
        "frames_per_s": round(rate),
        "target_frames_per_s": TARGET,
        "ok": rate >= TARGET,
        "client": "websocket-client (skip_utf8_validation=True), separate process from the simulator",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=200_000)
    p.add_argument("--markets", type=int, default=50)
    args = p.parse_args()
    result = run(args.frames, args.markets)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
