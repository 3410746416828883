"""The context of one ``Monitor.feed`` call: the time and the actions it produces, in order."""

from __future__ import annotations

from dataclasses import dataclass, field

from kalshikit.core.actions import Action


@dataclass
class Ctx:
    now: int
    out: list[Action] = field(default_factory=list)
