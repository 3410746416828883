"""A client for The Odds API v4 (sportsbook odds): typed results, a response cache, and quota-aware pacing.

Endpoints (paths under the base URL, which ends in ``/v4``; see https://the-odds-api.com/liveapi/guides/v4/):

- ``GET /sports`` -> :class:`Sport` list (free: does not count against the quota);
- ``GET /sports/{sport}/events`` -> :class:`OddsEvent` list without odds (free);
- ``GET /sports/{sport}/odds`` with ``regions`` (or ``bookmakers``), ``markets`` (``h2h,spreads,totals``),
  ``oddsFormat`` (``decimal``/``american``) -> :class:`OddsEvent` list with bookmakers' odds. Costs
  ``markets × regions`` credits (10 bookmakers count as one region).

Every answer carries the quota headers ``x-requests-remaining``, ``x-requests-used`` and ``x-requests-last``; the
client keeps them in :attr:`OddsClient.quota` and :meth:`OddsClient.metrics`. Before the quota runs out it slows
down (paid answers are cached longer as the remaining credits approach the reserve) and then refuses: a paid
request that would leave fewer than ``quota_reserve`` credits raises :class:`~kalshikit.errors.OddsQuotaExhausted`
without being sent. Answers are cached for ``cache_ttl`` seconds (``free_cache_ttl`` for free endpoints), so
calling every strategy cycle is cheap.

``record`` (optional) is called as ``record(path, params, body, recv_ns)`` for every successful (200) answer the client
actually fetched, paid or free — never for a cache hit — with the query parameters *without* the API key, the raw
JSON body and the receive time (wall clock ns); :class:`~kalshikit.strategy.odds_recording.OddsRecorder` writes them
beside the Kalshi recordings so a replay sees the odds the strategy saw. A failing hook is logged, never raised.
Events decoded from an answer carry that same receive time as ``fetched_ns`` (:func:`decode_odds_events` does the
same for recorded bodies).

Errors are typed: 401 :class:`~kalshikit.errors.OddsAuthError`, 422 (and 404 for an unknown sport)
:class:`~kalshikit.errors.OddsParamError`, 429 :class:`~kalshikit.errors.OddsQuotaExhausted`, 5xx and network
failures :class:`~kalshikit.errors.OddsTemporaryError` (retried ``attempts`` times first). The API key travels in
the ``apiKey`` query parameter, as the API requires; it is masked in every message, ``repr`` and log line (the
client also installs a filter that hides it in urllib3's debug log).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import msgspec
import requests

from kalshikit.config import DEFAULT_ODDS_API_URL, SecretStr, Settings
from kalshikit.errors import (
    ConfigError,
    OddsApiError,
    OddsAuthError,
    OddsParamError,
    OddsQuotaExhausted,
    OddsTemporaryError,
)
from kalshikit.kalshi.messages import parse_rfc3339_ns
from kalshikit.strategy.devig import american_to_decimal
from kalshikit.units import NS_PER_S

log = logging.getLogger("kalshikit.odds")

ODDS_FORMATS: tuple[str, ...] = ("decimal", "american")
FEATURED_MARKETS: tuple[str, ...] = ("h2h", "spreads", "totals")
KNOWN_REGIONS: tuple[str, ...] = ("us", "us2", "uk", "eu", "au")
_TOKEN = re.compile(r"^[A-Za-z0-9_.\-]+$")
_KEY_IN_TEXT = re.compile(r"(apiKey=)[^&\s'\"]+")

T = TypeVar("T")


# ============================================================================ public results
class Sport(msgspec.Struct, frozen=True):
    """One sport (``key`` is what the odds and events calls take, e.g. ``basketball_nba``)."""

    key: str
    group: str = ""
    title: str = ""
    description: str = ""
    active: bool = True
    has_outrights: bool = False


class Outcome(msgspec.Struct, frozen=True):
    """One priced outcome. ``price`` is as sent (decimal or American); ``decimal`` is always decimal odds."""

    name: str
    price: float
    decimal: float
    point: float | None = None
    description: str | None = None


class BookMarket(msgspec.Struct, frozen=True):
    """One bookmaker's market (``h2h``, ``spreads``, ``totals``...)."""

    key: str
    outcomes: tuple[Outcome, ...]
    last_update_ns: int | None = None

    def outcome(self, name: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.name == name), None)


