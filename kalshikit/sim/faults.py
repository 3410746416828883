"""Fault injection: what the simulator should break next, settable from any thread (tests, the CLI).

REST: answer the next N calls with an HTTP status (429 with Kalshi's body, 5xx with the nested error body),
optionally only for paths under a prefix; delay every reply by ``latency_ms``; accept order writes (they execute)
but reply late or never (:meth:`Faults.hang_orders`).

WebSocket: drop every connection now or every N seconds; freeze connections (open, but nothing is sent, not even
pings); skip a ``seq`` on the next orderbook frame (the number jumps, no data is lost); drop orderbook deltas for
real (their ``seq`` is used up but the frame is never sent, so a client's book diverges unless it asks for a new
snapshot), one-shot or every N seconds; end a channel's subscriptions with a terminal error (10 or 25, as Kalshi
does: the client must subscribe again); refuse the next subscribes with an error code (26 market limit, 27 too many
requests, ...); send a malformed frame.

The REST and WebSocket layers *consume* one-shot faults through the ``take_*`` methods. Actions that must happen on
the simulator's event loop (drop, freeze, malformed, channel errors) go through the ``actions`` object the
simulator binds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from kalshikit.kalshi.messages import TERMINAL_WS_ERRORS, WS_ERROR_CODES

T = TypeVar("T")

NEVER = -1.0  # hang_orders delay meaning "never reply"
RETIRED_WS_ERRORS = frozenset({6, 16, 17})


class WsFaultActions(Protocol):
    """What the WebSocket layer does on request (called on the event loop)."""

    def drop_all(self) -> int: ...
    def freeze_all(self, frozen: bool) -> int: ...
    def send_malformed(self, text: str) -> int: ...
    def channel_error(self, channel: str, code: int) -> int: ...


@dataclass
class _RestError:
    status: int
    remaining: int
    path_prefix: str


@dataclass
class _SubscribeRejection:
    code: int
    remaining: int | None  # None: until cleared
    channel: str | None  # None: every channel


MALFORMED_FRAME = '{"type":"ticker","sid":1,"msg":{"market_ticker":'  # truncated JSON


class Faults:
    """The current fault settings. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rest_errors: list[_RestError] = []
        self._latency_ms = 0.0
        self._hangs: list[float] = []
        self._failures_after: list[int] = []
        self._seq_skips = 0
        self._delta_drops = 0
        self._rejections: list[_SubscribeRejection] = []
        self.drop_every_s: float | None = None
        self.freeze_after_s: float | None = None
        self.malformed_every_s: float | None = None
        self.skip_seq_every_s: float | None = None
        self.drop_delta_every_s: float | None = None
        # REST lag: the portfolio endpoints show what was true this many seconds ago (orders created since are not
        # listed yet) and /exchange/user_data_timestamp says so, as Kalshi's REST lags its matching engine.
        self.rest_lag_s = 0.0
        self._last_periodic_drop = 0.0
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

    def fail_after_execute(self, status: int = 500, count: int = 1) -> None:
        """The next ``count`` order writes execute, then are answered with HTTP ``status`` (a 5xx that hides a
        success: the client cannot know the order was placed)."""
        if not 500 <= status <= 599:
            raise ValueError(f"fail_after_execute takes a 5xx status, got {status}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._failures_after.extend([status] * count)

    def take_failure_after_execute(self) -> int | None:
        with self._lock:
            if not self._failures_after:
                return None
            self.injected["fail_after_execute"] = self.injected.get("fail_after_execute", 0) + 1
            return self._failures_after.pop(0)

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

    def drop_deltas(self, count: int = 1) -> None:
        """Really lose the next ``count`` ``orderbook_delta`` frames: each uses up its ``seq`` but is never sent.

        Unlike :meth:`skip_seq` the book change is gone too, so a client that keeps applying deltas without a new
        snapshot ends with a wrong book.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._delta_drops += count

    def take_delta_drop(self, now_monotonic: float) -> bool:
        """Whether to lose this ``orderbook_delta`` frame (a pending one-shot, or ``drop_delta_every_s`` is due)."""
        every = self.drop_delta_every_s
        if not self._delta_drops and not every:
            return False
        with self._lock:
            if self._delta_drops > 0:
                self._delta_drops -= 1
            elif every and now_monotonic - self._last_periodic_drop >= every:
                self._last_periodic_drop = now_monotonic
            else:
                return False
            self.injected["drop_delta"] = self.injected.get("drop_delta", 0) + 1
            return True

    @property
    def pending_delta_drops(self) -> int:
        return self._delta_drops

    def reject_subscribes(self, code: int = 26, count: int | None = 1, channel: str | None = None) -> None:
        """Answer the next ``count`` (``None``: every, until :meth:`clear`) ``subscribe`` and ``add_markets``
        commands for ``channel`` (``None``: any channel) with Kalshi error ``code`` instead of doing them.

        26 (market limit) and 27 (too many requests) are what Kalshi sends when a client subscribes too much or
        too fast.
        """
        if code not in WS_ERROR_CODES or code in RETIRED_WS_ERRORS:
            raise ValueError(f"code must be one of Kalshi's WebSocket error codes (e.g. 26, 27), got {code}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1, or None for every command until clear()")
        with self._lock:
            self._rejections.append(_SubscribeRejection(code, count, channel))

    def take_subscribe_rejection(self, channels: list[str]) -> int | None:
        """The error code to answer a subscribe/add_markets for ``channels`` with (consuming one), or None."""
        if not self._rejections:
            return None
        with self._lock:
            for r in self._rejections:
                if r.channel is None or r.channel in channels:
                    if r.remaining is not None:
                        r.remaining -= 1
                        if r.remaining <= 0:
                            self._rejections.remove(r)
                    self.injected["reject_subscribe"] = self.injected.get("reject_subscribe", 0) + 1
                    return r.code
        return None

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

    def channel_error(self, channel: str, code: int = 10) -> int:
        """End every subscription to ``channel`` now with terminal error ``code`` (10 channel error or 25 buffer
        overflow): the error frame names the ``sid``, the subscription is gone and must be made again. Returns how
        many subscriptions were ended."""
        if code not in TERMINAL_WS_ERRORS:
            raise ValueError(f"code must be a terminal WebSocket error ({sorted(TERMINAL_WS_ERRORS)}), got {code}")
        n = self._call(lambda: self._actions.channel_error(channel, code))  # type: ignore[union-attr]
        self._count("channel_error", n)
        return n

    def clear(self) -> None:
        """Forget every pending fault and periodic setting (connections already frozen stay frozen)."""
        with self._lock:
            self._rest_errors.clear()
            self._hangs.clear()
            self._failures_after.clear()
            self._seq_skips = 0
            self._delta_drops = 0
            self._rejections.clear()
        self._latency_ms = 0.0
        self.drop_every_s = None
        self.freeze_after_s = None
        self.malformed_every_s = None
        self.skip_seq_every_s = None
        self.drop_delta_every_s = None
        self.rest_lag_s = 0.0


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


def parse_reject_subscribes(spec: str) -> tuple[int, int]:
    """``"26:3"`` -> ``(26, 3)``; ``"27"`` -> ``(27, 1)``. Raises ValueError saying what is wrong."""
    code_s, _, count_s = spec.partition(":")
    try:
        code = int(code_s)
        count = int(count_s) if count_s else 1
    except ValueError:
        raise ValueError(f"--reject-subscribes expects CODE[:COUNT] such as 26:3, got {spec!r}") from None
    if code not in WS_ERROR_CODES or code in RETIRED_WS_ERRORS or count < 1:
        raise ValueError(
            f"--reject-subscribes expects a Kalshi WebSocket error code (e.g. 26, 27) and a count >= 1, got {spec!r}"
        )
    return code, count
