"""Fee schedules per series in replays: from the recording's ``series.json``, or given by the user, pricing entry and
exit fills in ``replay``, ``sweep`` and ``replay_strategy`` (where the strategy and the risk limits see them in
``ctx.fees``), and stated in the result. A hand-made tape: entry at the 0.52 ask, a 5-cent stop exits at the 0.46 bid.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from replay_tape import created, ns, ticker, write_recording

from kalshikit.core.fees import STANDARD_FEES, FeeSchedule
from kalshikit.errors import ConfigError
from kalshikit.kalshi.models import Series
from kalshikit.replay import Entry, FirstTwoSided, replay
from kalshikit.replay.capture import MarketCapture
from kalshikit.replay.fees import SERIES_FILE, read_series_file, resolve_fees, write_series_file
from kalshikit.replay.strategy_replay import replay_strategy
from kalshikit.replay.sweep import sweep
from kalshikit.sim import Simulator
from kalshikit.strategy.base import OrderIntent, StrategyContext
from kalshikit.strategy.risk import RiskLimits
from tests.conftest import eventually

SERIES = "KXTESTMLB"
M = f"{SERIES}-26JAN01-T1"
OTHER = "KXTESTNBA-26JAN01-T1"
C = 100
HALF = FeeSchedule("quadratic_with_maker_fees", 500_000)
ENTRIES = [Entry(M, ns(15), "yes", 10 * C), Entry(OTHER, ns(15), "yes", 10 * C)]


def _tape(directory: Path) -> Path:
    rows = []
    for t in (M, OTHER):
        rows += [(0, created(t)), (10, ticker(t, 10, 0.50, 0.52)), (100, ticker(t, 100, 0.46, 0.48))]
    return write_recording(directory, sorted(rows, key=lambda r: r[0]))


def _fees_paid(schedule: FeeSchedule) -> float:
    """Entry 10 @ 0.52 plus exit 10 @ 0.46, in dollars."""
    return (schedule.taker(5_200, 10 * C) + schedule.taker(4_600, 10 * C)) / 1e6


def _fees_by_ticker(result: object) -> dict[str, float]:
    trades = result.trades  # type: ignore[attr-defined]
    return {t: pytest.approx(f) for t, f in zip(trades["ticker"], trades["fees"], strict=True)}


def test_the_recordings_series_file_prices_each_series(tmp_path: Path) -> None:
    rec = _tape(tmp_path)
    before = replay(rec, entries=ENTRIES, stop=0.05)
    assert _fees_by_ticker(before) == {M: _fees_paid(STANDARD_FEES), OTHER: _fees_paid(STANDARD_FEES)}
    assert before.summary["fee_schedules"] == {
        "KXTESTMLB": "quadratic x1 (standard)",
        "KXTESTNBA": "quadratic x1 (standard)",
        "*": "quadratic x1 (standard)",
    }
    path = write_series_file(tmp_path, [Series(SERIES, fee_type="quadratic_with_maker_fees", fee_multiplier="0.5")])
    after = replay(rec, entries=ENTRIES, stop=0.05)
    assert _fees_by_ticker(after) == {M: _fees_paid(HALF), OTHER: _fees_paid(STANDARD_FEES)}
    assert _fees_paid(HALF) < _fees_paid(STANDARD_FEES)
    assert after.summary["fee_schedules"]["KXTESTMLB"] == f"quadratic_with_maker_fees x0.5 (recording {path})"
    assert after.summary["fee_schedules"]["KXTESTNBA"] == "quadratic x1 (standard)"
    assert after.settings["fees"] == after.summary["fee_schedules"]
    # the exit fill of the MLB market paid half the fee
    exit_fee = after.gaps.loc[after.gaps["ticker"] == M, "fee"].tolist()
    assert exit_fee == [HALF.taker(4_600, 10 * C) / 1e6]


def test_fees_given_by_the_user(tmp_path: Path) -> None:
    rec = _tape(tmp_path)
    write_series_file(tmp_path, [Series(SERIES, fee_type="quadratic_with_maker_fees", fee_multiplier="0.5")])
    given = {SERIES: 0.25, "*": {"fee_type": "quadratic", "fee_multiplier": 2}}
    quarter = replay(rec, entries=ENTRIES, stop=0.05, fees=given)
    assert _fees_by_ticker(quarter) == {
        M: _fees_paid(FeeSchedule("quadratic", 250_000)),
        OTHER: _fees_paid(FeeSchedule("quadratic", 2_000_000)),
    }
    assert quarter.summary["fee_schedules"] == {
        "KXTESTMLB": "quadratic x0.25 (given)",
        "KXTESTNBA": "quadratic x2 (given for other series)",
        "*": "quadratic x2 (given for other series)",
    }
    everywhere = replay(rec, entries=ENTRIES, stop=0.05, fees=FeeSchedule(rounding="cent"))
    assert _fees_by_ticker(everywhere) == {M: 0.18 + 0.18, OTHER: 0.18 + 0.18}  # $0.1748 and $0.1738 -> $0.18
    stated = everywhere.summary["fee_schedules"]
    assert stated["KXTESTMLB"] == stated["*"] == "quadratic x1 rounded to the cent (given for every market)"


@pytest.mark.parametrize(
    ("fees", "message"),
    [
        ({SERIES: "half"}, r"fees\['KXTESTMLB'\]: fee_multiplier 'half' is not a number"),
        ({SERIES: {"fee_type": "quadratic"}}, "needs both 'fee_type' and 'fee_multiplier'"),
        ({SERIES: {"fee_type": "cubic", "fee_multiplier": 1}}, "unknown series fee_type 'cubic'"),
        ({"": 0.5}, "fees keys are series tickers"),
        (0.5, "fees must be a FeeSchedule, a mapping"),
    ],
)
def test_bad_fee_arguments_say_what_to_fix(tmp_path: Path, fees: object, message: str) -> None:
    rec = _tape(tmp_path)
    with pytest.raises(ConfigError, match=message):
        replay(rec, entries=ENTRIES, stop=0.05, fees=fees)  # type: ignore[arg-type]


def test_an_unusable_recorded_series_gets_the_conservative_fallback_stated(tmp_path: Path) -> None:
    _tape(tmp_path)
    (tmp_path / SERIES_FILE).write_text(
        '{"series": [{"ticker": "KXTESTMLB", "fee_type": "margin_market_maker_program_fees", "fee_multiplier": 1}]}'
    )
    table = resolve_fees(None, [tmp_path])
    assert table.for_ticker(M) == FeeSchedule("quadratic_with_maker_fees", 1_000_000)
    assert "unknown series fee_type 'margin_market_maker_program_fees'" in table.sources[SERIES]
    assert "conservative fallback" in table.describe()[SERIES]
    (tmp_path / SERIES_FILE).write_text('{"markets": []}')
    with pytest.raises(ConfigError, match="not a series file"):
        resolve_fees(None, [tmp_path])


def test_a_saved_kalshi_reply_works_as_a_series_file(tmp_path: Path, realdata: Path) -> None:
    reply = (realdata / "kalshi_cockpit/series_fee_fields.json").read_text()
    (tmp_path / SERIES_FILE).write_text(json.dumps(json.loads(reply)["payloads"]["KXMLBGAME"]))  # GET /series/{t}
    assert [(s.ticker, s.fee_schedule()) for s in read_series_file(tmp_path / SERIES_FILE)] == [("KXMLBGAME", HALF)]
    assert resolve_fees(None, [tmp_path]).for_ticker("KXMLBGAME-26AUG18NYYBOS-NYY") == HALF


def test_a_sweep_prices_each_series_with_its_schedule(tmp_path: Path) -> None:
    rec = _tape(tmp_path)
    write_series_file(tmp_path, [Series(SERIES, fee_type="quadratic_with_maker_fees", fee_multiplier="0.5")])
    res = sweep(rec, {"stop": [0.05]}, entries=ENTRIES, executor="serial", out_dir=None)
    assert res.table["fees"].iloc[0] == pytest.approx(_fees_paid(HALF) + _fees_paid(STANDARD_FEES))
    assert res.fee_schedules["KXTESTMLB"].startswith("quadratic_with_maker_fees x0.5 (recording")
    assert res.fee_schedules["KXTESTNBA"] == "quadratic x1 (standard)"


class BuyOnce:
    """Buys 10 YES of ``ticker`` at the ask once; keeps the fee schedules the context offered."""

    name = "buy-once"

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self.seen: dict[str, FeeSchedule] = {}

    def decide(self, ctx: StrategyContext) -> list[OrderIntent]:
        q = ctx.quotes.get(self.ticker)
        if self.seen or q is None or q.yes_ask is None:
            return []
        self.seen = dict(ctx.fees)
        return [OrderIntent(self.ticker, "yes", 10 * C, q.yes_ask)]


def test_a_strategy_replay_gives_the_strategy_and_the_risk_limits_the_series_fees(tmp_path: Path) -> None:
    rec = _tape(tmp_path)
    write_series_file(tmp_path, [Series(SERIES, fee_type="quadratic_with_maker_fees", fee_multiplier="0.5")])
    # $5.20 of contracts: the MLB fee ($0.0874) fits under $5.29, the standard fee ($0.1748) would not
    risk = RiskLimits(None, None, None, None, max_order_cost=5_290_000)
    for t, fee in ((M, HALF.taker(5_200, 10 * C)), (OTHER, None)):
        strategy = BuyOnce(t)
        result = replay_strategy(rec, strategy, odds=[], gather=None, risk=risk, interval_s=0.05)
        assert strategy.seen == {M: HALF, OTHER: STANDARD_FEES}
        row = result.entries.iloc[0]
        if fee is None:
            assert row["action"] == "refused" and "order cost $5.37 > max_order_cost $5.29" in row["why"]
        else:
            assert row["action"] == "sent" and row["fees"] == pytest.approx(fee / 1e6)
        assert result.summary["fee_schedules"]["KXTESTMLB"].startswith("quadratic_with_maker_fees x0.5")


def test_a_market_capture_records_the_series_fees_and_its_replay_uses_them(tmp_path: Path) -> None:
    series = "KXCAPMLB"
    t = f"{series}-26AUG18NYYBOS-NYY"
    with Simulator() as sim:
        sim.add_series(series, "quadratic_with_maker_fees", 0.5)
        capture = MarketCapture.on_simulator(sim, tmp_path / "market").start()
        try:
            sim.add_market(t, yes_bid=5_000, yes_ask=5_200, yes_bid_size=50 * C, yes_ask_size=50 * C)
            eventually(lambda: (q := capture.ws.cache.get(t)) is not None and q.yes_ask == 5_200, what="first quote")
            sim.set_quote(t, 4_600, 4_800, 50 * C, 50 * C)
            eventually(lambda: (q := capture.ws.cache.get(t)) is not None and q.yes_bid == 4_600, what="the drop")
        finally:
            capture.stop()
    assert capture.series_path == tmp_path / "market" / SERIES_FILE and capture.series_problems == {}
    assert [(s.ticker, s.fee_schedule()) for s in read_series_file(capture.series_path)] == [(series, HALF)]
    result = replay(tmp_path / "market", policy=FirstTwoSided("yes", 10 * C), stop=0.05)
    [trade] = result.trades.to_dict("records")
    assert (trade["entry_price"], trade["exit_price"]) == (0.52, 0.46)
    assert trade["fees"] == pytest.approx(_fees_paid(HALF))
    assert result.summary["fee_schedules"][series].startswith("quadratic_with_maker_fees x0.5 (recording")
