"""The guard of one position: its rules' state machine, timers and flags, moved only by :data:`TABLE`.

States (``None`` = the position has no rules armed):

- ARMED: rules are watched.
- TRIGGERED: a rule fired; the exit is about to go out, waits for a price confirmation (stale policy ``confirm``)
  or waits to retry the remainder after a partial fill.
- EXIT_SENT: an exit order is in flight (or its outcome is unknown and being looked up); no second exit is sent.
- CLOSED: the position is flat (exited, settled or closed elsewhere). Terminal.
- FAILED: the exit was rejected, or ``max_attempts`` exits in a row filled nothing; a person should look (re-arm,
  flatten or unprotect). After futile attempts the exit is tried again every ``FAILED_RETRY`` (a position whose stop
  fired is never left alone for good); after a rejection it waits for the person. An exit that keeps selling part
  of the position each time keeps going: only futile attempts count.
- DISARMED: the market is closed, paused or determined; rules wait (for re-opening or settlement).

Every move is ``(state, GuardEvent) -> (new state, effects)`` in :data:`TABLE`; anything else raises
:class:`~kalshikit.errors.IllegalTransition`. The effects are the guard's own bookkeeping (trigger details, exit
attempt counters, timers), applied by :meth:`Guard.handle` and nowhere else: no other code writes a guard's state.
What the monitor does *outside* the guard (send an order, ask for a REST price) it decides from the move.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kalshikit.core.rules import Protection, ResolvedLevels
from kalshikit.errors import IllegalTransition


class GuardState(StrEnum):
    ARMED = "armed"
    TRIGGERED = "triggered"
    EXIT_SENT = "exit_sent"
    CLOSED = "closed"
    FAILED = "failed"
    DISARMED = "disarmed"


class GuardEvent(StrEnum):
    ARM = "arm"  # rules (re-)armed on an open market
    ARM_HALTED = "arm_halted"  # rules (re-)armed while the market does not trade
    FIRE = "fire"  # a rule crossed on a usable price (or a flatten / time exit): exit now
    CONFIRM = "confirm"  # a rule crossed on a stale price: read a fresh one first
    CONFIRM_AGAIN = "confirm_again"  # no fresh price within the confirm timeout: ask again
    NOT_CONFIRMED = "not_confirmed"  # the fresh price does not cross: back to watching
    SEND = "send"  # an exit order is placed
    WAIT = "wait"  # a retry is due but there is no bid to sell into: wait for one (or the next deadline)
    PARTIAL = "partial"  # the exit order finished with contracts left: retry the remainder
    LOOKUP = "lookup"  # the exit's outcome is unknown: look it up (again) later
    RESOLVED = "resolved"  # the exit's outcome is known again (the order exists, or was re-sent)
    REJECTED = "rejected"  # the exit was refused for good, or never reached the exchange
    EXHAUSTED = "exhausted"  # out of exit attempts
    HALT = "halt"  # the market closed, paused or was determined
    REOPEN = "reopen"  # the market trades again
    FLAT = "flat"  # the position is flat
    UNPROTECT = "unprotect"  # the user removed the rules


A, T, S, C, F, D = (
    GuardState.ARMED,
    GuardState.TRIGGERED,
    GuardState.EXIT_SENT,
    GuardState.CLOSED,
    GuardState.FAILED,
    GuardState.DISARMED,
)
E = GuardEvent
_ANY_OPEN = (None, A, T, S, F, D)

# Effects (methods of Guard, applied in order):
#   reset_ratchets  trailing peak and break-even start over (new rules or a new entry price)
#   start_trigger   remember which rule fired, at what mark and when; a new exit episode (attempts from 0)
#   await_confirm   wait for a fresh price until confirm_at
#   end_confirm     stop waiting for a confirmation
#   start_exit      one more attempt and a never-used sequence number for the order's id; the order is in flight
#   end_exit        no order in flight any more
#   schedule_retry  retry the remainder at retry_at (or on the next quote with a bid); an attempt that filled
#                   something starts the count of futile attempts again. From FAILED: the next try of the exit
#   schedule_lookup look the unknown order up at lookup_at
#   end_lookup      no lookup pending
#   clear_timers    nothing scheduled (confirm, retry, lookup)
#   note_halt       remember why the rules wait
TABLE: dict[tuple[GuardState | None, GuardEvent], tuple[GuardState | None, tuple[str, ...]]] = {
    **{(s, E.ARM): (A, ("clear_timers", "reset_ratchets")) for s in (None, A, T, F, D)},
    **{(s, E.ARM_HALTED): (D, ("clear_timers", "reset_ratchets")) for s in (None, A, T, F, D)},
    **{(s, E.FIRE): (T, ("end_confirm", "start_trigger")) for s in (A, T, F, D)},
    (A, E.CONFIRM): (T, ("start_trigger", "await_confirm")),
    (T, E.CONFIRM_AGAIN): (T, ("await_confirm",)),
    (T, E.NOT_CONFIRMED): (A, ("end_confirm",)),
    (T, E.SEND): (S, ("clear_timers", "start_exit")),
    (S, E.PARTIAL): (T, ("end_exit", "end_lookup", "schedule_retry")),
    (S, E.LOOKUP): (S, ("schedule_lookup",)),
    (S, E.RESOLVED): (S, ("end_lookup",)),
    (S, E.REJECTED): (F, ("end_exit", "end_lookup")),
    (T, E.WAIT): (T, ("schedule_retry",)),
    (T, E.EXHAUSTED): (F, ("clear_timers", "schedule_retry")),
    **{(s, E.HALT): (D, ("clear_timers", "end_confirm", "note_halt")) for s in (A, T, F)},
    (S, E.HALT): (D, ("end_exit", "clear_timers", "note_halt")),
    (D, E.REOPEN): (A, ()),
    **{(s, E.FLAT): (C, ("end_exit", "clear_timers")) for s in _ANY_OPEN},
    **{(s, E.UNPROTECT): (None, ("clear_timers",)) for s in (A, F, D)},
}


NAMES: dict[GuardState | None, str] = {None: "unprotected", **{st: st.value for st in GuardState}}


def _name(state: GuardState | None) -> str:
    return NAMES[state]


def allowed_events(state: GuardState | None) -> list[GuardEvent]:
    return [e for (s, e) in TABLE if s is state]


@dataclass
class Guard:
    """Everything the monitor keeps about protecting one position. Only :meth:`handle` changes ``state``."""

    protection: Protection | None = None
    levels: ResolvedLevels | None = None
    _state: GuardState | None = None
    peak: int | None = None  # trailing stop: best own-side mark since activation
    break_even_active: bool = False
    trigger: str = ""
    trigger_mark: int | None = None
    trigger_ns: int | None = None
    attempt: int = 0  # exit attempts in a row that filled nothing, plus the one in flight (bounded by max_attempts)
    sequence: int = 0  # every exit order of this position, ever: makes each client_order_id unique
    exit_order: str | None = None  # client_order_id of the exit in flight
    awaiting_confirm: bool = False
    confirm_at: int | None = None
    retry_at: int | None = None
    lookup_at: int | None = None
    held_stale: bool = False  # a crossing on a stale price was held (policy hold); said once
    disarm_reason: str = ""
    rejected: tuple[tuple[str, str], ...] = field(default=())  # rules that could not be armed, with the reason

    @property
    def state(self) -> GuardState | None:
        return self._state

    # ------------------------------------------------------------------ the one way to move
    def handle(
        self,
        event: GuardEvent,
        now: int,
        *,
        trigger: str = "",
        mark: int | None = None,
        order: str | None = None,
        reason: str = "",
        retry_ns: int = 0,
        confirm_ns: int = 0,
        lookup_ns: int = 0,
        progressed: bool = False,
    ) -> tuple[GuardState | None, GuardState | None]:
        """Apply ``event``; returns the (old, new) states. Raises IllegalTransition when the table has no such move
        from the current state."""
        move = TABLE.get((self._state, event))
        if move is None:
            allowed = ", ".join(e.value for e in allowed_events(self._state)) or "none (terminal)"
            raise IllegalTransition(
                f"guard in state {_name(self._state)} cannot handle {event.value}; allowed: {allowed}"
            )
        new, effects = move
        old = self._state
        for effect in effects:
            if effect == "reset_ratchets":
                self.peak = None
                self.break_even_active = False
                self.held_stale = False
            elif effect == "start_trigger":
                self.trigger, self.trigger_mark, self.trigger_ns = trigger, mark, now
                self.attempt = 0
                self.held_stale = False
            elif effect == "await_confirm":
                self.awaiting_confirm = True
                self.confirm_at = now + confirm_ns
            elif effect == "end_confirm":
                self.awaiting_confirm = False
                self.confirm_at = None
            elif effect == "start_exit":
                self.attempt += 1
                self.sequence += 1
                self.exit_order = order
            elif effect == "end_exit":
                self.exit_order = None
            elif effect == "schedule_retry":
                self.retry_at = now + retry_ns
                if progressed:
                    self.attempt = 0
            elif effect == "schedule_lookup":
                self.lookup_at = now + lookup_ns
            elif effect == "end_lookup":
                self.lookup_at = None
            elif effect == "clear_timers":
                self.confirm_at = None
                self.retry_at = None
                self.lookup_at = None
                self.awaiting_confirm = False
            elif effect == "note_halt":
                self.disarm_reason = reason
            else:  # pragma: no cover - the table only names the effects above
                raise IllegalTransition(f"unknown guard effect {effect!r}")
        self._state = new
        return old, new

    # ------------------------------------------------------------------ reading
    @property
    def armed_or_triggered(self) -> bool:
        return self._state is A or self._state is T

    def rule_levels(self) -> tuple[int | None, int | None, int | None]:
        """The current own-side level of each stop rule: (stop-loss, break-even once active, trailing once active)."""
        lv = self.levels
        stop = lv.stop if lv is not None else None
        be = lv.break_even_stop if lv is not None and self.break_even_active else None
        return stop, be, self.trailing_level()

    def trailing_level(self) -> int | None:
        p = self.protection
        if self.peak is None or p is None or p.trailing is None or self.levels is None or not self.levels.trailing:
            return None
        return self.peak - p.trail_gap(self.peak)

    def stop_level(self) -> tuple[int | None, str]:
        """The effective stop (highest of stop-loss, break-even and trailing) and which rule sets it."""
        best: int | None = None
        name = ""
        lv = self.levels
        if lv is not None:
            if lv.stop is not None:
                best, name = lv.stop, "stop_loss"
            be = lv.break_even_stop
            if self.break_even_active and be is not None and (best is None or be > best):
                best, name = be, "break_even"
        trail = self.trailing_level()
        if trail is not None and (best is None or trail > best):
            best, name = trail, "trailing_stop"
        return best, name

    def timers(self) -> tuple[int | None, ...]:
        return (self.confirm_at, self.retry_at, self.lookup_at)
