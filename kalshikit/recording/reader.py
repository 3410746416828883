"""Read recordings as :class:`RawFrame` streams: kit files, plain JSONL of raw frames, and wrappers seen in the wild.

Accepted line shapes (one JSON object per line, gzip or not, blank lines ignored):

- kit header ``{"kalshikit_recording": 1, ...}`` (line 1; collected in :attr:`ReadReport.headers`);
- kit frame ``{"recv_ns": <ns>, "raw": "<frame text>"}``, and the look-alike ``{"recv_ts_ns": <ns>, "raw": ...}``;
- ``{"received_ms": <ms>, "frame": {<frame object>}}``;
- a raw Kalshi WebSocket frame object of either wire era (no receive time: the exchange time stands in for it).

A file that is a single JSON document (an array of frames or wrappers, or an object with a ``frames`` array) is
read too; such files are small fixtures and are loaded whole.

:func:`read_frames` merges several recordings in time order with a streaming heap merge; a corrupt or truncated line
is reported (file, line, reason) in a :class:`ReadReport`, logged, skipped, and the rest still reads.
"""

from __future__ import annotations

import heapq
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import msgspec

from kalshikit.errors import RecordingError
from kalshikit.recording.format import (
    FORMAT_VERSION,
    RawFrame,
    RecordingHeader,
    TimeMsg,
    decode_header,
    frame_exchange_ns,
    parse_file_name,
    time_of_msg,
)
from kalshikit.recording.lines import iter_lines
from kalshikit.units import NS_PER_MS

log = logging.getLogger("kalshikit.recording")

RECORDING_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
MAX_DOCUMENT_BYTES = 256 << 20  # a whole-document JSON file larger than this is refused (use JSON lines)
_WARN_PER_FILE = 20


@dataclass
class ReadReport:
    """What reading saw: counts, file headers, and every problem as ``(path, line, reason)``.

    ``problems`` keeps the first ``max_problems`` entries; ``problem_count`` counts all of them.
    """

    files: int = 0
    lines: int = 0
    frames: int = 0
    blank: int = 0
    problem_count: int = 0
    problems: list[tuple[str, int, str]] = field(default_factory=list)
    headers: list[tuple[str, RecordingHeader]] = field(default_factory=list)
    max_problems: int = 10_000

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add_problem(self, path: str, line: int, reason: str) -> None:
        self.problem_count += 1
        if len(self.problems) < self.max_problems:
            self.problems.append((path, line, reason))

    def summary(self) -> str:
        text = f"{self.files} file(s), {self.frames} frame(s), {self.problem_count} problem(s)"
        for path, line, reason in self.problems[:5]:
            text += f"\n  {path}:{line}: {reason}"
        if self.problem_count > 5:
            text += f"\n  ... and {self.problem_count - 5} more"
        return text


# ---------------------------------------------------------------------------- line shapes
class _Line(msgspec.Struct, gc=False):
    kalshikit_recording: Any = None
    recv_ns: int | None = None
    recv_ts_ns: int | None = None
    received_ms: int | None = None
    raw: str | None = None
    frame: msgspec.Raw = msgspec.Raw()  # empty when absent
    type: Any = None
    msg: TimeMsg | list[Any] | None = None


class _LooseLine(msgspec.Struct, gc=False):
    """Fallback when a field has an unexpected type (e.g. ``msg`` a string): keep the frame, lose only its time."""

    kalshikit_recording: Any = None
    recv_ns: Any = None
    recv_ts_ns: Any = None
    received_ms: Any = None
    raw: Any = None
    frame: msgspec.Raw = msgspec.Raw()  # empty when absent
    type: Any = None


class _Frames(msgspec.Struct):
    frames: list[msgspec.Raw]


_line_decoder = msgspec.json.Decoder(_Line)
_loose_decoder = msgspec.json.Decoder(_LooseLine)
_doc_list_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_doc_obj_decoder = msgspec.json.Decoder(_Frames)


_raw_time = frame_exchange_ns


