"""The SQLite journal (WAL): the monitor's whole state, saved in one transaction per batch of events, plus an audit
trail (orders, fills, decisions, closed positions).

One writer, one transaction: the StopLossMonitor thread calls :meth:`Journal.save` with the monitor's changed state
rows (positions with their guards and every timer and counter, orders with how much of their fills is applied, market
facts, fill trade ids seen, position epochs), the decision log lines and the closed-position summaries of the batch,
**before** it carries out any of the batch's actions. A restart therefore resumes from a state the monitor really
was in, with every order it may have sent on record. Nothing else writes monitor state.

Commits use ``synchronous=NORMAL`` in WAL mode: durable against a process crash (the case that matters here), not
against power loss of the machine. A closed position's summary is written once and never replaced.

A version 1 journal (kalshikit before the one-transaction state) is migrated on open.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kalshikit.core.actions import PositionClosed
from kalshikit.core.events import Fill
from kalshikit.core.monitor import StateChanges
from kalshikit.core.orders import FINISHED_MAX, SEEN_TRADES_MAX
from kalshikit.core.persistence import MonitorState
from kalshikit.errors import JournalError

SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, json TEXT NOT NULL, updated_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS seen_trades (seq INTEGER PRIMARY KEY AUTOINCREMENT, trade_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS finished_orders (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS order_audit (
    client_order_id TEXT PRIMARY KEY,
    ticker TEXT NOT NULL,
    position_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    status TEXT NOT NULL,
    json TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fills (
    trade_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    client_order_id TEXT,
    ticker TEXT NOT NULL,
    book_side TEXT NOT NULL,
    yes_price INTEGER NOT NULL,
    count INTEGER NOT NULL,
    fee INTEGER NOT NULL,
    exchange_ns INTEGER NOT NULL,
    recv_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ticker TEXT NOT NULL,
    position_id TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS closed_positions (
    position_id TEXT PRIMARY KEY,
    ticker TEXT NOT NULL,
    summary_json TEXT NOT NULL,
    closed_ns INTEGER NOT NULL
);
"""
LogEntry = tuple[int, str, str, str, str]  # (ns, kind, ticker, position_id, detail)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def summary_dict(c: PositionClosed) -> dict[str, Any]:
    return {f: getattr(c, f) for f in c.__struct_fields__}


