"""The StrategyLoop thread: strategy cycles every ``STRATEGY_LOOP_INTERVAL``, reconciliation every
``RECONCILE_INTERVAL``, and subscription sync (the socket follows the markets the monitor holds).

A strategy's intents become IOC (or resting, then cancelled) entry orders with client order ids that never repeat;
each is submitted through the monitor (``SubmitEntry``), which tracks it, saves it with its state and only then
sends it, so its fills open a position with the intent's protection armed. Exceptions in a strategy are logged and
counted; they never stop the loop or the exits.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from kalshikit.core.events import SubmitEntry
from kalshikit.live.executor import OrderExecutor
from kalshikit.live.reconcile import reconcile
from kalshikit.strategy.base import OrderIntent, Strategy, StrategyContext
from kalshikit.units import PRICE_SCALE

log = logging.getLogger("kalshikit.strategy")
NS_PER_S = 1_000_000_000


def entry_order(intent: OrderIntent, salt: str, seq: int, protection: Any = None) -> SubmitEntry:
    """The entry for an intent: buying YES is a bid at the limit; buying NO is an ask at 1 - limit (YES price).
    ``salt`` must differ between sessions (journal salt + a session nonce) so ids never repeat."""
    digest = hashlib.blake2b(f"{salt}|{intent.ticker}|{seq}".encode(), digest_size=6).hexdigest()
    coid = f"kk-{digest}-en{seq}"
    if intent.side == "yes":
        book_side, yes_price = "bid", intent.limit_price
    else:
        book_side, yes_price = "ask", PRICE_SCALE - intent.limit_price
    return SubmitEntry(
        coid,
        intent.ticker,
        book_side,  # type: ignore[arg-type]
        yes_price,
        intent.count,
        time_in_force=intent.time_in_force,
        protection=protection if protection is not None else intent.protection,
    )


class StrategyLoopThread(threading.Thread):
    def __init__(
        self,
        *,
        strategy: Strategy,
        executor: OrderExecutor,
        post: Callable[[object], None],
        held: Callable[[], frozenset[str]],
        sync_subscriptions: Callable[[frozenset[str]], None],
        context: Callable[[], StrategyContext],
        strategy_interval: float,
        reconcile_interval: float,
        id_salt: str,
        risk_check: Callable[[OrderIntent, StrategyContext], str | None] | None = None,
        arm: Callable[[Any], Any] = lambda p: p,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__(name="StrategyLoop", daemon=True)
        self.strategy = strategy
        self.executor = executor
        self.post = post
        self._held = held
        self._sync = sync_subscriptions
        self._context = context
        self.strategy_ns = int(strategy_interval * NS_PER_S)
        self.reconcile_ns = int(reconcile_interval * NS_PER_S)
        self._salt = f"{id_salt}|{secrets.token_hex(4)}"
        self._risk_check = risk_check
        self._arm = arm  # fills the settings into an intent's protection (stale policy, attempts, slippage)
        self._clock = clock_ns
        self._stop_event = threading.Event()
        self._kick = threading.Event()
        self.cycles = 0
        self.reconciles = 0
        self.errors = 0
        self.last_error = ""
        self.last_reconcile_ns = 0
        # Reconciliations asked for (reconcile_now) and the latest asked-for one that has run, for waiting on it.
        self._reconcile_cond = threading.Condition()
        self._reconcile_asked = 0
        self._reconcile_started = 0  # the asks the running (or last) reconciliation answers
        self._reconcile_done = 0
        self.decisions: list[dict[str, Any]] = []
        self._entry_seq = 0
        self._resting: list[tuple[int, str, str]] = []  # (cancel at ns, ticker, client_order_id) of resting entries
        self.entries_sent = 0
        self.entries_refused = 0
        self.entries_cancelled = 0

    def stop(self, timeout: float = 5.0) -> None:
        self._stop_event.set()
        self._kick.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def reconcile_now(self, timeout: float | None = None) -> bool:
        """Ask for a reconciliation at once (e.g. after the user traded on the website). With ``timeout``, wait
        (at most that many seconds) until a reconciliation that started after this call has run (its events are then
        in the monitor's inbox); returns False when it has not."""
        with self._reconcile_cond:
            self._reconcile_asked += 1
            asked = self._reconcile_asked
        self.last_reconcile_ns = 0
        self._kick.set()
        if timeout is None:
            return True
        with self._reconcile_cond:
            return self._reconcile_cond.wait_for(
                lambda: self._reconcile_done >= asked or not self.is_alive(), timeout
            ) and self._reconcile_done >= asked

    def run(self) -> None:
        next_strategy = self._clock()
        next_reconcile = self._clock()
        while not self._stop_event.is_set():
            now = self._clock()
            if now >= next_reconcile or self.last_reconcile_ns == 0 or self._reconcile_asked > self._reconcile_started:
                self._reconcile()
                next_reconcile = self._clock() + self.reconcile_ns
            if now >= next_strategy:
                self._cycle()
                next_strategy = self._clock() + self.strategy_ns
            self._cancel_expired()
            wake = min(next_strategy, next_reconcile, *(r[0] for r in self._resting))
            wait = (wake - self._clock()) / NS_PER_S
            self._kick.wait(max(0.0, wait))
            self._kick.clear()

    def _reconcile(self) -> None:
        with self._reconcile_cond:
            asked = self._reconcile_started = self._reconcile_asked  # asked before it started: it answers those
        try:
            report = reconcile(self.executor.rest, self.post, self._held(), clock_ns=self._clock)
            self.reconciles += 1
            self.last_reconcile_ns = self._clock()
            log.debug("reconciled %d positions, %d markets in %.3f s", report.positions, report.markets, report.took_s)
        except Exception as exc:  # REST down: try again next interval; exits keep running on the socket
            self.errors += 1
            self.last_error = f"reconcile: {type(exc).__name__}: {exc}"
            self.last_reconcile_ns = self._clock()
            log.warning("reconciliation failed: %s", exc)
        else:  # a failed one answers nobody: whoever waits, waits for the next one (every RECONCILE_INTERVAL)
            with self._reconcile_cond:
                self._reconcile_done = asked
                self._reconcile_cond.notify_all()
        self._sync(self._held())

    def _cycle(self) -> None:
        self.cycles += 1
        try:
            ctx = self._context()
            intents = list(self.strategy.decide(ctx))
        except Exception as exc:
            self.errors += 1
            self.last_error = f"strategy {getattr(self.strategy, 'name', '?')}: {type(exc).__name__}: {exc}"
            log.exception("strategy cycle failed")
            return
        for intent in intents:
            self._enter(intent, ctx)

    def _enter(self, intent: OrderIntent, ctx: StrategyContext) -> None:
        refusal = self._risk_check(intent, ctx) if self._risk_check is not None else None
        record = {
            "ns": self._clock(),
            "ticker": intent.ticker,
            "side": intent.side,
            "count": intent.count,
            "limit": intent.limit_price,
            "reason": intent.reason,
            "action": "refused" if refusal else "sent",
            "why": refusal or "",
        }
        self.decisions.append(record)
        if refusal:
            self.entries_refused += 1
            log.info("entry %s %s refused: %s", intent.ticker, intent.side, refusal)
            return
        log.info("entry %s %s x%.2f up to %.4f: %s", intent.ticker, intent.side, intent.count / 100,
                 intent.limit_price / 10_000, intent.reason)
        self._entry_seq += 1
        protection = self._arm(intent.protection) if intent.protection is not None else None
        entry = entry_order(intent, self._salt, self._entry_seq, protection)
        if intent.time_in_force == "good_till_canceled":
            cancel_at = self._clock() + int(intent.rest_seconds * NS_PER_S)
            self._resting.append((cancel_at, intent.ticker, entry.client_order_id))
        self._sync(self._held() | {intent.ticker})
        self.entries_sent += 1  # counted before it can fill, so a reader never sees a position without its entry
        self.post(entry)

    def _cancel_expired(self) -> None:
        """Cancel resting entries whose time is up (what filled meanwhile stays a position)."""
        now = self._clock()
        due = [r for r in self._resting if r[0] <= now]
        if not due:
            return
        self._resting = [r for r in self._resting if r[0] > now]
        rest = self.executor.rest
        for _, ticker, coid in due:
            try:
                found = rest.find_order(ticker, coid)
                if found is not None and found.status == "resting":
                    rest.cancel_order(found.order_id, ticker=ticker)
                    self.entries_cancelled += 1
                    log.info("entry %s %s: time up, the unfilled rest is cancelled", ticker, coid)
            except Exception as exc:  # keep trying on the next pass; the order may still rest
                self.errors += 1
                self.last_error = f"cancel {coid}: {type(exc).__name__}: {exc}"
                self._resting.append((now + NS_PER_S, ticker, coid))
