"""The monitor's persistent state as JSON-safe rows, and back: exact by construction (``decode(encode(x)) == x``
for every piece; tests/core/test_monitor_state.py checks it on every state random event sequences reach).

Rows are keyed so that a journal can write only what changed: ``holding:<ticker>`` (position and guard),
``order:<client_order_id>``, ``market:<ticker>`` and ``monitor`` (paused, position epochs, when each market's last
position closed). Fill trade ids and the ids of archived orders are append-only lists. Quotes and the feed's
up/down state are market data, not state: a restarted kit reads fresh prices and reconnects.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from kalshikit.core.grid import PriceGrid, PriceRange
from kalshikit.core.guard import Guard, GuardState
from kalshikit.core.ledger import Holding
from kalshikit.core.market_state import MarketState
from kalshikit.core.orders import TrackedOrder
from kalshikit.core.positions import Position
from kalshikit.core.rules import ResolvedLevels, protection_from_dict, protection_to_dict

Row = dict[str, Any]
_GUARD_PLAIN = tuple(f.name for f in fields(Guard) if f.name not in ("protection", "levels", "_state", "rejected"))
_ORDER_PLAIN = tuple(f.name for f in fields(TrackedOrder) if f.name != "protection")
_POSITION = tuple(f.name for f in fields(Position))


@dataclass
class MonitorState:
    """Everything a monitor needs to resume, as rows (see the module docstring)."""

    rows: dict[str, Row] = field(default_factory=dict)
    trade_ids: list[str] = field(default_factory=list)  # oldest first
    finished_ids: list[str] = field(default_factory=list)  # oldest first


# ---------------------------------------------------------------------------- pieces
def _levels_to_row(lv: ResolvedLevels | None) -> Row | None:
    if lv is None:
        return None
    return {
        "stop": lv.stop,
        "take_profit": lv.take_profit,
        "trail_activation": lv.trail_activation,
        "break_even_at": lv.break_even_at,
        "break_even_stop": lv.break_even_stop,
        "trailing": lv.trailing,
        "rejected": [list(r) for r in lv.rejected],
    }


def _levels_from_row(d: Row | None) -> ResolvedLevels | None:
    if d is None:
        return None
    return ResolvedLevels(
        d["stop"],
        d["take_profit"],
        d["trail_activation"],
        d["break_even_at"],
        d["break_even_stop"],
        bool(d["trailing"]),
        tuple((str(a), str(b)) for a, b in d["rejected"]),
    )


def encode_guard(g: Guard) -> Row:
    row: Row = {k: getattr(g, k) for k in _GUARD_PLAIN}
    row["state"] = g.state.value if g.state is not None else None
    row["protection"] = protection_to_dict(g.protection) if g.protection is not None else None
    row["levels"] = _levels_to_row(g.levels)
    row["rejected"] = [list(r) for r in g.rejected]
    return row


def decode_guard(row: Row) -> Guard:
    return Guard(
        protection=protection_from_dict(row["protection"]) if row["protection"] is not None else None,
        levels=_levels_from_row(row["levels"]),
        _state=GuardState(row["state"]) if row["state"] is not None else None,
        rejected=tuple((str(a), str(b)) for a, b in row["rejected"]),
        **{k: row[k] for k in _GUARD_PLAIN},
    )


def encode_holding(h: Holding) -> Row:
    return {"position": {k: getattr(h.pos, k) for k in _POSITION}, "guard": encode_guard(h.guard)}


def decode_holding(row: Row) -> Holding:
    return Holding(Position(**{k: row["position"][k] for k in _POSITION}), decode_guard(row["guard"]))


def encode_order(o: TrackedOrder) -> Row:
    row: Row = {k: getattr(o, k) for k in _ORDER_PLAIN}
    row["protection"] = protection_to_dict(o.protection) if o.protection is not None else None
    return row


def decode_order(row: Row) -> TrackedOrder:
    protection = protection_from_dict(row["protection"]) if row["protection"] is not None else None
    return TrackedOrder(protection=protection, **{k: row[k] for k in _ORDER_PLAIN})


def encode_market(m: MarketState) -> Row:
    return {
        "close_ns": m.close_ns,
        "grid": {"structure": m.grid.structure, "ranges": [[r.start, r.end, r.step] for r in m.grid.ranges]},
        "status": m.status,
        "result": m.result,
        "settlement_value": m.settlement_value,
    }


def decode_market(row: Row) -> MarketState:
    g = row["grid"]
    grid = PriceGrid(tuple(PriceRange(int(a), int(b), int(c)) for a, b, c in g["ranges"]), g["structure"])
    return MarketState(row["close_ns"], grid, row["status"], row["result"], row["settlement_value"])


def holding_key(ticker: str) -> str:
    return f"holding:{ticker}"


def order_key(client_order_id: str) -> str:
    return f"order:{client_order_id}"


def market_key(ticker: str) -> str:
    return f"market:{ticker}"


MONITOR_KEY = "monitor"
