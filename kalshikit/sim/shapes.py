"""The JSON shapes the simulator sends: Kalshi's current REST objects and WebSocket ``msg`` bodies.

Every field the official SDK's models require is present (it validates strictly). Field names and formats follow
the protocol note: dollar strings for prices (4 decimals) and money (6 decimals), ``_fp`` strings for counts,
RFC3339 ``*_time`` fields, integer cents only where Kalshi still uses them (balance, settlement revenue). The
``legacy`` switch adds the integer cent/count fields of the 2026-02 changeover era to WebSocket messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kalshikit.sim.model import (
    ONE,
    Account,
    FillRecord,
    Market,
    Order,
    PositionRecord,
    PublicTrade,
    SeriesRecord,
    SettlementRecord,
)
from kalshikit.sim.wire import (
    cents,
    count_str,
    fmt_price,
    legacy_cents,
    legacy_count,
    money_str,
    money_str4,
    ms,
    price_str,
    rfc3339,
    rfc3339_s,
    secs,
    whole_dollars,
)

# ---------------------------------------------------------------------------- REST objects


def price_ranges(m: Market) -> list[dict[str, str]]:
    return [{"start": fmt_price(r.start), "end": fmt_price(r.end), "step": fmt_price(r.step)} for r in m.grid.ranges]


def market_json(m: Market) -> dict[str, Any]:
    bid, bid_size, ask, ask_size = m.top()
    expiration = m.close_ns + max(m.settlement_timer_seconds, 0) * 1_000_000_000
    out: dict[str, Any] = {
        "ticker": m.ticker,
        "event_ticker": m.event_ticker,
        "market_type": "binary",
        "title": m.title,
        "subtitle": m.subtitle,
        "yes_sub_title": m.yes_sub_title,
        "no_sub_title": m.no_sub_title,
        "created_time": rfc3339(m.created_ns),
        "updated_time": rfc3339(m.updated_ns),
        "open_time": rfc3339_s(m.open_ns),
        "close_time": rfc3339_s(m.close_ns),
        "expected_expiration_time": rfc3339_s(m.close_ns),
        "expiration_time": rfc3339_s(expiration),
        "latest_expiration_time": rfc3339_s(expiration),
        "settlement_timer_seconds": m.settlement_timer_seconds,
        "status": m.status,
        "yes_bid_dollars": price_str(bid),
        "yes_bid_size_fp": count_str(bid_size),
        "yes_ask_dollars": price_str(ask, ONE),
        "yes_ask_size_fp": count_str(ask_size),
        "no_bid_dollars": price_str(None if ask is None else ONE - ask),
        "no_ask_dollars": price_str(None if bid is None else ONE - bid, ONE),
        "last_price_dollars": price_str(m.last_price),
        "volume_fp": count_str(m.volume),
        "volume_24h_fp": count_str(m.volume),
        "result": m.result,
        "can_close_early": m.can_close_early,
        "open_interest_fp": count_str(m.open_interest),
        "notional_value_dollars": "1.0000",
        "previous_yes_bid_dollars": price_str(m.previous_yes_bid),
        "previous_yes_ask_dollars": price_str(m.previous_yes_ask, ONE),
        "previous_price_dollars": price_str(m.previous_price),
        "settlement_bounds_type": "default",
        "expiration_value": "" if not m.result else m.result,
        "rules_primary": m.rules_primary,
        "rules_secondary": m.rules_secondary,
        "price_level_structure": m.grid.structure,
        "price_ranges": price_ranges(m),
        "exchange_index": 0,
    }
    if m.settlement_value is not None and m.status in ("determined", "finalized"):
        out["settlement_value_dollars"] = fmt_price(m.settlement_value)
    if m.settled_ns:
        out["settlement_ts"] = rfc3339(m.settled_ns)
    if m.mve_collection_ticker:
        out["mve_collection_ticker"] = m.mve_collection_ticker
    return out


def series_json(s: SeriesRecord) -> dict[str, Any]:
    """A ``Series`` object; ``fee_type``/``fee_multiplier`` are the schedule the series' markets are charged."""
    return {
        "ticker": s.ticker,
        "title": s.title,
        "category": s.category,
        "frequency": s.frequency,
        "tags": list(s.tags),
        "settlement_sources": [{"name": "kalshikit simulator", "url": "https://localhost/"}],
        "contract_url": f"https://localhost/contracts/{s.ticker}.pdf",
        "contract_terms_url": f"https://localhost/contract_terms/{s.ticker}.pdf",
        "additional_prohibitions": [],
        "product_metadata": None,
        **s.fees.to_wire(),
        "last_updated_ts": rfc3339(s.updated_ns),
        "exchange_index": 0,
    }


