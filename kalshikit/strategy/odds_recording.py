"""Odds snapshots on disk: record The Odds API answers beside the Kalshi recordings, and read them back for replay.

:class:`OddsRecorder` is the :class:`~kalshikit.strategy.odds.OddsClient` ``record`` hook. It writes a kit recording
(:class:`~kalshikit.recording.writer.RecordingWriter`, prefix ``odds``, hourly gzip JSON lines flushed every second)
whose every line's ``raw`` is one answer the client actually fetched (never a cache hit)::

    {"type": "odds_api", "path": "/sports/basketball_nba/odds", "params": {"markets": "h2h", ...}, "body": [...]}

``params`` are the query parameters without the API key (the key is never written); ``body`` is the answer's JSON
exactly as received; the line's ``recv_ns`` is when it was received. The ``type`` field makes Kalshi frame readers
that meet these files (a replay of the whole directory) skip them as an unknown frame type instead of reporting
them as malformed. The header's ``subscriptions`` is ``{"source": "the-odds-api/v4"}``, which is how
:func:`is_odds_recording` tells these files from Kalshi recordings.

:func:`read_odds` returns the snapshots in receive-time order; :meth:`OddsSnapshot.events` decodes one exactly as
the client decoded it live (same decoder, ``fetched_ns`` = the recorded receive time).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType

import msgspec

from kalshikit.errors import RecordingError
from kalshikit.recording.reader import ReadReport, read_frames, read_header, recording_files
from kalshikit.recording.writer import RecordingWriter
from kalshikit.strategy.odds import OddsEvent, decode_odds_events

log = logging.getLogger("kalshikit.odds")

ODDS_PREFIX = "odds"
ODDS_FRAME_TYPE = "odds_api"
ODDS_SOURCE = "the-odds-api/v4"


class _Line(msgspec.Struct):
    type: str
    path: str
    params: dict[str, str] = msgspec.field(default_factory=dict)
    body: msgspec.Raw = msgspec.Raw()


_line_decoder = msgspec.json.Decoder(_Line)
_encode = msgspec.json.encode


class OddsSnapshot(msgspec.Struct, frozen=True):
    """One recorded answer: where it was asked (``path``, ``params`` without the key), the body as received and the
    receive time (ns UTC). ``sport`` is the sport key of ``/sports/{sport}/...`` paths, else ``""``."""

    recv_ns: int
    path: str
    params: dict[str, str]
    body: bytes

    @property
    def sport(self) -> str:
        parts = self.path.strip("/").split("/")
        return parts[1] if len(parts) >= 3 and parts[0] == "sports" else ""

    @property
    def endpoint(self) -> str:
        """``odds``, ``events`` or ``sports`` (the last part of the path)."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def events(self) -> list[OddsEvent]:
        """The games of an ``/odds`` or ``/events`` answer, decoded as the client decoded them live."""
        american = self.params.get("oddsFormat") == "american"
        return decode_odds_events(self.body, american=american, fetched_ns=self.recv_ns)


class OddsRecorder:
    """Records Odds API answers into ``directory`` (see the module docstring). Thread-safe; pass it as
    ``OddsClient(..., record=recorder)``. ``env`` goes in the file header (sim | demo | prod | synthetic)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        prefix: str = ODDS_PREFIX,
        env: str = "sim",
        note: str = "",
        flush_interval: float | None = 1.0,
    ) -> None:
        self.writer = RecordingWriter(
            directory,
            prefix=prefix,
            env=env,
            subscriptions={"source": ODDS_SOURCE},
            note=note or "The Odds API answers fetched by kalshikit (one per line; the API key is never recorded)",
            flush_interval=flush_interval,
        )
        self.snapshots_written = 0
        self.skipped = 0

    def __call__(self, path: str, params: Mapping[str, str], body: bytes, recv_ns: int) -> None:
        """Record one fetched answer (the OddsClient hook). A body that is not JSON is skipped with a warning."""
        try:
            raw = msgspec.json.decode(body, type=msgspec.Raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.skipped += 1
            log.warning("not recording the answer to GET %s: its body is not JSON (%s)", path, exc)
            return
        clean = {str(k): str(v) for k, v in params.items() if k != "apiKey"}
        line = b'{"type":"%s","path":%s,"params":%s,"body":%s}' % (
            ODDS_FRAME_TYPE.encode(),
            _encode(path),
            _encode(clean),
            bytes(raw),
        )
        self.writer.write(line, recv_ns)
        self.snapshots_written += 1

    @property
    def paths(self) -> list[Path]:
        return list(self.writer.paths)

    @property
    def directory(self) -> Path:
        return self.writer.directory

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> OddsRecorder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OddsRecorder({str(self.writer.directory)!r}, snapshots={self.snapshots_written})"


def is_odds_recording(path: str | os.PathLike[str]) -> bool:
    """True for a file written by :class:`OddsRecorder` (its header names the Odds API as the source)."""
    try:
        header = read_header(path)
    except RecordingError:
        return False
    return header is not None and header.subscriptions.get("source") == ODDS_SOURCE


def odds_files(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The odds recordings among files and directories (directories are searched non-recursively)."""
    return [p for p in recording_files(paths) if is_odds_recording(p)]


def read_odds(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], report: ReadReport | None = None
) -> list[OddsSnapshot]:
    """Every snapshot in the odds recordings among ``paths`` (other recordings there are ignored), in receive-time
    order. A line that is not an odds snapshot is reported in ``report`` and skipped."""
    files = odds_files(paths)
    rep = report if report is not None else ReadReport()
    out: list[OddsSnapshot] = []
    if not files:
        return out
    for f in read_frames(files, rep):
        try:
            line = _line_decoder.decode(f.raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            rep.add_problem(f.path, f.line, f"not an odds snapshot: {exc}")
            continue
        if line.type != ODDS_FRAME_TYPE or not len(line.body):
            rep.add_problem(f.path, f.line, f"not an odds snapshot (type {line.type!r})")
            continue
        out.append(OddsSnapshot(f.recv_ns, line.path, dict(line.params), bytes(line.body)))
    out.sort(key=lambda s: s.recv_ns)
    return out


__all__ = [
    "ODDS_FRAME_TYPE",
    "ODDS_PREFIX",
    "ODDS_SOURCE",
    "OddsRecorder",
    "OddsSnapshot",
    "is_odds_recording",
    "odds_files",
    "read_odds",
]
