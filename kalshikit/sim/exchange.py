"""The simulated exchange: markets, accounts, order rules and matching, positions, fills and settlement.

No I/O and no clock of its own beyond the injected ``clock``: the REST and WebSocket layers and the tape feed call
it from the simulator's event loop (one thread), and it tells a :class:`Listener` what changed so the WebSocket
layer can publish it.

Order rules (as Kalshi documents them): prices on the market's grid and strictly between $0 and $1
(``invalid_price``); ``reduce_only`` only with ``immediate_or_cancel`` and capped at the position so it never flips
it; ``post_only`` is canceled (``PostOnlyCrossCancel``) when it would cross; a duplicate ``client_order_id`` is 409
``order_already_exists``; fill-or-kill fills completely or not at all; immediate-or-cancel cancels what does not fill
at once; good-till-canceled rests and fills when the tape or a later order crosses it. Self-trade prevention:
``taker_at_cross`` cancels the rest of the taker, ``maker`` cancels the resting order and goes on.

Balance: the cost of the part of an order that opens exposure (own-side price × count, plus the worst taker fee) must
fit in the available balance (cash minus what resting orders hold). Closing trades need no balance.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from kalshikit.core.events import BookDelta, BookSide, BookSnapshot, Quote, Side
from kalshikit.core.fees import STANDARD_FEES, FeeSchedule
from kalshikit.core.grid import LINEAR_CENT, PriceGrid, PriceRange
from kalshikit.sim import matching
from kalshikit.sim.errors import SimError, bad_request, not_found
from kalshikit.sim.model import (
    ONE,
    STP_TYPES,
    TIME_IN_FORCE,
    Account,
    FillRecord,
    Market,
    Order,
    OrderRequest,
    PositionRecord,
    PublicTrade,
    SeriesRecord,
    SettlementRecord,
    new_id,
    split_ticker,
)
from kalshikit.units import NS_PER_S, format_count, format_money, format_price

DEFAULT_ACCOUNT = "default"
MAX_TRADES = 100_000
_NO_CHANGE = object()


class Listener(Protocol):
    """What the exchange tells the publishing side. All calls happen on the exchange's thread."""

    def market_changed(self, m: Market, tape_ticker: bool) -> None: ...
    def trade(self, m: Market, t: PublicTrade) -> None: ...
    def lifecycle(self, m: Market, event_type: str, extra: dict[str, object]) -> None: ...
    def order_changed(self, acct: Account, o: Order) -> None: ...
    def fill(self, acct: Account, f: FillRecord, m: Market) -> None: ...
    def position_changed(self, acct: Account, rec: PositionRecord) -> None: ...


class NullListener:
    def market_changed(self, m: Market, tape_ticker: bool) -> None:
        pass

    def trade(self, m: Market, t: PublicTrade) -> None:
        pass

    def lifecycle(self, m: Market, event_type: str, extra: dict[str, object]) -> None:
        pass

    def order_changed(self, acct: Account, o: Order) -> None:
        pass

    def fill(self, acct: Account, f: FillRecord, m: Market) -> None:
        pass

    def position_changed(self, acct: Account, rec: PositionRecord) -> None:
        pass


FINEST_GRID = PriceGrid((PriceRange(1, ONE - 1, 1),), "centi_cent")


def _grid_for_price(price: int) -> PriceGrid:
    """A grid guessed from a sub-cent price seen on a tape that did not say its grid."""
    if price < 1_000 or price > 9_000:
        return PriceGrid.named("tapered_deci_cent")
    return PriceGrid.named("deci_cent")


def grid_from_ranges(structure: str, ranges: Iterable[tuple[int, int, int]]) -> PriceGrid:
    rs = tuple(PriceRange(a, b, s) for a, b, s in ranges)
    if rs:
        return PriceGrid(rs, structure or "custom")
    return PriceGrid.named(structure)


