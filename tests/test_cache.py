"""PriceCache: latest quote wins, staleness, held-market wake-ups, thread safety."""

from __future__ import annotations

import threading

from kalshikit.cache import PriceCache
from kalshikit.core.events import Quote

S = 1_000_000_000


def q(ticker: str, bid: int, recv_s: float, source: str = "ws") -> Quote:
    return Quote(ticker, bid, bid + 100, recv_ns=int(recv_s * S), source=source)


def test_newer_quote_wins_and_older_rest_read_is_ignored() -> None:
    c = PriceCache(60, clock_ns=lambda: 100 * S)
    c.update(q("A", 5000, 10.0))
    c.update(q("A", 4000, 9.0, "rest"))  # a REST read that started before the socket quote landed
    assert c.get("A").yes_bid == 5000  # type: ignore[union-attr]
    c.update(q("A", 4500, 11.0))
    assert c.get("A").yes_bid == 4500  # type: ignore[union-attr]


def test_age_and_staleness() -> None:
    c = PriceCache(60, clock_ns=lambda: 100 * S)
    assert c.is_stale("A")
    c.update(q("A", 5000, 50.0))
    assert c.age_s("A") == 50.0
    assert not c.is_stale("A")
    assert c.is_stale("A", now_ns=111 * S)
    assert c.stale_tickers(["A", "B"], now_ns=111 * S) == ["A", "B"]


def test_only_held_markets_wake_the_monitor() -> None:
    woken: list[str] = []
    c = PriceCache(60, on_held_update=lambda quote: woken.append(quote.ticker))
    c.set_held(["A"])
    c.update(q("A", 5000, 1.0))
    c.update(q("B", 5000, 1.0))
    assert woken == ["A"]


def test_concurrent_writers_and_readers() -> None:
    c = PriceCache(60)
    c.set_held([f"T{i}" for i in range(10)])

    def writer(k: int) -> None:
        for i in range(2000):
            c.update(q(f"T{i % 10}", 100 + k, float(i)))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for _ in range(200):
        snap = c.snapshot()
        assert all(isinstance(v, Quote) for v in snap.values())
    for t in threads:
        t.join()
    assert c.updates <= 8000 and len(c.snapshot()) == 10
