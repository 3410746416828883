"""The simulator's REST responses against Kalshi's official OpenAPI spec v3.7.0 (Feb 2026), when a copy is present
in ``../shared/realdata/openapi/Kalshi.yaml`` (skipped otherwise).

The simulator speaks the *current* API (late 2026). Fields v3.7.0 marks required but Kalshi has removed since are
excused, by two rules only:

1. Legacy integer twins: a required ``integer``/``number`` field whose string twin (``<name>_dollars``, ``_fp`` or
   ``_fixed``) is present in the response. Kalshi removed the integer cent/count fields from all responses on
   2026-03-12 (fixed-point migration; SDK 3.9.0 dropped them).
2. :data:`REMOVED_SINCE_3_7` below: each field named with the SDK release that dropped it.

Errors: the spec documents a flat ``ErrorResponse``; the live API (and the simulator) nest it under ``"error"``, so
the inner object is what is validated.
"""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import pytest
from sim_testkit import ORDERS, C, account_api, new_market

from kalshikit.sim import Simulator

jsonschema = pytest.importorskip("jsonschema")
yaml = pytest.importorskip("yaml")

REMOVED_SINCE_3_7: dict[str, dict[str, str]] = {
    "Market": {
        "response_price_units": "deprecated; gone from the SDK by 3.24 (2026-07)",
        "fractional_trading_enabled": "added 3.8, gone by 3.24",
        "tick_size": "deprecated for price_ranges; gone by 3.16",
        "liquidity": "legacy cents; liquidity_dollars itself gone by 3.31 (2026-09)",
        "liquidity_dollars": "gone by 3.31 (2026-09)",
    },
    "Order": {"queue_position": "deprecated, always 0; removed with the legacy integers (3.9)"},
    "Fill": {
        "price": "deprecated legacy cents without a string twin; removed in 3.9",
        "yes_price_fixed": "replaced by yes_price_dollars in 3.11 (2026-03-31)",
        "no_price_fixed": "replaced by no_price_dollars in 3.11 (2026-03-31)",
    },
    "Trade": {"price": "deprecated legacy cents without a string twin; removed in 3.9"},
    "MarketPosition": {"resting_orders_count": "[DEPRECATED] in the spec itself; gone by 3.24"},
    "EventPosition": {"resting_orders_count": "[DEPRECATED]; gone by 3.24"},
    "GetMarketOrderbookResponse": {"orderbook": "legacy integer book, removed 2026-03-12; orderbook_fp is current"},
}