def order_json(o: Order) -> dict[str, Any]:
    side, action = o.side_action()
    return {
        "order_id": o.order_id,
        "user_id": o.user_id,
        "client_order_id": o.client_order_id,
        "ticker": o.ticker,
        "side": side,
        "action": action,
        "outcome_side": o.outcome_side,
        "book_side": o.book_side,
        "type": "limit",
        "status": o.status,
        "yes_price_dollars": fmt_price(o.price),
        "no_price_dollars": fmt_price(ONE - o.price),
        "fill_count_fp": count_str(o.fill_count),
        "remaining_count_fp": count_str(o.remaining),
        "initial_count_fp": count_str(o.initial),
        "taker_fill_cost_dollars": money_str(o.taker_fill_cost),
        "maker_fill_cost_dollars": money_str(o.maker_fill_cost),
        "taker_fees_dollars": money_str(o.taker_fees),
        "maker_fees_dollars": money_str(o.maker_fees),
        "expiration_time": rfc3339_s(o.expiration_ns) if o.expiration_ns is not None else None,
        "created_time": rfc3339(o.created_ns),
        "last_update_time": rfc3339(o.updated_ns),
        "self_trade_prevention_type": o.self_trade_prevention_type,
        "order_group_id": o.order_group_id,
        "cancel_order_on_pause": o.cancel_order_on_pause,
        "subaccount_number": 0,
        "exchange_index": 0,
    }


def fill_json(f: FillRecord) -> dict[str, Any]:
    return {
        "fill_id": f.fill_id,
        "trade_id": f.fill_id,
        "exchange_index": 0,
        "order_id": f.order_id,
        "client_order_id": f.client_order_id,
        "ticker": f.ticker,
        "market_ticker": f.ticker,
        "side": f.side,
        "action": f.action,
        "outcome_side": f.outcome_side,
        "book_side": f.book_side,
        "count_fp": count_str(f.count),
        "yes_price_dollars": fmt_price(f.yes_price),
        "no_price_dollars": fmt_price(ONE - f.yes_price),
        "is_taker": f.is_taker,
        "created_time": rfc3339(f.ts_ns),
        "fee_cost": money_str(f.fee),
        "subaccount_number": 0,
        "ts": secs(f.ts_ns),
    }


def position_json(rec: PositionRecord) -> dict[str, Any]:
    return {
        "ticker": rec.ticker,
        "exchange_index": 0,
        "total_traded_dollars": money_str(rec.total_traded),
        "position_fp": count_str(rec.pos.count),
        "market_exposure_dollars": money_str(rec.pos.cost),
        "realized_pnl_dollars": money_str(rec.pos.realized),
        "fees_paid_dollars": money_str(rec.pos.fees),
        "last_updated_ts": rfc3339(rec.last_updated_ns),
    }


def event_positions_json(recs: Iterable[PositionRecord]) -> list[dict[str, Any]]:
    """One ``EventPosition`` per event of the given market positions."""
    events: dict[str, list[PositionRecord]] = {}
    for rec in recs:
        events.setdefault(rec.event_ticker, []).append(rec)
    out = []
    for event, group in events.items():
        out.append(
            {
                "event_ticker": event,
                "total_cost_dollars": money_str(sum(r.total_traded for r in group)),
                "total_cost_shares_fp": count_str(sum(abs(r.pos.count) for r in group)),
                "event_exposure_dollars": money_str(sum(r.pos.cost for r in group)),
                "realized_pnl_dollars": money_str(sum(r.pos.realized for r in group)),
                "fees_paid_dollars": money_str(sum(r.pos.fees for r in group)),
            }
        )
    return out


def settlement_json(s: SettlementRecord) -> dict[str, Any]:
    return {
        "ticker": s.ticker,
        "exchange_index": 0,
        "event_ticker": s.event_ticker,
        "market_result": s.market_result,
        "yes_count_fp": count_str(s.yes_count),
        "yes_total_cost_dollars": money_str(s.yes_total_cost),
        "no_count_fp": count_str(s.no_count),
        "no_total_cost_dollars": money_str(s.no_total_cost),
        "revenue": cents(s.revenue),
        "settled_time": rfc3339(s.settled_ns),
        "fee_cost": money_str(s.fee_cost),
        "value": s.value // 100,
    }


def trade_json(t: PublicTrade) -> dict[str, Any]:
    return {
        "trade_id": t.trade_id,
        "ticker": t.ticker,
        "count_fp": count_str(t.count),
        "yes_price_dollars": fmt_price(t.yes_price),
        "no_price_dollars": fmt_price(ONE - t.yes_price),
        "taker_side": t.taker_side or "yes",
        "taker_outcome_side": t.taker_side or "yes",
        "taker_book_side": t.taker_book_side,
        "created_time": rfc3339(t.ts_ns),
        "is_block_trade": False,
    }


