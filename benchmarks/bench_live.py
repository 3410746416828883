"""Benchmarks of the live engine against the simulator; prints one JSON object.

- **tick-to-exit latency**: measured at the simulator, from writing the crossing ticker frame to receiving the exit
  order, one market at a time over many markets (target p50 <= 2 ms, p99 <= 10 ms), with an RSA key (signing
  costs ~0.27 ms) and with an Ed25519 key (~0.04 ms);
- **ingest**: ticker frames per second through the socket, decode, price cache and monitor wake-ups (every frame
  is a full rule evaluation), with the monitor's inbox backlog sampled, while a firehose process writes frames as
  fast as the socket takes them (target >= 50,000 frames/s, no growing backlog);
- **idle**: CPU used by the kit with 100 held markets and no updates (target < 2% of one core).

The kit runs in its own process (so it does not share the GIL with the simulator) and reports through stdout.

    python benchmarks/bench_live.py [--markets 200] [--ingest-frames 300000] [--idle-seconds 10]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kalshikit.sim import Simulator  # noqa: E402

CHILD = r"""
import json, sys, threading, time
sys.path.insert(0, {root!r})
from kalshikit.config import Settings
from kalshikit.core.rules import protection
from kalshikit.live.kit import Kit
s = Settings.from_env(environ={env!r}, env_file=None, stop_loss_check_interval=2, reconcile_interval={reconcile},
                      ui_update_interval=1, strategy_loop_interval=30, reads_per_second=1000, writes_per_second=1000)
rules = protection(stop=0.05) if {mode!r} == "exit" else protection(stop_price=0.01, take_profit_price=0.99)
kit = Kit(s, journal_path={journal!r}, default_protection=rules)
kit.start()
peak = [0]
def sample():
    while True:
        q = kit._inbox.qsize()
        peak[0] = max(peak[0], q)
        time.sleep(0.01)
threading.Thread(target=sample, daemon=True).start()
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "status":
        kit.sync(30)
        ws = kit.ws.metrics
        print(json.dumps({{"positions": len(kit.monitor_thread.snapshot), "frames": ws.frames,
                          "subscribed": len(ws.subscriptions.get("ticker", [])),
                          "events": kit.monitor_thread.events_fed,
                          "inbox": kit._inbox.qsize(), "inbox_peak": peak[0], "decode_errors": ws.decode_errors,
                          "now": time.perf_counter()}}), flush=True)
    elif cmd == "reset_peak":
        peak[0] = 0
        print("{{}}", flush=True)
    elif cmd == "quit":
        break
