"""The sans-I/O Kalshi WebSocket session: real captured production and demo traffic replayed through it (no false
sequence gaps, books equal to an independent reconstruction from the frames, a really lost delta recovered by a
snapshot), and scripted fault sequences (add_markets, gaps, terminal channel errors, refused subscribes and their
backoff, command timeouts, reconnects). No sockets, no threads, no clock: time is an argument."""

from __future__ import annotations

import copy
import itertools
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshikit.core.events import Fill, Lifecycle, Quote
from kalshikit.kalshi.messages import FrameDecoder
from kalshikit.kalshi.ws_session import ACCOUNT_CHANNELS, WsSession, backoff_delay_ns

S = 1_000_000_000
T0 = 1_000 * S
Books = dict[str, dict[str, dict[int, int]]]


# ---------------------------------------------------------------------------- helpers
class Wire:
    """Feeds raw frames to a session (through the kit's own decoder) and collects the commands it sends."""

    def __init__(self, session: WsSession) -> None:
        self.session = session
        self.decoder = FrameDecoder()
        self.sent: list[dict[str, Any]] = []
        self.out: list[object] = []

    def feed(self, frame: dict[str, Any] | str, now: int = T0) -> object:
        raw = frame if isinstance(frame, str) else json.dumps(frame)
        result = self.session.receive(self.decoder.decode(raw, now), now)
        if result is not None:
            self.out.append(result)
        self.collect()
        return result

    def poll(self, now: int) -> list[dict[str, Any]]:
        self.session.poll(now)
        return self.collect()

    def collect(self) -> list[dict[str, Any]]:
        new = [json.loads(t) for t in self.session.data_to_send()]
        self.sent.extend(new)
        return new


def session(**kw: Any) -> WsSession:
    kw.setdefault("account_channels", ())
    kw.setdefault("rng", random.Random(7))
    return WsSession(**kw)


def subscribed(cid: int, channel: str, sid: int) -> dict[str, Any]:
    return {"type": "subscribed", "id": cid, "msg": {"channel": channel, "sid": sid}}


def ok(cid: int, sid: int, seq: int, tickers: list[str]) -> dict[str, Any]:
    return {"type": "ok", "id": cid, "sid": sid, "seq": seq, "msg": {"market_tickers": sorted(tickers)}}


def snapshot(sid: int, seq: int, ticker: str, yes: dict[int, int], no: dict[int, int], cid: int = 0) -> dict[str, Any]:
    msg: dict[str, Any] = {"market_ticker": ticker}
    if yes:
        msg["yes_dollars_fp"] = [[_dollars(p), _fp(c)] for p, c in sorted(yes.items())]
    if no:
        msg["no_dollars_fp"] = [[_dollars(p), _fp(c)] for p, c in sorted(no.items())]
    f: dict[str, Any] = {"type": "orderbook_snapshot", "sid": sid, "seq": seq, "msg": msg}
    if cid:
        f["id"] = cid
    return f


def delta(sid: int, seq: int, ticker: str, side: str, price: int, count: int) -> dict[str, Any]:
    return {
        "type": "orderbook_delta",
        "sid": sid,
        "seq": seq,
        "msg": {"market_ticker": ticker, "price_dollars": _dollars(price), "delta_fp": _fp(count), "side": side},
    }


def error(cid: int, code: int, sid: int = 0) -> dict[str, Any]:
    f: dict[str, Any] = {"type": "error", "id": cid, "msg": {"code": code, "msg": "scripted"}}
    if sid:
        f["sid"] = sid
    return f


def lifecycle(sid: int, seq: int, ticker: str) -> dict[str, Any]:
    msg = {"market_ticker": ticker, "event_type": "activated"}
    return {"type": "market_lifecycle_v2", "sid": sid, "seq": seq, "msg": msg}


def _dollars(price: int) -> str:
    return f"{Decimal(price) / 10_000:.4f}"


def _fp(count: int) -> str:
    return f"{Decimal(count) / 100:.2f}"


def commands(sent: list[dict[str, Any]], cmd: str, action: str | None = None) -> list[dict[str, Any]]:
    return [c for c in sent if c["cmd"] == cmd and (action is None or c["params"].get("action") == action)]


def book_levels(s: WsSession) -> Books:
    return {t: {"yes": dict(b.yes), "no": dict(b.no)} for t, b in s.books.items()}


