"""Odds snapshots recorded by the OddsClient's ``record`` hook against the local stub over 127.0.0.1: exactly the
answers fetched (paid and free; no cache hits, no failures), never the API key, read back into the same games the
client returned; a failing hook never breaks the client; offline market selection agrees with REST discovery."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshikit.errors import OddsAuthError, OddsTemporaryError
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.recording.synthetic import synthetic_frames
from kalshikit.recording.writer import RecordingWriter
from kalshikit.sim import Simulator
from kalshikit.sim.odds_stub import OddsApiStub, StubMarket
from kalshikit.strategy.data import GatherConfig
from kalshikit.strategy.discovery import DiscoveryFilter, discover, select
from kalshikit.strategy.odds import OddsClient
from kalshikit.strategy.odds_recording import (
    ODDS_FRAME_TYPE,
    OddsRecorder,
    is_odds_recording,
    odds_files,
    read_odds,
)
from tests.conftest import eventually

KEY = "fedcba9876543210-recorded-odds-key"
NS = 1_000_000_000
START = 1_790_000_000 * NS
ROWS = [
    StubMarket("G1", "Boston Celtics", "Boston Celtics", "Los Angeles Lakers", START, 0.62),
    StubMarket("G1", "Los Angeles Lakers", "Boston Celtics", "Los Angeles Lakers", START, 0.38),
    StubMarket("G2", "Miami Heat", "Miami Heat", "Toronto Raptors", START + 3600 * NS, 0.45),
]


@pytest.fixture
def stub() -> Iterator[OddsApiStub]:
    with OddsApiStub(lambda: ROWS, api_key=KEY, quota=1_000, noise=0.01, seed=4) as s:
        yield s


def _file_bytes(paths: list[Path]) -> bytes:
    return b"".join(gzip.decompress(p.read_bytes()) for p in paths)


def test_the_recorder_writes_exactly_the_fetched_answers_and_never_the_key(stub: OddsApiStub, tmp_path: Path) -> None:
    recorder = OddsRecorder(tmp_path, env="sim", flush_interval=None)
    client = OddsClient(KEY, stub.base_url, cache_ttl=60.0, slow_below=0, record=recorder, sleep=lambda _s: None)
    sports = client.sports()
    games = client.odds("basketball_nba")
    again = client.odds("basketball_nba")  # a cache hit: not an answer, not recorded
    listed = client.events("basketball_nba")
    american = client.odds("basketball_nba", markets=("h2h", "spreads"), odds_format="american")
    stub.fail_next(500, times=2)
    with pytest.raises(OddsTemporaryError):
        client.odds("basketball_nba", regions=("uk",))  # two 500s: nothing fetched, nothing recorded
    with pytest.raises(OddsAuthError):
        OddsClient("wrong-key-0000", stub.base_url, record=recorder).odds("basketball_nba")
    recorder.close()

    assert again == games and client.metrics()["cache_hits"] == 1
    snaps = read_odds(tmp_path)
    answered = [(path.removeprefix("/v4"), params) for path, params, status in stub.requests if status == 200]
    assert [(s.path, s.params) for s in snaps] == answered
    assert len(snaps) == recorder.snapshots_written == 4
    assert [s.endpoint for s in snaps] == ["sports", "odds", "events", "odds"]
    times = [s.recv_ns for s in snaps]
    assert times == sorted(times) and all(t > 0 for t in times)
    # Read back, each answer decodes to exactly what the client returned live (receive time included).
    assert snaps[1].events() == games and all(g.fetched_ns == snaps[1].recv_ns for g in games)
    assert snaps[2].events() == listed
    assert snaps[3].events() == american and snaps[3].params["oddsFormat"] == "american"
    assert snaps[3].sport == "basketball_nba" and len(sports) >= 1
    # The key is nowhere: not in the parameters, not in the files.
    assert all("apiKey" not in s.params for s in snaps)
    data = _file_bytes(recorder.paths)
    assert KEY.encode() not in data and b"wrong-key-0000" not in data and b"apiKey" not in data
    assert ODDS_FRAME_TYPE.encode() in data


def test_odds_recordings_are_told_apart_from_kalshi_recordings(stub: OddsApiStub, tmp_path: Path) -> None:
    with OddsRecorder(tmp_path, flush_interval=None) as recorder:
        OddsClient(KEY, stub.base_url, record=recorder).odds("basketball_nba")
    with RecordingWriter(tmp_path, prefix="kalshi", flush_interval=None) as writer:
        for f in synthetic_frames(markets=2, duration_s=30, seed=1):
            writer.write(f.raw, f.recv_ns)
    assert [is_odds_recording(p) for p in recorder.paths] == [True]
    assert [is_odds_recording(p) for p in writer.paths] == [False]
    assert odds_files(tmp_path) == recorder.paths
    assert len(read_odds(tmp_path)) == 1  # the Kalshi file in the same directory is ignored


def test_a_failing_hook_or_a_bad_body_never_breaks_the_client(stub: OddsApiStub, tmp_path: Path) -> None:
    def broken(path: str, params: dict[str, str], body: bytes, recv_ns: int) -> None:
        raise OSError("disk full")

    client = OddsClient(KEY, stub.base_url, record=broken)
    assert len(client.odds("basketball_nba")) == 2
    assert client.metrics()["errors"] == {"RecordFailed": 1}
    with OddsRecorder(tmp_path, flush_interval=None) as recorder:
        recorder("/sports/basketball_nba/odds", {"markets": "h2h", "apiKey": KEY}, b"<html>oops", 1)
        recorder("/sports/basketball_nba/odds", {"markets": "h2h", "apiKey": KEY}, b"[]", 2)
    assert (recorder.skipped, recorder.snapshots_written) == (1, 1)
    snaps = read_odds(tmp_path)
    assert [(s.recv_ns, s.params, s.body) for s in snaps] == [(2, {"markets": "h2h"}, b"[]")]
    assert KEY.encode() not in _file_bytes(recorder.paths)


def test_selecting_from_known_markets_agrees_with_rest_discovery() -> None:
    """The strategy replay picks its universe with select() from the markets a recording announced; on the same
    markets it must keep what discover() keeps over REST."""
    start = time.time_ns() // NS * NS

    def tape(n: int) -> Iterator:  # type: ignore[type-arg]
        return synthetic_frames(markets=8, duration_s=900, seed=21 + n, start_ns=start, sports=True)

    with Simulator(tape=tape, speed=1.0, loop=False) as sim:
        rest = KalshiRest(sim.rest_url, reads_per_second=1000)
        eventually(lambda: len([m for m in rest.markets(status="open") if m.yes_bid and m.yes_ask]) == 8,
                   what="quoted sports markets")
        sim.pause_tape()
        now = time.time_ns()
        known = rest.markets()
        for flt in (
            GatherConfig().discovery_filter(),
            DiscoveryFilter(series=("KXNBAGAME",), max_spread=100),
            DiscoveryFilter(events=(known[0].event_ticker,)),
            DiscoveryFilter(series=("KXNFLGAME",)),
        ):
            live = discover(rest, flt, now_ns=now)
            offline = select(known, flt, now_ns=now)
            assert offline.tickers == live.tickers, flt
            assert offline.rejected == live.rejected, flt
        assert len(select(known, GatherConfig().discovery_filter(), now_ns=now).tickers) == 8
