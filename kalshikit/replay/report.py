"""Plotly figures and standalone HTML reports of replays and sweeps (return ``plotly.graph_objects.Figure``).

- :func:`price_path`: one market's prices with the entry, the stop / take-profit levels and the trailing stop as it
  ratcheted, the triggers and the exits. The levels come from the Monitor itself: the market is replayed quote by
  quote with the run's rules (:func:`market_levels`) and the monitor's own view of the guard is recorded after each
  quote; no rule is re-implemented here.
- :func:`equity_figure`: cumulative net P&L by exit time and the drawdown below its running peak.
- :func:`sweep_heatmap`: a sweep's P&L (or any figure) by stop × take-profit; other dimensions are selected with
  ``where=`` or aggregated (mean by default).
- :func:`walk_forward_figure` / :func:`walk_forward_section`: per walk-forward fold, the chosen setting's mean P&L
  per market in sample and out of sample with bootstrap intervals, beside the best in hindsight.
- :func:`gap_table` / :func:`gap_figure`: per exit order, the trigger price, the first executable bid, the fill,
  the fee and the slippage.
- :func:`save_html` writes figures (and tables) into one standalone HTML file; :func:`replay_report` makes the
  usual report of a replay: what produced it (sources, rules, latency, fill model, date range), warnings, the
  summary ($ and %), equity, the trades and the exit orders with their slippage, and price paths
  (:mod:`kalshikit.replay.report_tables` formats the tables).
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kalshikit.core.events import Quote
from kalshikit.core.rules import Protection
from kalshikit.errors import ConfigError
from kalshikit.replay.entries import Entry
from kalshikit.replay.fills import FillModel
from kalshikit.replay.market import MarketReplay
from kalshikit.replay.report_tables import Note, formatted, provenance, slippage_note, summary_formatted
from kalshikit.replay.results import ReplayResult, equity_curve
from kalshikit.replay.sweep import SweepData, load_data
from kalshikit.replay.walkforward import WalkForwardResult
from kalshikit.units import PRICE_SCALE

ONE = PRICE_SCALE
NS_PER_MS = 1_000_000
_EXIT_COLORS = {
    "stop_loss": "#d62728",
    "trailing_stop": "#ff7f0e",
    "take_profit": "#2ca02c",
    "break_even": "#9467bd",
    "time_exit": "#8c564b",
    "settlement": "#7f7f7f",
    "manual": "#17becf",
    "external": "#bcbd22",
}


# ---------------------------------------------------------------------------- levels from the monitor
def _ts(ns: Any) -> pd.Series:
    return pd.to_datetime(np.asarray(ns, dtype=np.int64), unit="ns", utc=True)


def _entries_of(result: ReplayResult, ticker: str) -> list[Entry]:
    """The positions the run opened in ``ticker``, at the price and time it opened them."""
    out = []
    for frame in (result.trades, result.open_positions):
        if frame is None or not len(frame) or "ticker" not in frame:
            continue
        rows = frame[frame["ticker"] == ticker]
        for r in rows.itertuples(index=False):
            price = None if pd.isna(r.entry_price) else round(float(r.entry_price) * ONE)
            out.append(
                Entry(ticker, int(pd.Timestamp(r.entry_ts).value), str(r.side), round(float(r.count) * 100), price)
            )
    return sorted(out, key=lambda e: e.entry_ns)


def market_levels(
    result: ReplayResult,
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | SweepData,
    ticker: str,
    *,
    rules: Protection | None = None,
    fill_model: FillModel | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replay ``ticker`` alone, quote by quote, with the run's rules and entries; return ``(prices, levels)``.

    ``prices``: ``ts``, ``yes_bid``, ``yes_ask`` (dollars) of every quote. ``levels``: one row whenever the
    monitor's view of the position changed: ``ts``, ``position_id``, ``side``, ``stop`` (the effective stop),
    ``stop_rule`` (which rule sets it), ``take_profit``, ``trailing_peak``, ``trailing_level`` (the stop when the
    trailing rule sets it), ``state`` -- all read from :meth:`Monitor.snapshot`.
    """
    prot = rules if rules is not None else result.settings.get("rules")
    latency_ms = float(result.settings.get("latency_ms", 0) or 0)
    fill = fill_model or FillModel(latency_ns=int(latency_ms * NS_PER_MS))
    book_quotes = bool(result.settings.get("book_quotes"))
    m = MarketReplay(
        ticker, protection=prot, fill_model=fill, entries=_entries_of(result, ticker), book_quotes=book_quotes
    )
    if book_quotes:  # the run took quotes from the order books, frame by frame: so does this
        if isinstance(source, SweepData):
            raise ConfigError("this replay took its quotes from order books: give the recording's paths, not data")
        steps = _frame_steps(source, ticker)
    else:
        sd = source if isinstance(source, SweepData) else load_data(source)
        arrays = sd.data.markets.get(ticker)
        if arrays is None:
            raise ConfigError(f"{ticker} is not in the data; markets: {', '.join(sorted(sd.data.markets)[:10])} ...")
        book = sd.data.books.get(ticker)
        if book is not None:
            m.add_book(book)  # exits fill against the recorded book, as in the run
        steps = _array_steps(ticker, arrays, sd.data.specials.get(ticker, []))
    rows: list[tuple[Any, ...]] = []
    last: tuple[Any, ...] | None = None
    quotes: list[tuple[int, int | None, int | None]] = []
    shown: list[Quote | None] = [None]

    def record(now: int) -> None:
        nonlocal last
        views = m.monitor.snapshot(now)
        v = views[0] if views else None
        key = (
            None if v is None else (v.position_id, v.side, v.stop, v.stop_rule, v.take_profit, v.trailing_peak, v.state)
        )
        if key != last:
            rows.append((now, *(key or (None,) * 7)))
            last = key
        q = m._quote
        if q is not None and q is not shown[0]:
            shown[0] = q
            quotes.append((q.recv_ns, q.yes_bid, q.yes_ask))

    for ns, ev in steps:
        if type(ev) is Quote:
            m._until(ns)  # entries, orders and deadlines due before this quote (on_quote would run them too)
            record(m.last_ns)
            m.on_quote(ev)
        else:
            m.on_event(ev, ns)
        record(ns)
    m.finish()
    record(m.last_ns)
    times = np.array([t for t, _, _ in quotes], dtype=np.int64)
    bid = np.array([-1 if b is None else b for _, b, _ in quotes], dtype=np.int64)
    ask = np.array([-1 if a is None else a for _, _, a in quotes], dtype=np.int64)
    prices = pd.DataFrame(
        {
            "ts": _ts(times),
            "yes_bid": np.where(bid >= 0, bid / ONE, np.nan),
            "yes_ask": np.where(ask >= 0, ask / ONE, np.nan),
        }
    )
    cols = ["now_ns", "position_id", "side", "stop", "stop_rule", "take_profit", "trailing_peak", "state"]
    levels = pd.DataFrame(rows, columns=cols)
    levels.insert(0, "ts", _ts(levels["now_ns"].to_numpy(dtype=np.int64)))
    for c in ("stop", "take_profit", "trailing_peak"):
        levels[c] = levels[c].astype("float64") / ONE
    levels["trailing_level"] = levels["stop"].where(levels["stop_rule"] == "trailing_stop")
    return prices, levels


