"""Protective rules for a position, and how they resolve to price levels.

All levels are prices of the position's *own* side, in $0.0001 units: for a long YES position the YES price, for a
long NO position the NO price (= 1 − YES price). A stop triggers when the mark falls to or below its level; a
take-profit when the mark rises to or above its level; a trailing stop when the mark falls ``distance`` below the
best mark seen since it activated (it only ever ratchets in the position's favour).

Levels can be given three ways (:class:`Level`): an absolute ``price``, a ``distance`` from the entry price in
dollars, or a ``fraction`` of the entry price (parts per million, so 20% = 200_000).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from kalshikit.errors import RuleError
from kalshikit.units import PRICE_SCALE

ONE = PRICE_SCALE
PPM = 1_000_000
NS_PER_S = 1_000_000_000

TriggerSource = Literal["bid", "last", "mid"]
StalePolicy = Literal["hold", "confirm", "fire"]
TRIGGER_SOURCES: tuple[TriggerSource, ...] = ("bid", "last", "mid")
STALE_POLICIES: tuple[StalePolicy, ...] = ("hold", "confirm", "fire")


def dollars_to_price(value: float | str | Decimal | int, what: str = "price") -> int:
    """A dollar amount given by a user (``0.1``, ``"0.10"``) to price units, exactly; rejects sub-$0.0001 digits."""
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise RuleError(f"{what} {value!r} is not a number of dollars") from None
    if not d.is_finite():
        raise RuleError(f"{what} {value!r} is not a finite number of dollars")
    units = d * ONE
    if units != units.to_integral_value():
        raise RuleError(f"{what} {value!r} has more precision than $0.0001")
    return int(units)


def fraction_to_ppm(value: float | str | Decimal, what: str = "fraction") -> int:
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise RuleError(f"{what} {value!r} is not a number") from None
    if not d.is_finite():
        raise RuleError(f"{what} {value!r} is not finite")
    return int((d * PPM).to_integral_value())


@dataclass(frozen=True)
class Level:
    """How a threshold is given: ``price`` (absolute), ``distance`` (from entry) or ``fraction`` (of entry, ppm)."""

    kind: Literal["price", "distance", "fraction"]
    value: int

    @classmethod
    def price(cls, dollars: float | str | Decimal | int) -> Level:
        return cls("price", dollars_to_price(dollars, "price level"))

    @classmethod
    def distance(cls, dollars: float | str | Decimal | int) -> Level:
        return cls("distance", dollars_to_price(dollars, "distance"))

    @classmethod
    def fraction(cls, fraction: float | str | Decimal) -> Level:
        return cls("fraction", fraction_to_ppm(fraction))

    def __post_init__(self) -> None:
        if self.kind not in ("price", "distance", "fraction"):
            raise RuleError(f"level kind must be price, distance or fraction, got {self.kind!r}")
        if self.kind == "price" and not 0 <= self.value <= ONE:
            raise RuleError(f"price level {self.value / ONE:.4f} is outside $0..$1")
        if self.kind != "price" and self.value <= 0:
            raise RuleError(f"{self.kind} must be positive, got {self.describe()}")
        if self.kind == "distance" and self.value >= ONE:
            raise RuleError(f"a distance of ${self.value / ONE:.4f} is not possible: prices move within $0..$1")

    def resolve(self, entry: int, direction: int) -> int:
        """The price level for a position entered at ``entry``; ``direction`` -1 below entry (stops), +1 above."""
        if self.kind == "price":
            return self.value
        if self.kind == "distance":
            return entry + direction * self.value
        return entry + direction * (entry * self.value // PPM)

    def describe(self) -> str:
        if self.kind == "price":
            return f"@{self.value / ONE:.4f}"
        if self.kind == "distance":
            return f"{self.value / ONE:.4f} from entry"
        return f"{self.value / PPM:.2%} of entry"


@dataclass(frozen=True)
class Trailing:
    """A trailing stop ``distance`` (a distance or fraction Level) below the best mark since activation.

    ``activation``: optional Level resolved above entry; the stop starts trailing once the mark reaches it.
    """

    distance: Level
    activation: Level | None = None

    def __post_init__(self) -> None:
        if self.distance.kind == "price":
            raise RuleError("a trailing distance must be a distance or fraction, not an absolute price")


@dataclass(frozen=True)
class TimeExit:
    """Exit at ``at_ns`` (UTC ns), or ``before_close_s`` seconds before the market closes (whichever is first)."""

    at_ns: int | None = None
    before_close_s: int | None = None

    def __post_init__(self) -> None:
        if self.at_ns is None and self.before_close_s is None:
            raise RuleError("a time exit needs at_ns or before_close_s")
        if self.before_close_s is not None and self.before_close_s < 0:
            raise RuleError(f"before_close_s must be >= 0, got {self.before_close_s}")

    def deadline(self, close_ns: int | None) -> int | None:
        times = [t for t in (self.at_ns, None if close_ns is None else self._before(close_ns)) if t is not None]
        return min(times) if times else None

    def _before(self, close_ns: int) -> int | None:
        return None if self.before_close_s is None else close_ns - self.before_close_s * NS_PER_S


@dataclass(frozen=True)
class BreakEven:
    """Once the mark has gained ``after`` (a Level above entry), move the stop up to entry + ``offset``."""

    after: Level
    offset: int = 0  # price units above entry (may be negative)


@dataclass(frozen=True)
class Protection:
    """Every rule protecting one position, and how the monitor should act on them."""

    stop_loss: Level | None = None
    take_profit: Level | None = None
    trailing: Trailing | None = None
    time_exit: TimeExit | None = None
    break_even: BreakEven | None = None
    trigger_source: TriggerSource = "bid"
    stale_policy: StalePolicy = "confirm"
    stale_after_ns: int = 60 * NS_PER_S
    max_slippage: int | None = None  # how far below the trigger (own side) an exit may sell; None = sweep the book
    max_attempts: int = 5
    retry_interval_ns: int = NS_PER_S
    confirm_timeout_ns: int = 5 * NS_PER_S
    tags: tuple[str, ...] = field(default=())
    # Fields the user left to the settings (STALE_PRICE_POLICY, WEBSOCKET_PRICE_CACHE_STALE_SECS, EXIT_MAX_ATTEMPTS,
    # EXIT_MAX_SLIPPAGE): whoever arms the rules fills them in with :meth:`with_settings`.
    from_settings: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.trigger_source not in TRIGGER_SOURCES:
            raise RuleError(f"trigger_source must be one of {TRIGGER_SOURCES}, got {self.trigger_source!r}")
        if self.stale_policy not in STALE_POLICIES:
            raise RuleError(f"stale_policy must be one of {STALE_POLICIES}, got {self.stale_policy!r}")
        if self.max_attempts < 1:
            raise RuleError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.stale_after_ns <= 0 or self.retry_interval_ns <= 0 or self.confirm_timeout_ns <= 0:
            raise RuleError("stale_after_ns, retry_interval_ns and confirm_timeout_ns must be positive")
        if self.max_slippage is not None and not 0 <= self.max_slippage <= ONE:
            raise RuleError(f"max_slippage must be within $0..$1, got {self.max_slippage}")
        if self.take_profit is not None and self.take_profit.kind != "price" and self.take_profit.value <= 0:
            raise RuleError("take_profit distance/fraction must be positive")

    def with_settings(
        self, *, stale_policy: StalePolicy, stale_after_ns: int, max_attempts: int, max_slippage: int | None
    ) -> Protection:
        """These rules with every field the user left open taken from the settings (fields the user gave stay)."""
        given = {
            "stale_policy": stale_policy,
            "stale_after_ns": stale_after_ns,
            "max_attempts": max_attempts,
            "max_slippage": max_slippage,
        }
        changes = {k: v for k, v in given.items() if k in self.from_settings}
        return replace(self, **changes, from_settings=frozenset())  # type: ignore[arg-type]

    @property
    def is_empty(self) -> bool:
        return not (self.stop_loss or self.take_profit or self.trailing or self.time_exit or self.break_even)

    def resolve(self, entry: int) -> ResolvedLevels:
        """Resolve the price-based rules against an entry price, rule by rule (cached: a protection is immutable).
        See :meth:`_resolve`."""
        return _resolve_cached(self, entry)

    def _resolve(self, entry: int) -> ResolvedLevels:
        """Resolve the price-based rules against an entry price, rule by rule.

        A rule that cannot apply to this entry is left out and named in ``rejected`` with the reason; the others
        stay armed (a bad take-profit never disarms the stop). A take-profit at or beyond $1 is no take-profit
        (there is nothing to take), not an error. When a stop and a take-profit cross each other, the stop stays.
        """
        rejected: list[tuple[str, str]] = []
        at = f"for an entry at {entry / ONE:.4f}"
        stop = self.stop_loss.resolve(entry, -1) if self.stop_loss else None
        if stop is not None and not 0 <= stop < ONE:
            what = "below $0" if stop < 0 else "at or above $1, so it would fire at once"
            desc = self.stop_loss.describe() if self.stop_loss else ""
            rejected.append(("stop_loss", f"stop-loss {desc} resolves to {stop / ONE:.4f} {at}: {what}"))
            stop = None
        tp = self.take_profit.resolve(entry, +1) if self.take_profit else None
        if tp is not None and tp >= ONE:
            tp = None  # nothing above $1 to take
        elif tp is not None and tp <= 0:
            rejected.append(("take_profit", f"take-profit resolves to {tp / ONE:.4f} {at}: at or below $0"))
            tp = None
        if stop is not None and tp is not None and stop >= tp:
            rejected.append(
                ("take_profit", f"take-profit {tp / ONE:.4f} is at or below the stop-loss {stop / ONE:.4f} {at}")
            )
            tp = None
        activation = None
        if self.trailing and self.trailing.activation:
            activation = self.trailing.activation.resolve(entry, +1)
            if activation >= ONE:
                rejected.append(
                    ("trailing_stop", f"trailing activation resolves to {activation / ONE:.4f} {at}: it can never "
                     "be reached below $1")
                )
                activation = None
        be_at = be_stop = None
        if self.break_even:
            be_at = self.break_even.after.resolve(entry, +1)
            be_stop = entry + self.break_even.offset
            if not 0 <= be_stop < ONE or be_at >= ONE:
                why = f"its stop {be_stop / ONE:.4f} is outside $0..$1" if not 0 <= be_stop < ONE else (
                    f"its activation {be_at / ONE:.4f} can never be reached below $1")
                rejected.append(("break_even", f"break-even {at}: {why}"))
                be_at = be_stop = None
        trailing_ok = self.trailing is not None and not any(r == "trailing_stop" for r, _ in rejected)
        return ResolvedLevels(stop, tp, activation, be_at, be_stop, trailing_ok, tuple(rejected))

    def check(self, entry: int) -> ResolvedLevels:
        """:meth:`resolve`, but raise :class:`RuleError` naming every rule that cannot apply (for a user's
        explicit request, where a silent partial arming would surprise)."""
        levels = self.resolve(entry)
        if levels.rejected:
            raise RuleError("; ".join(reason for _, reason in levels.rejected) + " — change or drop that rule")
        return levels

    def trail_gap(self, peak: int) -> int:
        """How far below ``peak`` the trailing stop sits."""
        assert self.trailing is not None
        d = self.trailing.distance
        return d.value if d.kind == "distance" else peak * d.value // PPM


@dataclass(frozen=True)
class ResolvedLevels:
    """A protection resolved against one entry price (own-side price units). ``None`` = that rule is not armed."""

    stop: int | None
    take_profit: int | None
    trail_activation: int | None
    break_even_at: int | None
    break_even_stop: int | None
    trailing: bool = False  # the trailing stop is armed (it may still wait for its activation)
    rejected: tuple[tuple[str, str], ...] = ()  # (rule, reason) of each rule that could not be armed

    @property
    def armed_any(self) -> bool:
        return (
            self.stop is not None
            or self.take_profit is not None
            or self.trailing
            or self.break_even_at is not None
        )


def protection(
    *,
    stop: float | str | None = None,
    stop_price: float | str | None = None,
    stop_fraction: float | str | None = None,
    take_profit: float | str | None = None,
    take_profit_price: float | str | None = None,
    take_profit_fraction: float | str | None = None,
    trailing: float | str | None = None,
    trailing_fraction: float | str | None = None,
    trailing_activation: float | str | None = None,
    time_exit_at_ns: int | None = None,
    exit_before_close_s: int | None = None,
    break_even_after: float | str | None = None,
    break_even_offset: float | str = 0,
    trigger_source: TriggerSource = "bid",
    stale_policy: StalePolicy | None = None,
    stale_after_s: float | None = None,
    max_slippage: float | str | None = None,
    max_attempts: int | None = None,
) -> Protection:
    """Friendly constructor with dollar arguments: ``stop=0.10`` is a 10-cent stop below entry,
    ``stop_price=0.40`` an absolute level, ``stop_fraction=0.2`` 20% below entry (same for take-profit);
    ``trailing=0.05`` trails 5 cents below the best mark, optionally from ``trailing_activation`` (a gain in dollars).

    ``stale_policy``, ``stale_after_s``, ``max_attempts`` and ``max_slippage`` left out are taken from the settings
    (STALE_PRICE_POLICY, WEBSOCKET_PRICE_CACHE_STALE_SECS, EXIT_MAX_ATTEMPTS, EXIT_MAX_SLIPPAGE) by the kit that
    arms the rules; until then they hold the settings' defaults (confirm, 60 s, 5, none).
    """

    def one(name: str, options: dict[str, Level | None]) -> Level | None:
        given = [k for k, v in options.items() if v is not None]
        if len(given) > 1:
            raise RuleError(f"give only one of {', '.join(options)} for the {name}; got {', '.join(given)}")
        return next((v for v in options.values() if v is not None), None)

    stop_level = one(
        "stop-loss",
        {
            "stop": Level.distance(stop) if stop is not None else None,
            "stop_price": Level.price(stop_price) if stop_price is not None else None,
            "stop_fraction": Level.fraction(stop_fraction) if stop_fraction is not None else None,
        },
    )
    tp_level = one(
        "take-profit",
        {
            "take_profit": Level.distance(take_profit) if take_profit is not None else None,
            "take_profit_price": Level.price(take_profit_price) if take_profit_price is not None else None,
            "take_profit_fraction": Level.fraction(take_profit_fraction) if take_profit_fraction is not None else None,
        },
    )
    trail_level = one(
        "trailing stop",
        {
            "trailing": Level.distance(trailing) if trailing is not None else None,
            "trailing_fraction": Level.fraction(trailing_fraction) if trailing_fraction is not None else None,
        },
    )
    trail = None
    if trail_level is not None:
        activation = Level.distance(trailing_activation) if trailing_activation is not None else None
        trail = Trailing(trail_level, activation)
    elif trailing_activation is not None:
        raise RuleError("trailing_activation needs trailing= or trailing_fraction=")
    time_exit = None
    if time_exit_at_ns is not None or exit_before_close_s is not None:
        time_exit = TimeExit(time_exit_at_ns, exit_before_close_s)
    be = None
    if break_even_after is not None:
        be = BreakEven(Level.distance(break_even_after), dollars_to_price(break_even_offset, "break_even_offset"))
    open_fields = frozenset(
        name
        for name, value in (
            ("stale_policy", stale_policy),
            ("stale_after_ns", stale_after_s),
            ("max_attempts", max_attempts),
            ("max_slippage", max_slippage),
        )
        if value is None
    )
    if stale_after_s is None:
        stale_after_s = 60.0
    if not stale_after_s > 0:
        raise RuleError(f"stale_after_s must be > 0, got {stale_after_s}")
    return Protection(
        stop_loss=stop_level,
        take_profit=tp_level,
        trailing=trail,
        time_exit=time_exit,
        break_even=be,
        trigger_source=trigger_source,
        stale_policy=stale_policy or "confirm",
        stale_after_ns=int(stale_after_s * NS_PER_S),
        max_slippage=dollars_to_price(max_slippage, "max_slippage") if max_slippage is not None else None,
        max_attempts=5 if max_attempts is None else max_attempts,
        from_settings=open_fields,
    )


def _level_to_dict(level: Level | None) -> dict[str, Any] | None:
    return None if level is None else {"kind": level.kind, "value": level.value}


def _level_from_dict(d: dict[str, Any] | None) -> Level | None:
    return None if d is None else Level(d["kind"], int(d["value"]))


def protection_to_dict(p: Protection) -> dict[str, Any]:
    """A JSON-safe dict of a Protection (for the journal)."""
    return {
        "stop_loss": _level_to_dict(p.stop_loss),
        "take_profit": _level_to_dict(p.take_profit),
        "trailing": None
        if p.trailing is None
        else {"distance": _level_to_dict(p.trailing.distance), "activation": _level_to_dict(p.trailing.activation)},
        "time_exit": None
        if p.time_exit is None
        else {"at_ns": p.time_exit.at_ns, "before_close_s": p.time_exit.before_close_s},
        "break_even": None
        if p.break_even is None
        else {"after": _level_to_dict(p.break_even.after), "offset": p.break_even.offset},
        "trigger_source": p.trigger_source,
        "stale_policy": p.stale_policy,
        "stale_after_ns": p.stale_after_ns,
        "max_slippage": p.max_slippage,
        "max_attempts": p.max_attempts,
        "retry_interval_ns": p.retry_interval_ns,
        "confirm_timeout_ns": p.confirm_timeout_ns,
        "tags": list(p.tags),
        "from_settings": sorted(p.from_settings),
    }


def protection_from_dict(d: dict[str, Any]) -> Protection:
    """Inverse of :func:`protection_to_dict`; validates like the constructor."""
    trailing = d.get("trailing")
    time_exit = d.get("time_exit")
    be = d.get("break_even")
    distance = _level_from_dict(trailing["distance"]) if trailing else None
    after = _level_from_dict(be["after"]) if be else None
    return Protection(
        stop_loss=_level_from_dict(d.get("stop_loss")),
        take_profit=_level_from_dict(d.get("take_profit")),
        trailing=Trailing(distance, _level_from_dict(trailing.get("activation"))) if trailing and distance else None,
        time_exit=TimeExit(time_exit.get("at_ns"), time_exit.get("before_close_s")) if time_exit else None,
        break_even=BreakEven(after, int(be.get("offset", 0))) if be and after else None,
        trigger_source=d.get("trigger_source", "bid"),
        stale_policy=d.get("stale_policy", "confirm"),
        stale_after_ns=int(d.get("stale_after_ns", 60 * NS_PER_S)),
        max_slippage=d.get("max_slippage"),
        max_attempts=int(d.get("max_attempts", 5)),
        retry_interval_ns=int(d.get("retry_interval_ns", NS_PER_S)),
        confirm_timeout_ns=int(d.get("confirm_timeout_ns", 5 * NS_PER_S)),
        tags=tuple(d.get("tags", ())),
        from_settings=frozenset(d.get("from_settings", ())),
    )


@functools.lru_cache(maxsize=4096)
def _resolve_cached(p: Protection, entry: int) -> ResolvedLevels:
    return p._resolve(entry)


def crossed_rules(
    p: Protection, levels: ResolvedLevels, mark: int | None, now_ns: int, close_ns: int | None
) -> list[str]:
    """The rules that the current own-side ``mark`` (or the clock) already crosses: arming them would exit at once.
    Each entry says which rule, its level and the mark."""
    out: list[str] = []
    if mark is not None:
        if levels.stop is not None and mark <= levels.stop:
            out.append(f"stop-loss {levels.stop / ONE:.4f} is at or above the current price {mark / ONE:.4f}")
        if levels.take_profit is not None and mark >= levels.take_profit:
            out.append(
                f"take-profit {levels.take_profit / ONE:.4f} is at or below the current price {mark / ONE:.4f}"
            )
    if p.time_exit is not None:
        deadline = p.time_exit.deadline(close_ns)
        if deadline is not None and now_ns >= deadline:
            out.append("the time exit has already passed")
    return out