class Exchange:
    """The simulator's exchange state and rules. Not thread-safe: one owner thread calls it."""

    def __init__(
        self,
        *,
        clock: Callable[[], int] = time.time_ns,
        default_balance: int = 10_000 * 1_000_000,
        unknown_size: int = 100 * 100,
        fees: FeeSchedule = STANDARD_FEES,
        listener: Listener | None = None,
        accept_reused_ids: bool = False,
    ) -> None:
        self.clock = clock
        # Kalshi documents a duplicate client_order_id as refused (409) only while the first order is open; with
        # this on, an id whose order is closed (executed or canceled) is accepted again, as a new order.
        self.accept_reused_ids = accept_reused_ids
        self.default_balance = default_balance
        self.unknown_size = unknown_size
        self.fees = fees
        self.listener: Listener = listener or NullListener()
        self.markets: dict[str, Market] = {}
        self.series: dict[str, SeriesRecord] = {}
        self.accounts: dict[str, Account] = {}
        self.trades: deque[PublicTrade] = deque(maxlen=MAX_TRADES)
        self.exchange_active = True
        self.trading_active = True
        self._priority = itertools.count(1)
        self.account(DEFAULT_ACCOUNT)

    # ================================================================== accounts
    def account(self, name: str, balance: int | None = None) -> Account:
        """The account called ``name``, created with ``balance`` micro-dollars (default balance) when new."""
        acct = self.accounts.get(name)
        if acct is None:
            acct = Account(name, self.default_balance if balance is None else balance)
            acct.updated_ns = self.clock()
            self.accounts[name] = acct
        elif balance is not None:
            acct.cash = balance
            acct.updated_ns = self.clock()
        return acct

    def portfolio_value(self, acct: Account) -> int:
        """Micro-dollars the held positions are worth at the current bids of their sides."""
        total = 0
        for rec in acct.positions.values():
            if rec.count == 0:
                continue
            m = self.markets.get(rec.ticker)
            if m is None:
                continue
            bid, _bs, ask, _as = m.top()
            if rec.count > 0:
                mark = bid if bid is not None else 0
            else:
                mark = ONE - ask if ask is not None else 0
            total += mark * abs(rec.count)
        return total

    # ================================================================== series and their fees
    def add_series(
        self,
        ticker: str,
        *,
        fees: FeeSchedule | None = None,
        title: str | None = None,
        category: str | None = None,
        frequency: str | None = None,
        tags: Iterable[str] | None = None,
    ) -> SeriesRecord:
        """Create a series or update the given fields of an existing one. Its markets trade under ``fees`` (default:
        the exchange's schedule) unless a market was given its own."""
        if not ticker or "-" in ticker:
            raise ValueError(f"series ticker {ticker!r} must be non-empty and contain no '-' (e.g. 'KXMLBGAME')")
        now = self.clock()
        s = self.series.get(ticker)
        if s is None:
            s = self.series[ticker] = SeriesRecord(ticker, fees or self.fees, title or f"Simulated series {ticker}")
        elif fees is not None:
            s.fees = fees
        if title is not None:
            s.title = title
        if category is not None:
            s.category = category
        if frequency is not None:
            s.frequency = frequency
        if tags is not None:
            s.tags = tuple(tags)
        s.updated_ns = now
        return s

    def series_of(self, ticker: str) -> SeriesRecord:
        s = self.series.get(ticker)
        if s is None:
            raise not_found(f"series {ticker!r} does not exist; list series with GET /series", "series_not_found")
        return s

    def fees_of(self, m: Market) -> FeeSchedule:
        """The schedule a market's fills pay: its own if it was given one, else its series', else the default."""
        if m.fees is not None:
            return m.fees
        s = self.series.get(m.series_ticker)
        return s.fees if s is not None else self.fees

    # ================================================================== markets
    def market(self, ticker: str) -> Market:
        m = self.markets.get(ticker)
        if m is None:
            raise not_found(f"market {ticker!r} does not exist; list markets with GET /markets", "market_not_found")
        return m

    def add_market(
        self,
        ticker: str,
        *,
        event_ticker: str | None = None,
        series_ticker: str | None = None,
        grid: PriceGrid | None = None,
        open_ns: int | None = None,
        close_ns: int | None = None,
        status: str | None = None,
        title: str | None = None,
        yes_sub_title: str | None = None,
        no_sub_title: str | None = None,
        rules_primary: str | None = None,
        rules_secondary: str | None = None,
        can_close_early: bool | None = None,
        settlement_timer_seconds: int | None = None,
        fees: FeeSchedule | None = None,
        from_tape: bool = False,
        mve_collection_ticker: str | None = None,
    ) -> Market:
        """Create a market (or re-open a settled one under the same ticker, or update an existing one's metadata).
        ``fees``: this market's own schedule (default: its series'; a new series is created with the default).
        ``mve_collection_ticker`` makes it a multivariate combo market."""
        now = self.clock()
        old = self.markets.get(ticker)
        if old is not None and not old.settled:
            self._update_metadata(
                old,
                event_ticker,
                grid,
                open_ns,
                close_ns,
                title,
                yes_sub_title,
                no_sub_title,
                rules_primary,
                rules_secondary,
                can_close_early,
                settlement_timer_seconds,
                fees,
                from_tape,
                now,
            )
            if status is not None and status != old.status:
                self._set_status(old, status, now)
            return old
        series, event = split_ticker(ticker)
        opened = now if open_ns is None else open_ns
        m = Market(
            ticker=ticker,
            event_ticker=event_ticker or event,
            series_ticker=series_ticker or (event_ticker or event).split("-")[0] or series,
            grid=grid or LINEAR_CENT,
            created_ns=now,
            open_ns=opened,
            close_ns=close_ns if close_ns is not None else now + 365 * 24 * 3600 * NS_PER_S,
            status="active" if status is None else status,  # type: ignore[arg-type]
            title=title or f"Simulated market {ticker}",
            yes_sub_title=yes_sub_title or ticker.rsplit("-", 1)[-1],
            no_sub_title=no_sub_title or ticker.rsplit("-", 1)[-1],
            rules_primary=rules_primary or f"Simulated by kalshikit: {ticker} resolves as the simulator is told.",
            rules_secondary=rules_secondary or "",
            can_close_early=True if can_close_early is None else can_close_early,
            settlement_timer_seconds=300 if settlement_timer_seconds is None else settlement_timer_seconds,
            fees=fees,
            mve_collection_ticker=mve_collection_ticker or None,
            grid_from_tape=from_tape and grid is not None,
        )
        if m.series_ticker not in self.series:
            self.add_series(m.series_ticker)
        if status is None and opened > now:
            m.status = "initialized"
        self.markets[ticker] = m
        self._lifecycle(m, "created")
        self.listener.market_changed(m, False)
        return m

    def _update_metadata(
        self,
        m: Market,
        event_ticker: str | None,
        grid: PriceGrid | None,
        open_ns: int | None,
        close_ns: int | None,
        title: str | None,
        yes_sub_title: str | None,
        no_sub_title: str | None,
        rules_primary: str | None,
        rules_secondary: str | None,
        can_close_early: bool | None,
        settlement_timer_seconds: int | None,
        fees: FeeSchedule | None,
        from_tape: bool,
        now: int,
    ) -> None:
        changed = False
        for attr, value in (
            ("event_ticker", event_ticker),
            ("open_ns", open_ns),
            ("title", title),
            ("yes_sub_title", yes_sub_title),
            ("no_sub_title", no_sub_title),
            ("rules_primary", rules_primary),
            ("rules_secondary", rules_secondary),
            ("can_close_early", can_close_early),
            ("settlement_timer_seconds", settlement_timer_seconds),
            ("fees", fees),
        ):
            if value is not None and getattr(m, attr) != value:
                setattr(m, attr, value)
                changed = True
        if grid is not None and grid != m.grid:
            m.grid = grid
            m.grid_from_tape = m.grid_from_tape or from_tape
            changed = True
            self._lifecycle(m, "price_level_structure_updated")
        if close_ns is not None and close_ns != m.close_ns:
            m.close_ns = close_ns
            changed = True
            self._lifecycle(m, "close_date_updated")
        if changed:
            m.updated_ns = now

    def _tape_market(self, ticker: str) -> Market:
        m = self.markets.get(ticker)
        return m if m is not None else self.add_market(ticker)

    def _set_status(self, m: Market, status: str, now: int) -> None:
        if status == "active":
            self.resume_market(m.ticker)
        elif status == "inactive":
            self.pause_market(m.ticker)
        elif status == "closed":
            self.close_market(m.ticker)
        else:
            m.status = status  # type: ignore[assignment]
            m.updated_ns = now
            self.listener.market_changed(m, False)

    def _guess_grid(self, m: Market, *prices: int | None) -> None:
        if m.grid_from_tape:
            return
        for p in prices:
            if p is None or not 0 < p < ONE or m.grid.is_valid(p):
                continue
            for candidate in (_grid_for_price(p), PriceGrid.named("deci_cent"), FINEST_GRID):
                if candidate.is_valid(p):
                    m.grid = candidate
                    break

    # ================================================================== market data from the tape / control API
    def apply_quote(self, q: Quote) -> Market:
        """Replace a market's tape liquidity by the one level per side a ticker quote shows."""
        m = self._tape_market(q.ticker)
        if m.previous_yes_bid is None and m.previous_yes_ask is None:
            m.previous_yes_bid, m.previous_yes_ask, m.previous_price = q.yes_bid, q.yes_ask, q.last
        m.book.set_top(q, self.unknown_size)
        if q.last is not None:
            m.last_price = q.last
        if q.volume is not None:
            m.tape_volume = q.volume
        if q.open_interest is not None:
            m.open_interest = q.open_interest
        self._guess_grid(m, q.yes_bid, q.yes_ask)
        self._cross_resting(m)
        self.listener.market_changed(m, True)
        return m

    def apply_snapshot(self, s: BookSnapshot) -> Market:
        m = self._tape_market(s.ticker)
        m.book.apply_snapshot(s)
        self._after_book(m)
        return m

    def apply_delta(self, d: BookDelta) -> Market:
        m = self._tape_market(d.ticker)
        m.book.apply_delta(d)
        self._after_book(m)
        return m

    def set_book(self, ticker: str, yes: Iterable[tuple[int, int]], no: Iterable[tuple[int, int]]) -> Market:
        return self.apply_snapshot(BookSnapshot(ticker, tuple(yes), tuple(no)))

    def _after_book(self, m: Market) -> None:
        bid = m.book.yes_bid
        ask = m.book.yes_ask
        if m.previous_yes_bid is None and m.previous_yes_ask is None:
            m.previous_yes_bid, m.previous_yes_ask = bid, ask
        self._guess_grid(m, bid, ask)
        self._cross_resting(m)
        self.listener.market_changed(m, False)

    def apply_trade(
        self, ticker: str, yes_price: int, count: int, taker_side: Side | None, trade_id: str = ""
    ) -> PublicTrade:
        """A public trade from the tape: last price and volume move, and resting orders it traded through fill."""
        m = self._tape_market(ticker)
        now = self.clock()
        t = PublicTrade(trade_id or new_id(), ticker, yes_price, count, taker_side, now)
        m.last_price = yes_price
        m.last_trade_size = count
        if m.previous_price is None:
            m.previous_price = yes_price
        m.tape_volume += count
        self.trades.append(t)
        self.listener.trade(m, t)
        self._trade_through(m, t)
        self.listener.market_changed(m, False)
        return t

    def _cross_resting(self, m: Market) -> None:
        """Fill resting orders that the tape's liquidity now crosses, at their own prices (they were there first)."""
        if not m.resting:
            return
        now = self.clock()
        for o in matching.by_priority(m.resting):
            if o.status != "resting":
                continue
            avail = matching.external_against(m, o)
            if avail <= 0:
                continue
            n = min(avail, o.remaining)
            matching.consume_external(m, o, n)
            self._maker_fill(m, o, o.price, n, now)

    def _trade_through(self, m: Market, t: PublicTrade) -> None:
        """A tape trade at or through a resting order's price fills it (up to the trade's size)."""
        if not m.resting:
            return
        now = self.clock()
        left = t.count
        for o in matching.by_priority(m.resting):
            if left <= 0:
                break
            if o.status != "resting":
                continue
            hit = (o.book_side == "bid" and t.taker_side != "yes" and t.yes_price <= o.price) or (
                o.book_side == "ask" and t.taker_side != "no" and t.yes_price >= o.price
            )
            if not hit:
                continue
            n = min(left, o.remaining)
            left -= n
            self._maker_fill(m, o, o.price, n, now)

    # ================================================================== lifecycle
    def _lifecycle(self, m: Market, event_type: str, **extra: object) -> None:
        self.listener.lifecycle(m, event_type, extra)

    def pause_market(self, ticker: str) -> Market:
        m = self.market(ticker)
        if m.status != "active":
            raise bad_request(f"market {ticker} is {m.status}; only an active market can be paused")
        m.status = "inactive"
        m.updated_ns = self.clock()
        for o in list(m.resting):
            if o.cancel_order_on_pause:
                self._cancel(o, "HaltCancel")
        self._lifecycle(m, "deactivated", is_deactivated=True)
        self.listener.market_changed(m, False)
        return m

    def resume_market(self, ticker: str) -> Market:
        m = self.market(ticker)
        if m.status not in ("inactive", "initialized"):
            raise bad_request(f"market {ticker} is {m.status}; only a paused or unopened market can be activated")
        was_paused = m.status == "inactive"
        m.status = "active"
        m.updated_ns = self.clock()
        if was_paused:
            self._lifecycle(m, "deactivated", is_deactivated=False)
        else:
            self._lifecycle(m, "activated")
        self.listener.market_changed(m, False)
        return m

    def close_market(self, ticker: str) -> Market:
        """Stop trading: resting orders are canceled (``CloseCancel``)."""
        m = self.market(ticker)
        if m.status in ("closed", "determined", "finalized", "disputed", "amended"):
            return m
        now = self.clock()
        early = now < m.close_ns
        m.status = "closed"
        if early:
            m.close_ns = now
        m.updated_ns = now
        for o in list(m.resting):
            self._cancel(o, "CloseCancel")
        if early:
            self._lifecycle(m, "close_date_updated")
        self.listener.market_changed(m, False)
        return m

    def determine_market(self, ticker: str, result: str, settlement_value: int | None = None) -> Market:
        """Fix the outcome (``yes``, ``no`` or ``scalar`` with ``settlement_value`` = YES payout in price units)."""
        if result not in ("yes", "no", "scalar"):
            raise bad_request(f"result must be yes, no or scalar, got {result!r}")
        if result == "scalar":
            if settlement_value is None or not 0 <= settlement_value <= ONE:
                raise bad_request("a scalar result needs settlement_value between 0 and 10000 (price units)")
        else:
            settlement_value = ONE if result == "yes" else 0
        m = self.market(ticker)
        if m.settled:
            raise bad_request(f"market {ticker} is already settled")
        self.close_market(ticker)
        now = self.clock()
        m.status = "determined"
        m.result = result
        m.settlement_value = settlement_value
        m.determined_ns = now
        m.updated_ns = now
        self._lifecycle(
            m,
            "determined",
            result=result,
            settlement_value=format_price(settlement_value),
            determination_ts=now // NS_PER_S,
        )
        self.listener.market_changed(m, False)
        return m

    def settle_market(self, ticker: str, result: str | None = None, settlement_value: int | None = None) -> Market:
        """Pay out every position ($1 per winning contract; scalar: the settlement value) and finalize the market."""
        m = self.market(ticker)
        if m.settled:
            return m
        if m.status != "determined":
            if result is None:
                raise bad_request(f"market {ticker} is {m.status}; determine it first or pass the result")
            self.determine_market(ticker, result, settlement_value)
        assert m.settlement_value is not None
        now = self.clock()
        value = m.settlement_value
        for acct in self.accounts.values():
            rec = acct.positions.pop(ticker, None)
            if rec is None:
                continue
            count = rec.pos.count
            held_cost = rec.pos.cost
            yes_n = count if count > 0 else 0
            no_n = -count if count < 0 else 0
            payout = value * yes_n + (ONE - value) * no_n
            acct.cash += payout
            acct.updated_ns = now
            rec.pos.settle(value, m.result, now)
            rec.settled = True
            rec.last_updated_ns = now
            acct.closed_positions.append(rec)
            acct.settlements.append(
                SettlementRecord(
                    ticker=ticker,
                    event_ticker=m.event_ticker,
                    market_result=m.result,
                    yes_count=yes_n,
                    yes_total_cost=held_cost if yes_n else 0,
                    no_count=no_n,
                    no_total_cost=held_cost if no_n else 0,
                    revenue=payout,
                    value=value,
                    fee_cost=rec.pos.fees,
                    settled_ns=now,
                )
            )
            self.listener.position_changed(acct, rec)
        m.status = "finalized"
        m.settled_ns = now
        m.updated_ns = now
        self._lifecycle(m, "settled", settled_ts=now // NS_PER_S)
        self.listener.market_changed(m, False)
        return m

    def housekeeping(self) -> None:
        """Time-driven changes: markets open, close and settle on schedule; expiring orders are canceled."""
        now = self.clock()
        for m in list(self.markets.values()):
            if m.status == "initialized" and m.open_ns <= now:
                self.resume_market(m.ticker)
            if m.status in ("active", "inactive") and m.close_ns <= now:
                self.close_market(m.ticker)
            if (
                m.status == "determined"
                and m.settlement_timer_seconds >= 0
                and m.determined_ns + m.settlement_timer_seconds * NS_PER_S <= now
            ):
                self.settle_market(m.ticker)
            for o in list(m.resting):
                if o.expiration_ns is not None and o.expiration_ns <= now:
                    self._cancel(o, "ExpiryCancel")

    # ================================================================== positions (control API)
    def seed_position(self, account: str, ticker: str, count: int, price: int) -> PositionRecord:
        """Give ``account`` a position: ``count`` > 0 YES, < 0 NO contracts, bought at own-side ``price``.

        The balance is not charged: the position is treated as held from before the simulator started.
        """
        if count == 0:
            raise bad_request("seed_position needs a non-zero count")
        if not 0 <= price <= ONE:
            raise bad_request(f"price {price} is outside 0..{ONE} price units")
        m = self.market(ticker)
        acct = self.account(account)
        now = self.clock()
        rec = acct.position(ticker, m.event_ticker)
        yes_price = price if count > 0 else ONE - price
        rec.pos.apply(count, yes_price, 0, now)
        rec.total_traded += price * abs(count)
        rec.last_updated_ns = now
        acct.updated_ns = now
        self.listener.position_changed(acct, rec)
        return rec

    # ================================================================== orders
    def _order_of(self, acct: Account, order_id: str) -> Order:
        o = acct.orders.get(order_id)
        if o is None:
            raise not_found(f"order {order_id!r} does not exist for this account", "not_found")
        return o

    def _check_price(self, m: Market, price: int) -> None:
        if not 0 < price < ONE or not m.grid.is_valid(price):
            lo, hi = m.grid.floor(price), m.grid.ceil(price)
            near = ", ".join(format_price(p) for p in (lo, hi) if p is not None and 0 < p < ONE)
            raise SimError(
                400,
                "invalid_price",
                f"price {format_price(min(max(price, 0), ONE))} is not on the price grid of {m.ticker} "
                f"({m.grid.structure}); nearest valid: {near or 'none'}",
            )

    def _check_tradable(self, m: Market) -> None:
        if not self.exchange_active or not self.trading_active:
            raise SimError(503, "trading_unavailable", "trading is not active on the exchange right now")
        if m.status == "inactive":
            raise bad_request(f"trading in {m.ticker} is paused", "trading_is_paused")
        if m.status != "active":
            raise bad_request(f"market {m.ticker} is {m.status}, not open for trading", "market_closed")

    @staticmethod
    def _closable(rec: PositionRecord | None, book_side: BookSide) -> int:
        """How many contracts an order on ``book_side`` would close (rather than open)."""
        if rec is None:
            return 0
        held = rec.pos.count
        if book_side == "bid":
            return -held if held < 0 else 0
        return held if held > 0 else 0

    def create_order(self, account: str, req: OrderRequest) -> tuple[Order, list[FillRecord]]:
        """Place an order. Returns the order (its final state for IOC/FOK) and the fills it made at once."""
        acct = self.account(account)
        m = self.market(req.ticker)
        self._check_tradable(m)
        self._check_price(m, req.price)
        if req.count <= 0:
            raise bad_request(f"count must be positive, got {format_count(req.count)}")
        if req.time_in_force not in TIME_IN_FORCE:
            raise bad_request(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}, got {req.time_in_force!r}")
        if req.self_trade_prevention_type not in STP_TYPES:
            raise bad_request(
                f"self_trade_prevention_type must be one of {', '.join(STP_TYPES)}, "
                f"got {req.self_trade_prevention_type!r}"
            )
        if req.reduce_only and req.time_in_force != "immediate_or_cancel":
            raise bad_request("reduce_only orders must use time_in_force=immediate_or_cancel", "invalid_order")
        if req.post_only and req.time_in_force != "good_till_canceled":
            raise bad_request("post_only orders must use time_in_force=good_till_canceled", "invalid_order")
        now = self.clock()
        if req.expiration_ns is not None:
            if req.time_in_force != "good_till_canceled":
                raise bad_request("expiration_time is only allowed with time_in_force=good_till_canceled")
            if req.expiration_ns <= now:
                raise bad_request("expiration_time is in the past; give a future Unix time in seconds")
        prior = acct.by_client_id.get(req.client_order_id) if req.client_order_id else None
        if prior is not None and not (self.accept_reused_ids and prior.status != "resting"):
            raise SimError(
                409,
                "order_already_exists",
                f"an order with client_order_id {req.client_order_id!r} already exists "
                f"(order_id {acct.by_client_id[req.client_order_id].order_id})",
            )
        rec = acct.positions.get(m.ticker)
        count = req.count
        closable = self._closable(rec, req.book_side)
        if req.reduce_only:
            count = min(count, closable)
        opening = max(0, count - closable)
        own = req.price if req.book_side == "bid" else ONE - req.price
        needed = own * opening + self.fees_of(m).taker(req.price, count)
        if needed > acct.available:
            raise SimError(
                400,
                "insufficient_balance",
                f"order needs ${format_money(needed, 4)} (cost of the contracts it opens plus the worst taker fee) but "
                f"the available balance is ${format_money(acct.available, 4)}",
            )
        o = Order(
            order_id=new_id(),
            client_order_id=req.client_order_id,
            account=acct.name,
            user_id=acct.user_id,
            ticker=m.ticker,
            book_side=req.book_side,
            price=req.price,
            initial=req.count,
            remaining=count,
            time_in_force=req.time_in_force,
            self_trade_prevention_type=req.self_trade_prevention_type,
            created_ns=now,
            updated_ns=now,
            post_only=req.post_only,
            reduce_only=req.reduce_only,
            cancel_order_on_pause=req.cancel_order_on_pause,
            expiration_ns=req.expiration_ns,
            priority=next(self._priority),
            legacy_side=req.legacy_side,
            legacy_action=req.legacy_action,
            order_group_id=req.order_group_id,
        )
        acct.orders[o.order_id] = o
        if o.client_order_id:
            acct.by_client_id[o.client_order_id] = o
        if count == 0:
            return self._finish(o, "canceled", "ReduceOnlyCancel", [])
        p = matching.plan(m, o.book_side, o.price, count, acct.name, o.self_trade_prevention_type)
        if o.post_only and (p.matches or p.self_trade_stop or p.cancel_makers):
            return self._finish(o, "canceled", "PostOnlyCrossCancel", [])
        if o.time_in_force == "fill_or_kill" and p.count < count:
            return self._finish(o, "canceled", "", [])
        for maker in p.cancel_makers:
            self._cancel(maker, "SelfTradeCancel")
        fills = self._execute(m, o, p.matches, now)
        if o.remaining == 0:
            return self._finish(o, "executed", "Trade", fills)
        if p.self_trade_stop:
            return self._finish(o, "canceled", "SelfTradeCancel", fills)
        if o.time_in_force == "immediate_or_cancel":
            return self._finish(o, "canceled", "Trade" if fills else "", fills)
        o.reserved = own * max(0, o.remaining - max(0, closable - o.fill_count))
        m.resting.append(o)
        o.reason = "Trade" if fills else ""
        self.listener.order_changed(acct, o)
        self.listener.market_changed(m, False)
        return o, fills

    def _finish(self, o: Order, status: str, reason: str, fills: list[FillRecord]) -> tuple[Order, list[FillRecord]]:
        o.status = status
        if status == "canceled":
            o.remaining = 0
        o.reason = reason
        o.updated_ns = self.clock()
        self.listener.order_changed(self.accounts[o.account], o)
        if fills:
            self.listener.market_changed(self.markets[o.ticker], False)
        return o, fills

    def _execute(self, m: Market, taker: Order, matches: list[matching.Match], now: int) -> list[FillRecord]:
        fills: list[FillRecord] = []
        acct = self.accounts[taker.account]
        for mt in matches:
            if mt.maker is None:
                matching.take_external(m, taker.book_side, mt.price, mt.count)
            fills.append(self._fill(acct, m, taker, mt.price, mt.count, True, now))
            if mt.maker is not None:
                self._maker_fill(m, mt.maker, mt.price, mt.count, now, trade=False)
            t = PublicTrade(fills[-1].fill_id, m.ticker, mt.price, mt.count, taker.outcome_side, now)
            self.trades.append(t)
            m.last_price = mt.price
            m.last_trade_size = mt.count
            m.sim_volume += mt.count
            self.listener.trade(m, t)
        return fills

    def _maker_fill(self, m: Market, o: Order, price: int, n: int, now: int, trade: bool = True) -> FillRecord:
        acct = self.accounts[o.account]
        f = self._fill(acct, m, o, price, n, False, now)
        if trade:
            # The tape's taker traded with this resting order: that is a public trade too.
            t = PublicTrade(f.fill_id, m.ticker, price, n, "no" if o.book_side == "bid" else "yes", now)
            self.trades.append(t)
            m.last_price = price
            m.last_trade_size = n
            m.sim_volume += n
            self.listener.trade(m, t)
        if o.remaining == 0:
            o.status = "executed"
            o.reserved = 0
            if o in m.resting:
                m.resting.remove(o)
        o.reason = "Trade"
        o.updated_ns = now
        self.listener.order_changed(acct, o)
        return f

    def _fill(self, acct: Account, m: Market, o: Order, price: int, n: int, is_taker: bool, now: int) -> FillRecord:
        rec = acct.position(m.ticker, m.event_ticker)
        closing = min(n, self._closable(rec, o.book_side))
        own = price if o.book_side == "bid" else ONE - price
        fees = self.fees_of(m)
        fee = fees.taker(price, n) if is_taker else fees.maker(price, n)
        acct.cash += -own * n + ONE * closing - fee
        acct.updated_ns = now
        rec.pos.apply(n if o.book_side == "bid" else -n, price, fee, now)
        rec.total_traded += own * n
        rec.traded_count += n
        rec.last_updated_ns = now
        before = o.remaining
        o.remaining -= n
        o.fill_count += n
        o.fill_value += price * n
        if before > 0 and o.reserved:
            o.reserved = o.reserved * o.remaining // before
        if is_taker:
            o.taker_fill_cost += own * n
            o.taker_fees += fee
        else:
            o.maker_fill_cost += own * n
            o.maker_fees += fee
        side, action = o.side_action()
        f = FillRecord(
            fill_id=new_id(),
            order_id=o.order_id,
            client_order_id=o.client_order_id,
            account=acct.name,
            ticker=m.ticker,
            book_side=o.book_side,
            yes_price=price,
            count=n,
            fee=fee,
            is_taker=is_taker,
            ts_ns=now,
            post_position=rec.pos.count,
            side=side,
            action=action,
        )
        acct.fills.append(f)
        self.listener.fill(acct, f, m)
        self.listener.position_changed(acct, rec)
        return f

    def _cancel(self, o: Order, reason: str) -> int:
        """Cancel a resting order; returns how much was canceled."""
        reduced = o.remaining
        o.remaining = 0
        o.status = "canceled"
        o.reason = reason
        o.reserved = 0
        o.updated_ns = self.clock()
        m = self.markets[o.ticker]
        if o in m.resting:
            m.resting.remove(o)
        self.listener.order_changed(self.accounts[o.account], o)
        self.listener.market_changed(m, False)
        return reduced

    def _resting_order(self, acct: Account, order_id: str) -> Order:
        o = self._order_of(acct, order_id)
        if o.status != "resting":
            raise not_found(f"order {order_id} is {o.status}, not resting; nothing to change", "not_found")
        return o

    def cancel_order(self, account: str, order_id: str) -> tuple[Order, int]:
        acct = self.account(account)
        o = self._resting_order(acct, order_id)
        return o, self._cancel(o, "")

    def cancel_all(self, account: str, ticker: str | None = None) -> list[tuple[Order, int]]:
        acct = self.account(account)
        out = []
        for o in list(acct.orders.values()):
            if o.status == "resting" and (ticker is None or o.ticker == ticker):
                out.append((o, self._cancel(o, "")))
        return out

    def decrease_order(
        self, account: str, order_id: str, *, reduce_by: int | None = None, reduce_to: int | None = None
    ) -> Order:
        if (reduce_by is None) == (reduce_to is None):
            raise bad_request("give exactly one of reduce_by and reduce_to")
        acct = self.account(account)
        o = self._resting_order(acct, order_id)
        if reduce_by is not None:
            if reduce_by <= 0:
                raise bad_request("reduce_by must be positive")
            target = max(0, o.remaining - reduce_by)
        else:
            assert reduce_to is not None
            if reduce_to < 0:
                raise bad_request("reduce_to must not be negative")
            target = min(o.remaining, reduce_to)
        if target == o.remaining:
            return o
        if target == 0:
            self._cancel(o, "Decrease")
            return o
        before = o.remaining
        o.remaining = target
        o.reserved = o.reserved * target // before
        o.reason = "Decrease"
        o.updated_ns = self.clock()
        self.listener.order_changed(acct, o)
        self.listener.market_changed(self.markets[o.ticker], False)
        return o

    def amend_order(
        self,
        account: str,
        order_id: str,
        *,
        ticker: str,
        book_side: BookSide,
        price: int,
        count: int,
        client_order_id: str | None = None,
        updated_client_order_id: str | None = None,
        expiration_ns: int | object | None = _NO_CHANGE,
    ) -> tuple[Order, list[FillRecord]]:
        """Change a resting order's price and/or total size (``count`` = filled + new remaining)."""
        acct = self.account(account)
        o = self._resting_order(acct, order_id)
        if ticker != o.ticker:
            raise bad_request(f"ticker {ticker!r} does not match the order's market {o.ticker!r}")
        if book_side != o.book_side:
            raise bad_request(f"side {book_side!r} does not match the order's side {o.book_side!r}")
        if client_order_id and client_order_id != o.client_order_id:
            raise bad_request(f"client_order_id {client_order_id!r} does not match the order's")
        m = self.markets[o.ticker]
        self._check_tradable(m)
        self._check_price(m, price)
        if count <= o.fill_count:
            raise bad_request(
                f"count is the new total (filled + remaining) and must exceed the {format_count(o.fill_count)} "
                "already filled; to cancel use DELETE"
            )
        if (
            updated_client_order_id
            and updated_client_order_id != o.client_order_id
            and updated_client_order_id in acct.by_client_id
        ):
            raise SimError(409, "order_already_exists", f"client_order_id {updated_client_order_id!r} is in use")
        new_remaining = count - o.fill_count
        own = price if book_side == "bid" else ONE - price
        closable = self._closable(acct.positions.get(o.ticker), book_side)
        new_reserve = own * max(0, new_remaining - closable)
        if new_reserve - o.reserved > acct.available:
            raise SimError(400, "insufficient_balance", "the amended order needs more balance than is available")
        p = matching.plan(m, book_side, price, new_remaining, acct.name, o.self_trade_prevention_type)
        if o.post_only and (p.matches or p.self_trade_stop):
            raise bad_request("this post_only order would cross at the new price", "post_only_cross")
        now = self.clock()
        if price != o.price or new_remaining > o.remaining:
            o.priority = next(self._priority)
        o.price = price
        o.remaining = new_remaining
        o.initial = count
        o.reserved = new_reserve
        o.reason = "Amend"
        o.updated_ns = now
        if expiration_ns is not _NO_CHANGE:
            o.expiration_ns = expiration_ns  # type: ignore[assignment]
        if updated_client_order_id and updated_client_order_id != o.client_order_id:
            acct.by_client_id.pop(o.client_order_id, None)
            o.client_order_id = updated_client_order_id
            acct.by_client_id[o.client_order_id] = o
        m.resting.remove(o)  # it trades as a taker now, then rests again with what is left
        for maker in p.cancel_makers:
            self._cancel(maker, "SelfTradeCancel")
        fills = self._execute(m, o, p.matches, now)
        if o.remaining == 0:
            o.status = "executed"
            o.reserved = 0
            o.reason = "Trade"
        elif p.self_trade_stop:
            o.status = "canceled"
            o.remaining = 0
            o.reserved = 0
            o.reason = "SelfTradeCancel"
        else:
            m.resting.append(o)
        self.listener.order_changed(acct, o)
        self.listener.market_changed(m, False)
        return o, fills


__all__ = ["DEFAULT_ACCOUNT", "Exchange", "Listener", "NullListener", "grid_from_ranges"]