def _array_steps(ticker: str, arrays: Any, specials: list[tuple[int, int, Any]]) -> Iterator[tuple[int, Any]]:
    """``(time, event)`` of one market's preloaded quotes and specials, in replay order."""
    specials = sorted(specials, key=lambda s: s[0])
    k = 0
    for j in range(len(arrays)):
        while k < len(specials) and specials[k][0] <= j:
            yield specials[k][1], specials[k][2]
            k += 1
        b, a = int(arrays.bid[j]), int(arrays.ask[j])
        bs, az, la = int(arrays.bid_size[j]), int(arrays.ask_size[j]), int(arrays.last[j])
        recv = int(arrays.recv[j])
        yield (
            recv,
            Quote(
                ticker,
                b if b >= 0 else None,
                a if a >= 0 else None,
                bs if bs >= 0 else None,
                az if az >= 0 else None,
                la if la >= 0 else None,
                exchange_ns=int(arrays.exch[j]),
                recv_ns=recv,
                source="replay",
            ),
        )
    for _, ns, ev in specials[k:]:
        yield ns, ev


def _frame_steps(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], ticker: str
) -> Iterator[tuple[int, Any]]:
    """``(time, event)`` of one market's frames, read one by one (quotes, order-book changes, lifecycle)."""
    from kalshikit.replay.sources import frame_events

    paths = [source] if isinstance(source, str | os.PathLike) else list(source)
    for ev, now in frame_events(paths):
        if ev.ticker == ticker:
            yield now, ev


