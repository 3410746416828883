"""The in-process :class:`Simulator`: start/stop, the demo key, extra keys and accounts, and the control API's
argument checks."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
import requests
from sim_testkit import C, demo_api, new_market

from kalshikit.kalshi.auth import KalshiSigner, generate_rsa_key
from kalshikit.sim import SimError, Simulator
from tests.conftest import eventually, scaled


def test_start_stop_restart_and_context_manager(tmp_path: Path) -> None:
    s = Simulator(state_dir=tmp_path)
    with pytest.raises(RuntimeError, match="not running"):
        s.markets()
    s.start()
    port = s.port
    assert port != 0 and s.rest_url == f"http://127.0.0.1:{port}/trade-api/v2"
    assert s.ws_url == f"ws://127.0.0.1:{port}/trade-api/ws/v2"
    with pytest.raises(RuntimeError, match="already started"):
        s.start()
    s.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(s.rest_url + "/exchange/status", timeout=scaled(2))
    s.port = 0
    with s:
        assert requests.get(s.rest_url + "/exchange/status", timeout=scaled(5)).status_code == 200
    s.stop()  # idempotent


def test_demo_key_file_is_private_and_reused_from_a_state_dir(tmp_path: Path) -> None:
    a = Simulator(state_dir=tmp_path)
    assert a.private_key_path is not None and a.private_key_path.parent == tmp_path
    assert stat.S_IMODE(a.private_key_path.stat().st_mode) == 0o600
    b = Simulator(state_dir=tmp_path)
    assert (b.key_id, b.private_key_path) == (a.key_id, a.private_key_path)
    c = Simulator()
    assert c.key_id != a.key_id and c.private_key_path is not None and c.private_key_path.parent != tmp_path


def test_own_key_instead_of_the_demo_key() -> None:
    signer = KalshiSigner("mine-1", generate_rsa_key())
    with Simulator(key_id="mine-1", public_key_pem=signer.public_key_pem()) as s:
        assert s.private_key_path is None and s.key_id == "mine-1"
        with pytest.raises(RuntimeError):
            s.signer()
        url = s.rest_url + "/portfolio/balance"
        assert requests.get(url, headers=signer.headers("GET", url), timeout=scaled(5)).status_code == 200
    with pytest.raises(ValueError, match="together"):
        Simulator(key_id="x")


def test_registered_keys_act_on_their_account(sim: Simulator) -> None:
    signer = KalshiSigner("reg-" + sim.key_id[:6], generate_rsa_key())
    sim.register_key(signer.key_id, signer.public_key_pem(), account="registered")
    sim.set_balance(42, account="registered")
    url = sim.rest_url + "/portfolio/balance"
    assert requests.get(url, headers=signer.headers("GET", url), timeout=scaled(5)).json()["balance"] == 4_200
    assert sim.balance("registered") == 42_000_000
    with pytest.raises(ValueError):
        sim.set_balance()


def test_control_api_checks_its_arguments(sim: Simulator) -> None:
    t = new_market(sim)
    with pytest.raises(TypeError, match="int"):
        sim.set_quote(t, 0.45, 4_700)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside"):
        sim.set_quote(t, 4_500, 12_000)
    with pytest.raises(ValueError, match="outside"):
        sim.set_book(t, [(0, C)], [])
    with pytest.raises(SimError) as e:
        sim.close_market("KXNOPE-CTRL")
    assert e.value.status == 404
    with pytest.raises(SimError):
        sim.seed_position(t, 0, 5_000)
    with pytest.raises(ValueError):
        sim.add_market("KXBADGRID-1", price_level_structure="quarter_cent")


def test_control_api_reads(sim: Simulator) -> None:
    t = new_market(sim)
    assert t in sim.markets() and sim.market_status(t) == "active"
    book = sim.book(t)
    assert (book.yes_bid, book.yes_ask) == (4_500, 4_700)
    sim.seed_position(t, 3 * C, 4_000)
    pos = sim.position(t)
    assert pos is not None and pos.count == 3 * C
    assert sim.position("KXNEVER-TRADED") is None
    assert sim.tape_stats()["frames"] == 0
    assert sim.market(t).ticker == t


def test_scheduled_open_and_close(sim: Simulator) -> None:
    t = new_market(sim, open_ns=time.time_ns() + 300_000_000, close_in_s=0.8)
    assert sim.market_status(t) == "initialized"
    assert demo_api(sim).create(t).json()["error"]["code"] == "market_closed"
    eventually(lambda: sim.market_status(t) == "active", what="the market to open")
    eventually(lambda: sim.market_status(t) == "closed", what="the market to close")


def test_ws_connection_count(sim: Simulator) -> None:
    before = sim.ws_connections()
    with demo_api(sim).ws() as w:
        w.sync()
        assert sim.ws_connections() == before + 1
    eventually(lambda: sim.ws_connections() == before, what="the connection to go away")
