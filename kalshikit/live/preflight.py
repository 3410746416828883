"""Before the headless engine starts with default rules: can they protect every position the account holds?

``python -m kalshikit.live --stop-loss ...`` / ``--rules FILE`` arm their rules on every position held. This reads
the positions, their entry prices and the current prices over REST first and refuses to start (exit code 2) when a
rule cannot be armed on a position (it would run with that position less protected than asked), or when the current
price already crosses a level (the position would be sold the moment the engine starts) unless ``--allow-immediate``
says that is meant. A take-profit beyond $1 is no take-profit (nothing to take), not a problem.

Positions the journal already holds are not checked: they keep the rules and the state they were saved with (a kit
restarted after a crash must go on protecting them, an exit under way included), so only the positions the default
rules would adopt are.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from kalshikit.core.events import Quote, Side
from kalshikit.core.marks import mark_of
from kalshikit.core.positions import Position
from kalshikit.core.rules import Protection, ResolvedLevels, crossed_rules
from kalshikit.errors import RuleError
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.units import COUNT_SCALE, PRICE_SCALE

RULE_FLAGS_HINT = "--stop-loss / --stop-price / --take-profit / --trailing ... or --rules FILE"


@dataclass(frozen=True)
class Held:
    """A position the exchange says the account holds: own side, size (1/100 contract), average entry price."""

    ticker: str
    side: Side
    count: int
    entry_price: int | None

    def describe(self) -> str:
        entry = "entry unknown" if self.entry_price is None else f"entry {self.entry_price / PRICE_SCALE:.4g}"
        return f"{self.ticker} ({self.count / COUNT_SCALE:g} {self.side.upper()}, {entry})"


def held_positions(rest: KalshiRest) -> list[Held]:
    """Every open position of the account, with its entry price from the exchange's cost basis (as the monitor
    computes it when it adopts the position)."""
    out = []
    for p in rest.positions(count_filter="position"):
        if p.position == 0:
            continue
        entry = Position(p.ticker, "", count=p.position, cost=abs(p.exposure)).entry_price if p.exposure else None
        out.append(Held(p.ticker, "yes" if p.position > 0 else "no", abs(p.position), entry))
    return out


def rule_problems(
    held: list[Held], quotes: dict[str, Quote], close_ns: dict[str, int | None], p: Protection, *,
    allow_immediate: bool, now_ns: int,
) -> list[str]:
    """What keeps ``p`` from protecting each held position as asked: rules that cannot apply to its entry price,
    and (unless ``allow_immediate``) rules the current price already crosses. One line per position and problem."""
    problems: list[str] = []
    for h in held:
        if h.entry_price is None:
            continue  # the monitor resolves the rules against the bid when it adopts it, and says so if it cannot
        levels: ResolvedLevels = p.resolve(h.entry_price)
        for _rule, reason in levels.rejected:
            problems.append(f"{h.describe()}: {reason}; that rule cannot be armed on it: change it ({RULE_FLAGS_HINT})"
                            " or close the position first")
        if allow_immediate:
            continue
        q = quotes.get(h.ticker)
        mark = mark_of(h.side, q, p.trigger_source) if q is not None else None
        for crossing in crossed_rules(p, levels, mark, now_ns, close_ns.get(h.ticker)):
            problems.append(f"{h.describe()}: {crossing}, so it would be sold as soon as the engine starts: pass "
                            "--allow-immediate to exit it now, or choose levels the price has not reached")
    return problems


def journaled_tickers(journal: Path | None) -> set[str]:
    """Markets whose position the journal at ``journal`` holds (read-only: the journal is not opened for writing, not
    locked and not migrated); empty when there is no journal yet."""
    if journal is None or not journal.exists():
        return set()
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
    try:
        for sql, prefix in (("SELECT key FROM state WHERE key LIKE 'holding:%'", "holding:"),
                            ("SELECT ticker FROM positions", "")):
            try:
                return {str(r[0])[len(prefix):] for r in db.execute(sql).fetchall()}
            except sqlite3.OperationalError:
                continue  # not this schema
        return set()
    finally:
        db.close()


def check_default_rules(
    rest: KalshiRest, p: Protection, *, allow_immediate: bool, journal: Path | None = None
) -> list[Held]:
    """Raise :class:`RuleError` listing every problem of :func:`rule_problems` for the positions held now that the
    journal does not already protect; returns those positions."""
    restored = journaled_tickers(journal)
    held = [h for h in held_positions(rest) if h.ticker not in restored]
    if not held:
        return held
    now = time.time_ns()
    quotes: dict[str, Quote] = {}
    close_ns: dict[str, int | None] = {}
    tickers = sorted(h.ticker for h in held)
    for i in range(0, len(tickers), 100):
        for m in rest.markets(tickers=tickers[i : i + 100]):
            quotes[m.ticker] = m.quote(now)
            close_ns[m.ticker] = m.close_ns
    problems = rule_problems(held, quotes, close_ns, p, allow_immediate=allow_immediate, now_ns=now)
    if problems:
        raise RuleError(
            "the rules given cannot protect every position held, so the engine was not started:\n  - "
            + "\n  - ".join(problems)
        )
    return held
