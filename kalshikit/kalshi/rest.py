"""The Kalshi REST client: signed, rate-limited, retrying requests that return the kit's typed results.

One ``urllib3`` connection pool keeps connections alive (this client is on the stop-loss exit path, and urllib3
costs about 130 µs less per request than ``requests`` on top of it). Every request first
takes a token from the read or write :class:`~kalshikit.kalshi.ratelimit.TokenBucket`, then is signed with
:class:`~kalshikit.kalshi.auth.KalshiSigner` over the real path (``/trade-api/v2/...``, no query) when a signer is
present; calls under ``/portfolio`` need one.

Retries (exponential backoff with jitter, bounded attempts):

- reads, cancels and ``decrease(reduce_to=...)`` are idempotent: 429, 5xx, timeouts and dropped connections are
  retried;
- an order create is retried only with the *same* ``client_order_id`` (one is generated when the caller gives
  none). A 409 ``order_already_exists`` on a retry means an earlier attempt got through: the order is looked up and
  returned (``recovered=True``). When a reply was lost and the order cannot be found, the create raises
  :class:`~kalshikit.errors.OrderOutcomeUnknown` carrying the ``client_order_id``;
- amends and ``decrease(reduce_by=...)`` are retried only when the request surely did not arrive (429, connection
  refused); a lost reply raises :class:`~kalshikit.errors.OrderOutcomeUnknown`.

Errors are the kit's typed errors (see :mod:`kalshikit.kalshi.http_errors`). No log line or message contains key
material or the full key id.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import msgspec
import urllib3

from kalshikit.config import Settings, mask_key_id
from kalshikit.core.events import BookSide, BookSnapshot, Fill, OrderUpdate
from kalshikit.errors import (
    ConfigError,
    CredentialsError,
    DuplicateOrder,
    ExchangeError,
    NotFoundError,
    OrderOutcomeUnknown,
    OrderRejected,
    ProtocolError,
    RateLimited,
    TemporaryError,
)
from kalshikit.kalshi import models
from kalshikit.kalshi.auth import KalshiSigner
from kalshikit.kalshi.http_errors import error_for_item, error_for_status
from kalshikit.kalshi.models import (
    AmendResult,
    Balance,
    CancelResult,
    Candle,
    DecreaseResult,
    ExchangeStatus,
    Market,
    MarketPosition,
    OrderRequest,
    OrderResult,
    PublicTrade,
    SelfTradePrevention,
    Series,
    SettlementRecord,
    TimeInForce,
)
from kalshikit.kalshi.ratelimit import TokenBucket
from kalshikit.units import NS_PER_S, format_count, format_price

log = logging.getLogger(__name__)

T = TypeVar("T")
Retry = Literal["idempotent", "if_unsent"]

ORDERS_V2 = "/portfolio/events/orders"
LOOKUP_MARGIN_NS = 200_000_000  # clock skew allowed between us and the exchange when judging a lookup
LOOKUP_FALLBACK_NS = 10_000_000_000  # without a freshness stamp, "not found" is believed this long after a send
CANDLE_PERIODS: tuple[int, ...] = (1, 60, 1440)  # candlestick period_interval values, minutes
# GET /markets filter vocabulary (the API's status filter words, paused per OAS 3.13; mve_filter values).
MARKET_STATUS_FILTERS: tuple[str, ...] = ("unopened", "open", "paused", "closed", "settled")
MVE_FILTERS: tuple[str, ...] = ("exclude", "only")
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_ACCEPT = {"Accept": "application/json"}


class _TransportFailure(Exception):
    """A request that got no HTTP answer. ``maybe_sent``: False only when the connection was never made."""

    def __init__(self, exc: Exception, maybe_sent: bool, timeout: bool) -> None:
        super().__init__(str(exc))
        self.exc = exc
        self.maybe_sent = maybe_sent
        self.timeout = timeout


class OrderLookup(msgspec.Struct, frozen=True):
    """The answer to :meth:`KalshiRest.lookup_order`: the order, or None; ``conclusive`` = None means absent."""

    order: OrderUpdate | None
    conclusive: bool


class _Delivery:
    """Set by a retry loop when an earlier attempt may have reached the exchange (lost reply or 5xx)."""

    __slots__ = ("maybe_delivered",)

    def __init__(self) -> None:
        self.maybe_delivered = False


def _unwrap(exc: Exception) -> Exception:
    reason = getattr(exc, "reason", None)
    return reason if isinstance(exc, urllib3.exceptions.MaxRetryError) and isinstance(reason, Exception) else exc


def _never_sent(exc: Exception) -> bool:
    """True only when the connection itself could not be made: the request surely did not reach the server."""
    return isinstance(_unwrap(exc), urllib3.exceptions.ConnectTimeoutError | urllib3.exceptions.NewConnectionError)


def _is_timeout(exc: Exception) -> bool:
    e = _unwrap(exc)  # NewConnectionError subclasses ConnectTimeoutError in urllib3: a refusal is not a timeout
    return isinstance(e, urllib3.exceptions.TimeoutError) and not isinstance(e, urllib3.exceptions.NewConnectionError)


def _seg(value: str) -> str:
    """A path segment (ticker, order id), percent-encoded."""
    return quote(value, safe="")


def _ns_to_s(ns: int | None) -> str | None:
    return None if ns is None else str(ns // NS_PER_S)


class KalshiRest:
    """A Kalshi REST client. Thread-safe; share one per process and :meth:`close` it when done.

    ``base_url`` ends in ``/trade-api/v2`` (e.g. the simulator's ``rest_url``). Rates are requests per second
    for the client-side buckets; ``*_burst`` is the bucket size (default one second of budget). A request that would
    wait more than ``max_token_wait`` seconds for a token fails with :class:`RateLimited` instead of blocking.
    ``trust_env=True`` sends requests through the ``HTTPS_PROXY`` of the environment (default: direct).
    """

    def __init__(
        self,
        base_url: str,
        signer: KalshiSigner | None = None,
        *,
        timeout: float = 10.0,
        reads_per_second: float = 20.0,
        writes_per_second: float = 10.0,
        read_burst: float | None = None,
        write_burst: float | None = None,
        max_token_wait: float = 2.0,
        read_attempts: int = 4,
        write_attempts: int = 3,
        backoff_base: float = 0.1,
        backoff_max: float = 2.0,
        conclusive_wait: float = 2.0,
        trust_env: bool = False,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"KALSHI_REST_URL={base_url!r} must be an http(s) URL ending in /trade-api/v2, e.g. "
                "https://external-api.kalshi.com/trade-api/v2 or the simulator's rest_url"
            )
        if read_attempts < 1 or write_attempts < 1:
            raise ConfigError("read_attempts and write_attempts must be >= 1")
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ConfigError(f"KALSHI_HTTP_TIMEOUT must be a positive number of seconds, got {timeout}")
        self.base_url = base_url.rstrip("/")
        self._base_path = urlsplit(self.base_url).path
        self._signer = signer
        self._key_id = signer.key_id if signer is not None else None
        self.timeout = float(timeout)
        self.read_bucket = TokenBucket(reads_per_second, read_burst, name="read")
        self.write_bucket = TokenBucket(writes_per_second, write_burst, name="write")
        self.max_token_wait = max_token_wait
        self.read_attempts = read_attempts
        self.write_attempts = write_attempts
        self.conclusive_wait = conclusive_wait
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._rng = random.Random()
        proxy = (os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")) if trust_env else None
        pool_kw: dict[str, Any] = {"num_pools": 4, "maxsize": 8, "retries": False}
        self._pool: urllib3.PoolManager = urllib3.ProxyManager(proxy, **pool_kw) if proxy else urllib3.PoolManager(
            **pool_kw
        )
        self._timeout = urllib3.Timeout(connect=self.timeout, read=self.timeout)
        self._mlock = threading.Lock()
        self._requests = 0
        self._retries = 0
        self._http_429 = 0
        self._recovered = 0
        self._errors: Counter[str] = Counter()
        self._last_latency_s: float | None = None
        self._last_status = 0

    @classmethod
    def from_settings(cls, settings: Settings, signer: KalshiSigner | None = None, **kw: Any) -> KalshiRest:
        """Build from settings (``rest_url``, ``http_timeout``, rates); the signer comes from the credentials when
        not given. Extra keyword arguments go to the constructor."""
        if not settings.rest_url:
            raise ConfigError(
                "KALSHI_REST_URL is empty: with KALSHI_ENV=sim start the simulator and use its rest_url "
                "(settings.replace(rest_url=sim.rest_url)), or set KALSHI_ENV=demo/prod"
            )
        if signer is None and settings.has_credentials:
            signer = KalshiSigner.from_settings(settings)
        kw.setdefault("timeout", settings.http_timeout)
        kw.setdefault("reads_per_second", settings.reads_per_second)
        kw.setdefault("writes_per_second", settings.writes_per_second)
        return cls(settings.rest_url, signer, **kw)

    # ================================================================== lifecycle, metrics
    def close(self) -> None:
        self._pool.clear()

    def __enter__(self) -> KalshiRest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        key = mask_key_id(self._key_id)
        return f"KalshiRest({self.base_url!r}, key={key})"

    def metrics(self) -> dict[str, Any]:
        """A snapshot: requests sent, retries, 429s, errors by kind, last latency, and both token buckets."""
        with self._mlock:
            snap: dict[str, Any] = {
                "requests": self._requests,
                "retries": self._retries,
                "http_429": self._http_429,
                "recovered_orders": self._recovered,
                "errors": dict(self._errors),
                "last_latency_ms": None if self._last_latency_s is None else round(self._last_latency_s * 1e3, 3),
                "last_status": self._last_status,
            }
        snap["read_bucket"] = self.read_bucket.snapshot()
        snap["write_bucket"] = self.write_bucket.snapshot()
        return snap

    def _count_error(self, kind: str) -> None:
        with self._mlock:
            self._errors[kind] += 1

    # ================================================================== one HTTP exchange
    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: bytes | None,
        bucket: TokenBucket,
        cost: float,
        private: bool,
    ) -> tuple[int, bytes]:
        """Take a token, sign, send once. Returns (status, body) for any HTTP answer; raises _TransportFailure."""
        if private and self._signer is None:
            raise CredentialsError(
                f"{method} {path} needs credentials: set KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH "
                "(or pass a KalshiSigner)"
            )
        try:
            bucket.acquire(cost, self.max_token_wait)
        except RateLimited:
            self._count_error("ClientRateLimit")
            raise
        headers = dict(_JSON_HEADERS if body is not None else _ACCEPT)
        if self._signer is not None:
            headers.update(self._signer.headers(method, self._base_path + path))
        t0 = time.perf_counter()
        try:
            url = self.base_url + path
            if params:
                url += "?" + urlencode(params)
            resp = self._pool.request(
                method, url, body=body, headers=headers, timeout=self._timeout, redirect=False, retries=False
            )
            status, content = resp.status, resp.data
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            timeout = _is_timeout(exc)
            self._count_error("Timeout" if timeout else "ConnectionError")
            raise _TransportFailure(exc, maybe_sent=not _never_sent(exc), timeout=timeout) from None
        finally:
            elapsed = time.perf_counter() - t0
            with self._mlock:
                self._requests += 1
                self._last_latency_s = elapsed
        with self._mlock:
            self._last_status = status
            if status == 429:
                self._http_429 += 1
        if status == 429:
            bucket.drain()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s -> %d in %.1f ms", method, path, status, elapsed * 1e3)
        return status, content

    def _backoff(self, attempt: int, what: str, reason: str) -> None:
        cap = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        delay = cap / 2 + self._rng.random() * cap / 2
        with self._mlock:
            self._retries += 1
        log.warning("%s: %s (attempt %d); retrying in %.2fs", what, reason, attempt, delay)
        if delay > 0:
            time.sleep(delay)

    def _http_error(self, status: int, raw: bytes, method: str, path: str, order_write: bool) -> ExchangeError:
        err = error_for_status(status, raw, method=method, path=path, order_write=order_write, key_id=self._key_id)
        self._count_error(type(err).__name__)
        return err

    def _transport_error(self, tf: _TransportFailure, method: str, path: str) -> TemporaryError:
        kind = "timed out" if tf.timeout else "connection failed"
        return TemporaryError(
            f"{method} {path}: {kind} after {self.timeout:g}s timeout ({type(tf.exc).__name__}); check the network "
            f"and that {urlsplit(self.base_url).netloc} is reachable",
            code="timeout" if tf.timeout else "connection_error",
        )

    # ================================================================== request with retries
    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        private: bool = False,
        write: bool = False,
        cost: float = 1.0,
        retry: Retry = "idempotent",
        order_write: bool = False,
        client_order_id: str = "",
        delivery: _Delivery | None = None,
    ) -> bytes:
        """Send with retries. ``retry="idempotent"``: retry 429/5xx/transport failures; ``"if_unsent"``: retry only
        when the request surely did not take effect (429, connection never made), else raise OrderOutcomeUnknown."""
        data = msgspec.json.encode(body) if body is not None else None
        bucket = self.write_bucket if write else self.read_bucket
        attempts = self.write_attempts if write else self.read_attempts
        what = f"{method} {path}"
        for attempt in range(1, attempts + 1):
            try:
                status, raw = self._attempt(method, path, params, data, bucket, cost, private)
            except _TransportFailure as tf:
                if delivery is not None and tf.maybe_sent:
                    delivery.maybe_delivered = True
                if retry == "if_unsent" and tf.maybe_sent:
                    raise OrderOutcomeUnknown(
                        f"{what}: the request may have reached Kalshi but no reply came "
                        f"({type(tf.exc).__name__}); fetch the order to learn its state before acting on it",
                        client_order_id=client_order_id,
                        code="outcome_unknown",
                    ) from None
                err: ExchangeError = self._transport_error(tf, method, path)
                if attempt == attempts:
                    raise err from None
                self._backoff(attempt, what, type(tf.exc).__name__)
                continue
            if 200 <= status < 300:
                return raw
            err = self._http_error(status, raw, method, path, order_write)
            if delivery is not None and status >= 500:
                delivery.maybe_delivered = True
            retryable = status == 429 or (status >= 500 and retry == "idempotent")
            if not retryable or attempt == attempts:
                if status >= 500 and retry == "if_unsent":
                    raise OrderOutcomeUnknown(
                        f"{err} The change may or may not have been applied; fetch the order before acting on it",
                        client_order_id=client_order_id,
                        status=status,
                        code=err.code,
                    ) from None
                raise err
            self._backoff(attempt, what, f"HTTP {status}")
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _paged(
        self,
        path: str,
        params: Mapping[str, str | None],
        page_size: int,
        decode: Callable[[bytes], tuple[list[T], str]],
        private: bool,
    ) -> Iterator[list[T]]:
        """Yield each page's items, following ``cursor`` to the end (empty/absent cursor)."""
        base = {k: v for k, v in params.items() if v is not None}
        base["limit"] = str(page_size)
        cursor = ""
        seen: set[str] = set()
        while True:
            q = dict(base)
            if cursor:
                q["cursor"] = cursor
            items, cursor = decode(self._request("GET", path, params=q, private=private))
            yield items
            if not cursor:
                return
            if cursor in seen:
                raise ProtocolError(f"GET {path}: the exchange returned the same cursor twice; stopping pagination")
            seen.add(cursor)

    def _all(
        self,
        path: str,
        params: Mapping[str, str | None],
        page_size: int,
        decode: Callable[[bytes], tuple[list[T], str]],
        private: bool,
    ) -> list[T]:
        out: list[T] = []
        for page in self._paged(path, params, page_size, decode, private):
            out.extend(page)
        return out

    # ================================================================== exchange and market data
    def exchange_status(self) -> ExchangeStatus:
        """``GET /exchange/status``: whether the exchange and trading are active."""
        return models.decode_exchange_status(self._request("GET", "/exchange/status"))

    def user_data_as_of(self) -> int:
        """``GET /exchange/user_data_timestamp``: the time (ns) up to which the portfolio endpoints (orders, fills,
        positions, balance) reflect the exchange. REST lags the matching engine a little; this says how much."""
        raw = self._request("GET", "/exchange/user_data_timestamp", private=True)
        return models.decode_user_data_timestamp(raw)

    def lookup_order(self, ticker: str, client_order_id: str, sent_ns: int) -> OrderLookup:
        """Find an order by ``client_order_id``, saying whether "not found" can be believed: only when the exchange's
        portfolio data is known to be current past ``sent_ns`` (when the order was last sent, by our clock) plus a
        margin for clock skew. Without that, an order created a moment ago may simply not be listed yet."""
        found = self.find_order(ticker, client_order_id)
        if found is not None:
            return OrderLookup(found, True)
        try:
            as_of = self.user_data_as_of()
        except ExchangeError as exc:  # no freshness stamp: believe "not found" only well after the send
            log.debug("user_data_timestamp unavailable (%s)", exc)
            return OrderLookup(None, time.time_ns() >= sent_ns + LOOKUP_FALLBACK_NS)
        return OrderLookup(None, as_of >= sent_ns + LOOKUP_MARGIN_NS)

    def _absent(self, req: OrderRequest, sent_ns: int, why: str) -> OrderResult | None:
        """After a create whose outcome is unknown: the order if it exists; None when it conclusively does not (a
        re-send is safe); raises OrderOutcomeUnknown when the exchange cannot tell yet (waiting up to
        ``conclusive_wait`` seconds for its portfolio data to catch up with the send)."""
        deadline = time.monotonic() + self.conclusive_wait
        while True:
            try:
                found = self.lookup_order(req.ticker, req.client_order_id, sent_ns)
            except (ExchangeError, ProtocolError) as exc:
                raise OrderOutcomeUnknown(
                    f"order {req.client_order_id} on {req.ticker}: {why}, and looking it up failed ({exc}); "
                    "resolve it later with lookup_order()",
                    client_order_id=req.client_order_id,
                    status=getattr(exc, "status", 0),
                    code=getattr(exc, "code", "") or "lookup_failed",
                ) from exc
            if found.order is not None:
                with self._mlock:
                    self._recovered += 1
                log.info("order %s on %s resolved by lookup (%s): %s", req.client_order_id, req.ticker, why,
                         found.order.status)
                return models.order_result_from_order(found.order, recovered=True)
            if found.conclusive:
                return None
            if time.monotonic() >= deadline:
                raise OrderOutcomeUnknown(
                    f"order {req.client_order_id} on {req.ticker}: {why}; it is not listed, but the exchange's "
                    "order data is not yet current past the send, so it may still exist. Do not send another order "
                    "for this position until lookup_order() can tell",
                    client_order_id=req.client_order_id,
                    code="outcome_unknown",
                )
            time.sleep(0.05)

    def markets(
        self,
        *,
        status: str | None = None,
        event_ticker: str | None = None,
        series_ticker: str | None = None,
        tickers: Iterable[str] | None = None,
        min_close_ns: int | None = None,
        max_close_ns: int | None = None,
        mve_filter: str | None = None,
        params: Mapping[str, str] | None = None,
        page_size: int = 1000,
    ) -> list[Market]:
        """``GET /markets`` with filters, every page. ``status`` uses the filter words (unopened|open|closed|settled,
        and paused); ``mve_filter`` is ``exclude`` (no multivariate combo markets) or ``only``. Anything else is
        refused before a request is sent. ``params`` passes any other query parameter through."""
        if status is not None and status not in MARKET_STATUS_FILTERS:
            raise ConfigError(
                f"markets(status={status!r}): Kalshi's market filter takes one of {', '.join(MARKET_STATUS_FILTERS)} "
                "(or no status for every market); object statuses such as 'active' or 'finalized' are not filters"
            )
        if mve_filter is not None and mve_filter not in MVE_FILTERS:
            raise ConfigError(
                f"markets(mve_filter={mve_filter!r}): use 'exclude' (leave combo markets out), 'only' (combos only) "
                "or None (both)"
            )
        q: dict[str, str | None] = {
            "status": status,
            "event_ticker": event_ticker,
            "series_ticker": series_ticker,
            "tickers": ",".join(tickers) if tickers is not None else None,
            "min_close_ts": _ns_to_s(min_close_ns),
            "max_close_ts": _ns_to_s(max_close_ns),
            "mve_filter": mve_filter,
        }
        q.update(params or {})
        return self._all("/markets", q, page_size, models.decode_markets_page, private=False)

    def market(self, ticker: str) -> Market:
        """``GET /markets/{ticker}`` (404 -> NotFoundError)."""
        return models.decode_market(self._request("GET", f"/markets/{_seg(ticker)}"))

    def orderbook(self, ticker: str, depth: int = 0) -> BookSnapshot:
        """``GET /markets/{ticker}/orderbook``: bids of both sides, ascending (current and legacy shapes)."""
        params = {"depth": str(depth)} if depth else None
        raw = self._request("GET", f"/markets/{_seg(ticker)}/orderbook", params=params)
        return models.decode_orderbook(raw, ticker, time.time_ns())

    def series(self, series_ticker: str) -> Series:
        """``GET /series/{series_ticker}``: the series, with its ``fee_type`` and ``fee_multiplier`` (404 ->
        NotFoundError). :class:`~kalshikit.kalshi.series_fees.SeriesFeeCache` keeps the fee schedules between
        cycles."""
        if not series_ticker:
            raise ValueError("series() needs a series ticker such as 'KXMLBGAME'")
        return models.decode_series(self._request("GET", f"/series/{_seg(series_ticker)}"))

    def series_list(self, *, category: str | None = None, tags: Iterable[str] | None = None) -> list[Series]:
        """``GET /series`` (optionally of one ``category`` or some ``tags``), following a cursor if one comes."""
        q: dict[str, str] = {}
        if category:
            q["category"] = category
        if tags is not None:
            q["tags"] = ",".join(tags)
        out: list[Series] = []
        seen: set[str] = set()
        while True:
            items, cursor = models.decode_series_page(self._request("GET", "/series", params=q or None))
            out.extend(items)
            if not cursor or cursor in seen:
                return out
            seen.add(cursor)
            q["cursor"] = cursor

    # ================================================================== history: candlesticks and the public tape
    def candlesticks(
        self, series_ticker: str, ticker: str, *, start_ns: int, end_ns: int, period_minutes: int = 1
    ) -> list[Candle]:
        """``GET /series/{series_ticker}/markets/{ticker}/candlesticks``: the candles of ``period_minutes`` (1, 60
        or 1440) that end between ``start_ns`` and ``end_ns`` (both inclusive; whole seconds on the wire), oldest
        first, with YES bid / YES ask / traded-price OHLC in price units."""
        if period_minutes not in CANDLE_PERIODS:
            raise ValueError(f"period_minutes must be one of {CANDLE_PERIODS} (1 minute, 1 hour, 1 day)")
        if end_ns < start_ns:
            raise ValueError("candlesticks: end_ns is before start_ns")
        params = {
            "start_ts": str(start_ns // NS_PER_S),
            "end_ts": str(end_ns // NS_PER_S),
            "period_interval": str(period_minutes),
        }
        raw = self._request("GET", f"/series/{_seg(series_ticker)}/markets/{_seg(ticker)}/candlesticks", params=params)
        return models.decode_candlesticks(raw, ticker)

    def trades_pages(
        self,
        *,
        ticker: str | None = None,
        min_ns: int | None = None,
        max_ns: int | None = None,
        page_size: int = 1000,
        cursor: str = "",
    ) -> Iterator[tuple[list[PublicTrade], str]]:
        """``GET /markets/trades`` one page at a time, newest first: yields ``(trades, next_cursor)`` until the
        cursor is empty. Pass a ``cursor`` from an earlier page to continue an interrupted listing there. ``min_ns``
        / ``max_ns`` filter by trade time (whole seconds on the wire)."""
        if not 1 <= page_size <= 1000:
            raise ValueError(f"page_size must be 1..1000 (Kalshi's limit), got {page_size}")
        base = {
            k: v
            for k, v in (("ticker", ticker), ("min_ts", _ns_to_s(min_ns)), ("max_ts", _ns_to_s(max_ns)))
            if v is not None
        }
        base["limit"] = str(page_size)
        seen: set[str] = set()
        while True:
            q = dict(base)
            if cursor:
                q["cursor"] = cursor
            items, cursor = models.decode_trades_page(self._request("GET", "/markets/trades", params=q))
            yield items, cursor
            if not cursor:
                return
            if cursor in seen:
                raise ProtocolError("GET /markets/trades: the exchange returned the same cursor twice; stopping")
            seen.add(cursor)

    def trades(
        self, *, ticker: str | None = None, min_ns: int | None = None, max_ns: int | None = None, page_size: int = 1000
    ) -> list[PublicTrade]:
        """``GET /markets/trades``, every page (newest first). For long histories use :meth:`trades_pages`."""
        out: list[PublicTrade] = []
        for page, _cursor in self.trades_pages(ticker=ticker, min_ns=min_ns, max_ns=max_ns, page_size=page_size):
            out.extend(page)
        return out

    # ================================================================== portfolio reads
    def balance(self) -> Balance:
        """``GET /portfolio/balance``: available cash and portfolio value in micro-dollars."""
        return models.decode_balance(self._request("GET", "/portfolio/balance", private=True))

    def positions(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        settlement_status: str | None = None,
        count_filter: str | None = None,
        page_size: int = 200,
    ) -> list[MarketPosition]:
        """``GET /portfolio/positions`` (market positions), every page."""
        q = {
            "ticker": ticker,
            "event_ticker": event_ticker,
            "settlement_status": settlement_status,
            "count_filter": count_filter,
        }
        return self._all("/portfolio/positions", q, page_size, models.decode_positions_page, private=True)

    def orders(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
        min_ns: int | None = None,
        max_ns: int | None = None,
        page_size: int = 200,
    ) -> list[OrderUpdate]:
        """``GET /portfolio/orders``, every page, as OrderUpdate events (``status`` resting|canceled|executed)."""
        q = {
            "ticker": ticker,
            "event_ticker": event_ticker,
            "status": status,
            "min_ts": _ns_to_s(min_ns),
            "max_ts": _ns_to_s(max_ns),
        }
        return self._all(
            "/portfolio/orders", q, page_size, lambda raw: models.decode_orders_page(raw, time.time_ns()), True
        )

    def order(self, order_id: str) -> OrderUpdate:
        """``GET /portfolio/orders/{order_id}`` (404 -> NotFoundError)."""
        raw = self._request("GET", f"/portfolio/orders/{_seg(order_id)}", private=True)
        return models.decode_order(raw, time.time_ns())

    def find_order(self, ticker: str, client_order_id: str, *, page_size: int = 200) -> OrderUpdate | None:
        """The order of ``ticker`` with this ``client_order_id``, or None: lists the ticker's orders page by page
        and stops at the match. Used to resolve a create whose reply was lost."""
        if not client_order_id:
            raise ValueError("find_order needs a non-empty client_order_id")
        pages = self._paged(
            "/portfolio/orders",
            {"ticker": ticker},
            page_size,
            lambda raw: models.decode_orders_page(raw, time.time_ns()),
            private=True,
        )
        for page in pages:
            for o in page:
                if o.client_order_id == client_order_id:
                    return o
        return None

    def fills(
        self,
        *,
        ticker: str | None = None,
        order_id: str | None = None,
        min_ns: int | None = None,
        max_ns: int | None = None,
        page_size: int = 200,
    ) -> list[Fill]:
        """``GET /portfolio/fills``, every page, as Fill events."""
        q = {"ticker": ticker, "order_id": order_id, "min_ts": _ns_to_s(min_ns), "max_ts": _ns_to_s(max_ns)}
        return self._all(
            "/portfolio/fills", q, page_size, lambda raw: models.decode_fills_page(raw, time.time_ns()), True
        )

    def settlements(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        min_ns: int | None = None,
        max_ns: int | None = None,
        page_size: int = 200,
    ) -> list[SettlementRecord]:
        """``GET /portfolio/settlements``, every page."""
        q = {"ticker": ticker, "event_ticker": event_ticker, "min_ts": _ns_to_s(min_ns), "max_ts": _ns_to_s(max_ns)}
        return self._all("/portfolio/settlements", q, page_size, models.decode_settlements_page, private=True)

    # ================================================================== order writes (V2)
    def create_order(
        self,
        ticker: str,
        side: BookSide,
        price: int,
        count: int,
        *,
        time_in_force: TimeInForce = "good_till_canceled",
        client_order_id: str | None = None,
        reduce_only: bool = False,
        post_only: bool = False,
        self_trade_prevention_type: SelfTradePrevention = "taker_at_cross",
        expiration_ns: int | None = None,
        cancel_order_on_pause: bool = False,
        order_group_id: str | None = None,
        subaccount: int | None = None,
    ) -> OrderResult:
        """``POST /portfolio/events/orders``: ``side`` bid = buy YES, ask = sell YES; ``price`` YES price units,
        ``count`` 1/100 contracts. Retried only with the same ``client_order_id`` (generated when not given)."""
        req = OrderRequest(
            ticker=ticker,
            side=side,
            price=price,
            count=count,
            time_in_force=time_in_force,
            client_order_id=client_order_id or str(uuid.uuid4()),
            reduce_only=reduce_only,
            post_only=post_only,
            self_trade_prevention_type=self_trade_prevention_type,
            expiration_ns=expiration_ns,
            cancel_order_on_pause=cancel_order_on_pause,
            order_group_id=order_group_id,
            subaccount=subaccount,
        )
        return self.submit(req)

    def submit(self, req: OrderRequest) -> OrderResult:
        """Send one :class:`OrderRequest` (see :meth:`create_order`).

        A create is never sent twice blindly. When an attempt may have reached the exchange without its answer (a
        timeout, a dropped connection, a 5xx), the order is looked up by ``client_order_id`` first and re-sent only
        when the exchange's data shows it conclusively absent; if it cannot tell yet, :class:`OrderOutcomeUnknown`
        is raised (the caller looks it up later). A 409 ``order_already_exists`` is always answered by asking the
        exchange what that order did, never taken as a rejection (Kalshi is not documented to refuse a reused id
        once the first order is closed)."""
        req.check()
        if not req.client_order_id:
            req = msgspec.structs.replace(req, client_order_id=str(uuid.uuid4()))
        coid = req.client_order_id
        data = msgspec.json.encode(req.to_wire())
        what = f"POST {ORDERS_V2} ({req.ticker}, client_order_id={coid})"
        last: ExchangeError | None = None
        for attempt in range(1, self.write_attempts + 1):
            sent_ns = time.time_ns()
            try:
                status, raw = self._attempt("POST", ORDERS_V2, None, data, self.write_bucket, 1.0, True)
            except RateLimited:  # the client-side bucket refused: nothing was sent this time
                raise
            except _TransportFailure as tf:
                last = self._transport_error(tf, "POST", ORDERS_V2)
                if tf.maybe_sent:
                    found = self._absent(req, sent_ns, f"no reply ({type(tf.exc).__name__})")
                    if found is not None:
                        return found
                if attempt < self.write_attempts:
                    self._backoff(attempt, what, type(tf.exc).__name__)
                continue
            if 200 <= status < 300:
                try:
                    result = models.decode_create(raw, req)
                except ProtocolError as exc:  # accepted, but the reply is unreadable: learn the order by lookup
                    self._count_error("ProtocolError")
                    found = self._resolve(req, f"the create reply could not be read ({exc})")
                    if found is not None:
                        return found
                    raise OrderOutcomeUnknown(
                        f"{what}: HTTP {status} with an unreadable reply ({exc}) and the order is not listed yet",
                        client_order_id=coid,
                        status=status,
                        code="unreadable_reply",
                    ) from None
                if result is not None:
                    return result
                # A 2xx without an order id is a soft rejection; make sure nothing was placed before saying so.
                self._count_error("MissingOrderId")
                found = self._resolve(req, "the create reply had no order_id")
                if found is not None:
                    return found
                raise OrderRejected(
                    f"{what}: HTTP {status} reply without an order_id, and no order with this client_order_id "
                    "exists; the order was not placed",
                    status=status,
                    code="missing_order_id",
                )
            err = self._http_error(status, raw, "POST", ORDERS_V2, True)
            last = err
            if isinstance(err, DuplicateOrder):
                found = self._resolve(req, "the create was answered order_already_exists")
                if found is not None:
                    return found
                raise OrderOutcomeUnknown(
                    f"{what}: Kalshi says an order with this client_order_id exists, but it is not in the order "
                    "list yet; resolve it later with lookup_order()",
                    client_order_id=coid,
                    status=status,
                    code=err.code,
                )
            if status >= 500:  # it may have executed: re-send only when the exchange shows it absent
                found = self._absent(req, sent_ns, f"HTTP {status}")
                if found is not None:
                    return found
            elif status != 429:
                raise err
            if attempt < self.write_attempts:
                self._backoff(attempt, what, f"HTTP {status}")
        assert last is not None
        raise last

    def _resolve(self, req: OrderRequest, why: str) -> OrderResult | None:
        """Look an order up by client_order_id after a lost or ambiguous reply."""
        try:
            found = self.find_order(req.ticker, req.client_order_id)
        except (ExchangeError, ProtocolError) as exc:
            raise OrderOutcomeUnknown(
                f"order {req.client_order_id} on {req.ticker}: {why}, and looking it up failed ({exc}); resolve it "
                "later with find_order()",
                client_order_id=req.client_order_id,
                status=getattr(exc, "status", 0),
                code=getattr(exc, "code", "") or "lookup_failed",
            ) from exc
        if found is None:
            return None
        differs = [
            name
            for name, mine, theirs in (
                ("side", req.side, found.book_side),
                ("price", req.price, found.yes_price),
                ("count", req.count, found.initial_count),
            )
            if theirs is not None and mine != theirs
        ]
        if differs:
            raise DuplicateOrder(
                f"order {req.client_order_id} on {req.ticker}: {why}, but the order with this client_order_id on the "
                f"exchange is a different one ({', '.join(differs)} differ); give each order its own id",
                status=409,
                code="order_already_exists",
            )
        with self._mlock:
            self._recovered += 1
        log.info("order %s on %s resolved by lookup (%s): %s", req.client_order_id, req.ticker, why, found.status)
        return models.order_result_from_order(found, recovered=True)

    def cancel_order(self, order_id: str, *, ticker: str | None = None, subaccount: int | None = None) -> CancelResult:
        """``DELETE /portfolio/events/orders/{order_id}`` (idempotent, retried). ``ticker`` routes the cancel."""
        params = {k: v for k, v in (("market_ticker", ticker), ("subaccount", subaccount)) if v is not None}
        delivery = _Delivery()
        try:
            raw = self._request(
                "DELETE",
                f"{ORDERS_V2}/{_seg(order_id)}",
                params={k: str(v) for k, v in params.items()} or None,
                private=True,
                write=True,
                order_write=True,
                delivery=delivery,
            )
        except NotFoundError:
            if not delivery.maybe_delivered:
                raise
            # A retry found nothing to cancel: an earlier attempt whose reply was lost probably did it. Check.
            o = self.order(order_id)
            if o.status == "resting":
                raise
            reduced = max(0, (o.initial_count or 0) - o.fill_count) if o.status == "canceled" else 0
            return CancelResult(o.order_id, o.client_order_id, reduced, o.exchange_ns)
        return models.decode_cancel(raw, order_id)

    def amend_order(
        self,
        order_id: str,
        *,
        ticker: str,
        side: BookSide,
        price: int,
        count: int,
        client_order_id: str | None = None,
        updated_client_order_id: str | None = None,
        expiration_ns: int | None = None,
    ) -> AmendResult:
        """``POST .../{order_id}/amend``: new YES ``price`` and new total ``count`` (filled + wanted remaining)."""
        body: dict[str, Any] = {
            "ticker": ticker,
            "side": side,
            "price": format_price(price),
            "count": format_count(count),
        }
        if client_order_id:
            body["client_order_id"] = client_order_id
        if updated_client_order_id:
            body["updated_client_order_id"] = updated_client_order_id
        if expiration_ns is not None:
            body["expiration_time"] = expiration_ns // NS_PER_S
        raw = self._request(
            "POST",
            f"{ORDERS_V2}/{_seg(order_id)}/amend",
            body=body,
            private=True,
            write=True,
            retry="if_unsent",
            order_write=True,
            client_order_id=updated_client_order_id or client_order_id or "",
        )
        return models.decode_amend(raw)

    def decrease_order(
        self,
        order_id: str,
        *,
        reduce_by: int | None = None,
        reduce_to: int | None = None,
        ticker: str | None = None,
    ) -> DecreaseResult:
        """``POST .../{order_id}/decrease`` by ``reduce_by`` or to ``reduce_to`` (exactly one; 1/100 contracts).
        ``reduce_to`` is idempotent and retried; ``reduce_by`` is not."""
        if (reduce_by is None) == (reduce_to is None):
            raise ValueError("decrease_order needs exactly one of reduce_by or reduce_to")
        body: dict[str, Any] = {}
        if reduce_by is not None:
            body["reduce_by"] = format_count(reduce_by)
        if reduce_to is not None:
            body["reduce_to"] = format_count(reduce_to)
        if ticker:
            body["market_ticker"] = ticker
        raw = self._request(
            "POST",
            f"{ORDERS_V2}/{_seg(order_id)}/decrease",
            body=body,
            private=True,
            write=True,
            retry="idempotent" if reduce_to is not None else "if_unsent",
            order_write=True,
        )
        return models.decode_decrease(raw)

    def batch_create_orders(self, orders: Sequence[OrderRequest]) -> list[OrderResult | ExchangeError]:
        """``POST /portfolio/events/orders/batched``. One entry per request, in order: the result, or the error
        for that item (not raised). Items get a client_order_id when they have none; a lost reply is resolved per
        item by lookup like :meth:`submit` (unresolved items become OrderOutcomeUnknown entries)."""
        if not orders:
            return []
        reqs = [
            r if r.client_order_id else msgspec.structs.replace(r, client_order_id=str(uuid.uuid4())) for r in orders
        ]
        for r in reqs:
            r.check()
        if len({r.client_order_id for r in reqs}) != len(reqs):
            raise ValueError("batch_create_orders: client_order_ids must be unique within a batch")
        path = f"{ORDERS_V2}/batched"
        data = msgspec.json.encode({"orders": [r.to_wire() for r in reqs]})
        ambiguous = False
        last: ExchangeError | None = None
        for attempt in range(1, self.write_attempts + 1):
            try:
                status, raw = self._attempt("POST", path, None, data, self.write_bucket, float(len(reqs)), True)
            except RateLimited as exc:  # the client-side bucket refused: nothing was sent this time
                if not ambiguous:
                    raise
                last = exc
                break
            except _TransportFailure as tf:
                ambiguous = ambiguous or tf.maybe_sent
                last = self._transport_error(tf, "POST", path)
                if attempt < self.write_attempts:
                    self._backoff(attempt, f"POST {path}", type(tf.exc).__name__)
                continue
            if 200 <= status < 300:
                try:
                    items = models.decode_batch_create(raw)
                    if len(items) != len(reqs):
                        raise ProtocolError(f"batch create: sent {len(reqs)} orders, the reply has {len(items)} items")
                except ProtocolError as exc:  # accepted, but the reply is unreadable: learn each order by lookup
                    self._count_error("ProtocolError")
                    return self._resolve_batch(reqs, exc)
                return self._batch_items(reqs, items, resolve_dupes=attempt > 1 or ambiguous)
            err = self._http_error(status, raw, "POST", path, True)
            last = err
            if status >= 500:
                ambiguous = True
            elif status != 429:
                if ambiguous:
                    return self._resolve_batch(reqs, err)
                raise err
            if attempt < self.write_attempts:
                self._backoff(attempt, f"POST {path}", f"HTTP {status}")
        if ambiguous:
            assert last is not None
            return self._resolve_batch(reqs, last)
        assert last is not None
        raise last

    def _batch_items(
        self, reqs: list[OrderRequest], items: list[Any], *, resolve_dupes: bool
    ) -> list[OrderResult | ExchangeError]:
        by_coid = {r.client_order_id: r for r in reqs}
        out: list[OrderResult | ExchangeError] = []
        for i, item in enumerate(items):
            req = by_coid.get(item.client_order_id or "", reqs[i])
            if item.error is not None:
                err = error_for_item(item.error, context=f"batch order {req.client_order_id} ({req.ticker})")
                self._count_error(type(err).__name__)
                if isinstance(err, DuplicateOrder) and resolve_dupes:
                    out.append(self._resolve_item(req, err))
                else:
                    out.append(err)
                continue
            result = models.create_result_from_wire(item, req)
            if result is None:
                self._count_error("MissingOrderId")
                missing = OrderRejected(
                    f"batch order {req.client_order_id} ({req.ticker}): reply item without an order_id",
                    code="missing_order_id",
                )
                out.append(self._resolve_item(req, missing))
            else:
                out.append(result)
        return out

    def _resolve_item(self, req: OrderRequest, err: ExchangeError) -> OrderResult | ExchangeError:
        try:
            found = self._resolve(req, str(err.code or "ambiguous batch reply"))
        except OrderOutcomeUnknown as unknown:
            return unknown
        if found is not None:
            return found
        if isinstance(err, DuplicateOrder):
            return OrderOutcomeUnknown(
                f"batch order {req.client_order_id} ({req.ticker}): exists per Kalshi but not found yet",
                client_order_id=req.client_order_id,
                code=err.code,
            )
        return err

    def _resolve_batch(
        self, reqs: list[OrderRequest], err: ExchangeError | ProtocolError
    ) -> list[OrderResult | ExchangeError]:
        out: list[OrderResult | ExchangeError] = []
        for req in reqs:
            try:
                found = self._resolve(req, f"batch reply lost ({getattr(err, 'code', '') or type(err).__name__})")
            except OrderOutcomeUnknown as unknown:
                out.append(unknown)
                continue
            if found is not None:
                out.append(found)
            else:
                out.append(
                    OrderOutcomeUnknown(
                        f"batch order {req.client_order_id} ({req.ticker}): no reply ({err}); not found yet. Do "
                        "not resend until find_order() resolves it",
                        client_order_id=req.client_order_id,
                        code="outcome_unknown",
                    )
                )
        return out

    def batch_cancel_orders(self, orders: Sequence[str | tuple[str, str]]) -> list[CancelResult | ExchangeError]:
        """``DELETE /portfolio/events/orders/batched``: each entry an order id or ``(order_id, ticker)``. One
        result or error per entry, in order. Idempotent: retried."""
        if not orders:
            return []
        items: list[dict[str, str]] = []
        for o in orders:
            if isinstance(o, tuple):
                items.append({"order_id": o[0], "market_ticker": o[1]})
            else:
                items.append({"order_id": o})
        path = f"{ORDERS_V2}/batched"
        raw = self._request(
            "DELETE",
            path,
            body={"orders": items},
            private=True,
            write=True,
            cost=float(len(items)),
            order_write=True,
        )
        replies = models.decode_batch_cancel(raw)
        if len(replies) != len(items):
            raise ProtocolError(f"batch cancel: sent {len(items)} ids, the reply has {len(replies)} items")
        out: list[CancelResult | ExchangeError] = []
        for sent, item in zip(items, replies, strict=True):
            if item.error is not None:
                err = error_for_item(item.error, context=f"batch cancel {sent['order_id']}")
                self._count_error(type(err).__name__)
                out.append(err)
            else:
                out.append(models.cancel_result_from_wire(item, sent["order_id"]))
        return out


__all__ = [
    "AmendResult",
    "Balance",
    "CancelResult",
    "Candle",
    "DecreaseResult",
    "ExchangeStatus",
    "KalshiRest",
    "Market",
    "MarketPosition",
    "OrderRequest",
    "OrderResult",
    "PublicTrade",
    "Series",
    "SettlementRecord",
]
