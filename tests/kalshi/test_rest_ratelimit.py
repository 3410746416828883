"""The REST client's token bucket: accounting checked with an injected clock (no sleeping, no wall clock)."""

from __future__ import annotations

import threading

import pytest

from kalshikit.errors import RateLimited
from kalshikit.kalshi.ratelimit import CLIENT_RATE_LIMIT_CODE, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


def test_burst_then_paced_waits() -> None:
    clock = FakeClock()
    b = TokenBucket(10, name="read", clock=clock)
    assert [b.reserve() for _ in range(10)] == [0.0] * 10
    # The 11th, 12th requests wait one and two refill intervals.
    assert b.reserve() == pytest.approx(0.1)
    assert b.reserve() == pytest.approx(0.2)
    s = b.snapshot()
    assert s["reservations"] == 12 and s["waits"] == 2
    assert s["waited_s"] == pytest.approx(0.3)
    assert s["max_wait_s"] == pytest.approx(0.2)
    assert b.tokens == pytest.approx(-2.0)


def test_refill_is_capped_at_capacity() -> None:
    clock = FakeClock()
    b = TokenBucket(5, capacity=2, clock=clock)
    b.reserve()
    b.reserve()
    assert b.tokens == pytest.approx(0.0)
    clock.advance(0.2)
    assert b.tokens == pytest.approx(1.0)
    clock.advance(100)
    assert b.tokens == pytest.approx(2.0)


def test_wait_over_bound_is_refused_and_takes_nothing() -> None:
    clock = FakeClock()
    b = TokenBucket(2, capacity=1, name="write", clock=clock)
    assert b.reserve(max_wait=0.1) == 0.0
    with pytest.raises(RateLimited) as info:
        b.reserve(max_wait=0.1)  # would need 0.5 s
    assert info.value.code == CLIENT_RATE_LIMIT_CODE
    assert "KALSHI_WRITES_PER_SECOND" in str(info.value) or "KALSHI_READS_PER_SECOND" in str(info.value)
    assert b.snapshot()["rejected"] == 1
    assert b.tokens == pytest.approx(0.0)  # the refused reservation was given back
    assert b.reserve(max_wait=1.0) == pytest.approx(0.5)


def test_cost_larger_than_capacity_waits_instead_of_deadlocking() -> None:
    clock = FakeClock()
    b = TokenBucket(10, capacity=10, clock=clock)
    assert b.reserve(25) == pytest.approx(1.5)
    clock.advance(1.5)
    assert b.tokens == pytest.approx(0.0)


def test_drain_empties_a_full_bucket_but_keeps_debt() -> None:
    clock = FakeClock()
    b = TokenBucket(4, clock=clock)
    b.drain()
    assert b.reserve() == pytest.approx(0.25)
    b.drain()
    assert b.tokens == pytest.approx(-1.0)


def test_acquire_sleeps_exactly_the_reserved_wait() -> None:
    clock = FakeClock()
    slept: list[float] = []
    b = TokenBucket(4, capacity=1, clock=clock)
    assert b.acquire(sleep=slept.append) == 0.0
    assert b.acquire(sleep=slept.append) == pytest.approx(0.25)
    assert slept == [pytest.approx(0.25)]


def test_concurrent_reservations_are_all_accounted() -> None:
    clock = FakeClock()
    b = TokenBucket(100, capacity=10, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            w = b.reserve()
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert b.snapshot()["reservations"] == 200
    # 10 free, then each further reservation waits one more hundredth of a second than the previous.
    assert sorted(waits)[-1] == pytest.approx(1.9)
    assert sum(1 for w in waits if w == 0.0) == 10


@pytest.mark.parametrize("rate,capacity", [(0, None), (-1, None), (float("inf"), None), (1, 0)])
def test_bad_parameters(rate: float, capacity: float | None) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, capacity)
