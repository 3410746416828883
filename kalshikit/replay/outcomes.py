"""Market results from a file, for settling positions the recording leaves open: ``load_results("results.csv")``.

CSV columns ``ticker`` and ``result`` (``yes`` / ``no``), optional ``settlement_value`` (the YES payout in dollars,
for scalar markets); or a JSON object ``{"TICKER": "yes", ...}``. A bad row is reported with its row number.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from kalshikit.core.rules import dollars_to_price
from kalshikit.errors import ConfigError, RuleError


def load_results(path: str | Path) -> dict[str, str | tuple[str, int | None]]:
    """``{ticker: "yes" | "no" | (result, settlement value in price units)}`` as :func:`replay` takes it."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"results file {str(p)!r} does not exist")
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(p.read_text())
        except ValueError as exc:
            raise ConfigError(f"results file {str(p)!r} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f'results file {str(p)!r} must hold an object {{"TICKER": "yes", ...}}')
        rows = [{"ticker": k, "result": v} for k, v in data.items()]
    else:
        import pandas as pd

        try:
            df = pd.read_csv(p, dtype={"ticker": str, "result": str})
        except (ValueError, pd.errors.ParserError) as exc:
            raise ConfigError(f"results file {str(p)!r} is not a readable CSV: {exc}") from None
        missing = [c for c in ("ticker", "result") if c not in df.columns]
        if missing:
            raise ConfigError(f"results file {str(p)!r} lacks column(s) {missing}; needed: ticker, result")
        rows = df.to_dict("records")
    out: dict[str, str | tuple[str, int | None]] = {}
    for i, r in enumerate(rows, start=1):
        ticker = str(r.get("ticker", "")).strip()
        result = str(r.get("result", "")).strip().lower()
        if not ticker or ticker == "nan":
            raise ConfigError(f"results row {i}: ticker is empty")
        value = r.get("settlement_value")
        if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
            if result not in ("yes", "no"):
                raise ConfigError(
                    f"results row {i} ({ticker}): result {r.get('result')!r} must be yes or no "
                    "(or give settlement_value for a scalar market)"
                )
            out[ticker] = result
        else:
            out[ticker] = (result or "scalar", _value(value, i, ticker))
    return out


def _value(value: Any, row: int, ticker: str) -> int:
    try:
        v = dollars_to_price(value, "settlement_value")
    except RuleError as exc:
        raise ConfigError(f"results row {row} ({ticker}): {exc}") from None
    if not 0 <= v <= 10_000:
        raise ConfigError(f"results row {row} ({ticker}): settlement_value {value!r} must lie in $0..$1")
    return v
