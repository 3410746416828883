"""Named crash points for the reliability tests: with ``KALSHIKIT_CRASH_AT=<name>`` in the environment the process
kills itself (SIGKILL, like ``kill -9``) when it reaches that point. Without the variable they do nothing.

Points: ``after_journal`` (an exit is journaled, not yet sent), ``after_send`` (the exchange accepted the exit, the
reply is not yet processed).
"""

from __future__ import annotations

import os
import signal

_TARGET = os.environ.get("KALSHIKIT_CRASH_AT", "")


def crash_point(name: str) -> None:
    if _TARGET and name == _TARGET:
        os.kill(os.getpid(), signal.SIGKILL)
