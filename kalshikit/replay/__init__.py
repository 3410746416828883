"""Record, replay and backtest: recorded market data through the same Monitor that trades live."""

from __future__ import annotations

from kalshikit.replay.capture import MarketCapture
from kalshikit.replay.engine import replay
from kalshikit.replay.entries import Entry, FirstTwoSided, load_entries
from kalshikit.replay.fills import FillModel
from kalshikit.replay.outcomes import load_results
from kalshikit.replay.parity import ParityReport, parity
from kalshikit.replay.results import ReplayResult
from kalshikit.replay.strategy_replay import StrategyReplayResult, replay_strategy
from kalshikit.replay.sweep import SweepResult, sweep

__all__ = [
    "Entry",
    "FillModel",
    "FirstTwoSided",
    "MarketCapture",
    "ParityReport",
    "ReplayResult",
    "StrategyReplayResult",
    "SweepResult",
    "load_entries",
    "load_results",
    "parity",
    "replay",
    "replay_strategy",
    "sweep",
]
