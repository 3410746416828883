"""The SQLite journal: intents before sends, order outcomes, fills deduplicated, positions, crash-safe reopen."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from kalshikit.core.actions import PlaceOrder
from kalshikit.core.events import Fill
from kalshikit.errors import JournalError
from kalshikit.store import Journal, JournalLock


def order(coid: str = "kk-1-sl1") -> PlaceOrder:
    return PlaceOrder(coid, "T", "ask", 100, 1000, "T#1", "stop_loss", 1)


def test_intent_then_outcome(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    assert j.record_intent(order(), 1)
    assert not j.record_intent(order(), 2)  # the same id is never journaled twice
    assert [o["client_order_id"] for o in j.open_orders()] == ["kk-1-sl1"]
    j.record_order_status("kk-1-sl1", "done", 3, order_id="oid", filled=1000)
    assert j.open_orders() == []
    (row,) = j.orders()
    assert (row["status"], row["order_id"], row["filled"]) == ("done", "oid", 1000)


def test_fills_are_deduplicated_by_trade_id(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    f = Fill("tr1", "oid", "T", "ask", 4000, 500, fee=100)
    assert j.record_fill(f)
    assert not j.record_fill(f)
    assert j.trade_ids() == {"tr1"}


def test_positions_round_trip_and_salt_is_stable(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    salt = j.id_salt
    j.save_positions([{"ticker": "T", "position_id": "T#1", "count": 1000}], [], 5)
    j.close()
    j2 = Journal(path)
    assert j2.id_salt == salt
    assert j2.load_positions() == [{"ticker": "T", "position_id": "T#1", "count": 1000}]
    j2.save_positions([], ["T"], 6)
    assert j2.load_positions() == []


def _write_then_die(path: str) -> None:
    j = Journal(path)
    j.record_intent(order("kk-crash-sl1"), 1)
    os.kill(os.getpid(), signal.SIGKILL)


def test_intent_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    p = multiprocessing.get_context("spawn").Process(target=_write_then_die, args=(str(path),))
    p.start()
    p.join(30)
    assert p.exitcode == -signal.SIGKILL
    assert [o["client_order_id"] for o in Journal(path).open_orders()] == ["kk-crash-sl1"]


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
