"""Sweeps: the grid and TOML files (every bad key named), a sweep row equals a direct replay() of that setting
(serial, local processes, a local Dask cluster), and the saved results."""

from __future__ import annotations

import importlib
import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kalshikit.errors import ConfigError
from kalshikit.recording.columnar import to_parquet
from kalshikit.recording.synthetic import write_synthetic_recording
from kalshikit.replay import FirstTwoSided, replay
from kalshikit.replay.sweep import expand_grid, load_sweep_file, sweep

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "backtest" / "example_sweep.toml"
POLICY = FirstTwoSided("yes", 1000)
GRID: dict[str, Any] = {
    "stop": [0.03, 0.08],
    "take_profit": [None, 0.05],
    "trailing": ["none", 0.02],
    "trigger_source": ["bid", "mid"],
    "latency_ms": [0, 250],
}
FIGURES = [
    "trades",
    "pnl",
    "fees",
    "win_rate",
    "average_pnl",
    "max_drawdown",
    "average_slippage",
    "exit_orders",
    "open_positions",
    "open_unrealized",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sweepdata")
    write_synthetic_recording(d / "rec", markets=5, duration_s=600, seed=5)
    to_parquet([d / "rec"], d / "tape.parquet")
    return {"frames": d / "rec", "parquet": d / "tape.parquet"}


def test_grid_expansion() -> None:
    settings = expand_grid({"stop": [0.05, 0.1], "take_profit": ["none", 0.2, "off"], "trigger_source": "mid"})
    assert settings == [
        {"stop": 0.05, "take_profit": None, "trigger_source": "mid"},
        {"stop": 0.05, "take_profit": 0.2, "trigger_source": "mid"},
        {"stop": 0.05, "take_profit": None, "trigger_source": "mid"},
        {"stop": 0.1, "take_profit": None, "trigger_source": "mid"},
        {"stop": 0.1, "take_profit": 0.2, "trigger_source": "mid"},
        {"stop": 0.1, "take_profit": None, "trigger_source": "mid"},
    ]
    assert expand_grid([{"stop": 0.1}, {"trailing": 0.05, "latency_ms": 100}]) == [
        {"stop": 0.1},
        {"trailing": 0.05, "latency_ms": 100},
    ]
    with pytest.raises(ConfigError, match=r"unknown grid key\(s\) \['stoploss'\]"):
        expand_grid({"stoploss": [0.1]})
    with pytest.raises(ConfigError, match="grid key 'stop' has an empty list"):
        expand_grid({"stop": []})
    with pytest.raises(ConfigError, match="latency_ms must be a number >= 0"):
        expand_grid({"latency_ms": [-5]})


def test_invalid_settings_are_refused_before_anything_runs(data: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match=r"setting \{'stop': 0.12345\} is not valid: .*precision"):
        sweep(data["parquet"], {"stop": [0.05, 0.12345]}, policy=POLICY, out_dir=None)
    with pytest.raises(ConfigError, match="trigger_source must be one of"):
        sweep(data["parquet"], {"stop": [0.05], "trigger_source": ["ask"]}, policy=POLICY, out_dir=None)
    with pytest.raises(ConfigError, match="does not exist"):
        sweep(data["parquet"].with_name("missing.parquet"), {"stop": [0.05]}, policy=POLICY, out_dir=None)
    with pytest.raises(ConfigError, match="give entries="):
        sweep(data["parquet"], {"stop": [0.05]}, out_dir=None)


def _check_rows_equal_direct_replays(table: pd.DataFrame, source: Path, every: int = 1) -> None:
    for _, row in table.iloc[::every].iterrows():
        setting = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row[list(GRID)].items()}
        rules = {k: v for k, v in setting.items() if v is not None and k != "latency_ms"}
        direct = replay(source, policy=POLICY, latency_ms=setting["latency_ms"], **rules)
        s = direct.summary
        for k in FIGURES:
            assert row[k] == pytest.approx(s[k], abs=1e-9), (setting, k)
        for reason, count in s["exits_by_reason"].items():
            assert row[f"exits_{reason}"] == count, (setting, reason)
        assert sum(row[c] for c in table.columns if c.startswith("exits_")) == s["trades"]
        if s["hold_pnl"] is None:
            assert pd.isna(row["hold_pnl"])
        else:
            assert row["hold_pnl"] == pytest.approx(s["hold_pnl"], abs=1e-9)


@pytest.mark.parametrize("kind", ["parquet", "frames"])
def test_sweep_rows_equal_direct_replays(data: dict[str, Path], kind: str) -> None:
    res = sweep(data[kind], GRID, policy=POLICY, executor="serial", out_dir=None)
    assert len(res.table) == 32
    assert list(res.table["setting"]) == list(range(32))
    assert res.table["trades"].sum() > 0
    assert res.table["pnl"].nunique() > 4  # the settings really differ
    _check_rows_equal_direct_replays(res.table, data[kind], every=3)
    local = sweep(data[kind], GRID, policy=POLICY, workers=2, out_dir=None)
    assert local.executor == "local processes x2"
    pd.testing.assert_frame_equal(local.table, res.table)


