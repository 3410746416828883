"""Write kit recordings: hourly gzip JSON-lines files, flushed at least every second, safe to call from any thread.

``write`` only formats one line and appends it to a list under a lock; compression and I/O happen in ``flush``,
which a daemon thread calls every ``flush_interval`` seconds. A flush compresses the new lines into the file's
current gzip member, ends them with a zlib sync flush (everything so far becomes decodable) and hands the bytes to the
OS. After ``member_flushes`` flushes (about a minute) the member is finished with its gzip trailer and the next flush
starts a new one; concatenated members are one valid gzip stream, and a fresh dictionary once a minute costs almost
nothing, unlike one member per second (about twice the size).

After a crash (even ``kill -9``) only the lines of the last second are lost: the file ends inside an unfinished
member, which the reader reports as a truncated tail and reads up to the last complete line.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import time
import weakref
import zlib
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import msgspec

from kalshikit import __version__
from kalshikit.errors import RecordingError
from kalshikit.recording.format import (
    ENVIRONMENTS,
    NS_PER_HOUR,
    RecordingHeader,
    encode_header,
    file_name,
    valid_prefix,
)

log = logging.getLogger("kalshikit.recording")

MAX_PENDING_BYTES = 8 << 20  # write() flushes inline past this, so a stalled flusher cannot eat the memory


def _close_at_exit(ref: weakref.ref[RecordingWriter]) -> None:
    writer = ref()
    if writer is not None:
        try:
            writer.close()
        except RecordingError as exc:
            log.error("could not finish recording at exit: %s", exc)


class RecordingWriter:
    """Append frames to ``directory/<prefix>-YYYYMMDDTHHZ.jsonl.gz``, one file per UTC hour of ``recv_ns``.

    ``write(raw, recv_ns)`` stores the frame text exactly. Files rotate when a frame's receive hour is later than the
    current file's (a clock that steps back keeps writing to the current file). A file that already exists for an
    hour (a restart) is never appended to; the new one is named ``..._01.jsonl.gz``, ``_02``...

    ``flush_interval=None`` turns the background flusher off (then only ``flush()``/``close()`` write; used for
    byte-for-byte reproducible files). ``member_flushes`` is how many flushes share one gzip member. ``fsync=True``
    also asks the OS to put each flush on disk (survives power loss, costs a disk sync per flush). ``created_ns``
    pins the header's creation time (default: the wall clock).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        prefix: str = "kalshi",
        env: str = "sim",
        subscriptions: dict[str, Any] | None = None,
        note: str = "",
        synthetic: bool = False,
        flush_interval: float | None = 1.0,
        compresslevel: int = 6,
        member_flushes: int = 60,
        fsync: bool = False,
        created_ns: int | None = None,
    ) -> None:
        self.directory = Path(directory)
        if not valid_prefix(prefix):
            raise RecordingError(f"bad file prefix {prefix!r}: use a plain name without '/'", path=str(directory))
        if env not in ENVIRONMENTS:
            raise RecordingError(f"env must be one of {', '.join(ENVIRONMENTS)}; got {env!r}", path=str(directory))
        if flush_interval is not None and not 0 < flush_interval <= 1.0:
            raise RecordingError(
                f"flush_interval must be in (0, 1] seconds (or None); got {flush_interval!r}", path=str(directory)
            )
        if not 0 <= compresslevel <= 9:
            raise RecordingError(f"compresslevel must be 0..9; got {compresslevel!r}", path=str(directory))
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordingError(f"cannot create the recording directory: {exc}", path=str(directory)) from exc
        self.prefix = prefix
        self.env = env
        self.note = note
        self.synthetic = synthetic
        self.compresslevel = compresslevel
        self.member_flushes = max(1, member_flushes)
        self.fsync = fsync
        self._subscriptions: dict[str, Any] = dict(subscriptions or {})
        self._created_ns = created_ns
        self._encode_str = msgspec.json.Encoder().encode

        self._lock = threading.Lock()  # guards the pending list and counters; held only briefly
        self._flush_lock = threading.Lock()  # serialises flushes (file order = write order)
        self._pending: list[bytes | int] = []  # encoded lines; an int marks "the following lines are for hour N"
        self._pending_bytes = 0
        self._hour: int | None = None  # hour of the last written frame
        self._closed = False
        self._error: BaseException | None = None

        self._file: BinaryIO | None = None
        self._file_hour: int | None = None
        self._comp: Any = None  # zlib compressor of the open gzip member (None between members)
        self._member_syncs = 0
        self.paths: list[Path] = []  # every file written, in order
        self.frames_written = 0  # frames handed to write()
        self.bytes_written = 0  # compressed bytes written to disk

        # A writer nobody closed is still finished cleanly when the interpreter exits normally.
        self._at_exit = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._at_exit)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if flush_interval is not None:
            self._thread = threading.Thread(
                target=self._flush_loop, args=(flush_interval,), name="kalshikit-recording-flush", daemon=True
            )
            self._thread.start()

    # ------------------------------------------------------------------------ public
    @property
    def subscriptions(self) -> dict[str, Any]:
        return dict(self._subscriptions)

    def set_subscriptions(self, subscriptions: dict[str, Any]) -> None:
        """What the next file's header says was subscribed (the live engine calls this after a subscription sync)."""
        self._subscriptions = dict(subscriptions)

    def write(self, raw: str | bytes, recv_ns: int) -> None:
        """Record one frame as received at ``recv_ns`` (int ns UTC). Thread-safe and cheap."""
        if isinstance(recv_ns, bool) or not isinstance(recv_ns, int) or recv_ns < 0:
            raise RecordingError(f"recv_ns must be a non-negative int (ns since the epoch); got {recv_ns!r}")
        if isinstance(raw, bytes | bytearray | memoryview):
            try:
                raw = bytes(raw).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RecordingError(f"frame is not UTF-8 text ({exc}); WebSocket text frames always are") from exc
        elif not isinstance(raw, str):
            raise RecordingError(f"raw must be str or bytes; got {type(raw).__name__}")
        try:
            text = self._encode_str(raw)
        except (msgspec.EncodeError, UnicodeEncodeError) as exc:
            raise RecordingError(f"frame text cannot be stored as JSON: {exc}") from exc
        line = b'{"recv_ns":%d,"raw":%b}\n' % (recv_ns, text)
        hour = recv_ns // NS_PER_HOUR
        with self._lock:
            if self._error is not None:
                raise RecordingError(f"recording stopped after a write error: {self._error}") from self._error
            if self._closed:
                raise RecordingError("write() after close()", path=str(self.directory))
            if self._hour is None or hour > self._hour:
                self._hour = hour
                self._pending.append(hour)
            self._pending.append(line)
            self._pending_bytes += len(line)
            self.frames_written += 1
            big = self._pending_bytes > MAX_PENDING_BYTES
        if big:
            self.flush()

    def flush(self) -> None:
        """Compress what was written since the last flush into one gzip member and hand it to the OS."""
        with self._flush_lock:
            with self._lock:
                pending, self._pending, self._pending_bytes = self._pending, [], 0
                if self._error is not None:
                    raise RecordingError(f"recording stopped after a write error: {self._error}") from self._error
            if pending:
                try:
                    self._write_pending(pending)
                except OSError as exc:
                    with self._lock:
                        self._error = exc
                    raise RecordingError(f"cannot write the recording: {exc}", path=str(self.directory)) from exc

    def close(self) -> None:
        """Flush, stop the flusher thread and close the file. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self._at_exit)
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        try:
            if self._error is None:
                self.flush()
        finally:
            with self._flush_lock:
                try:
                    self._close_file()
                except OSError as exc:
                    raise RecordingError(f"cannot finish the recording file: {exc}", path=str(self.directory)) from exc

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def current_path(self) -> Path | None:
        return self.paths[-1] if self.paths else None

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RecordingWriter({str(self.directory)!r}, prefix={self.prefix!r}, frames={self.frames_written})"

    # ------------------------------------------------------------------------ internals
    def _flush_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.flush()
            except RecordingError as exc:
                log.error("recording flush failed; recording stopped: %s", exc)
                return

    def _write_pending(self, pending: list[bytes | int]) -> None:
        chunk: list[bytes] = []
        for item in pending:
            if isinstance(item, int):
                if chunk:
                    self._emit(b"".join(chunk))
                    chunk = []
                if self._file_hour is None or item > self._file_hour:
                    self._open(item)
            else:
                chunk.append(item)
        if chunk:
            self._emit(b"".join(chunk))

    def _close_file(self) -> None:
        if self._file is None:
            return
        try:
            if self._comp is not None:
                self._put(self._comp.flush(zlib.Z_FINISH))
        finally:
            self._comp = None
            self._file.close()
            self._file = None

    def _open(self, hour: int) -> None:
        self._close_file()
        part = 0
        while True:
            path = self.directory / file_name(self.prefix, hour, part)
            try:
                f = open(path, "xb")  # noqa: SIM115 - kept open across calls, closed in _open/close
                break
            except FileExistsError:
                part += 1
        self._file, self._file_hour = f, hour
        self.paths.append(path)
        header = RecordingHeader(
            kit_version=__version__,
            env=self.env,
            created_ns=self._created_ns if self._created_ns is not None else time.time_ns(),
            subscriptions=self._subscriptions,
            synthetic=self.synthetic,
            note=self.note,
            prefix=self.prefix,
            hour_start_ns=hour * NS_PER_HOUR,
        )
        self._emit(encode_header(header))

    def _emit(self, data: bytes) -> None:
        """Compress ``data`` into the current member, make it decodable (sync flush) and hand it to the OS."""
        if self._comp is None:
            self._comp = zlib.compressobj(self.compresslevel, zlib.DEFLATED, 31)
            self._member_syncs = 0
        out = self._comp.compress(data)
        self._member_syncs += 1
        if self._member_syncs >= self.member_flushes:
            out += self._comp.flush(zlib.Z_FINISH)
            self._comp = None
        else:
            out += self._comp.flush(zlib.Z_SYNC_FLUSH)
        self._put(out)

    def _put(self, data: bytes) -> None:
        f = self._file
        assert f is not None  # _open runs before any line: the first pending item is always an hour marker
        f.write(data)
        f.flush()
        if self.fsync:
            os.fsync(f.fileno())
        self.bytes_written += len(data)


__all__ = ["RecordingWriter"]