class Journal:
    """Open (creating or migrating if needed) the journal at ``path``; ``close()`` when done."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            legacy = self._has_table("positions")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"cannot open the journal {self.path}: {exc}") from exc
        self._lock = threading.Lock()
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key='id_salt'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('id_salt', ?)", (secrets.token_hex(8),))
                db.execute("INSERT INTO meta VALUES ('created_ns', ?)", (str(time.time_ns()),))
            version = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if legacy and (version is None or int(version[0]) < SCHEMA_VERSION):
                from kalshikit.store_migrate import migrate_v1

                migrate_v1(db)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        self.id_salt = self.meta("id_salt") or ""

    # ------------------------------------------------------------------ plumbing
    def _has_table(self, name: str) -> bool:
        found = self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone()
        return found is not None

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise JournalError(f"journal {self.path}: {exc}") from exc

    def _records(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name."""
        with self._lock:
            try:
                cur = self._db.execute(sql, args)
                names = [d[0] for d in cur.description]
                return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            except sqlite3.Error as exc:
                raise JournalError(f"journal {self.path}: {exc}") from exc

    def _column(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        return [next(iter(r.values())) for r in self._records(sql, args)]

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.close()

    def meta(self, key: str) -> str | None:
        rows = self._column("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def integrity(self) -> str:
        """SQLite's own integrity check ("ok" when the file is sound)."""
        return str(self._column("PRAGMA integrity_check")[0])

    # ------------------------------------------------------------------ the monitor's state
    def save(
        self,
        changes: StateChanges,
        now_ns: int,
        *,
        log: Sequence[LogEntry] = (),
        closed: Sequence[PositionClosed] = (),
        fills: Sequence[Fill] = (),
    ) -> None:
        """Save one batch in one transaction: state rows, trade ids, archived order ids, decision log, closed
        positions (written once, never replaced) and the batch's fills."""
        with self._tx() as db:
            audit: list[Any] = list(changes.archived_orders)
            for key, row in changes.rows.items():
                if row is None:
                    db.execute("DELETE FROM state WHERE key=?", (key,))
                    continue
                db.execute("INSERT OR REPLACE INTO state VALUES (?,?,?)", (key, _dumps(row), now_ns))
                if key.startswith("order:"):
                    audit.append(row)
            for row in audit:
                db.execute(
                    "INSERT INTO order_audit VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(client_order_id) DO UPDATE "
                    "SET position_id=excluded.position_id, status=excluded.status, json=excluded.json, "
                    "updated_ns=excluded.updated_ns",
                    (
                        row["client_order_id"],
                        row["ticker"],
                        row["position_id"],
                        row["purpose"],
                        row["status"],
                        _dumps(row),
                        now_ns,
                        now_ns,
                    ),
                )
            if changes.trade_ids:
                db.executemany("INSERT INTO seen_trades (trade_id) VALUES (?)", [(t,) for t in changes.trade_ids])
            if changes.finished_ids:
                db.executemany("INSERT INTO finished_orders (id) VALUES (?)", [(i,) for i in changes.finished_ids])
            if log:
                db.executemany("INSERT INTO log (ns, kind, ticker, position_id, detail) VALUES (?,?,?,?,?)", log)
            for c in closed:
                db.execute(
                    "INSERT OR IGNORE INTO closed_positions VALUES (?,?,?,?)",
                    (c.position_id, c.ticker, _dumps(summary_dict(c)), c.closed_ns),
                )
            for f in fills:
                db.execute(
                    "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        f.trade_id,
                        f.order_id,
                        f.client_order_id,
                        f.ticker,
                        f.book_side,
                        f.yes_price,
                        f.count,
                        f.fee,
                        f.exchange_ns,
                        f.recv_ns,
                    ),
                )

    def load_state(self) -> MonitorState:
        """Everything the monitor saved: what :meth:`Monitor.from_state` rebuilds it from."""
        rows: dict[str, Any] = {}
        for r in self._records("SELECT key, json FROM state"):
            try:
                rows[r["key"]] = json.loads(r["json"])
            except json.JSONDecodeError as exc:
                raise JournalError(
                    f"journal {self.path}: the state row {r['key']!r} is corrupt ({exc}); restore the file from a "
                    "backup or move it aside to start a new journal (the exchange's positions are adopted again)"
                ) from exc
        trades = self._column(
            "SELECT trade_id FROM (SELECT seq, trade_id FROM seen_trades ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (SEEN_TRADES_MAX,),
        )
        finished = self._column(
            "SELECT id FROM (SELECT seq, id FROM finished_orders ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (FINISHED_MAX,),
        )
        return MonitorState(rows, trades, finished)

    # ------------------------------------------------------------------ reading the audit trail
    def orders(self) -> list[dict[str, Any]]:
        """Every order the monitor ever sent or tracked (its last known state), oldest first."""
        out = []
        for r in self._records("SELECT json, created_ns, updated_ns FROM order_audit ORDER BY created_ns"):
            row = json.loads(r["json"])
            row["created_ns"], row["updated_ns"] = r["created_ns"], r["updated_ns"]
            out.append(row)
        return out

    def open_orders(self) -> list[dict[str, Any]]:
        """Orders that may exist on the exchange with an outcome the monitor has not seen (pending or unknown)."""
        return [o for o in self.orders() if o["status"] in ("pending", "unknown")]

    def fills(self) -> list[dict[str, Any]]:
        return self._records("SELECT * FROM fills ORDER BY recv_ns")

    def trade_ids(self) -> set[str]:
        return set(self._column("SELECT trade_id FROM seen_trades"))

    def closed_positions(self, since_ns: int = 0) -> list[dict[str, Any]]:
        rows = self._column(
            "SELECT summary_json FROM closed_positions WHERE closed_ns >= ? ORDER BY closed_ns", (since_ns,)
        )
        return [json.loads(r) for r in rows]

    def read_log(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self._records("SELECT ns, kind, ticker, position_id, detail FROM log ORDER BY id DESC LIMIT ?", (limit,))
        return rows[::-1]


class JournalLock:
    """An exclusive lock file next to the journal, so two processes never drive the same journal."""

    def __init__(self, journal_path: Path) -> None:
        self.path = journal_path.with_suffix(journal_path.suffix + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise JournalError(
                f"the journal {self.path.with_suffix('')} is in use by {holder}; stop that kit first "
                "or point KALSHIKIT_DATA_DIR elsewhere"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            import fcntl

            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None
