"""History import: backtest last month's markets without having recorded them.

``download(out, series="KXNBAGAME", start="2026-11-01")`` (or ``python -m kalshikit.history``) fetches a series',
an event's or some markets' history from Kalshi -- settled markets with their results, 1-minute candlesticks with
bid/ask OHLC, and the public trade prints -- into a Parquet dataset, resumably and within the rate limit.
``kalshikit.replay.replay(out, ...)`` then replays it through the live monitor, with the candle assumption
(``candles="pessimistic"`` or ``"optimistic"``) stated in every result; ``open_history(out)`` reads it with pandas.

Modules: :mod:`~kalshikit.history.request` (what to fetch), :mod:`~kalshikit.history.dataset` (the files),
:mod:`~kalshikit.history.fetch` (one market, resumable), :mod:`~kalshikit.history.downloader` (the whole job),
:mod:`~kalshikit.history.quotes` (candles to quotes for replay). Names below are imported on first use.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "download": "kalshikit.history.downloader",
    "DownloadReport": "kalshikit.history.downloader",
    "open_history": "kalshikit.history.dataset",
    "HistoryDataset": "kalshikit.history.dataset",
    "is_history_dataset": "kalshikit.history.dataset",
    "HistoryRequest": "kalshikit.history.request",
    "replay_data": "kalshikit.history.quotes",
    "fill_assumption": "kalshikit.history.quotes",
    "CANDLE_FILLS": "kalshikit.history.quotes",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kalshikit.history' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
