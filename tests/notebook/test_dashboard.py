"""The dashboard's widgets: what they show for given snapshots (levels, states, stale prices, PROD), and the live
dashboard of a kit on the simulator over 127.0.0.1 (updates, controls, flatten confirmation, re-run, stop)."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kalshikit.config import Settings
from kalshikit.core.actions import Decision, PositionClosed
from kalshikit.core.monitor import PositionView
from kalshikit.live.kit import Kit
from kalshikit.live.ui_thread import KitSnapshot
from kalshikit.notebook import Dashboard, dashboards_of, fmt
from kalshikit.notebook.history import MarketHistory, PriceHistory
from kalshikit.sim import Simulator
from tests.conftest import eventually, kit_settings
from tests.notebook.nb_testkit import open_position

HAVE_ANYWIDGET = importlib.util.find_spec("anywidget") is not None
NS = 1_000_000_000
NOW = 1_778_508_000 * NS
T = "KXDASH-26DEC31-T50"
T2 = "KXDASH-26DEC31-T60"


def view(ticker: str = T, **kw: Any) -> PositionView:
    fields: dict[str, Any] = {
        "ticker": ticker,
        "position_id": f"{ticker}#1",
        "side": "yes",
        "count": 1000,
        "entry_price": 5000,
        "yes_bid": 5300,
        "yes_ask": 5400,
        "mark": 5300,
        "unrealized": 300_000,
        "realized": 0,
        "fees": 0,
        "state": "armed",
        "stop": 4800,
        "stop_rule": "trailing_stop",
        "take_profit": 6500,
        "trailing_peak": 5300,
        "time_exit_ns": None,
        "distance_to_trigger": 500,
        "nearest_trigger": "trailing_stop",
        "quote_recv_ns": NOW - NS // 2,
        "stale": False,
        "attempt": 0,
        "trigger": "",
        "market_status": "active",
        "rules": "SL 0.1000 from entry, TP 0.1500 from entry, trail 0.0500 from entry",
        "stop_loss_level": 4000,
        "trailing_level": 4800,
        "has_trailing": True,
    }
    fields.update(kw)
    return PositionView(**fields)


def snapshot(positions: tuple[PositionView, ...] = (), **kw: Any) -> KitSnapshot:
    fields: dict[str, Any] = {
        "now_ns": NOW,
        "env": "sim",
        "running": True,
        "paused": False,
        "positions": positions,
        "connection": {
            "state": "connected",
            "frames_per_s": 42.0,
            "reconnects": 3,
            "last_frame_age_s": 0.2,
            "last_error": "",
            "next_retry_in_s": None,
        },
        "rest": {},
        "monitor": {"uptime_s": 125.0, "exits_sent": 2, "exits_failed": 0, "last_error": ""},
        "strategy": {"last_error": ""},
        "recent": (),
        "realized_today": -1_250_000,
        "fees_today": 50_000,
    }
    fields.update(kw)
    if "unrealized" not in fields:
        fields["unrealized"] = sum(p.unrealized or 0 for p in positions)
    return KitSnapshot(**fields)


def text(html: str) -> str:
    """Visible text of rendered HTML (style blocks and tags removed, whitespace squeezed)."""
    html = re.sub(r"<style>.*?</style>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def row(dash: Dashboard, ticker: str) -> str:
    html = dash.table.widget.value
    assert f'data-ticker="{ticker}"' in html, text(html)
    return text(html.split(f'data-ticker="{ticker}"', 1)[1].split("</tr>", 1)[0].split(">", 1)[1])


@pytest.fixture
def idle_kit() -> Kit:
    """A kit that is never started: the dashboard renders whatever snapshots a test hands it."""
    return Kit(Settings.from_env(environ={"KALSHI_ENV": "sim"}, env_file=None))


# ---------------------------------------------------------------------------- given snapshots
def test_table_row_shows_prices_rules_levels_state_and_age(idle_kit: Kit) -> None:
    dash = Dashboard(idle_kit, chart=False)
    no = view(
        T2,
        side="no",
        entry_price=3900,
        yes_bid=5800,
        yes_ask=6000,
        mark=4000,
        unrealized=100_000,
        state="exit_sent",
        attempt=2,
        stop=3400,
        stop_rule="stop_loss",
        take_profit=5400,
        trailing_peak=None,
        distance_to_trigger=600,
        nearest_trigger="stop_loss",
        quote_recv_ns=NOW - 3 * NS,
        rules="SL 0.0500 from entry, TP 0.1500 from entry, trail 0.0300 from entry after +0.0500 from entry",
    )
    dash.update(snapshot((view(), no)))
    yes_row = row(dash, T)
    assert yes_row.split() == [
        T,
        "YES",
        "10",
        "0.50",
        "0.53",
        "0.54",
        "0.53",
        "+$0.30",  # entry, YES bid/ask, mark, unrealized
        "0.48",
        "trail",  # the effective stop is the trailing stop
        "0.65",  # take-profit
        "0.48",
        "peak",
        "0.53",  # trailing level where it ratcheted to, and its peak
        "–",  # no time exit
        "0.05",
        "trail",  # distance to the nearest trigger
        "armed",
        "0.5s",
    ]
    no_row = row(dash, T2)
    assert "NO" in no_row.split() and "0.34 SL" in no_row and "inactive" in no_row
    assert "exit sent #2" in no_row and "3.0s" in no_row
    # The most urgent row (an exit in flight) comes first; the footer totals the unrealized P&L.
    html = dash.table.widget.value
    assert html.index(f'data-ticker="{T2}"') < html.index(f'data-ticker="{T}"')
    assert "2 positions" in text(html) and "+$0.40" in text(html)


@pytest.mark.parametrize(
    ("state", "label"),
    [
        ("armed", "armed"),
        ("triggered", "triggered"),
        ("exit_sent", "exit sent"),
        ("closed", "closed"),
        ("failed", "failed"),
        ("disarmed", "disarmed"),
        ("unprotected", "no rules"),
    ],
)
def test_every_guard_state_has_a_label(idle_kit: Kit, state: str, label: str) -> None:
    dash = Dashboard(idle_kit, chart=False, controls=False)
    dash.update(snapshot((view(state=state),)))
    assert f'kk-st-{state}">{label}</span>' in dash.table.widget.value


def test_stale_prices_and_a_stale_feed_are_flagged(idle_kit: Kit) -> None:
    dash = Dashboard(idle_kit, chart=False, controls=False)
    stale = view(stale=True, quote_recv_ns=NOW - 75 * NS)
    unpriced = view(T2, quote_recv_ns=None, yes_bid=None, yes_ask=None, mark=None, unrealized=None, stale=True)
    dash.update(snapshot((stale, unpriced), connection={"state": "connected", "last_frame_age_s": 90.0}))
    assert row(dash, T).endswith("stale 1m15s")
    assert row(dash, T2).endswith("no price")
    health = text(dash.health.widget.value)
    assert "feed stale (no data for 1m30s)" in health and "positions 2 (2 stale)" in health

    dash.update(
        snapshot(
            (view(),),
            connection={
                "state": "reconnecting",
                "next_retry_in_s": 4.0,
                "reconnects": 5,
                "last_error": "ConnectionResetError: peer closed",
            },
        )
    )
    health = text(dash.health.widget.value)
    assert f"reconnecting — next try in 4.0s (at {fmt.clock(NOW + 4 * NS)} UTC)" in health
    assert "reconnects 5" in health and "last error: ConnectionResetError: peer closed" in health
    assert "stale" not in row(dash, T)


def test_environment_is_unmistakable_and_prod_is_loud(idle_kit: Kit) -> None:
    dash = Dashboard(idle_kit, chart=False, controls=False)
    for env in ("sim", "demo"):
        dash.update(snapshot(env=env))
        assert f'kk-env-{env}">{env.upper()}</span>' in dash.health.widget.value
        assert "REAL MONEY" not in dash.health.widget.value
    dash.update(snapshot(env="prod"))
    html = dash.health.widget.value
    assert 'kk-env-prod">PROD</span>' in html and 'class="kk-prod-banner">PRODUCTION — REAL MONEY' in html
    assert html.index('kk-prod-banner">') < html.index('kk-health">')  # the banner comes first


def test_health_strip_figures(idle_kit: Kit) -> None:
    dash = Dashboard(idle_kit, chart=False, controls=False)
    dash.update(snapshot((view(),), paused=True))
    health = text(dash.health.widget.value)
    for part in (
        "PAUSED — no new exits",
        "uptime 2m05s",
        "frames/s 42",
        "reconnects 3",
        "exits 2 sent, 0 failed",
        "unrealized +$0.30",
        "realized today −$1.25",
    ):
        assert part in health, (part, health)


def test_unchanged_snapshots_send_nothing(idle_kit: Kit) -> None:
    dash = Dashboard(idle_kit, chart=False, controls=False)
    dash.update(snapshot((view(),)))
    sends = (dash.table.sends, dash.health.sends)
    dash.update(snapshot((view(),)))
    assert (dash.table.sends, dash.health.sends) == sends
    dash.update(snapshot((view(yes_bid=5400, mark=5400),)))
    assert dash.table.sends == sends[0] + 1


def test_chart_draws_own_side_prices_levels_and_exit_markers(idle_kit: Kit) -> None:
    pytest.importorskip("anywidget", reason="plotly's FigureWidget needs anywidget (a dependency of the kit)")
    dash = Dashboard(idle_kit, select=T2)
    for k, bid in enumerate((5800, 5700, 6100, 6300)):
        v = view(
            T2,
            side="no",
            yes_bid=bid,
            yes_ask=bid + 100,
            entry_price=4000,
            stop=3500,
            stop_rule="stop_loss",
            trailing_peak=None,
            rules="SL 0.0500 from entry",
            take_profit=None,
            stop_loss_level=3500,
            trailing_level=None,
            has_trailing=False,
        )
        dash.update(snapshot((v,), now_ns=NOW + k * NS))
    closed = PositionClosed(
        T2,
        f"{T2}#1",
        "no",
        1000,
        4000,
        NOW - 60 * NS,
        NOW + 4 * NS,
        "stop_loss",
        NOW + 3 * NS,
        3500,
        3400,
        -600_000,
        20_000,
    )
    trigger = Decision(T2, f"{T2}#1", "trigger", NOW + 3 * NS, "stop_loss", 3500, 3500)
    dash.update(snapshot((), now_ns=NOW + 4 * NS, recent=(trigger, closed)))
    dash.update(snapshot((), now_ns=NOW + 5 * NS, recent=(trigger, closed)))  # seen twice, drawn once
    fig = dash.chart.figure
    assert fig is not None
    by_name = {t.name: t for t in fig.data}
    assert [round(y, 4) for y in by_name["bid"].y] == [0.41, 0.42, 0.38, 0.36]  # NO bid = 1 − YES ask
    assert [round(y, 4) for y in by_name["ask"].y] == [0.42, 0.43, 0.39, 0.37]
    assert set(by_name["stop-loss"].y) == {0.35} and set(by_name["entry"].y) == {0.40}
    assert list(by_name["trigger"].y) == [0.35] and list(by_name["exit fill"].y) == [0.34]
    assert list(by_name["bid"].x) == [-4.0, -3.0, -2.0, -1.0]  # seconds before the last redraw (the exit)
    assert "closed" in fig.layout.title.text and "NO side" in fig.layout.title.text


def test_history_is_bounded_and_keeps_the_newest_points() -> None:
    h = MarketHistory(T, points=300)
    for i in range(1000):
        h.add(i, (i, None, 5000, None, None, None), heartbeat_ns=NS)
    assert len(h) == 300
    assert list(h.times()) == list(range(700, 1000))
    assert h.column("bid") == list(range(700, 1000)) and set(h.column("ask")) == {None}
    hist = PriceHistory(points=10, markets=3)
    for i in range(5):
        hist.add_snapshot(snapshot((view(f"KX-{i}"),), now_ns=NOW + i))
    assert list(hist.markets) == ["KX-2", "KX-3", "KX-4"]


def test_rule_levels_are_the_monitors_own() -> None:
    v = view(stop=5100, stop_rule="trailing_stop", stop_loss_level=4000, trailing_level=5100, take_profit=6500)
    assert fmt.rule_levels(v) == {"stop_loss": 4000, "trailing": 5100, "take_profit": 6500}
    v = view(stop_loss_level=4000, trailing_level=None, has_trailing=True, trailing_peak=None)
    assert fmt.rule_levels(v)["trailing"] is None and fmt.has_trailing(v)  # armed, not yet activated
    assert not fmt.has_trailing(view(has_trailing=False))
    assert (fmt.price(6300), fmt.price(9950), fmt.price(5), fmt.count(250), fmt.money(-480_000)) == (
        "0.63",
        "0.995",
        "0.0005",
        "2.5",
        "−$0.48",
    )


def test_dashboard_displays_as_a_widget(idle_kit: Kit) -> None:
    dash = Dashboard(idle_kit)
    bundle = dash._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == dash.widget.model_id


def test_a_never_started_kit_shows_stopped(idle_kit: Kit) -> None:
    dash = Dashboard(idle_kit)
    assert dash.state == "stopped" and not dash.listening
    assert "STOPPED" in text(dash.health.widget.value)
    assert dash.controls is not None and dash.controls.arm.disabled


# ---------------------------------------------------------------------------- a live kit on the simulator
@pytest.fixture
def exchange() -> Iterator[Simulator]:
    sim = Simulator(heartbeat_s=0.5)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def kit(exchange: Simulator, tmp_path: Path) -> Iterator[Kit]:
    exchange.add_market(T, yes_bid=5000, yes_ask=5100, yes_bid_size=50_000, yes_ask_size=50_000)
    exchange.add_market(T2, yes_bid=6000, yes_ask=6100, yes_bid_size=50_000, yes_ask_size=50_000)
    k = Kit(kit_settings(exchange), journal_path=tmp_path / "journal.sqlite")
    k.start()
    yield k
    k.stop()


def held(sim: Simulator, ticker: str) -> int:
    p = sim.position(ticker)
    return 0 if p is None else p.count


def test_live_dashboard_follows_the_exchange(exchange: Simulator, kit: Kit) -> None:
    open_position(exchange, kit, T)
    kit.protect(T, stop=0.10, trailing=0.05)
    dash = kit.dashboard()
    assert dash.listening and dash.state == "live"
    eventually(lambda: row(dash, T).split()[4:6] == ["0.50", "0.51"], what="first prices in the table")
    exchange.set_quote(T, 5600, 5700, 50_000, 50_000)
    eventually(lambda: row(dash, T).split()[4:6] == ["0.56", "0.57"], what="the new quote in the table")
    eventually(lambda: "0.51 peak 0.56" in row(dash, T), what="the trailing stop ratcheted to 0.56 − 0.05")
    assert "feed connected" in text(dash.health.widget.value)
    assert dash.selected == T  # the only position is charted without being chosen
    if not HAVE_ANYWIDGET:
        pytest.skip("plotly's FigureWidget needs anywidget (a dependency of the kit): the chart is not drawn")
    fig = dash.chart.figure
    assert fig is not None
    eventually(lambda: 0.56 in list(fig.data[0].y), what="the new bid in the chart")
    assert fig.data[4].y[-1] == pytest.approx(0.51)  # the trailing level line


def test_controls_arm_rules_and_show_the_kits_refusals(exchange: Simulator, kit: Kit) -> None:
    open_position(exchange, kit, T)
    dash = kit.dashboard(chart=False)
    c = dash.controls
    assert c is not None
    c.select(None)
    assert not c.arm_rules() and "Choose a position first" in c.message.value
    c.select(T)
    assert not c.arm_rules() and "Give at least one rule" in c.message.value
    c.stop.value = "0.9"
    assert not c.arm_rules()
    assert "kk-msg-error" in c.message.value and "below $0" in c.message.value  # the RuleError
    c.stop.value = "abc"
    assert not c.arm_rules() and "is not a number of dollars" in text(c.message.value)
    c.stop.value, c.exit_in.value = "0.10", "soon"
    assert not c.arm_rules() and "is not a number of minutes" in text(c.message.value)
    c.exit_in.value = ""
    c.mode.value = "price"
    c.stop.value, c.take_profit.value = "0.60", "0.40"  # absolute: a stop above the take-profit
    assert not c.arm_rules() and "at or below the stop-loss" in text(c.message.value)
    c.stop.value, c.take_profit.value, c.trailing.value = "0.42", "0.70", "0.04"
    assert c.arm_rules(), c.message.value
    assert "kk-msg-ok" in c.message.value
    pos = kit.positions().iloc[0]
    assert (pos["state"], pos["take_profit"]) == ("armed", pytest.approx(0.70))
    eventually(lambda: "0.70" in row(dash, T).split(), what="the take-profit in the table")
    assert c.remove_rules()
    eventually(lambda: kit.positions().iloc[0]["state"] == "unprotected", what="rules removed")


def test_flatten_asks_for_confirmation_first(exchange: Simulator, kit: Kit) -> None:
    open_position(exchange, kit, T)
    open_position(exchange, kit, T2)
    dash = kit.dashboard(chart=False)
    c = dash.controls
    assert c is not None
    c.select(T)
    assert c.ask_flatten()
    assert c.confirm_box.layout.display == "flex" and "Flatten 10 YES in " + T in text(c.confirm_text.value)
    kit.sync()
    assert held(exchange, T) == 1000  # nothing sent before confirming
    c.cancel_flatten()
    assert c.confirm_box.layout.display == "none" and "cancelled" in c.message.value
    assert not c.confirm_flatten() and held(exchange, T) == 1000
    assert c.ask_flatten()
    c.select(T2)  # choosing another position withdraws the question
    assert c.confirm_box.layout.display == "none" and not c.confirm_flatten()
    c.select(T)
    assert c.ask_flatten() and c.confirm_flatten(), c.message.value
    eventually(lambda: held(exchange, T) == 0, what="flat on the exchange")
    assert held(exchange, T2) == 1000
    eventually(lambda: f'data-ticker="{T}"' not in dash.table.widget.value, what="the row to go")


def test_pause_and_resume_from_the_dashboard(exchange: Simulator, kit: Kit) -> None:
    open_position(exchange, kit, T)
    dash = kit.dashboard(chart=False)
    c = dash.controls
    assert c is not None and c.pause.description == "Pause monitor"
    assert c.toggle_pause()
    assert kit.snapshot().paused or eventually(lambda: kit.snapshot().paused)
    assert c.pause.description == "Resume monitor"
    eventually(lambda: "PAUSED" in text(dash.health.widget.value), what="PAUSED in the health strip")
    assert c.toggle_pause()
    eventually(lambda: not kit.snapshot().paused and "running" in text(dash.health.widget.value))
    assert c.pause.description == "Pause monitor"


def test_rerunning_the_cell_replaces_the_old_dashboard(exchange: Simulator, kit: Kit) -> None:
    open_position(exchange, kit, T)
    first = kit.dashboard()
    eventually(lambda: first.updates > 2, what="first dashboard updating")
    second = kit.dashboard()  # the cell ran again
    assert first.state == "replaced" and not first.listening
    assert "replaced by a newer dashboard" in text(first.health.widget.value)
    assert first.controls is not None and first.controls.arm.disabled
    other = kit.dashboard(name="second-screen")  # another name: both stay live
    assert dashboards_of(kit) == {"main": second, "second-screen": other}
    frozen = first.updates
    eventually(lambda: second.updates > 3 and other.updates > 3, what="both live dashboards updating")
    assert first.updates == frozen
    other.close()
    assert dashboards_of(kit) == {"main": second} and other.state == "closed"


def test_stops_updating_and_says_stopped_after_kit_stop(exchange: Simulator, kit: Kit) -> None:
    open_position(exchange, kit, T)
    dash = kit.dashboard()
    eventually(lambda: dash.updates > 1, what="updates")
    kit.stop()
    assert dash.state == "stopped" and not dash.listening
    assert "STOPPED" in text(dash.health.widget.value)
    assert dash.controls is not None and dash.controls.arm.disabled and dash.controls.flatten.disabled
    done = dash.updates
    kit.sync()  # returns (pytest-timeout bounds it) and refreshes nothing
    assert dash.updates == done


def test_a_dashboard_that_keeps_failing_stops_listening(exchange: Simulator, kit: Kit) -> None:
    dash = kit.dashboard(chart=False)
    eventually(lambda: dash.updates > 1, what="updates")
    broken = snapshot(("not a position view",), unrealized=0)  # what a bug in rendering would look like
    with dash._lock:  # no live update can reset the count of failures in between
        for _ in range(9):
            dash._on_snapshot(broken)
        assert dash.listening and dash.failures == 9 and "AttributeError" in dash.last_error
        dash._on_snapshot(broken)
        assert not dash.listening and dash.state == "failed"
    assert "failed — this dashboard no longer updates (AttributeError" in text(dash.health.widget.value)

    def two_more_snapshots() -> None:
        seen = kit.snapshot().now_ns
        eventually(lambda: kit.snapshot().now_ns > seen, what="a new kit snapshot")
        seen = kit.snapshot().now_ns
        eventually(lambda: kit.snapshot().now_ns > seen, what="another kit snapshot")

    two_more_snapshots()  # an update that was waiting for the lock may still land
    frozen = dash.updates
    two_more_snapshots()
    assert dash.updates == frozen and dash.state == "failed"


# ---------------------------------------------------------------------------- issue 11
def kit_with_stale_limit(seconds: float) -> Kit:
    env = {"KALSHI_ENV": "sim", "WEBSOCKET_PRICE_CACHE_STALE_SECS": str(seconds)}
    return Kit(Settings.from_env(environ=env, env_file=None))


def test_stale_rows_use_the_configured_limit() -> None:
    tight = Dashboard(kit_with_stale_limit(5), chart=False, controls=False)
    ten_seconds_old = view(quote_recv_ns=NOW - 10 * NS, stale=False)
    tight.update(snapshot((ten_seconds_old, view(T2, quote_recv_ns=NOW - 2 * NS))))
    assert row(tight, T).endswith("stale 10s") and f'kk-is-stale" data-ticker="{T}"' in tight.table.widget.value
    assert row(tight, T2).endswith("2.0s")
    assert "positions 2 (1 stale)" in text(tight.health.widget.value)
    loose = Dashboard(kit_with_stale_limit(120), chart=False, controls=False)
    loose.update(snapshot((view(quote_recv_ns=NOW - 75 * NS, stale=False),)))
    assert row(loose, T).endswith("1m15s") and "stale" not in row(loose, T)


def test_a_rule_not_armed_is_shown_under_its_row_and_in_the_health_strip(idle_kit: Kit) -> None:
    dash = Dashboard(idle_kit, chart=False, controls=False)
    why = "stop-loss 0.6000 from entry resolves to -0.1000 for an entry at 0.5000: below $0"
    dash.update(snapshot((view(rules_rejected=why), view(T2))))
    html = dash.table.widget.value
    assert f"⚠ rules not armed on {T} (the others are): {why}" in text(html)
    assert "rules not armed" not in text(html.split(f'data-ticker="{T2}"', 1)[1])
    assert row(dash, T).split()[-3:] == ["armed", "⚠", "0.5s"]  # and marked in its guard cell
    assert f"rules not armed on 1 position: {T}" in text(dash.health.widget.value)


def test_the_chart_follows_the_window_width() -> None:
    pytest.importorskip("anywidget", reason="plotly's FigureWidget needs anywidget (a dependency of the kit)")
    from kalshikit.notebook.chart import PositionChart

    fig = PositionChart().figure
    assert fig is not None
    # plotly.js re-measures the container on every window resize only with this option (an anywidget view of a
    # FigureWidget does not listen for resizes itself); a fixed width would stop it.
    assert fig._config.get("responsive") is True and fig.layout.width is None


def test_controls_refuse_a_crossed_level_unless_exit_now_is_ticked(exchange: Simulator, kit: Kit) -> None:
    open_position(exchange, kit, T)  # entry 0.50, bid 0.50
    dash = kit.dashboard(chart=False)
    c = dash.controls
    assert c is not None
    c.select(T)
    c.mode.value = "price"
    c.stop.value = "0.95"  # a typo for 0.45: it would sell at once
    assert not c.arm_rules()
    message = text(c.message.value)
    assert "stop-loss 0.9500 is at or above the current price 0.5000" in message, message
    assert "nothing was changed" in message and "Tick “Exit now if a level is already crossed”" in message
    kit.sync()
    assert held(exchange, T) == 1000 and kit.positions().iloc[0]["state"] == "unprotected"
    c.allow_immediate.value = True
    assert c.arm_rules(), c.message.value
    assert not c.allow_immediate.value  # for that one arming only
    eventually(lambda: held(exchange, T) == 0, what="the exit the user asked for")


def test_controls_show_the_selected_positions_rules(exchange: Simulator, kit: Kit) -> None:
    open_position(exchange, kit, T)
    open_position(exchange, kit, T2)  # entry 0.50, bid 0.60
    kit.protect(T, stop=0.10, take_profit=0.15, trailing=0.05, exit_before_close_s=300)
    kit.protect(T2, stop_price=0.55)
    dash = kit.dashboard(chart=False)
    c = dash.controls
    assert c is not None

    def inputs() -> tuple[str, ...]:
        return (c.mode.value, c.stop.value, c.take_profit.value, c.trailing.value, c.exit_before_close.value)

    dash.select(T)
    eventually(lambda: inputs() == ("distance", "0.10", "0.15", "0.05", "5"), what=f"{T}'s rules in the inputs")
    assert "SL 0.1000 from entry" in text(c.current.value)
    dash.select(T2)
    eventually(lambda: inputs() == ("price", "0.55", "", "", ""), what=f"{T2}'s rules in the inputs")
    dash.select(T)
    eventually(lambda: inputs()[1] == "0.10", what=f"back to {T}")
    c.mode.value = "price"  # the same rules as prices
    assert inputs() == ("price", "0.40", "0.65", "0.05", "5")
    c.stop.value = "0.42"  # the user's own edit is not overwritten by the next updates, nor by a mode change
    c.mode.value = "distance"
    seen = dash.updates
    eventually(lambda: dash.updates > seen + 2, what="a few more updates")
    assert c.stop.value == "0.42" and c.mode.value == "distance"
