"""Every setting of the kit, read once from environment variables (and an optional ``.env`` file) and validated.

The settings object is frozen. A bad value fails with a :class:`~kalshikit.errors.ConfigError` that names the
variable, the value and what is allowed; all problems are reported together. Secrets (the private key and the full
API key id) never appear in ``repr``, ``str``, logs or error messages.

Environments: ``sim`` (the local simulator; default without credentials), ``demo`` (Kalshi's demo exchange; default
with credentials) and ``prod`` (real money; only when named explicitly with ``KALSHI_ENV=prod`` or ``--env prod``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlparse

from kalshikit.errors import ConfigError

Environment = Literal["sim", "demo", "prod"]
StalePolicy = Literal["hold", "confirm", "fire"]

ENVIRONMENTS: tuple[Environment, ...] = ("sim", "demo", "prod")
STALE_POLICIES: tuple[StalePolicy, ...] = ("hold", "confirm", "fire")
LOG_LEVELS = ("debug", "info", "warning", "error")

# Current canonical hosts first; the legacy shared hosts are still served by Kalshi and accepted here.
KALSHI_HOSTS: dict[str, dict[str, tuple[str, str]]] = {
    "prod": {
        "current": (
            "https://external-api.kalshi.com/trade-api/v2",
            "wss://external-api-ws.kalshi.com/trade-api/ws/v2",
        ),
        "legacy": (
            "https://api.elections.kalshi.com/trade-api/v2",
            "wss://api.elections.kalshi.com/trade-api/ws/v2",
        ),
    },
    "demo": {
        "current": (
            "https://external-api.demo.kalshi.co/trade-api/v2",
            "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2",
        ),
        "legacy": (
            "https://demo-api.kalshi.co/trade-api/v2",
            "wss://demo-api.kalshi.co/trade-api/ws/v2",
        ),
    },
}
REST_PATH = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"
DEFAULT_ODDS_API_URL = "https://api.the-odds-api.com/v4"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SecretStr:
    """A string that never shows itself in ``repr``/``str``. Call :meth:`reveal` to use it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('<hidden>')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (SecretStr, (self._value,))


def mask_key_id(key_id: str | None) -> str:
    """Show enough of an API key id to recognise it, never the whole id (``a952bcbe…``)."""
    if not key_id:
        return "<none>"
    return key_id[:8] + "…" if len(key_id) > 8 else key_id[:2] + "…"