kit.stop()
"""


class KitChild:
    def __init__(self, sim: Simulator, journal: Path, reconcile: float = 0.5, key: str = "rsa",
                 mode: str = "exit", ws_url: str | None = None) -> None:
        key_id, key_path = sim.key_id, sim.private_key_path
        if key == "ed25519":
            k = sim.create_key(algorithm="ed25519")
            key_id, key_path = k.key_id, k.private_key_path
        env = {
            "KALSHI_ENV": "sim",
            "KALSHI_REST_URL": sim.rest_url,
            "KALSHI_WS_URL": ws_url or sim.ws_url,
            "KALSHI_API_KEY_ID": key_id,
            "KALSHI_PRIVATE_KEY_PATH": str(key_path),
        }
        code = CHILD.format(root=str(ROOT), env=env, journal=str(journal), reconcile=reconcile, mode=mode)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)

    def ask(self, cmd: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the kit process died")
        result: dict[str, Any] = json.loads(line)
        return result

    def wait(self, cond: Any, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            st = self.ask("status")
            if cond(st):
                return st
            if time.monotonic() > deadline:
                raise TimeoutError(f"kit did not reach the expected state: {st}")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(RuntimeError, BrokenPipeError):
                self.ask("quit")
            self.proc.wait(30)


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def seed(sim: Simulator, tickers: list[str]) -> None:
    for t in tickers:
        sim.add_market(t, yes_bid=5000, yes_ask=5100, yes_bid_size=1_000_000, yes_ask_size=1_000_000)
        sim.seed_position(t, 1000, 5000)


def bench_latency(markets: int, tmp: Path, key: str = "rsa") -> dict[str, Any]:
    sim = Simulator(heartbeat_s=10.0)
    sim.start()
    kit = None
    try:
        tickers = [f"KXLAT-26DEC31-M{i:04d}" for i in range(markets)]
        seed(sim, tickers)
        kit = KitChild(sim, tmp / f"latency-{key}.sqlite", reconcile=10, key=key)
        kit.wait(lambda s: s["positions"] == markets and s["subscribed"] == markets)
        time.sleep(0.5)
        lat: list[float] = []
        seen = len(sim.order_log())
        for t in tickers:
            prev = sim.last_ticker_sent(t)
            sim.set_quote(t, 4000, 4100, 1_000_000, 1_000_000)
            # The send time of *this* frame: the first change after the quote (later frames of the same market,
            # e.g. after the exit traded, would overwrite it).
            sent = prev
            while sent == prev:
                time.sleep(0.0002)  # polling the simulator's loop harder would slow the simulator itself
                sent = sim.last_ticker_sent(t)
            deadline = time.monotonic() + 10
            entry = None
            while entry is None:
                log = sim.order_log()
                for e in log[seen:]:
                    if isinstance(e.body, dict) and e.body.get("ticker") == t:
                        entry = e
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no exit for {t}")
                if entry is None:
                    time.sleep(0.002)
            seen = len(sim.order_log())
            assert sent is not None
            lat.append((entry.recv_perf_ns - sent[0]) / 1e6)
            time.sleep(0.01)
        return {
            "key": key,
            "samples": len(lat),
            "p50_ms": round(_pct(lat, 0.50), 3),
            "p90_ms": round(_pct(lat, 0.90), 3),
            "p99_ms": round(_pct(lat, 0.99), 3),
            "max_ms": round(max(lat), 3),
            "target": "p50 <= 2 ms, p99 <= 10 ms",
            "meets_target": _pct(lat, 0.5) <= 2.0 and _pct(lat, 0.99) <= 10.0,
        }
    finally:
        if kit is not None:
            kit.close()
        sim.stop()


def bench_ingest(frames: int, markets: int, tmp: Path) -> dict[str, Any]:
    """The kit's WebSocket points at a firehose (benchmarks/ws_firehose.py, its own process) that writes ticker
    frames as fast as the socket takes them; REST (positions, reconciliation) still goes to the simulator."""
    port_file, go_file = tmp / "fire.port", tmp / "fire.go"
    fire = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "ws_firehose.py"), str(frames), str(markets),
                             str(port_file), str(go_file)])
    sim = Simulator(heartbeat_s=10.0)
    sim.start()
    kit = None
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text()):
            if time.monotonic() > deadline:
                raise TimeoutError("firehose did not start")
            time.sleep(0.05)
        ws_url = f"ws://127.0.0.1:{int(port_file.read_text())}/trade-api/ws/v2"
        tickers = [f"KXFIRE-26DEC31-M{i:03d}" for i in range(markets)]
        for t in tickers:  # positions everywhere, rules that never fire: every frame is a full monitor evaluation
            sim.add_market(t, yes_bid=5000, yes_ask=5100)
            sim.seed_position(t, 100, 5000)
        kit = KitChild(sim, tmp / "ingest.sqlite", reconcile=30, mode="hold", ws_url=ws_url)
        kit.wait(lambda s: s["positions"] == markets)
        start = kit.ask("status")
        go_file.write_text("go")
        samples = []
        deadline = time.monotonic() + 120
        while True:
            time.sleep(0.25)
            st = kit.ask("status")
            samples.append(st["inbox"])
            if st["frames"] - start["frames"] >= frames or time.monotonic() > deadline:
                break
        end = kit.wait(lambda s: s["inbox"] == 0 and s["events"] - start["events"] >= frames)
        got = end["frames"] - start["frames"]
        elapsed = end["now"] - start["now"]  # includes the firehose start-up and the monitor draining the last frames
        return {
            "frames": got,
            "seconds": round(elapsed, 3),
            "frames_per_s": round(got / elapsed),
            "monitor_events": end["events"] - start["events"],
            "inbox_samples": samples,
            "inbox_peak": end["inbox_peak"],
            "decode_errors": end["decode_errors"],
            "target": ">= 50,000 frames/s, backlog not growing",
            "meets_target": got / elapsed >= 50_000 and end["inbox"] == 0,
        }
    finally:
        if kit is not None:
            kit.close()
        fire.kill()
        sim.stop()


def bench_idle(markets: int, seconds: float, tmp: Path) -> dict[str, Any]:
    sim = Simulator(heartbeat_s=10.0)
    sim.start()
    kit = None
    try:
        tickers = [f"KXIDLE-26DEC31-M{i:04d}" for i in range(markets)]
        seed(sim, tickers)
        kit = KitChild(sim, tmp / "idle.sqlite", reconcile=10)
        kit.wait(lambda s: s["positions"] == markets and s["subscribed"] == markets)
        time.sleep(2)
        c0, t0 = kit.cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        c1, t1 = kit.cpu_seconds(), time.monotonic()
        pct = 100 * (c1 - c0) / (t1 - t0)
        return {"markets": markets, "seconds": seconds, "cpu_percent_of_one_core": round(pct, 2),
                "target": "< 2%", "meets_target": pct < 2.0}
    finally:
        if kit is not None:
            kit.close()
        sim.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--markets", type=int, default=200, help="markets (one exit each) for the latency test")
    ap.add_argument("--ingest-frames", type=int, default=300_000)
    ap.add_argument("--ingest-markets", type=int, default=20)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--only", choices=["latency", "ingest", "idle"])
    args = ap.parse_args()
    out: dict[str, Any] = {"benchmark": "live engine vs simulator", "python": sys.version.split()[0],
                           "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.only in (None, "latency"):
            out["tick_to_exit_rsa"] = bench_latency(args.markets, tmp, "rsa")
            out["tick_to_exit_ed25519"] = bench_latency(args.markets, tmp, "ed25519")
        if args.only in (None, "ingest"):
            out["ingest"] = bench_ingest(args.ingest_frames, args.ingest_markets, tmp)
        if args.only in (None, "idle"):
            out["idle"] = bench_idle(100, args.idle_seconds, tmp)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
