"""A recording's decoded columnar form, kept beside it, so replaying the same recording again skips decoding.

The first replay of a recording (gzip JSONL, one stream) decodes it with the fast reader
(:mod:`kalshikit.replay.fastframes`) and, as it goes, saves every decoded block (per-market quote columns, order-book
tapes and lifecycle events) to ``<recording's folder>/.kalshikit-cache/<id>/``; ``key.json`` is written last, with
each file's path, size and modification time. A later replay whose files still match reads the blocks back instead
of decoding (Parquet speed); a recording that changed (appended, rewritten, touched) no longer matches and is decoded
and saved again. The blocks are the very objects the decoder produced, so decisions are identical either way.

Nothing here is required: a folder that cannot be written, or a disk that fills up, only means no cache (a warning
says so once); ``replay(..., cache=False)`` / ``--no-cache`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from kalshikit.core.events import Lifecycle, MarketInfo
from kalshikit.replay.depth import BookTape
from kalshikit.replay.fastframes import FrameBlock
from kalshikit.replay.market import TickArrays

CACHE_DIR = ".kalshikit-cache"
FORMAT = 1
_TICK_COLUMNS = ("recv", "exch", "bid", "ask", "bid_size", "ask_size", "last")
_BOOK_COLUMNS = ("index", "recv", "op", "side", "price", "size")
_EVENTS: dict[str, type[Any]] = {"Lifecycle": Lifecycle, "MarketInfo": MarketInfo}

log = logging.getLogger("kalshikit.replay")


def _file_key(files: list[Path]) -> list[list[Any]]:
    out = []
    for f in files:
        st = f.stat()
        out.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
    return out


class FrameCache:
    """The cache of one stream of recording files (see the module docstring)."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self.key = {"format": FORMAT, "files": _file_key(files)}
        ident = hashlib.blake2b(json.dumps([k[0] for k in self.key["files"]]).encode(), digest_size=8).hexdigest()
        self.dir = files[0].resolve().parent / CACHE_DIR / ident

    def load(self) -> dict[str, Any] | None:
        """The cache's record when it is complete and the files still match it; else None."""
        try:
            meta = json.loads((self.dir / "key.json").read_text())
        except (OSError, ValueError):
            return None
        if meta.get("key") != self.key:
            return None
        return meta  # type: ignore[no-any-return]

    def blocks(self, meta: dict[str, Any]) -> Iterator[FrameBlock]:
        for i in range(int(meta["blocks"])):
            yield _read_block(self.dir / f"block-{i:06d}.npz")

    def writer(self) -> CacheWriter | None:
        tmp = self.dir.with_name(self.dir.name + f".tmp{os.getpid()}")
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        except OSError as exc:
            log.warning("replay: no decoded copy of %s is kept (%s); the next replay decodes it again",
                        self.files[0], exc)
            return None
        return CacheWriter(self, tmp)


class CacheWriter:
    """Saves the blocks of one replay; :meth:`commit` makes them the cache."""

    def __init__(self, cache: FrameCache, tmp: Path) -> None:
        self.cache = cache
        self.tmp = tmp
        self.count = 0
        self.failed = False

    def add(self, block: FrameBlock) -> None:
        if self.failed:
            return
        try:
            _write_block(self.tmp / f"block-{self.count:06d}.npz", block)
            self.count += 1
        except OSError as exc:
            self._give_up(exc)

    def commit(self, problems: list[tuple[str, int, str]]) -> None:
        if self.failed:
            return
        try:
            meta = {"key": self.cache.key, "blocks": self.count, "problems": [list(p) for p in problems]}
            (self.tmp / "key.json").write_text(json.dumps(meta))
            shutil.rmtree(self.cache.dir, ignore_errors=True)
            self.tmp.rename(self.cache.dir)
        except OSError as exc:
            self._give_up(exc)

    def abandon(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _give_up(self, exc: OSError) -> None:
        self.failed = True
        log.warning("replay: the decoded copy of %s could not be saved (%s); the next replay decodes it again",
                    self.cache.files[0], exc)
        self.abandon()


# ---------------------------------------------------------------------------- one block in one .npz file
def _write_block(path: Path, block: FrameBlock) -> None:
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    markets = list(dict.fromkeys([*block.order, *block.ticks, *block.specials, *block.books]))
    for i, t in enumerate(markets):
        ticks = block.ticks.get(t)
        if ticks is not None:
            for c in _TICK_COLUMNS:
                arrays[f"t{i}_{c}"] = getattr(ticks, c)
        tape = block.books.get(t)
        if tape is not None:
            for c in _BOOK_COLUMNS:
                arrays[f"b{i}_{c}"] = getattr(tape, c)
    specials = {
        str(i): [[idx, ns, type(ev).__name__, msgspec.to_builtins(ev)] for idx, ns, ev in block.specials[t]]
        for i, t in enumerate(markets)
        if block.specials.get(t)
    }
    meta = {"markets": markets, "order": block.order, "quotes": block.quotes, "specials": specials}
    arrays["meta"] = np.frombuffer(msgspec.json.encode(meta), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _read_block(path: Path) -> FrameBlock:
    with np.load(path, allow_pickle=False) as z:
        meta = msgspec.json.decode(z["meta"].tobytes())
        names = set(z.files)
        ticks: dict[str, TickArrays] = {}
        books: dict[str, BookTape] = {}
        for i, t in enumerate(meta["markets"]):
            if f"t{i}_recv" in names:
                ticks[t] = TickArrays(*(z[f"t{i}_{c}"] for c in _TICK_COLUMNS))
            if f"b{i}_recv" in names:
                books[t] = BookTape(*(z[f"b{i}_{c}"] for c in _BOOK_COLUMNS))
    specials = {
        meta["markets"][int(i)]: [(idx, ns, msgspec.convert(body, _EVENTS[kind])) for idx, ns, kind, body in rows]
        for i, rows in meta["specials"].items()
    }
    return FrameBlock(ticks, specials, list(meta["order"]), int(meta["quotes"]), books)
