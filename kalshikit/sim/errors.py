"""The one exception the simulator's exchange raises: an HTTP status plus Kalshi's error code and a helpful message."""

from __future__ import annotations


class SimError(Exception):
    """A request the exchange refuses. The REST layer turns it into Kalshi's nested error body."""

    def __init__(self, status: int, code: str, message: str, details: str = "") -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def bad_request(message: str, code: str = "invalid_parameters") -> SimError:
    return SimError(400, code, message)


def not_found(message: str, code: str = "not_found") -> SimError:
    return SimError(404, code, message)
