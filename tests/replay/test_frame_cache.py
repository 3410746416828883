"""A recording is decoded once and its columnar form kept beside it (issue 13.4): the second replay reads that copy
and decides exactly the same; a changed recording is decoded again; a folder that cannot be written only means no
copy; what decoding reported (a corrupt line) is still reported on a later replay."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from kalshikit.recording.synthetic import write_synthetic_recording
from kalshikit.replay import FirstTwoSided, replay
from kalshikit.replay.frame_cache import CACHE_DIR

POLICY = FirstTwoSided("yes", 1500)
RULES = {"stop": 0.04, "take_profit": 0.06, "trailing": 0.03}


def recording(tmp_path: Path, **kw: object) -> Path:
    rec = tmp_path / "rec"
    write_synthetic_recording(rec, markets=5, duration_s=600, seed=21, **kw)  # type: ignore[arg-type]
    return rec


def run(rec: Path, **kw: object) -> object:
    return replay(rec, policy=POLICY, latency_ms=200, **RULES, **kw)  # type: ignore[arg-type]


def same(a: object, b: object) -> None:
    for name in ("trades", "decisions", "gaps", "open_positions"):
        pd.testing.assert_frame_equal(getattr(a, name).reset_index(drop=True), getattr(b, name).reset_index(drop=True))


@pytest.mark.parametrize("depth", [False, True], ids=["ticks", "with order books"])
def test_the_second_replay_reads_the_kept_copy_and_decides_the_same(tmp_path: Path, depth: bool) -> None:
    rec = recording(tmp_path, depth=depth)
    first = run(rec)
    assert first.settings["source_cache"].startswith("decoded and saved")  # type: ignore[attr-defined]
    assert any((rec / CACHE_DIR).iterdir())
    second = run(rec)
    assert second.settings["source_cache"].startswith("decoded copy read")  # type: ignore[attr-defined]
    reference = run(rec, frame_by_frame=True)
    same(first, second)
    same(second, reference)
    assert len(second.trades) + len(second.open_positions) == 5  # type: ignore[attr-defined]


def test_a_changed_recording_is_decoded_again(tmp_path: Path) -> None:
    rec = recording(tmp_path)
    run(rec)
    f = sorted(rec.glob("*.jsonl.gz"))[-1]
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # touched (e.g. copied again)
    assert run(rec).settings["source_cache"].startswith("decoded and saved")  # type: ignore[attr-defined]
    assert run(rec).settings["source_cache"].startswith("decoded copy read")  # type: ignore[attr-defined]


def test_without_the_cache_nothing_is_read_or_written(tmp_path: Path) -> None:
    rec = recording(tmp_path)
    r = run(rec, cache=False)
    assert "source_cache" not in r.settings  # type: ignore[attr-defined]
    assert not (rec / CACHE_DIR).exists()


def test_a_place_that_cannot_be_written_only_means_no_copy(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rec = recording(tmp_path)
    (rec / CACHE_DIR).write_text("a file where the cache folder would go")  # unwritable the way any user can make it
    r = run(rec)
    assert "source_cache" not in r.settings and len(r.trades) + len(r.open_positions) == 5  # type: ignore[attr-defined]
    assert "no decoded copy" in caplog.text


def test_a_copy_left_half_written_is_not_used(tmp_path: Path) -> None:
    rec = recording(tmp_path)
    run(rec)
    (cache,) = (rec / CACHE_DIR).iterdir()
    (cache / "key.json").unlink()  # as after a kill before the copy was complete
    assert run(rec).settings["source_cache"].startswith("decoded and saved")  # type: ignore[attr-defined]


def test_what_decoding_reported_is_reported_again_from_the_copy(tmp_path: Path) -> None:
    src = recording(tmp_path)
    one = tmp_path / "one"
    one.mkdir()
    lines: list[bytes] = []
    for f in sorted(src.glob("*.jsonl.gz")):
        with gzip.open(f) as g:
            lines.extend(g.read().splitlines(keepends=True))
    lines.insert(40, b'{"recv_ns": 1, "raw": "{not json\n')  # a corrupt line
    with gzip.open(one / "tape.jsonl.gz", "wb") as g:
        g.writelines(lines)
    shutil.rmtree(src)
    first = run(one)
    second = run(one)
    assert second.settings["source_cache"].startswith("decoded copy read")  # type: ignore[attr-defined]
    problems = first.stats["read_problems"]  # type: ignore[attr-defined]
    assert problems and "corrupt or truncated" in problems[0][2]
    assert [tuple(p) for p in second.stats["read_problems"]] == [tuple(p) for p in problems]  # type: ignore[attr-defined]


def test_the_cli_says_where_the_source_came_from_and_no_cache_turns_it_off(tmp_path: Path) -> None:
    from kalshikit.replay.__main__ import main

    rec = recording(tmp_path)
    argv = [str(rec), "--policy", "first-two-sided:yes:15", "--stop-loss", "0.04", "--out", str(tmp_path / "t.csv")]
    assert main([*argv, "--no-cache"]) == 0
    assert not (rec / CACHE_DIR).exists()
    assert main(argv) == 0
    assert (rec / CACHE_DIR).is_dir()
    first = pd.read_csv(tmp_path / "t.csv")
    assert main(argv) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv"), first)


def test_decode_processes_are_stated(tmp_path: Path) -> None:
    rec = recording(tmp_path)
    r = replay(rec, policy=POLICY, stop=0.04, workers=0)
    assert r.settings["decode_processes"] == 0  # type: ignore[attr-defined]
