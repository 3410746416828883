"""The health strip: which exchange (SIM / DEMO / PROD, production in loud red), whether the kit runs, the
connection (connected / reconnecting with the next retry / stale), uptime, frames per second, reconnects, P&L today
and the last error. One ``ipywidgets.HTML``, re-sent only when its text changes."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from kalshikit.live.frames import is_stale
from kalshikit.notebook import fmt

STYLE = """<style>
.kk-health{font:12px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;display:flex;flex-wrap:wrap;gap:4px 14px;
 align-items:center;padding:4px 6px;border:1px solid #ddd;border-radius:4px;background:#fafbfc}
.kk-env{font-weight:800;padding:1px 8px;border-radius:3px;letter-spacing:.05em}
.kk-env-sim{background:#dde7f5;color:#1c3d6e}.kk-env-demo{background:#ffe8b3;color:#6b4500}
.kk-env-prod{background:#c00;color:#fff;font-size:15px;padding:3px 12px;box-shadow:0 0 0 3px #f99}
.kk-prod-banner{background:#c00;color:#fff;font:800 14px system-ui,sans-serif;text-align:center;padding:4px;
 border-radius:4px;margin-bottom:4px;letter-spacing:.08em}
.kk-ok{color:#0a7a32;font-weight:600}.kk-warn{color:#8a5300;font-weight:600}.kk-bad{color:#b3261e;font-weight:700}
.kk-h-label{color:#666}.kk-h-err{color:#b3261e;max-width:60em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
</style>"""


def connection_text(conn: dict[str, Any], now_ns: int, stale_after_s: float, has_positions: bool) -> tuple[str, str]:
    """(css class, text) describing the WebSocket connection."""
    state = conn.get("state", "-")
    if state == "connected":
        age = conn.get("last_frame_age_s")
        if has_positions and age is not None and age > stale_after_s:
            return "kk-warn", f"stale (no data for {fmt.seconds(age)})"
        return "kk-ok", "connected"
    if state == "reconnecting":
        retry = conn.get("next_retry_in_s")
        if retry is None:
            return "kk-warn", "reconnecting"
        at = fmt.clock(now_ns + int(retry * fmt.NS_PER_S))
        return "kk-warn", f"reconnecting — next try in {fmt.seconds(retry)} (at {at} UTC)"
    if state == "connecting":
        return "kk-warn", "connecting"
    if state == "disabled":
        return "kk-warn", "WebSocket disabled (REST prices only)"
    return "kk-bad", str(state)


def last_error(snap: Any) -> str:
    """The most relevant recent error; the connection's is left out once the kit stopped (closing is normal)."""
    for text in (
        snap.connection.get("last_error") if snap.running else "",
        snap.monitor.get("last_error"),
        snap.strategy.get("last_error"),
    ):
        if text:
            return str(text)
    return ""


class HealthStrip:
    """Renders a snapshot's health into :attr:`widget`."""

    def __init__(self, *, stale_after_s: float = 60.0) -> None:
        self.stale_after_s = stale_after_s
        self.stale_after_ns = int(stale_after_s * fmt.NS_PER_S)
        self.widget = widgets.HTML(value=STYLE + '<div class="kk-health">starting…</div>')
        self.widget.add_class("kk-health-strip")
        self.sends = 0

    def update(self, snap: Any, note: str = "") -> bool:
        text = self.render(snap, note)
        if text == self.widget.value:
            return False
        self.widget.value = text
        self.sends += 1
        return True

    def render(self, snap: Any, note: str = "") -> str:
        e = fmt.esc
        env = str(snap.env).lower()
        parts: list[str] = [STYLE]
        if env == "prod":
            parts.append('<div class="kk-prod-banner">PRODUCTION — REAL MONEY — exits send real orders</div>')
        parts.append('<div class="kk-health">')
        parts.append(f'<span class="kk-env kk-env-{e(env)}">{e(env.upper())}</span>')
        if not snap.running:
            parts.append('<span class="kk-bad kk-run-state">STOPPED</span>')
        elif snap.paused:
            parts.append('<span class="kk-warn kk-run-state">PAUSED — no new exits</span>')
        else:
            parts.append('<span class="kk-ok kk-run-state">running</span>')
        if snap.running:
            cls, text = connection_text(snap.connection, snap.now_ns, self.stale_after_s, bool(snap.positions))
            parts.append(f'<span><span class="kk-h-label">feed</span> <span class="{cls} kk-conn">{e(text)}</span>')
            parts.append("</span>")
        c = snap.connection
        stale = sum(1 for p in snap.positions if is_stale(p, snap.now_ns, self.stale_after_ns))
        items = [
            ("uptime", fmt.seconds(snap.monitor.get("uptime_s"))),
            ("frames/s", f"{c.get('frames_per_s', 0):.0f}"),
            ("reconnects", str(c.get("reconnects", 0))),
            ("positions", f"{len(snap.positions)}" + (f" ({stale} stale)" if stale else "")),
            ("exits", f"{snap.monitor.get('exits_sent', 0)} sent, {snap.monitor.get('exits_failed', 0)} failed"),
            ("unrealized", fmt.money(snap.unrealized)),
            ("realized today", fmt.money(snap.realized_today)),
        ]
        parts.extend(f'<span><span class="kk-h-label">{k}</span> {e(v)}</span>' for k, v in items)
        rejected = [p.ticker for p in snap.positions if p.rules_rejected]
        if rejected:
            parts.append(f'<span class="kk-bad kk-rules-rejected">rules not armed on {len(rejected)} position'
                         f'{"s" if len(rejected) != 1 else ""}: {e(", ".join(rejected))}</span>')
        err = last_error(snap)
        if err:
            parts.append(f'<span class="kk-h-err" title="{e(err)}">last error: {e(err)}</span>')
        if note:
            parts.append(f'<span class="kk-warn kk-note">{e(note)}</span>')
        parts.append("</div>")
        return "".join(parts)
