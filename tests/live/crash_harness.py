"""Kill the real ``python -m kalshikit.live`` process again and again during a busy session on the simulator, and
judge the result by the exchange's (simulator's) own records, never by the kit's.

The world: many markets, each with a position seeded on the exchange (long YES or long NO), quotes that wander
across the stops and take-profits, thin books (partial fills), dropped WebSocket connections, 429 and 503 answers
to order writes, replies that come late or never. The kit runs with a stop and a take-profit for every position.

Kills: at random times, right when an exit order reaches the exchange (before or after it executes), at the kit's
named crash points (``KALSHIKIT_CRASH_AT``), and while it restores. After every kill the journal must be sound and
load into a consistent monitor. At the end the kit runs undisturbed with every stop crossed on a deep book, then
:func:`check_exchange_records` holds the kit to what the exchange saw:

- no exit order for contracts not held (the direction and size of every exit the exchange accepted equal the
  position when it arrived);
- no ``client_order_id`` used for two different orders, and none accepted twice;
- no position left open whose stop was crossed with a bid;
- no close in the journal while the exchange still held contracts, exactly one close per position, no close as
  "external", and the journal's realized P&L and fees equal the exchange's.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kalshikit.core.guard import GuardState
from kalshikit.core.monitor import Monitor, MonitorConfig
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.sim import Simulator
from kalshikit.sim.rest_api import OrderLogEntry
from kalshikit.store import Journal
from tests.conftest import ROOT, eventually, scaled

# The kit under test: this checkout, or another one (KALSHIKIT_KIT_ROOT=<checkout>) to show that a regression test
# fails on older code. The simulator and the checks always come from this checkout.
KIT_ROOT = Path(os.environ.get("KALSHIKIT_KIT_ROOT") or ROOT)
STOP = 500  # $0.05 below entry
TAKE = 800  # $0.08 above entry
ENTRY = 5000
CRASH_POINTS = ("after_journal", "after_send", "after_outcome")
FAST_ENV = {
    "STOP_LOSS_CHECK_INTERVAL": "0.2",
    "RECONCILE_INTERVAL": "0.5",
    "UI_UPDATE_INTERVAL": "1",
    "STRATEGY_LOOP_INTERVAL": "30",
    "WEBSOCKET_RECONNECT_DELAY": "0.1",
    "WEBSOCKET_MAX_RECONNECT_DELAY": "0.5",
    "WEBSOCKET_SILENCE_SECS": "3",
    "KALSHI_HTTP_TIMEOUT": "1.5",
    "KALSHI_READS_PER_SECOND": "500",
    "KALSHI_WRITES_PER_SECOND": "200",
    "EXIT_MAX_ATTEMPTS": "8",
    "LOG_LEVEL": "INFO",
}


def is_exit(e: OrderLogEntry) -> bool:
    return e.method == "POST" and isinstance(e.body, dict) and bool(e.body.get("reduce_only"))


@dataclass
class Kill:
    mode: str
    detail: str
    pid: int
    died: bool


@dataclass
class CrashSession:
    """One busy session of ``markets`` positions on ``sim``, killed ``kills`` times (see the module docstring)."""

    sim: Simulator
    workdir: Path
    seed: int
    markets: int = 48
    rng: random.Random = field(init=False)
    tickers: list[str] = field(init=False)
    sides: dict[str, int] = field(init=False)  # +1 long YES, -1 long NO
    kills: list[Kill] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    _hook_mode: str = ""
    _stop_world: threading.Event = field(default_factory=threading.Event)
    _world: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.tickers = [f"KXCR{self.seed}-26DEC31-M{i:02d}" for i in range(self.markets)]
        self.sides = {t: (-1 if i % 4 == 3 else 1) for i, t in enumerate(self.tickers)}
        self.log_path = self.workdir / "kit.log"
        self.journal_path = self.workdir / "data" / "sim" / "journal.sqlite"

    # ------------------------------------------------------------------ the world
    def setup(self) -> None:
        for t in self.tickers:
            self.sim.add_market(t, yes_bid=ENTRY - 50, yes_ask=ENTRY + 50, yes_bid_size=100_000, yes_ask_size=100_000)
            own = ENTRY
            self.sim.seed_position(t, self.sides[t] * 1000, own)
        self.sim.set_order_hook(self._on_order)
        self._world = threading.Thread(target=self._move_the_world, name="crash-world", daemon=True)
        self._world.start()

    def _quote_for(self, t: str, own_mark: int, size: int) -> None:
        """Put the position's own-side bid at ``own_mark`` with ``size`` (1/100 contracts) displayed."""
        if self.sides[t] > 0:
            self.sim.set_quote(t, own_mark, own_mark + 100, size, 100_000)
        else:  # long NO is marked on the NO bid = 1 - YES ask
            yes_ask = 10_000 - own_mark
            self.sim.set_quote(t, yes_ask - 100, yes_ask, 100_000, size)

    def _move_the_world(self) -> None:
        rng = random.Random(self.seed + 1)
        marks = dict.fromkeys(self.tickers, ENTRY - 50)
        last_fault = time.monotonic()
        while not self._stop_world.wait(0.05):
            for t in rng.sample(self.tickers, 4):
                marks[t] = max(ENTRY - 900, min(ENTRY + 1200, marks[t] + rng.choice([-200, -100, 0, 100, 100, 200])))
                size = rng.choice([100, 300, 300, 100_000, 100_000])  # thin books make partial exits
                self._quote_for(t, marks[t], size)
            if time.monotonic() - last_fault > 0.7:
                last_fault = time.monotonic()
                fault = rng.random()
                if fault < 0.25:
                    self.sim.faults.drop_connections()
                elif fault < 0.4:
                    self.sim.faults.rest_errors(429, rng.randint(1, 3), path_prefix="/portfolio/events/orders")
                elif fault < 0.55:
                    self.sim.faults.rest_errors(503, 1, path_prefix="/portfolio/events/orders")
                elif fault < 0.65:
                    self.sim.faults.hang_orders(1, delay_s=None)  # executes; the reply never comes
                elif fault < 0.75:
                    self.sim.faults.hang_orders(1, delay_s=2.5)  # executes; the reply comes after the timeout

    def calm(self) -> None:
        """Stop the weather, clear every fault, and cross every stop on a deep book."""
        self._stop_world.set()
        if self._world is not None:
            self._world.join(5)
        self.sim.faults.clear()
        for t in self.tickers:
            self._quote_for(t, ENTRY - STOP - 300, 1_000_000)

    # ------------------------------------------------------------------ the kit process
    def start_kit(self, crash_at: str = "") -> subprocess.Popen[bytes]:
        env = {**os.environ, **self.sim.kit_env(), **FAST_ENV, "KALSHIKIT_DATA_DIR": str(self.workdir / "data")}
        env.pop("KALSHIKIT_CRASH_AT", None)
        if crash_at:
            env["KALSHIKIT_CRASH_AT"] = crash_at
        cmd = [sys.executable, "-m", "kalshikit.live", "--stop-loss", f"{STOP / 10_000}",
               "--take-profit", f"{TAKE / 10_000}", "--status-every", "1000"]
        with open(self.log_path, "ab") as out:
            out.write(f"\n===== start (crash_at={crash_at or '-'}) =====\n".encode())
            self.proc = subprocess.Popen(cmd, cwd=self.workdir, env={**env, "PYTHONPATH": str(KIT_ROOT)},
                                         stdout=out, stderr=subprocess.STDOUT)
        return self.proc

    def _on_order(self, entry: OrderLogEntry, phase: str) -> None:
        mode = self._hook_mode
        if mode and mode == f"exit_{phase}" and is_exit(entry) and self.proc is not None:
            self._hook_mode = ""
            os.kill(self.proc.pid, signal.SIGKILL)

    def kill_once(self) -> Kill:
        """Start the kit and kill it in one of the ways in the module docstring."""
        mode = self.rng.choice(["random", "random", "exit_received", "exit_executed", "crash_point", "restore"])
        detail = ""
        crash_at = ""
        if mode == "crash_point":
            crash_at = detail = f"{self.rng.choice(CRASH_POINTS)}:{self.rng.randint(1, 3)}"
        elif mode == "restore":
            crash_at = detail = "resumed" if self.rng.random() < 0.5 else ""
        proc = self.start_kit(crash_at)
        if mode.startswith("exit_"):
            self._hook_mode = mode
        wait = {"random": self.rng.uniform(0.5, 3.0), "restore": self.rng.uniform(0.3, 1.2)}.get(mode, 4.0)
        try:
            proc.wait(wait)
            died = True
        except subprocess.TimeoutExpired:
            died = False
        self._hook_mode = ""
        if proc.poll() is None:
            proc.kill()
            proc.wait(scaled(10))
        kill = Kill(mode, detail or f"after {wait:.2f}s", proc.pid, died)
        self.kills.append(kill)
        return kill

    def finish(self, timeout: float = 90.0) -> None:
        """Let the kit run undisturbed until every position is flat on the exchange, then stop it with SIGTERM."""
        self.calm()
        proc = self.start_kit()
        try:
            eventually(lambda: all(self.held(t) == 0 for t in self.tickers), timeout=timeout,
                       what=f"every position flat; still held: {self.still_held()}; log tail:\n{self.log_tail()}")
            eventually(lambda: not self.open_in_journal(), timeout=30, what="the journal to show nothing open")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(scaled(30))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(scaled(10))

    # ------------------------------------------------------------------ reading the records
    def held(self, ticker: str) -> int:
        rec = self.sim.position(ticker)
        return rec.count if rec is not None else 0

    def still_held(self) -> dict[str, int]:
        return {t: n for t in self.tickers if (n := self.held(t))}

    def open_in_journal(self) -> list[str]:
        j = Journal(self.journal_path)
        try:
            rows = j.load_state().rows
        finally:
            j.close()
        return [k for k in rows if k.startswith("holding:")]

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def check_journal_after_kill(path: Path) -> None:
    """The journal is sound and loads into a consistent monitor (what a restart will do)."""
    if not path.exists():
        return
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
    j = Journal(path)
    try:
        state = j.load_state()
        m = Monitor.from_state(MonitorConfig(id_salt=j.id_salt), state)
    finally:
        j.close()
    for t, h in m.positions.items():
        g = h.guard
        assert h.pos.ticker == t, f"{t}: journal row holds {h.pos.ticker}"
        exit_order = m.tracker.orders.get(g.exit_order or "") if g.state is GuardState.EXIT_SENT else None
        if g.state is GuardState.EXIT_SENT:
            assert exit_order is not None and exit_order.in_flight, \
                f"{t}: exit_sent without its order in flight ({g.exit_order})"
        if h.pos.count == 0:
            # Fills can reach the kit over the WebSocket before the order's reply; the position then stays open,
            # flat, until the reply (or a lookup after a restart) ends the order. Flat is only sound in that state;
            # finish() and check_exchange_records() then require exactly one close with the exchange's P&L.
            assert exit_order is not None and exit_order.fill_total >= exit_order.count, \
                f"{t}: a flat position is still open in the journal without its filled exit in flight"
        for o in m.tracker.orders.values():
            if o.position_id == h.pos.position_id and o.purpose == "exit":
                assert o.applied <= o.filled, f"{o.client_order_id}: applied more than filled"


