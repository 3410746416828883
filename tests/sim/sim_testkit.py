"""Test helpers for the simulator: a signed REST client on ``requests``, a WebSocket client on ``websocket-client``,
fresh accounts and markets. Plain functions and classes (tests/conftest.py holds the shared ``sim`` fixture)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import requests
import websocket

from kalshikit.kalshi.auth import KalshiSigner, load_private_key_file
from kalshikit.sim import Simulator
from tests.conftest import scaled

C = 100  # one contract, in count units
D = 1_000_000  # one dollar, in money units
ORDERS = "/portfolio/events/orders"


class Api:
    """Signed REST calls to the simulator as one account."""

    def __init__(self, sim: Simulator, signer: KalshiSigner, account: str) -> None:
        self.sim = sim
        self.signer = signer
        self.account = account
        self.http = requests.Session()

    def url(self, path: str) -> str:
        return self.sim.rest_url + path

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        signed: bool = True,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> requests.Response:
        h = dict(self.signer.headers(method, self.url(path))) if signed else {}
        h.update(headers or {})
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        if data is not None:
            h["Content-Type"] = "application/json"
        limit = scaled(10.0) if timeout is None else timeout  # an explicit timeout is meant to expire
        return self.http.request(method, self.url(path), params=params, data=data, headers=h, timeout=limit)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("POST", path, body=body, **kw)

    def delete(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, body=body, **kw)

    def create(
        self,
        ticker: str,
        side: str = "bid",
        price: str = "0.50",
        count: str = "1",
        tif: str = "immediate_or_cancel",
        *,
        timeout: float | None = None,
        **extra: Any,
    ) -> requests.Response:
        body = {
            "ticker": ticker,
            "side": side,
            "price": price,
            "count": count,
            "time_in_force": tif,
            "self_trade_prevention_type": "taker_at_cross",
            **extra,
        }
        return self.post(ORDERS, body, timeout=timeout)

    def ws(self, signed: bool = True, **kw: Any) -> Ws:
        headers = self.signer.headers("GET", self.sim.ws_url) if signed else {}
        return Ws(self.sim.ws_url, headers, **kw)


def account_api(sim: Simulator, name: str | None = None) -> Api:
    """A new account with its own (Ed25519, fast to make) key and the default balance."""
    account = name or "acct-" + uuid.uuid4().hex[:10]
    key = sim.create_key(account=account, algorithm="ed25519")
    return Api(sim, KalshiSigner(key.key_id, load_private_key_file(key.private_key_path)), account)


def demo_api(sim: Simulator) -> Api:
    """The simulator's own demo key (RSA-PSS), acting on the default account."""
    return Api(sim, sim.signer(), "default")


def new_market(
    sim: Simulator,
    bid: int | None = 4_500,
    ask: int | None = 4_700,
    bid_size: int = 10 * C,
    ask_size: int = 20 * C,
    *,
    event: str | None = None,
    **kw: Any,
) -> str:
    """A fresh market with a unique ticker and a quote (YES 0.45 x 10 / 0.47 x 20 by default)."""
    tag = uuid.uuid4().hex[:8].upper()
    ticker = f"KXT{tag}-26DEC31-T50"
    sim.add_market(
        ticker,
        event_ticker=event,
        yes_bid=bid,
        yes_ask=ask,
        yes_bid_size=bid_size,
        yes_ask_size=ask_size,
        **kw,
    )
    return ticker


class Ws:
    """A WebSocket client that keeps frames it was not asked about yet."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float = 5.0) -> None:
        self.sock = websocket.create_connection(url, header=headers, timeout=scaled(timeout))
        self.buffer: list[Any] = []
        self.raw: list[str] = []
        self._next_id = 1000

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Ws:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, obj: Any) -> None:
        self.sock.send(obj if isinstance(obj, str) else json.dumps(obj))

    def cmd(self, cmd: str, params: Any = None, cid: int | None = None) -> int:
        if cid is None:
            self._next_id += 1
            cid = self._next_id
        obj: dict[str, Any] = {"id": cid, "cmd": cmd}
        if params is not None:
            obj["params"] = params
        self.send(obj)
        return cid

    def _read(self, timeout: float) -> Any:
        self.sock.settimeout(timeout)
        data = self.sock.recv()
        text = data.decode() if isinstance(data, bytes) else data
        self.raw.append(text)
        try:
            return json.loads(text)
        except ValueError:
            return text

    def expect(self, pred: Any, timeout: float = 5.0, what: str = "") -> Any:
        """The first frame (buffered or new) for which ``pred(frame)`` is true; others stay buffered. ``timeout``
        bounds a failure (scaled like every test timeout)."""
        for i, f in enumerate(self.buffer):
            if pred(f):
                return self.buffer.pop(i)
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no frame matching {what or pred} within {timeout}s; got {self.buffer[-5:]}")
            try:
                f = self._read(left)
            except websocket.WebSocketTimeoutException:
                continue
            if pred(f):
                return f
            self.buffer.append(f)

    def expect_type(self, type_: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        def match(f: Any) -> bool:
            if not isinstance(f, dict) or f.get("type") != type_:
                return False
            raw_msg = f.get("msg")
            msg: dict[str, Any] = raw_msg if isinstance(raw_msg, dict) else {}
            return all(f.get(k) == v or msg.get(k) == v for k, v in fields.items())

        result: dict[str, Any] = self.expect(match, timeout, f"type={type_} {fields}")
        return result

    def sync(self, timeout: float = 5.0) -> list[Any]:
        """Everything the server sent before it answered a ``list_subscriptions`` sent now (buffer included)."""
        cid = self.cmd("list_subscriptions")
        self.expect(lambda f: isinstance(f, dict) and f.get("id") == cid and f.get("type") == "ok", timeout)
        out, self.buffer = self.buffer, []
        return out

    def subscribe(self, channels: list[str], tickers: list[str] | None = None, **params: Any) -> list[int]:
        """Subscribe and return the new sids (one per channel), in channel order."""
        p: dict[str, Any] = {"channels": channels, **params}
        if tickers is not None:
            p["market_tickers"] = tickers
        cid = self.cmd("subscribe", p)
        sids = []
        for ch in channels:
            f = self.expect_type("subscribed", channel=ch, id=cid)
            sids.append(f["msg"]["sid"])
        return sids
