"""Record, replay and backtest: recorded market data through the same Monitor that trades live."""

from __future__ import annotations

from kalshikit.replay.engine import replay
from kalshikit.replay.entries import Entry, FirstTwoSided, load_entries
from kalshikit.replay.fills import FillModel
from kalshikit.replay.results import ReplayResult

__all__ = ["Entry", "FillModel", "FirstTwoSided", "ReplayResult", "load_entries", "replay"]