class Bookmaker(msgspec.Struct, frozen=True):
    key: str
    title: str
    markets: tuple[BookMarket, ...]
    last_update_ns: int | None = None

    def market(self, key: str) -> BookMarket | None:
        return next((m for m in self.markets if m.key == key), None)


class OddsEvent(msgspec.Struct, frozen=True):
    """One game: teams, start time (ns UTC) and, from the odds endpoint, the bookmakers' odds. ``fetched_ns``: when
    the answer it came in was received (wall clock; a cached answer keeps its time)."""

    id: str
    sport_key: str
    sport_title: str
    commence_ns: int
    home_team: str
    away_team: str
    bookmakers: tuple[Bookmaker, ...] = ()
    fetched_ns: int = 0


class Quota(msgspec.Struct, frozen=True):
    """The usage quota as the last answer reported it (``None`` = not seen yet). ``updated_ns``: wall clock."""

    remaining: int | None = None
    used: int | None = None
    last: int | None = None
    updated_ns: int | None = None


# ============================================================================ wire shapes
class _WSport(msgspec.Struct):
    key: str
    group: str = ""
    title: str = ""
    description: str = ""
    active: bool = True
    has_outrights: bool = False


class _WOutcome(msgspec.Struct):
    name: str
    price: float
    point: float | None = None
    description: str | None = None


class _WMarket(msgspec.Struct):
    key: str
    outcomes: list[_WOutcome] = msgspec.field(default_factory=list)
    last_update: str | int | None = None


class _WBook(msgspec.Struct):
    key: str
    title: str = ""
    last_update: str | int | None = None
    markets: list[_WMarket] = msgspec.field(default_factory=list)


class _WEvent(msgspec.Struct):
    id: str
    commence_time: str | int
    sport_key: str = ""
    sport_title: str = ""
    home_team: str | None = None
    away_team: str | None = None
    bookmakers: list[_WBook] = msgspec.field(default_factory=list)


class _WError(msgspec.Struct):
    message: str = ""
    error_code: str = ""


_sports_decoder = msgspec.json.Decoder(list[_WSport])
_events_decoder = msgspec.json.Decoder(list[_WEvent])
_error_decoder = msgspec.json.Decoder(_WError)