def balance_json(acct: Account, portfolio_value: int) -> dict[str, Any]:
    available = acct.available
    return {
        "balance": cents(available),
        "balance_dollars": money_str4(available),
        "portfolio_value": cents(portfolio_value),
        "updated_ts": secs(acct.updated_ns),
        "balance_breakdown": [{"exchange_index": 0, "balance": money_str4(available)}],
    }


def exchange_status_json(exchange_active: bool, trading_active: bool) -> dict[str, Any]:
    return {
        "exchange_active": exchange_active,
        "trading_active": trading_active,
        "exchange_estimated_resume_time": None,
        "intra_exchange_transfers_active": exchange_active,
    }


def orderbook_json(m: Market, depth: int) -> dict[str, Any]:
    """``orderbook_fp``: bids per side ascending by price (best last); ``depth`` > 0 keeps the best levels."""
    out: dict[str, list[list[str]]] = {}
    for side, key in (("yes", "yes_dollars"), ("no", "no_dollars")):
        levels = sorted(m.visible(side).items())  # type: ignore[arg-type]
        if depth > 0:
            levels = levels[-depth:]
        out[key] = [[fmt_price(p), count_str(c)] for p, c in levels]
    return {"orderbook_fp": out}


# ---------------------------------------------------------------------------- WebSocket msg bodies


def ticker_msg(
    m: Market, now_ns: int, legacy: bool = False, top: tuple[int | None, int, int | None, int] | None = None
) -> dict[str, Any]:
    bid, bid_size, ask, ask_size = top if top is not None else m.top()
    last = m.last_price
    msg: dict[str, Any] = {
        "market_id": m.market_id,
        "market_ticker": m.ticker,
        "price_dollars": price_str(last),
        "yes_bid_dollars": price_str(bid),
        "yes_ask_dollars": price_str(ask, ONE),
        "volume_fp": count_str(m.volume),
        "open_interest_fp": count_str(m.open_interest),
        "dollar_volume": whole_dollars(m.volume * (last or 0)),
        "dollar_open_interest": whole_dollars(m.open_interest * (last or 0)),
        "yes_bid_size_fp": count_str(bid_size),
        "yes_ask_size_fp": count_str(ask_size),
        "last_trade_size_fp": count_str(m.last_trade_size),
        "ts": secs(now_ns),
        "ts_ms": ms(now_ns),
        "time": rfc3339(now_ns),
    }
    if legacy:
        msg["price"] = legacy_cents(last)
        msg["yes_bid"] = legacy_cents(bid)
        msg["yes_ask"] = legacy_cents(ask) if ask is not None else 100
        msg["volume"] = legacy_count(m.volume)
        msg["open_interest"] = legacy_count(m.open_interest)
    return msg


def trade_msg(t: PublicTrade, legacy: bool = False) -> dict[str, Any]:
    taker = t.taker_side or "yes"
    msg: dict[str, Any] = {
        "trade_id": t.trade_id,
        "market_ticker": t.ticker,
        "yes_price_dollars": fmt_price(t.yes_price),
        "no_price_dollars": fmt_price(ONE - t.yes_price),
        "count_fp": count_str(t.count),
        "taker_side": taker,
        "taker_outcome_side": taker,
        "taker_book_side": t.taker_book_side,
        "is_block_trade": False,
        "ts": secs(t.ts_ns),
        "ts_ms": ms(t.ts_ns),
    }
    if legacy:
        msg["yes_price"] = legacy_cents(t.yes_price)
        msg["no_price"] = legacy_cents(ONE - t.yes_price)
        msg["count"] = legacy_count(t.count)
    return msg


def levels_json(levels: Iterable[tuple[int, int]], legacy: bool) -> list[list[Any]]:
    if legacy:
        return [[legacy_cents(p), legacy_count(c)] for p, c in levels]
    return [[fmt_price(p), count_str(c)] for p, c in levels]


def snapshot_msg(m: Market, yes: dict[int, int], no: dict[int, int], legacy: bool = False) -> dict[str, Any]:
    """``orderbook_snapshot`` body; an empty side is omitted, as Kalshi does."""
    msg: dict[str, Any] = {"market_ticker": m.ticker, "market_id": m.market_id}
    ys, ns = sorted(yes.items()), sorted(no.items())
    if ys:
        msg["yes_dollars_fp"] = levels_json(ys, False)
    if ns:
        msg["no_dollars_fp"] = levels_json(ns, False)
    if legacy:
        msg["yes"] = levels_json(ys, True)
        msg["no"] = levels_json(ns, True)
    return msg