@dataclass(frozen=True)
class Settings:
    """The kit's settings. Build with :meth:`from_env`; override fields with :meth:`replace`."""

    # Thread intervals and WebSocket behaviour (names and defaults of the system the kit grew from).
    strategy_loop_interval: float = 30.0
    stop_loss_check_interval: float = 2.0
    ui_update_interval: float = 1.0
    reconcile_interval: float = 10.0
    websocket_enabled: bool = True
    websocket_reconnect_delay: float = 5.0
    websocket_max_reconnect_delay: float = 60.0
    websocket_price_cache_stale_secs: float = 60.0
    websocket_silence_secs: float = 25.0  # no frames and no pings for this long: the connection is dead
    verbose: bool = False
    # Where to trade.
    env: Environment = "sim"
    rest_url: str = ""
    ws_url: str = ""
    use_legacy_hosts: bool = False
    # Credentials. ``private_key_pem`` is filled from KALSHI_PRIVATE_KEY, or read lazily from the path.
    api_key_id: str | None = field(default=None, repr=False)
    private_key_path: Path | None = None
    private_key_pem: SecretStr | None = field(default=None, repr=False)
    # Monitor policy and exits.
    stale_policy: StalePolicy = "confirm"
    exit_max_attempts: int = 5
    exit_max_slippage: float | None = None  # dollars below the trigger an exit may sell; None = sweep the book
    # REST client.
    http_timeout: float = 10.0
    reads_per_second: float = 20.0
    writes_per_second: float = 10.0
    # Storage and feeds.
    data_dir: Path = field(default_factory=lambda: Path.home() / ".kalshikit")
    odds_api_key: SecretStr | None = field(default=None, repr=False)
    odds_api_url: str = DEFAULT_ODDS_API_URL
    log_level: str = "INFO"

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: str | Path | None = ".env",
        **overrides: Any,
    ) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``) over an optional ``.env`` file.

        Keyword ``overrides`` (field names, e.g. ``env="demo"``) win over both. Raises :class:`ConfigError`
        listing every bad value.
        """
        values: dict[str, str] = {}
        if env_file is not None:
            path = Path(env_file)
            if path.is_file():
                values.update(read_env_file(path))
        values.update(os.environ if environ is None else environ)
        return _build(values, overrides)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed, validated again."""
        merged = dataclasses.replace(self, **changes)
        merged.validate()
        return merged

    # ------------------------------------------------------------------ derived
    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key_id) and (self.private_key_pem is not None or self.private_key_path is not None)

    @property
    def is_production(self) -> bool:
        return self.env == "prod"

    @property
    def masked_key_id(self) -> str:
        return mask_key_id(self.api_key_id)

    def validate(self) -> None:
        """Check every field and the cross-field rules; raise :class:`ConfigError` naming the variables involved."""
        problems: list[str] = []
        for name in _SECONDS_FIELDS:
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                problems.append(f"{ENV_VARS[name]}={v!r} is not valid; allowed: a number of seconds > 0")
        for name, value, choices in (
            ("env", self.env, ENVIRONMENTS),
            ("stale_policy", self.stale_policy, STALE_POLICIES),
        ):
            if value not in choices:
                problems.append(f"{ENV_VARS[name]}={value!r} is not valid; allowed: {' | '.join(choices)}")
        if not isinstance(self.log_level, str) or self.log_level.lower() not in LOG_LEVELS:
            problems.append(f"LOG_LEVEL={self.log_level!r} is not valid; allowed: {' | '.join(LOG_LEVELS)}")
        attempts = self.exit_max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            problems.append(f"EXIT_MAX_ATTEMPTS={attempts!r} is not valid; allowed: a whole number >= 1")
        slip = self.exit_max_slippage
        if slip is not None and not (isinstance(slip, int | float) and math.isfinite(slip) and 0 < slip <= 1):
            problems.append(f"EXIT_MAX_SLIPPAGE={slip!r} is not valid; allowed: dollars in (0, 1] or None")
        if self.websocket_max_reconnect_delay < self.websocket_reconnect_delay:
            problems.append(
                f"WEBSOCKET_MAX_RECONNECT_DELAY={self.websocket_max_reconnect_delay:g} is smaller than "
                f"WEBSOCKET_RECONNECT_DELAY={self.websocket_reconnect_delay:g}; the maximum must be >= the start delay"
            )
        if self.env in ("demo", "prod") and not self.has_credentials:
            problems.append(
                f"KALSHI_ENV={self.env} needs credentials: set KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH "
                "(or KALSHI_PRIVATE_KEY with the PEM text)"
            )
        for name, url, schemes in (
            ("KALSHI_REST_URL", self.rest_url, ("http", "https")),
            ("KALSHI_WS_URL", self.ws_url, ("ws", "wss")),
        ):
            if url and urlparse(url).scheme not in schemes:
                problems.append(f"{name}={url!r} must start with {' or '.join(s + '://' for s in schemes)}")
        if problems:
            raise ConfigError("invalid settings:\n  - " + "\n  - ".join(problems))

    def describe(self) -> str:
        """One line safe to log: environment, hosts, masked key id."""
        return (
            f"env={self.env} rest={self.rest_url or '(simulator)'} ws={self.ws_url or '(simulator)'} "
            f"key={self.masked_key_id}"
        )


