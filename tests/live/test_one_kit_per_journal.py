"""What the README promises for a notebook: re-running the cell that makes a Kit stops the previous one on the same
journal (however the path is spelled), so that only one kit ever trades a journal's positions; a kit on another
journal is left alone."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kalshikit.core.rules import protection
from kalshikit.live.kit import Kit
from kalshikit.sim import Simulator
from tests.conftest import eventually, kit_settings
from tests.live.test_kit import held

T = "KXONE-26DEC31-T50"


@pytest.fixture
def cell(exchange: Simulator) -> Iterator[Callable[[Path], Kit]]:
    """The notebook cell: ``kit = Kit(...); kit.start()``. Holds no kit (weak references, to stop them at the end)."""
    made: list[weakref.ref[Kit]] = []

    def run(journal: Path) -> Kit:
        kit = Kit(kit_settings(exchange), journal_path=journal, default_protection=protection(stop=0.05))
        made.append(weakref.ref(kit))
        return kit.start()

    yield run
    for ref in made:
        k = ref()
        if k is not None:
            k.stop()


def adopted(kit: Kit) -> bool:
    kit.reconcile_now()
    kit.sync()
    return any(v.ticker == T and v.state == "armed" for v in kit.monitor_thread.snapshot)


def test_re_running_the_cell_stops_the_previous_kit_on_the_same_journal(
    exchange: Simulator, tmp_path: Path, cell: Callable[[Path], Kit]
) -> None:
    exchange.add_market(T, yes_bid=5000, yes_ask=5100, yes_bid_size=100_000, yes_ask_size=100_000)
    exchange.seed_position(T, 1000, 5000)
    before = set(threading.enumerate())
    kit = cell(tmp_path / "journal.sqlite")
    eventually(lambda: adopted(kit), what="the first kit protecting the position")
    first_threads = [t for t in threading.enumerate() if t not in before]
    assert {"StopLossMonitor", "StrategyLoop", "WebSocketClient"} <= {t.name for t in first_threads}, first_threads

    # Run the cell again, as a notebook does: the name now points at the new kit and nothing else holds the old
    # one. The journal is the same file, spelled through a symbolic link.
    (tmp_path / "link").symlink_to(tmp_path, target_is_directory=True)
    kit = None  # the notebook rebinds the name
    gc.collect()
    kit = cell(tmp_path / "link" / "journal.sqlite")
    assert kit.running
    eventually(lambda: not any(t.is_alive() for t in first_threads), what="every thread of the first kit stopped")

    # Only the new kit trades: the stop fires once, one exit order, and the new kit records the trade.
    eventually(lambda: adopted(kit), what="the new kit protecting the position")
    exchange.set_quote(T, 4400, 4500, 100_000, 100_000)
    eventually(lambda: held(exchange, T) == 0, what="the exit")
    eventually(lambda: len(kit.trades()) == 1, what="the trade recorded by the new kit")
    exits = {o.client_order_id for o in exchange.order_log() if o.client_order_id.startswith("kk-")}
    assert len(exits) == 1, exits


def test_a_kit_on_another_journal_keeps_running(tmp_path: Path, cell: Callable[[Path], Kit]) -> None:
    first = cell(tmp_path / "a.sqlite")
    second = cell(tmp_path / "b.sqlite")
    assert first.running and second.running
    assert first.monitor_thread is not None and first.monitor_thread.is_alive()
