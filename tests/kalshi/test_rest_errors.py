"""Error bodies of every shape Kalshi sends, mapped to the kit's typed errors with messages that say what to fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kalshikit.errors import (
    AuthError,
    DuplicateOrder,
    ExchangeError,
    NotFoundError,
    OrderRejected,
    RateLimited,
    TemporaryError,
)
from kalshikit.kalshi.http_errors import ErrorBody, error_for_item, error_for_status, parse_error_body

KEY_ID = "a952bcbe-1234-4c1d-9e7f-0123456789ab"


@pytest.mark.parametrize(
    "raw,expected",
    [
        (
            b'{"error": {"code": "invalid_price", "message": "invalid price", "service": "exchange"}}',
            ErrorBody("invalid_price", "invalid price", "", "exchange"),
        ),
        (
            b'{"code": "insufficient_balance", "message": "insufficient balance", "details": "need $3.10"}',
            ErrorBody("insufficient_balance", "insufficient balance", "need $3.10", ""),
        ),
        (b'{"error": "too many requests"}', ErrorBody("", "too many requests")),
        (b"<html><body>502 Bad Gateway</body></html>\n", ErrorBody("", "<html><body>502 Bad Gateway</body></html>")),
        (b"", ErrorBody("", "")),
        (b"   ", ErrorBody("", "")),
        (b'["odd"]', ErrorBody("", '["odd"]')),
        (b'{"error": {"code": 17, "message": null}}', ErrorBody("17", "")),
        (b'"plain string"', ErrorBody("", "plain string")),
    ],
)
def test_parse_every_body_shape(raw: bytes, expected: ErrorBody) -> None:
    assert parse_error_body(raw) == expected


def test_long_text_body_is_shortened() -> None:
    body = parse_error_body(b"x" * 5000)
    assert len(body.message) <= 201 and body.message.endswith("…")


@pytest.mark.parametrize(
    "status,raw,order_write,cls,code",
    [
        (
            401,
            b'{"error": {"code": "authentication_error", "message": "bad sig"}}',
            False,
            AuthError,
            "authentication_error",
        ),
        (403, b'{"code": "forbidden", "message": "scope"}', False, AuthError, "forbidden"),
        (404, b'{"error": {"code": "not_found", "message": "market not found"}}', False, NotFoundError, "not_found"),
        (429, b'{"error": "too many requests"}', False, RateLimited, ""),
        (500, b"Internal Server Error", False, TemporaryError, ""),
        (
            503,
            b'{"error": {"code": "service_unavailable", "message": "down"}}',
            True,
            TemporaryError,
            "service_unavailable",
        ),
        (
            400,
            b'{"error": {"code": "invalid_price", "message": "invalid price"}}',
            True,
            OrderRejected,
            "invalid_price",
        ),
        (
            409,
            b'{"error": {"code": "order_already_exists", "message": "order already exists"}}',
            True,
            DuplicateOrder,
            "order_already_exists",
        ),
        (409, b'{"code": "conflict", "message": "x"}', True, OrderRejected, "conflict"),
        (400, b'{"code": "bad_request", "message": "limit too large"}', False, ExchangeError, "bad_request"),
    ],
)
def test_status_maps_to_typed_error(
    status: int, raw: bytes, order_write: bool, cls: type[ExchangeError], code: str
) -> None:
    err = error_for_status(status, raw, method="POST", path="/portfolio/events/orders", order_write=order_write)
    assert type(err) is cls
    assert err.status == status and err.code == code
    assert str(status) in str(err) and "/portfolio/events/orders" in str(err)


def test_duplicate_on_a_read_is_not_an_order_error() -> None:
    err = error_for_status(409, b'{"code": "order_already_exists"}', method="GET", path="/x", order_write=False)
    assert type(err) is ExchangeError


def test_401_says_what_to_check_and_never_shows_the_full_key_id() -> None:
    raw = ('{"error": {"code": "authentication_error", "message": "key ' + KEY_ID + ' signature invalid"}}').encode()
    err = error_for_status(401, raw, method="GET", path="/portfolio/balance", key_id=KEY_ID)
    text = str(err)
    assert KEY_ID not in text and KEY_ID not in err.details
    assert "a952bcbe…" in text
    for hint in ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY_PATH", "clock", "demo"):
        assert hint in text
    assert err.who_acts == "user"


def test_403_points_at_scopes() -> None:
    err = error_for_status(403, b"{}", method="GET", path="/portfolio/balance", key_id=KEY_ID)
    assert "scopes" in str(err) and KEY_ID not in str(err)


def test_429_and_5xx_are_retryable_others_not() -> None:
    assert error_for_status(429, b"", method="GET", path="/x").retryable
    assert error_for_status(502, b"", method="GET", path="/x").retryable
    assert not error_for_status(404, b"", method="GET", path="/x").retryable
    assert not error_for_status(400, b"", method="POST", path="/x", order_write=True).retryable


@pytest.mark.parametrize(
    "obj,cls",
    [
        ({"code": "order_already_exists", "message": "order already exists"}, DuplicateOrder),
        ({"error": {"code": "invalid_price", "message": "bad"}}, OrderRejected),
        ({"code": "not_found", "message": "no such order"}, NotFoundError),
        ({"code": "service_unavailable"}, TemporaryError),
        ("too many requests", RateLimited),
        ({"code": "insufficient_balance"}, OrderRejected),
    ],
)
def test_batch_item_errors(obj: object, cls: type[ExchangeError]) -> None:
    err = error_for_item(obj, context="batch order c1")
    assert type(err) is cls and err.status == 0 and "batch order c1" in str(err)


def test_real_error_bodies(realdata: Path) -> None:
    """Error answers captured from Kalshi (a 400 on a bad filter, a 403 on a permissioned endpoint)."""
    queries = json.loads((realdata / "kalshi_cockpit" / "markets_settled.json").read_text())["queries"]
    text = next(q["error"] for q in queries if "error" in q)
    status, raw = int(text.split()[1]), text.split("\n", 1)[1].encode()
    err = error_for_status(status, raw, method="GET", path="/markets")
    assert type(err) is ExchangeError and (err.status, err.code, err.details) == (
        400,
        "bad_request",
        "invalid status filter",
    )
    assert "invalid status filter" in str(err)
    golden = json.loads(
        (realdata / "kalshi_starter_golden_rest" / "portfolio_total_resting_order_value_response.json").read_text()
    )
    raw = json.dumps(golden["response"]).encode()
    err = error_for_status(golden["_metadata"]["http_status"], raw, method="GET", path="/portfolio/x")
    assert type(err) is AuthError and err.code == "permission_denied" and "scopes" in str(err)
