"""Signed requests: the simulator verifies KALSHI-ACCESS-* over timestamp + METHOD + path (no query), within the
allowed clock skew, for REST and for the WebSocket handshake (401 before the upgrade)."""

from __future__ import annotations

import time

import pytest
import requests
import websocket
from sim_testkit import account_api, demo_api, new_market

from kalshikit.kalshi.auth import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    KalshiSigner,
    generate_rsa_key,
    load_private_key_file,
    sign,
)
from kalshikit.sim import Simulator
from kalshikit.sim.keys import KeyRegistry
from tests.conftest import scaled


def _err(r: requests.Response) -> str:
    assert r.status_code == 401, r.text
    body = r.json()["error"]
    assert body["code"] == "unauthorized"
    return str(body["message"])


def test_rsa_demo_key_and_ed25519_keys_both_work(sim: Simulator) -> None:
    assert demo_api(sim).get("/portfolio/balance").status_code == 200
    assert account_api(sim).get("/portfolio/balance").status_code == 200


@pytest.mark.parametrize("drop", [HEADER_KEY, HEADER_TIMESTAMP, HEADER_SIGNATURE])
def test_missing_header_is_401_naming_it(sim: Simulator, drop: str) -> None:
    api = demo_api(sim)
    headers = api.signer.headers("GET", api.url("/portfolio/balance"))
    del headers[drop]
    r = requests.get(api.url("/portfolio/balance"), headers=headers, timeout=scaled(10))
    assert drop in _err(r)


def test_no_headers_on_a_private_endpoint_is_401(sim: Simulator) -> None:
    assert "missing header" in _err(demo_api(sim).get("/portfolio/positions", signed=False))


def test_bad_signature_is_401_and_does_not_show_the_key_id(sim: Simulator) -> None:
    impostor = KalshiSigner(sim.key_id, generate_rsa_key())
    r = requests.get(
        sim.rest_url + "/portfolio/balance", headers=impostor.headers("GET", "/trade-api/v2/portfolio/balance")
    )
    msg = _err(r)
    assert "does not verify" in msg and sim.key_id not in msg and sim.key_id[:8] in msg


def test_signature_over_the_wrong_path_is_401(sim: Simulator) -> None:
    s = sim.signer()
    r = requests.get(sim.rest_url + "/portfolio/balance", headers=s.headers("GET", "/portfolio/balance"))
    assert "/trade-api/v2/portfolio/balance" in _err(r)
    r = requests.get(sim.rest_url + "/portfolio/balance", headers=s.headers("POST", "/trade-api/v2/portfolio/balance"))
    _err(r)


