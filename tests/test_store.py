"""The SQLite journal: the monitor's state saved in one transaction and loaded back equal, closed positions that are
never replaced, crash safety, the lock, and the migration of a version 1 journal."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
from pathlib import Path

import pytest

from kalshikit.core.actions import PlaceOrder, PositionClosed
from kalshikit.core.events import Fill, OrderUpdate, Protect, Quote
from kalshikit.core.monitor import Monitor, MonitorConfig
from kalshikit.core.rules import protection
from kalshikit.errors import JournalError
from kalshikit.store import Journal, JournalLock

S = 1_000_000_000
T = "KXSTORE-26DEC31-T50"


def busy_monitor() -> tuple[Monitor, list[Fill]]:
    """A monitor with a position, armed rules, a partial exit and a second exit in flight."""
    m = Monitor(MonitorConfig(id_salt="j"))
    fills = [Fill("tr1", "o-entry", T, "bid", 5000, 1000)]
    m.feed(fills[0], 1 * S)
    m.feed(Protect(T, protection(stop=0.05, trailing=0.03)), 1 * S)
    (first,) = [a for a in m.feed(Quote(T, 4400, 4500, recv_ns=2 * S), 2 * S) if isinstance(a, PlaceOrder)]
    m.feed(OrderUpdate("x1", first.client_order_id, T, "canceled", 300, 0, average_fill_price=4400), 2 * S)
    m.feed(Quote(T, 4300, 4500, recv_ns=3 * S), 3 * S)
    return m, fills


def test_state_saved_in_one_batch_loads_back_equal(tmp_path: Path) -> None:
    m, fills = busy_monitor()
    j = Journal(tmp_path / "j.sqlite")
    j.save(m.changes(), 4 * S, log=[(4 * S, "trigger", T, f"{T}#1", "x")], fills=fills)
    j.close()
    j2 = Journal(tmp_path / "j.sqlite")
    state = j2.load_state()
    assert state.rows == json.loads(json.dumps(m.export_state().rows))
    assert state.trade_ids == ["tr1"]
    restored = Monitor.from_state(MonitorConfig(id_salt="j"), state)
    assert restored.positions[T] == m.positions[T]
    assert restored.tracker.orders == m.tracker.orders
    assert [o["status"] for o in j2.open_orders()] == ["pending"]  # the second exit, in flight
    assert j2.read_log()[-1]["kind"] == "trigger" and j2.fills()[0]["trade_id"] == "tr1"


def test_a_save_that_fails_is_put_back_and_saved_next_time(tmp_path: Path) -> None:
    m, _ = busy_monitor()
    j = Journal(tmp_path / "j.sqlite")
    changes = m.changes()
    m.unsave(changes)  # as the monitor thread does when the disk is full
    j.save(m.changes(), 4 * S)
    assert j.load_state().rows == json.loads(json.dumps(m.export_state().rows))


def test_a_closed_position_is_written_once_and_never_replaced(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    m = Monitor()
    real = PositionClosed(T, f"{T}#1", "yes", 1000, 5000, 1, 2, "stop_loss", 2, 4400, 4400, -600_000, 1000)
    later = PositionClosed(T, f"{T}#1", "yes", 1000, 5000, 1, 3, "external", None, None, None, 0, 0)
    j.save(m.changes(), 2, closed=[real])
    j.save(m.changes(), 3, closed=[later])
    (row,) = j.closed_positions()
    assert row["reason"] == "stop_loss" and row["realized"] == -600_000


def test_salt_is_stable_across_opens(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    salt = Journal(path).id_salt
    assert Journal(path).id_salt == salt and len(salt) == 16


def _save_then_die(path: str) -> None:
    m, fills = busy_monitor()
    Journal(path).save(m.changes(), 4 * S, fills=fills)
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_saved_batch_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    p = multiprocessing.get_context("spawn").Process(target=_save_then_die, args=(str(path),))
    p.start()
    p.join(60)
    assert p.exitcode == -signal.SIGKILL
    j = Journal(path)
    assert j.integrity() == "ok"
    m, _ = busy_monitor()
    assert j.load_state().rows == json.loads(json.dumps(m.export_state().rows))


def test_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    a = JournalLock(tmp_path / "j.sqlite")
    a.acquire()
    b = JournalLock(tmp_path / "j.sqlite")
    with pytest.raises(JournalError, match="in use"):
        b.acquire()
    a.release()
    b.acquire()
    b.release()


def test_unwritable_journal_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(JournalError, match="cannot open the journal"):
        Journal(blocker / "j.sqlite")


def test_a_corrupt_state_row_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO state VALUES ('holding:X', '{not json', 0)")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match=r"corrupt.*backup"):
        Journal(path).load_state()


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE positions (ticker TEXT PRIMARY KEY, position_id TEXT NOT NULL, state_json TEXT NOT NULL,
                        updated_ns INTEGER NOT NULL);
CREATE TABLE orders (client_order_id TEXT PRIMARY KEY, ticker TEXT NOT NULL, position_id TEXT NOT NULL,
    purpose TEXT NOT NULL, trigger TEXT NOT NULL, attempt INTEGER NOT NULL, book_side TEXT NOT NULL,
    yes_price INTEGER NOT NULL, count INTEGER NOT NULL, status TEXT NOT NULL, order_id TEXT,
    filled INTEGER NOT NULL DEFAULT 0, detail TEXT NOT NULL DEFAULT '', created_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL);
CREATE TABLE fills (trade_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, client_order_id TEXT, ticker TEXT NOT NULL,
    book_side TEXT NOT NULL, yes_price INTEGER NOT NULL, count INTEGER NOT NULL, fee INTEGER NOT NULL,
    exchange_ns INTEGER NOT NULL, recv_ns INTEGER NOT NULL);
"""


