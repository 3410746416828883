"""Display formatting for the dashboard: integer prices, counts, money and times to short strings (display only)."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from kalshikit.units import PRICE_SCALE

COUNT_SCALE = 100
MONEY_SCALE = 1_000_000
NS_PER_S = 1_000_000_000
DASH = "–"



def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def price(p: int | None) -> str:
    """6300 -> ``0.63``; sub-penny prices keep their digits (9950 -> ``0.995``)."""
    if p is None:
        return DASH
    if p % 100 == 0:
        return f"{p / PRICE_SCALE:.2f}"
    return f"{p / PRICE_SCALE:.4f}".rstrip("0")


def signed_price(p: int | None) -> str:
    if p is None:
        return DASH
    return ("+" if p >= 0 else "−") + price(abs(p))


def count(c: int) -> str:
    """Hundredths of a contract -> ``10`` or ``2.5``."""
    if c % COUNT_SCALE == 0:
        return str(c // COUNT_SCALE)
    return f"{c / COUNT_SCALE:.2f}".rstrip("0")


def money(m: int | None) -> str:
    """Micro-dollars -> ``+$1.23`` / ``−$0.48``."""
    if m is None:
        return DASH
    sign = "+" if m >= 0 else "−"
    return f"{sign}${abs(m) / MONEY_SCALE:,.2f}"


def age(ns: int | None) -> str:
    """A duration in ns -> ``0.4s``, ``12s``, ``3m05s``, ``2h10m``."""
    if ns is None:
        return DASH
    s = max(ns, 0) / NS_PER_S
    if s < 10:
        return f"{s:.1f}s"
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        m, sec = divmod(int(s), 60)
        return f"{m}m{sec:02d}s"
    h, rem = divmod(int(s), 3600)
    return f"{h}h{rem // 60:02d}m"


def seconds(s: float | None) -> str:
    return DASH if s is None else age(int(s * NS_PER_S))


def clock(ns: int | None) -> str:
    """UTC wall-clock time of day (``14:03:07``)."""
    if ns is None:
        return DASH
    return datetime.fromtimestamp(ns / NS_PER_S, UTC).strftime("%H:%M:%S")


def rule_levels(view: Any) -> dict[str, int | None]:
    """Each armed rule's current own-side level for one PositionView (stop_loss, trailing, take_profit), as the
    monitor itself reports them."""
    return {"stop_loss": view.stop_loss_level, "trailing": view.trailing_level, "take_profit": view.take_profit}


def has_trailing(view: Any) -> bool:
    return bool(view.has_trailing)
