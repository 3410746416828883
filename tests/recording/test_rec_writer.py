"""RecordingWriter: exact round trip, header, hourly rotation, restarts, threads, and durability after kill -9."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kalshikit import __version__
from kalshikit.errors import RecordingError
from kalshikit.recording import ReadReport, RecordingWriter, read_file, read_frames, read_header
from kalshikit.recording.format import NS_PER_HOUR, file_name, hour_of
from tests.conftest import ROOT, eventually, scaled

HOUR0 = 1778508000 * 10**9  # 2026-05-11T14:00:00Z, a whole hour

AWKWARD = [
    '{"type":"ticker","sid":1,"msg":{"market_ticker":"A","yes_bid_dollars":"0.9950","ts_ms":1778508000001}}',
    '{"type": "error", "id": 9, "msg": {"code": 8, "msg": "Unknown channel name"}}\n',  # trailing newline
    '{\n  "type": "ok",\n  "id": 3\n}',  # pretty-printed: newlines inside the frame
    '{"type":"ticker","msg":{"market_ticker":"ÉLECTION-€-🚀","note":"tab\\there \\"quoted\\" \\\\ back"}}',
    "not json at all, but it was received, so it is recorded",
    "",
    "\u2028line separator\u2029 and \x00 nul",
]


def _lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.read().split("\n")


def test_round_trip_keeps_every_frame_exactly(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path, prefix="rt", created_ns=HOUR0) as w:
        for i, raw in enumerate(AWKWARD):
            w.write(raw, HOUR0 + i * 1_000)
        w.write(AWKWARD[3].encode("utf-8"), HOUR0 + 10_000)  # bytes are accepted too
    report = ReadReport()
    frames = list(read_file(w.paths[0], report))
    assert [f.raw for f in frames] == [*AWKWARD, AWKWARD[3]]
    assert [f.recv_ns for f in frames] == [HOUR0 + i * 1_000 for i in range(len(AWKWARD))] + [HOUR0 + 10_000]
    assert [f.line for f in frames] == list(range(2, len(AWKWARD) + 3))  # line 1 is the header
    assert all(f.path == str(w.paths[0]) for f in frames)
    assert report.ok and report.frames == len(AWKWARD) + 1
    assert frames[0].exchange_ns == 1778508000001 * 10**6
    # Frames without an exchange time take the last one seen before them.
    assert frames[1].exchange_ns == frames[0].exchange_ns
    # One JSON object per line, nothing else: the frames' own newlines are escaped.
    lines = _lines(w.paths[0])
    assert lines[-1] == "" and len(lines) == len(AWKWARD) + 3
    assert json.loads(lines[3]) == {"recv_ns": HOUR0 + 2_000, "raw": AWKWARD[2]}


def test_header_contents(tmp_path: Path) -> None:
    subs = {"channels": ["ticker", "trade"], "market_tickers": ["KXA-1", "KXB-2"]}
    with RecordingWriter(tmp_path, prefix="hdr", env="demo", subscriptions=subs, note="first try") as w:
        before = time.time_ns()
        w.write("{}", HOUR0 + 5)
        w.flush()
        after = time.time_ns()
    header = json.loads(_lines(w.paths[0])[0])
    assert header["kalshikit_recording"] == 1
    assert header["kit_version"] == __version__
    assert header["env"] == "demo"
    assert header["subscriptions"] == subs
    assert header["synthetic"] is False
    assert header["note"] == "first try"
    assert header["prefix"] == "hdr"
    assert header["hour_start_ns"] == HOUR0
    assert before <= header["created_ns"] <= after
    parsed = read_header(w.paths[0])
    assert parsed is not None and parsed.env == "demo" and parsed.subscriptions == subs


def test_rotates_every_utc_hour_and_each_file_starts_with_a_header(tmp_path: Path) -> None:
    recv = [HOUR0 + 1, HOUR0 + NS_PER_HOUR - 1, HOUR0 + NS_PER_HOUR, HOUR0 + 3 * NS_PER_HOUR + 7]
    with RecordingWriter(tmp_path, prefix="rot", synthetic=True) as w:
        for i, t in enumerate(recv):
            w.write(f'{{"i":{i}}}', t)
            if i == 1:
                w.set_subscriptions({"channels": ["ticker"]})
    names = [p.name for p in w.paths]
    assert names == ["rot-20260511T14Z.jsonl.gz", "rot-20260511T15Z.jsonl.gz", "rot-20260511T17Z.jsonl.gz"]
    assert sorted(os.listdir(tmp_path)) == names
    per_file = []
    for p in w.paths:
        lines = [ln for ln in _lines(p) if ln]
        header = json.loads(lines[0])
        assert header["kalshikit_recording"] == 1 and header["synthetic"] is True
        assert hour_of(header["hour_start_ns"]) * NS_PER_HOUR == header["hour_start_ns"]
        per_file.append([json.loads(ln)["recv_ns"] for ln in lines[1:]])
    assert per_file == [recv[:2], recv[2:3], recv[3:]]
    assert json.loads(_lines(w.paths[1])[0])["subscriptions"] == {"channels": ["ticker"]}
    assert [f.recv_ns for f in read_frames(tmp_path)] == recv


def test_clock_stepping_back_stays_in_the_current_file(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path, prefix="step") as w:
        w.write('{"a":1}', HOUR0 + NS_PER_HOUR + 10)
        w.write('{"a":2}', HOUR0 + NS_PER_HOUR - 10)  # NTP stepped the clock back across the hour
    assert [p.name for p in w.paths] == ["step-20260511T15Z.jsonl.gz"]
    assert [f.raw for f in read_file(w.paths[0])] == ['{"a":1}', '{"a":2}']


def test_restart_in_the_same_hour_makes_a_new_file_and_reads_in_order(tmp_path: Path) -> None:
    for run in range(3):
        with RecordingWriter(tmp_path, prefix="kalshi") as w:
            w.write(f'{{"run":{run}}}', HOUR0 + run * 1_000)
    assert sorted(os.listdir(tmp_path)) == [
        "kalshi-20260511T14Z.jsonl.gz",
        "kalshi-20260511T14Z_01.jsonl.gz",
        "kalshi-20260511T14Z_02.jsonl.gz",
    ]
    assert file_name("kalshi", hour_of(HOUR0), 2) == "kalshi-20260511T14Z_02.jsonl.gz"
    assert [f.raw for f in read_frames(tmp_path)] == ['{"run":0}', '{"run":1}', '{"run":2}']


def test_nothing_written_means_no_file(tmp_path: Path) -> None:
    RecordingWriter(tmp_path / "sub", prefix="empty").close()
    assert list((tmp_path / "sub").iterdir()) == []


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="env must be one of"):
        RecordingWriter(tmp_path, env="production")
    with pytest.raises(RecordingError, match="bad file prefix"):
        RecordingWriter(tmp_path, prefix="a/b")
    with pytest.raises(RecordingError, match="flush_interval"):
        RecordingWriter(tmp_path, flush_interval=5.0)
    w = RecordingWriter(tmp_path, prefix="bad", flush_interval=None)
    with pytest.raises(RecordingError, match="recv_ns"):
        w.write("{}", -1)
    with pytest.raises(RecordingError, match="recv_ns"):
        w.write("{}", 1.5e18)  # type: ignore[arg-type]
    with pytest.raises(RecordingError, match="not UTF-8"):
        w.write(b"\xff\xfe{}", HOUR0)
    with pytest.raises(RecordingError, match="raw must be str or bytes"):
        w.write({"type": "ticker"}, HOUR0)  # type: ignore[arg-type]
    w.write("{}", HOUR0)
    w.close()
    w.close()  # idempotent
    with pytest.raises(RecordingError, match="after close"):
        w.write("{}", HOUR0)
    assert [f.raw for f in read_frames(tmp_path)] == ["{}"]  # the good frame survived the bad calls


def test_background_thread_flushes_without_being_asked(tmp_path: Path) -> None:
    w = RecordingWriter(tmp_path, prefix="bg", flush_interval=0.05)
    try:
        w.write('{"x":1}', HOUR0)

        def visible() -> bool:
            paths = list(tmp_path.glob("bg-*.jsonl.gz"))
            return bool(paths) and [f.raw for f in read_file(paths[0], ReadReport())] == ['{"x":1}']

        eventually(visible, timeout=5.0, what="the frame to reach the file without flush()")
    finally:
        w.close()


def test_concurrent_writers_lose_nothing_and_keep_each_threads_order(tmp_path: Path) -> None:
    n_threads, per_thread = 4, 5_000
    w = RecordingWriter(tmp_path, prefix="mt", flush_interval=0.01, member_flushes=7)
    start = threading.Barrier(n_threads + 1)

    def work(k: int) -> None:
        start.wait()
        for i in range(per_thread):
            w.write(f'{{"k":{k},"i":{i}}}', HOUR0 + i)
            if i % 1_000 == 0:
                w.flush()  # racing the background flusher on purpose

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    start.wait()
    for t in threads:
        t.join()
    w.close()
    report = ReadReport()
    seen: dict[int, list[int]] = {k: [] for k in range(n_threads)}
    for f in read_file(w.paths[0], report):
        d = json.loads(f.raw)
        seen[d["k"]].append(d["i"])
    assert report.ok
    assert all(v == list(range(per_thread)) for v in seen.values())
    assert w.frames_written == n_threads * per_thread


_CHILD = r"""
import sys, time
from kalshikit.recording import RecordingWriter
w = RecordingWriter(sys.argv[1], prefix="crash", env="sim")   # the default: flush every second
i = 0
while True:
    w.write('{"type":"ticker","msg":{"i":%d,"pad":"%s"}}' % (i, "x" * (i % 50)), 1778508000000000000 + i * 1000)
    if i % 20 == 0:
        print(i, time.monotonic(), flush=True)
    i += 1
    time.sleep(0.001)
