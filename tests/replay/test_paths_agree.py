"""The three ways into replay (recording frames one by one, Parquet blocks with quiet-band skipping, a preloaded
dataset) must make exactly the same decisions and trades, for every kind of rule and with latency."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kalshikit.recording.columnar import to_parquet
from kalshikit.recording.synthetic import write_synthetic_recording
from kalshikit.replay import FirstTwoSided, replay
from kalshikit.replay.dataset import ReplayData

RULES = [
    {"stop": 0.05, "take_profit": 0.10},
    {"trailing": 0.03},
    {"trailing": 0.02, "trailing_activation": 0.02, "stop": 0.08},
    {"stop": 0.10, "break_even_after": 0.03},
    {"stop": 0.04, "trigger_source": "mid"},
    {"stop": 0.06, "take_profit": 0.06, "trigger_source": "last"},
    {"exit_before_close_s": 120},
    {"time_exit_at_ns": 1},  # a deadline already in the past: it fires at once (and must not hang)
]


@pytest.fixture(scope="module")
def tapes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tape")
    write_synthetic_recording(d / "rec", markets=6, duration_s=900, seed=11)
    pq = d / "tape.parquet"
    to_parquet([d / "rec"], pq)
    return d / "rec", pq


def _key(r: pd.DataFrame) -> pd.DataFrame:
    return r.reset_index(drop=True)


@pytest.mark.parametrize("rules", RULES, ids=[str(r) for r in RULES])
@pytest.mark.parametrize("latency_ms", [0, 250])
def test_frames_parquet_and_dataset_agree(tapes: tuple[Path, Path], rules: dict[str, object],
                                          latency_ms: int) -> None:
    rec, pq = tapes
    policy = FirstTwoSided("yes", 2500)
    a = replay(rec, policy=policy, latency_ms=latency_ms, **rules)
    b = replay(pq, policy=policy, latency_ms=latency_ms, **rules)
    c = replay(ReplayData.load(pq), policy=policy, latency_ms=latency_ms, **rules)
    assert len(a.trades) + len(a.open_positions) == 6
    pd.testing.assert_frame_equal(_key(a.trades), _key(b.trades))
    pd.testing.assert_frame_equal(_key(a.trades), _key(c.trades))
    pd.testing.assert_frame_equal(_key(a.decisions), _key(b.decisions))
    pd.testing.assert_frame_equal(_key(a.gaps), _key(c.gaps))
    # Skipping quiet quotes is the point of the Parquet path: it feeds the monitor far fewer quotes.
    assert b.stats["quotes_fed_to_monitor"] <= a.stats["quotes_fed_to_monitor"]
