"""``python -m kalshikit.record`` as a subprocess against an in-process simulator playing a synthetic tape: files read
back, clean stop on SIGTERM, at most the last second lost to ``kill -9``, market selection, Parquet conversion, and
exit code 2 with a message on bad arguments or credentials."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshikit.core.events import Quote
from kalshikit.kalshi.messages import FrameDecoder
from kalshikit.recording import ReadReport, read_frames, read_header
from kalshikit.sim import Simulator
from tests.conftest import eventually, scaled

NS_PER_S = 1_000_000_000


@pytest.fixture(scope="module")
def tape_sim() -> Iterator[Simulator]:
    s = Simulator(synthetic={"markets": 4, "rate_hz": 20.0, "duration_s": 900.0}).start()
    try:
        yield s
    finally:
        s.stop()


def _env(sim: Simulator, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KALSHI_", "KALSHIKIT_"))}
    env.update(
        KALSHI_ENV="sim",
        KALSHI_REST_URL=sim.rest_url,
        KALSHI_WS_URL=sim.ws_url,
        KALSHI_API_KEY_ID=sim.key_id,
        KALSHI_PRIVATE_KEY_PATH=str(sim.private_key_path),
    )
    env.update(extra)
    return env


def _start(sim: Simulator, tmp: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kalshikit.record", *args, "--quiet"],
        env=_env(sim, **env),
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(sim: Simulator | None, tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = _env(sim, **env) if sim is not None else {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "kalshikit.record", *args], env=base, cwd=tmp, capture_output=True, text=True,
        timeout=scaled(60),
    )


def _frames(directory: Path) -> tuple[list[str], list[int], ReadReport]:
    report = ReadReport()
    raws, recvs = [], []
    if directory.is_dir():
        for f in read_frames(directory, report):
            raws.append(f.raw)
            recvs.append(f.recv_ns)
    return raws, recvs, report


def _quotes(raws: list[str]) -> list[Quote]:
    dec = FrameDecoder()
    return [q for q in (dec.decode(r) for r in raws) if type(q) is Quote]


def test_records_all_markets_and_stops_cleanly_on_sigterm(tape_sim: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "rec"
    p = _start(tape_sim, tmp_path, "--all", "--out", str(out))
    try:
        eventually(lambda: len(_quotes(_frames(out)[0])) >= 100, timeout=30, what="100 quotes recorded")
    finally:
        p.send_signal(signal.SIGTERM)
        stdout, stderr = p.communicate(timeout=scaled(30))
    assert p.returncode == 0, stderr
    raws, recvs, report = _frames(out)
    assert report.ok, report.summary()  # closed properly: no truncated tail
    files = sorted(out.glob("kalshi-*.jsonl.gz"))
    assert files and f"recorded {len(raws):,} frames" in stdout
    header = read_header(files[0])
    assert header is not None and header.env == "sim"
    assert header.subscriptions == {"channels": ["ticker", "trade", "market_lifecycle_v2"], "market_tickers": "all"}
    quotes = _quotes(raws)
    assert {q.ticker for q in quotes} == set(tape_sim.markets())  # every market, without naming any
    assert any('"type":"trade"' in r for r in raws)
    assert recvs == sorted(recvs)  # receive times as the frames arrived
    assert all(abs(r - q.exchange_ns) < 5 * NS_PER_S for r, q in zip(recvs, _quotes(raws), strict=False))


def test_kill_9_loses_at_most_the_last_second(tape_sim: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "rec"
    p = _start(tape_sim, tmp_path, "--all", "--out", str(out))
    try:
        first = eventually(lambda: _frames(out)[1][:1], timeout=30, what="first frame on disk")[0]
        eventually(lambda: (_frames(out)[1] or [0])[-1] - first > 3 * NS_PER_S, timeout=30, what="3 s recorded")
        killed_at = time.time_ns()
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.wait(timeout=scaled(30))
        p.communicate()
    # The feed was live up to the kill: what is missing on disk was sent, not absent.
    sent = [tape_sim.last_ticker_sent(m) for m in tape_sim.markets()]
    assert max(t[1] for t in sent if t is not None) > killed_at - NS_PER_S // 2
    _, recvs, report = _frames(out)
    assert len(report.problems) <= 1  # at most a cut-off last member
    for _, _, reason in report.problems:
        assert "ends in the middle of a member" in reason
    lost = killed_at - recvs[-1]
    assert lost < 1.5 * NS_PER_S, f"the last frame on disk was received {lost / NS_PER_S:.2f} s before kill -9"


def test_markets_and_series_select_what_is_recorded(tape_sim: Simulator, tmp_path: Path) -> None:
    markets = sorted(tape_sim.markets())
    one = markets[0]
    p = _run(
        tape_sim,
        tmp_path,
        "--markets",
        one,
        "--duration",
        "2",
        "--out",
        str(tmp_path / "one"),
        "--channels",
        "ticker,orderbook_delta",
    )
    assert p.returncode == 0, p.stderr
    raws, _, report = _frames(tmp_path / "one")
    assert report.ok
    assert {q.ticker for q in _quotes(raws)} == {one}
    assert any('"type":"orderbook_snapshot"' in r for r in raws)
    series = one.split("-")[0]
    p = _run(tape_sim, tmp_path, "--series", series, "--duration", "1", "--out", str(tmp_path / "series"))
    assert p.returncode == 0, p.stderr
    header = read_header(next((tmp_path / "series").glob("*.jsonl.gz")))
    assert header is not None
    assert header.subscriptions["series"] == series
    assert header.subscriptions["market_tickers"] == [m for m in markets if m.startswith(series + "-")]


def test_depth_records_the_order_books_that_replay_fills_against(tape_sim: Simulator, tmp_path: Path) -> None:
    from kalshikit.replay import FirstTwoSided, replay

    one = sorted(tape_sim.markets())[0]
    p = _run(tape_sim, tmp_path, "--markets", one, "--depth", "--duration", "3", "--out", str(tmp_path / "deep"))
    assert p.returncode == 0, p.stderr
    header = read_header(next((tmp_path / "deep").glob("*.jsonl.gz")))
    assert header is not None and "orderbook_delta" in header.subscriptions["channels"]
    raws, recvs, _ = _frames(tmp_path / "deep")
    assert any('"type":"orderbook_snapshot"' in r for r in raws)
    exit_at = recvs[0] + (recvs[-1] - recvs[0]) // 2  # every position exits halfway: against the recorded book
    r = replay(tmp_path / "deep", policy=FirstTwoSided("yes", 100), time_exit_at_ns=exit_at)
    assert r.summary["depth_markets"] == 1 and r.summary["exit_orders_on_depth"] == r.summary["exit_orders"] >= 1
    p = _run(tape_sim, tmp_path, "--all", "--depth", "--out", str(tmp_path / "never"))
    assert p.returncode == 2 and "orderbook_delta needs market tickers" in p.stderr


def test_convert_to_parquet(tape_sim: Simulator, tmp_path: Path) -> None:
    p = _run(tape_sim, tmp_path, "--all", "--duration", "2", "--out", str(tmp_path / "rec"))
    assert p.returncode == 0, p.stderr
    n_quotes = len(_quotes(_frames(tmp_path / "rec")[0]))
    p = _run(None, tmp_path, "--convert", str(tmp_path / "rec"), "--out", str(tmp_path / "day.parquet"))
    assert p.returncode == 0, p.stderr
    assert f"{n_quotes:,} ticks" in p.stdout
    import pyarrow.parquet as pq

    assert pq.read_metadata(tmp_path / "day.parquet").num_rows == n_quotes
    p = _run(None, tmp_path, "--convert", str(tmp_path / "rec"), "--out", str(tmp_path / "day.csv"))
    assert p.returncode == 2 and "--convert needs --out FILE.parquet" in p.stderr


def test_bad_arguments_and_credentials_exit_2(tape_sim: Simulator, tmp_path: Path) -> None:
    cases: list[tuple[tuple[str, ...], dict[str, str], str]] = [
        ((), {}, "say what to record"),
        (("--all", "--channels", "ticker,quotes"), {}, "--channels 'ticker,quotes'"),
        (("--all", "--channels", "ticker,orderbook_delta"), {}, "orderbook_delta needs market tickers"),
        (("--all", "--duration", "-1"), {}, "--duration must be a positive number of seconds"),
        (("--series", "KXNOSUCHSERIES"), {}, "series 'KXNOSUCHSERIES' has no open markets"),
        (("--markets", "KXNOSUCH-1"), {}, "unknown market ticker(s) KXNOSUCH-1"),
        (("--all",), {"KALSHI_PRIVATE_KEY_PATH": str(tmp_path / "missing.key")}, "KALSHI_PRIVATE_KEY_PATH="),
        (("--all",), {"KALSHI_API_KEY_ID": "00000000-0000-0000-0000-000000000000"}, "Check that KALSHI_API_KEY_ID"),
    ]
    for args, env, message in cases:
        p = _run(tape_sim, tmp_path, *args, "--out", str(tmp_path / "never"), **env)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert message in p.stderr, (args, p.stderr)
    assert not (tmp_path / "never").exists()
    demo = _run(None, tmp_path, "--all", "--env", "demo", KALSHI_API_KEY_ID="", KALSHI_PRIVATE_KEY_PATH="")
    assert demo.returncode == 2 and "KALSHI_ENV=demo needs credentials" in demo.stderr
