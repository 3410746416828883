"""kalshikit: a Jupyter-driven research and live-trading kit for Kalshi.

Start here: ``kit = kalshikit.Kit.from_env(); kit.start()`` (see the README).
"""

from __future__ import annotations

__version__ = "0.1.0"
