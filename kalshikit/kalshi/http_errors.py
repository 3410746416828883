"""Turn Kalshi's HTTP error answers into the kit's typed errors, with messages that say what to fix.

Kalshi answers errors in three body shapes, and proxies in front of it in a fourth:

- nested (what the live API sends): ``{"error": {"code": "invalid_price", "message": "...", "details": "...",
  "service": "exchange"}}``
- flat (what the OpenAPI spec documents): ``{"code": "...", "message": "...", "details": "..."}``
- 429 from the token bucket: ``{"error": "too many requests"}`` (a plain string)
- anything else: HTML or text from a load balancer, or an empty body.

Messages never contain key material or the full API key id (the id is masked, and scrubbed from server text).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from kalshikit.config import mask_key_id
from kalshikit.errors import (
    AuthError,
    DuplicateOrder,
    ExchangeError,
    NotFoundError,
    OrderRejected,
    RateLimited,
    TemporaryError,
)

DUPLICATE_ORDER_CODE = "order_already_exists"
_MAX_TEXT = 200


class ErrorBody(NamedTuple):
    """The fields of an error body; empty strings where the body had none."""

    code: str
    message: str
    details: str = ""
    service: str = ""


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode() if isinstance(value, dict | list) else str(value)


def _snippet(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    text = " ".join(text.split())
    return text[:_MAX_TEXT] + ("…" if len(text) > _MAX_TEXT else "")


def error_body_from_obj(obj: Any) -> ErrorBody:
    """Read an already-decoded error value (a body, or a batch item's ``error``) in any of Kalshi's shapes."""
    if isinstance(obj, dict):
        inner = obj.get("error")
        if isinstance(inner, dict):
            return ErrorBody(
                _text(inner.get("code")),
                _text(inner.get("message")),
                _text(inner.get("details")),
                _text(inner.get("service")),
            )
        if isinstance(inner, str) and not any(k in obj for k in ("code", "message")):
            return ErrorBody("", inner)
        return ErrorBody(
            _text(obj.get("code")), _text(obj.get("message")), _text(obj.get("details")), _text(obj.get("service"))
        )
    if isinstance(obj, str):
        return ErrorBody("", obj)
    if obj is None:
        return ErrorBody("", "")
    return ErrorBody("", _text(obj))


def parse_error_body(raw: bytes) -> ErrorBody:
    """Parse an error response body of any shape; a body that is not JSON becomes the message (shortened)."""
    if not raw or not raw.strip():
        return ErrorBody("", "")
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return ErrorBody("", _snippet(raw))
    return error_body_from_obj(obj)


def _scrub(text: str, key_id: str | None) -> str:
    if key_id and key_id in text:
        return text.replace(key_id, mask_key_id(key_id))
    return text


def _describe(status: int, body: ErrorBody) -> str:
    parts = [f"HTTP {status}" if status else "no HTTP status"]
    if body.code:
        parts.append(f"code={body.code}")
    if body.message:
        parts.append(f"message={body.message!r}")
    if body.details:
        parts.append(f"details={body.details!r}")
    return ", ".join(parts)


def error_for_status(
    status: int,
    raw: bytes,
    *,
    method: str,
    path: str,
    order_write: bool = False,
    key_id: str | None = None,
) -> ExchangeError:
    """The typed error for an HTTP error answer.

    ``order_write`` marks order create/amend/decrease/cancel, where 400/409 mean the order itself was refused.
    ``key_id`` is only used to mask it in the message; it is never included in full.
    """
    body = parse_error_body(raw)
    body = ErrorBody(body.code, _scrub(body.message, key_id), _scrub(body.details, key_id), body.service)
    what = f"{method} {path}: {_describe(status, body)}"
    masked = mask_key_id(key_id)
    if status == 401:
        return AuthError(
            f"{what}. Kalshi did not accept the request signature. Check that KALSHI_API_KEY_ID ({masked}) is the id "
            "shown next to the key, that KALSHI_PRIVATE_KEY_PATH points at the private key downloaded with that key, "
            "that the key belongs to this environment (demo keys only work on demo, prod keys on prod), and that "
            "this computer's clock is correct (the signed timestamp must be close to the exchange's time)",
            status=status,
            code=body.code,
            details=body.details,
        )
    if status == 403:
        return AuthError(
            f"{what}. The API key {masked} is valid but not allowed to do this: check the key's scopes "
            "(read/write) and subaccount restriction in Kalshi's API key settings",
            status=status,
            code=body.code,
            details=body.details,
        )
    if status == 404:
        return NotFoundError(
            f"{what}. Not found: check the market ticker or order id in the path",
            status=status,
            code=body.code,
            details=body.details,
        )
    if status == 429:
        return RateLimited(
            f"{what}. Kalshi's rate limit was hit; the kit backs off and retries where safe. If this persists, lower "
            "KALSHI_READS_PER_SECOND / KALSHI_WRITES_PER_SECOND to your tier's budget",
            status=status,
            code=body.code,
            details=body.details,
        )
    if status >= 500:
        return TemporaryError(
            f"{what}. Kalshi had a temporary problem; try again shortly",
            status=status,
            code=body.code,
            details=body.details,
        )
    if order_write and body.code == DUPLICATE_ORDER_CODE:
        return DuplicateOrder(
            f"{what}. An order with this client_order_id already exists: an earlier attempt got through. Look it up "
            "by client_order_id instead of sending it again",
            status=status,
            code=body.code,
            details=body.details,
        )
    if order_write and status in (400, 409, 422):
        return OrderRejected(
            f"{what}. The exchange refused the order; fix the order as the message says",
            status=status,
            code=body.code,
            details=body.details,
        )
    return ExchangeError(
        f"{what}. The exchange refused the request", status=status, code=body.code, details=body.details
    )


def error_for_item(obj: Any, *, context: str) -> ExchangeError:
    """The typed error for one failed item of a batch answer (its ``error`` value; no HTTP status of its own)."""
    body = error_body_from_obj(obj)
    what = f"{context}: {_describe(0, body)}"
    if body.code == DUPLICATE_ORDER_CODE:
        return DuplicateOrder(
            f"{what}. An order with this client_order_id already exists", status=0, code=body.code, details=body.details
        )
    if body.code in ("too_many_requests", "rate_limited") or body.message.lower() == "too many requests":
        return RateLimited(f"{what}. Rate limited; send it again later", status=0, code=body.code, details=body.details)
    if body.code in ("not_found", "order_not_found", "market_not_found"):
        return NotFoundError(f"{what}. Not found", status=0, code=body.code, details=body.details)
    if body.code in ("service_unavailable", "internal_server_error", "timeout"):
        return TemporaryError(
            f"{what}. Temporary problem; try again shortly", status=0, code=body.code, details=body.details
        )
    return OrderRejected(f"{what}. The exchange refused this item", status=0, code=body.code, details=body.details)
