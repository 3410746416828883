"""One error tree for the whole kit. Each class says, in ``who_acts``, who must act to fix it.

- ``user``: your configuration, credentials or input is wrong; the message says what to change.
- ``exchange``: the exchange refused or failed; the kit retries where that is safe.
- ``kit``: a bug in kalshikit; please report it with the message.
"""

from __future__ import annotations

from typing import ClassVar


class KalshiKitError(Exception):
    """Base of every error raised by kalshikit."""

    who_acts: ClassVar[str] = "kit"


class ConfigError(KalshiKitError, ValueError):
    """A setting is missing or has a bad value. The message names the variable, the value and what is allowed."""

    who_acts = "user"


class CredentialsError(ConfigError):
    """An API key id or private key is missing, unreadable or malformed. Never carries key material."""


class UnitError(KalshiKitError, ValueError):
    """A price, count or amount could not be parsed or is out of range."""

    who_acts = "user"


class RuleError(KalshiKitError, ValueError):
    """A protective rule (stop, take-profit, trailing, ...) is invalid for the position it is meant for."""

    who_acts = "user"


class CrossedLevelError(RuleError):
    """The current price already crosses a rule's level: arming it would exit at once. ``crossed`` says, for each
    such rule, its level and the price; asking for an immediate exit explicitly arms it anyway."""

    def __init__(self, message: str, crossed: list[str]) -> None:
        super().__init__(message)
        self.crossed = crossed


class ProtocolError(KalshiKitError):
    """Data from the exchange could not be understood (malformed frame, unexpected shape)."""

    who_acts = "exchange"


class ExchangeError(KalshiKitError):
    """The exchange answered with an error. ``status`` is the HTTP status (0 when none), ``code`` Kalshi's code."""

    who_acts = "exchange"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int = 0, code: str = "", details: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details


class AuthError(ExchangeError):
    """401/403: the key id, the private key, the key's scopes or the local clock is wrong."""

    who_acts = "user"


class NotFoundError(ExchangeError):
    """404: the market, order or resource does not exist."""

    who_acts = "user"


class OrderRejected(ExchangeError):
    """400/409 on an order write: the order itself is unacceptable (price off grid, balance, reduce-only...)."""

    who_acts = "user"


class DuplicateOrder(OrderRejected):
    """409 ``order_already_exists``: an order with this ``client_order_id`` exists (an earlier attempt got through)."""


class RateLimited(ExchangeError):
    """429: too many requests. The kit slows down and retries reads; writes are retried with the same id."""

    retryable = True


class TemporaryError(ExchangeError):
    """5xx, connection errors and timeouts: worth retrying later."""

    retryable = True


class OrderOutcomeUnknown(TemporaryError):
    """An order write timed out or the connection dropped: it may or may not have reached the exchange.

    Resolve it by looking the order up by its ``client_order_id`` before sending anything else for that position.
    """

    def __init__(self, message: str, *, client_order_id: str, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.client_order_id = client_order_id


class IllegalTransition(KalshiKitError):
    """A guard was asked to move between two states the transition table does not allow (a kit bug)."""


class JournalError(KalshiKitError):
    """The SQLite journal could not be read or written (disk full, locked, corrupt)."""

    who_acts = "user"


class RecordingError(KalshiKitError, ValueError):
    """A recording file or line is unreadable. Carries the file path and line number."""

    who_acts = "user"

    def __init__(self, message: str, *, path: str = "", line: int = 0) -> None:
        where = f"{path}:{line}: " if path else ""
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class OddsApiError(KalshiKitError):
    """The Odds API (sportsbook odds feed) answered with an error or could not be reached.

    ``status`` is the HTTP status (0 when there was no answer), ``code`` the API's ``error_code`` when it sent one.
    Messages never contain the API key.
    """

    who_acts = "exchange"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class OddsAuthError(OddsApiError):
    """401: the Odds API key is missing, wrong or expired. Set ODDS_API_KEY to the key emailed to you."""

    who_acts = "user"


class OddsParamError(OddsApiError):
    """422 (or 404 for an unknown sport): a request parameter is invalid; the message names it and what is allowed."""

    who_acts = "user"


class OddsQuotaExhausted(OddsApiError):
    """429, or refused locally: the usage quota is used up (or would fall below the reserve you configured).

    Wait for the quota to reset, upgrade the plan, lower the reserve, or request fewer markets/regions.
    """

    who_acts = "user"


class OddsTemporaryError(OddsApiError):
    """5xx, a timeout or a dropped connection: worth retrying later."""

    retryable = True
