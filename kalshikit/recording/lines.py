"""Numbered byte lines from a plain or gzip file, streaming, surviving a crash-truncated or damaged gzip tail.

Gzip is recognised by its magic bytes, not the file name. A gzip file may hold many members one after another (the
writer makes one per flush); each is decompressed in turn. Problems are handed to ``on_problem(line, reason)`` and
reading goes on where it can:

- a final member cut short (the writer was killed): the lines completed before the cut are yielded, the partial
  line is reported and dropped;
- damaged compressed data: the damaged member's partial line is reported and dropped, and reading resumes at the
  next gzip member header.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Generator, Iterator
from typing import BinaryIO

CHUNK = 1 << 18
GZIP_MAGIC = b"\x1f\x8b"
_MEMBER_START = b"\x1f\x8b\x08"

ProblemSink = Callable[[int, str], None]


def iter_lines(path: str, on_problem: ProblemSink, chunk_size: int = CHUNK) -> Generator[tuple[int, bytes], None, None]:
    """Yield ``(line_number, line)`` for every line of ``path`` (1-based; ``line`` without its ``\\n``)."""
    with open(path, "rb") as f:
        gz = f.read(2) == GZIP_MAGIC
        f.seek(0)
        if gz:
            yield from _split(_gunzip(f, chunk_size), on_problem)
        else:
            yield from _split(_plain(f, chunk_size), on_problem)


class _Cut:
    """Marker in the chunk stream: the data before it ended in the middle of something."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _plain(f: BinaryIO, chunk_size: int) -> Iterator[bytes | _Cut]:
    while True:
        chunk = f.read(chunk_size)
        if not chunk:
            return
        yield chunk


def _gunzip(f: BinaryIO, chunk_size: int) -> Iterator[bytes | _Cut]:
    """Decompressed chunks of every gzip member, with a :class:`_Cut` where data was lost."""
    d = zlib.decompressobj(31)
    fed = 0  # compressed bytes given to the current member
    member_start = 0  # file offset of the current member
    offset = 0  # file offset of the start of ``buf``
    buf = b""
    while True:
        if not buf:
            buf = f.read(chunk_size)
            if not buf:
                break
        try:
            out = d.decompress(buf)
        except zlib.error as exc:
            yield _Cut(f"damaged gzip data in the member starting at byte {member_start}: {exc}")
            nxt = _find_member(f, member_start + 1, chunk_size)
            if nxt is None:
                return
            f.seek(nxt)
            member_start = offset = nxt
            buf, fed, d = b"", 0, zlib.decompressobj(31)
            continue
        fed += len(buf) - len(d.unused_data)
        if out:
            yield out
        if d.eof:
            rest = d.unused_data
            offset += len(buf) - len(rest)
            member_start = offset
            buf, fed, d = rest, 0, zlib.decompressobj(31)
            if rest and not rest.strip(b"\x00"):
                return  # zero padding after the last member (some tools write it)
        else:
            offset += len(buf)
            buf = b""
    if fed:
        tail = d.flush()
        if tail:
            yield tail
        yield _Cut("gzip stream ends in the middle of a member (the writer did not close the file: crash?)")


def _find_member(f: BinaryIO, start: int, chunk_size: int) -> int | None:
    """File offset of the next gzip member header at or after ``start``."""
    f.seek(start)
    pos = start
    carry = b""
    while True:
        chunk = f.read(chunk_size)
        if not chunk:
            return None
        data = carry + chunk
        i = data.find(_MEMBER_START)
        if i >= 0:
            return pos - len(carry) + i
        carry = data[-(len(_MEMBER_START) - 1) :]
        pos += len(chunk)


def _split(chunks: Iterator[bytes | _Cut], on_problem: ProblemSink) -> Iterator[tuple[int, bytes]]:
    pending = b""
    n = 0
    for chunk in chunks:
        if isinstance(chunk, _Cut):
            if pending:
                on_problem(n + 1, f"{chunk.reason}; partial line of {len(pending)} bytes dropped")
                n += 1
            else:
                on_problem(n + 1, chunk.reason)
            pending = b""
            continue
        if pending:
            chunk = pending + chunk
        parts = chunk.split(b"\n")
        pending = parts.pop()
        for part in parts:
            n += 1
            yield n, part
    if pending:
        n += 1
        yield n, pending
