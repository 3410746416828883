"""The kit recording format: constants, the header schema, file names, and the ``RawFrame`` a reader yields.

A recording is gzip JSON-lines, one file per UTC hour of receive time, named ``<prefix>-YYYYMMDDTHHZ.jsonl.gz``
(a second file for the same hour, after a restart, gets ``_01``, ``_02``... before ``.jsonl.gz``). Line 1 is the
header (:class:`RecordingHeader`); every other line is ``{"recv_ns": <int ns UTC>, "raw": "<frame text>"}`` with the
frame text kept verbatim as a JSON string. See ``recordings/README.md`` for the user-facing description.

Also here: the cheap exchange-time probe shared by the reader and the synthetic generator, so that both put a frame
at the same place in time.
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

from kalshikit.units import NS_PER_MS, NS_PER_S

FORMAT_KEY = "kalshikit_recording"
FORMAT_VERSION = 1
ENVIRONMENTS = ("sim", "demo", "prod", "synthetic")
SUFFIX = ".jsonl.gz"
NS_PER_HOUR = 3_600 * NS_PER_S

# <prefix>-YYYYMMDDTHHZ[_NN].jsonl[.gz]
_NAME_RE = re.compile(r"^(?P<prefix>.+)-(?P<hour>\d{8}T\d{2}Z)(?:_(?P<part>\d+))?\.jsonl(?:\.gz)?$")


class RawFrame(NamedTuple):
    """One WebSocket frame as recorded.

    ``raw`` is the frame text exactly as received. ``exchange_ns`` is the frame's exchange time (``ts_ms``, or
    legacy ``ts`` seconds); for a frame without one (snapshots, control replies, lifecycle) it is the last exchange
    time seen before it in the same recording, or its receive time when there is none yet. ``(exchange_ns,
    recv_ns)`` is therefore the key that merges several recordings in time order. ``path`` and ``line`` say where the
    frame came from (``line`` is 1-based; for a JSON document it is the frame's position in the document).
    """

    recv_ns: int
    raw: str
    exchange_ns: int
    path: str
    line: int


class RecordingHeader(msgspec.Struct, kw_only=True, omit_defaults=False):
    """Line 1 of every kit recording file."""

    kalshikit_recording: int = FORMAT_VERSION
    kit_version: str = ""
    env: str = "sim"  # sim | demo | prod | synthetic
    created_ns: int = 0  # when the file was started (wall clock, ns UTC)
    subscriptions: dict[str, Any] = msgspec.field(default_factory=dict)  # {"channels": [...], "market_tickers": [...]}
    synthetic: bool = False  # True: generated data, not a capture of a real exchange
    note: str = ""
    prefix: str = ""
    hour_start_ns: int = 0  # start of the UTC hour the file covers (by receive time)


_header_encoder = msgspec.json.Encoder()
_header_decoder = msgspec.json.Decoder(RecordingHeader)


def encode_header(header: RecordingHeader) -> bytes:
    """The header as one JSON line (with the newline)."""
    return _header_encoder.encode(header) + b"\n"


def decode_header(data: bytes | str) -> RecordingHeader:
    """Parse a header line. Raises ``msgspec.ValidationError`` / ``msgspec.DecodeError`` on a bad one."""
    return _header_decoder.decode(data)


# ---------------------------------------------------------------------------- file names
def hour_of(recv_ns: int) -> int:
    """The UTC hour number (hours since the epoch) of a receive time."""
    return recv_ns // NS_PER_HOUR


def file_name(prefix: str, hour: int, part: int = 0) -> str:
    """``<prefix>-YYYYMMDDTHHZ.jsonl.gz`` for an hour number; ``part`` > 0 adds ``_NN`` (a later file, same hour)."""
    stamp = time.strftime("%Y%m%dT%HZ", time.gmtime(hour * 3_600))
    extra = f"_{part:02d}" if part else ""
    return f"{prefix}-{stamp}{extra}{SUFFIX}"


class NameParts(NamedTuple):
    prefix: str
    hour: int
    part: int


def parse_file_name(name: str) -> NameParts | None:
    """Split a kit recording file name into (prefix, hour number, part); None when it is not one."""
    m = _NAME_RE.match(name)
    if m is None:
        return None
    try:
        t = time.strptime(m["hour"], "%Y%m%dT%HZ")
    except ValueError:
        return None
    return NameParts(m["prefix"], calendar.timegm(t) // 3_600, int(m["part"] or 0))


def valid_prefix(prefix: str) -> bool:
    """A prefix must be a plain file-name part (no path separators, not empty)."""
    return bool(prefix) and "/" not in prefix and "\\" not in prefix and prefix not in (".", "..")


# ---------------------------------------------------------------------------- exchange time of a frame
class TimeMsg(msgspec.Struct, gc=False):
    """The time fields of a frame's ``msg`` (decoded cheaply: every other field is skipped)."""

    ts_ms: int | None = None
    ts: int | str | None = None  # legacy unix seconds; orderbook_delta carries an RFC3339 string here


class _TimeFrame(msgspec.Struct, gc=False):
    msg: TimeMsg | list[Any] | None = None


_time_decoder = msgspec.json.Decoder(_TimeFrame)


def time_of_msg(msg: TimeMsg | list[Any] | None) -> int | None:
    """Exchange time (ns) from a decoded ``msg``: ``ts_ms``, else integer ``ts`` seconds, else RFC3339 ``ts``."""
    if msg is None or isinstance(msg, list):
        return None
    if msg.ts_ms is not None:
        return msg.ts_ms * NS_PER_MS
    ts = msg.ts
    if ts is None:
        return None
    if isinstance(ts, int):
        return ts * NS_PER_S
    return _rfc3339_ns(ts)


def _rfc3339_ns(text: str) -> int | None:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None
    return (int(dt.timestamp()) * 1_000_000 + dt.microsecond) * 1_000


def frame_exchange_ns(raw: str | bytes) -> int | None:
    """The exchange time of a raw frame in ns, or None when it has none (or is not a JSON frame). Never raises."""
    try:
        return time_of_msg(_time_decoder.decode(raw).msg)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


__all__ = [
    "ENVIRONMENTS",
    "FORMAT_KEY",
    "FORMAT_VERSION",
    "NS_PER_HOUR",
    "SUFFIX",
    "NameParts",
    "RawFrame",
    "RecordingHeader",
    "TimeMsg",
    "decode_header",
    "encode_header",
    "file_name",
    "frame_exchange_ns",
    "hour_of",
    "parse_file_name",
    "time_of_msg",
]
