"""Every row of the README's configuration table takes effect where the README says it does.

The rows are read from README.md itself: one test per row, and a row without a check here fails. Each check sets the
row's variables (as environment variables, the way a user does) on a kit or client talking to the simulator over
127.0.0.1 and observes what they change; the interval checks ask for more cycles within the wait than the default
interval could give.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kalshikit.config import KALSHI_HOSTS, Settings
from kalshikit.errors import AuthError, KalshiKitError, NotFoundError
from kalshikit.kalshi.rest import KalshiRest
from kalshikit.live.kit import Kit
from kalshikit.sim import Simulator
from kalshikit.sim.keys import create_demo_key
from tests.conftest import ROOT, eventually

T = "KXSET-26DEC31-T50"
Check = Callable[["Env"], None]


def readme_rows() -> list[tuple[str, ...]]:
    """The variables of each row of the README's configuration table."""
    text = (ROOT / "README.md").read_text()
    table = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in table.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            rows.append(tuple(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell)))
    return rows


class Env:
    """What a check needs: the simulator, a temporary folder, the log, and kits that are stopped afterwards."""

    def __init__(self, exchange: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        self.sim = exchange
        self.tmp = tmp_path
        self.caplog = caplog
        self.kits: list[Kit] = []

    def settings(self, **variables: str) -> Settings:
        """Settings from environment variables: the simulator's hosts and key, plus ``variables``."""
        environ = {**self.sim.kit_env(), "KALSHIKIT_DATA_DIR": str(self.tmp / "data"), **variables}
        return Settings.from_env(environ=environ, env_file=None)

    def kit(self, journal: bool = True, **variables: str) -> Kit:
        kit = Kit(self.settings(**variables), journal_path=self.tmp / "journal.sqlite" if journal else None)
        self.kits.append(kit)
        return kit.start()

    def hold(self, kit: Kit, ticker: str = T) -> None:
        """A position of 10 YES at 0.50 in ``ticker`` (bid 0.50 / ask 0.51), adopted and subscribed."""
        if ticker not in self.sim.markets():
            self.sim.add_market(ticker, yes_bid=5000, yes_ask=5100, yes_bid_size=50_000, yes_ask_size=50_000)
        self.sim.seed_position(ticker, 1000, 5000)
        kit.reconcile_now(wait=True)
        assert ticker in set(kit.positions()["ticker"])
        if kit.ws is not None:
            eventually(lambda: ticker in kit.ws.metrics.subscriptions.get("ticker", []), what="ticker subscription")

    def logged(self, pattern: str) -> list[re.Match[str]]:
        return [m for r in self.caplog.records if (m := re.search(pattern, r.getMessage()))]


@pytest.fixture
def env(exchange: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Env]:
    caplog.set_level(logging.INFO)
    e = Env(exchange, tmp_path, caplog)
    yield e
    for kit in e.kits:
        kit.stop()
    exchange.faults.clear()
    exchange.faults.latency_ms = 0


# ---------------------------------------------------------------------------- the checks, one per README row
# The interval checks wait at most 8 s (times KALSHIKIT_TEST_TIMEOUT_FACTOR) for more cycles than the default
# interval gives in 16 s, and check the thread was given the interval.
def strategy_loop_interval(e: Env) -> None:
    kit = e.kit(STRATEGY_LOOP_INTERVAL="0.05")
    assert kit.strategy_thread is not None and kit.strategy_thread.strategy_ns == 50_000_000
    eventually(lambda: kit.strategy_thread.cycles >= 5, 8, what="5 strategy cycles (every 30 s by default)")


def stop_loss_check_interval(e: Env) -> None:
    kit = e.kit(STOP_LOSS_CHECK_INTERVAL="0.05")
    assert kit.monitor_thread is not None and kit.monitor_thread.sweep_ns == 50_000_000
    eventually(lambda: kit.monitor_thread.sweeps >= 12, 8, what="12 monitor sweeps (every 2 s by default)")


def ui_update_interval(e: Env) -> None:
    kit = e.kit(UI_UPDATE_INTERVAL="0.05")
    assert kit.ui_thread is not None and kit.ui_thread.interval == 0.05
    eventually(lambda: kit.ui_thread.updates >= 20, 8, what="20 UI updates (every 1 s by default)")


def reconcile_interval(e: Env) -> None:
    kit = e.kit(RECONCILE_INTERVAL="0.1")
    assert kit.strategy_thread is not None and kit.strategy_thread.reconcile_ns == 100_000_000
    e.sim.add_market(T, yes_bid=5000, yes_ask=5100)
    e.sim.seed_position(T, 1000, 5000)  # bought "on the website": adopted by the next reconciliation by itself
    eventually(lambda: T in set(kit.positions()["ticker"]), 8, what="adoption without reconcile_now()")
    eventually(lambda: kit.strategy_thread.reconciles >= 5, 8, what="5 reconciliations (every 10 s by default)")


def websocket_enabled(e: Env) -> None:
    kit = e.kit(WEBSOCKET_ENABLED="false")
    assert kit.ws is None and kit.status()["connection"]["state"] == "disabled"
    e.hold(kit)
    e.sim.set_quote(T, 5200, 5300, 50_000, 50_000)
    prices = lambda: kit.prices().set_index("ticker")  # noqa: E731
    eventually(lambda: T in prices().index and prices().loc[T, "yes_bid"] == 0.52, what="the new price over REST")
    assert prices().loc[T, "source"] == "rest"


def websocket_reconnect_delays(e: Env) -> None:
    kit = e.kit(WEBSOCKET_RECONNECT_DELAY="0.3", WEBSOCKET_MAX_RECONNECT_DELAY="0.4")
    assert kit.ws is not None
    pattern = r"reconnecting to Kalshi WebSocket in ([0-9.]+) s"
    for n in (1, 2):
        eventually(lambda: kit.ws.metrics.state == "connected", what="connected")
        e.sim.faults.drop_connections()
        eventually(lambda n=n: len(e.logged(pattern)) >= n, what=f"reconnect #{n}")  # type: ignore[misc]
    delays = [float(m.group(1)) for m in e.logged(pattern)]
    assert 0.3 <= delays[0] <= 0.4 and delays[1] <= 0.4, delays  # the start delay, then capped by the maximum


def websocket_price_cache_stale_secs(e: Env) -> None:
    kit = e.kit(WEBSOCKET_PRICE_CACHE_STALE_SECS="0.5")
    e.hold(kit)  # no rules: its price is stale by the setting too, not by a rule's limit
    e.sim.set_quote(T, 5200, 5300, 50_000, 50_000)
    prices = lambda: kit.prices().set_index("ticker")  # noqa: E731
    eventually(lambda: prices().loc[T, "yes_bid"] == 0.52 and prices().loc[T, "source"] == "ws", what="a ws price")
    eventually(lambda: bool(prices().loc[T, "stale"]), what="the price stale in kit.prices()")
    eventually(lambda: bool(kit.positions().iloc[0]["stale"]), what="stale in kit.positions()")
    assert kit.monitor_thread is not None
    eventually(lambda: any(v.stale for v in kit.monitor_thread.snapshot), what="stale for the monitor too")
    eventually(lambda: prices().loc[T, "source"] == "rest", what="read again over REST (the fallback)")


def websocket_silence_secs(e: Env) -> None:
    kit = e.kit(WEBSOCKET_SILENCE_SECS="0.8")
    assert kit.ws is not None
    eventually(lambda: kit.ws.metrics.state == "connected", what="connected")
    e.sim.faults.freeze()  # the connection stays open, but nothing comes, not even pings
    eventually(lambda: e.logged(r"no frames or pings for 0\.8 s"), what="the silent connection given up")
    eventually(lambda: kit.ws.metrics.reconnects >= 1 and kit.ws.metrics.state == "connected", what="reconnected")


def verbose(e: Env) -> None:
    kit = e.kit(VERBOSE="true")
    e.hold(kit)
    e.sim.set_quote(T, 5200, 5300, 50_000, 50_000)
    eventually(lambda: e.logged(rf"price {T} bid 0\.5200 ask 0\.5300"), what="the price update logged")


def kalshi_env(e: Env) -> None:
    sim_settings = Settings.from_env(environ={"KALSHI_ENV": "sim", "KALSHIKIT_DATA_DIR": str(e.tmp)}, env_file=None)
    kit = Kit(sim_settings)
    e.kits.append(kit)
    kit.start()  # sim without hosts: the kit starts its own simulator and trades it
    assert kit.sim is not None and kit.settings.rest_url == kit.sim.rest_url and kit.status()["env"] == "sim"
    key = {k: v for k, v in e.sim.kit_env().items() if k.startswith("KALSHI_") and "KEY" in k}
    assert Settings.from_env(environ=key, env_file=None).env == "demo"  # with a key: demo, never prod by default
    for name in ("demo", "prod"):
        s = Settings.from_env(environ={**key, "KALSHI_ENV": name}, env_file=None)
        with KalshiRest.from_settings(s) as rest:  # the exchange the kit's client talks to
            assert rest.base_url == KALSHI_HOSTS[name]["current"][0]
        assert s.ws_url == KALSHI_HOSTS[name]["current"][1]


def kalshi_urls(e: Env) -> None:
    kit = e.kit()  # KALSHI_REST_URL / KALSHI_WS_URL point at the test's simulator
    assert kit.sim is None  # no simulator of its own
    eventually(lambda: e.logged(rf"Connected to Kalshi WebSocket \(sim, {re.escape(e.sim.ws_url)}\)"), what="ws")
    e.hold(kit)  # positions read from that simulator over REST


def legacy_hosts(e: Env) -> None:
    key = {k: v for k, v in e.sim.kit_env().items() if k.startswith("KALSHI_") and "KEY" in k}
    for name in ("demo", "prod"):
        s = Settings.from_env(environ={**key, "KALSHI_ENV": name, "KALSHI_USE_LEGACY_HOSTS": "true"}, env_file=None)
        with KalshiRest.from_settings(s) as rest:
            assert rest.base_url == KALSHI_HOSTS[name]["legacy"][0]
        assert s.ws_url == KALSHI_HOSTS[name]["legacy"][1]


def credentials(e: Env) -> None:
    env = e.sim.kit_env()
    with KalshiRest.from_settings(e.settings()) as rest:  # KALSHI_API_KEY_ID + KALSHI_PRIVATE_KEY_PATH
        assert rest.balance().balance >= 0  # signed requests the exchange verified
    pem = Path(env["KALSHI_PRIVATE_KEY_PATH"]).read_text()
    with KalshiRest.from_settings(e.settings(KALSHI_PRIVATE_KEY_PATH="", KALSHI_PRIVATE_KEY=pem)) as rest:
        assert rest.balance().balance >= 0
    stranger = create_demo_key(e.tmp / "keys", "ed25519")  # a key the exchange does not know for this id
    settings = e.settings(KALSHI_PRIVATE_KEY_PATH=str(stranger.private_key_path))
    with KalshiRest.from_settings(settings) as rest, pytest.raises(AuthError):
        rest.balance()


def stale_price_policy(e: Env) -> None:
    kit = e.kit(STALE_PRICE_POLICY="hold", WEBSOCKET_PRICE_CACHE_STALE_SECS="0.3", STOP_LOSS_CHECK_INTERVAL="60")
    e.hold(kit)
    e.sim.set_quote(T, 4900, 5100, 50_000, 50_000)  # the last price the kit will get: nothing fresh comes after it
    prices = lambda: kit.prices().set_index("ticker")  # noqa: E731
    eventually(lambda: prices().loc[T, "yes_bid"] == 0.49 and prices().loc[T, "source"] == "ws", what="ws price")
    eventually(lambda: bool(prices().loc[T, "stale"]), what="a stale price")
    kit.protect(T, stop_price=0.55, allow_immediate=True)  # crossed, on a stale price: "hold" does nothing
    kit.sync()
    decisions = kit.decisions()
    assert "held_stale" in set(decisions["kind"]), decisions.to_string()
    exits = [o.body for o in e.sim.order_log() if o.client_order_id.startswith("kk-")]
    assert not exits, (exits, decisions.to_string())  # "confirm" reads the price again, "fire" exits


def exit_attempts_and_slippage(e: Env) -> None:
    kit = e.kit(EXIT_MAX_ATTEMPTS="2", EXIT_MAX_SLIPPAGE="0.01")
    e.hold(kit)
    kit.protect(T, stop=0.05)

    def exits() -> list[Any]:
        return [o for o in e.sim.order_log() if o.client_order_id.startswith("kk-")]

    def futile() -> int:
        return int((kit.decisions()["kind"] == "exit_partial").sum())

    for n, bid in enumerate((4400, 4300), start=1):  # through the stop, but nobody bids: nothing fills
        e.sim.set_quote(T, bid, 4500, 0, 50_000)  # each new quote with a bid lets the monitor try again
        eventually(lambda n=n: futile() >= n, what=f"exit attempt {n} filled nothing")  # type: ignore[misc]
    e.sim.set_quote(T, 4200, 4500, 0, 50_000)
    eventually(lambda: kit.positions().iloc[0]["state"] == "failed", what="FAILED after 2 attempts")
    assert [o.body["price"] for o in exits()] == ["0.4300", "0.4200"]  # 1 cent under each trigger price, 2 tries


def rest_client_limits(e: Env) -> None:
    with KalshiRest.from_settings(e.settings(KALSHI_HTTP_TIMEOUT="0.3")) as rest:
        e.sim.faults.latency_ms = 1500
        with pytest.raises(KalshiKitError):
            rest.exchange_status()
        assert rest.metrics()["errors"].get("Timeout", 0) >= 1
        e.sim.faults.latency_ms = 0
    with KalshiRest.from_settings(e.settings(KALSHI_READS_PER_SECOND="2", KALSHI_WRITES_PER_SECOND="2")) as rest:
        for _ in range(6):
            rest.exchange_status()
        for _ in range(5):
            with pytest.raises(NotFoundError):
                rest.cancel_order("no-such-order")
        m = rest.metrics()
        assert m["read_bucket"]["rate"] == 2 and m["read_bucket"]["waits"] >= 3  # 20/s would not have waited
        assert m["write_bucket"]["rate"] == 2 and m["write_bucket"]["waits"] >= 2


def data_dir(e: Env) -> None:
    kit = e.kit(journal=False, KALSHIKIT_DATA_DIR=str(e.tmp / "mine"))
    assert (e.tmp / "mine" / "sim" / "journal.sqlite").is_file()
    kit.stop()
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    assert (e.tmp / "mine" / "sim" / "reports" / f"kalshikit-{day}.json").is_file()


def odds_api(e: Env) -> None:
    from kalshikit.sim.odds_stub import OddsApiStub, rest_provider
    from kalshikit.strategy.odds import OddsClient

    with KalshiRest(e.sim.rest_url) as rest, OddsApiStub(rest_provider(rest), api_key="right-key") as stub:
        client = OddsClient.from_settings(e.settings(ODDS_API_KEY="right-key", ODDS_API_URL=stub.base_url))
        assert client.sports() and [r[0] for r in stub.requests][-1].endswith("/sports")
        wrong = OddsClient.from_settings(e.settings(ODDS_API_KEY="wrong-key", ODDS_API_URL=stub.base_url))
        with pytest.raises(KalshiKitError):
            wrong.sports()


def log_level(e: Env) -> None:
    kalshikit_log = logging.getLogger("kalshikit")
    before = kalshikit_log.level
    kit = e.kit(LOG_LEVEL="WARNING")
    assert kalshikit_log.level == logging.WARNING
    assert not e.logged("kalshikit starting")  # INFO: not logged while the kit runs at WARNING
    kit.stop()
    assert kalshikit_log.level == before
    e.kit(LOG_LEVEL="INFO")
    assert e.logged("kalshikit starting")


CHECKS: dict[tuple[str, ...], Check] = {
    ("STRATEGY_LOOP_INTERVAL",): strategy_loop_interval,
    ("STOP_LOSS_CHECK_INTERVAL",): stop_loss_check_interval,
    ("UI_UPDATE_INTERVAL",): ui_update_interval,
    ("RECONCILE_INTERVAL",): reconcile_interval,
    ("WEBSOCKET_ENABLED",): websocket_enabled,
    ("WEBSOCKET_RECONNECT_DELAY", "WEBSOCKET_MAX_RECONNECT_DELAY"): websocket_reconnect_delays,
    ("WEBSOCKET_PRICE_CACHE_STALE_SECS",): websocket_price_cache_stale_secs,
    ("WEBSOCKET_SILENCE_SECS",): websocket_silence_secs,
    ("VERBOSE",): verbose,
    ("KALSHI_ENV",): kalshi_env,
    ("KALSHI_REST_URL", "KALSHI_WS_URL"): kalshi_urls,
    ("KALSHI_USE_LEGACY_HOSTS",): legacy_hosts,
    ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY_PATH", "KALSHI_PRIVATE_KEY"): credentials,
    ("STALE_PRICE_POLICY",): stale_price_policy,
    ("EXIT_MAX_ATTEMPTS", "EXIT_MAX_SLIPPAGE"): exit_attempts_and_slippage,
    ("KALSHI_HTTP_TIMEOUT", "KALSHI_READS_PER_SECOND", "KALSHI_WRITES_PER_SECOND"): rest_client_limits,
    ("KALSHIKIT_DATA_DIR",): data_dir,
    ("ODDS_API_KEY", "ODDS_API_URL"): odds_api,
    ("LOG_LEVEL",): log_level,
}


def test_the_table_documents_every_setting_once() -> None:
    from kalshikit.config import ENV_VARS

    documented = [v for row in readme_rows() for v in row]
    assert sorted(documented) == sorted(ENV_VARS.values())


@pytest.mark.parametrize("row", readme_rows(), ids=lambda row: "/".join(row))
def test_each_setting_takes_effect(row: tuple[str, ...], env: Env) -> None:
    check: Any = CHECKS.get(row)
    assert check is not None, f"README row {row} has no test that its setting takes effect"
    check(env)
