"""Decoding candlesticks and trades: real captured Kalshi responses (both wire eras, from ``../shared/realdata``;
skipped when absent) decode exactly to the kit's integers, checked against an independent Decimal reading of the
same JSON; empty book sides and bad shapes."""

from __future__ import annotations

import calendar
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshikit.errors import ProtocolError
from kalshikit.kalshi.models import Candle, decode_candlesticks, decode_trades_page

FIELDS = ("open", "high", "low", "close")


def _price(dollars: str | None) -> int | None:
    return None if dollars is None else int(Decimal(dollars) * 10_000)


def _expected(c: dict[str, Any]) -> dict[str, Any]:
    """What the kit must make of one wire candle, worked out with Decimal from the dollar strings (or cents)."""
    out: dict[str, Any] = {"end_ns": c["end_period_ts"] * 1_000_000_000}
    for side in ("yes_bid", "yes_ask"):
        for f in FIELDS:
            raw = c[side].get(f + "_dollars")
            v = _price(raw) if raw is not None else c[side][f] * 100
            empty = v == 0 if side == "yes_bid" else v >= 10_000
            out[f"{side}_{f}"] = None if empty else v
    for f in (*FIELDS, "mean", "previous"):
        raw = c["price"].get(f + "_dollars")
        cents = c["price"].get(f)
        out[f"price_{f}"] = _price(raw) if raw is not None else (None if cents is None else cents * 100)
    vol = c.get("volume_fp", c.get("volume"))
    oi = c.get("open_interest_fp", c.get("open_interest"))
    out["volume"] = int(Decimal(vol) * 100) if isinstance(vol, str) else vol * 100
    out["open_interest"] = int(Decimal(oi) * 100) if isinstance(oi, str) else oi * 100
    return out


def _check(wire: list[dict[str, Any]], decoded: list[Candle]) -> None:
    assert len(decoded) == len(wire)
    for w, d in zip(wire, decoded, strict=True):
        got = {f: getattr(d, f) for f in Candle.__struct_fields__}
        assert got == _expected(w)
        assert all(v is None or type(v) is int for v in got.values())


def test_current_era_candles_decode_exactly(realdata: Path) -> None:
    doc = json.loads((realdata / "kalshi_cockpit" / "candlesticks_mlb.json").read_text())
    total = 0
    for ticker, m in doc["markets"].items():
        body = json.dumps({"ticker": ticker, "candlesticks": m["candlesticks"]}).encode()
        decoded = decode_candlesticks(body, ticker)
        _check(m["candlesticks"], decoded)
        assert [c.end_ns for c in decoded] == sorted(c.end_ns for c in decoded)
        total += len(decoded)
    assert total == 48
    pre = json.loads((realdata / "kalshi_cockpit" / "candlesticks_pregame_mlb.json").read_text())
    wire = pre["candlesticks_response"]["candlesticks"]
    decoded = decode_candlesticks(json.dumps(pre["candlesticks_response"]).encode())
    _check(wire, decoded)
    # minutes without a trade carry only the previous trade price
    quiet = [d for w, d in zip(wire, decoded, strict=True) if "close_dollars" not in w["price"]]
    assert quiet and all(d.price_close is None and d.price_previous is not None for d in quiet)


def test_early_2026_candles_with_cents_and_nulls_decode_exactly(realdata: Path) -> None:
    golden = realdata / "kalshi_starter_golden_rest"
    series = json.loads((golden / "series_candlesticks_response.json").read_text())["response"]
    decoded = decode_candlesticks(json.dumps(series).encode(), series["ticker"])
    _check(series["candlesticks"], decoded)
    assert any(d.price_close is None for d in decoded) and any(d.price_close is not None for d in decoded)
    for w, d in zip(series["candlesticks"], decoded, strict=True):  # both eras' fields agree where both are sent
        assert d.yes_bid_close == w["yes_bid"]["close"] * 100
    batch = json.loads((golden / "candlesticks_batch_response.json").read_text())["response"]
    for m in batch["markets"]:
        _check(m["candlesticks"], decode_candlesticks(json.dumps({"candlesticks": m["candlesticks"]}).encode()))


def _rfc3339_ns(text: str) -> int:
    """Independent of the kit's parser: whole seconds with calendar.timegm, the fraction digit by digit."""
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z", text)
    assert m, text
    secs = calendar.timegm((*(int(g) for g in m.groups()[:6]), 0, 0, 0))
    frac = (m.group(7) or "").ljust(9, "0")
    return secs * 1_000_000_000 + int(frac)


def test_real_trades_page_decodes_exactly(realdata: Path) -> None:
    doc = json.loads((realdata / "kalshi_starter_golden_rest" / "trades_list_response.json").read_text())["response"]
    trades, cursor = decode_trades_page(json.dumps(doc).encode())
    assert cursor == doc["cursor"]
    assert len(trades) == len(doc["trades"]) == 5
    for w, t in zip(doc["trades"], trades, strict=True):
        assert t.trade_id == w["trade_id"] and t.ticker == w["ticker"]
        assert t.yes_price == _price(w["yes_price_dollars"]) == w["yes_price"] * 100
        assert t.count == w["count"] * 100
        assert t.taker_side == w["taker_side"]
        assert t.created_ns == _rfc3339_ns(w["created_time"])
        assert t.to_event().exchange_ns == t.created_ns


def test_current_trades_shape_and_empty_sides() -> None:
    page = {
        "trades": [
            {
                "trade_id": "t1",
                "ticker": "KXA-1",
                "count_fp": "2.50",
                "yes_price_dollars": "0.9950",
                "no_price_dollars": "0.0050",
                "taker_outcome_side": "no",
                "taker_book_side": "ask",
                "created_time": "2026-11-02T10:00:00.000001Z",
                "is_block_trade": False,
            }
        ],
        "cursor": "",
    }
    (t,), cursor = decode_trades_page(json.dumps(page).encode())
    assert (t.yes_price, t.count, t.taker_side, t.created_ns, cursor) == (9950, 250, "no", 1793613600000001000, "")
    empty = {"open_dollars": "0.0000", "high_dollars": "0.4500", "low_dollars": "0.0000", "close_dollars": "0.4500"}
    no_ask = {"open_dollars": "1.0000", "high_dollars": "1.0000", "low_dollars": "0.4700", "close_dollars": "0.4700"}
    body = {"candlesticks": [{"end_period_ts": 60, "yes_bid": empty, "yes_ask": no_ask, "price": {}}]}
    (c,) = decode_candlesticks(json.dumps(body).encode())
    assert (c.yes_bid_open, c.yes_bid_low, c.yes_bid_high) == (None, None, 4500)
    assert (c.yes_ask_open, c.yes_ask_high, c.yes_ask_low) == (None, None, 4700)
    assert (c.price_close, c.volume) == (None, None)


@pytest.mark.parametrize(
    "body",
    [
        b'{"candlesticks": [{"yes_bid": {}}]}',  # no end_period_ts
        b'{"candlesticks": [{"end_period_ts": 60, "yes_bid": {"close_dollars": "abc"}}]}',
        b"not json",
    ],
)
def test_bad_candle_bodies_raise_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError, match="candlesticks"):
        decode_candlesticks(body, "KXA-1")


def test_a_trade_without_price_or_time_is_refused() -> None:
    with pytest.raises(ProtocolError, match="lacks"):
        decode_trades_page(b'{"trades": [{"trade_id": "x", "ticker": "KXA-1", "count_fp": "1.00"}], "cursor": ""}')