def price_path(
    result: ReplayResult,
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | SweepData,
    ticker: str,
    *,
    rules: Protection | None = None,
    fill_model: FillModel | None = None,
) -> go.Figure:
    """One market: prices of the position's side, entry, stop / take-profit / trailing levels, triggers, exits."""
    prices, levels = market_levels(result, source, ticker, rules=rules, fill_model=fill_model)
    trades = result.trades[result.trades["ticker"] == ticker] if len(result.trades) else result.trades
    opened = result.open_positions
    sides = set(trades["side"]) if len(trades) else set()
    if len(opened) and "ticker" in opened:
        sides |= set(opened.loc[opened["ticker"] == ticker, "side"])
    side = "no" if sides == {"no"} else "yes"
    if side == "yes":
        bid, ask = prices["yes_bid"], prices["yes_ask"]
    else:  # levels and fills are prices of the NO contract: show the NO book
        bid, ask = 1 - prices["yes_ask"], 1 - prices["yes_bid"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=prices["ts"], y=bid, name=f"{side.upper()} bid", line={"shape": "hv", "width": 1}))
    fig.add_trace(
        go.Scatter(x=prices["ts"], y=ask, name=f"{side.upper()} ask", line={"shape": "hv", "width": 1, "dash": "dot"})
    )
    if len(levels):
        fig.add_trace(
            go.Scatter(
                x=levels["ts"],
                y=levels["stop"],
                name="stop (effective)",
                line={"shape": "hv", "color": "#d62728"},
                customdata=levels["stop_rule"],
                hovertemplate="%{x}<br>stop %{y:.4f} (%{customdata})<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=levels["ts"],
                y=levels["trailing_level"],
                name="trailing stop",
                line={"shape": "hv", "color": "#ff7f0e", "width": 3},
            )
        )
        fig.add_trace(
            go.Scatter(
                x=levels["ts"], y=levels["take_profit"], name="take-profit", line={"shape": "hv", "color": "#2ca02c"}
            )
        )
    if len(trades):
        fig.add_trace(
            go.Scatter(
                x=trades["entry_ts"],
                y=trades["entry_price"],
                mode="markers",
                name="entry",
                marker={"symbol": "triangle-up", "size": 12, "color": "#1f77b4"},
            )
        )
        trig = trades[trades["trigger_ts"].notna()]
        fig.add_trace(
            go.Scatter(
                x=trig["trigger_ts"],
                y=trig["trigger_price"],
                mode="markers",
                name="trigger",
                marker={"symbol": "circle-open", "size": 12, "color": "#000000"},
                customdata=trig["exit_reason"],
                hovertemplate="%{x}<br>%{customdata} at %{y:.4f}<extra></extra>",
            )
        )
        for reason, rows in trades.groupby("exit_reason"):
            fig.add_trace(
                go.Scatter(
                    x=rows["exit_ts"],
                    y=rows["exit_price"],
                    mode="markers",
                    name=f"exit: {reason}",
                    marker={"symbol": "x", "size": 12, "color": _EXIT_COLORS.get(str(reason), "#333333")},
                    customdata=np.stack([rows["pnl"], rows["slippage"].fillna(0)], axis=-1),
                    hovertemplate="%{x}<br>exit %{y:.4f}<br>pnl $%{customdata[0]:.2f}, slippage "
                    "%{customdata[1]:.4f}<extra></extra>",
                )
            )
    window = _window(prices["ts"], bid, ask, levels, trades)
    if window is not None:
        (x0, x1), (y0, y1) = window
        fig.update_xaxes(range=[x0, x1])
        fig.update_yaxes(range=[y0, y1])
    fig.update_layout(
        title=f"{ticker}: {side.upper()} price, rules and exits",
        xaxis_title="time (UTC)",
        yaxis_title=f"{side.upper()} price ($)",
        hovermode="closest",
        template="plotly_white",
    )
    return fig