def delta_msg(m: Market, side: str, price: int, delta: int, now_ns: int, legacy: bool = False) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "market_ticker": m.ticker,
        "market_id": m.market_id,
        "price_dollars": fmt_price(price),
        "delta_fp": count_str(delta),
        "side": side,
        "ts": rfc3339(now_ns),
        "ts_ms": ms(now_ns),
    }
    if legacy:
        msg["price"] = legacy_cents(price)
        msg["delta"] = delta // 100 if delta >= 0 else -((-delta) // 100)
    return msg


def fill_msg(f: FillRecord) -> dict[str, Any]:
    return {
        "trade_id": f.fill_id,
        "order_id": f.order_id,
        "client_order_id": f.client_order_id,
        "market_ticker": f.ticker,
        "exchange_index": 0,
        "is_taker": f.is_taker,
        "side": f.side,
        "yes_price_dollars": fmt_price(f.yes_price),
        "count_fp": count_str(f.count),
        "fee_cost": money_str(f.fee),
        "action": f.action,
        "outcome_side": f.outcome_side,
        "book_side": f.book_side,
        "ts": secs(f.ts_ns),
        "ts_ms": ms(f.ts_ns),
        "post_position_fp": count_str(f.post_position),
        "purchased_side": f.outcome_side,
        "subaccount": 0,
    }


def position_msg(acct: Account, rec: PositionRecord) -> dict[str, Any]:
    return {
        "user_id": acct.user_id,
        "market_ticker": rec.ticker,
        "position_fp": count_str(rec.pos.count),
        "position_cost_dollars": money_str(rec.pos.cost),
        "realized_pnl_dollars": money_str(rec.pos.realized),
        "fees_paid_dollars": money_str(rec.pos.fees),
        "position_fee_cost_dollars": money_str(rec.pos.fees),
        "volume_fp": count_str(rec.traded_count),
        "subaccount": 0,
    }


def user_order_msg(o: Order) -> dict[str, Any]:
    side, _action = o.side_action()
    msg: dict[str, Any] = {
        "order_id": o.order_id,
        "user_id": o.user_id,
        "ticker": o.ticker,
        "exchange_index": 0,
        "status": o.status,
        "side": side,
        "is_yes": o.book_side == "bid",
        "outcome_side": o.outcome_side,
        "book_side": o.book_side,
        "yes_price_dollars": fmt_price(o.price),
        "fill_count_fp": count_str(o.fill_count),
        "remaining_count_fp": count_str(o.remaining),
        "initial_count_fp": count_str(o.initial),
        "taker_fill_cost_dollars": money_str(o.taker_fill_cost),
        "maker_fill_cost_dollars": money_str(o.maker_fill_cost),
        "taker_fees_dollars": money_str(o.taker_fees),
        "maker_fees_dollars": money_str(o.maker_fees),
        "client_order_id": o.client_order_id,
        "created_time": rfc3339(o.created_ns),
        "created_ts_ms": ms(o.created_ns),
        "last_update_time": rfc3339(o.updated_ns),
        "last_updated_ts_ms": ms(o.updated_ns),
        "self_trade_prevention_type": o.self_trade_prevention_type,
        "subaccount_number": 0,
    }
    if o.reason:
        msg["last_update_reason"] = o.reason
    if o.expiration_ns is not None:
        msg["expiration_time"] = rfc3339_s(o.expiration_ns)
        msg["expiration_ts_ms"] = ms(o.expiration_ns)
    return msg


def lifecycle_msg(m: Market, event_type: str, extra: dict[str, Any]) -> dict[str, Any]:
    """``market_lifecycle_v2`` body; ``created`` carries times, grid and metadata, as Kalshi sends it."""
    msg: dict[str, Any] = {"market_ticker": m.ticker, "event_type": event_type, "exchange_index": 0}
    if event_type == "created":
        msg.update(
            open_ts=secs(m.open_ns),
            close_ts=secs(m.close_ns),
            price_level_structure=m.grid.structure,
            price_ranges=price_ranges(m),
            additional_metadata={
                "name": m.title,
                "title": m.title,
                "yes_sub_title": m.yes_sub_title,
                "no_sub_title": m.no_sub_title,
                "rules_primary": m.rules_primary,
                "rules_secondary": m.rules_secondary,
                "can_close_early": m.can_close_early,
                "event_ticker": m.event_ticker,
                "expected_expiration_ts": secs(m.close_ns),
            },
        )
    elif event_type == "close_date_updated":
        msg["close_ts"] = secs(m.close_ns)
    elif event_type == "price_level_structure_updated":
        msg["price_level_structure"] = m.grid.structure
        msg["price_ranges"] = price_ranges(m)
    msg.update(extra)
    return msg
