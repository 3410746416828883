"""Strategies and what they need: the strategy interface, sportsbook odds (The Odds API client, de-vig math), market
discovery, matching games to markets, the edge strategy, risk limits, and per-cycle data gathering.

Submodules are imported on first use (``from kalshikit.strategy import EdgeStrategy`` works), so importing the
interface (:mod:`kalshikit.strategy.base`) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "NoStrategy": "base",
    "OrderIntent": "base",
    "Strategy": "base",
    "StrategyContext": "base",
    "Consensus": "devig",
    "devig": "devig",
    "event_consensus": "devig",
    "prob_to_price": "devig",
    "OddsClient": "odds",
    "OddsEvent": "odds",
    "OddsRecorder": "odds_recording",
    "OddsSnapshot": "odds_recording",
    "read_odds": "odds_recording",
    "Discovery": "discovery",
    "DiscoveryFilter": "discovery",
    "discover": "discovery",
    "Match": "matching",
    "MatchOptions": "matching",
    "MatchResult": "matching",
    "Overrides": "matching",
    "match_events": "matching",
    "EdgeDecision": "edge",
    "EdgeStrategy": "edge",
    "RiskLimits": "risk",
    "RiskManager": "risk",
    "CycleData": "data",
    "DataGatherer": "data",
    "GatherConfig": "data",
    "match_consensus": "data",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kalshikit.strategy' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"kalshikit.strategy.{module}"), name)
    globals()[name] = value
    return value
