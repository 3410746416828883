"""The real REST client against a tiny scripted HTTP server on 127.0.0.1, for answers the simulator never gives:
the legacy order-book shape, the flat and non-JSON error bodies, a create reply without an order id, a repeated
cursor. (Everything else is tested against the simulator in ``test_rest.py``.)"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from kalshikit.errors import (
    CredentialsError,
    ExchangeError,
    NotFoundError,
    OrderOutcomeUnknown,
    OrderRejected,
    ProtocolError,
    TemporaryError,
)
from kalshikit.kalshi.auth import KalshiSigner, generate_rsa_key, message_to_sign, verify
from kalshikit.kalshi.rest import KalshiRest

PREFIX = "/trade-api/v2"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Script:
    """Canned answers per (method, path), served in order; the last one repeats."""

    answers: dict[tuple[str, str], list[tuple[int, bytes]]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, method: str, path: str, status: int, body: Any) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answers.setdefault((method, PREFIX + path), []).append((status, raw))

    def answer(self, method: str, path: str) -> tuple[int, bytes]:
        with self.lock:
            queue = self.answers.get((method, path))
            if not queue:
                return 404, b'{"error": {"code": "not_found", "message": "no script"}}'
            return queue.pop(0) if len(queue) > 1 else queue[0]


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with script.lock:
                script.seen.append(
                    Seen(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
                )
            status, raw = script.answer(self.command, parts.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture
def script() -> Iterator[tuple[Script, str]]:
    s = Script()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(s))
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), name="scripted-http", daemon=True)
    thread.start()
    try:
        yield s, f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def signer() -> KalshiSigner:
    return KalshiSigner("0f1e2d3c-aaaa-bbbb-cccc-000011112222", generate_rsa_key())


def _client(url: str, signer: KalshiSigner | None = None, **kw: Any) -> KalshiRest:
    kw.setdefault("backoff_base", 0.001)
    kw.setdefault("timeout", 5.0)
    return KalshiRest(url, signer, **kw)


def test_legacy_orderbook_shape(script: tuple[Script, str]) -> None:
    s, url = script
    s.add(
        "GET",
        "/markets/OLD-1/orderbook",
        200,
        {
            "orderbook": {
                "yes": [[1, 200], [42, 13]],
                "no": [[56, 17]],
                "yes_dollars": [["0.0100", 200], ["0.4200", 13]],
                "no_dollars": [["0.5600", 17]],
            }
        },
    )
    with _client(url) as rest:
        book = rest.orderbook("OLD-1", depth=5)
    assert book.ticker == "OLD-1" and book.yes == ((100, 20_000), (4200, 1300)) and book.no == ((5600, 1700),)
    assert book.recv_ns > 0
    assert s.seen[-1].query == {"depth": ["5"]}


def test_requests_are_signed_over_the_full_path_without_query(script: tuple[Script, str], signer: KalshiSigner) -> None:
    s, url = script
    s.add("GET", "/portfolio/balance", 200, {"balance": 1234, "portfolio_value": 0, "updated_ts": 1})
    s.add("GET", "/markets/M-1/orderbook", 200, {"orderbook_fp": {"yes_dollars": [], "no_dollars": []}})
    with _client(url, signer) as rest:
        assert rest.balance().balance == 12_340_000
        rest.orderbook("M-1", depth=3)
    for seen in s.seen:
        h = seen.headers
        assert h["KALSHI-ACCESS-KEY"] == signer.key_id
        msg = message_to_sign(h["KALSHI-ACCESS-TIMESTAMP"], seen.method, seen.path)
        assert seen.path.startswith(PREFIX)
        assert verify(signer._key.public_key(), msg, h["KALSHI-ACCESS-SIGNATURE"])
    assert "signer" not in repr(rest) and signer.key_id not in repr(rest)


def test_unsigned_public_reads_and_private_calls_need_a_signer(script: tuple[Script, str]) -> None:
    s, url = script
    s.add("GET", "/exchange/status", 200, {"exchange_active": True, "trading_active": False})
    with _client(url) as rest:
        st = rest.exchange_status()
        assert st.exchange_active and not st.trading_active
        assert "KALSHI-ACCESS-SIGNATURE" not in s.seen[-1].headers
        with pytest.raises(CredentialsError, match="KALSHI_API_KEY_ID"):
            rest.balance()
    assert len(s.seen) == 1  # nothing was sent for the private call


def test_flat_error_body_on_create(script: tuple[Script, str], signer: KalshiSigner) -> None:
    s, url = script
    s.add(
        "POST", "/portfolio/events/orders", 400, {"code": "invalid_price", "message": "price off grid", "details": "x"}
    )
    with _client(url, signer) as rest, pytest.raises(OrderRejected) as info:
        rest.create_order("T", "bid", 5050, 100, client_order_id="c-1")
    assert (info.value.status, info.value.code, info.value.details) == (400, "invalid_price", "x")
    assert len([x for x in s.seen if x.method == "POST"]) == 1  # a refusal is not retried


def test_non_json_5xx_is_retried_then_succeeds(script: tuple[Script, str]) -> None:
    s, url = script
    s.add("GET", "/exchange/status", 502, b"<html>Bad Gateway</html>")
    s.add("GET", "/exchange/status", 200, {"exchange_active": True, "trading_active": True})
    with _client(url) as rest:
        assert rest.exchange_status().trading_active
        m = rest.metrics()
    assert m["requests"] == 2 and m["retries"] == 1 and m["errors"] == {"TemporaryError": 1}


def test_non_json_5xx_exhausts_attempts(script: tuple[Script, str]) -> None:
    s, url = script
    s.add("GET", "/exchange/status", 503, b"upstream connect error")
    with _client(url, read_attempts=3) as rest, pytest.raises(TemporaryError) as info:
        rest.exchange_status()
    assert info.value.status == 503 and "upstream connect error" in str(info.value)
    assert len(s.seen) == 3


def test_create_reply_without_order_id_is_a_failure(script: tuple[Script, str], signer: KalshiSigner) -> None:
    s, url = script
    s.add("POST", "/portfolio/events/orders", 201, {"fill_count": "0.00", "remaining_count": "0.00", "ts_ms": 1})
    s.add("GET", "/portfolio/orders", 200, {"orders": [], "cursor": ""})
    with _client(url, signer) as rest, pytest.raises(OrderRejected) as info:
        rest.create_order("T", "ask", 100, 500, time_in_force="immediate_or_cancel", client_order_id="c-2")
    assert info.value.code == "missing_order_id"
    lookup = [x for x in s.seen if x.method == "GET"]
    assert lookup and lookup[0].query["ticker"] == ["T"]


def test_create_reply_without_order_id_but_order_exists_is_recovered(
    script: tuple[Script, str], signer: KalshiSigner
) -> None:
    s, url = script
    s.add("POST", "/portfolio/events/orders", 201, {"ts_ms": 1})
    order = {
        "order_id": "o-7",
        "client_order_id": "c-3",
        "ticker": "T",
        "status": "executed",
        "book_side": "ask",
        "yes_price_dollars": "0.0100",
        "fill_count_fp": "5.00",
        "remaining_count_fp": "0.00",
        "initial_count_fp": "5.00",
    }
    other = dict(order, order_id="o-6", client_order_id="someone-else")
    s.add("GET", "/portfolio/orders", 200, {"orders": [other], "cursor": "p2"})
    s.add("GET", "/portfolio/orders", 200, {"orders": [order], "cursor": ""})
    with _client(url, signer) as rest:
        r = rest.create_order("T", "ask", 100, 500, time_in_force="immediate_or_cancel", client_order_id="c-3")
    assert (r.order_id, r.recovered, r.fill_count, r.status) == ("o-7", True, 500, "executed")
    pages = [x.query.get("cursor") for x in s.seen if x.method == "GET"]
    assert pages == [None, ["p2"]]


def test_repeated_cursor_stops_pagination(script: tuple[Script, str]) -> None:
    s, url = script
    s.add("GET", "/markets", 200, {"markets": [{"ticker": "A"}], "cursor": "same"})
    with _client(url) as rest, pytest.raises(ProtocolError, match="same cursor"):
        rest.markets()
    assert len(s.seen) == 2


def test_2xx_with_garbage_is_a_protocol_error(script: tuple[Script, str]) -> None:
    s, url = script
    s.add("GET", "/markets/X", 200, b"<html>maintenance</html>")
    with _client(url) as rest, pytest.raises(ProtocolError, match="maintenance"):
        rest.market("X")


def test_unknown_4xx_on_a_read(script: tuple[Script, str]) -> None:
    s, url = script
    s.add("GET", "/markets", 400, {"error": {"code": "bad_request", "message": "bad request", "details": "limit"}})
    with _client(url) as rest, pytest.raises(ExchangeError) as info:
        rest.markets(page_size=5000)
    assert type(info.value) is ExchangeError and info.value.code == "bad_request"
    assert len(s.seen) == 1


def test_cancel_retry_finding_nothing_checks_the_order(script: tuple[Script, str], signer: KalshiSigner) -> None:
    """A cancel answered 503 (it may have been applied), whose retry is answered 404: the client fetches the order
    and, since it is no longer resting, reports the cancel as done."""
    s, url = script
    s.add("DELETE", "/portfolio/events/orders/o-1", 503, {"error": {"code": "service_unavailable", "message": "x"}})
    s.add("DELETE", "/portfolio/events/orders/o-1", 404, {"error": {"code": "not_found", "message": "not resting"}})
    order = {
        "order_id": "o-1",
        "client_order_id": "c-1",
        "ticker": "T",
        "status": "canceled",
        "book_side": "bid",
        "yes_price_dollars": "0.4000",
        "fill_count_fp": "1.00",
        "remaining_count_fp": "0.00",
        "initial_count_fp": "4.00",
        "last_update_time": "2026-08-07T06:46:28.97871Z",
    }
    s.add("GET", "/portfolio/orders/o-1", 200, {"order": order})
    with _client(url, signer) as rest:
        c = rest.cancel_order("o-1")
    assert (c.order_id, c.client_order_id, c.reduced_by) == ("o-1", "c-1", 300)
    assert [x.method for x in s.seen] == ["DELETE", "DELETE", "GET"]


def test_cancel_404_on_a_first_attempt_is_not_found(script: tuple[Script, str], signer: KalshiSigner) -> None:
    s, url = script
    s.add("DELETE", "/portfolio/events/orders/o-2", 404, {"error": {"code": "not_found", "message": "no"}})
    with _client(url, signer) as rest, pytest.raises(NotFoundError):
        rest.cancel_order("o-2")
    assert len(s.seen) == 1


def test_unreadable_create_reply_is_resolved_by_lookup(script: tuple[Script, str], signer: KalshiSigner) -> None:
    s, url = script
    s.add("POST", "/portfolio/events/orders", 201, b'{"order_id": "o-5", "fill_count": 12}')
    s.add("GET", "/portfolio/orders", 200, {"orders": [], "cursor": ""})
    with _client(url, signer) as rest, pytest.raises(OrderOutcomeUnknown) as info:
        rest.create_order("T", "bid", 4_000, 100, client_order_id="c-5")
    assert info.value.client_order_id == "c-5" and info.value.code == "unreadable_reply"
