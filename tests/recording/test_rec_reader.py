"""Reading recordings: damaged input, merge order, plain and wrapped JSONL, JSON documents, and real captures."""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from collections import Counter
from pathlib import Path

import pytest

from kalshikit.errors import RecordingError
from kalshikit.kalshi.messages import FrameDecoder
from kalshikit.recording import ReadReport, RecordingWriter, read_file, read_frames, recording_files
from kalshikit.recording.format import FORMAT_VERSION

HOUR0 = 1778508000 * 10**9
MS0 = 1778508000000  # ts_ms at HOUR0


def ticker(name: str, ts_ms: int, bid: str = "0.5000") -> str:
    return (
        f'{{"type":"ticker","sid":1,"msg":{{"market_ticker":"{name}","yes_bid_dollars":"{bid}",'
        f'"yes_ask_dollars":"0.5100","ts_ms":{ts_ms}}}}}'
    )


def snapshot(name: str) -> str:
    return f'{{"type":"orderbook_snapshot","sid":2,"seq":1,"msg":{{"market_ticker":"{name}"}}}}'


def kit_file(directory: Path, prefix: str, frames: list[tuple[str, int]]) -> Path:
    with RecordingWriter(directory, prefix=prefix, flush_interval=None) as w:
        for raw, recv in frames:
            w.write(raw, recv)
    assert len(w.paths) == 1
    return w.paths[0]


def gz(path: Path, text: str) -> Path:
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    return path


# ---------------------------------------------------------------------------- damaged input
def test_corrupt_line_is_reported_with_file_and_line_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = [json.dumps({"recv_ns": HOUR0 + i, "raw": ticker("A", MS0 + i)}) for i in range(4)]
    lines = [
        json.dumps({"kalshikit_recording": 1, "env": "sim"}),
        good[0],
        '{"recv_ns": 1778508000000000001, "raw": "{\\"type\\":\\"tic',  # cut short
        good[1],
        "\x00\x00garbage\x00",
        "",
        good[2],
        '{"recv_ns": 5, "something_else": 1}',
        good[3],
    ]
    path = gz(tmp_path / "x.jsonl.gz", "\n".join(lines) + "\n")
    report = ReadReport()
    with caplog.at_level(logging.WARNING, logger="kalshikit.recording"):
        frames = list(read_file(path, report))
    assert [f.line for f in frames] == [2, 4, 7, 9]
    assert [f.raw for f in frames] == [ticker("A", MS0 + i) for i in range(4)]
    assert [(p, n) for p, n, _ in report.problems] == [(str(path), 3), (str(path), 5), (str(path), 8)]
    assert "corrupt or truncated line" in report.problems[0][2]
    assert "not JSON" in report.problems[1][2]
    assert "not a recording line" in report.problems[2][2]
    assert report.problem_count == 3 and report.blank == 1 and report.frames == 4 and not report.ok
    assert f"{path}:3:" in caplog.text and f"{path}:5:" in caplog.text
    assert f"{path}:3:" in report.summary()
    with pytest.raises(RecordingError) as err:
        list(read_file(path, strict=True))
    assert err.value.path == str(path) and err.value.line == 3


