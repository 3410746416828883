"""The context of one ``Monitor.feed`` call: the time and the actions it produces, in order."""

from __future__ import annotations

from kalshikit.core.actions import Action


class Ctx:
    __slots__ = ("now", "out")

    def __init__(self, now: int) -> None:
        self.now = now
        self.out: list[Action] = []
