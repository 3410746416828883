"""Named crash points for the crash tests: with ``KALSHIKIT_CRASH_AT=<name>`` (or ``<name>:<n>``, the n-th time
the point is reached) in the environment the process kills itself with SIGKILL, like ``kill -9``, at that point.
Without the variable they do nothing.

Points: ``resumed`` (the journal is loaded, nothing done yet), ``after_journal`` (a batch that sends orders is
saved, nothing sent yet), ``after_send`` (the exchange accepted an order, the reply is not yet reported),
``after_outcome`` (an order's outcome was fed to the monitor, not yet saved).
"""

from __future__ import annotations

import os
import signal

_NAME, _, _NTH = os.environ.get("KALSHIKIT_CRASH_AT", "").partition(":")
_WANTED = int(_NTH) if _NTH.isdigit() else 1
_hits = 0


def crash_point(name: str) -> None:
    global _hits
    if _NAME and name == _NAME:
        _hits += 1
        if _hits >= _WANTED:
            os.kill(os.getpid(), signal.SIGKILL)
