"""The positions table: one row per open position, rendered as a single HTML table in one ``ipywidgets.HTML``.

The HTML is rebuilt from each snapshot and sent to the browser only when it differs from what is shown, so 200
positions cost one string build per update and no per-cell widgets. Rows are ordered by urgency: exits in progress
and failures first, then armed positions nearest to a trigger. A price older than the kit's stale limit
(WEBSOCKET_PRICE_CACHE_STALE_SECS) is marked stale; a rule that could not be armed on a position is named under its
row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from kalshikit.live.frames import is_stale
from kalshikit.notebook import fmt

STATE_LABELS = {
    "armed": "armed",
    "triggered": "triggered",
    "exit_sent": "exit sent",
    "closed": "closed",
    "failed": "failed",
    "disarmed": "disarmed",
    "unprotected": "no rules",
}
_URGENCY = {"failed": 0, "exit_sent": 1, "triggered": 2, "armed": 3, "disarmed": 4, "unprotected": 5, "closed": 6}
_RULE_SHORT = {
    "stop_loss": "SL",
    "trailing_stop": "trail",
    "break_even": "BE",
    "take_profit": "TP",
    "time_exit": "time",
}
COLUMNS = (
    ("ticker", "Market"),
    ("side", "Side"),
    ("count", "Qty"),
    ("entry", "Entry"),
    ("bid", "YES bid"),
    ("ask", "YES ask"),
    ("mark", "Mark"),
    ("upnl", "Unreal. P&L"),
    ("stop", "Stop"),
    ("tp", "Take-profit"),
    ("trail", "Trailing"),
    ("texit", "Time exit"),
    ("dist", "To trigger"),
    ("state", "Guard"),
    ("age", "Price age"),
)

STYLE = """<style>
.kk-table-wrap{max-height:460px;overflow:auto;border:1px solid #ddd;border-radius:4px}
.kk-table{border-collapse:collapse;font:11.5px/1.35 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;width:100%}
.kk-table th{position:sticky;top:0;background:#f4f5f7;text-align:right;padding:3px 6px;border-bottom:1px solid #ccc;
 font-weight:600;white-space:nowrap}
.kk-table td{text-align:right;padding:2px 5px;border-bottom:1px solid #eee;white-space:nowrap}
.kk-table th.kk-ticker,.kk-table td.kk-ticker{text-align:left}
.kk-table tr.kk-selected td{background:#eef4ff}
.kk-pos{color:#0a7a32}.kk-neg{color:#b3261e}.kk-muted{color:#888}
.kk-st{display:inline-block;padding:0 5px;border-radius:3px;font-weight:600}
.kk-st-armed{background:#e3f4e8;color:#0a7a32}.kk-st-triggered,.kk-st-exit_sent{background:#fff1d6;color:#8a5300}
.kk-st-failed{background:#b3261e;color:#fff}.kk-st-disarmed,.kk-st-unprotected{background:#eee;color:#555}
.kk-st-closed{background:#e8eaf6;color:#333}
.kk-stale{background:#fff1d6;color:#8a5300;font-weight:600;padding:0 4px;border-radius:3px}
.kk-foot td{color:#555;font-weight:600;border-top:1px solid #ccc}
.kk-table td.kk-rejected{text-align:left;white-space:normal;color:#b3261e;font-weight:600;background:#fdecea}
.kk-warn-mark{color:#b3261e;font-weight:700;margin-left:3px}
</style>"""


def urgency_key(v: Any) -> tuple[int, int, str]:
    dist = v.distance_to_trigger if v.distance_to_trigger is not None else 1 << 30
    return (_URGENCY.get(v.state, 9), dist, v.ticker)


def _pnl_class(m: int | None) -> str:
    if m is None or m == 0:
        return ""
    return "kk-pos" if m > 0 else "kk-neg"


class PositionsTable:
    """Renders snapshots' positions into :attr:`widget` (an ``ipywidgets.HTML``)."""

    def __init__(self, *, max_rows: int = 250, stale_after_s: float = 60.0) -> None:
        self.max_rows = max_rows
        self.stale_after_s = stale_after_s
        self.stale_after_ns = int(stale_after_s * fmt.NS_PER_S)
        self.widget = widgets.HTML(value=self._empty("waiting for the first update…"))
        self.widget.add_class("kk-positions")
        self.renders = 0  # HTML strings built
        self.sends = 0  # times the widget value actually changed
        self._rows: dict[tuple[Any, ...], str] = {}  # row HTML (without the price age) by what it shows

    # ------------------------------------------------------------------ rendering
    def update(self, positions: Sequence[Any], now_ns: int, selected: str | None = None) -> bool:
        """Render ``positions`` (PositionView) as of ``now_ns``; returns True when the shown HTML changed."""
        text = self.render(positions, now_ns, selected)
        self.renders += 1
        if text == self.widget.value:
            return False
        self.widget.value = text
        self.sends += 1
        return True

    def render(self, positions: Sequence[Any], now_ns: int, selected: str | None = None) -> str:
        if not positions:
            return self._empty("No open positions. Open one on the exchange; the kit adopts it within a reconcile.")
        views = sorted(positions, key=urgency_key)
        shown = views[: self.max_rows]
        parts = [STYLE, '<div class="kk-table-wrap"><table class="kk-table"><thead><tr>']
        parts.extend(f'<th class="kk-{key}">{label}</th>' for key, label in COLUMNS)
        parts.append("</tr></thead><tbody>")
        cache = self._rows
        fresh: dict[tuple[Any, ...], str] = {}
        for v in shown:
            texit = None if v.time_exit_ns is None else max(0, (v.time_exit_ns - now_ns) // fmt.NS_PER_S)
            stale = is_stale(v, now_ns, self.stale_after_ns)
            key = (v, v.ticker == selected, texit, stale)
            row = cache.get(key)
            if row is None:
                row = self._row(v, now_ns, v.ticker == selected, stale)
            fresh[key] = row
            parts.append(row)
            parts.append(self._age(v, now_ns, stale))
            if v.rules_rejected:
                parts.append(
                    f'<tr class="kk-rejected-row" data-ticker="{fmt.esc(v.ticker)}"><td class="kk-rejected" '
                    f'colspan="{len(COLUMNS)}">⚠ rules not armed on {fmt.esc(v.ticker)} (the others are): '
                    f"{fmt.esc(v.rules_rejected)}</td></tr>"
                )
        self._rows = fresh
        parts.append("</tbody>")
        total = sum(v.unrealized or 0 for v in views)
        more = f" — showing the {len(shown)} most urgent" if len(shown) < len(views) else ""
        parts.append(
            f'<tfoot><tr class="kk-foot"><td class="kk-ticker" colspan="7">{len(views)} position'
            f'{"s" if len(views) != 1 else ""}{more}</td><td class="{_pnl_class(total)}">{fmt.money(total)}</td>'
            f'<td colspan="{len(COLUMNS) - 8}"></td></tr></tfoot></table></div>'
        )
        return "".join(parts)

    def _row(self, v: Any, now_ns: int, selected: bool, stale: bool) -> str:
        e = fmt.esc
        levels = fmt.rule_levels(v)
        stop = fmt.DASH
        if v.stop is not None:
            stop = f'{fmt.price(v.stop)} <span class="kk-muted">{_RULE_SHORT.get(v.stop_rule, v.stop_rule)}</span>'
        trail = fmt.DASH
        if fmt.has_trailing(v):
            if v.trailing_peak is None:
                trail = '<span class="kk-muted">inactive</span>'
            else:
                level = levels["trailing"]
                trail = (
                    f"{fmt.price(level) if level is not None else '?'} "
                    f'<span class="kk-muted">peak {fmt.price(v.trailing_peak)}</span>'
                )
        texit = fmt.DASH
        if v.time_exit_ns is not None:
            left = v.time_exit_ns - now_ns
            texit = f"in {fmt.age(left)}" if left > 0 else "due"
        dist = fmt.DASH
        if v.distance_to_trigger is not None:
            name = _RULE_SHORT.get(v.nearest_trigger, v.nearest_trigger)
            dist = f'{fmt.price(v.distance_to_trigger)} <span class="kk-muted">{e(name)}</span>'
        state = v.state
        label = STATE_LABELS.get(state, state)
        if state == "exit_sent" and v.attempt > 1:
            label += f" #{v.attempt}"
        if v.market_status not in ("active", ""):
            label += f" ({e(v.market_status)})"
        warn = ""
        if v.rules_rejected:
            warn = f'<span class="kk-warn-mark" title="rules not armed: {e(v.rules_rejected)}">⚠</span>'
        side = (v.side or "?").upper()
        cells = (
            f'<td class="kk-ticker">{e(v.ticker)}</td>',
            f'<td class="kk-side">{side}</td>',
            f'<td class="kk-count">{fmt.count(v.count)}</td>',
            f'<td class="kk-entry">{fmt.price(v.entry_price)}</td>',
            f'<td class="kk-bid">{fmt.price(v.yes_bid)}</td>',
            f'<td class="kk-ask">{fmt.price(v.yes_ask)}</td>',
            f'<td class="kk-mark">{fmt.price(v.mark)}</td>',
            f'<td class="kk-upnl {_pnl_class(v.unrealized)}">{fmt.money(v.unrealized)}</td>',
            f'<td class="kk-stop">{stop}</td>',
            f'<td class="kk-tp">{fmt.price(v.take_profit)}</td>',
            f'<td class="kk-trail">{trail}</td>',
            f'<td class="kk-texit">{texit}</td>',
            f'<td class="kk-dist">{dist}</td>',
            f'<td class="kk-state"><span class="kk-st kk-st-{e(state)}">{label}</span>{warn}</td>',
        )
        cls = f"kk-row kk-state-{e(state)}{' kk-selected' if selected else ''}{' kk-is-stale' if stale else ''}"
        return f'<tr class="{cls}" data-ticker="{e(v.ticker)}">{"".join(cells)}'

    @staticmethod
    def _age(v: Any, now_ns: int, stale: bool) -> str:
        """The last cell (the price's age, which changes every update) and the end of the row."""
        if v.quote_recv_ns is None:
            return '<td class="kk-age"><span class="kk-stale">no price</span></td></tr>'
        if stale:
            age = fmt.age(now_ns - v.quote_recv_ns)
            return f'<td class="kk-age"><span class="kk-stale">stale {age}</span></td></tr>'
        return f'<td class="kk-age">{fmt.age(now_ns - v.quote_recv_ns)}</td></tr>'

    @staticmethod
    def _empty(message: str) -> str:
        return f'{STYLE}<div class="kk-table-wrap kk-empty" style="padding:8px;color:#555">{fmt.esc(message)}</div>'