# ---------------------------------------------------------------------------- real captures
def cockpit(realdata: Path) -> list[dict[str, Any]]:
    data = json.loads((realdata / "kalshi_cockpit" / "ws_orderbook_stream.json").read_text())
    return [f["frame"] for f in data["frames"]]


def demo(realdata: Path) -> list[dict[str, Any]]:
    text = (realdata / "kalshi_mm_demo_capture" / "session.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def btc(realdata: Path) -> list[dict[str, Any]]:
    lines = (realdata / "bot_btc_1hr_ws_frames" / "kalshi_ws_frames.jsonl").read_text().splitlines()
    return [json.loads(json.loads(line)["raw"]) for line in lines if line.strip()]


CAPTURES = {"production (kalshi_cockpit)": cockpit, "demo (kalshi_mm_demo_capture)": demo, "btc": btc}


def reference_books(frames: list[dict[str, Any]]) -> Books:
    """Books rebuilt straight from the JSON with Decimal arithmetic (independent of the kit's decoder and books)."""

    def levels(rows: list[list[str]] | None) -> dict[int, int]:
        return {int(Decimal(p) * 10_000): int(Decimal(c) * 100) for p, c in rows or ()}

    books: Books = {}
    for f in frames:
        m = f.get("msg")
        if f["type"] == "orderbook_snapshot":
            books[m["market_ticker"]] = {"yes": levels(m.get("yes_dollars_fp")), "no": levels(m.get("no_dollars_fp"))}
        elif f["type"] == "orderbook_delta" and m["market_ticker"] in books:
            side = books[m["market_ticker"]][m["side"]]
            price = int(Decimal(m["price_dollars"]) * 10_000)
            side[price] = side.get(price, 0) + int(Decimal(m["delta_fp"]) * 100)
            if side[price] <= 0:
                del side[price]
    return books


def replay(frames: list[dict[str, Any]]) -> Wire:
    w = Wire(session())
    for i, f in enumerate(frames):
        w.feed(f, T0 + i)
    return w


@pytest.mark.parametrize("capture", list(CAPTURES), ids=list(CAPTURES))
def test_real_capture_replays_with_no_false_gaps_and_the_right_books(realdata: Path, capture: str) -> None:
    frames = CAPTURES[capture](realdata)
    w = replay(frames)
    assert w.session.stats.seq_gaps == 0
    assert commands(w.sent, "update_subscription", "get_snapshot") == [], "no snapshot was asked for"
    want = reference_books(frames)
    assert want and book_levels(w.session) == want


def test_production_capture_counts_every_ok_and_keeps_each_added_markets_snapshot(realdata: Path) -> None:
    frames = cockpit(realdata)
    assert sum(f["type"] == "ok" for f in frames) == 11  # 11 add_markets, each answered by a sequenced ok
    w = replay(frames)
    snapshots = [f["msg"]["market_ticker"] for f in frames if f["type"] == "orderbook_snapshot"]
    assert sorted(w.session.books) == sorted(snapshots) and len(snapshots) == 12
    (sub,) = [s for s in w.session.subscriptions_by_sid.values() if s.channel == "orderbook_delta"]
    assert sub.last_seq == max(f.get("seq", 0) for f in frames)
    assert sorted(sub.markets) == sorted(snapshots)  # the last ok's full market list
    quotes = [q for q in w.out if isinstance(q, Quote)]
    assert len(quotes) == sum(f["type"] in ("orderbook_snapshot", "orderbook_delta") for f in frames)


def test_real_error_replies_are_counted_without_touching_the_books(realdata: Path) -> None:
    w = replay(btc(realdata))
    assert w.session.stats.error_replies == 3 and "Unknown channel name" in w.session.stats.last_error
    assert len(w.session.books) == 8


def _drop_and_answer(frames: list[dict[str, Any]], lost: int, answer_at: int, answers: list[dict[str, Any]]) -> list[
    dict[str, Any]
]:
    """The stream as a client sees it when frame ``lost`` never arrives and the server's ``answers`` (already
    numbered) are sent before frame ``answer_at``; later frames of the sid are renumbered after them."""
    out = [copy.deepcopy(f) for i, f in enumerate(frames[:answer_at]) if i != lost]
    out.extend(answers)
    for f in frames[answer_at:]:
        f = copy.deepcopy(f)
        if f.get("sid") == 1 and f.get("seq"):
            f["seq"] += len(answers)
        out.append(f)
    return out


@pytest.mark.parametrize("capture", ["production (kalshi_cockpit)", "demo (kalshi_mm_demo_capture)"])
def test_a_real_delta_lost_in_transit_is_noticed_and_the_book_is_resnapshotted(realdata: Path, capture: str) -> None:
    frames = CAPTURES[capture](realdata)
    truth = reference_books(frames)
    deltas = [i for i, f in enumerate(frames) if f["type"] == "orderbook_delta"]
    # the first delta (after a few) whose loss leaves a wrong book at the end if nothing is done about it
    lost = next(i for i in deltas[5:] if reference_books(frames[:i] + frames[i + 1 :]) != truth)
    ticker = frames[lost]["msg"]["market_ticker"]
    # what the session does: it sees the next sequenced frame, notices the gap and asks for snapshots
    w = Wire(session())
    for i, f in enumerate(frames[: lost + 2]):
        if i != lost:
            w.feed(f, T0 + i)
    assert w.session.stats.seq_gaps == 1
    (ask,) = commands(w.sent, "update_subscription", "get_snapshot")
    (sub,) = [s for s in w.session.subscriptions_by_sid.values() if s.channel == "orderbook_delta"]
    assert ask["params"]["sid"] == 1 and sorted(ask["params"]["market_tickers"]) == sorted(sub.markets)
    assert ticker not in w.session.books, "the book that missed a delta is not used"
    # the server answers a few frames later with snapshots (carrying the command id) of the books as they are then
    answer_at = lost + 6
    base = frames[answer_at - 1]["seq"]
    now = reference_books(frames[:answer_at])
    answers = [
        snapshot(1, base + k + 1, t, now[t]["yes"], now[t]["no"], cid=ask["id"])
        for k, t in enumerate(sorted(ask["params"]["market_tickers"]))
        if t in now
    ]
    stream = _drop_and_answer(frames, lost, answer_at, answers)
    w = Wire(session())
    for i, f in enumerate(stream):
        w.feed(f, T0 + i)
        if i == lost + 3:
            assert ticker not in w.session.books, "deltas for an invalid book are dropped until its snapshot"
    assert w.session.stats.seq_gaps == 1 and len(commands(w.sent, "update_subscription", "get_snapshot")) == 1
    assert book_levels(w.session) == truth
    naive = reference_books(frames[:lost] + frames[lost + 1 :])  # every delta that came, no new snapshot
    assert naive[ticker] != truth[ticker], "the lost delta mattered"


# ---------------------------------------------------------------------------- scripted: subscriptions and seq
def connected(w: Wire, tickers: list[str], depth: list[str] | None = None, now: int = T0) -> list[dict[str, Any]]:
    w.session.set_markets(tickers, depth if depth is not None else tickers)
    w.session.connection_made()
    return w.poll(now)


def test_connecting_subscribes_account_channels_first_then_the_watched_markets() -> None:
    w = Wire(session(account_channels=ACCOUNT_CHANNELS))
    sent = connected(w, ["A", "B"], ["B"])
    assert [c["params"]["channels"] for c in sent] == [[ch] for ch in (*ACCOUNT_CHANNELS, "ticker", "orderbook_delta")]
    assert [c["id"] for c in sent] == list(range(1, len(sent) + 1))
    tick, book = sent[-2:]
    assert tick["params"] == {"channels": ["ticker"], "market_tickers": ["A", "B"], "send_initial_snapshot": True}
    assert book["params"] == {"channels": ["orderbook_delta"], "market_tickers": ["B"]}
    assert all("market_tickers" not in c["params"] for c in sent[:-2])
    assert w.poll(T0 + S) == [], "nothing is sent twice while the replies are pending"


def test_all_markets_and_extra_channels() -> None:
    w = Wire(session(all_markets=True, extra_channels=("trade",), account_channels=("market_lifecycle_v2",)))
    sent = connected(w, [], [])
    assert [(c["params"]["channels"], "market_tickers" in c["params"]) for c in sent] == [
        (["market_lifecycle_v2"], False),
        (["ticker"], False),
        (["trade"], False),
    ]
    w2 = Wire(session(extra_channels=("trade",)))
    sent = connected(w2, ["A"], [])
    assert [(c["params"]["channels"], c["params"].get("market_tickers")) for c in sent] == [
        (["ticker"], ["A"]),
        (["trade"], ["A"]),
    ]


def test_add_markets_on_orderbook_keeps_the_new_markets_snapshot() -> None:
    """Point 1: Kalshi answers add_markets with an ok that takes a seq, then the new market's snapshot."""
    w = Wire(session())
    (sub,) = connected(w, ["A"], ["A"])[1:]
    w.feed(subscribed(sub["id"], "orderbook_delta", 1))
    w.feed(snapshot(1, 1, "A", {4_000: 500}, {5_000: 300}))
    w.session.set_markets(["A", "B"], ["A", "B"])
    sent = w.poll(T0 + S)
    add = next(c for c in sent if c["params"].get("channels") != ["ticker"] and c["params"].get("sid") == 1)
    assert add["params"] == {"sid": 1, "action": "add_markets", "market_tickers": ["B"]}
    w.feed(ok(add["id"], 1, 2, ["A", "B"]))
    q = w.feed(snapshot(1, 3, "B", {3_000: 100}, {6_500: 200}))
    w.feed(delta(1, 4, "B", "yes", 3_100, 50))
    assert w.session.stats.seq_gaps == 0 and commands(w.sent, "update_subscription", "get_snapshot") == []
    assert book_levels(w.session)["B"] == {"yes": {3_000: 100, 3_100: 50}, "no": {6_500: 200}}
    assert isinstance(q, Quote) and (q.ticker, q.yes_bid, q.yes_ask) == ("B", 3_000, 3_500)
    assert w.session.subscriptions["orderbook_delta"] == ["A", "B"]


def test_ok_unsubscribed_and_unknown_sequenced_types_all_count() -> None:
    w = Wire(session(account_channels=("market_lifecycle_v2",)))
    (life,) = connected(w, [], [])
    w.feed(subscribed(life["id"], "market_lifecycle_v2", 3))
    w.feed(lifecycle(3, 1, "A"))
    event_lifecycle = {"type": "event_lifecycle", "sid": 3, "seq": 2, "msg": {"event_ticker": "E"}}
    assert w.feed(event_lifecycle) is None  # a type the kit does not decode still takes its seq
    out = w.feed(lifecycle(3, 3, "A"))
    assert isinstance(out, Lifecycle) and w.session.stats.seq_gaps == 0
    w.feed(ok(99, 3, 4, []))
    w.feed(lifecycle(3, 5, "A"))
    assert w.session.stats.seq_gaps == 0
    w.feed(lifecycle(3, 7, "A"))  # 6 is missing: a gap, counted, but there is no book to rebuild
    assert w.session.stats.seq_gaps == 1 and commands(w.sent, "update_subscription") == []


def test_channels_whose_data_has_no_seq_are_not_gap_checked() -> None:
    w = Wire(session())
    (tick,) = connected(w, ["A"], [])
    w.feed(subscribed(tick["id"], "ticker", 4))
    w.feed(ok(50, 4, 7, ["A"]))
    w.feed(ok(51, 4, 3, ["A"]))
    assert w.session.stats.seq_gaps == 0


def _book_session() -> tuple[Wire, int]:
    w = Wire(session(account_channels=("market_lifecycle_v2",)))
    life, _tick, book = connected(w, ["X", "Y"], ["X", "Y"])
    w.feed(subscribed(life["id"], "market_lifecycle_v2", 1))
    w.feed(subscribed(book["id"], "orderbook_delta", 2))
    w.feed(snapshot(2, 1, "X", {4_000: 100}, {5_500: 100}))
    w.feed(snapshot(2, 2, "Y", {2_000: 100}, {7_500: 100}))
    return w, 3


def test_a_gap_on_another_sid_leaves_the_books_alone() -> None:
    w, _ = _book_session()
    w.feed(lifecycle(1, 1, "X"))
    w.feed(lifecycle(1, 3, "X"))
    assert w.session.stats.seq_gaps == 1 and sorted(w.session.books) == ["X", "Y"]
    assert commands(w.sent, "update_subscription", "get_snapshot") == []


def test_a_gap_invalidates_the_sids_books_until_their_snapshots_arrive() -> None:
    """Point 4 (scripted): deltas after a gap are dropped until a snapshot replaces the invalid book."""
    w, seq = _book_session()
    w.feed(delta(2, seq, "X", "yes", 4_100, 100))
    w.feed(delta(2, seq + 2, "X", "yes", 4_200, 100))  # seq + 1 was lost
    (ask,) = commands(w.sent, "update_subscription", "get_snapshot")
    assert ask["params"] == {"sid": 2, "action": "get_snapshot", "market_tickers": ["X", "Y"]}
    assert w.session.books == {} and w.session.stats.snapshot_requests == 1
    assert w.feed(delta(2, seq + 3, "X", "yes", 4_300, 100)) is None
    q = w.feed(snapshot(2, seq + 4, "X", {4_000: 100, 4_100: 100, 4_200: 100, 4_300: 100}, {5_500: 100}, ask["id"]))
    assert isinstance(q, Quote) and q.yes_bid == 4_300
    w.feed(delta(2, seq + 5, "X", "yes", 4_300, -100))
    w.feed(delta(2, seq + 6, "Y", "no", 7_600, 100))  # Y is still waiting for its snapshot
    assert book_levels(w.session) == {"X": {"yes": {4_000: 100, 4_100: 100, 4_200: 100}, "no": {5_500: 100}}}
    w.feed(snapshot(2, seq + 7, "Y", {2_000: 100}, {7_500: 100, 7_600: 100}, ask["id"]))
    w.feed(ok(ask["id"], 2, seq + 8, ["X", "Y"]))
    assert sorted(w.session.books) == ["X", "Y"] and w.session.stats.seq_gaps == 1
    # a second gap while nothing is outstanding asks again
    w.feed(delta(2, seq + 10, "Y", "no", 7_600, -100))
    assert len(commands(w.sent, "update_subscription", "get_snapshot")) == 2 and w.session.stats.seq_gaps == 2


def test_a_snapshot_that_never_comes_is_asked_for_again_after_a_timeout() -> None:
    w, seq = _book_session()
    w.feed(delta(2, seq + 1, "X", "yes", 4_100, 100), T0)
    assert len(commands(w.sent, "update_subscription", "get_snapshot")) == 1
    w.feed(delta(2, seq + 3, "X", "yes", 4_100, 100), T0 + S)  # another gap: the request is still outstanding
    assert len(commands(w.sent, "update_subscription", "get_snapshot")) == 1 and w.session.stats.seq_gaps == 2
    assert w.poll(T0 + 5 * S) == []
    again = w.poll(T0 + 11 * S)
    assert [c["params"] for c in again] == [{"sid": 2, "action": "get_snapshot", "market_tickers": ["X", "Y"]}]


def test_delete_markets_drops_their_books_and_an_empty_set_unsubscribes() -> None:
    w, seq = _book_session()  # the ticker subscribe is still unanswered: that channel waits for its reply
    w.session.set_markets(["X"], ["X"])
    (book_del,) = w.poll(T0 + S)
    assert book_del["params"] == {"sid": 2, "action": "delete_markets", "market_tickers": ["Y"]}
    assert sorted(w.session.books) == ["X"]
    w.feed(ok(book_del["id"], 2, seq, ["X"]))
    assert w.session.subscriptions["orderbook_delta"] == ["X"]
    w.session.set_markets([], [])
    (unsub,) = w.poll(T0 + 2 * S)
    assert (unsub["cmd"], unsub["params"]) == ("unsubscribe", {"sids": [2]})
    assert "orderbook_delta" not in w.session.subscriptions and w.session.books == {}
    w.feed(delta(2, seq + 1, "X", "yes", 4_100, 100))  # in flight before the unsubscribe: ignored
    w.feed({"type": "unsubscribed", "id": unsub["id"], "sid": 2, "seq": seq + 2})
    assert w.session.books == {} and w.session.stats.seq_gaps == 0


# ---------------------------------------------------------------------------- scripted: errors and backoff
def _account_session() -> tuple[Wire, dict[str, int]]:
    w = Wire(session(account_channels=ACCOUNT_CHANNELS))
    sent = connected(w, [], [])
    sids = {}
    for sid, c in enumerate(sent, start=10):
        (channel,) = c["params"]["channels"]
        w.feed(subscribed(c["id"], channel, sid))
        sids[channel] = sid
    return w, sids


@pytest.mark.parametrize("channel", ["fill", "user_orders", "market_positions", "market_lifecycle_v2"])
@pytest.mark.parametrize("code", [10, 25])
def test_terminal_error_on_an_account_channel_resubscribes_it_with_backoff(channel: str, code: int) -> None:
    """Point 2: after error 10 or 25 the subscription is made again (not left to the REST reconcile)."""
    w, sids = _account_session()
    w.feed(error(0, code, sids[channel]), T0)
    assert channel not in w.session.subscriptions
    assert w.poll(T0) == [] and w.poll(T0 + S * 7 // 10) == [], "not at once: with backoff"
    (again,) = w.poll(T0 + S * 13 // 10)
    assert again["cmd"] == "subscribe" and again["params"] == {"channels": [channel]}
    w.feed(subscribed(again["id"], channel, 99), T0 + 2 * S)
    assert channel in w.session.subscriptions and w.session.stats.resubscribes == 1
    fill = {"type": "fill", "sid": 99, "msg": {"trade_id": "t", "order_id": "o", "market_ticker": "A",
                                                "yes_price_dollars": "0.5000", "count_fp": "1.00", "side": "yes",
                                                "action": "buy", "is_taker": True, "ts_ms": 1}}
    if channel == "fill":
        assert isinstance(w.feed(fill), Fill)


def test_terminal_errors_that_keep_coming_back_off_exponentially() -> None:
    w, sids = _account_session()
    sid, now, attempts = sids["fill"], T0, []
    for _ in range(8):
        w.feed(error(0, 10, sid), now)
        while True:
            now += S // 10
            sent = w.poll(now)
            if sent:
                break
        attempts.append(now)
        sid += 100
        w.feed(subscribed(sent[0]["id"], "fill", sid), now)
    waits = [b - a for a, b in zip([T0, *attempts], attempts, strict=False)]
    assert waits[1] > waits[0] * 1.3 and max(waits) <= 72 * S and waits[-1] >= 48 * S


def test_backoff_starts_over_after_two_quiet_max_delays() -> None:
    w, sids = _account_session()
    w.feed(error(0, 25, sids["fill"]), T0)
    (c,) = w.poll(T0 + 2 * S)
    w.feed(subscribed(c["id"], "fill", 50), T0 + 2 * S)
    w.feed(error(0, 25, 50), T0 + 3 * S)  # died again at once: the next wait is longer
    assert w.poll(T0 + 3 * S + S * 13 // 10) == []
    (c,) = w.poll(T0 + 6 * S)
    w.feed(subscribed(c["id"], "fill", 51), T0 + 6 * S)
    w.feed(error(0, 25, 51), T0 + 200 * S)  # no failure for two minutes (2 x 60 s): back to the first delay
    assert len(w.poll(T0 + 200 * S + S * 13 // 10)) == 1


def test_a_persistently_refused_ticker_subscribe_backs_off_instead_of_storming() -> None:
    """Point 3: error 26 (market limit) on every subscribe: attempts 1 s apart, doubling to 60 s, jittered."""
    w = Wire(session())
    w.session.set_markets(["A"], [])
    w.session.connection_made()
    attempts: list[int] = []
    now = T0
    while now < T0 + 600 * S:  # ten minutes, polled every 250 ms like the socket thread does
        for c in w.poll(now):
            assert c["cmd"] == "subscribe" and c["params"]["channels"] == ["ticker"]
            attempts.append(now)
            w.feed(error(c["id"], 26), now + S // 100)
        now += S // 4
    waits = [(b - a) / S for a, b in itertools.pairwise(attempts)]
    assert len(attempts) <= 20, f"{len(attempts)} subscribes in ten minutes"
    for n, wait in enumerate(waits):
        assert 0.8 * min(60, 2**n) <= wait <= 1.2 * min(60, 2**n) + 0.5, (n, wait)
    assert "market limit" in w.session.stats.last_error and w.session.stats.error_replies == len(attempts)
    assert w.session.stats.subscribe_retries == len(attempts) - 1
    # the limit goes away: the next attempt succeeds and the backoff starts over
    (c,) = w.poll(now + 61 * S)
    w.feed(subscribed(c["id"], "ticker", 5), now + 61 * S)
    assert w.session.subscriptions["ticker"] == ["A"]


@pytest.mark.parametrize("code", [26, 27])
def test_a_refused_add_markets_is_retried_with_backoff(code: int) -> None:
    w = Wire(session())
    (tick,) = connected(w, ["A"], [])
    w.feed(subscribed(tick["id"], "ticker", 4))
    w.session.set_markets(["A", "B"], [])
    (add,) = w.poll(T0)
    w.feed(error(add["id"], code, 4), T0)
    assert w.session.subscriptions["ticker"] == ["A"]
    assert w.poll(T0 + S // 2) == []
    (again,) = w.poll(T0 + 2 * S)
    assert again["params"] == add["params"] and again["id"] != add["id"]
    w.feed(ok(again["id"], 4, 0, ["A", "B"]))
    assert w.session.subscriptions["ticker"] == ["A", "B"]


def test_an_unanswered_subscribe_times_out_is_retried_and_a_late_duplicate_is_undone() -> None:
    w = Wire(session())
    (first,) = connected(w, ["A"], [])
    assert w.session.next_deadline() == T0 + 10 * S
    assert w.poll(T0 + 9 * S) == []
    assert w.poll(T0 + 10 * S) == [], "timed out: retried after the backoff, not at once"
    assert "timed out" in w.session.stats.last_error
    (retry,) = w.poll(T0 + 10 * S + S * 13 // 10)
    assert retry["params"] == first["params"] and retry["id"] != first["id"]
    assert w.session.stats.subscribe_retries == 1
    w.feed(subscribed(first["id"], "ticker", 1))  # the first reply was only late
    w.feed(subscribed(retry["id"], "ticker", 2))
    (undo,) = [c for c in w.sent if c["cmd"] == "unsubscribe"]
    assert (undo["cmd"], undo["params"]) == ("unsubscribe", {"sids": [1]})
    assert [s.sid for s in w.session.subscriptions_by_sid.values()] == [2]
    assert w.session.subscriptions == {"ticker": ["A"]}


def test_error_to_a_get_snapshot_asks_again_later() -> None:
    w, seq = _book_session()
    w.feed(delta(2, seq + 1, "X", "yes", 4_100, 100), T0)
    (ask,) = commands(w.sent, "update_subscription", "get_snapshot")
    w.feed(error(ask["id"], 27, 2), T0)
    assert w.poll(T0 + S // 2) == []
    (again,) = w.poll(T0 + 2 * S)
    assert again["params"]["action"] == "get_snapshot" and again["params"]["market_tickers"] == ["X", "Y"]


def test_a_reconnect_starts_over() -> None:
    w, seq = _book_session()
    w.feed(delta(2, seq + 1, "X", "yes", 4_100, 100))
    w.session.connection_made()
    assert w.session.books == {} and w.session.subscriptions == {}
    sent = w.poll(T0 + S)
    assert [c["params"]["channels"] for c in sent] == [["market_lifecycle_v2"], ["ticker"], ["orderbook_delta"]]
    assert sent[0]["id"] > 1, "command ids stay unique for the whole session"
    w.feed(subscribed(sent[2]["id"], "orderbook_delta", 1))
    w.feed(snapshot(1, 1, "X", {4_000: 100}, {}))  # seq starts over on the new sid
    assert w.session.stats.seq_gaps == 1 and "X" in w.session.books


def test_backoff_delay_is_exponential_jittered_and_capped() -> None:
    rng = random.Random(1)
    for attempt in range(12):
        d = backoff_delay_ns(attempt, S, 60 * S, rng)
        nominal = min(60 * S, S * 2**attempt)
        assert 0.8 * nominal <= d <= min(1.2 * nominal, 60 * S)
    with pytest.raises(ValueError, match="base"):
        backoff_delay_ns(0, 0, S, rng)


def test_bad_settings_are_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="retry_delay_ns"):
        WsSession(retry_delay_ns=0)
    with pytest.raises(ValueError, match="max_retry_delay_ns"):
        WsSession(retry_delay_ns=2 * S, max_retry_delay_ns=S)
    with pytest.raises(ValueError, match="channel"):
        WsSession(account_channels=("fills",))