def test_truncated_gzip_tail_is_reported_not_fatal(tmp_path: Path) -> None:
    frames = [(ticker("A", MS0 + i, f"0.{1000 + i:04d}"), HOUR0 + i * 1_000_000) for i in range(3000)]
    src = kit_file(tmp_path / "src", "t", frames)
    data = src.read_bytes()
    for cut in (len(data) - 8, len(data) * 2 // 3, 40):  # lose the trailer; lose lines; lose almost everything
        broken = tmp_path / f"cut{cut}.jsonl.gz"
        broken.write_bytes(data[:cut])
        report = ReadReport()
        got = list(read_file(broken, report))
        assert [f.raw for f in got] == [raw for raw, _ in frames[: len(got)]], "a clean prefix"
        assert len(report.problems) == 1
        path, line, reason = report.problems[0]
        assert path == str(broken) and "ends in the middle of a member" in reason
        # The line after the header and the complete lines (line 1 when not even the header survived).
        assert line == (len(got) + 2 if report.headers else 1)
        if cut == len(data) - 8:
            assert len(got) == len(frames)


def test_damaged_gzip_member_is_skipped_and_reading_resumes(tmp_path: Path) -> None:
    members = [
        "\n".join(json.dumps({"recv_ns": HOUR0 + 10 * m + i, "raw": ticker("A", MS0 + 10 * m + i)}) for i in range(5))
        + "\n"
        for m in range(3)
    ]
    blobs = [zlib.compress(m.encode(), 6, wbits=31) for m in members]
    middle = bytearray(blobs[1])
    for k in range(12, len(middle) - 8, 3):
        middle[k] ^= 0x5A
    path = tmp_path / "damaged.jsonl.gz"
    path.write_bytes(blobs[0] + bytes(middle) + blobs[2])
    report = ReadReport()
    got = [f.recv_ns - HOUR0 for f in read_file(path, report)]
    assert got == [0, 1, 2, 3, 4, 20, 21, 22, 23, 24]
    assert len(report.problems) == 1
    path_, line, reason = report.problems[0]
    assert path_ == str(path) and line == 6
    assert f"damaged gzip data in the member starting at byte {len(blobs[0])}" in reason


def test_missing_paths_and_newer_format_raise(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such recording"):
        read_frames([tmp_path / "nope"])
    with pytest.raises(RecordingError, match="no such recording"):
        read_file(tmp_path / "nope.jsonl.gz")
    future = tmp_path / "future.jsonl"
    future.write_text(json.dumps({"kalshikit_recording": FORMAT_VERSION + 1}) + "\n" + ticker("A", MS0) + "\n")
    with pytest.raises(RecordingError, match="newer than this kalshikit") as err:
        list(read_file(future))
    assert err.value.line == 1


# ---------------------------------------------------------------------------- order
def test_merge_orders_by_exchange_time_then_receive_time_and_keeps_each_files_order(tmp_path: Path) -> None:
    a = kit_file(
        tmp_path,
        "a",
        [
            (ticker("A", MS0 + 10), HOUR0 + 50_000_000),
            (snapshot("A"), HOUR0 + 51_000_000),  # no exchange time: stays right after its predecessor
            (ticker("A", MS0 + 30), HOUR0 + 70_000_000),
            (ticker("A", MS0 + 25), HOUR0 + 71_000_000),  # out of exchange order within its file: kept in place
            (ticker("A", MS0 + 50), HOUR0 + 90_000_000),
        ],
    )
    b = kit_file(
        tmp_path,
        "b",
        [
            (ticker("B", MS0 + 5), HOUR0 + 60_000_000),
            (ticker("B", MS0 + 10), HOUR0 + 40_000_000),  # same exchange time as A's first: earlier receive wins
            (ticker("B", MS0 + 28), HOUR0 + 80_000_000),
            (ticker("B", MS0 + 60), HOUR0 + 85_000_000),
        ],
    )
    merged = [(Path(f.path).name[0], f.exchange_ns // 10**6 - MS0) for f in read_frames([a, b])]
    assert merged == [("b", 5), ("b", 10), ("a", 10), ("a", 10), ("b", 28), ("a", 30), ("a", 25), ("a", 50), ("b", 60)]
    assert [(Path(f.path).name[0], f.exchange_ns // 10**6 - MS0) for f in read_frames(tmp_path)] == merged
    # Per file, the merged stream is exactly that file's own order.
    for p in (a, b):
        assert [f.raw for f in read_frames([a, b]) if f.path == str(p)] == [f.raw for f in read_file(p)]


def test_frames_before_any_exchange_time_use_their_receive_time(tmp_path: Path) -> None:
    p = kit_file(tmp_path, "c", [(snapshot("A"), HOUR0 + 7), (ticker("A", MS0 + 1), HOUR0 + 9)])
    assert [f.exchange_ns for f in read_file(p)] == [HOUR0 + 7, (MS0 + 1) * 10**6]


def test_directories_expand_to_recording_files_by_name(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a recording")
    (tmp_path / "rest.json").write_text("{}")
    (tmp_path / "b.jsonl").write_text(ticker("B", MS0 + 2) + "\n")
    gz(tmp_path / "a.ndjson.gz", ticker("A", MS0 + 1) + "\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.jsonl").write_text(ticker("C", MS0) + "\n")
    assert [p.name for p in recording_files(tmp_path)] == ["a.ndjson.gz", "b.jsonl"]
    assert [json.loads(f.raw)["msg"]["market_ticker"] for f in read_frames(tmp_path)] == ["A", "B"]
    # The same file given twice is read once.
    assert len(list(read_frames([tmp_path / "b.jsonl", tmp_path, tmp_path / "b.jsonl"]))) == 2


# ---------------------------------------------------------------------------- other shapes
def test_plain_jsonl_of_raw_frames_both_eras_with_and_without_gzip(tmp_path: Path) -> None:
    current = ticker("KXA", MS0 + 123, "0.9950")
    legacy = (
        '{"type":"ticker","sid":1,"msg":{"market_ticker":"KXL","price":25,"yes_bid":24,"yes_ask":25,"ts":1778508001}}'
    )
    control = '{"type":"subscribed","id":1,"msg":{"channel":"ticker","sid":1}}'
    text = f"{control}\r\n\n{current}\n\n{legacy}\n{snapshot('KXA')}"  # CRLF, blank lines, no final newline
    for path in (tmp_path / "plain.jsonl", gz(tmp_path / "plain.jsonl.gz", text)):
        if path.suffix == ".jsonl":
            path.write_text(text, encoding="utf-8")
        report = ReadReport()
        frames = list(read_file(path, report))
        assert [f.raw for f in frames] == [control, current, legacy, snapshot("KXA")]
        assert [f.line for f in frames] == [1, 3, 5, 6]
        # No receive time: the exchange time stands in; legacy ts is whole seconds.
        assert [f.exchange_ns for f in frames] == [0, (MS0 + 123) * 10**6, 1778508001 * 10**9, 1778508001 * 10**9]
        assert [f.recv_ns for f in frames] == [f.exchange_ns for f in frames]
        assert report.ok and report.blank == 2
        quotes = [FrameDecoder().decode(f.raw, f.recv_ns) for f in frames[1:3]]
        assert [q.yes_bid for q in quotes] == [9950, 2400]  # type: ignore[union-attr]


def test_wrapped_lines_and_json_documents(tmp_path: Path) -> None:
    raw = ticker("W", MS0 + 3)
    delta = (
        '{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"W","price_dollars":"0.4300",'
        '"delta_fp":"-100.00","side":"yes","ts":"2026-05-11T14:00:00.004Z"}}'
    )
    lines = [
        json.dumps({"recv_ts_ns": HOUR0 + 5, "raw": raw + "\n"}),
        json.dumps({"received_ms": MS0 + 9, "frame": json.loads(delta)}),
    ]
    (tmp_path / "wrapped.jsonl").write_text("\n".join(lines) + "\n")
    frames = list(read_file(tmp_path / "wrapped.jsonl"))
    assert [f.raw for f in frames] == [raw + "\n", json.dumps(json.loads(delta))]
    assert [f.recv_ns for f in frames] == [HOUR0 + 5, (MS0 + 9) * 10**6]
    assert [f.exchange_ns for f in frames] == [(MS0 + 3) * 10**6, HOUR0 + 4_000_000]  # RFC3339 ts when no ts_ms

    doc = {"captured_ms": MS0, "frames": [{"received_ms": MS0 + 1, "frame": json.loads(raw)}]}
    (tmp_path / "doc.json").write_text(json.dumps(doc, indent=2))
    (tmp_path / "arr.json").write_text(json.dumps([json.loads(raw), json.loads(snapshot("W"))], indent=1))
    d = list(read_file(tmp_path / "doc.json"))
    assert [(f.raw, f.recv_ns, f.line) for f in d] == [(raw, (MS0 + 1) * 10**6, 1)]
    arr = list(read_file(tmp_path / "arr.json"))
    assert [f.raw for f in arr] == [raw, snapshot("W")]  # compacted back to one line each
    assert [f.exchange_ns for f in arr] == [(MS0 + 3) * 10**6] * 2


def test_header_in_the_middle_of_a_file_is_kept_as_a_header(tmp_path: Path) -> None:
    one = kit_file(tmp_path / "1", "p", [(ticker("A", MS0), HOUR0)])
    two = kit_file(tmp_path / "2", "p", [(ticker("A", MS0 + 1), HOUR0 + 1)])
    joined = tmp_path / "joined.jsonl.gz"
    joined.write_bytes(one.read_bytes() + two.read_bytes())  # `cat a.gz b.gz` is a valid gzip file
    report = ReadReport()
    assert len(list(read_file(joined, report))) == 2
    assert report.ok and len(report.headers) == 2


# ---------------------------------------------------------------------------- real captures
def test_real_wrapped_capture_recv_ts_ns(realdata: Path) -> None:
    path = realdata / "bot_btc_1hr_ws_frames" / "kalshi_ws_frames.jsonl"
    report = ReadReport()
    frames = list(read_file(path, report))
    originals = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert report.ok and len(frames) == 74
    assert [f.raw for f in frames] == [o["raw"] for o in originals]  # byte-exact, trailing "\n" included
    assert [f.recv_ns for f in frames] == [o["recv_ts_ns"] for o in originals]
    kinds = Counter(type(FrameDecoder().decode(f.raw)).__name__ for f in frames)
    assert kinds == {"BookDelta": 61, "BookSnapshot": 8, "ErrorReply": 3, "Subscribed": 2}


def test_real_document_capture_received_ms_frame(realdata: Path) -> None:
    path = realdata / "kalshi_cockpit" / "ws_orderbook_stream.json"
    report = ReadReport()
    frames = list(read_file(path, report))
    doc = json.loads(path.read_text())
    assert report.ok and len(frames) == len(doc["frames"]) == 269
    assert [json.loads(f.raw) for f in frames] == [item["frame"] for item in doc["frames"]]
    assert [f.recv_ns for f in frames] == [item["received_ms"] * 10**6 for item in doc["frames"]]
    kinds = Counter(type(FrameDecoder().decode(f.raw)).__name__ for f in frames)
    assert kinds == {"BookDelta": 245, "BookSnapshot": 12, "Ok": 11, "Subscribed": 1}


def test_real_plain_captures_of_both_eras(realdata: Path) -> None:
    expected = {
        "kalshi_mm_demo_capture/session.jsonl": {
            "BookDelta": 2885,
            "BookSnapshot": 5,
            "Fill": 2,
            "Ok": 4,
            "Subscribed": 2,
        },
        "ssmd/kalshi_ticker.jsonl": {"Quote": 10},
        "ssmd/kalshi_trade.jsonl": {"Trade": 10},
        "codetilldawn_datafeed/DataFeed_Ticker.json": {"Quote": 302},
    }
    for name, kinds in expected.items():
        report = ReadReport()
        frames = list(read_file(realdata / name, report))
        decoded = [FrameDecoder().decode(f.raw, f.recv_ns) for f in frames]
        assert report.ok, (name, report.summary())
        assert Counter(type(m).__name__ for m in decoded) == kinds, name
        # No receive time in these files: the exchange time stands in for it.
        assert all(f.recv_ns == f.exchange_ns for f in frames), name
    legacy = list(read_file(realdata / "codetilldawn_datafeed" / "DataFeed_Ticker.json"))
    assert legacy[0].exchange_ns == json.loads(legacy[0].raw)["msg"]["ts"] * 10**9


def test_real_captures_merge_in_time_order(realdata: Path) -> None:
    paths = [
        realdata / "ssmd" / "kalshi_ticker.jsonl",
        realdata / "ssmd" / "kalshi_trade.jsonl",
        realdata / "bot_btc_1hr_ws_frames" / "kalshi_ws_frames.jsonl",
    ]
    merged = list(read_frames(paths))
    assert len(merged) == 10 + 10 + 74
    keys = [(f.exchange_ns, f.recv_ns) for f in merged]
    assert keys == sorted(keys)  # these files are each in exchange order, so the merge is fully sorted
    for p in paths:
        assert [f.raw for f in merged if f.path == str(p)] == [f.raw for f in read_file(p)]
