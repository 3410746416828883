"""The guard of one position: an explicit state machine ARMED -> TRIGGERED -> EXIT_SENT -> CLOSED (or FAILED).

Every move goes through :data:`TRANSITIONS`; anything else raises :class:`~kalshikit.errors.IllegalTransition`.

- ARMED: rules are watched.
- TRIGGERED: a rule fired; the exit is about to go out, waits for a price confirmation (stale policy ``confirm``)
  or waits to retry the remainder after a partial fill.
- EXIT_SENT: an exit order is in flight (or its outcome is unknown and being looked up); no second exit is sent.
- CLOSED: the position is flat (exited, settled or closed elsewhere). Terminal.
- FAILED: the exit could not complete within its attempts, or was rejected; needs a person (re-arm or flatten).
- DISARMED: the market is closed, paused or determined; rules wait (for re-opening or settlement).
"""

from __future__ import annotations

from enum import StrEnum

from kalshikit.errors import IllegalTransition


class GuardState(StrEnum):
    ARMED = "armed"
    TRIGGERED = "triggered"
    EXIT_SENT = "exit_sent"
    CLOSED = "closed"
    FAILED = "failed"
    DISARMED = "disarmed"


A, T, S, C, F, D = (
    GuardState.ARMED,
    GuardState.TRIGGERED,
    GuardState.EXIT_SENT,
    GuardState.CLOSED,
    GuardState.FAILED,
    GuardState.DISARMED,
)

TRANSITIONS: dict[GuardState, frozenset[GuardState]] = {
    A: frozenset({T, D, C}),  # a rule fires / market closes / position went flat elsewhere
    T: frozenset({S, A, D, C, F}),  # exit sent / not confirmed / market closed / flat / cannot price the exit
    S: frozenset({C, T, F, D}),  # flat / remainder to retry / attempts exhausted or rejected / market closed
    F: frozenset({A, T, C, D}),  # re-armed / flatten requested / flat / market closed
    D: frozenset({A, T, C}),  # market re-opened / flatten requested / settled or flat
    C: frozenset(),
}


def check_transition(old: GuardState, new: GuardState) -> None:
    if new not in TRANSITIONS[old]:
        allowed = ", ".join(s.value for s in sorted(TRANSITIONS[old], key=lambda s: s.value)) or "none (terminal)"
        raise IllegalTransition(f"guard cannot move {old.value} -> {new.value}; allowed from {old.value}: {allowed}")