def _time_ns(value: str | int | None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value * NS_PER_S  # dateFormat=unix
    return parse_rfc3339_ns(value)


def _decimal(price: float, american: bool) -> float:
    return american_to_decimal(price) if american else float(price)


def _event(w: _WEvent, american: bool, fetched_ns: int = 0) -> OddsEvent:
    commence = _time_ns(w.commence_time)
    if commence is None:
        raise ValueError(f"event {w.id} has no commence_time")
    books = tuple(
        Bookmaker(
            key=b.key,
            title=b.title,
            last_update_ns=_time_ns(b.last_update),
            markets=tuple(
                BookMarket(
                    key=m.key,
                    last_update_ns=_time_ns(m.last_update),
                    outcomes=tuple(
                        Outcome(o.name, o.price, _decimal(o.price, american), o.point, o.description)
                        for o in m.outcomes
                    ),
                )
                for m in b.markets
            ),
        )
        for b in w.bookmakers
    )
    return OddsEvent(
        id=w.id,
        sport_key=w.sport_key,
        sport_title=w.sport_title,
        commence_ns=commence,
        home_team=w.home_team or "",
        away_team=w.away_team or "",
        bookmakers=books,
        fetched_ns=fetched_ns,
    )


def decode_odds_events(body: bytes | str, *, american: bool = False, fetched_ns: int = 0) -> list[OddsEvent]:
    """The games of an ``/events`` or ``/odds`` answer body (``american``: the prices are American odds, as
    requested with ``oddsFormat=american``). Raises ``msgspec`` / ``ValueError`` errors on a malformed body."""
    return [_event(e, american, fetched_ns) for e in _events_decoder.decode(body)]


def mask_secret(secret: str | None) -> str:
    """Enough of a key to recognise it in a log (``ab12…``), never the key."""
    if not secret:
        return "<none>"
    return secret[:4] + "…" if len(secret) > 8 else "…"


class _RedactApiKey(logging.Filter):
    """Hides ``apiKey=...`` in urllib3's debug lines (it logs every request line with its query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:
            return True
        if "apiKey=" in text:
            record.msg = _KEY_IN_TEXT.sub(r"\1<hidden>", text)
            record.args = None
        return True


_REDACTOR = _RedactApiKey()


def _install_redaction() -> None:
    lg = logging.getLogger("urllib3.connectionpool")
    if _REDACTOR not in lg.filters:
        lg.addFilter(_REDACTOR)


def _csv(values: str | Iterable[str] | None, what: str) -> str | None:
    """Join a list parameter, checking each item is a plain token (the API's own 422 names anything else)."""
    if values is None:
        return None
    items = [v.strip() for v in values.split(",")] if isinstance(values, str) else [str(v).strip() for v in values]
    items = [v for v in items if v]
    if not items:
        raise OddsParamError(f"{what} is empty; give at least one value, e.g. {what}='h2h'", code="local")
    bad = [v for v in items if not _TOKEN.match(v)]
    if bad:
        raise OddsParamError(f"{what} has invalid value(s) {bad}; use letters, digits, '_', '-' or '.'", code="local")
    return ",".join(items)


class _Entry:
    __slots__ = ("data", "fetched")

    def __init__(self, data: tuple[Any, ...], fetched: float) -> None:
        self.data = data
        self.fetched = fetched  # monotonic seconds; the TTL is applied when read (it stretches near the quota)


# ============================================================================ the client
class OddsClient:
    """The Odds API v4 client. Thread-safe. See the module docstring.

    ``regions``/``odds_format`` are the defaults of :meth:`odds`. ``quota_reserve``: credits never spent (a paid
    request that would leave fewer is refused locally). ``slow_below``: below this many remaining credits the cache
    TTL of paid answers grows, up to ``max_slowdown`` times, as the remaining credits approach the reserve.
    ``quota_recheck_s``: when a refusal is based on quota information older than this, a free call refreshes it
    first (the quota resets monthly). ``clock`` (monotonic seconds) and ``wall_ns`` are injectable for tests.
    ``record``: the recording hook of the module docstring (e.g. an
    :class:`~kalshikit.strategy.odds_recording.OddsRecorder`).
    """

    def __init__(
        self,
        api_key: str | SecretStr,
        base_url: str = DEFAULT_ODDS_API_URL,
        *,
        regions: str | Sequence[str] = ("us",),
        odds_format: str = "decimal",
        cache_ttl: float = 60.0,
        free_cache_ttl: float = 300.0,
        quota_reserve: int = 20,
        slow_below: int = 200,
        max_slowdown: float = 10.0,
        quota_recheck_s: float = 900.0,
        timeout: float = 10.0,
        attempts: int = 2,
        backoff_s: float = 0.5,
        trust_env: bool = False,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], None] = time.sleep,
        record: Callable[[str, dict[str, str], bytes, int], None] | None = None,
    ) -> None:
        key = api_key.reveal() if isinstance(api_key, SecretStr) else api_key
        if not isinstance(key, str) or not key.strip():
            raise ConfigError("ODDS_API_KEY is empty; set it to the key The Odds API emailed you")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"ODDS_API_URL={base_url!r} must be an http(s) URL ending in /v4, e.g. {DEFAULT_ODDS_API_URL}"
            )
        if odds_format not in ODDS_FORMATS:
            raise ConfigError(f"odds_format must be one of {', '.join(ODDS_FORMATS)}, got {odds_format!r}")
        for name, value in (("cache_ttl", cache_ttl), ("free_cache_ttl", free_cache_ttl), ("timeout", timeout)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a number of seconds >= 0, got {value!r}")
        if quota_reserve < 0 or slow_below < 0 or max_slowdown < 1 or attempts < 1:
            raise ConfigError("quota_reserve and slow_below must be >= 0, max_slowdown >= 1 and attempts >= 1")
        self._key = key.strip()
        self.base_url = base_url.rstrip("/")
        self.regions = _csv(regions, "regions") or "us"
        self.odds_format = odds_format
        self.cache_ttl = float(cache_ttl)
        self.free_cache_ttl = float(free_cache_ttl)
        self.quota_reserve = int(quota_reserve)
        self.slow_below = int(slow_below)
        self.max_slowdown = float(max_slowdown)
        self.quota_recheck_s = float(quota_recheck_s)
        self.timeout = float(timeout)
        self.attempts = int(attempts)
        self.backoff_s = float(backoff_s)
        self._clock = clock
        self._wall_ns = wall_ns
        self._sleep = sleep
        self._record = record
        self._session = session if session is not None else requests.Session()
        self._session.trust_env = trust_env
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, tuple[tuple[str, str], ...]], _Entry] = {}
        self._quota = Quota()
        self._quota_mono: float | None = None
        self._requests = 0
        self._paid_requests = 0
        self._cache_hits = 0
        self._slowed_hits = 0
        self._refused = 0
        self._errors: Counter[str] = Counter()
        self._last_latency_s: float | None = None
        self._last_status = 0
        _install_redaction()

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> OddsClient:
        """Build from ``ODDS_API_KEY`` / ``ODDS_API_URL``; keyword arguments go to the constructor."""
        if settings.odds_api_key is None:
            raise ConfigError(
                "ODDS_API_KEY is not set; get a key at https://the-odds-api.com and put it in the environment or .env"
            )
        kw.setdefault("timeout", settings.http_timeout)
        return cls(settings.odds_api_key, settings.odds_api_url, **kw)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> OddsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OddsClient({self.base_url!r}, key={mask_secret(self._key)})"

    # ================================================================== state
    @property
    def quota(self) -> Quota:
        with self._lock:
            return self._quota

    def metrics(self) -> dict[str, Any]:
        """A snapshot: HTTP requests sent (and how many cost credits), cache hits (and how many only because of the
        slow-down), local refusals, errors by kind, the quota, last latency and status."""
        with self._lock:
            q = self._quota
            age = None if self._quota_mono is None else round(self._clock() - self._quota_mono, 3)
            return {
                "requests": self._requests,
                "paid_requests": self._paid_requests,
                "cache_hits": self._cache_hits,
                "slowed": self._slowed_hits,
                "refused": self._refused,
                "errors": dict(self._errors),
                "quota_remaining": q.remaining,
                "quota_used": q.used,
                "quota_last": q.last,
                "quota_age_s": age,
                "slowdown": round(self._slowdown_locked(), 3),
                "cached": len(self._cache),
                "last_latency_ms": None if self._last_latency_s is None else round(self._last_latency_s * 1e3, 3),
                "last_status": self._last_status,
            }

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def _slowdown_locked(self) -> float:
        remaining = self._quota.remaining
        if remaining is None or remaining >= self.slow_below:
            return 1.0
        headroom = max(1, remaining - self.quota_reserve)
        span = max(1, self.slow_below - self.quota_reserve)
        return min(self.max_slowdown, max(1.0, span / headroom))

    # ================================================================== endpoints
    def sports(self, *, include_out_of_season: bool = False) -> list[Sport]:
        """``GET /sports``: in-season sports (``include_out_of_season`` sends ``all=true``). Free."""
        params = {"all": "true"} if include_out_of_season else {}
        return self._get(
            "/sports",
            params,
            0,
            lambda b, _ns: [Sport(**msgspec.structs.asdict(s)) for s in _sports_decoder.decode(b)],
        )

    def events(
        self,
        sport: str,
        *,
        commence_from_ns: int | None = None,
        commence_to_ns: int | None = None,
        event_ids: Iterable[str] | None = None,
    ) -> list[OddsEvent]:
        """``GET /sports/{sport}/events``: upcoming and live games without odds. Free."""
        params = self._window(commence_from_ns, commence_to_ns)
        if event_ids is not None:
            params["eventIds"] = _csv(event_ids, "event_ids") or ""
        path = f"/sports/{self._sport(sport)}/events"
        return self._get(path, params, 0, lambda b, ns: decode_odds_events(b, fetched_ns=ns))

    def odds(
        self,
        sport: str,
        *,
        markets: str | Sequence[str] = ("h2h",),
        regions: str | Sequence[str] | None = None,
        bookmakers: str | Sequence[str] | None = None,
        odds_format: str | None = None,
        event_ids: Iterable[str] | None = None,
        commence_from_ns: int | None = None,
        commence_to_ns: int | None = None,
    ) -> list[OddsEvent]:
        """``GET /sports/{sport}/odds``: games with each bookmaker's odds. ``bookmakers`` replaces ``regions``.

        Costs ``len(markets) × len(regions)`` credits (``ceil(len(bookmakers)/10)`` regions); answered from the
        cache when a fresh copy is there.
        """
        fmt = odds_format or self.odds_format
        if fmt not in ODDS_FORMATS:
            raise OddsParamError(f"odds_format must be one of {', '.join(ODDS_FORMATS)}, got {fmt!r}", code="local")
        mk = _csv(markets, "markets") or "h2h"
        params: dict[str, str] = {"markets": mk, "oddsFormat": fmt, "dateFormat": "iso"}
        books = _csv(bookmakers, "bookmakers")
        if books is not None:
            params["bookmakers"] = books
            region_units = math.ceil(len(books.split(",")) / 10)
        else:
            params["regions"] = _csv(regions, "regions") if regions is not None else self.regions  # type: ignore[assignment]
            region_units = len(params["regions"].split(","))
        if event_ids is not None:
            params["eventIds"] = _csv(event_ids, "event_ids") or ""
        params.update(self._window(commence_from_ns, commence_to_ns))
        cost = len(mk.split(",")) * region_units
        american = fmt == "american"
        path = f"/sports/{self._sport(sport)}/odds"
        return self._get(path, params, cost, lambda b, ns: decode_odds_events(b, american=american, fetched_ns=ns))

    def refresh_quota(self) -> Quota:
        """Read the quota headers with a free call (``GET /sports``, bypassing the cache)."""
        self._fetch("/sports", {}, cost=0)
        return self.quota

    # ================================================================== plumbing
    @staticmethod
    def _sport(sport: str) -> str:
        if not isinstance(sport, str) or not sport.strip() or not _TOKEN.match(sport.strip()):
            raise OddsParamError(
                f"sport must be a sport key such as 'basketball_nba' (see OddsClient.sports()), got {sport!r}",
                code="local",
            )
        return quote(sport.strip(), safe="")

    @staticmethod
    def _window(start: int | None, end: int | None) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, ns in (("commenceTimeFrom", start), ("commenceTimeTo", end)):
            if ns is not None:
                out[name] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // NS_PER_S))
        return out

    def _decode(self, raw: bytes, recv_ns: int, convert: Callable[[bytes, int], T]) -> T:
        try:
            return convert(raw, recv_ns)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError) as exc:
            self._count_error("Malformed")
            raise OddsApiError(
                f"The Odds API sent an answer that could not be read ({type(exc).__name__}: {exc}); "
                f"body starts {raw[:120]!r}",
                code="malformed",
            ) from None

    def _get(
        self, path: str, params: Mapping[str, str], cost: int, convert: Callable[[bytes, int], list[T]]
    ) -> list[T]:
        """A cached, decoded GET. Paid requests check the quota first and are cached longer when credits run low.
        Results are lists of immutable structs; each caller gets its own list."""
        key = (path, tuple(sorted(params.items())))
        now = self._clock()
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                ttl = self.free_cache_ttl if cost == 0 else self.cache_ttl
                slow = self._slowdown_locked() if cost > 0 else 1.0
                age = now - entry.fetched
                if age < ttl * slow:
                    self._cache_hits += 1
                    if age >= ttl:
                        self._slowed_hits += 1
                    return list(entry.data)
        if cost > 0:
            self._check_quota(path, cost)
        raw, recv_ns = self._fetch(path, params, cost=cost)
        data = self._decode(raw, recv_ns, convert)
        with self._lock:
            self._cache[key] = _Entry(tuple(data), self._clock())
            if len(self._cache) > 512:  # drop the oldest; a strategy asks for a handful of keys
                oldest = min(self._cache, key=lambda k: self._cache[k].fetched)
                del self._cache[oldest]
        return list(data)

    def _check_quota(self, path: str, cost: int) -> None:
        with self._lock:
            remaining = self._quota.remaining
            age = None if self._quota_mono is None else self._clock() - self._quota_mono
        if remaining is None or remaining - cost >= self.quota_reserve:
            return
        if age is not None and age > self.quota_recheck_s:
            try:  # the quota may have reset since we last heard; a free call tells us
                self.refresh_quota()
            except OddsApiError as exc:
                log.warning("could not refresh the Odds API quota: %s", exc)
            with self._lock:
                remaining = self._quota.remaining
            if remaining is None or remaining - cost >= self.quota_reserve:
                return
        with self._lock:
            self._refused += 1
        raise OddsQuotaExhausted(
            f"GET {path} would cost {cost} credit(s) with {remaining} left and a reserve of {self.quota_reserve}: "
            "refused before sending. Wait for the monthly reset, upgrade the plan, lower quota_reserve, or ask for "
            "fewer markets/regions",
            status=0,
            code="reserve",
        )

    def _scrub(self, text: str) -> str:
        return _KEY_IN_TEXT.sub(r"\1<hidden>", text).replace(self._key, mask_secret(self._key))

    def _count_error(self, kind: str) -> None:
        with self._lock:
            self._errors[kind] += 1

    def _note_quota(self, headers: Mapping[str, str]) -> None:
        def num(name: str) -> int | None:
            v = headers.get(name)
            if v is None:
                return None
            try:
                return int(float(v))
            except ValueError:
                return None

        remaining, used, last = num("x-requests-remaining"), num("x-requests-used"), num("x-requests-last")
        if remaining is None and used is None and last is None:
            return
        with self._lock:
            old = self._quota
            self._quota = Quota(
                remaining if remaining is not None else old.remaining,
                used if used is not None else old.used,
                last if last is not None else old.last,
                self._wall_ns(),
            )
            self._quota_mono = self._clock()

    def _fetch(self, path: str, params: Mapping[str, str], *, cost: int) -> tuple[bytes, int]:
        """GET with retries; the body and its receive time (wall clock ns) of a 200 answer, else a typed error."""
        query = dict(params)
        query["apiKey"] = self._key
        url = self.base_url + path
        what = f"GET {path}"
        for attempt in range(1, self.attempts + 1):
            t0 = time.perf_counter()
            try:
                resp = self._session.get(url, params=query, timeout=self.timeout, allow_redirects=False)
            except requests.RequestException as exc:
                kind = "Timeout" if isinstance(exc, requests.Timeout) else "ConnectionError"
                self._count_error(kind)
                err = OddsTemporaryError(
                    f"{what}: {'timed out' if kind == 'Timeout' else 'connection failed'} "
                    f"({type(exc).__name__}: {self._scrub(str(exc))[:300]}); check the network and ODDS_API_URL "
                    f"({urlsplit(self.base_url).netloc})",
                    code=kind.lower(),
                )
                if attempt == self.attempts:
                    raise err from None
                log.warning("%s (attempt %d); retrying", err, attempt)
                self._sleep(self.backoff_s * attempt)
                continue
            elapsed = time.perf_counter() - t0
            with self._lock:
                self._requests += 1
                self._paid_requests += 1 if cost > 0 else 0
                self._last_latency_s = elapsed
                self._last_status = resp.status_code
            self._note_quota(resp.headers)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s -> %d in %.1f ms", what, dict(params), resp.status_code, elapsed * 1e3)
            if resp.status_code == 200:
                recv_ns = self._wall_ns()
                if self._record is not None:
                    self._recorded(path, params, resp.content, recv_ns)
                return resp.content, recv_ns
            err2 = self._error(resp, what)
            if not err2.retryable or attempt == self.attempts:
                raise err2
            log.warning("%s (attempt %d); retrying", err2, attempt)
            self._sleep(self.backoff_s * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _recorded(self, path: str, params: Mapping[str, str], body: bytes, recv_ns: int) -> None:
        """Hand a fetched answer to the recording hook (the key is not in ``params``; dropped again for safety)."""
        assert self._record is not None
        clean = {k: v for k, v in params.items() if k != "apiKey"}
        try:
            self._record(path, clean, body, recv_ns)
        except Exception as exc:  # recording must never stop the odds feed
            self._count_error("RecordFailed")
            log.warning("could not record the Odds API answer to GET %s: %s", path, self._scrub(str(exc)))

    def _error(self, resp: requests.Response, what: str) -> OddsApiError:
        status = resp.status_code
        try:
            body = _error_decoder.decode(resp.content)
            message, code = self._scrub(body.message), body.error_code
        except (msgspec.DecodeError, msgspec.ValidationError):
            message, code = self._scrub(resp.text[:200]), ""
        said = f" The API said: {message}" if message else ""
        if status == 401:
            self._count_error("OddsAuthError")
            return OddsAuthError(
                f"{what}: 401 unauthorized — the Odds API key {mask_secret(self._key)} is missing, wrong, expired "
                f"or out of plan. Check ODDS_API_KEY (the key emailed by the-odds-api.com).{said}",
                status=status,
                code=code,
            )
        if status in (404, 422):
            self._count_error("OddsParamError")
            hint = (
                "the sport key is unknown (list keys with OddsClient.sports())"
                if status == 404
                else (
                    "a parameter is invalid (regions: us, us2, uk, eu, au; markets: h2h, spreads, totals; "
                    "oddsFormat: decimal or american)"
                )
            )
            return OddsParamError(f"{what}: {status} — {hint}.{said}", status=status, code=code)
        if status == 429:
            if "FREQ" in code.upper() or "frequency" in message.lower():
                self._count_error("OddsRateLimited")
                return OddsTemporaryError(
                    f"{what}: 429 — too many requests per second; slow down.{said}", status=status, code=code
                )
            self._count_error("OddsQuotaExhausted")
            with self._lock:
                q = self._quota
                self._quota = Quota(0, q.used, q.last, self._wall_ns())
                self._quota_mono = self._clock()
            return OddsQuotaExhausted(
                f"{what}: 429 — the usage quota is used up. Wait for the monthly reset or upgrade the plan; until "
                f"then the kit serves cached odds only.{said}",
                status=status,
                code=code,
            )
        self._count_error("OddsTemporaryError" if status >= 500 else "OddsApiError")
        cls = OddsTemporaryError if status >= 500 else OddsApiError
        return cls(f"{what}: HTTP {status}.{said}", status=status, code=code)


__all__ = [
    "FEATURED_MARKETS",
    "KNOWN_REGIONS",
    "ODDS_FORMATS",
    "BookMarket",
    "Bookmaker",
    "OddsClient",
    "OddsEvent",
    "Outcome",
    "Quota",
    "Sport",
    "decode_odds_events",
    "mask_secret",
]
