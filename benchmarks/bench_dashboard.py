"""Dashboard refresh cost with many positions: what one UI update costs the kernel.

Builds a stream of immutable ``KitSnapshot``s with ``--positions`` open positions (seeded random walks: each update
moves the prices of about a third of the markets, ratchets trailing stops, and now and then closes a position with an
exit in ``recent``) and feeds them to a real :class:`kalshikit.notebook.Dashboard` the way the UIUpdate thread does
(``Dashboard.update(snapshot)``). Timed separately:

- ``update_ms``: the whole listener call (history + health + positions table + controls + chart of the selected
  market), the figure that must stay at a few ms;
- ``table_render_ms``: building the positions table's HTML alone;
- ``chart_redraw_ms``: redrawing the plotly FigureWidget with a full history (``--points`` points per line);
- ``history_ms``: adding one snapshot to the bounded per-market history.

Widgets are not displayed here (no frontend), so sending the changed state to a browser is not included; the bytes
that would be sent per update (``table_html_bytes``) are reported. The output is checked (every position has a row,
moved prices show up), so a fast but wrong dashboard cannot pass. Prints one JSON object.

    python benchmarks/bench_dashboard.py [--positions 200] [--updates 300] [--points 2000] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from kalshikit.config import Settings
from kalshikit.core.actions import PositionClosed
from kalshikit.core.monitor import PositionView
from kalshikit.live.kit import Kit
from kalshikit.live.ui_thread import KitSnapshot
from kalshikit.notebook import Dashboard
from kalshikit.notebook.history import PriceHistory
from kalshikit.notebook.positions_table import PositionsTable
from kalshikit.units import PRICE_SCALE

NS = 1_000_000_000
ONE = PRICE_SCALE


class Market:
    def __init__(self, i: int, rng: random.Random) -> None:
        self.ticker = f"KXBENCH-26DEC31-T{i:04d}"
        self.side = "no" if i % 4 == 3 else "yes"
        self.bid = rng.randrange(2000, 8000, 100)
        self.entry = self.bid + 100
        self.peak: int | None = None
        self.recv = 0

    def move(self, rng: random.Random, now: int) -> None:
        self.bid = min(9800, max(200, self.bid + rng.choice((-200, -100, 100, 200))))
        self.recv = now
        own = self.bid if self.side == "yes" else ONE - self.bid - 100
        if self.peak is None or own > self.peak:
            self.peak = own

    def view(self, now: int) -> PositionView:
        own_bid = self.bid if self.side == "yes" else ONE - self.bid - 100
        trail = None if self.peak is None else self.peak - 300
        sl = self.entry - 500
        stop, rule = (trail, "trailing_stop") if trail is not None and trail > sl else (sl, "stop_loss")
        tp = self.entry + 800
        dist, nearest = (own_bid - stop, rule) if own_bid - stop < tp - own_bid else (tp - own_bid, "take_profit")
        return PositionView(
            ticker=self.ticker,
            position_id=f"{self.ticker}#1",
            side=self.side,
            count=1000,
            entry_price=self.entry,
            yes_bid=self.bid,
            yes_ask=self.bid + 100,
            mark=own_bid,
            unrealized=(own_bid - self.entry) * 1000,
            realized=0,
            fees=0,
            state="armed",
            stop=stop,
            stop_rule=rule,
            take_profit=tp,
            trailing_peak=self.peak,
            time_exit_ns=None,
            distance_to_trigger=dist,
            nearest_trigger=nearest,
            quote_recv_ns=self.recv,
            stale=now - self.recv > 60 * NS,
            attempt=0,
            trigger="",
            market_status="active",
            rules="SL 0.0500 from entry, TP 0.0800 from entry, trail 0.0300 from entry",
        )


def snapshots(n_positions: int, n_updates: int, seed: int) -> Iterator[KitSnapshot]:
    """One snapshot at a time, as the UIUpdate thread makes them (only the current one is alive)."""
    rng = random.Random(seed)
    now = 1_778_508_000 * NS
    markets = [Market(i, rng) for i in range(n_positions)]
    for m in markets:
        m.move(rng, now)
    recent: list[Any] = []
    for k in range(n_updates):
        now += NS
        for m in rng.sample(markets, max(1, n_positions // 3)):
            m.move(rng, now)
        if k % 25 == 24:
            m = markets[k % len(markets)]
            recent = [
                *recent[-19:],
                PositionClosed(
                    m.ticker,
                    f"{m.ticker}#0",
                    m.side,
                    1000,
                    m.entry,
                    now - 60 * NS,
                    now,
                    "stop_loss",
                    now - NS,
                    m.entry - 500,
                    m.entry - 600,
                    -600_000,
                    20_000,
                ),
            ]
        views = tuple(m.view(now) for m in markets)
        yield (
            KitSnapshot(
                now_ns=now,
                env="sim",
                running=True,
                paused=False,
                positions=views,
                connection={
                    "state": "connected",
                    "frames_per_s": 250.0,
                    "reconnects": 0,
                    "last_frame_age_s": 0.1,
                    "last_error": "",
                },
                rest={},
                monitor={"uptime_s": float(k), "exits_sent": k // 25, "exits_failed": 0, "last_error": ""},
                strategy={"last_error": ""},
                recent=tuple(recent),
                realized_today=-600_000 * (k // 25),
                fees_today=0,
                unrealized=sum(v.unrealized or 0 for v in views),
            )
        )


def stats_ms(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1e3 for v in values)
    return {
        "p50": round(statistics.median(ms), 3),
        "p95": round(ms[int(0.95 * (len(ms) - 1))], 3),
        "max": round(ms[-1], 3),
        "mean": round(statistics.fmean(ms), 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--positions", type=int, default=200)
    ap.add_argument("--updates", type=int, default=300)
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    kit = Kit(Settings.from_env(environ={"KALSHI_ENV": "sim"}, env_file=None))  # never started: public API only
    dash = Dashboard(kit, history_points=args.points)
    dash.state = "live"  # render as a running kit's dashboard would
    chart = dash.chart
    assert chart is not None and chart.figure is not None, "the chart needs plotly and anywidget"
    hist = PriceHistory(points=args.points)
    table = PositionsTable()
    update_s: list[float] = []
    table_s: list[float] = []
    history_s: list[float] = []
    selected = ""
    last: KitSnapshot | None = None
    html = ""
    for k, s in enumerate(snapshots(args.positions, args.updates + 20, args.seed)):
        if k == 0:
            selected = s.positions[0].ticker
            dash.select(selected)
        took = dash.update(s)
        if k < 20:  # the first ones warm up (imports, first figure layout)
            table.render(s.positions, s.now_ns, selected)
        else:
            update_s.append(took)
            t0 = time.perf_counter()
            html = table.render(s.positions, s.now_ns, selected)
            table_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            hist.add_snapshot(s)
            history_s.append(time.perf_counter() - t0)
        last = s
    assert last is not None

    # A full chart: the selected market with --points points (as after a long session), redrawn each time.
    full = PriceHistory(points=args.points)
    base = last
    for i in range(args.points):
        v = base.positions[0]
        moved = v.__class__(
            **{
                **{f: getattr(v, f) for f in v.__struct_fields__},
                "yes_bid": 2000 + (i * 37) % 6000,
                "yes_ask": 2100 + (i * 37) % 6000,
            }
        )
        full.add_snapshot(
            KitSnapshot(
                **{
                    **{f: getattr(base, f) for f in base.__struct_fields__},
                    "now_ns": base.now_ns + i * NS,
                    "positions": (moved,),
                }
            )
        )
    chart_s = []
    h = full.get(selected)
    assert h is not None and len(h) == args.points
    for _ in range(30):
        h.version += 1
        t0 = time.perf_counter()
        chart.show(selected, h)
        chart_s.append(time.perf_counter() - t0)

    # Correctness: one row per position, and the last snapshot's prices are what the table shows.
    shown = dash.table.widget.value
    rows = shown.count('<tr class="kk-row')
    assert rows == args.positions, (rows, args.positions)
    v0 = next(v for v in last.positions if v.ticker == selected)
    row = shown.split(f'data-ticker="{selected}"', 1)[1].split("</tr>", 1)[0]
    assert f'<td class="kk-bid">{v0.yes_bid / ONE:.2f}</td>' in row, row[:300]
    assert chart.figure is not None and len(chart.figure.data[0].x) == args.points

    result = {
        "benchmark": "dashboard_refresh",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "positions": args.positions,
        "updates_timed": len(update_s),
        "chart_points": args.points,
        "update_ms": stats_ms(update_s),
        "table_render_ms": stats_ms(table_s),
        "chart_redraw_ms": stats_ms(chart_s),
        "history_ms": stats_ms(history_s),
        "table_html_bytes": len(html),
        "table_sends": dash.table.sends,
        "chart_redraws": chart.redraws,
        "note": "per UI update on the UIUpdate thread; widget messages to a browser not included",
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
