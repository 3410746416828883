"""The notebook side of the kit: the live ipywidgets dashboard (``kit.dashboard()``) and its parts."""

from __future__ import annotations

from kalshikit.notebook.dashboard import Dashboard, dashboards_of

__all__ = ["Dashboard", "dashboards_of"]