class _FileReader:
    """Turns the lines of one stream of files into RawFrames, carrying the last exchange time across lines."""

    def __init__(self, report: ReadReport, strict: bool) -> None:
        self.report = report
        self.strict = strict
        self.last_exchange: int | None = None
        self._warned = 0
        self._path = ""

    def problem(self, line: int, reason: str) -> None:
        if self.strict:
            raise RecordingError(reason, path=self._path, line=line)
        self.report.add_problem(self._path, line, reason)
        self._warned += 1
        if self._warned <= _WARN_PER_FILE:
            log.warning("%s:%d: %s", self._path, line, reason)
        elif self._warned == _WARN_PER_FILE + 1:
            log.warning("%s: more problems; only the first %d are logged", self._path, _WARN_PER_FILE)

    def read(self, path: str) -> Iterator[RawFrame]:
        self._path = path
        self._warned = 0
        report = self.report
        report.files += 1
        lines = iter_lines(path, self.problem)
        first = self._first_content(lines)
        if first is None:
            return
        n, head = first
        s = head.strip()
        if s == b"{" or s.startswith(b"["):
            yield from self._document(path, n, head, lines)
            return
        made = self._line(path, n, s, document=False)
        if made is not None:
            yield made
        decode = _line_decoder.decode
        for n, line in lines:
            report.lines += 1
            s = line.strip()
            if not s:
                report.blank += 1
                continue
            # Fast path for the kit frame line; anything unusual goes through _line.
            try:
                h = decode(s)
            except (msgspec.DecodeError, msgspec.ValidationError):
                h = None
            if h is not None and h.raw is not None and h.recv_ns is not None and h.kalshikit_recording is None:
                raw = h.raw
                ex = _raw_time(raw)
                if ex is None:
                    ex = self.last_exchange if self.last_exchange is not None else h.recv_ns
                else:
                    self.last_exchange = ex
                report.frames += 1
                yield RawFrame(h.recv_ns, raw, ex, path, n)
                continue
            made = self._line(path, n, s, document=False, decoded=h)
            if made is not None:
                yield made

    def _first_content(self, lines: Iterator[tuple[int, bytes]]) -> tuple[int, bytes] | None:
        for n, line in lines:
            self.report.lines += 1
            if line.strip():
                return n, line
            self.report.blank += 1
        return None

    def _document(
        self, path: str, first_n: int, first: bytes, lines: Iterator[tuple[int, bytes]]
    ) -> Iterator[RawFrame]:
        parts = [first]
        size = len(first)
        for _, line in lines:
            self.report.lines += 1
            size += len(line) + 1
            if size > MAX_DOCUMENT_BYTES:
                raise RecordingError(
                    f"a whole-document JSON recording larger than {MAX_DOCUMENT_BYTES >> 20} MiB is not supported; "
                    "convert it to JSON lines (one frame per line)",
                    path=path,
                    line=first_n,
                )
            parts.append(line)
        data = b"\n".join(parts)
        try:
            if data.lstrip().startswith(b"["):
                items = _doc_list_decoder.decode(data)
            else:
                items = _doc_obj_decoder.decode(data).frames
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.problem(first_n, f"not a JSON lines file and not a JSON document of frames: {exc}")
            return
        for i, item in enumerate(items, start=1):
            made = self._line(path, i, bytes(item), document=True)
            if made is not None:
                yield made

    def _line(self, path: str, n: int, s: bytes, *, document: bool, decoded: _Line | None = None) -> RawFrame | None:
        """Decode one non-blank line (or document item) of any accepted shape (``decoded``: already parsed)."""
        try:
            h: _Line | _LooseLine = decoded if decoded is not None else _line_decoder.decode(s)
        except msgspec.ValidationError:
            try:
                h = _loose_decoder.decode(s)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                self.problem(n, f"not a JSON object: {exc}")
                return None
        except msgspec.DecodeError as exc:
            reason = "corrupt or truncated line" if s[:1] == b"{" else "not JSON"
            self.problem(n, f"{reason}: {exc}")
            return None
        if h.kalshikit_recording is not None:
            self._header(n, s, h.kalshikit_recording)
            return None
        recv: int | None = None
        exchange: int | None = None
        if h.raw is not None:
            if not isinstance(h.raw, str):
                self.problem(n, "'raw' must be the frame text as a JSON string")
                return None
            raw = h.raw
            recv = _int_or_none(h.recv_ns if h.recv_ns is not None else h.recv_ts_ns)
            if recv is None and h.received_ms is not None and isinstance(h.received_ms, int):
                recv = h.received_ms * NS_PER_MS
            exchange = _raw_time(raw)
        elif len(h.frame) and bytes(h.frame).startswith(b"{"):
            frame = bytes(h.frame)
            if document:
                frame = msgspec.json.format(frame, indent=-1)
            raw = frame.decode("utf-8")
            if isinstance(h.received_ms, int) and not isinstance(h.received_ms, bool):
                recv = h.received_ms * NS_PER_MS
            else:
                recv = _int_or_none(h.recv_ns if h.recv_ns is not None else h.recv_ts_ns)
            exchange = _raw_time(frame)
        elif h.type is not None:
            text = msgspec.json.format(s, indent=-1) if document else s
            try:
                raw = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.problem(n, f"frame is not UTF-8 text: {exc}")
                return None
            exchange = time_of_msg(h.msg) if isinstance(h, _Line) else None
        else:
            self.problem(n, "not a recording line: no 'raw', 'frame' or 'type' field")
            return None
        if exchange is None:
            exchange = self.last_exchange if self.last_exchange is not None else (recv if recv is not None else 0)
        else:
            self.last_exchange = exchange
        self.report.frames += 1
        return RawFrame(recv if recv is not None else exchange, raw, exchange, path, n)

    def _header(self, n: int, s: bytes, version: Any) -> None:
        if not isinstance(version, int) or isinstance(version, bool):
            self.problem(n, f"bad header: kalshikit_recording must be an integer, got {version!r}")
            return
        if version > FORMAT_VERSION:
            raise RecordingError(
                f"recording format {version} is newer than this kalshikit understands ({FORMAT_VERSION}); "
                "upgrade kalshikit",
                path=self._path,
                line=n,
            )
        try:
            header = decode_header(s)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.problem(n, f"bad header: {exc}")
            return
        self.report.headers.append((self._path, header))


