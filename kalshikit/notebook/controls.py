"""The dashboard's controls: pick a position, arm or change its rules (stop-loss, take-profit, trailing stop, time
exit), remove them, flatten it after a confirmation, and pause or resume the monitor.

Every button calls the same public ``Kit`` method a script would (``protect``, ``unprotect``, ``flatten``,
``pause``, ``resume``); what the kit refuses (a ``RuleError`` and the like) is shown next to the inputs, in the
kit's own words. A level the current price already crosses is refused too (it would sell at once: a typo like 0.95
for 0.45 must not dump the position) unless "Exit now if a level is already crossed" is ticked for that one arming.
Choosing a position fills the inputs with its current rules, so changing one rule keeps the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets

from kalshikit.core.rules import Level
from kalshikit.errors import CrossedLevelError, KalshiKitError
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
        self._filled: tuple[Any, ...] | None = None  # (ticker, rules, entry) the inputs were last filled from
        self._filled_values: dict[str, str] = {}
        self._filling = False
        self._refreshing = False
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
        self.inputs = {
            "stop": self.stop,
            "take_profit": self.take_profit,
            "trailing": self.trailing,
            "exit_in": self.exit_in,
            "exit_before_close": self.exit_before_close,
        }
        self.current = widgets.HTML()
        self.current.add_class("kk-current-rules")
        self.allow_immediate = widgets.Checkbox(
            value=False,
            description="Exit now if a level is already crossed",
            indent=False,
            layout=widgets.Layout(width="300px"),
        )
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
        self.mode.observe(self._mode_changed, names="value")
        self.arm.on_click(lambda _b: self.arm_rules())
        self.disarm.on_click(lambda _b: self.remove_rules())
        self.flatten.on_click(lambda _b: self.ask_flatten())
        self.confirm.on_click(lambda _b: self.confirm_flatten())
        self.cancel.on_click(lambda _b: self.cancel_flatten())
        self.pause.on_click(lambda _b: self.toggle_pause())
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.position, self.mode]),
                self.current,
                widgets.HBox([self.stop, self.take_profit, self.trailing, self.exit_in, self.exit_before_close]),
                widgets.HBox([self.arm, self.allow_immediate, self.disarm, self.flatten, self.pause]),
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
            self._refreshing = True  # the same choice, in a new list: not a new choice
            try:
                self.position.options = options
                self.position.value = current
            finally:
                self._refreshing = False
        self._show_rules()
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
        if self._refreshing:
            return
        if self._pending_flatten is not None and change["new"] != self._pending_flatten:
            self.cancel_flatten()
        self.allow_immediate.value = False  # "exit now" was meant for the position it was ticked for
        self._show_rules()
        self._on_select(self.selected)

    # ------------------------------------------------------------------ the selected position's rules
    def _show_rules(self) -> None:
        """Fill the inputs with the selected position's rules when they (or the choice) changed since the last fill;
        what the user typed in between stays until then."""
        ticker = self.selected
        v = self._views.get(ticker) if ticker is not None else None
        key = (ticker, None if v is None else v.protection, None if v is None else v.entry_price)
        if key == self._filled:
            return
        self._filled = key
        if v is None:  # nothing chosen (empty inputs), or a position that just closed (left as it was)
            self.current.value = ""
            if ticker is None:
                self._fill({name: "" for name in self.inputs})
            return
        text = f"Current rules: {fmt.esc(v.rules or 'none')}"
        if v.rules_rejected:
            text += f' — <span style="{MSG_STYLE["error"]}">not armed: {fmt.esc(v.rules_rejected)}</span>'
        self.current.value = f'<span style="{MSG_STYLE["info"]}">{text}</span>'
        p = v.protection
        if p is not None:
            kinds = {lv.kind for lv in (p.stop_loss, p.take_profit) if lv is not None}
            self._filling = True
            try:
                self.mode.value = "price" if "price" in kinds else "distance"
            finally:
                self._filling = False
        self._fill(rule_inputs(v, self.mode.value == "price", time.time_ns()))

    def _fill(self, values: dict[str, str]) -> None:
        for name, widget in self.inputs.items():
            widget.value = values.get(name, "")
        self._filled_values = {name: w.value for name, w in self.inputs.items()}

    def _mode_changed(self, _change: dict[str, Any]) -> None:
        """Switching between distances and prices shows the current rules the other way, unless the user has typed
        something of their own since they were shown."""
        if self._filling or {n: w.value for n, w in self.inputs.items()} != self._filled_values:
            return
        v = self._views.get(self.selected) if self.selected is not None else None
        if v is not None:
            self._fill(rule_inputs(v, self.mode.value == "price", time.time_ns()))

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
            now = self.allow_immediate.value
            self.kit.protect(ticker, allow_immediate=now, **rules)
        except CrossedLevelError as exc:
            self.say(
                "error",
                f"{ticker}: {'; '.join(exc.crossed)}: arming it would sell at once, so nothing was changed. Tick "
                "“Exit now if a level is already crossed” to exit now, or choose levels the price has not reached.",
            )
            return False
        except (KalshiKitError, RuntimeError) as exc:
            self.say("error", str(exc))
            return False
        self.allow_immediate.value = False  # one arming only: the next one is checked again
        shown = ", ".join(f"{k}={v}" for k, v in rules.items() if k != "time_exit_at_ns")
        if "time_exit_at_ns" in rules:
            shown += (", " if shown else "") + f"exit at {fmt.clock(rules['time_exit_at_ns'])} UTC"
        note = " Exit now was allowed: a level the price already crosses exits at once." if now else ""
        self.say("ok", f"Rules set on {ticker}: {shown}.{note}")
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


def rule_inputs(view: Any, as_price: bool, now_ns: int) -> dict[str, str]:
    """The input texts that re-arm ``view``'s current rules: stop and take-profit as distances from the entry or as
    prices (``as_price``), the trailing distance, and the time exits in minutes. A rule the inputs cannot express
    (a trailing stop given as a fraction, say) is left empty; the current rules are shown above the inputs."""
    p = view.protection
    out = {"stop": "", "take_profit": "", "trailing": "", "exit_in": "", "exit_before_close": ""}
    if p is None:
        return out
    entry = view.entry_price
    out["stop"] = _level_text(p.stop_loss, view.stop_loss_level, entry, -1, as_price)
    out["take_profit"] = _level_text(p.take_profit, view.take_profit, entry, +1, as_price)
    if p.trailing is not None and p.trailing.distance.kind == "distance":
        out["trailing"] = fmt.price(p.trailing.distance.value)
    if p.time_exit is not None:
        if p.time_exit.before_close_s is not None:
            out["exit_before_close"] = f"{p.time_exit.before_close_s / 60:g}"
        if p.time_exit.at_ns is not None:
            out["exit_in"] = f"{max(0, p.time_exit.at_ns - now_ns) / NS_PER_MIN:.1f}"
    return out


def _level_text(level: Level | None, resolved: int | None, entry: int | None, direction: int, as_price: bool) -> str:
    """One stop or take-profit level as an input text (dollars): its price, or its distance from the entry."""
    if level is None:
        return ""
    if as_price:
        price = resolved if resolved is not None else (level.value if level.kind == "price" else None)
        return "" if price is None else fmt.price(price)
    if level.kind == "distance":
        return fmt.price(level.value)
    if resolved is None or entry is None or (resolved - entry) * direction <= 0:
        return ""  # no distance from the entry says it (a stop above the entry): shown as a price instead
    return fmt.price(abs(resolved - entry))


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
