"""Fault injection: what the simulator should break next, settable from any thread (tests, the CLI).

REST: answer the next N calls with an HTTP status (429 with Kalshi's body, 5xx with the nested error body),
optionally only for paths under a prefix; delay every reply by ``latency_ms``; accept order writes (they execute)
but reply late or never (:meth:`Faults.hang_orders`).

WebSocket: drop every connection now or every N seconds; freeze connections (open, but nothing is sent, not even
pings); skip a ``seq`` on the next orderbook frame; send a malformed frame.

The REST and WebSocket layers *consume* one-shot faults through the ``take_*`` methods. Actions that must happen on
the simulator's event loop (drop, freeze, malformed) go through the ``actions`` object the simulator binds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

T = TypeVar("T")

NEVER = -1.0  # hang_orders delay meaning "never reply"


class WsFaultActions(Protocol):
    """What the WebSocket layer does on request (called on the event loop)."""

    def drop_all(self) -> int: ...
    def freeze_all(self, frozen: bool) -> int: ...
    def send_malformed(self, text: str) -> int: ...


@dataclass
class _RestError:
    status: int
    remaining: int
    path_prefix: str


MALFORMED_FRAME = '{"type":"ticker","sid":1,"msg":{"market_ticker":'  # truncated JSON


class Faults:
    """The current fault settings. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rest_errors: list[_RestError] = []
        self._latency_ms = 0.0
        self._hangs: list[float] = []
        self._seq_skips = 0
        self.drop_every_s: float | None = None
        self.freeze_after_s: float | None = None
        self.malformed_every_s: float | None = None
        self.skip_seq_every_s: float | None = None
        self._run: Callable[[Callable[[], int]], int] | None = None
        self._actions: WsFaultActions | None = None
        self.injected: dict[str, int] = {}

    def bind(self, run: Callable[[Callable[[], int]], int], actions: WsFaultActions) -> None:
        """Called by the simulator: ``run`` executes a function on the event loop and returns its result."""
        self._run = run
        self._actions = actions

    def _count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.injected[what] = self.injected.get(what, 0) + n

    # ------------------------------------------------------------------ REST
    def rest_errors(self, status: int, count: int = 1, path_prefix: str = "") -> None:
        """Answer the next ``count`` REST calls (under ``path_prefix``, e.g. ``/portfolio``) with ``status``."""
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status 400..599, got {status}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._rest_errors.append(_RestError(status, count, path_prefix))

    @property
    def latency_ms(self) -> float:
        return self._latency_ms

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        if value < 0:
            raise ValueError("latency_ms must not be negative")
        self._latency_ms = float(value)

    def hang_orders(self, count: int = 1, delay_s: float | None = None) -> None:
        """The next ``count`` order writes execute but their reply comes after ``delay_s`` (``None``: never)."""
        if count < 1:
            raise ValueError("count must be at least 1")
        if delay_s is not None and delay_s < 0:
            raise ValueError("delay_s must not be negative")
        with self._lock:
            self._hangs.extend([NEVER if delay_s is None else delay_s] * count)

    def take_rest_error(self, path: str) -> int | None:
        """The status to inject for a call to ``path`` (relative to ``/trade-api/v2``), consuming one."""
        with self._lock:
            for e in self._rest_errors:
                if path.startswith(e.path_prefix):
                    e.remaining -= 1
                    if e.remaining <= 0:
                        self._rest_errors.remove(e)
                    self.injected["rest_error"] = self.injected.get("rest_error", 0) + 1
                    return e.status
        return None

    def take_order_hang(self) -> float | None:
        """Seconds to hold the next order reply (``NEVER`` = forever), or None for a normal reply."""
        with self._lock:
            if not self._hangs:
                return None
            self.injected["order_hang"] = self.injected.get("order_hang", 0) + 1
            return self._hangs.pop(0)

    # ------------------------------------------------------------------ WebSocket
    def skip_seq(self, count: int = 1) -> None:
        """The next ``count`` sequenced orderbook frames each jump ``seq`` by 2 (a gap the client must notice)."""
        with self._lock:
            self._seq_skips += count

    def take_seq_skip(self) -> bool:
        if not self._seq_skips:
            return False
        with self._lock:
            if self._seq_skips <= 0:
                return False
            self._seq_skips -= 1
            self.injected["skip_seq"] = self.injected.get("skip_seq", 0) + 1
            return True

    @property
    def pending_seq_skips(self) -> int:
        return self._seq_skips

    def _call(self, fn: Callable[[], int]) -> int:
        if self._run is None or self._actions is None:
            raise RuntimeError("the simulator is not running; start it before injecting WebSocket faults")
        return self._run(fn)

    def drop_connections(self) -> int:
        """Abort every WebSocket connection now (no close frame, like a network drop). Returns how many."""
        n = self._call(lambda: self._actions.drop_all())  # type: ignore[union-attr]
        self._count("drop", n)
        return n

    def freeze(self) -> int:
        """Freeze every open WebSocket connection: it stays open but nothing is sent, not even pings."""
        n = self._call(lambda: self._actions.freeze_all(True))  # type: ignore[union-attr]
        self._count("freeze", n)
        return n

    def unfreeze(self) -> int:
        return self._call(lambda: self._actions.freeze_all(False))  # type: ignore[union-attr]

    def send_malformed(self, text: str = MALFORMED_FRAME) -> int:
        """Send one malformed text frame on every connection now. Returns how many got it."""
        n = self._call(lambda: self._actions.send_malformed(text))  # type: ignore[union-attr]
        self._count("malformed", n)
        return n

    def clear(self) -> None:
        """Forget every pending fault and periodic setting (connections already frozen stay frozen)."""
        with self._lock:
            self._rest_errors.clear()
            self._hangs.clear()
            self._seq_skips = 0
        self._latency_ms = 0.0
        self.drop_every_s = None
        self.freeze_after_s = None
        self.malformed_every_s = None
        self.skip_seq_every_s = None


def parse_rest_errors(spec: str) -> tuple[int, int]:
    """``"429:5"`` -> ``(429, 5)``; ``"503"`` -> ``(503, 1)``. Raises ValueError saying what is wrong."""
    status_s, _, count_s = spec.partition(":")
    try:
        status = int(status_s)
        count = int(count_s) if count_s else 1
    except ValueError:
        raise ValueError(f"--rest-errors expects STATUS[:COUNT] such as 429:5, got {spec!r}") from None
    if not 400 <= status <= 599 or count < 1:
        raise ValueError(f"--rest-errors expects an HTTP error status 400..599 and a count >= 1, got {spec!r}")
    return status, count