def _window(
    ts: pd.Series, bid: pd.Series, ask: pd.Series, levels: pd.DataFrame, trades: pd.DataFrame
) -> tuple[tuple[Any, Any], tuple[float, float]] | None:
    """The initial view: the positions' lifetime with some margin (zoom out to see the whole market)."""
    if not len(trades) and not len(levels):
        return None
    starts = list(trades["entry_ts"]) if len(trades) else []
    ends = list(trades["exit_ts"]) if len(trades) else []
    held = levels[levels["state"].notna()] if len(levels) else levels
    if len(held):
        starts.append(held["ts"].min())
        ends.append(held["ts"].max())
    if not starts:
        return None
    t0, t1 = min(starts), max(ends)
    pad = max((t1 - t0) * 0.25, pd.Timedelta(seconds=5))
    x0, x1 = t0 - pad, t1 + pad
    inside = (ts >= x0) & (ts <= x1)
    values = [bid[inside], ask[inside]]
    if len(held):
        values += [held["stop"], held["take_profit"], held["trailing_level"]]
    if len(trades):
        values += [trades["entry_price"], trades["exit_price"], trades["trigger_price"]]
    flat = pd.concat([pd.Series(v, dtype="float64") for v in values]).dropna()
    if not len(flat):
        return (x0, x1), (0.0, 1.0)
    lo, hi = float(flat.min()), float(flat.max())
    margin = max((hi - lo) * 0.1, 0.01)
    return (x0, x1), (max(0.0, lo - margin), min(1.0, hi + margin))


# ---------------------------------------------------------------------------- equity
def equity_figure(result: ReplayResult | pd.DataFrame) -> go.Figure:
    """Cumulative net P&L by exit time (top) and the drawdown below its running peak (bottom)."""
    trades = result.trades if isinstance(result, ReplayResult) else result
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.05)
    if len(trades):
        curve = equity_curve(trades)
        fig.add_trace(
            go.Scatter(x=curve["exit_ts"], y=curve["equity"], name="equity", line={"shape": "hv"}), row=1, col=1
        )
        fig.add_trace(
            go.Scatter(x=curve["exit_ts"], y=curve["peak"], name="peak", line={"shape": "hv", "dash": "dot"}),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=curve["exit_ts"],
                y=curve["drawdown"],
                name="drawdown",
                fill="tozeroy",
                line={"shape": "hv", "color": "#d62728"},
            ),
            row=2,
            col=1,
        )
    fig.update_yaxes(title_text="net P&L ($)", row=1, col=1)
    fig.update_yaxes(title_text="drawdown ($)", row=2, col=1)
    fig.update_layout(title="Equity curve and drawdown", template="plotly_white", hovermode="x unified")
    return fig