"""


@pytest.mark.slow
def test_kill_9_loses_at_most_the_last_second(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env)
    progress: list[tuple[int, float]] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + scaled(60)
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"the writer process died early (exit code {proc.poll()})"
            i, t = line.split()
            progress.append((int(i), float(t)))
            if progress[-1][1] - progress[0][1] >= 3.0:  # a few seconds of writing: several flushes happened
                break
        killed_at = time.monotonic()
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # Frames reported written more than 1 s (+ scheduling slack) before the kill must be on disk.
    must_have = max(i for i, t in progress if t <= killed_at - 1.5)
    report = ReadReport()
    frames = list(read_frames(tmp_path, report))
    got = [json.loads(f.raw)["msg"]["i"] for f in frames]
    assert got == list(range(len(got))), "a prefix of what was written, in order, nothing garbled"
    assert len(got) > must_have
    for f in frames:
        i = json.loads(f.raw)["msg"]["i"]
        assert f.raw == '{"type":"ticker","msg":{"i":' + str(i) + ',"pad":"' + "x" * (i % 50) + '"}}'
    # The file ends inside an unfinished gzip member (3 s < the 60 flushes a member holds): reported, not fatal.
    assert len(report.problems) == 1
    assert all("gzip stream ends in the middle" in reason for _, _, reason in report.problems)
    assert all(path.endswith("crash-20260511T14Z.jsonl.gz") and line > 1 for path, line, _ in report.problems)


def test_a_writer_left_open_is_finished_when_the_interpreter_exits(tmp_path: Path) -> None:
    child = (
        "import sys\n"
        "from kalshikit.recording import RecordingWriter\n"
        "w = RecordingWriter(sys.argv[1], prefix='exit')\n"
        "for i in range(100):\n"
        "    w.write('{\"i\":%d}' % i, 1778508000000000000 + i)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", child, str(tmp_path)], check=True, env=env, timeout=scaled(60))
    report = ReadReport()
    assert [json.loads(f.raw)["i"] for f in read_frames(tmp_path, report)] == list(range(100))
    assert report.ok, report.summary()  # all lines flushed and the gzip member finished
