"""The fast JSONL/recording path reads exactly what the general reader reads (same events, receive times, order and
problems) and replays to the same decisions, in this process and in worker processes, on messy inputs: corrupt and
blank lines, wrappers, frames without times, out-of-order times, damaged and truncated gzip."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from replay_tape import T0_MS, created, lifecycle, ns, ticker, write_recording

from kalshikit.core.events import Quote
from kalshikit.recording.reader import ReadReport
from kalshikit.replay import FirstTwoSided, replay
from kalshikit.replay.fastframes import FastFrameReader, single_stream
from kalshikit.replay.sources import frame_events

A, B, C = (f"KXTEST-26JAN01-{x}" for x in "ABC")


def _general(paths: list[Path]) -> tuple[dict[str, list[Any]], list[tuple[str, int, str]]]:
    """Per market, the sequence the general path feeds: quotes as tuples, other events as they are."""
    report = ReadReport()
    seq: dict[str, list[Any]] = {}
    for ev, now in frame_events(paths, report):
        if type(ev) is Quote:
            item: Any = (
                "q",
                ev.recv_ns,
                ev.exchange_ns,
                ev.yes_bid,
                ev.yes_ask,
                ev.yes_bid_size,
                ev.yes_ask_size,
                ev.last,
            )
        else:
            item = ("e", now, ev)
        seq.setdefault(ev.ticker, []).append(item)
    return seq, list(report.problems)


def _fast(
    paths: list[Path], workers: int, block_bytes: int, chunk: int = 1 << 20
) -> tuple[dict[str, list[Any]], list[Any]]:
    report = ReadReport()
    stream = single_stream(paths)
    assert stream is not None
    seq: dict[str, list[Any]] = {}
    for block in FastFrameReader(stream, report, workers=workers, block_bytes=block_bytes, chunk_size=chunk).blocks():
        for t in block.order:
            out = seq.setdefault(t, [])
            arrays = block.ticks.get(t)
            specials = sorted(block.specials.get(t, []), key=lambda s: s[0])
            n = len(arrays) if arrays is not None else 0
            k = 0
            for j in range(n + 1):
                while k < len(specials) and specials[k][0] == j:
                    out.append(("e", specials[k][1], specials[k][2]))
                    k += 1
                if j < n:
                    assert arrays is not None
                    vals = [
                        int(getattr(arrays, f)[j])
                        for f in ("recv", "exch", "bid", "ask", "bid_size", "ask_size", "last")
                    ]
                    out.append(("q", *vals[:2], *(v if v >= 0 else None for v in vals[2:])))
    return seq, list(report.problems)


def _messy_jsonl(path: Path) -> Path:
    """Plain JSONL (no receive times) with every kind of trouble the reader knows about."""
    frames = [
        created(A),  # no exchange time: takes the last one seen (none yet -> 0)
        ticker(A, 10, 0.50, 0.52),
        ticker(B, 30, 0.30, 0.32),
        ticker(A, 20, 0.49, 0.52),  # earlier than the previous frame (another market): fine
        "",  # blank
        '{"type":"ticker","sid":1,"msg":{"market_ticker":"' + A + '","yes_bid_dollars":"0.4',  # cut short
        ticker(A, 40, 0.47, 0.52),
        "not json at all",
        ticker(A, 35, 0.46, 0.52),  # this market's own time goes back
        '{"type":"ticker","sid":1,"msg":{"market_ticker":"' + B + '","yes_bid_dollars":"abc","ts_ms":1}}',
        json.dumps({"received_ms": T0_MS + 45, "frame": json.loads(ticker(B, 45, 0.31, 0.33))}),
        json.dumps({"recv_ts_ns": ns(50), "raw": ticker(C, 50, 0.70, 0.72)}),
        lifecycle(B, "determined", result="no", settlement_value="0.0000"),  # no time: last exchange time
        '{"type":"ticker","sid":1,"raw":null,"msg":' + json.dumps(json.loads(ticker(C, 60, 0.69, 0.72))["msg"]) + "}",
        '{"type":"ticker","sid":1,"frame":{"x":1},"msg":'
        + json.dumps(json.loads(ticker(C, 61, 0.6, 0.7))["msg"])
        + "}",
        ticker(A, 70, 0.40, 0.52),
        '{"type":"ticker","sid":1,"msg":{"market_ticker":"' + C + '","yes_bid_dollars":"0.6800","yes_ask_dollars":'
        '"0.7000"}}',  # a ticker frame without any time
        ticker(C, 80, 0.60, 0.70),
    ]
    return_path = path
    with gzip.open(return_path, "wt") as f:
        for fr in frames:
            f.write(fr + "\n")
    return return_path


def _recording_with_damage(tmp: Path) -> Path:
    """A kit recording whose second gzip member is damaged and whose last member is cut short (a crash)."""
    rec = write_recording(
        tmp / "rec",
        [(0, created(A)), *((ms, ticker(A, ms, 0.54 - ms / 20_000, 0.55)) for ms in range(10, 400, 10))],
    )
    lines = gzip.decompress(rec.read_bytes()).split(b"\n")
    parts = [b"\n".join(lines[:10]) + b"\n", b"\n".join(lines[10:20]) + b"\n", b"\n".join(lines[20:]) + b"\n"]
    members = [gzip.compress(p) for p in parts]
    damaged = bytearray(members[1])
    for i in range(30, 40):
        damaged[i] ^= 0xFF
    members[1] = bytes(damaged)
    out = tmp / "damaged" / rec.name
    out.parent.mkdir()
    out.write_bytes(members[0] + members[1] + members[2][:-25])
    return out


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize(("block_bytes", "chunk"), [(1 << 20, 1 << 20), (300, 64), (1, 7)])
def test_fast_reader_yields_what_the_general_reader_yields(
    tmp_path: Path, workers: int, block_bytes: int, chunk: int
) -> None:
    plain = tmp_path / "messy.jsonl"
    plain.write_bytes(gzip.decompress(_messy_jsonl(tmp_path / "messy.jsonl.gz").read_bytes()).rstrip(b"\n"))
    for path in (tmp_path / "messy.jsonl.gz", plain, _recording_with_damage(tmp_path)):
        want, want_problems = _general([path])
        got, got_problems = _fast([path], workers, block_bytes, chunk)
        assert got == want
        assert got_problems == want_problems
        assert want_problems  # the inputs are messy on purpose


def test_problems_name_the_file_and_line(tmp_path: Path) -> None:
    path = _messy_jsonl(tmp_path / "messy.jsonl.gz")
    _, problems = _fast([path], 0, 1 << 20)
    where = {(p, line): reason for p, line, reason in problems}
    assert where[(str(path), 6)].startswith("corrupt or truncated line")
    assert where[(str(path), 8)].startswith("not JSON")
    assert where[(str(path), 10)].startswith("malformed frame")
    damaged = _recording_with_damage(tmp_path)
    _, problems = _fast([damaged], 2, 300)
    reasons = [r for _, _, r in problems]
    assert any("damaged gzip data" in r for r in reasons)
    assert any("ends in the middle of a member" in r for r in reasons)


RULES = [{"stop": 0.02}, {"trailing": 0.02, "take_profit": 0.05}, {"stop": 0.03, "trigger_source": "mid"}]


@pytest.mark.parametrize("rules", RULES, ids=[str(r) for r in RULES])
@pytest.mark.parametrize("latency_ms", [0, 5])
def test_replay_decisions_agree_on_messy_inputs(tmp_path: Path, rules: dict[str, Any], latency_ms: int) -> None:
    for path in (_messy_jsonl(tmp_path / "messy.jsonl.gz"), _recording_with_damage(tmp_path)):
        runs = [
            replay(path, policy=FirstTwoSided("yes", 100), latency_ms=latency_ms, frame_by_frame=True, **rules),
            replay(path, policy=FirstTwoSided("yes", 100), latency_ms=latency_ms, workers=0, **rules),
            replay(path, policy=FirstTwoSided("yes", 100), latency_ms=latency_ms, workers=2, **rules),
        ]
        a = runs[0]
        assert len(a.trades) + len(a.open_positions) > 0
        for b in runs[1:]:
            pd.testing.assert_frame_equal(a.trades, b.trades)
            pd.testing.assert_frame_equal(a.decisions, b.decisions)
            pd.testing.assert_frame_equal(a.gaps, b.gaps)
            pd.testing.assert_frame_equal(a.open_positions, b.open_positions)
            assert a.stats["read_problems"] == b.stats["read_problems"]
            assert a.stats["ticks"] == b.stats["ticks"]


def test_corrupt_lines_are_skipped_and_the_rest_replays(tmp_path: Path) -> None:
    path = _recording_with_damage(tmp_path)
    r = replay(path, policy=FirstTwoSided("yes", 100), stop=0.02)
    assert r.stats["read_problems"]
    assert all(p == str(path) and line > 0 for p, line, _ in r.stats["read_problems"])
    # Lines 11-20 (quotes at 90..180 ms) are lost with the damaged member; the stop at 0.53 (entry 0.55) is
    # crossed by the quote at 200 ms, in the member after it: the rest of the recording was replayed.
    assert list(r.trades["exit_reason"]) == ["stop_loss"]
    assert r.trades.iloc[0]["trigger_ts"] == pd.Timestamp(ns(200), unit="ns", tz="UTC")
    assert r.trades.iloc[0]["trigger_price"] == 0.53


def test_hourly_files_of_one_recorder_are_one_stream(tmp_path: Path) -> None:
    a = write_recording(tmp_path, [(0, created(A)), (10, ticker(A, 10, 0.5, 0.52))])
    later = tmp_path / a.name.replace("T", "T", 1)
    assert later == a
    b = write_recording(tmp_path, [(3_600_000, ticker(A, 3_600_000, 0.4, 0.52))])  # the next hour
    assert single_stream([tmp_path]) == sorted([a, b])
    other = write_recording(tmp_path / "x", [(5, ticker(B, 5, 0.5, 0.52))], prefix="other")
    assert single_stream([tmp_path, other]) is None
