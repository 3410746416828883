"""The dashboard's controls: pick a position, arm or change its rules (stop-loss, take-profit, trailing stop, time
exit), remove them, flatten it after a confirmation, and pause or resume the monitor.

Every button calls the same public ``Kit`` method a script would (``protect``, ``unprotect``, ``flatten``,
``pause``, ``resume``); what the kit refuses (a ``RuleError`` and the like) is shown next to the inputs, in the
kit's own words.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets

from kalshikit.errors import KalshiKitError
from kalshikit.notebook import fmt

NS_PER_MIN = 60 * 1_000_000_000
MSG_STYLE = {"ok": "color:#0a7a32", "error": "color:#b3261e;font-weight:600", "info": "color:#555"}


def _text(description: str, placeholder: str, width: str = "150px") -> widgets.Text:
    return widgets.Text(
        description=description,
        placeholder=placeholder,
        continuous_update=False,
        style={"description_width": "initial"},
        layout=widgets.Layout(width=width),
    )


class Controls:
    """Widgets that act on ``kit``; ``on_select(ticker)`` is called when the chosen position changes."""

    def __init__(self, kit: Any, on_select: Callable[[str | None], None]) -> None:
        self.kit = kit
        self._on_select = on_select
        self._tickers: tuple[str, ...] = ()
        self._views: dict[str, Any] = {}
        self._pending_flatten: str | None = None
        self._paused = False
        self._enabled = True
        self.position = widgets.Dropdown(
            description="Position", options=[("—", None)], value=None, layout=widgets.Layout(width="400px")
        )
        self.mode = widgets.ToggleButtons(
            options=[("distance from entry", "distance"), ("absolute price", "price")],
            value="distance",
            description="Levels as",
            style={"description_width": "initial", "button_width": "150px"},
        )
        self.stop = _text("Stop", "0.05")
        self.take_profit = _text("Take-profit", "0.10")
        self.trailing = _text("Trailing", "0.03 (distance)", "170px")
        self.exit_in = _text("Exit in (min)", "30", "130px")
        self.exit_before_close = _text("before close (min)", "5", "160px")
        wide = widgets.Layout(width="180px")
        self.arm = widgets.Button(description="Arm / change rules", button_style="primary", icon="shield", layout=wide)
        self.disarm = widgets.Button(description="Remove rules", icon="times")
        self.flatten = widgets.Button(description="Flatten…", button_style="danger", icon="sign-out")
        self.confirm = widgets.Button(description="Confirm flatten", button_style="danger")
        self.cancel = widgets.Button(description="Cancel")
        self.confirm_text = widgets.HTML()
        self.confirm_box = widgets.HBox(
            [self.confirm_text, self.confirm, self.cancel], layout=widgets.Layout(display="none")
        )
        self.pause = widgets.Button(description="Pause monitor", icon="pause", button_style="warning")
        self.message = widgets.HTML()
        self.message.add_class("kk-message")
        self.position.observe(self._selected, names="value")
        self.arm.on_click(lambda _b: self.arm_rules())
        self.disarm.on_click(lambda _b: self.remove_rules())
        self.flatten.on_click(lambda _b: self.ask_flatten())
        self.confirm.on_click(lambda _b: self.confirm_flatten())
        self.cancel.on_click(lambda _b: self.cancel_flatten())
        self.pause.on_click(lambda _b: self.toggle_pause())
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.position, self.mode]),
                widgets.HBox([self.stop, self.take_profit, self.trailing, self.exit_in, self.exit_before_close]),
                widgets.HBox([self.arm, self.disarm, self.flatten, self.pause]),
                self.confirm_box,
                self.message,
            ]
        )
        self.widget.add_class("kk-controls")

    # ------------------------------------------------------------------ fed from snapshots
    @property
    def selected(self) -> str | None:
        value = self.position.value
        return value if isinstance(value, str) else None

    def update(self, positions: Sequence[Any], paused: bool, running: bool) -> None:
        """Refresh the choice of positions and the pause button (only what changed is sent)."""
        self._views = {v.ticker: v for v in positions}
        tickers = tuple(sorted(self._views))
        if tickers != self._tickers:
            self._tickers = tickers
            current = self.selected
            options: list[tuple[str, str | None]] = [("—", None)]
            options += [(f"{t} ({(self._views[t].side or '?').upper()})", t) for t in tickers]
            if current is not None and current not in self._views:
                options.append((f"{current} (closed)", current))
            self.position.options = options
            self.position.value = current
        if paused != self._paused:
            self._show_paused(paused)
        if running != self._enabled:
            self._enabled = running
            for w in (self.arm, self.disarm, self.flatten, self.confirm, self.pause):
                w.disabled = not running
            if not running:
                self.cancel_flatten()
                self.say("info", "The kit is stopped: start it and display a new dashboard to act again.")

    def _show_paused(self, paused: bool) -> None:
        self._paused = paused
        self.pause.description = "Resume monitor" if paused else "Pause monitor"
        self.pause.icon = "play" if paused else "pause"
        self.pause.button_style = "success" if paused else "warning"

    def select(self, ticker: str | None) -> None:
        if ticker is not None and ticker not in {o[1] for o in self.position.options}:
            self.position.options = [*self.position.options, (ticker, ticker)]
        self.position.value = ticker

    def _selected(self, change: dict[str, Any]) -> None:
        if self._pending_flatten is not None and change["new"] != self._pending_flatten:
            self.cancel_flatten()
        self._on_select(self.selected)

    # ------------------------------------------------------------------ actions (kernel thread)
    def say(self, kind: str, text: str) -> None:
        self.message.value = f'<span class="kk-msg-{kind}" style="{MSG_STYLE[kind]}">{fmt.esc(text)}</span>'

    def rules(self) -> dict[str, Any]:
        """The keyword arguments for ``kit.protect`` from the inputs (strings go to the kit, which validates)."""
        rules: dict[str, Any] = {}
        as_price = self.mode.value == "price"
        for widget, distance_key, price_key in (
            (self.stop, "stop", "stop_price"),
            (self.take_profit, "take_profit", "take_profit_price"),
        ):
            value = widget.value.strip()
            if value:
                rules[price_key if as_price else distance_key] = value
        if trailing := self.trailing.value.strip():
            rules["trailing"] = trailing
        if exit_in := self.exit_in.value.strip():
            rules["time_exit_at_ns"] = time.time_ns() + int(_minutes(exit_in, "exit in") * NS_PER_MIN)
        if before := self.exit_before_close.value.strip():
            rules["exit_before_close_s"] = int(_minutes(before, "exit before close") * 60)
        return rules

    def arm_rules(self) -> bool:
        ticker = self.selected
        if ticker is None:
            self.say("error", "Choose a position first.")
            return False
        try:
            rules = self.rules()
            if not rules:
                self.say("error", "Give at least one rule (stop, take-profit, trailing or a time exit).")
                return False
            self.kit.protect(ticker, **rules)
        except (KalshiKitError, RuntimeError) as exc:
            self.say("error", str(exc))
            return False
        shown = ", ".join(f"{k}={v}" for k, v in rules.items() if k != "time_exit_at_ns")
        if "time_exit_at_ns" in rules:
            shown += (", " if shown else "") + f"exit at {fmt.clock(rules['time_exit_at_ns'])} UTC"
        self.say("ok", f"Rules set on {ticker}: {shown}.")
        return True

    def remove_rules(self) -> bool:
        ticker = self.selected
        if ticker is None:
            self.say("error", "Choose a position first.")
            return False
        try:
            self.kit.unprotect(ticker)
        except (KalshiKitError, RuntimeError) as exc:
            self.say("error", str(exc))
            return False
        self.say("ok", f"Rules removed from {ticker}: the monitor no longer exits it.")
        return True

    def ask_flatten(self) -> bool:
        ticker = self.selected
        if ticker is None:
            self.say("error", "Choose a position to flatten first.")
            return False
        v = self._views.get(ticker)
        what = f"{fmt.count(v.count)} {(v.side or '?').upper()} in " if v is not None else ""
        self._pending_flatten = ticker
        self.confirm_text.value = (
            f'<b style="color:#b3261e">Flatten {fmt.esc(what)}{fmt.esc(ticker)} now</b> with an aggressive '
            "reduce-only IOC order?&nbsp;"
        )
        self.confirm_box.layout.display = "flex"
        self.say("info", "Confirm or cancel the flatten.")
        return True

    def confirm_flatten(self) -> bool:
        ticker = self._pending_flatten
        self.cancel_flatten(quiet=True)
        if ticker is None:
            self.say("error", "Nothing to confirm: press Flatten… first.")
            return False
        try:
            self.kit.flatten(ticker)
        except (KalshiKitError, RuntimeError) as exc:
            self.say("error", str(exc))
            return False
        self.say("ok", f"Flatten sent for {ticker}; watch its guard go to 'exit sent', then the row disappear.")
        return True

    def cancel_flatten(self, quiet: bool = False) -> None:
        was = self._pending_flatten
        self._pending_flatten = None
        self.confirm_box.layout.display = "none"
        if was is not None and not quiet:
            self.say("info", f"Flatten of {was} cancelled.")

    def toggle_pause(self) -> bool:
        try:
            if self._paused:
                self.kit.resume()
                self._show_paused(False)
                self.say("ok", "Monitor resumed: rules fire again.")
            else:
                self.kit.pause()
                self._show_paused(True)
                self.say("ok", "Monitor paused: no new exits start (orders in flight still resolve).")
        except (KalshiKitError, RuntimeError) as exc:
            self.say("error", str(exc))
            return False
        return True


def _minutes(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _InputError(f"{what}: {text!r} is not a number of minutes") from None
    if not value >= 0:
        raise _InputError(f"{what}: {text!r} must be a number of minutes >= 0")
    return value


class _InputError(KalshiKitError, ValueError):
    """An input the dashboard itself could not read (shown like the kit's own RuleError)."""