# ---------------------------------------------------------------------- parsing helpers
T = TypeVar("T")


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file: ``KEY=VALUE`` lines, ``#`` comments, optional ``export``, quoted values."""
    out: dict[str, str] = {}
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        raw = lines[i].strip()
        i += 1
        if not raw or raw.startswith("#"):
            continue
        if raw.startswith("export "):
            raw = raw[len("export ") :].strip()
        key, sep, value = raw.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum():
            raise ConfigError(f"{path}:{i}: expected KEY=VALUE, got {lines[i - 1][:40]!r}")
        value = value.strip()
        if value[:1] in ("'", '"'):
            quote = value[0]
            body = value[1:]
            # Allow multi-line quoted values (a PEM pasted into KALSHI_PRIVATE_KEY).
            while (end := _closing_quote(body, quote)) < 0 and i < len(lines):
                body += "\n" + lines[i]
                i += 1
            if end < 0:
                raise ConfigError(f"{path}: unterminated quoted value for {key}")
            rest = body[end + 1 :].strip()
            if rest and not rest.startswith("#"):
                raise ConfigError(f"{path}:{i}: unexpected text after the closing quote of {key}")
            value = body[:end]
            if quote == '"':
                value = value.replace("\\n", "\n")
        else:
            value = value.split(" #", 1)[0].strip()
        out[key] = value
    return out


def _closing_quote(text: str, quote: str) -> int:
    """Index of the quote that closes a value (a backslash-escaped ``\\"`` does not close a double-quoted one)."""
    j = text.find(quote)
    while quote == '"' and j > 0 and text[j - 1] == "\\":
        j = text.find(quote, j + 1)
    return j


