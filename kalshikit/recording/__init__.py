"""Recordings of Kalshi WebSocket frames: the kit format, its writer and reader, Parquet conversion, synthetic tapes.

The simulator, the recorder and replay all share this package. Main entry points:

- :class:`RecordingWriter` writes hourly gzip JSON-lines files; :func:`read_frames` merges recordings in time order
  into :class:`RawFrame` tuples (``recv_ns, raw, exchange_ns, path, line``);
- :func:`synthetic_frames` generates a realistic tape; :func:`write_synthetic_recording` writes one to disk;
- :mod:`kalshikit.recording.columnar` converts recordings to Parquet for fast replay and pandas.
"""

from __future__ import annotations

from kalshikit.recording.format import FORMAT_VERSION, RawFrame, RecordingHeader
from kalshikit.recording.reader import ReadReport, read_file, read_frames, read_header, recording_files
from kalshikit.recording.synthetic import (
    SyntheticMarket,
    synthetic_frames,
    synthetic_markets,
    write_synthetic_recording,
)
from kalshikit.recording.writer import RecordingWriter

__all__ = [
    "FORMAT_VERSION",
    "RawFrame",
    "ReadReport",
    "RecordingHeader",
    "RecordingWriter",
    "SyntheticMarket",
    "read_file",
    "read_frames",
    "read_header",
    "recording_files",
    "synthetic_frames",
    "synthetic_markets",
    "write_synthetic_recording",
]