def test_a_version_1_journal_is_migrated_with_its_open_exit_looked_up(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    epochs = json.dumps({T: 1})
    db.executemany("INSERT INTO meta VALUES (?, ?)", [("id_salt", "abcd"), ("schema", "1"), ("epochs", epochs)])
    state = {
        "ticker": T, "position_id": f"{T}#1", "count": 700, "cost": 3_500_000, "realized": -180_000, "fees": 0,
        "opened_ns": 1, "max_abs_count": 1000, "exit_value": 1_320_000, "exit_count": 300, "opened_side": "yes",
        "opened_cost": 5_000_000, "opened_count": 1000, "updated_ns": 5, "peak": None, "break_even_active": False,
        "trigger": "stop_loss", "trigger_mark": 4400, "trigger_ns": 2, "attempt": 1, "sequence": 1,
        "awaiting_confirm": False, "disarm_reason": "", "state": "exit_sent",
        "protection": {"stop_loss": {"kind": "distance", "value": 500}}, "order": "kk-aa-sl2", "market": None,
    }
    db.execute("INSERT INTO positions VALUES (?,?,?,?)", (T, f"{T}#1", json.dumps(state), 5))
    for coid, status in (("kk-aa-sl1", "done"), ("kk-aa-sl2", "intent")):
        db.execute("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (coid, T, f"{T}#1", "exit", "stop_loss", 1, "ask", 100, 700, status, None, 0, "", 3, 3))
    db.execute("INSERT INTO fills VALUES ('tr9', 'o', NULL, ?, 'ask', 4400, 300, 0, 2, 2)", (T,))
    db.commit()
    db.close()
    j = Journal(path)
    assert j.id_salt == "abcd"
    m = Monitor.from_state(MonitorConfig(id_salt=j.id_salt), j.load_state())
    h = m.positions[T]
    assert (h.pos.count, h.guard.state.value, h.guard.exit_order) == (700, "exit_sent", "kk-aa-sl2")
    assert h.guard.sequence == 2, "ids continue after the highest one ever used"
    assert m.tracker.seen_trades == {"tr9": None}
    actions = m.resume(10 * S)
    assert [a.client_order_id for a in actions if type(a).__name__ == "LookupOrder"] == ["kk-aa-sl2"]
