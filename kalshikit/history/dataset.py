"""The history dataset on disk: a folder of Parquet files and a small JSON manifest, written so that a download can
be killed at any moment and resumed without losing or duplicating a row.

Layout (``DIR`` is what ``--out`` names)::

    DIR/history.json                     the manifest: format version, environment, the request, the runs
    DIR/markets.parquet                  one row per market: metadata, status, result, the window downloaded
    DIR/series.json                      the series' fee schedules (a GET /series reply), when Kalshi served them
    DIR/candles/<TICKER>/<START>.parquet one file per request of 1-minute candles: the candles ending in its range
    DIR/trades/<TICKER>/<LO>-<HI>-<PAGE>.parquet  trade prints, a few pages per file
    DIR/state/<TICKER>.json              trades: the time ranges complete, and the cursor of a listing under way
    DIR/quarantine/                      files that could not be read, moved aside (never deleted)

Every file appears under its final name only when complete (written to a hidden temporary file, then renamed; a
killed process leaves at most a temporary file, removed by the next run). Files are not fsync'ed: a file that an
operating-system crash left unreadable is moved to ``quarantine/`` and its range downloaded again.
A candle file's footer records the range it answers for, so the candle files themselves say what is done; the trade
state file says which trade ranges are done, and a listing under way resumes at its saved cursor. Trades are written
only when their ``trade_id`` is not stored yet, so a page fetched twice after a crash is not stored twice.

Units are the kit's: prices in $0.0001, counts in 1/100 contract, times in ns UTC, all integers; a missing value
(an empty side of the book, a minute without trades) is null, never 0. ``pandas.read_parquet("DIR/candles")`` and
``"DIR/trades"`` read every market at once.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from kalshikit.errors import ConfigError, RecordingError
from kalshikit.history.request import HistoryRequest, check_ticker
from kalshikit.kalshi.models import Candle, PublicTrade

log = logging.getLogger("kalshikit.history")

FORMAT_VERSION = 1
MANIFEST = "history.json"
MARKETS_FILE = "markets.parquet"
CANDLES_DIR = "candles"
TRADES_DIR = "trades"
STATE_DIR = "state"
QUARANTINE_DIR = "quarantine"
RESOLUTION_S = 60
_META_KEY = b"kalshikit"
_I64 = pa.int64()
_CANDLE_FIELDS = [f for f in Candle.__struct_fields__ if f != "end_ns"]
_TRADE_PART = re.compile(r"^(\d+)-(\d+)-(\d+)\.parquet$")

CANDLE_SCHEMA = pa.schema([("ticker", pa.string()), ("end_ns", _I64)] + [(f, _I64) for f in _CANDLE_FIELDS])
TRADE_SCHEMA = pa.schema(
    [
        ("ticker", pa.string()),
        ("trade_id", pa.string()),
        ("created_ns", _I64),
        ("yes_price", _I64),
        ("count", _I64),
        ("taker_side", pa.string()),
        ("is_block_trade", pa.bool_()),
    ]
)
MARKET_SCHEMA = pa.schema(
    [
        ("ticker", pa.string()),
        ("event_ticker", pa.string()),
        ("series_ticker", pa.string()),
        ("title", pa.string()),
        ("yes_sub_title", pa.string()),
        ("status", pa.string()),
        ("result", pa.string()),
        ("settlement_value", _I64),
        ("open_ns", _I64),
        ("close_ns", _I64),
        ("settlement_ns", _I64),
        ("price_level_structure", pa.string()),
        ("price_ranges", pa.string()),  # JSON: [[start, end, step], ...] in price units
        ("volume", _I64),
        ("open_interest", _I64),
        ("from_ns", _I64),  # the window downloaded (whole minutes); null when the market is outside the window
        ("to_ns", _I64),
        ("complete", pa.bool_()),  # every candle and trade of the window is stored and the market is final
    ]
)


def is_history_dataset(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a folder with a history manifest."""
    return (Path(path) / MANIFEST).is_file()


