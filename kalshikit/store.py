"""The SQLite journal (WAL): positions, their rules and guard state, exit intents, orders, fills and a decision log.

An exit's ``client_order_id`` is written here *before* the order goes out, so a restart after ``kill -9`` at any
point knows every order that may exist and looks it up instead of sending a new one. Commits use
``synchronous=NORMAL`` in WAL mode: durable against a process crash (the case that matters here), not against
power loss of the machine.

One connection is shared by the kit's threads behind a lock; every method is a short transaction.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kalshikit.core.actions import PlaceOrder
from kalshikit.core.events import Fill
from kalshikit.errors import JournalError

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (
    ticker TEXT PRIMARY KEY,
    position_id TEXT NOT NULL,
    state_json TEXT NOT NULL,
    updated_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    ticker TEXT NOT NULL,
    position_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    trigger TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    book_side TEXT NOT NULL,
    yes_price INTEGER NOT NULL,
    count INTEGER NOT NULL,
    status TEXT NOT NULL,          -- intent | done | rejected | unknown
    order_id TEXT,
    filled INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT '',
    created_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_status ON orders(status);
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


class Journal:
    """Open (creating if needed) the journal at ``path``; ``close()`` when done."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"cannot open the journal {self.path}: {exc}") from exc
        self._lock = threading.Lock()
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key='id_salt'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('id_salt', ?)", (secrets.token_hex(8),))
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                db.execute("INSERT INTO meta VALUES ('created_ns', ?)", (str(time.time_ns()),))
        self.id_salt = self.meta("id_salt") or ""

    # ------------------------------------------------------------------ plumbing
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

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
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

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.close()

    def meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------------ orders
    def record_intent(self, order: PlaceOrder, now_ns: int) -> bool:
        """Write an order before it is sent. Returns False if this client_order_id was already journaled."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO orders (client_order_id, ticker, position_id, purpose, trigger, attempt, "
                "book_side, yes_price, count, status, created_ns, updated_ns) VALUES (?,?,?,?,?,?,?,?,?,'intent',?,?)",
                (
                    order.client_order_id,
                    order.ticker,
                    order.position_id,
                    order.purpose,
                    order.trigger,
                    order.attempt,
                    order.book_side,
                    order.yes_price,
                    order.count,
                    now_ns,
                    now_ns,
                ),
            )
            return cur.rowcount == 1

    def record_order_status(
        self,
        client_order_id: str,
        status: str,
        now_ns: int,
        *,
        order_id: str | None = None,
        filled: int | None = None,
        detail: str = "",
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE orders SET status=?, order_id=COALESCE(?, order_id), filled=COALESCE(?, filled), "
                "detail=?, updated_ns=? WHERE client_order_id=?",
                (status, order_id, filled, detail, now_ns, client_order_id),
            )

    def open_orders(self) -> list[dict[str, Any]]:
        """Orders that may exist on the exchange with an outcome we have not seen (intent or unknown)."""
        return self._records(
            "SELECT client_order_id, ticker, position_id, purpose, trigger, attempt, book_side, yes_price, count, "
            "status, order_id, filled FROM orders WHERE status IN ('intent', 'unknown') ORDER BY created_ns"
        )

    def orders(self) -> list[dict[str, Any]]:
        return self._records(
            "SELECT client_order_id, ticker, trigger, attempt, book_side, yes_price, count, status, "
            "order_id, filled, detail, created_ns, updated_ns FROM orders ORDER BY created_ns"
        )

    # ------------------------------------------------------------------ fills
    def record_fill(self, fill: Fill) -> bool:
        """Store a fill; False when this trade_id was already stored (duplicate)."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    fill.trade_id,
                    fill.order_id,
                    fill.client_order_id,
                    fill.ticker,
                    fill.book_side,
                    fill.yes_price,
                    fill.count,
                    fill.fee,
                    fill.exchange_ns,
                    fill.recv_ns,
                ),
            )
            return cur.rowcount == 1

    def trade_ids(self) -> set[str]:
        return {r[0] for r in self._query("SELECT trade_id FROM fills")}

    def fills(self) -> list[dict[str, Any]]:
        return self._records("SELECT * FROM fills ORDER BY recv_ns")

    # ------------------------------------------------------------------ positions
    def save_positions(self, states: list[dict[str, Any]], removed: list[str], now_ns: int) -> None:
        """Upsert the given position states and delete the positions that closed, in one transaction."""
        with self._tx() as db:
            for st in states:
                db.execute(
                    "INSERT OR REPLACE INTO positions VALUES (?,?,?,?)",
                    (st["ticker"], st["position_id"], json.dumps(st, separators=(",", ":")), now_ns),
                )
            for ticker in removed:
                db.execute("DELETE FROM positions WHERE ticker=?", (ticker,))

    def load_positions(self) -> list[dict[str, Any]]:
        out = []
        for (state_json,) in self._query("SELECT state_json FROM positions ORDER BY ticker"):
            try:
                out.append(json.loads(state_json))
            except json.JSONDecodeError as exc:
                raise JournalError(f"journal {self.path}: a position row is corrupt ({exc})") from exc
        return out

    def record_closed(self, position_id: str, ticker: str, summary: dict[str, Any], closed_ns: int) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO closed_positions VALUES (?,?,?,?)",
                (position_id, ticker, json.dumps(summary, separators=(",", ":")), closed_ns),
            )

    def closed_positions(self, since_ns: int = 0) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT summary_json FROM closed_positions WHERE closed_ns >= ? ORDER BY closed_ns", (since_ns,)
        )
        return [json.loads(r[0]) for r in rows]

    # ------------------------------------------------------------------ decision log
    def log(self, entries: list[tuple[int, str, str, str, str]]) -> None:
        """Append (ns, kind, ticker, position_id, detail) rows."""
        if not entries:
            return
        with self._tx() as db:
            db.executemany("INSERT INTO log (ns, kind, ticker, position_id, detail) VALUES (?,?,?,?,?)", entries)

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