# ---------------------------------------------------------------------------- sweeps
def sweep_heatmap(
    table: pd.DataFrame | Any,
    *,
    x: str = "stop",
    y: str = "take_profit",
    value: str = "pnl",
    where: Mapping[str, Any] | None = None,
    agg: str = "mean",
) -> go.Figure:
    """``value`` by ``x`` × ``y``. ``where`` keeps rows whose columns equal the given values (``None`` matches a
    rule that is off); every other dimension is aggregated with ``agg`` (mean, median, max, min, sum)."""
    df = table.table if hasattr(table, "table") else table
    for c in (x, y, value, *(where or {})):
        if c not in df.columns:
            raise ConfigError(f"sweep table has no column {c!r}; columns: {', '.join(map(str, df.columns))}")
    if agg not in ("mean", "median", "max", "min", "sum"):
        raise ConfigError(f"agg must be mean, median, max, min or sum, got {agg!r}")
    for col, want in (where or {}).items():
        df = df[df[col].isna()] if want is None else df[df[col] == want]
    if not len(df):
        raise ConfigError(f"no sweep rows match {dict(where or {})}")
    df = df.assign(**{x: df[x].astype(object).where(df[x].notna(), "off")})
    df = df.assign(**{y: df[y].astype(object).where(df[y].notna(), "off")})
    pivot = df.pivot_table(index=y, columns=x, values=value, aggfunc=agg)
    pivot = pivot.reindex(index=_order(pivot.index), columns=_order(pivot.columns))
    others = [c for c in _setting_columns(df) if c not in (x, y, *(where or {}))]
    note = f"{agg} over {', '.join(others)}" if others else "one setting per cell"
    sel = ", ".join(f"{k}={v if v is not None else 'off'}" for k, v in (where or {}).items())
    fig = go.Figure(
        go.Heatmap(
            z=pivot.to_numpy(dtype=float),
            x=[str(c) for c in pivot.columns],
            y=[str(i) for i in pivot.index],
            colorscale="RdYlGn",
            zmid=0.0 if value in ("pnl", "average_pnl", "hold_pnl") else None,
            colorbar={"title": value},
            hovertemplate=f"{x} %{{x}}<br>{y} %{{y}}<br>{value} %{{z:.4f}}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"{value} by {x} × {y}" + (f" ({sel})" if sel else "") + f" — {note}",
        xaxis_title=x,
        yaxis_title=y,
        xaxis_type="category",
        yaxis_type="category",
        template="plotly_white",
    )
    return fig


def _setting_columns(df: pd.DataFrame) -> list[str]:
    from kalshikit.replay.sweep import GRID_KEYS

    return [c for c in df.columns if c in GRID_KEYS]


def _order(values: Iterable[Any]) -> list[Any]:
    vals = list(values)
    return sorted(
        vals, key=lambda v: (0, -1.0) if v == "off" else (1, v) if isinstance(v, int | float) else (2, str(v))
    )


# ---------------------------------------------------------------------------- walk-forward
def _error_bars(mean: pd.Series, low: pd.Series, high: pd.Series) -> dict[str, Any]:
    return {"type": "data", "symmetric": False, "array": (high - mean).tolist(), "arrayminus": (mean - low).tolist()}


def walk_forward_figure(wf: WalkForwardResult) -> go.Figure:
    """Mean net P&L per market by fold: the chosen setting on the markets it was chosen on (in sample), on the
    next block (out of sample), and the best setting in hindsight on that block; bars are the bootstrap intervals.
    The last group pools every test block. A drop from in sample to out of sample is the optimism of choosing on
    the same data; a wide bar means few markets or very uneven ones."""
    f = wf.folds
    o = wf.overall
    x = [f"fold {n}" for n in f["fold"]] + ["all folds"]
    custom = np.array([*f["chosen"], o["chosen"].iloc[0]], dtype=object)
    hover = "%{x}<br>%{customdata}<br>mean %{y:.4f} $/market<extra>%{fullData.name}</extra>"
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x[:-1],
            y=f["train_mean"],
            error_y=_error_bars(f["train_mean"], f["train_low"], f["train_high"]),
            mode="markers",
            name="chosen, in sample (train)",
            marker={"size": 11, "color": "#1f77b4"},
            customdata=custom[:-1],
            hovertemplate=hover,
        )
    )
    test_mean = pd.concat([f["test_mean"], o["mean"].iloc[:1]], ignore_index=True)
    fig.add_trace(
        go.Scatter(
            x=x,
            y=test_mean,
            error_y=_error_bars(
                test_mean,
                pd.concat([f["test_low"], o["low"].iloc[:1]], ignore_index=True),
                pd.concat([f["test_high"], o["high"].iloc[:1]], ignore_index=True),
            ),
            mode="markers",
            name="chosen, out of sample (test)",
            marker={"size": 11, "color": "#d62728", "symbol": "diamond"},
            customdata=custom,
            hovertemplate=hover,
        )
    )
    hindsight = pd.concat([f["test_best_pnl"] / f["test_markets"], o["mean"].iloc[1:2]], ignore_index=True)
    no_bar = pd.Series([np.nan] * len(f))
    fig.add_trace(
        go.Scatter(
            x=x,
            y=hindsight,
            error_y=_error_bars(  # an interval for the pooled row only
                hindsight,
                pd.concat([no_bar, o["low"].iloc[1:2]], ignore_index=True),
                pd.concat([no_bar, o["high"].iloc[1:2]], ignore_index=True),
            ),
            mode="markers",
            name="best in hindsight on the test block",
            marker={"size": 9, "color": "#7f7f7f", "symbol": "x"},
            hovertemplate="%{x}<br>mean %{y:.4f} $/market<extra>best in hindsight</extra>",
        )
    )
    fig.add_hline(y=0, line={"color": "#999999", "width": 1})
    how = "anchored" if wf.rolling is None else f"rolling {wf.rolling}"
    ci = f"{wf.level:.0%} bootstrap intervals over markets" if wf.draws else "no intervals"
    fig.update_layout(
        title=f"Walk-forward ({len(f)} folds, {how}, select={wf.select}): mean P&L per market, {ci}",
        xaxis_title="fold (test block)",
        yaxis_title="net P&L per market ($)",
        template="plotly_white",
        hovermode="closest",
        scattermode="group",  # the three figures of a fold side by side, not on top of each other
    )
    return fig


