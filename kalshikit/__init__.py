"""kalshikit: a Jupyter-driven research and live-trading kit for Kalshi.

Start here: ``kit = kalshikit.Kit.from_env(); kit.start()`` (see the README). The names below are imported on
first use, so ``import kalshikit`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Kit": "kalshikit.live.kit",
    "Settings": "kalshikit.config",
    "Protection": "kalshikit.core.rules",
    "protection": "kalshikit.core.rules",
    "Simulator": "kalshikit.sim",
    "replay": "kalshikit.replay",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kalshikit' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
