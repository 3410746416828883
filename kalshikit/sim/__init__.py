"""Local Kalshi-compatible exchange (REST + WebSocket) with fault injection; ``python -m kalshikit.sim``."""

from __future__ import annotations

from kalshikit.sim.errors import SimError
from kalshikit.sim.faults import Faults
from kalshikit.sim.keys import DemoKey
from kalshikit.sim.ratelimit import RateLimits
from kalshikit.sim.rest_api import OrderLogEntry
from kalshikit.sim.server import Simulator

__all__ = ["DemoKey", "Faults", "OrderLogEntry", "RateLimits", "SimError", "Simulator"]