WALK_FORWARD_COLUMNS = [
    "fold",
    "train_markets",
    "test_markets",
    "test_open_at_start",
    "setting",
    "chosen",
    "train_trades",
    "train_mean",
    "train_low",
    "train_high",
    "test_trades",
    "test_pnl",
    "test_mean",
    "test_low",
    "test_high",
    "test_rank",
]


def walk_forward_section(wf: WalkForwardResult) -> list[Any]:
    """A heading, the figure, the folds and the overall result, for :func:`save_html`."""
    return ["Walk-forward", walk_forward_figure(wf), wf.folds[WALK_FORWARD_COLUMNS], wf.overall]


# ---------------------------------------------------------------------------- gaps
# The gap report's columns, in reading order: result.gaps' columns (kalshikit.replay.results.GAP_COLUMNS) but the
# client_order_id.
GAP_TABLE_COLUMNS = [
    "ticker",
    "trigger",
    "attempt",
    "decided_ts",
    "arrival_ts",
    "trigger_price",
    "first_executable_bid",
    "fill_price",
    "worst_fill_price",
    "filled",
    "count",
    "book",
    "levels",
    "fills",
    "fee",
    "slippage",
]


def gap_table(result: ReplayResult) -> pd.DataFrame:
    """Per exit order: trigger price, first executable bid at arrival, average and worst fill, what it filled
    against (``book``: depth or top) and at which levels (``fills``), fee and slippage (dollars)."""
    g = result.gaps
    if not len(g):
        return pd.DataFrame(columns=GAP_TABLE_COLUMNS)
    return g[GAP_TABLE_COLUMNS].copy()