def _int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


# ---------------------------------------------------------------------------- files and merging
def _check_exists(path: Path) -> None:
    if not path.exists():
        raise RecordingError("no such recording file or directory", path=str(path))


def recording_files(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and directories (non-recursively: ``*.jsonl``, ``*.jsonl.gz``, ``*.ndjson[.gz]``, by name)."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    out: list[Path] = []
    seen: set[Path] = set()
    for p in paths:
        path = Path(p)
        _check_exists(path)
        found = (
            sorted(q for q in path.iterdir() if q.is_file() and q.name.endswith(RECORDING_SUFFIXES))
            if path.is_dir()
            else [path]
        )
        for q in found:
            key = q.resolve()
            if key not in seen:
                seen.add(key)
                out.append(q)
    return out


def _streams(files: list[Path]) -> list[list[Path]]:
    """Group one recorder's hourly files (same directory and prefix) into one stream, in time order."""
    groups: dict[tuple[str, str], list[tuple[int, int, str, Path]]] = {}
    singles: list[list[Path]] = []
    for f in files:
        parts = parse_file_name(f.name)
        if parts is None:
            singles.append([f])
        else:
            groups.setdefault((str(f.parent.resolve()), parts.prefix), []).append((parts.hour, parts.part, f.name, f))
    streams = [[t[3] for t in sorted(g)] for g in groups.values()]
    return streams + singles


def _read_stream(files: list[Path], report: ReadReport, strict: bool) -> Iterator[RawFrame]:
    reader = _FileReader(report, strict)
    for f in files:
        yield from reader.read(str(f))


def read_file(
    path: str | os.PathLike[str], report: ReadReport | None = None, *, strict: bool = False
) -> Iterator[RawFrame]:
    """Yield the frames of one file in file order. ``strict=True`` raises :class:`RecordingError` on a bad line."""
    p = Path(path)
    _check_exists(p)
    if p.is_dir():
        raise RecordingError("is a directory; use read_frames() for directories", path=str(p))
    return _read_stream([p], report if report is not None else ReadReport(), strict)


def read_frames(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    report: ReadReport | None = None,
    *,
    strict: bool = False,
) -> Iterator[RawFrame]:
    """Yield the frames of several files/directories merged in time order by ``(exchange_ns, recv_ns)``.

    One recorder's hourly files (same directory and prefix) are read one after the other as a single stream; separate
    streams are merged with a heap, one open file each, so memory stays small. Each file's own order is kept.
    """
    rep = report if report is not None else ReadReport()
    streams = _streams(recording_files(paths))
    if len(streams) == 1:
        return _read_stream(streams[0], rep, strict)
    return heapq.merge(*(_read_stream(s, rep, strict) for s in streams), key=itemgetter(2, 0))


def read_header(path: str | os.PathLike[str]) -> RecordingHeader | None:
    """The kit header of a recording file (None for files without one)."""
    _check_exists(Path(path))
    report = ReadReport()
    lines = iter_lines(str(path), lambda n, r: None)
    try:
        for n, line in lines:
            s = line.strip()
            if not s:
                continue
            if b'"kalshikit_recording"' not in s:
                return None
            reader = _FileReader(report, strict=True)
            reader._path = str(path)
            reader._line(str(path), n, s, document=False)
            return report.headers[0][1] if report.headers else None
        return None
    finally:
        lines.close()


__all__ = ["ReadReport", "read_file", "read_frames", "read_header", "recording_files"]
