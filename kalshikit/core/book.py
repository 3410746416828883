"""A Kalshi order book and taking liquidity from it; shared by the simulator's matching and replay's fill model.

Kalshi shows bids only, per side: YES bids and NO bids. A NO bid at ``p`` is a YES ask at ``1 − p``. Prices are
in $0.0001 units, sizes in 1/100 contract.

``take`` walks the opposite side best-first up to a limit price and removes what it takes, so a later order sees
the book as the earlier one left it, until market data replaces it.
"""

from __future__ import annotations

from kalshikit.core.events import BookDelta, BookSide, BookSnapshot, Quote, Side
from kalshikit.units import PRICE_SCALE

ONE = PRICE_SCALE


class OrderBook:
    """Bids of both sides of one market. Not thread-safe; each owner keeps its own."""

    __slots__ = ("no", "ticker", "yes")

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self.yes: dict[int, int] = {}
        self.no: dict[int, int] = {}

    # ------------------------------------------------------------------ updates
    def apply_snapshot(self, snap: BookSnapshot) -> None:
        self.yes = {p: c for p, c in snap.yes if c > 0}
        self.no = {p: c for p, c in snap.no if c > 0}

    def apply_delta(self, delta: BookDelta) -> None:
        self.add(delta.side, delta.price, delta.delta)

    def add(self, side: Side, price: int, count: int) -> None:
        """Change the resting size at one level (negative removes); a level at or below zero disappears."""
        levels = self.yes if side == "yes" else self.no
        new = levels.get(price, 0) + count
        if new > 0:
            levels[price] = new
        else:
            levels.pop(price, None)

    def set_top(self, quote: Quote, unknown_size: int) -> None:
        """Replace the book by the one level per side a ticker quote shows (for tapes without depth)."""
        self.yes = {}
        self.no = {}
        if quote.yes_bid is not None:
            self.yes[quote.yes_bid] = quote.yes_bid_size if quote.yes_bid_size is not None else unknown_size
        if quote.yes_ask is not None:
            self.no[ONE - quote.yes_ask] = quote.yes_ask_size if quote.yes_ask_size is not None else unknown_size

    # ------------------------------------------------------------------ reads
    def best(self, side: Side) -> tuple[int, int] | None:
        levels = self.yes if side == "yes" else self.no
        if not levels:
            return None
        p = max(levels)
        return p, levels[p]

    @property
    def yes_bid(self) -> int | None:
        return max(self.yes) if self.yes else None

    @property
    def yes_ask(self) -> int | None:
        return ONE - max(self.no) if self.no else None

    def quote(self, recv_ns: int = 0, exchange_ns: int = 0, source: str = "book", last: int | None = None) -> Quote:
        yb = self.best("yes")
        nb = self.best("no")
        return Quote(
            self.ticker,
            yb[0] if yb else None,
            ONE - nb[0] if nb else None,
            yb[1] if yb else None,
            nb[1] if nb else None,
            last,
            exchange_ns=exchange_ns,
            recv_ns=recv_ns,
            source=source,
        )

    def depth(self, side: Side) -> list[tuple[int, int]]:
        """Levels of one side's bids, ascending by price (Kalshi's REST order)."""
        levels = self.yes if side == "yes" else self.no
        return sorted(levels.items())

    # ------------------------------------------------------------------ taking liquidity
    def executable(self, book_side: BookSide, limit: int) -> int:
        """How much an order on ``book_side`` with YES limit ``limit`` could take right now."""
        if book_side == "ask":
            return sum(c for p, c in self.yes.items() if p >= limit)
        return sum(c for p, c in self.no.items() if ONE - p <= limit)

    def take(self, book_side: BookSide, limit: int, count: int) -> list[tuple[int, int]]:
        """Take up to ``count`` at YES prices no worse than ``limit``; returns ``[(yes_price, count), ...]``.

        ``book_side="ask"`` sells YES into YES bids (highest first, at >= ``limit``); ``"bid"`` buys YES from NO
        bids (lowest YES ask first, at <= ``limit``).
        """
        fills: list[tuple[int, int]] = []
        if count <= 0:
            return fills
        levels = self.yes if book_side == "ask" else self.no
        for p in sorted(levels, reverse=True):
            yes_price = p if book_side == "ask" else ONE - p
            if (book_side == "ask" and yes_price < limit) or (book_side == "bid" and yes_price > limit):
                break
            avail = levels[p]
            n = min(avail, count)
            fills.append((yes_price, n))
            count -= n
            if n == avail:
                del levels[p]
            else:
                levels[p] = avail - n
            if count == 0:
                break
        return fills
