"""Series in the simulator: ``GET /series/{series_ticker}`` and ``GET /series`` serve the fee fields set with
``Simulator.add_series``, every fill of the series' markets pays that schedule (taker and maker), and
``GET /markets`` honours ``mve_filter`` with a combo market present."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sim_testkit import C, account_api, new_market

from kalshikit.core.fees import FeeSchedule
from kalshikit.sim import Simulator
from kalshikit.units import parse_dollars_to_money


def _series(sim: Simulator, fee_type: str = "quadratic_with_maker_fees", multiplier: object = 0.5) -> str:
    name = "KXS" + uuid.uuid4().hex[:8].upper()
    sim.add_series(name, fee_type, multiplier)  # type: ignore[arg-type]
    return name


def _market(sim: Simulator, series: str) -> str:
    ticker = f"{series}-26DEC31-T50"
    sim.add_market(ticker, yes_bid=4_500, yes_ask=4_700, yes_bid_size=10 * C, yes_ask_size=20 * C)
    return ticker


def test_series_endpoints_serve_the_fee_fields(sim: Simulator) -> None:
    api = account_api(sim)
    name = _series(sim, "quadratic", "0.25")
    one = api.get(f"/series/{name}", signed=False)
    assert one.status_code == 200
    s = one.json()["series"]
    assert (s["ticker"], s["fee_type"], s["fee_multiplier"]) == (name, "quadratic", 0.25)
    assert Decimal(one.text.split('"fee_multiplier":')[1].split(",")[0].strip()) == Decimal("0.25")  # a JSON number
    listed = api.get("/series", params={"category": "Sports"}).json()["series"]
    assert any(x["ticker"] == name and x["fee_multiplier"] == 0.25 for x in listed)
    missing = api.get("/series/KXNOSUCHSERIES")
    assert missing.status_code == 404 and "KXNOSUCHSERIES" in missing.json()["error"]["message"]
    assert sim.series_fees(name) == FeeSchedule("quadratic", 250_000)


def test_taker_and_maker_fills_pay_the_series_multiplier(sim: Simulator) -> None:
    api = account_api(sim)
    half = FeeSchedule("quadratic_with_maker_fees", 500_000)
    ticker = _market(sim, _series(sim))
    r = api.create(ticker, "bid", "0.47", "10")  # IOC, takes 10 at the 0.47 ask
    assert r.status_code == 201
    fee = half.taker(4_700, 10 * C)
    # 0.035 x 10 x 0.47 x 0.53 = $0.087185 -> $0.0872, where the standard schedule charges $0.1744
    assert (fee, FeeSchedule().taker(4_700, 10 * C)) == (87_200, 174_400)
    assert parse_dollars_to_money(r.json()["average_fee_paid"]) == fee // 10
    fills = api.get("/portfolio/fills", params={"ticker": ticker}).json()["fills"]
    assert [parse_dollars_to_money(f["fee_cost"]) for f in fills] == [fee]
    # a resting bid filled by the tape trading through it pays the (halved) maker fee
    rest = api.create(ticker, "bid", "0.40", "5", "good_till_canceled")
    order_id = rest.json()["order_id"]
    sim.add_trade(ticker, 4_000, 5 * C, "no")
    order = api.get(f"/portfolio/orders/{order_id}").json()["order"]
    assert order["status"] == "executed"
    maker = half.maker(4_000, 5 * C)
    assert maker == 10_500  # 0.0175 x 0.5 x 5 x 0.40 x 0.60 = $0.0105
    assert parse_dollars_to_money(order["maker_fees_dollars"]) == maker
    position = api.get("/portfolio/positions", params={"ticker": ticker}).json()["market_positions"][0]
    assert parse_dollars_to_money(position["fees_paid_dollars"]) == fee + maker


def test_a_fee_change_applies_to_later_fills(sim: Simulator) -> None:
    api = account_api(sim)
    name = _series(sim, "quadratic", 0.5)
    ticker = _market(sim, name)
    api.create(ticker, "bid", "0.47", "1")
    sim.add_series(name, "quadratic", 1)
    api.create(ticker, "bid", "0.47", "1")
    fills = api.get("/portfolio/fills", params={"ticker": ticker}).json()["fills"]
    assert sorted(parse_dollars_to_money(f["fee_cost"]) for f in fills) == [
        FeeSchedule("quadratic", 500_000).taker(4_700, C),
        FeeSchedule().taker(4_700, C),
    ]


def test_markets_of_a_new_series_pay_the_simulator_default(sim: Simulator) -> None:
    api = account_api(sim)
    ticker = new_market(sim)
    api.create(ticker, "bid", "0.47", "2")
    fills = api.get("/portfolio/fills", params={"ticker": ticker}).json()["fills"]
    assert [parse_dollars_to_money(f["fee_cost"]) for f in fills] == [FeeSchedule().taker(4_700, 2 * C)]
    assert api.get(f"/series/{ticker.split('-')[0]}").json()["series"]["fee_type"] == "quadratic"


def test_mve_filter_with_a_combo_market(sim: Simulator) -> None:
    api = account_api(sim)
    name = "KXMVES" + uuid.uuid4().hex[:6].upper()
    plain = f"{name}-26DEC31-PLAIN"
    combo = f"{name}-26DEC31-COMBO"
    sim.add_market(plain, yes_bid=4_000, yes_ask=4_200)
    sim.add_market(combo, yes_bid=100, yes_ask=300, mve_collection_ticker="KXMVECROSSCATEGORY")

    def listed(**params: str) -> list[str]:
        r = api.get("/markets", params={"series_ticker": name, **params})
        assert r.status_code == 200, r.text
        return sorted(m["ticker"] for m in r.json()["markets"])

    assert listed() == [combo, plain]
    assert listed(mve_filter="exclude") == [plain]
    assert listed(mve_filter="only") == [combo]
    assert api.get(f"/markets/{combo}").json()["market"]["mve_collection_ticker"] == "KXMVECROSSCATEGORY"
    bad = api.get("/markets", params={"mve_filter": "include"})
    assert bad.status_code == 400 and "mve_filter must be only or exclude" in bad.json()["error"]["message"]