def test_results_are_saved_with_a_timestamped_name(data: dict[str, Path], tmp_path: Path) -> None:
    res = sweep(data["parquet"], {"stop": [0.05, 0.1]}, policy=POLICY, executor="serial", out_dir=tmp_path, name="t")
    assert res.csv_path is not None and res.parquet_path is not None
    assert res.csv_path.parent == tmp_path
    assert res.csv_path.name.startswith("t-") and res.csv_path.suffix == ".csv"
    back = pd.read_csv(res.csv_path)
    assert list(back["pnl"]) == pytest.approx(list(res.table["pnl"]))
    assert list(pd.read_parquet(res.parquet_path)["trades"]) == list(res.table["trades"])
    again = sweep(data["parquet"], {"stop": [0.05]}, policy=POLICY, executor="serial", out_dir=tmp_path, name="t")
    assert again.csv_path != res.csv_path  # never overwrites


def test_sweep_on_a_local_dask_cluster(data: dict[str, Path]) -> None:
    from dask.distributed import Client, LocalCluster

    serial = sweep(data["parquet"], GRID, policy=POLICY, executor="serial", out_dir=None)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            res = sweep(data["parquet"], GRID, policy=POLICY, executor=client, out_dir=None)
            assert res.executor.startswith("dask ")
            pd.testing.assert_frame_equal(res.table, serial.table)
            cached = client.run(
                lambda: [
                    f for sd in importlib.import_module("kalshikit.replay.sweep")._CACHE.values() for f in sd.files
                ]
            )
            assert any(cached.values())  # each worker loaded the data itself (from the path) and kept it
        address = cluster.scheduler_address.replace("tcp://", "dask://")
        by_url = sweep(data["parquet"], GRID, policy=POLICY, executor=address, out_dir=None)
        pd.testing.assert_frame_equal(by_url.table, serial.table)


def test_unreachable_dask_scheduler_is_a_clear_error(data: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        sweep(data["parquet"], {"stop": [0.05]}, policy=POLICY, executor="dask://127.0.0.1:9", out_dir=None)


def test_example_sweep_file_runs_on_the_bundled_sample(tmp_path: Path) -> None:
    spec = load_sweep_file(EXAMPLE)
    assert len(expand_grid(spec.grid)) == 192
    assert spec.sources == [EXAMPLE.parent / "../recordings/sample"]
    assert spec.out_dir == EXAMPLE.parent / "results"
    res = spec.run(out_dir=tmp_path, executor="serial", progress=False)
    assert len(res.table) == 192
    assert res.csv_path is not None and res.csv_path.name.startswith("example_sweep-")


BAD_TOML = [
    ("[grid]\nstop = [0.1]\n[data]\nsource = ['x']\n", r"unknown key\(s\) \['source'\] in \[data\]"),
    ("[grid]\nstop = [0.1]\n[outputs]\ndir = 'x'\n", r"unknown section \[outputs\]"),
    ("[grid]\nstopp = [0.1]\n", r"unknown key\(s\) \['stopp'\] in \[grid\]; allowed: stop, "),
    ("[data]\nsources = ['x']\n", r"a \[grid\] table with at least one rule is needed"),
    ("[grid]\nstop = [0.1]\n[entries]\npolicy = 'random'\n", r"\[entries\] policy 'random' is not known"),
    ("[grid]\nstop = [0.1]\n[entries]\ncount = -2\n", r"\[entries\] count must be a positive number"),
    ("[grid]\nstop = [0.1\n", r"not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD_TOML, ids=[m for _, m in BAD_TOML])
def test_bad_sweep_files_say_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_sweep_file(path)


def test_sweep_file_paths_are_relative_to_the_file(tmp_path: Path, data: dict[str, Path]) -> None:
    shutil.copy(data["parquet"], tmp_path / "day.parquet")
    for side in ("trades", "lifecycle"):
        shutil.copy(data["parquet"].with_name(f"tape.{side}.parquet"), tmp_path / f"day.{side}.parquet")
    (tmp_path / "s.toml").write_text(
        "[data]\nsources = ['day.parquet']\n[entries]\ncount = 10\n[grid]\nstop = [0.05, 0.1]\n[output]\ndir = 'out'\n"
    )
    res = load_sweep_file(tmp_path / "s.toml").run(executor="serial")
    assert res.csv_path is not None and res.csv_path.parent == tmp_path / "out"
    assert len(res.table) == 2


def test_with_other_threads_running_workers_start_from_a_fork_server(data: dict[str, Path]) -> None:
    """As in a Jupyter kernel: forking a process that runs other threads is unsafe, so the fork server is used."""
    import threading

    from kalshikit.replay.fastframes import process_context

    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        assert process_context().get_start_method() == "forkserver"
        res = sweep(data["frames"], GRID, policy=POLICY, workers=2, out_dir=None)
        serial = sweep(data["frames"], GRID, policy=POLICY, executor="serial", out_dir=None)
        pd.testing.assert_frame_equal(res.table, serial.table)
        a = replay(data["frames"], policy=POLICY, stop=0.05, workers=2)
        b = replay(data["frames"], policy=POLICY, stop=0.05, frame_by_frame=True)
        pd.testing.assert_frame_equal(a.trades, b.trades)
    finally:
        stop.set()
        t.join()