class _Reader:
    """Reads typed values from a mapping, collecting every problem instead of stopping at the first."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values
        self.problems: list[str] = []

    def get(self, name: str, default: T, parse: Callable[[str], T], allowed: str) -> T:
        raw = self.values.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except (ValueError, TypeError):
            self.problems.append(f"{name}={raw!r} is not valid; allowed: {allowed}")
            return default

    def seconds(self, name: str, default: float, *, minimum: float = 0.0, allow_zero: bool = False) -> float:
        def parse(s: str) -> float:
            v = float(s)
            if not math.isfinite(v) or v < minimum or (v == minimum and not allow_zero):
                raise ValueError
            return v

        bound = f">= {minimum:g}" if allow_zero else f"> {minimum:g}"
        return self.get(name, default, parse, f"a number of seconds {bound}")

    def boolean(self, name: str, default: bool) -> bool:
        def parse(s: str) -> bool:
            low = s.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError

        return self.get(name, default, parse, "true/false (also 1/0, yes/no, on/off)")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        def parse(s: str) -> str:
            if s.lower() not in choices:
                raise ValueError
            return s.lower()

        return self.get(name, default, parse, " | ".join(choices))

    def positive_int(self, name: str, default: int) -> int:
        def parse(s: str) -> int:
            v = int(s)
            if v < 1:
                raise ValueError
            return v

        return self.get(name, default, parse, "a whole number >= 1")


def _url(s: str) -> str:
    parsed = urlparse(s)
    if not parsed.scheme or not parsed.netloc:
        raise ValueError
    return s.rstrip("/")


def _dollars(s: str) -> float:
    v = float(s)
    if not math.isfinite(v) or not 0 < v <= 1:
        raise ValueError
    return v


_SECONDS_FIELDS = (
    "strategy_loop_interval",
    "stop_loss_check_interval",
    "ui_update_interval",
    "reconcile_interval",
    "websocket_reconnect_delay",
    "websocket_max_reconnect_delay",
    "websocket_price_cache_stale_secs",
    "websocket_silence_secs",
    "http_timeout",
    "reads_per_second",
    "writes_per_second",
)

# Map of field name -> environment variable, used to route keyword overrides and to document the settings.
ENV_VARS: dict[str, str] = {
    "strategy_loop_interval": "STRATEGY_LOOP_INTERVAL",
    "stop_loss_check_interval": "STOP_LOSS_CHECK_INTERVAL",
    "ui_update_interval": "UI_UPDATE_INTERVAL",
    "reconcile_interval": "RECONCILE_INTERVAL",
    "websocket_enabled": "WEBSOCKET_ENABLED",
    "websocket_reconnect_delay": "WEBSOCKET_RECONNECT_DELAY",
    "websocket_max_reconnect_delay": "WEBSOCKET_MAX_RECONNECT_DELAY",
    "websocket_price_cache_stale_secs": "WEBSOCKET_PRICE_CACHE_STALE_SECS",
    "websocket_silence_secs": "WEBSOCKET_SILENCE_SECS",
    "verbose": "VERBOSE",
    "env": "KALSHI_ENV",
    "rest_url": "KALSHI_REST_URL",
    "ws_url": "KALSHI_WS_URL",
    "use_legacy_hosts": "KALSHI_USE_LEGACY_HOSTS",
    "api_key_id": "KALSHI_API_KEY_ID",
    "private_key_path": "KALSHI_PRIVATE_KEY_PATH",
    "private_key_pem": "KALSHI_PRIVATE_KEY",
    "stale_policy": "STALE_PRICE_POLICY",
    "exit_max_attempts": "EXIT_MAX_ATTEMPTS",
    "exit_max_slippage": "EXIT_MAX_SLIPPAGE",
    "http_timeout": "KALSHI_HTTP_TIMEOUT",
    "reads_per_second": "KALSHI_READS_PER_SECOND",
    "writes_per_second": "KALSHI_WRITES_PER_SECOND",
    "data_dir": "KALSHIKIT_DATA_DIR",
    "odds_api_key": "ODDS_API_KEY",
    "odds_api_url": "ODDS_API_URL",
    "log_level": "LOG_LEVEL",
}


def _build(values: Mapping[str, str], overrides: Mapping[str, Any]) -> Settings:
    unknown = set(overrides) - set(ENV_VARS)
    if unknown:
        raise ConfigError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(ENV_VARS)}")
    # Keyword overrides are applied as strings through the same parsers, so they are validated identically.
    merged = dict(values)
    for name, value in overrides.items():
        if value is None:
            merged.pop(ENV_VARS[name], None)
            continue
        if isinstance(value, SecretStr):
            value = value.reveal()
        merged[ENV_VARS[name]] = str(value).lower() if isinstance(value, bool) else str(value)
    r = _Reader(merged)
    d = Settings()
    kw: dict[str, Any] = {
        "strategy_loop_interval": r.seconds("STRATEGY_LOOP_INTERVAL", d.strategy_loop_interval),
        "stop_loss_check_interval": r.seconds("STOP_LOSS_CHECK_INTERVAL", d.stop_loss_check_interval),
        "ui_update_interval": r.seconds("UI_UPDATE_INTERVAL", d.ui_update_interval),
        "reconcile_interval": r.seconds("RECONCILE_INTERVAL", d.reconcile_interval),
        "websocket_enabled": r.boolean("WEBSOCKET_ENABLED", d.websocket_enabled),
        "websocket_reconnect_delay": r.seconds("WEBSOCKET_RECONNECT_DELAY", d.websocket_reconnect_delay),
        "websocket_max_reconnect_delay": r.seconds("WEBSOCKET_MAX_RECONNECT_DELAY", d.websocket_max_reconnect_delay),
        "websocket_price_cache_stale_secs": r.seconds(
            "WEBSOCKET_PRICE_CACHE_STALE_SECS", d.websocket_price_cache_stale_secs
        ),
        "websocket_silence_secs": r.seconds("WEBSOCKET_SILENCE_SECS", d.websocket_silence_secs),
        "verbose": r.boolean("VERBOSE", d.verbose),
        "use_legacy_hosts": r.boolean("KALSHI_USE_LEGACY_HOSTS", d.use_legacy_hosts),
        "stale_policy": r.choice("STALE_PRICE_POLICY", d.stale_policy, STALE_POLICIES),
        "exit_max_attempts": r.positive_int("EXIT_MAX_ATTEMPTS", d.exit_max_attempts),
        "exit_max_slippage": r.get(
            "EXIT_MAX_SLIPPAGE", d.exit_max_slippage, _dollars, "dollars in (0, 1], e.g. 0.05; empty = no cap"
        ),
        "http_timeout": r.seconds("KALSHI_HTTP_TIMEOUT", d.http_timeout),
        "reads_per_second": r.seconds("KALSHI_READS_PER_SECOND", d.reads_per_second),
        "writes_per_second": r.seconds("KALSHI_WRITES_PER_SECOND", d.writes_per_second),
        "odds_api_url": r.get("ODDS_API_URL", d.odds_api_url, _url, "an http(s) URL"),
        "log_level": r.choice("LOG_LEVEL", d.log_level.lower(), LOG_LEVELS).upper(),
    }
    rest_url = r.get("KALSHI_REST_URL", "", _url, "an http(s) URL ending in /trade-api/v2")
    ws_url = r.get("KALSHI_WS_URL", "", _url, "a ws(s) URL ending in /trade-api/ws/v2")
    data_dir = merged.get("KALSHIKIT_DATA_DIR", "").strip()
    kw["data_dir"] = Path(data_dir).expanduser() if data_dir else d.data_dir

    key_id = merged.get("KALSHI_API_KEY_ID", "").strip() or None
    key_path_raw = merged.get("KALSHI_PRIVATE_KEY_PATH", "").strip()
    key_pem = merged.get("KALSHI_PRIVATE_KEY", "").strip()
    key_path = Path(key_path_raw).expanduser() if key_path_raw else None
    if "-----BEGIN" in key_path_raw:
        r.problems.append(
            "KALSHI_PRIVATE_KEY_PATH holds PEM key text, not a file path; put the text in KALSHI_PRIVATE_KEY "
            "or point KALSHI_PRIVATE_KEY_PATH at the key file"
        )
    elif key_path is not None and not key_path.is_file():
        r.problems.append(
            f"KALSHI_PRIVATE_KEY_PATH={key_path_raw!r} does not exist or is not a file; point it at the .key/.pem "
            "file Kalshi let you download when you created the API key"
        )
    if key_pem and "-----BEGIN" not in key_pem:
        r.problems.append("KALSHI_PRIVATE_KEY does not look like a PEM private key (no '-----BEGIN' line)")
    odds_key = merged.get("ODDS_API_KEY", "").strip()
    kw["api_key_id"] = key_id
    kw["private_key_path"] = key_path
    kw["private_key_pem"] = SecretStr(key_pem) if key_pem else None
    kw["odds_api_key"] = SecretStr(odds_key) if odds_key else None

    has_creds = bool(key_id) and bool(key_pem or key_path_raw)
    if (key_pem or key_path_raw) and not key_id:
        r.problems.append("a private key is set but KALSHI_API_KEY_ID is empty; set the key id shown next to the key")
    default_env: Environment = "demo" if has_creds else "sim"
    env = r.choice("KALSHI_ENV", default_env, ENVIRONMENTS)
    kw["env"] = env

    if env in KALSHI_HOSTS:
        era = "legacy" if kw["use_legacy_hosts"] else "current"
        default_rest, default_ws = KALSHI_HOSTS[env][era]
        kw["rest_url"] = rest_url or default_rest
        kw["ws_url"] = ws_url or default_ws
    else:
        kw["rest_url"] = rest_url
        kw["ws_url"] = ws_url

    if r.problems:
        raise ConfigError("invalid settings:\n  - " + "\n  - ".join(r.problems))
    settings = Settings(**kw)
    settings.validate()
    return settings


def env_urls(env: Environment, *, legacy: bool = False) -> tuple[str, str]:
    """The (REST base, WebSocket URL) of a Kalshi environment; ``sim`` has none (the simulator picks a port)."""
    if env not in KALSHI_HOSTS:
        raise ConfigError(f"environment {env!r} has no fixed hosts; allowed: demo | prod")
    return KALSHI_HOSTS[env]["legacy" if legacy else "current"]