def test_query_string_is_not_part_of_the_signed_path(sim: Simulator) -> None:
    key = load_private_key_file(sim.private_key_path)  # type: ignore[arg-type]
    url = sim.rest_url + "/portfolio/orders?limit=5&status=resting"

    def headers(signed_path: str) -> dict[str, str]:
        ts = str(time.time_ns() // 1_000_000)
        return {
            HEADER_KEY: sim.key_id,
            HEADER_TIMESTAMP: ts,
            HEADER_SIGNATURE: sign(key, f"{ts}GET{signed_path}".encode()),
        }

    assert requests.get(url, headers=headers("/trade-api/v2/portfolio/orders"), timeout=scaled(10)).status_code == 200
    resting = "/trade-api/v2/portfolio/orders?limit=5&status=resting"
    _err(requests.get(url, headers=headers(resting), timeout=scaled(10)))


@pytest.mark.parametrize(("offset_s", "ok"), [(-120, False), (120, False), (-30, True), (45, True)])
def test_timestamp_must_be_within_the_skew(sim: Simulator, offset_s: int, ok: bool) -> None:
    key = load_private_key_file(sim.private_key_path)  # type: ignore[arg-type]
    signer = KalshiSigner(sim.key_id, key, clock_ms=lambda: time.time_ns() // 1_000_000 + offset_s * 1000)
    r = requests.get(
        sim.rest_url + "/portfolio/balance", headers=signer.headers("GET", sim.rest_url + "/portfolio/balance")
    )
    if ok:
        assert r.status_code == 200
    else:
        assert "from the server clock" in _err(r)


def test_timestamp_in_seconds_or_garbage_is_401(sim: Simulator) -> None:
    s = sim.signer()
    for ts in (str(int(time.time())), "soon"):
        h = s.headers("GET", "/trade-api/v2/portfolio/balance", timestamp_ms=0)
        h[HEADER_TIMESTAMP] = ts
        _err(requests.get(sim.rest_url + "/portfolio/balance", headers=h, timeout=scaled(10)))


def test_unknown_key_id_is_401(sim: Simulator) -> None:
    stranger = KalshiSigner("00000000-dead-beef-0000-000000000000", generate_rsa_key())
    r = requests.get(
        sim.rest_url + "/portfolio/balance", headers=stranger.headers("GET", sim.rest_url + "/portfolio/balance")
    )
    assert "unknown API key" in _err(r)


def test_public_endpoints_need_no_auth_but_bad_auth_is_still_refused(sim: Simulator) -> None:
    t = new_market(sim)
    assert requests.get(f"{sim.rest_url}/markets/{t}", timeout=scaled(10)).status_code == 200
    impostor = KalshiSigner(sim.key_id, generate_rsa_key())
    r = requests.get(f"{sim.rest_url}/markets/{t}", headers=impostor.headers("GET", f"/trade-api/v2/markets/{t}"))
    _err(r)


def test_order_writes_need_auth(sim: Simulator) -> None:
    t = new_market(sim)
    r = requests.post(sim.rest_url + "/portfolio/events/orders", json={"ticker": t}, timeout=scaled(10))
    _err(r)


def _ws_status(sim: Simulator, headers: dict[str, str]) -> int:
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(sim.ws_url, header=headers, timeout=scaled(5))
    return int(info.value.status_code)


def test_ws_handshake_checks_the_signature_before_upgrading(sim: Simulator) -> None:
    assert _ws_status(sim, {}) == 401
    impostor = KalshiSigner(sim.key_id, generate_rsa_key())
    assert _ws_status(sim, impostor.headers("GET", sim.ws_url)) == 401
    # signed for the REST path instead of /trade-api/ws/v2
    assert _ws_status(sim, sim.signer().headers("GET", "/trade-api/v2")) == 401
    ok = websocket.create_connection(sim.ws_url, header=sim.signer().headers("GET", sim.ws_url), timeout=scaled(5))
    ok.close()


def test_ws_anonymous_mode_allows_public_channels_only() -> None:
    with Simulator(allow_anonymous_ws=True) as s:
        ws = websocket.create_connection(s.ws_url, timeout=scaled(5))
        try:
            ws.send('{"id": 1, "cmd": "subscribe", "params": {"channels": ["ticker"]}}')
            assert '"subscribed"' in ws.recv()
            ws.send('{"id": 2, "cmd": "subscribe", "params": {"channels": ["fill"]}}')
            assert '"code":9' in ws.recv()
        finally:
            ws.close()
        # bad headers are still refused
        impostor = KalshiSigner(s.key_id, generate_rsa_key())
        assert _ws_status(s, impostor.headers("GET", s.ws_url)) == 401


def test_registry_rejects_empty_key_ids_and_removes_keys() -> None:
    reg = KeyRegistry()
    signer = KalshiSigner("k1", generate_rsa_key())
    with pytest.raises(ValueError):
        reg.add("", signer.public_key_pem())
    reg.add("k1", signer.public_key_pem(), "acct")
    h = signer.headers("GET", "/trade-api/v2/x")
    assert reg.verify_headers("GET", "/trade-api/v2/x", h).account == "acct"
    reg.remove("k1")
    with pytest.raises(Exception, match="unknown API key"):
        reg.verify_headers("GET", "/trade-api/v2/x", h)
