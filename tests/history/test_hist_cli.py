"""``python -m kalshikit.history``: killed with SIGKILL in the middle of a download and run again, it completes
without losing or duplicating a row; bad arguments, settings and credentials exit 2 saying what to fix; an
exchange that keeps failing stops it with exit 1 and the advice to run it again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hist_testkit import NS_PER_S, check_matches_the_exchange

from kalshikit.history.__main__ import main
from kalshikit.sim import Simulator
from kalshikit.sim.history_api import seed_synthetic_history
from tests.conftest import eventually, scaled

SERIES = "KXNBAGAME"


@pytest.fixture(scope="module")
def past() -> Iterator[Simulator]:
    s = Simulator().start()
    try:
        end = (time.time_ns() - 3 * 3600 * NS_PER_S) // (60 * NS_PER_S) * 60 * NS_PER_S
        seed_synthetic_history(s, end_ns=end, markets=6, duration_s=1800.0, rate_hz=1.0)
        yield s
    finally:
        s.stop()


def _env(sim: Simulator | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KALSHI_", "KALSHIKIT_"))}
    if sim is not None:
        env.update(sim.kit_env())
    env.update(extra)
    return env


def _cli(sim: Simulator | None, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kalshikit.history", *args],
        env=_env(sim),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=scaled(120),
    )


def _listing_under_way(out: Path) -> bool:
    """A market's trades listing stopped in the middle: its cursor saved and some of its prints stored."""
    for f in (out / "state").glob("*.json") if (out / "state").is_dir() else ():
        try:
            listing = json.loads(f.read_text()).get("listing")
        except ValueError:
            continue
        if listing and listing["cursor"] and list((out / "trades" / f.stem).glob("*.parquet")):
            return True
    return False


def test_sigkill_in_the_middle_then_run_again(past: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "nba"
    args = ["--series", SERIES, "--out", str(out), "--page-size", "10", "--no-progress"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kalshikit.history", *args, "--rate", "40"],
        env=_env(past),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        eventually(lambda: _listing_under_way(out) or proc.poll() is not None, timeout=90, what="a listing under way")
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(scaled(30))
    assert proc.returncode == -signal.SIGKILL
    done = _cli(past, tmp_path, *args)  # the same command again
    assert done.returncode == 0, done.stderr
    assert "6 market(s): 6 complete" in done.stdout
    check_matches_the_exchange(past, SERIES, out)
    runs = json.loads((out / "history.json").read_text())["runs"]
    assert len(runs) == 1  # the killed run never got to record itself; the second did


@pytest.fixture
def no_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No KALSHI_* variables and no .env file: only what each test sets."""
    for k in list(os.environ):
        if k.startswith(("KALSHI_", "KALSHIKIT_")):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "say which markets"),
        (["--series", "KXA", "--start", "2026-13-01"], "is not a date or time"),
        (["--series", "KXA", "--start", "2026-11-02", "--end", "2026-11-01"], "must be after --start"),
        (["--event", "KXA-1", "--tickers", "KXA-1-B"], "not both"),
        (["--series", "KX A!"], "is not a Kalshi ticker"),
        (["--tickers", " , "], "--tickers is empty"),
        (["--start", "2026-11-01"], "need the markets too"),
        (["--series", "KXA", "--env", "demo"], "needs credentials"),
    ],
)
def test_bad_arguments_exit_2(
    no_settings: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main([*args, "--out", str(no_settings / "h")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ")
    assert not (no_settings / "h").exists()  # nothing was made


def test_argparse_refusals_exit_2(no_settings: Path) -> None:
    for args in (
        ["--series", "KXA"],
        ["--series", "KXA", "--out", "x", "--rate", "0"],
        ["--out", "x", "--page-size", "0"],
    ):
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 2


def test_missing_key_file_exits_2_without_showing_the_key_id(
    no_settings: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key_id = "4f1d5c2e-aaaa-bbbb-cccc-0123456789ab"
    monkeypatch.setenv("KALSHI_API_KEY_ID", key_id)
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(no_settings / "nowhere.key"))
    assert main(["--series", "KXA", "--env", "prod", "--out", str(no_settings / "h")]) == 2
    err = capsys.readouterr().err
    assert "KALSHI_PRIVATE_KEY_PATH" in err and "does not exist" in err and key_id not in err


def test_folder_problems_exit_2_and_keep_everything(
    past: Simulator, no_settings: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for k, v in past.kit_env().items():
        monkeypatch.setenv(k, v)
    other = no_settings / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["--series", SERIES, "--out", str(other), "--no-progress"]) == 2
    assert "is not a history dataset" in capsys.readouterr().err and (other / "notes.txt").read_text() == "mine"
    out = no_settings / "h"
    assert main(["--series", SERIES, "--out", str(out), "--no-progress"]) == 0
    assert "6 complete" in capsys.readouterr().out
    assert main(["--series", SERIES, "--start", "2026-01-01", "--out", str(out)]) == 2
    assert "holds a download of series KXNBAGAME" in capsys.readouterr().err
    assert main(["--series", "KXNOSUCH", "--out", str(no_settings / "n")]) == 2
    assert "'KXNOSUCH' has no markets" in capsys.readouterr().err
    manifest = out / "history.json"
    manifest.write_text(manifest.read_text()[:40])
    assert main(["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "manifest is unreadable" in err and str(manifest) in err
    assert list((out / "candles").iterdir())  # the data stays


def test_an_exchange_that_keeps_failing_stops_with_exit_1(
    past: Simulator, no_settings: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for k, v in past.kit_env().items():
        monkeypatch.setenv(k, v)
    past.faults.rest_errors(503, 50, path_prefix="/series/")
    try:
        assert main(["--series", SERIES, "--out", str(no_settings / "h"), "--no-progress"]) == 1
    finally:
        past.faults.clear()
    err = capsys.readouterr().err
    assert "stopped:" in err and "run the same command again to continue" in err


def test_the_cli_process_exits_2_on_a_bad_date(tmp_path: Path) -> None:
    p = _cli(None, tmp_path, "--series", "KXA", "--end", "yesterday", "--out", str(tmp_path / "h"))
    assert p.returncode == 2 and "--end 'yesterday' is not a date or time" in p.stderr