def gap_figure(result: ReplayResult) -> go.Figure:
    """Slippage per exit order over time (marker size: contracts filled), with the trigger, first executable bid,
    fill and fee in the hover; a histogram of slippage beside it."""
    g = gap_table(result)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.72, 0.28], subplot_titles=("per exit order", "distribution"))
    for trigger, rows in g.groupby("trigger") if len(g) else ():
        custom = np.stack(
            [
                rows["ticker"],
                rows["trigger_price"].fillna(np.nan),
                rows["first_executable_bid"].fillna(np.nan),
                rows["fill_price"].fillna(np.nan),
                rows["fee"],
                rows["filled"],
            ],
            axis=-1,
        )
        fig.add_trace(
            go.Scatter(
                x=rows["decided_ts"],
                y=rows["slippage"],
                mode="markers",
                name=str(trigger),
                marker={
                    "size": 6 + 14 * np.sqrt(rows["filled"] / max(1.0, float(g["filled"].max()))),
                    "color": _EXIT_COLORS.get(str(trigger), "#333333"),
                },
                customdata=custom,
                hovertemplate="%{customdata[0]}<br>trigger %{customdata[1]:.4f} · first bid %{customdata[2]:.4f}"
                "<br>fill %{customdata[3]:.4f} × %{customdata[5]} · fee $%{customdata[4]:.4f}"
                "<br>slippage %{y:.4f}<extra>%{fullData.name}</extra>",
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Histogram(
                y=rows["slippage"],
                name=str(trigger),
                showlegend=False,
                marker={"color": _EXIT_COLORS.get(str(trigger), "#333333")},
            ),
            row=1,
            col=2,
        )
    fig.update_yaxes(title_text="slippage ($, trigger − fill)", row=1, col=1)
    fig.update_layout(title="Trigger → fill gaps", template="plotly_white", barmode="stack")
    return fig


# ---------------------------------------------------------------------------- HTML
def save_html(
    items: go.Figure | pd.DataFrame | Sequence[go.Figure | pd.DataFrame | Note | str],
    path: str | os.PathLike[str],
    title: str = "kalshikit report",
) -> Path:
    """Write figures, tables (DataFrames), paragraphs (:class:`~kalshikit.replay.report_tables.Note`) and headings
    (str) into one standalone HTML file (plotly.js inlined)."""
    seq = [items] if isinstance(items, go.Figure | pd.DataFrame) else list(items)
    parts = []
    first = True
    for item in seq:
        if isinstance(item, go.Figure):
            parts.append(item.to_html(full_html=False, include_plotlyjs=first))
            first = False
        elif isinstance(item, pd.DataFrame):
            parts.append(item.to_html(index=False, border=0, classes="table", float_format=lambda v: f"{v:.4f}"))
        elif isinstance(item, Note):
            parts.append(f"<p>{html.escape(item.text)}</p>")
        else:
            parts.append(f"<h2>{html.escape(str(item))}</h2>")
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em} table{border-collapse:collapse;font-size:12px}"
        "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>" + "\n".join(parts) + "</body></html>"
    )
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(page, encoding="utf-8")
    return p


def summary_table(summary: Mapping[str, Any]) -> pd.DataFrame:
    """The summary dict as a two-column table (nested dicts flattened)."""
    rows: list[tuple[str, Any]] = []
    for k, v in summary.items():
        if isinstance(v, dict):
            rows.extend((f"{k}: {kk}", vv) for kk, vv in v.items())
        else:
            rows.append((k, v))
    return pd.DataFrame(rows, columns=["figure", "value"]).astype({"value": object})


def replay_report(
    result: ReplayResult,
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | SweepData | None,
    path: str | os.PathLike[str],
    *,
    max_markets: int = 6,
) -> Path:
    """The usual report of a replay: what produced it (sources, entries, rules, latency, fill model, fees, data and
    its date range), warnings, the summary (money in $, rates in %), equity and drawdown, the trades and the exit
    orders with their slippage (its sign explained), entries not replayed, and the price path of up to
    ``max_markets`` traded markets (needs ``source``)."""
    items: list[Any] = ["What produced this report", provenance(result)]
    warnings = result.summary.get("warnings") or []
    if warnings:
        items += ["Warnings", *[Note(w) for w in warnings]]
    items += ["Summary", summary_formatted(result.summary), equity_figure(result)]
    items += ["Trades", slippage_note(), formatted(result.trades)]
    items += [gap_figure(result), "Exit orders (trigger → fill)", formatted(gap_table(result))]
    if len(result.skipped):
        items += ["Entries not replayed", result.skipped]
    if source is not None and len(result.trades):
        tickers = list(dict.fromkeys(result.trades["ticker"]))[:max_markets]
        sd = source if isinstance(source, SweepData) else _history_data(source, result) or load_data(source)
        for t in tickers:
            items.append(price_path(result, sd, t))
    return save_html(items, path, title="kalshikit replay report")


def _history_data(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], result: ReplayResult
) -> SweepData | None:
    """A history dataset's candle quotes, made under the assumption the replay used (None for other sources)."""
    from kalshikit.history.dataset import is_history_dataset
    from kalshikit.history.quotes import replay_data

    paths = [source] if isinstance(source, str | os.PathLike) else list(source)
    if len(paths) != 1 or not is_history_dataset(paths[0]):
        return None
    return SweepData(replay_data(paths[0], result.settings.get("candles")), "parquet", (str(paths[0]),))