def position_timeline(rest: KalshiRest, ticker: str, start: int) -> list[tuple[int, int]]:
    """(ns, position after) for every fill of ``ticker``, from the exchange's own fills."""
    fills = sorted(rest.fills(ticker=ticker), key=lambda f: f.exchange_ns)
    out: list[tuple[int, int]] = []
    pos = start
    for f in fills:
        pos += f.count if f.book_side == "bid" else -f.count
        out.append((f.exchange_ns, pos))
    return out


def check_exchange_records(session: CrashSession) -> dict[str, Any]:
    """The kit judged by the exchange's records (see the module docstring). Returns figures for the report."""
    sim = session.sim
    log = [e for e in sim.order_log() if e.method == "POST" and isinstance(e.body, dict)]
    exits = [e for e in log if is_exit(e)]
    problems: list[str] = []
    # 1. no exit for contracts not held (every exit the exchange accepted as a new order; a retry of the same id
    #    after a timeout is refused with 409 and creates nothing, which check 2 holds to)
    for e in exits:
        side, count = e.body["side"], round(float(e.body["count"]) * 100)
        held = e.held_before
        if held is None or not e.order_ids:
            continue  # refused before it could execute (429/503 injected, 409 duplicate)
        want = "ask" if held > 0 else "bid"
        if held == 0 or side != want or count != abs(held):
            problems.append(f"exit {e.client_order_id or e.body.get('client_order_id')} {side} {count} "
                            f"while holding {held} ({e.body.get('ticker')})")
    # 2. one id, one order
    by_id: dict[str, list[OrderLogEntry]] = {}
    for e in log:
        by_id.setdefault(str(e.body.get("client_order_id")), []).append(e)
    for coid, entries in by_id.items():
        shapes = {json.dumps({k: e.body.get(k) for k in ("ticker", "side", "count", "price")}) for e in entries}
        if len(shapes) > 1:
            problems.append(f"client_order_id {coid} used for {len(shapes)} different orders: {sorted(shapes)}")
        accepted = [e for e in entries if e.order_ids]
        if len(accepted) > 1:
            problems.append(f"client_order_id {coid} accepted {len(accepted)} times")
    # 3. nothing left open with its stop crossed (finish() crossed every stop on a deep book)
    left = session.still_held()
    if left:
        problems.append(f"positions left open after their stops were crossed with a bid: {left}")
    # 4. journal closes only when the exchange was flat; one close per position; P&L equal to the exchange's
    j = Journal(session.journal_path)
    closed = j.closed_positions()
    j.close()
    rest = KalshiRest(sim.rest_url, sim.signer())
    try:
        by_ticker: dict[str, list[dict[str, Any]]] = {}
        for c in closed:
            by_ticker.setdefault(c["ticker"], []).append(c)
        for t in session.tickers:
            rows = by_ticker.get(t, [])
            if len(rows) != 1:
                problems.append(f"{t}: {len(rows)} closes in the journal ({[r['reason'] for r in rows]})")
                continue
            c = rows[0]
            if c["reason"] == "external":
                problems.append(f"{t}: closed as external (its exit P&L was lost)")
            timeline = position_timeline(rest, t, session.sides[t] * 1000)
            at_close = next((p for ns, p in reversed(timeline) if ns <= c["closed_ns"]), session.sides[t] * 1000)
            if at_close != 0:
                problems.append(f"{t}: journal closed it while the exchange held {at_close}")
            rec = sim.call(lambda ex, t=t: ex.account("default").positions[t])
            if (c["realized"], c["fees"]) != (rec.pos.realized, rec.pos.fees):
                problems.append(f"{t}: journal realized/fees {c['realized']}/{c['fees']} but the exchange's are "
                                f"{rec.pos.realized}/{rec.pos.fees}")
    finally:
        rest.close()
    assert not problems, "\n".join(problems[:30]) + f"\n({len(problems)} problems)\nlog tail:\n{session.log_tail()}"
    return {
        "exit_orders": len(exits),
        "distinct_exit_ids": len({e.body.get("client_order_id") for e in exits}),
        "kills": len(session.kills),
        "kills_by_mode": {m: sum(k.mode == m for k in session.kills) for m in {k.mode for k in session.kills}},
    }


def run_session(sim: Simulator, workdir: Path, seed: int, kills: int, markets: int = 48,
                on_kill: Callable[[Kill], None] | None = None) -> dict[str, Any]:
    session = CrashSession(sim, workdir, seed, markets)
    session.setup()
    try:
        for _ in range(kills):
            k = session.kill_once()
            check_journal_after_kill(session.journal_path)
            if on_kill is not None:
                on_kill(k)
        session.finish()
    finally:
        session.calm()
        sim.set_order_hook(None)
        if session.proc is not None and session.proc.poll() is None:
            session.proc.kill()
    return check_exchange_records(session)