def _atomic_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _atomic_table(path: Path, table: pa.Table, meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    table = table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def merge_intervals(intervals: Iterable[Sequence[int]], step: int = RESOLUTION_S) -> list[tuple[int, int]]:
    """Sorted, merged ``[lo, hi]`` intervals (inclusive; touching when the next starts within ``step``)."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted((int(a), int(b)) for a, b in intervals):
        if out and lo <= out[-1][1] + step:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def gaps(window: tuple[int, int], covered: Iterable[Sequence[int]], step: int = RESOLUTION_S) -> list[tuple[int, int]]:
    """The parts of ``window`` (inclusive, on a ``step`` grid) that ``covered`` does not cover."""
    lo, hi = window
    out: list[tuple[int, int]] = []
    at = lo
    for a, b in merge_intervals(covered, step):
        if b < at:
            continue
        if a > hi:
            break
        if a > at:
            out.append((at, min(hi, a - step)))
        at = max(at, b + step)
    if at <= hi:
        out.append((at, hi))
    return out


@dataclass
class TradeState:
    """Which trade ranges of one market are stored (``covered``, Unix seconds inclusive) and the listing under way."""

    covered: list[tuple[int, int]] = field(default_factory=list)
    listing: dict[str, Any] | None = None  # {"lo_s", "hi_s", "cursor"}


class HistoryDataset:
    """One history dataset folder. :meth:`create` / :meth:`open`; the download writes, replay and you read."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest

    # ================================================================== opening
    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> HistoryDataset:
        """An existing dataset (:class:`ConfigError` when ``path`` is not one)."""
        p = Path(path).expanduser()
        if not is_history_dataset(p):
            raise ConfigError(
                f"{p} is not a history dataset (no {MANIFEST}); make one with python -m kalshikit.history"
            )
        return cls(p, cls._read_manifest(p / MANIFEST))

    @classmethod
    def create(cls, path: str | os.PathLike[str], request: HistoryRequest, env: str) -> HistoryDataset:
        """Open ``path`` for a download of ``request`` from ``env``: a new dataset in an empty or new folder, or the
        dataset already there when it was made by the same request from the same environment."""
        p = Path(path).expanduser()
        if is_history_dataset(p):
            ds = cls(p, cls._read_manifest(p / MANIFEST))
            if ds.request != request or ds.env != env:
                raise ConfigError(
                    f"{p} holds a download of {ds.request.describe()} from {ds.env}; this one asks for "
                    f"{request.describe()} from {env}. Use another --out, or run without --series/--event/--tickers/"
                    "--start/--end to continue the download that is there"
                )
            return ds
        if p.exists() and (not p.is_dir() or any(p.iterdir())):
            raise ConfigError(f"{p} exists and is not a history dataset: give a new or empty folder as --out")
        now = time.time_ns()
        from kalshikit import __version__

        manifest = {
            "kalshikit_history": FORMAT_VERSION,
            "kit_version": __version__,
            "env": env,
            "request": request.to_json(),
            "resolution_s": RESOLUTION_S,
            "created_ns": now,
            "updated_ns": now,
            "runs": [],
        }
        ds = cls(p, manifest)
        ds.save_manifest()
        return ds

    @staticmethod
    def _read_manifest(path: Path) -> dict[str, Any]:
        try:
            doc = json.loads(path.read_text())
            version = doc["kalshikit_history"]
            HistoryRequest.from_json(doc["request"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RecordingError(
                f"the manifest is unreadable ({type(exc).__name__}: {exc}). It records what was asked; move it away "
                "(the data files stay) and run the download again with its arguments to rebuild it",
                path=str(path),
            ) from None
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise RecordingError(
                f"history format {version!r} is newer than this kit reads ({FORMAT_VERSION}); update kalshikit",
                path=str(path),
            )
        return dict(doc)

    @property
    def request(self) -> HistoryRequest:
        return HistoryRequest.from_json(self.manifest["request"])

    @property
    def env(self) -> str:
        return str(self.manifest.get("env", ""))

    def save_manifest(self) -> None:
        self.manifest["updated_ns"] = time.time_ns()
        _atomic_bytes(self.path / MANIFEST, (json.dumps(self.manifest, indent=1) + "\n").encode())

    def record_run(self, run: dict[str, Any], keep: int = 50) -> None:
        runs = list(self.manifest.get("runs", []))
        runs.append(run)
        self.manifest["runs"] = runs[-keep:]
        self.save_manifest()

    # ================================================================== housekeeping
    def _dir(self, kind: str, ticker: str) -> Path:
        return self.path / kind / check_ticker(ticker)

    def quarantine(self, path: Path, reason: str) -> Path:
        """Move an unreadable file aside (into ``quarantine/``), keeping it for inspection."""
        dest = self.path / QUARANTINE_DIR / path.relative_to(self.path).as_posix().replace("/", "__")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            dest = dest.with_name(f"{dest.name}.{time.time_ns()}")
        shutil.move(str(path), dest)
        log.warning("%s: %s; moved to %s and its range will be downloaded again", path, reason, dest)
        return dest

    def clean_partials(self, ticker: str) -> int:
        """Remove the hidden temporary files a killed run left for ``ticker`` (never complete data); how many."""
        n = 0
        for kind in (CANDLES_DIR, TRADES_DIR):
            d = self._dir(kind, ticker)
            if d.is_dir():
                for f in d.glob(".*.partial"):
                    f.unlink(missing_ok=True)
                    n += 1
        return n

    # ================================================================== candles
    def candle_ranges(self, ticker: str) -> list[tuple[int, int]]:
        """``(start_s, end_s)`` each candle file of ``ticker`` answers for; unreadable files are quarantined."""
        d = self._dir(CANDLES_DIR, ticker)
        out: list[tuple[int, int]] = []
        if not d.is_dir():
            return out
        for f in sorted(d.glob("*.parquet")):
            try:
                meta = json.loads((pq.read_schema(f).metadata or {})[_META_KEY])
                out.append((int(meta["start_s"]), int(meta["end_s"])))
            except Exception as exc:  # any unreadable footer: the file is not trusted
                self.quarantine(f, f"unreadable candle file ({type(exc).__name__}: {exc})")
        return out

    def candle_rows(self, ticker: str) -> int:
        """How many candles of ``ticker`` are stored (from the files' footers)."""
        d = self._dir(CANDLES_DIR, ticker)
        return sum(pq.read_metadata(f).num_rows for f in d.glob("*.parquet")) if d.is_dir() else 0

    def write_candles(self, ticker: str, start_s: int, end_s: int, candles: Sequence[Candle]) -> Path:
        """Store the answer to one candle request (its range ``[start_s, end_s]``, even when it held no candle)."""
        keep: dict[int, Candle] = {}
        for c in candles:
            if start_s * 1_000_000_000 <= c.end_ns <= end_s * 1_000_000_000:
                keep[c.end_ns] = c
        rows = [keep[k] for k in sorted(keep)]
        cols: dict[str, list[Any]] = {"ticker": [ticker] * len(rows), "end_ns": [c.end_ns for c in rows]}
        for name in _CANDLE_FIELDS:
            cols[name] = [getattr(c, name) for c in rows]
        table = pa.table(cols, schema=CANDLE_SCHEMA)
        path = self._dir(CANDLES_DIR, ticker) / f"{start_s}.parquet"
        meta = {"kind": "history_candles", "ticker": ticker, "start_s": start_s, "end_s": end_s}
        _atomic_table(path, table, meta | {"period_s": RESOLUTION_S})
        return path

    # ================================================================== trades
    def trade_state(self, ticker: str) -> TradeState:
        path = self.path / STATE_DIR / f"{check_ticker(ticker)}.json"
        if not path.is_file():
            return TradeState()
        try:
            doc = json.loads(path.read_text())
            covered = [(int(a), int(b)) for a, b in doc.get("covered", [])]
            listing = doc.get("listing")
            if listing is not None:
                listing = {"lo_s": int(listing["lo_s"]), "hi_s": int(listing["hi_s"]), "cursor": str(listing["cursor"])}
            return TradeState(covered, listing)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.quarantine(path, f"unreadable trade state ({type(exc).__name__}: {exc})")
            return TradeState()

    def save_trade_state(self, ticker: str, state: TradeState) -> None:
        path = self.path / STATE_DIR / f"{check_ticker(ticker)}.json"
        doc = {"covered": [list(c) for c in merge_intervals(state.covered, 1)], "listing": state.listing}
        _atomic_bytes(path, json.dumps(doc).encode())

    def trade_files(self, ticker: str) -> list[Path]:
        d = self._dir(TRADES_DIR, ticker)
        return sorted(d.glob("*.parquet")) if d.is_dir() else []

    def verify_trade_files(self, ticker: str) -> int:
        """Quarantine the trade files of ``ticker`` whose footer cannot be read; returns how many were moved."""
        moved = 0
        for f in self.trade_files(ticker):
            try:
                pq.read_metadata(f)
            except Exception as exc:
                self.quarantine(f, f"unreadable trades file ({type(exc).__name__}: {exc})")
                moved += 1
        return moved

    def stored_trade_ids(self, ticker: str, lo_ns: int, hi_ns: int) -> set[str]:
        """Ids of the stored trades of ``ticker`` created in ``[lo_ns, hi_ns]`` (unreadable files quarantined)."""
        ids: set[str] = set()
        for f in self.trade_files(ticker):
            try:
                t = pq.read_table(f, columns=["trade_id", "created_ns"])
            except Exception as exc:
                self.quarantine(f, f"unreadable trades file ({type(exc).__name__}: {exc})")
                continue
            for tid, ns in zip(t.column("trade_id").to_pylist(), t.column("created_ns").to_pylist(), strict=True):
                if lo_ns <= ns <= hi_ns:
                    ids.add(tid)
        return ids

    def next_trade_page(self, ticker: str, lo_s: int, hi_s: int) -> int:
        n = 0
        for f in self.trade_files(ticker):
            m = _TRADE_PART.match(f.name)
            if m and int(m.group(1)) == lo_s and int(m.group(2)) == hi_s:
                n = max(n, int(m.group(3)) + 1)
        return n

    def write_trades(self, ticker: str, lo_s: int, hi_s: int, page: int, trades: Sequence[PublicTrade]) -> Path:
        rows = sorted(trades, key=lambda t: (t.created_ns, t.trade_id))
        table = pa.table(
            {
                "ticker": [t.ticker for t in rows],
                "trade_id": [t.trade_id for t in rows],
                "created_ns": [t.created_ns for t in rows],
                "yes_price": [t.yes_price for t in rows],
                "count": [t.count for t in rows],
                "taker_side": [t.taker_side for t in rows],
                "is_block_trade": [t.is_block_trade for t in rows],
            },
            schema=TRADE_SCHEMA,
        )
        path = self._dir(TRADES_DIR, ticker) / f"{lo_s}-{hi_s}-{page:06d}.parquet"
        _atomic_table(path, table, {"kind": "history_trades", "ticker": ticker, "lo_s": lo_s, "hi_s": hi_s})
        return path

    # ================================================================== markets
    def write_markets(self, rows: Sequence[dict[str, Any]]) -> None:
        """Replace ``markets.parquet`` by ``rows`` (one dict per market, :data:`MARKET_SCHEMA` columns)."""
        cols = {f.name: [r.get(f.name) for r in rows] for f in MARKET_SCHEMA}
        _atomic_table(self.path / MARKETS_FILE, pa.table(cols, schema=MARKET_SCHEMA), {"kind": "history_markets"})

    def markets_table(self) -> pa.Table:
        path = self.path / MARKETS_FILE
        if not path.is_file():
            return MARKET_SCHEMA.empty_table()
        return self._read(path, None)

    # ================================================================== reading
    def _read(self, path: Path, columns: list[str] | None) -> pa.Table:
        try:
            return pq.read_table(path, columns=columns)
        except Exception as exc:
            raise RecordingError(
                f"unreadable ({type(exc).__name__}: {exc}); move it into {self.path / QUARANTINE_DIR} and run the "
                "download again: it fetches that range again",
                path=str(path),
            ) from None

    def _concat(self, kind: str, schema: pa.Schema, tickers: Iterable[str] | None, sort: list[str]) -> pa.Table:
        base = self.path / kind
        names = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
        if tickers is not None:
            wanted = set(tickers)
            names = [n for n in names if n in wanted]
        parts = [self._read(f, None) for n in names for f in sorted((base / n).glob("*.parquet"))]
        if not parts:
            return schema.empty_table()
        table = pa.concat_tables([p.replace_schema_metadata(None) for p in parts])
        return table.sort_by([(c, "ascending") for c in sort])

    def candles_table(self, tickers: Iterable[str] | None = None) -> pa.Table:
        """Every stored candle (of ``tickers``), sorted by ticker and end time."""
        return self._concat(CANDLES_DIR, CANDLE_SCHEMA, tickers, ["ticker", "end_ns"])

    def trades_table(self, tickers: Iterable[str] | None = None) -> pa.Table:
        """Every stored trade (of ``tickers``), sorted by ticker and time."""
        return self._concat(TRADES_DIR, TRADE_SCHEMA, tickers, ["ticker", "created_ns", "trade_id"])

    def markets(self) -> Any:
        """The markets as a pandas DataFrame (nullable integer columns)."""
        return _frame(self.markets_table())

    def candles(self, ticker: str | None = None) -> Any:
        """Candles as a pandas DataFrame, with ``end_time`` (UTC) next to ``end_ns``; prices stay in $0.0001."""
        import pandas as pd

        df = _frame(self.candles_table(None if ticker is None else [ticker]))
        df["end_time"] = pd.to_datetime(df["end_ns"], unit="ns", utc=True)
        return df

    def trades(self, ticker: str | None = None) -> Any:
        """Trades as a pandas DataFrame, with ``created_time`` (UTC)."""
        import pandas as pd

        df = _frame(self.trades_table(None if ticker is None else [ticker]))
        df["created_time"] = pd.to_datetime(df["created_ns"], unit="ns", utc=True)
        return df


def _frame(table: pa.Table) -> Any:
    import pandas as pd

    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get)


def open_history(path: str | os.PathLike[str]) -> HistoryDataset:
    """Open a downloaded history dataset to read it (``.markets()``, ``.candles(ticker)``, ``.trades(ticker)``)."""
    return HistoryDataset.open(path)


def market_row(**values: Any) -> dict[str, Any]:
    """A row of :data:`MARKET_SCHEMA` (missing columns null)."""
    unknown = set(values) - set(MARKET_SCHEMA.names)
    if unknown:
        raise ValueError(f"unknown market columns {sorted(unknown)}")
    return {name: values.get(name) for name in MARKET_SCHEMA.names}


def grid_json(ranges: Iterable[tuple[int, int, int]]) -> str:
    return msgspec.json.encode([list(r) for r in ranges]).decode()


__all__ = [
    "CANDLE_SCHEMA",
    "FORMAT_VERSION",
    "MANIFEST",
    "MARKET_SCHEMA",
    "RESOLUTION_S",
    "TRADE_SCHEMA",
    "HistoryDataset",
    "TradeState",
    "gaps",
    "grid_json",
    "is_history_dataset",
    "market_row",
    "merge_intervals",
    "open_history",
]
