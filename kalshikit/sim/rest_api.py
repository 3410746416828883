"""The simulator's REST API under ``/trade-api/v2``: market data, portfolio reads and order writes.

Private endpoints (everything under ``/portfolio``) need the three signed ``KALSHI-ACCESS-*`` headers; public market
data works without them (and verifies them when present). A middleware applies, in order: the order-request log
(receive times, for latency benchmarks), injected REST faults, the per-key token bucket, and Kalshi's error bodies
(nested ``{"error": {...}}``; 429 is ``{"error": "too many requests"}``), and finally the injected reply latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from kalshikit.config import REST_PATH, WS_PATH
from kalshikit.kalshi.auth import HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP
from kalshikit.sim import shapes
from kalshikit.sim.errors import SimError, bad_request, not_found
from kalshikit.sim.exchange import Exchange
from kalshikit.sim.faults import NEVER, Faults
from kalshikit.sim.history_api import HistoryApi
from kalshikit.sim.keys import AuthFailure, KeyRegistry
from kalshikit.sim.model import STATUS_FILTERS, FillRecord, Order, PositionRecord
from kalshikit.sim.order_requests import parse_amend_v2, parse_create_v1, parse_create_v2, parse_decrease
from kalshikit.sim.ratelimit import RateLimiter
from kalshikit.sim.wire import (
    TOO_MANY_REQUESTS_BODY,
    average_per_contract,
    count_str,
    decode,
    encode,
    error_body,
    legacy_count,
    money_str,
    ms,
    rfc3339,
)
from kalshikit.units import NS_PER_S

log = logging.getLogger("kalshikit.sim.rest")
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_LIMIT = 1000
MAX_BATCH = 50
_AUTH_HEADERS = (HEADER_KEY, HEADER_TIMESTAMP, HEADER_SIGNATURE)


@dataclass
class OrderLogEntry:
    """One order-write request as the simulator received it (for tick-to-exit latency measurements)."""

    recv_perf_ns: int  # time.perf_counter_ns() when the request reached the handler chain
    recv_wall_ns: int  # time.time_ns() at the same moment
    method: str
    path: str
    body: Any = None
    client_order_id: str = ""
    order_ids: list[str] = field(default_factory=list)
    status: int = 0  # HTTP status answered (0 while pending or when the reply was withheld)
    held_before: int | None = None  # creates: the account's position in the market when the order arrived


ORDER_LOG = web.RequestKey("order_log", OrderLogEntry)


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=encode(obj), status=status, content_type="application/json")


def _error(status: int, code: str, message: str, details: str = "") -> web.Response:
    if status == 429:
        return _json(TOO_MANY_REQUESTS_BODY, 429)
    return _json(error_body(code, message, details), status)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def _limit(q: dict[str, str] | Any, default: int = 100, maximum: int = MAX_LIMIT) -> int:
    raw = q.get("limit")
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise bad_request(f"limit must be an integer 1..{maximum}, got {raw!r}")
    return int(raw)


def _page(items: Sequence[T], q: Any, default_limit: int = 100) -> tuple[list[T], str]:
    """A page of ``items`` from the opaque ``cursor`` and ``limit``; returns the next cursor ('' at the end)."""
    limit = _limit(q, default_limit)
    cursor = q.get("cursor") or ""
    start = 0
    if cursor:
        if not (cursor.startswith("c") and cursor[1:].isdigit()):
            raise bad_request(f"cursor {cursor[:40]!r} is not one this server gave out; start again without it")
        start = int(cursor[1:])
    page = list(items[start : start + limit])
    nxt = f"c{start + limit}" if start + limit < len(items) else ""
    return page, nxt


def _csv(q: Any, name: str) -> set[str] | None:
    raw = q.get(name)
    if not raw:
        return None
    return {s.strip() for s in raw.split(",") if s.strip()}


def _ts_range(q: Any, lo: str = "min_ts", hi: str = "max_ts") -> tuple[int | None, int | None]:
    out: list[int | None] = []
    for name in (lo, hi):
        raw = q.get(name)
        if raw is None or raw == "":
            out.append(None)
        elif raw.isdigit():
            out.append(int(raw) * NS_PER_S)
        else:
            raise bad_request(f"{name} must be a Unix time in seconds, got {raw!r}")
    return out[0], out[1]


def _in_range(ns: int, rng: tuple[int | None, int | None]) -> bool:
    lo, hi = rng
    return (lo is None or ns >= lo) and (hi is None or ns <= hi)


class RestApi:
    """Routes and handlers. Runs on the simulator's event loop; calls the exchange directly."""

    def __init__(
        self,
        exchange: Exchange,
        keys: KeyRegistry,
        faults: Faults,
        limiter: RateLimiter,
        stopping: asyncio.Event,
        order_log_size: int = 100_000,
    ) -> None:
        self.ex = exchange
        self.keys = keys
        self.faults = faults
        self.limiter = limiter
        self.stopping = stopping
        self.order_log: deque[OrderLogEntry] = deque(maxlen=order_log_size)
        # Called on the event loop with (entry, "received") before an order create is executed and (entry,
        # "executed") after, before the reply is sent: crash tests kill the client at exactly those moments.
        self.order_hook: Callable[[OrderLogEntry, str], None] | None = None
        self.requests_served = 0
        self.history = HistoryApi(exchange, self._check_optional_auth)  # candlesticks; past markets' trades

    # ================================================================== app wiring
    def add_routes(self, app: web.Application) -> None:
        r = app.router
        p = REST_PATH
        r.add_get(p + "/exchange/status", self.exchange_status)
        r.add_get(p + "/exchange/user_data_timestamp", self.user_data_timestamp)
        r.add_get(p + "/markets", self.markets)
        r.add_get(p + "/markets/trades", self.trades)
        r.add_get(p + "/markets/{ticker}", self.market)
        r.add_get(p + "/markets/{ticker}/orderbook", self.orderbook)
        r.add_get(p + "/series", self.series_list)
        r.add_get(p + "/series/{series_ticker}", self.series)
        r.add_get(p + "/portfolio/balance", self.balance)
        r.add_get(p + "/portfolio/positions", self.positions)
        r.add_get(p + "/portfolio/orders", self.orders)
        r.add_get(p + "/portfolio/orders/{order_id}", self.order)
        r.add_get(p + "/portfolio/fills", self.fills)
        r.add_get(p + "/portfolio/settlements", self.settlements)
        r.add_post(p + "/portfolio/events/orders", self.create_v2)
        r.add_delete(p + "/portfolio/events/orders", self.cancel_all)
        r.add_post(p + "/portfolio/events/orders/batched", self.batch_create)
        r.add_delete(p + "/portfolio/events/orders/batched", self.batch_cancel)
        r.add_delete(p + "/portfolio/events/orders/{order_id}", self.cancel_v2)
        r.add_post(p + "/portfolio/events/orders/{order_id}/amend", self.amend_v2)
        r.add_post(p + "/portfolio/events/orders/{order_id}/decrease", self.decrease_v2)
        r.add_post(p + "/portfolio/orders", self.create_v1)
        r.add_delete(p + "/portfolio/orders/{order_id}", self.cancel_v1)
        self.history.add_routes(app)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        recv_perf, recv_wall = time.perf_counter_ns(), time.time_ns()
        path = request.path
        if path == WS_PATH:
            return await handler(request)
        self.requests_served += 1
        rel = path[len(REST_PATH) :] if path.startswith(REST_PATH) else path
        entry: OrderLogEntry | None = None
        if request.method in ("POST", "DELETE") and rel.startswith("/portfolio/") and "orders" in rel:
            entry = OrderLogEntry(recv_perf, recv_wall, request.method, path)
            self.order_log.append(entry)
            request[ORDER_LOG] = entry
        injected = self.faults.take_rest_error(rel)
        if injected is not None:
            resp: web.StreamResponse = _error(
                injected, _STATUS_CODES.get(injected, "injected_fault"), f"simulator fault injection: HTTP {injected}"
            )
        elif not self.limiter.allow(request.headers.get(HEADER_KEY) or request.remote or "?", request.method != "GET"):
            resp = _json(TOO_MANY_REQUESTS_BODY, 429)
        else:
            try:
                resp = await handler(request)
            except SimError as exc:
                resp = _error(exc.status, exc.code, exc.message, exc.details)
            except web.HTTPException as exc:
                if exc.status == 404:
                    resp = _error(404, "not_found", f"no such endpoint: {request.method} {path}")
                elif exc.status == 405:
                    resp = _error(405, "method_not_allowed", f"{request.method} is not allowed on {path}")
                else:
                    resp = _error(exc.status, _STATUS_CODES.get(exc.status, "error"), exc.reason)
            except Exception as exc:  # a simulator bug: answer like Kalshi's 500 and keep serving
                log.exception("internal error on %s %s", request.method, path)
                resp = _error(500, "internal_server_error", f"simulator internal error: {type(exc).__name__}: {exc}")
        if entry is not None:
            entry.status = resp.status
        latency = self.faults.latency_ms
        if latency > 0:
            await asyncio.sleep(latency / 1000)
        return resp

    # ================================================================== auth
    def _account(self, request: web.Request) -> str:
        """The account of a signed request; raises 401 with what is wrong."""
        try:
            return self.keys.verify_headers(request.method, request.path, request.headers).account
        except AuthFailure as exc:
            raise SimError(401, "unauthorized", str(exc)) from None

    def _check_optional_auth(self, request: web.Request) -> None:
        if any(h in request.headers for h in _AUTH_HEADERS):
            self._account(request)

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            raise bad_request("request body is empty; send a JSON object", "missing_parameters")
        try:
            return decode(raw)
        except Exception as exc:
            raise bad_request(f"request body is not valid JSON: {exc}") from None

    # ================================================================== public market data
    async def exchange_status(self, request: web.Request) -> web.StreamResponse:
        self._check_optional_auth(request)
        return _json(shapes.exchange_status_json(self.ex.exchange_active, self.ex.trading_active))

    async def user_data_timestamp(self, request: web.Request) -> web.StreamResponse:
        self._account(request)
        return _json({"as_of_time": rfc3339(self._as_of())})

    def _as_of(self) -> int:
        """The time up to which the portfolio endpoints are current (now, or now minus the REST-lag fault)."""
        return self.ex.clock() - int(self.faults.rest_lag_s * 1e9)

    async def markets(self, request: web.Request) -> web.StreamResponse:
        self._check_optional_auth(request)
        q = request.query
        statuses = _csv(q, "status")
        allowed: set[str] | None = None
        if statuses is not None:
            allowed = set()
            for s in statuses:
                if s not in STATUS_FILTERS:
                    raise bad_request(f"status must be one of {', '.join(STATUS_FILTERS)}, got {s!r}")
                allowed |= STATUS_FILTERS[s]
        tickers = _csv(q, "tickers")
        events = _csv(q, "event_ticker")
        series = q.get("series_ticker") or None
        close_rng = _ts_range(q, "min_close_ts", "max_close_ts")
        mve = q.get("mve_filter") or None
        if mve is not None and mve not in ("only", "exclude"):
            raise bad_request(f"mve_filter must be only or exclude, got {mve!r}")
        items = [
            m
            for m in self.ex.markets.values()
            if (allowed is None or m.status in allowed)
            and (tickers is None or m.ticker in tickers)
            and (events is None or m.event_ticker in events)
            and (series is None or m.series_ticker == series)
            and (mve is None or (mve == "only") == bool(m.mve_collection_ticker))
            and _in_range(m.close_ns, close_rng)
        ]
        page, cursor = _page(items, q)
        return _json({"markets": [shapes.market_json(m) for m in page], "cursor": cursor})

    async def market(self, request: web.Request) -> web.StreamResponse:
        self._check_optional_auth(request)
        return _json({"market": shapes.market_json(self.ex.market(request.match_info["ticker"]))})

    async def orderbook(self, request: web.Request) -> web.StreamResponse:
        self._check_optional_auth(request)
        m = self.ex.market(request.match_info["ticker"])
        raw = request.query.get("depth") or "0"
        if not raw.isdigit() or int(raw) > 100:
            raise bad_request(f"depth must be 0 (all levels) or 1..100, got {raw!r}")
        return _json(shapes.orderbook_json(m, int(raw)))

    async def series(self, request: web.Request) -> web.StreamResponse:
        self._check_optional_auth(request)
        return _json({"series": shapes.series_json(self.ex.series_of(request.match_info["series_ticker"]))})

    async def series_list(self, request: web.Request) -> web.StreamResponse:
        self._check_optional_auth(request)
        category = request.query.get("category") or None
        tags = _csv(request.query, "tags")
        items = [
            s
            for s in self.ex.series.values()
            if (category is None or s.category == category) and (tags is None or tags & set(s.tags))
        ]
        return _json({"series": [shapes.series_json(s) for s in items]})

    async def trades(self, request: web.Request) -> web.StreamResponse:
        self._check_optional_auth(request)
        q = request.query
        ticker = q.get("ticker") or None
        if ticker is not None and ticker not in self.ex.markets:
            raise not_found(f"market {ticker!r} does not exist", "market_not_found")
        rng = _ts_range(q)
        items = [
            t for t in reversed(self.ex.trades) if (ticker is None or t.ticker == ticker) and _in_range(t.ts_ns, rng)
        ]
        items = self.history.with_recorded_trades(items, ticker, rng)
        page, cursor = _page(items, q)
        return _json({"trades": [shapes.trade_json(t) for t in page], "cursor": cursor})

    # ================================================================== portfolio reads
    async def balance(self, request: web.Request) -> web.StreamResponse:
        acct = self.ex.account(self._account(request))
        return _json(shapes.balance_json(acct, self.ex.portfolio_value(acct)))

    async def positions(self, request: web.Request) -> web.StreamResponse:
        acct = self.ex.account(self._account(request))
        q = request.query
        status = q.get("settlement_status") or "unsettled"
        if status not in ("unsettled", "settled", "all"):
            raise bad_request(f"settlement_status must be unsettled, settled or all, got {status!r}")
        recs: list[PositionRecord] = []
        if status in ("unsettled", "all"):
            recs.extend(acct.positions.values())
        if status in ("settled", "all"):
            recs.extend(acct.closed_positions)
        ticker = q.get("ticker") or None
        events = _csv(q, "event_ticker")
        filters = _csv(q, "count_filter")
        if filters is not None and not filters <= {"position", "total_traded"}:
            raise bad_request("count_filter is a comma list of position and/or total_traded")
        recs = [
            r
            for r in recs
            if (ticker is None or r.ticker == ticker)
            and (events is None or r.event_ticker in events)
            and (
                filters is None
                or ("position" in filters and r.pos.count != 0)
                or ("total_traded" in filters and r.total_traded != 0)
            )
        ]
        recs.sort(key=lambda r: r.last_updated_ns, reverse=True)
        page, cursor = _page(recs, q)
        return _json(
            {
                "market_positions": [shapes.position_json(r) for r in page],
                "event_positions": shapes.event_positions_json(page),
                "cursor": cursor,
            }
        )

    async def orders(self, request: web.Request) -> web.StreamResponse:
        acct = self.ex.account(self._account(request))
        q = request.query
        ticker = q.get("ticker") or None
        events = _csv(q, "event_ticker")
        status = q.get("status") or None
        if status is not None and status not in ("resting", "canceled", "executed"):
            raise bad_request(f"status must be resting, canceled or executed, got {status!r}")
        rng = _ts_range(q)
        as_of = self._as_of()
        items = [
            o
            for o in reversed(list(acct.orders.values()))
            if (ticker is None or o.ticker == ticker)
            and (events is None or self._event_of(o.ticker) in events)
            and (status is None or o.status == status)
            and _in_range(o.created_ns, rng)
            and o.created_ns <= as_of
        ]
        page, cursor = _page(items, q)
        return _json({"orders": [shapes.order_json(o) for o in page], "cursor": cursor})

    def _event_of(self, ticker: str) -> str:
        m = self.ex.markets.get(ticker)
        return m.event_ticker if m is not None else ""

    async def order(self, request: web.Request) -> web.StreamResponse:
        acct = self.ex.account(self._account(request))
        o = acct.orders.get(request.match_info["order_id"])
        if o is None:
            raise not_found(f"order {request.match_info['order_id']!r} does not exist for this account")
        return _json({"order": shapes.order_json(o)})

    async def fills(self, request: web.Request) -> web.StreamResponse:
        acct = self.ex.account(self._account(request))
        q = request.query
        tickers = _csv(q, "ticker")
        order_id = q.get("order_id") or None
        rng = _ts_range(q)
        items = [
            f
            for f in reversed(acct.fills)
            if (tickers is None or f.ticker in tickers)
            and (order_id is None or f.order_id == order_id)
            and _in_range(f.ts_ns, rng)
        ]
        page, cursor = _page(items, q)
        return _json({"fills": [shapes.fill_json(f) for f in page], "cursor": cursor})

    async def settlements(self, request: web.Request) -> web.StreamResponse:
        acct = self.ex.account(self._account(request))
        q = request.query
        ticker = q.get("ticker") or None
        events = _csv(q, "event_ticker")
        rng = _ts_range(q)
        items = [
            s
            for s in reversed(acct.settlements)
            if (ticker is None or s.ticker == ticker)
            and (events is None or s.event_ticker in events)
            and _in_range(s.settled_ns, rng)
        ]
        page, cursor = _page(items, q)
        return _json({"settlements": [shapes.settlement_json(s) for s in page], "cursor": cursor})

    # ================================================================== order writes
    async def _reply_order_write(self, request: web.Request, resp: web.Response) -> web.StreamResponse:
        """Apply the ``hang_orders`` and ``fail_after_execute`` faults: the order executed, but the reply is late,
        never comes, or is an error."""
        failure = self.faults.take_failure_after_execute()
        if failure is not None:
            return _error(failure, _STATUS_CODES.get(failure, "internal_server_error"), "simulator fault: HTTP "
                          f"{failure} after the order executed")
        delay = self.faults.take_order_hang()
        if delay is None:
            return resp
        entry: OrderLogEntry | None = request.get(ORDER_LOG)
        if delay == NEVER:
            await self._wait_stopping(None)
            if request.transport is not None:
                request.transport.close()
            if entry is not None:
                entry.status = 0
            return resp
        await self._wait_stopping(delay)
        return resp

    async def _wait_stopping(self, timeout: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout)

    def _log_order(self, request: web.Request, body: Any, orders: list[Order]) -> None:
        entry: OrderLogEntry | None = request.get(ORDER_LOG)
        if entry is None:
            return
        entry.body = body
        if orders:
            entry.client_order_id = orders[0].client_order_id
            entry.order_ids = [o.order_id for o in orders]

    @staticmethod
    def _create_reply(o: Order, fills: list[FillRecord]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "order_id": o.order_id,
            "client_order_id": o.client_order_id,
            "fill_count": count_str(o.fill_count),
            "remaining_count": count_str(o.remaining),
            "ts_ms": ms(o.updated_ns),
        }
        if o.fill_count:
            out["average_fill_price"] = money_str(average_per_contract(o.fill_value, o.fill_count))
            out["average_fee_paid"] = money_str(average_per_contract(o.fees, o.fill_count))
        return out

    async def create_v2(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        body = await self._body(request)
        self._log_order(request, body, [])
        req = parse_create_v2(body)
        entry: OrderLogEntry | None = request.get(ORDER_LOG)
        if entry is not None:
            rec = self.ex.account(account).positions.get(req.ticker)
            entry.held_before = rec.pos.count if rec is not None else 0
            self._hook(entry, "received")
        o, fills = self.ex.create_order(account, req)
        self._log_order(request, body, [o])
        if entry is not None:
            self._hook(entry, "executed")
        return await self._reply_order_write(request, _json(self._create_reply(o, fills), 201))

    def _hook(self, entry: OrderLogEntry, phase: str) -> None:
        hook = self.order_hook
        if hook is not None:
            try:
                hook(entry, phase)
            except Exception:  # a test's hook must not break the exchange
                log.exception("order hook failed")

    async def create_v1(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        body = await self._body(request)
        self._log_order(request, body, [])
        o, _fills = self.ex.create_order(account, parse_create_v1(body))
        self._log_order(request, body, [o])
        return await self._reply_order_write(request, _json({"order": shapes.order_json(o)}, 201))

    async def batch_create(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        body = await self._body(request)
        items = body.get("orders") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise bad_request('body must be {"orders": [CreateOrderV2Request, ...]} with at least one order')
        if len(items) > MAX_BATCH:
            raise bad_request(f"at most {MAX_BATCH} orders per batch, got {len(items)}")
        out = []
        placed = []
        for item in items:
            cid = item.get("client_order_id") if isinstance(item, dict) else None
            try:
                o, fills = self.ex.create_order(account, parse_create_v2(item))
            except SimError as exc:
                err: dict[str, Any] = {"error": error_body(exc.code, exc.message)["error"]}
                if isinstance(cid, str):
                    err["client_order_id"] = cid
                out.append(err)
                continue
            placed.append(o)
            out.append(self._create_reply(o, fills))
        self._log_order(request, body, placed)
        return await self._reply_order_write(request, _json({"orders": out}, 201))

    async def cancel_v2(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        o, reduced = self.ex.cancel_order(account, request.match_info["order_id"])
        self._log_order(request, None, [o])
        return _json(
            {
                "order_id": o.order_id,
                "client_order_id": o.client_order_id,
                "reduced_by": count_str(reduced),
                "ts_ms": ms(o.updated_ns),
            }
        )

    async def cancel_v1(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        o, reduced = self.ex.cancel_order(account, request.match_info["order_id"])
        self._log_order(request, None, [o])
        return _json(
            {"order": shapes.order_json(o), "reduced_by": legacy_count(reduced), "reduced_by_fp": count_str(reduced)}
        )

    async def cancel_all(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        done = self.ex.cancel_all(account)
        self._log_order(request, None, [o for o, _ in done])
        return web.Response(status=204)

    async def batch_cancel(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        body = await self._body(request)
        if isinstance(body, dict) and isinstance(body.get("orders"), list):
            ids = [i.get("order_id") if isinstance(i, dict) else None for i in body["orders"]]
        elif isinstance(body, dict) and isinstance(body.get("ids"), list):
            ids = list(body["ids"])
        else:
            raise bad_request('body must be {"orders": [{"order_id": ...}, ...]}')
        if not ids:
            raise bad_request("no orders to cancel")
        if len(ids) > MAX_BATCH:
            raise bad_request(f"at most {MAX_BATCH} orders per batch, got {len(ids)}")
        out = []
        done = []
        for oid in ids:
            if not isinstance(oid, str):
                out.append(
                    {
                        "order_id": str(oid),
                        "reduced_by": "0.00",
                        "error": error_body("invalid_parameters", "order_id must be a string")["error"],
                    }
                )
                continue
            try:
                o, reduced = self.ex.cancel_order(account, oid)
            except SimError as exc:
                out.append({"order_id": oid, "reduced_by": "0.00", "error": error_body(exc.code, exc.message)["error"]})
                continue
            done.append(o)
            out.append(
                {
                    "order_id": o.order_id,
                    "client_order_id": o.client_order_id,
                    "reduced_by": count_str(reduced),
                    "ts_ms": ms(o.updated_ns),
                }
            )
        self._log_order(request, body, done)
        return _json({"orders": out})

    async def amend_v2(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        body = await self._body(request)
        args = parse_amend_v2(body)
        o, _fills = self.ex.amend_order(account, request.match_info["order_id"], **args)
        self._log_order(request, body, [o])
        out = self._create_reply(o, [])
        return _json(out)

    async def decrease_v2(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        body = await self._body(request)
        by, to = parse_decrease(body)
        o = self.ex.decrease_order(account, request.match_info["order_id"], reduce_by=by, reduce_to=to)
        self._log_order(request, body, [o])
        return _json(
            {
                "order_id": o.order_id,
                "client_order_id": o.client_order_id,
                "remaining_count": count_str(o.remaining),
                "ts_ms": ms(o.updated_ns),
            }
        )
