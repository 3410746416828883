"""The synthetic generator's sports mode: Kalshi-shaped game markets, mirrored pairs, valid and sequenced frames,
reproducible, and written recordings read back identically."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path

import pytest

from kalshikit.core.events import Lifecycle, Quote, Trade
from kalshikit.errors import RecordingError
from kalshikit.kalshi.messages import FrameDecoder
from kalshikit.recording import read_frames, read_header
from kalshikit.recording.synthetic import (
    DEFAULT_START_NS,
    NBA_TEAMS,
    SyntheticGameMarket,
    synthetic_frames,
    synthetic_markets,
    write_synthetic_recording,
)
from kalshikit.strategy.matching import ticker_start, title_teams

NS = 1_000_000_000


def test_game_markets_look_like_kalshis() -> None:
    ms = synthetic_markets(6, 600, sports=True)
    assert len(ms) == 6 and all(isinstance(m, SyntheticGameMarket) for m in ms)
    lal, bos = ms[0], ms[1]
    # 2026-05-11T14:00Z = 10:00 ET; the game starts halfway through the 600 s tape, at 10:05 ET
    assert lal.event_ticker == bos.event_ticker == "KXNBAGAME-26MAY111005LALBOS"
    assert (lal.ticker, bos.ticker) == ("KXNBAGAME-26MAY111005LALBOS-LAL", "KXNBAGAME-26MAY111005LALBOS-BOS")
    assert lal.title == bos.title == "Los Angeles L at Boston"
    assert (lal.yes_sub_title, bos.yes_sub_title) == ("Los Angeles L", "Boston")
    assert (lal.team_full, lal.home_team, lal.away_team) == (
        "Los Angeles Lakers",
        "Boston Celtics",
        "Los Angeles Lakers",
    )
    assert lal.commence_ns == DEFAULT_START_NS + 300 * NS
    assert ticker_start(lal.event_ticker) == (lal.commence_ns, True)
    assert lal.initial_price + bos.initial_price == 10_000
    teams = [m.yes_sub_title for m in ms]
    assert len(set(teams)) == 6  # no team plays twice
    known = {short for _, short, _ in NBA_TEAMS}
    for m in ms:
        assert m.yes_sub_title in known
        assert title_teams(m.title) is not None
        assert m.ticker.endswith("-" + next(code for code, short, _ in NBA_TEAMS if short == m.yes_sub_title))


def test_frames_are_valid_mirrored_and_sequenced() -> None:
    frames = list(synthetic_frames(6, 300, seed=4, sports=True))
    dec = FrameDecoder()
    decoded = [dec.decode(f.raw, f.recv_ns) for f in frames]
    assert dec.malformed == 0 and not dec.unknown_types
    assert [f.line for f in frames] == list(range(1, len(frames) + 1))
    assert all(a.recv_ns <= b.recv_ns for a, b in itertools.pairwise(frames))
    ms = synthetic_markets(6, 300, seed=4, sports=True)
    twin = {ms[i].ticker: ms[i + 1].ticker for i in range(0, 6, 2)}
    seqs = [json.loads(f.raw)["seq"] for f in frames if '"market_lifecycle_v2"' in f.raw]
    assert seqs == list(range(1, len(seqs) + 1))
    quotes = [(i, q) for i, q in enumerate(decoded) if isinstance(q, Quote)]
    assert {q.ticker for _, q in quotes} == {m.ticker for m in ms}
    mirrored = 0
    for i, q in quotes:
        if q.ticker in twin:
            other = decoded[i + 1]
            assert isinstance(other, Quote) and other.ticker == twin[q.ticker]
            assert other.yes_bid == 10_000 - q.yes_ask if q.yes_ask is not None else other.yes_bid in (None, 0)
            assert other.yes_ask == 10_000 - q.yes_bid if q.yes_bid else other.yes_ask in (None, 10_000)
            assert (other.yes_bid_size, other.yes_ask_size) == (q.yes_ask_size, q.yes_bid_size)
            mirrored += 1
    assert mirrored > 50
    results: dict[str, str] = {}
    events: dict[str, list[str]] = defaultdict(list)
    for x in decoded:
        if isinstance(x, Lifecycle):
            events[x.ticker].append(x.event_type)
            if x.event_type == "determined":
                results[x.ticker] = x.result or ""
    assert all(v == ["created", "determined", "settled"] for v in events.values())
    for a, b in twin.items():
        assert {results[a], results[b]} == {"yes", "no"}
    assert any(isinstance(x, Trade) for x in decoded)


def test_reproducible_and_argument_checks(tmp_path: Path) -> None:
    a = list(synthetic_frames(4, 120, seed=9, sports=True))
    assert a == list(synthetic_frames(4, 120, seed=9, sports=True))
    assert a != list(synthetic_frames(4, 120, seed=10, sports=True))
    with pytest.raises(RecordingError, match="legacy"):
        synthetic_frames(4, sports=True, legacy=True)
    with pytest.raises(RecordingError, match="must be even"):
        synthetic_markets(5, sports=True)
    with pytest.raises(RecordingError, match=r"2\.\.30"):
        synthetic_frames(32, sports=True)
    paths = write_synthetic_recording(tmp_path, markets=4, duration_s=120, seed=9, sports=True)
    header = read_header(paths[0])
    assert "sports=True" in header.note
    assert set(header.subscriptions["market_tickers"]) == {m.ticker for m in synthetic_markets(4, 120, 9, sports=True)}
    back = list(read_frames(tmp_path))
    assert [(f.recv_ns, f.raw) for f in back] == [(f.recv_ns, f.raw) for f in a]
