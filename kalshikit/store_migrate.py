"""Migration of a version 1 journal (separate position and order tables, written by different threads) to the
version 2 state rows, inside the transaction that opens the journal.

Version 1 did not record how much of an in-flight order's fills its saved position already held, so such orders
come over as ``unknown`` with nothing applied and every migrated position is marked as last changed at time 0:
the first reconciliation after their lookups believes the exchange's count. Exit ids continue after the highest
sequence any of the position's orders ever used, so no id is used twice.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from kalshikit.core.guard import Guard, GuardState
from kalshikit.core.ledger import Holding
from kalshikit.core.market_state import MarketState
from kalshikit.core.orders import TrackedOrder
from kalshikit.core.persistence import (
    MONITOR_KEY,
    encode_holding,
    encode_market,
    encode_order,
    holding_key,
    market_key,
    order_key,
)
from kalshikit.core.positions import Position
from kalshikit.core.rules import protection_from_dict

_POSITION_FIELDS = (
    "count",
    "cost",
    "realized",
    "fees",
    "opened_ns",
    "max_abs_count",
    "exit_value",
    "exit_count",
    "opened_side",
    "opened_cost",
    "opened_count",
)
_SEQUENCE = re.compile(r"-[a-z]{2}(\d+)$")


def _sequence_of(client_order_id: str) -> int:
    m = _SEQUENCE.search(client_order_id)
    return int(m.group(1)) if m else 0


def migrate_v1(db: sqlite3.Connection) -> None:
    """Turn the v1 tables into v2 state rows (called inside a transaction)."""
    now = 0
    orders = [
        dict(zip([d[0] for d in cur.description], r, strict=True))
        for cur in [db.execute("SELECT * FROM orders")]
        for r in cur.fetchall()
    ] if _has(db, "orders") else []
    sequences: dict[str, int] = {}
    for o in orders:
        sequences[o["position_id"]] = max(sequences.get(o["position_id"], 0), _sequence_of(o["client_order_id"]))
    rows: dict[str, Any] = {}
    in_flight = {o["client_order_id"] for o in orders if o["status"] in ("intent", "unknown")}
    for (state_json,) in db.execute("SELECT state_json FROM positions").fetchall():
        st = json.loads(state_json)
        pos = Position(st["ticker"], st["position_id"], **{k: st[k] for k in _POSITION_FIELDS if k in st})
        protection = protection_from_dict(st["protection"]) if st.get("protection") else None
        guard = Guard(
            protection=protection,
            levels=protection.resolve(pos.entry_price) if protection and pos.entry_price is not None else None,
            _state=GuardState(st["state"]) if st.get("state") else None,
            peak=st.get("peak"),
            break_even_active=bool(st.get("break_even_active")),
            trigger=st.get("trigger", ""),
            trigger_mark=st.get("trigger_mark"),
            trigger_ns=st.get("trigger_ns"),
            attempt=int(st.get("attempt", 0)),
            sequence=max(int(st.get("sequence", 0)), sequences.get(pos.position_id, 0)),
            exit_order=st.get("order") if st.get("order") in in_flight else None,
            disarm_reason=st.get("disarm_reason", ""),
        )
        if guard.levels is not None:
            guard.rejected = guard.levels.rejected
        rows[holding_key(pos.ticker)] = encode_holding(Holding(pos, guard))
        if st.get("market"):
            market = MarketState(close_ns=st["market"].get("close_ns"), status=st["market"].get("status", "active"))
            rows[market_key(pos.ticker)] = encode_market(market)
    for o in orders:
        if o["client_order_id"] not in in_flight:
            continue
        tracked = TrackedOrder(
            client_order_id=o["client_order_id"],
            ticker=o["ticker"],
            book_side=o["book_side"],
            count=int(o["count"]),
            purpose=o["purpose"],
            position_id=o["position_id"],
            trigger=o["trigger"],
            attempt=int(o["attempt"]),
            yes_price=int(o["yes_price"]),
            order_id=o.get("order_id"),
            status="unknown",
            sent_ns=int(o["created_ns"]),
        )
        rows[order_key(tracked.client_order_id)] = encode_order(tracked)
    epochs_row = db.execute("SELECT value FROM meta WHERE key='epochs'").fetchone()
    epochs = json.loads(epochs_row[0]) if epochs_row else {}
    rows[MONITOR_KEY] = {"paused": False, "epochs": epochs, "closed_at": {}}
    for key, row in rows.items():
        db.execute("INSERT OR REPLACE INTO state VALUES (?,?,?)", (key, json.dumps(row, separators=(",", ":")), now))
    db.execute("INSERT INTO seen_trades (trade_id) SELECT trade_id FROM fills ORDER BY recv_ns")
    db.execute("ALTER TABLE positions RENAME TO v1_positions")
    if orders:
        db.execute("ALTER TABLE orders RENAME TO v1_orders")


def _has(db: sqlite3.Connection, table: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone() is not None
