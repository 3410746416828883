"""Tape playback into the simulator: recordings (ours and real captured ones), the synthetic generator, speed,
pause/resume, looping and lifecycle frames."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from sim_testkit import C, demo_api

from kalshikit.core.book import OrderBook
from kalshikit.core.events import BookDelta, BookSnapshot
from kalshikit.kalshi.messages import FrameDecoder
from kalshikit.sim import Simulator
from kalshikit.sim.exchange import Exchange
from kalshikit.sim.feed import Feed
from tests.conftest import eventually

T0 = 1_800_000_000 * 10**9
MS = 1_000_000


class Frame(NamedTuple):
    recv_ns: int
    raw: str


def _ticker(t: str, bid: str, ask: str, ms: int, **extra: Any) -> str:
    msg = {"market_ticker": t, "yes_bid_dollars": bid, "yes_ask_dollars": ask, "price_dollars": "0.0000", **extra}
    msg["ts_ms"] = T0 // MS + ms
    return json.dumps({"type": "ticker", "sid": 1, "msg": msg})


def _life(t: str, event_type: str, **msg: Any) -> str:
    return json.dumps(
        {
            "type": "market_lifecycle_v2",
            "sid": 3,
            "seq": 1,
            "msg": {"market_ticker": t, "event_type": event_type, **msg},
        }
    )


def _tape() -> list[Frame]:
    a, b = "KXTAPE-26DEC31-A", "KXTAPE-26DEC31-B"
    ranges = [
        {"start": "0.0000", "end": "0.1000", "step": "0.0010"},
        {"start": "0.1000", "end": "0.9000", "step": "0.0100"},
        {"start": "0.9000", "end": "1.0000", "step": "0.0010"},
    ]
    raws = [
        _life(
            a,
            "created",
            open_ts=T0 // 10**9,
            close_ts=T0 // 10**9 + 3600,
            price_level_structure="tapered_deci_cent",
            price_ranges=ranges,
            additional_metadata={"title": "Tape A?", "event_ticker": "KXTAPE-26DEC31", "yes_sub_title": "A"},
        ),
        _ticker(a, "0.9500", "0.9550", 10, yes_bid_size_fp="12.00", yes_ask_size_fp="3.50", volume_fp="100.00"),
        json.dumps(
            {
                "type": "trade",
                "sid": 2,
                "seq": 1,
                "msg": {
                    "trade_id": "t-1",
                    "market_ticker": a,
                    "yes_price_dollars": "0.9550",
                    "count_fp": "2.00",
                    "taker_outcome_side": "yes",
                    "ts_ms": T0 // MS + 20,
                },
            }
        ),
        json.dumps(
            {
                "type": "orderbook_snapshot",
                "sid": 4,
                "seq": 1,
                "msg": {
                    "market_ticker": b,
                    "yes_dollars_fp": [["0.4000", "5.00"]],
                    "no_dollars_fp": [["0.5500", "7.00"]],
                },
            }
        ),
        json.dumps(
            {
                "type": "orderbook_delta",
                "sid": 4,
                "seq": 2,
                "msg": {"market_ticker": b, "price_dollars": "0.4100", "delta_fp": "4.00", "side": "yes", "ts_ms": 1},
            }
        ),
        "not json at all",
        _life(b, "deactivated", is_deactivated=True),
        _life(a, "determined", result="yes", settlement_value="1.0000", determination_ts=T0 // 10**9 + 1),
        _life(a, "settled", settled_ts=T0 // 10**9 + 2),
    ]
    return [Frame(T0 + i * 100 * MS, r) for i, r in enumerate(raws)]


def _write(path: Path, frames: list[Frame]) -> Path:
    path.write_text("".join(json.dumps({"recv_ns": f.recv_ns, "raw": f.raw}) + "\n" for f in frames))
    return path


def test_recording_plays_into_markets_books_trades_and_lifecycle(tmp_path: Path) -> None:
    rec = _write(tmp_path / "tape.jsonl", _tape())
    with Simulator(recordings=[rec], speed=0, loop=False) as s:
        eventually(lambda: s.tape_stats()["finished"], what="the tape to finish")
        stats = s.tape_stats()
        assert stats["frames"] == 9 and stats["skipped"] == 1 and stats["passes"] == 1
        api = demo_api(s)
        a = api.get("/markets/KXTAPE-26DEC31-A").json()["market"]
        assert (a["status"], a["result"], a["price_level_structure"], a["title"]) == (
            "finalized",
            "yes",
            "tapered_deci_cent",
            "Tape A?",
        )
        assert a["event_ticker"] == "KXTAPE-26DEC31" and a["last_price_dollars"] == "0.9550"
        assert a["volume_fp"] == "102.00"
        b = api.get("/markets/KXTAPE-26DEC31-B/orderbook").json()["orderbook_fp"]
        assert b == {"yes_dollars": [["0.4000", "5.00"], ["0.4100", "4.00"]], "no_dollars": [["0.5500", "7.00"]]}
        assert s.market_status("KXTAPE-26DEC31-B") == "inactive"
        trades = api.get("/markets/trades", params={"ticker": "KXTAPE-26DEC31-A"}).json()["trades"]
        assert [(t["yes_price_dollars"], t["count_fp"]) for t in trades] == [("0.9550", "2.00")]


def test_ticker_sizes_default_when_the_tape_has_none(tmp_path: Path) -> None:
    rec = _write(tmp_path / "t.jsonl", [Frame(T0, _ticker("KXNOSIZE-1", "0.30", "0.32", 0))])
    with Simulator(recordings=[rec], speed=0, loop=False, unknown_size=7 * C) as s:
        eventually(lambda: s.tape_stats()["finished"])
        ob = demo_api(s).get("/markets/KXNOSIZE-1/orderbook").json()["orderbook_fp"]
        assert ob == {"yes_dollars": [["0.3000", "7.00"]], "no_dollars": [["0.6800", "7.00"]]}


def test_tape_quotes_reach_websocket_clients_and_orders_trade_against_them(tmp_path: Path) -> None:
    frames = [Frame(T0 + i * MS, _ticker("KXLIVE-1", f"0.{40 + i % 5}00", f"0.{50 + i % 5}00", i)) for i in range(50)]
    rec = _write(tmp_path / "live.jsonl", frames)
    with Simulator(recordings=[rec], speed=0, loop=False) as s:
        eventually(lambda: s.tape_stats()["finished"])
        api = demo_api(s)
        with api.ws() as w:
            (sid,) = w.subscribe(["ticker"], ["KXLIVE-1"], send_initial_snapshot=True)
            m = w.expect_type("ticker", sid=sid)["msg"]
            assert (m["yes_bid_dollars"], m["yes_ask_dollars"]) == ("0.4400", "0.5400")
        r = api.create("KXLIVE-1", "bid", "0.60", "1")
        assert r.json()["average_fill_price"] == "0.540000"


class VirtualClock:
    """A monotonic clock that moves only when the feed sleeps: pacing is checked exactly, whatever the load."""

    def __init__(self) -> None:
        self.ns = 5 * 10**9
        self.sleeps = 0

    def now(self) -> int:
        return self.ns

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.ns += round(seconds * 1e9)
        await asyncio.sleep(0)


class TimedFeed(Feed):
    """A Feed that notes the (virtual) time at which it applies each frame, and pauses itself after
    ``pause_after`` frames."""

    def __init__(self, clock: VirtualClock, *args: Any, pause_after: int = 0, **kw: Any) -> None:
        super().__init__(*args, clock_ns=clock.now, sleep=clock.sleep, **kw)
        self.clock = clock
        self.pause_after = pause_after
        self.applied_at: list[int] = []

    def apply(self, raw: str) -> None:
        self.applied_at.append(self.clock.ns)
        super().apply(raw)
        if self.frames == self.pause_after:
            self.pause()


@pytest.mark.parametrize("speed", [0, 1.0, 4.0, 0.5])
def test_speed_scales_tape_time(speed: float) -> None:
    frames = [Frame(T0 + i * 250 * MS, _ticker("KXSPEED-1", "0.40", "0.50", i)) for i in range(5)]  # 1 s of tape

    async def run() -> TimedFeed:
        feed = TimedFeed(VirtualClock(), Exchange(), lambda _n: frames, speed=speed, loop=False)
        await feed.run()
        return feed

    feed = asyncio.run(run())
    assert feed.frames == 5
    start = feed.applied_at[0]
    offsets = [t - start for t in feed.applied_at]
    if speed == 0:  # as fast as the clients read: no pacing at all
        assert offsets == [0] * 5 and feed.clock.sleeps == 0
    else:  # frame i of the tape (at i x 250 ms) is applied at i x 250 ms / speed
        assert offsets == [round(i * 250 * MS / speed) for i in range(5)]


def test_a_pause_shifts_the_rest_of_the_tape_by_its_length() -> None:
    frames = [Frame(T0 + i * 100 * MS, _ticker("KXPAUSE-2", "0.40", "0.50", i)) for i in range(6)]

    async def run() -> TimedFeed:
        feed = TimedFeed(VirtualClock(), Exchange(), lambda _n: frames, speed=1.0, loop=False, pause_after=3)
        task = asyncio.create_task(feed.run())
        while not feed.paused or feed.frames < 3:
            await asyncio.sleep(0)
        for _ in range(10):  # the feed waits for resume() and applies nothing
            await asyncio.sleep(0)
        assert feed.frames == 3
        feed.clock.ns += 7 * 10**9  # seven seconds paused
        feed.resume()
        await asyncio.wait_for(task, 5)
        return feed

    feed = asyncio.run(run())
    offsets = [t - feed.applied_at[0] for t in feed.applied_at]
    assert offsets == [0, 100 * MS, 200 * MS, 7_300 * MS, 7_400 * MS, 7_500 * MS]


def test_pause_and_resume_the_tape() -> None:
    frames = [Frame(T0 + i * MS, _ticker("KXPAUSE-1", "0.40", "0.50", i)) for i in range(20)]

    async def run() -> tuple[int, int]:
        feed = Feed(Exchange(), lambda _n: frames, speed=0, loop=False)
        feed.pause()
        task = asyncio.create_task(feed.run())
        for _ in range(20):
            await asyncio.sleep(0)
        during = feed.frames
        feed.resume()
        await asyncio.wait_for(task, 5)
        return during, feed.frames

    assert asyncio.run(run()) == (0, 20)


def test_loop_replays_the_tape() -> None:
    frames = [Frame(T0 + i * MS, _ticker("KXLOOP-1", "0.40", "0.50", i)) for i in range(3)]
    with Simulator(tape=lambda _n: frames, speed=0, loop=True) as s:
        eventually(lambda: s.tape_stats()["passes"] >= 3, what="three passes")
        s.pause_tape()
        assert s.tape_stats()["paused"] is True
        s.resume_tape()


def test_synthetic_tape_makes_markets_that_trade_and_settle() -> None:
    with Simulator(synthetic={"markets": 2, "duration_s": 20, "rate_hz": 5, "seed": 3}, speed=0, loop=False) as s:
        eventually(lambda: s.tape_stats()["finished"], what="the synthetic tape to finish")
        markets = demo_api(s).get("/markets").json()["markets"]
        assert len(markets) == 2
        assert {m["status"] for m in markets} == {"finalized"} and {m["result"] for m in markets} <= {"yes", "no"}
        assert all(m["price_level_structure"] in ("linear_cent", "tapered_deci_cent") for m in markets)
        assert demo_api(s).get("/markets/trades").json()["trades"]


def test_synthetic_tape_streams_in_real_time() -> None:
    with Simulator(synthetic={"markets": 3, "duration_s": 120, "rate_hz": 10}, speed=1.0) as s:
        eventually(lambda: s.markets(), what="the first market")
        with demo_api(s).ws() as w:
            (sid,) = w.subscribe(["ticker"])
            f = w.expect_type("ticker", sid=sid, timeout=10)
            assert f["msg"]["market_ticker"].startswith("KXSYN")


def test_source_choices_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Simulator(recordings=[tmp_path], synthetic=True)
    with pytest.raises(FileNotFoundError):
        Simulator(recordings=[tmp_path / "missing.jsonl"])
    with pytest.raises(ValueError):
        Simulator(speed=-1)


# ---------------------------------------------------------------------------- real captured data
def test_real_orderbook_capture_rebuilds_the_same_books(realdata: Path) -> None:
    path = realdata / "kalshi_cockpit" / "ws_orderbook_stream.json"
    doc = json.loads(path.read_text())
    expected: dict[str, OrderBook] = {}
    dec = FrameDecoder()
    for item in doc["frames"]:
        ev = dec.decode(json.dumps(item["frame"]))
        if isinstance(ev, BookSnapshot):
            expected.setdefault(ev.ticker, OrderBook(ev.ticker)).apply_snapshot(ev)
        elif isinstance(ev, BookDelta):
            expected[ev.ticker].apply_delta(ev)
    with Simulator(recordings=[path], speed=0, loop=False) as s:
        eventually(lambda: s.tape_stats()["finished"], what="the capture to play")
        assert set(s.markets()) == set(expected)
        for t, book in expected.items():
            got = s.book(t)
            assert (got.yes, got.no) == (book.yes, book.no)


def test_real_ticker_and_trade_frames_of_both_eras(realdata: Path) -> None:
    paths = [realdata / "ssmd" / "kalshi_ticker.jsonl", realdata / "ssmd" / "kalshi_trade.jsonl"]
    with Simulator(recordings=paths, speed=0, loop=False) as s:
        eventually(lambda: s.tape_stats()["finished"], what="the ssmd frames to play")
        assert s.tape_stats()["frames"] == 20
        markets = demo_api(s).get("/markets", params={"limit": 1000}).json()["markets"]
        assert len(markets) >= 2
        assert any(m["yes_bid_dollars"] != "0.0000" for m in markets)


def test_real_legacy_ticker_feed(realdata: Path) -> None:
    path = realdata / "codetilldawn_datafeed" / "DataFeed_Ticker.json"
    with Simulator(recordings=[path], speed=0, loop=False) as s:
        eventually(lambda: s.tape_stats()["finished"], what="the legacy feed to play")
        m = demo_api(s).get("/markets/KXGREENLAND-29").json()["market"]
        assert m["yes_bid_dollars"] != "0.0000" or m["yes_ask_dollars"] != "1.0000"