@pytest.fixture(scope="module")
def spec(realdata: Path) -> dict[str, Any]:
    path = realdata / "openapi" / "Kalshi.yaml"
    if not path.is_file():
        pytest.skip("the OpenAPI spec copy is not present")
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: ``nullable`` becomes a null type; ``$ref`` points into ``$defs``."""
    if isinstance(node, list):
        return [_to_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    # YAML 1.1 reads the legacy orderbook's ``yes:``/``no:`` keys as booleans; put the names back.
    named = {({True: "yes", False: "no"}[k] if isinstance(k, bool) else k): v for k, v in node.items()}
    out = {k: _to_json_schema(v) for k, v in named.items() if not k.startswith("x-") and k != "example"}
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/$defs/")
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        elif "$ref" in out or "allOf" in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _excused(name: str, schema: dict[str, Any], instance: dict[str, Any]) -> set[str]:
    props = schema.get("properties", {})
    out = set(REMOVED_SINCE_3_7.get(name, {}))
    for field in schema.get("required", []):
        kind = props.get(field, {}).get("type")
        twins = (field + "_dollars", field + "_fp", field + "_fixed")
        if kind in ("integer", "number") and field not in instance and any(t in instance for t in twins):
            out.add(field)
    return out


def _check(spec: dict[str, Any], schema_name: str, instance: Any) -> None:
    """Validate ``instance`` against a component schema, excusing removed fields object by object."""
    defs = copy.deepcopy(spec["components"]["schemas"])

    def relax(name: str, obj: Any) -> None:
        s = defs.get(name)
        if s is None or not isinstance(obj, dict):
            return
        excused = _excused(name, spec["components"]["schemas"][name], obj)
        if excused and "required" in s:
            s["required"] = [f for f in s["required"] if f not in excused]
        for field, sub in s.get("properties", {}).items():
            ref = sub.get("$ref") or sub.get("items", {}).get("$ref")
            if ref and field in obj:
                child = ref.rsplit("/", 1)[-1]
                for item in obj[field] if isinstance(obj[field], list) else [obj[field]]:
                    relax(child, item)

    relax(schema_name, instance)
    root = _to_json_schema({"$ref": f"#/components/schemas/{schema_name}", "$defs": defs})
    validator = jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def test_exception_list_only_names_fields_the_spec_requires(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for name, fields in REMOVED_SINCE_3_7.items():
        assert set(fields) <= set(schemas[name].get("required", [])), name


def test_a_missing_current_field_is_caught(spec: dict[str, Any], sim: Simulator) -> None:
    t = new_market(sim)
    m = account_api(sim).get(f"/markets/{t}").json()["market"]
    del m["yes_bid_dollars"]
    with pytest.raises(AssertionError, match="yes_bid_dollars"):
        _check(spec, "Market", m)


def test_market_data_responses_match_the_spec(spec: dict[str, Any], sim: Simulator) -> None:
    api = account_api(sim)
    t = new_market(sim)
    sim.add_trade(t, 4_600, 2 * C, "no")
    _check(spec, "ExchangeStatus", api.get("/exchange/status").json())
    _check(spec, "GetMarketsResponse", api.get("/markets", params={"tickers": t}).json())
    _check(spec, "GetMarketResponse", api.get(f"/markets/{t}").json())
    _check(spec, "GetMarketOrderbookResponse", api.get(f"/markets/{t}/orderbook").json())
    _check(spec, "GetTradesResponse", api.get("/markets/trades", params={"ticker": t}).json())
    sim.determine_market(t, "yes")
    _check(spec, "GetMarketResponse", api.get(f"/markets/{t}").json())


def test_portfolio_responses_match_the_spec(spec: dict[str, Any], sim: Simulator) -> None:
    api = account_api(sim)
    t1, t2 = new_market(sim), new_market(sim)
    api.create(t1, "bid", "0.47", "3", client_order_id="oas-" + uuid.uuid4().hex[:6])
    api.create(t1, "bid", "0.40", "2", "good_till_canceled")
    sim.seed_position(t2, -2 * C, 5_000, account=api.account)
    sim.settle_market(t2, "no")
    _check(spec, "GetBalanceResponse", api.get("/portfolio/balance").json())
    _check(spec, "GetPositionsResponse", api.get("/portfolio/positions").json())
    _check(spec, "GetPositionsResponse", api.get("/portfolio/positions", params={"settlement_status": "all"}).json())
    orders = api.get("/portfolio/orders").json()
    _check(spec, "GetOrdersResponse", orders)
    _check(spec, "GetOrderResponse", api.get(f"/portfolio/orders/{orders['orders'][0]['order_id']}").json())
    _check(spec, "GetFillsResponse", api.get("/portfolio/fills").json())
    _check(spec, "GetSettlementsResponse", api.get("/portfolio/settlements").json())


def test_legacy_order_endpoints_match_the_spec(spec: dict[str, Any], sim: Simulator) -> None:
    api = account_api(sim)
    t = new_market(sim)
    r = api.post("/portfolio/orders", {"ticker": t, "side": "yes", "action": "buy", "count": 2, "yes_price": 40})
    assert r.status_code == 201
    _check(spec, "CreateOrderResponse", r.json())
    c = api.delete(f"/portfolio/orders/{r.json()['order']['order_id']}")
    _check(spec, "CancelOrderResponse", c.json())


def test_error_bodies_match_the_spec(spec: dict[str, Any], sim: Simulator) -> None:
    api = account_api(sim)
    for r in (
        api.get("/markets/KXNOPE-OAS"),
        api.post(ORDERS, {"ticker": "x"}),
        api.get("/portfolio/balance", signed=False),
    ):
        assert r.status_code >= 400
        _check(spec, "ErrorResponse", r.json()["error"])


def test_series_responses_match_the_spec(spec: dict[str, Any], sim: Simulator) -> None:
    api = account_api(sim)
    name = "KXOAS" + uuid.uuid4().hex[:6].upper()
    sim.add_series(name, "quadratic_with_maker_fees", 0.5, tags=["Baseball"])
    sim.add_market(f"{name}-26DEC31-COMBO", yes_bid=100, yes_ask=300, mve_collection_ticker="KXMVECROSSCATEGORY")
    _check(spec, "GetSeriesResponse", api.get(f"/series/{name}").json())
    _check(spec, "GetSeriesListResponse", api.get("/series").json())
    _check(spec, "GetMarketsResponse", api.get("/markets", params={"series_ticker": name}).json())
