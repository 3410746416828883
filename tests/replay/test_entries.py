"""Entries tables (CSV and DataFrame, every bad-row error) and the first-two-sided entry policy."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from replay_tape import created, ns, ticker, write_recording

from kalshikit.errors import ConfigError
from kalshikit.replay import Entry, FirstTwoSided, load_entries, replay

A = "KXTEST-26JAN01-A"
B = "KXTEST-26JAN01-B"


def _iso(ms: float) -> str:
    return pd.Timestamp(ns(ms), unit="ns", tz="UTC").isoformat()


def test_csv_and_dataframe_give_the_same_entries(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "ticker": [B, A, A],
            "entry_time": [_iso(30), _iso(10), _iso(20)],
            "side": ["no", "YES", "yes"],
            "count": [1, 2.5, "0.01"],
            "entry_price": [None, 0.45, ""],
        }
    )
    path = tmp_path / "entries.csv"
    df.to_csv(path, index=False)
    want = [
        Entry(A, ns(10), "yes", 250, 4500),
        Entry(A, ns(20), "yes", 1, None),
        Entry(B, ns(30), "no", 100, None),
    ]
    assert load_entries(df) == want
    assert load_entries(path) == want
    naive = pd.DataFrame({"ticker": [A], "entry_time": ["2026-05-11 14:00:00"], "side": ["yes"], "count": [1]})
    assert load_entries(naive)[0].entry_ns == pd.Timestamp("2026-05-11T14:00:00Z").value  # naive times are UTC
    ints = pd.DataFrame({"ticker": [A, B], "entry_time": [ns(10), ns(20)], "side": ["yes", "no"], "count": [1, 1]})
    ints.to_csv(path, index=False)
    assert [e.entry_ns for e in load_entries(path)] == [ns(10), ns(20)]  # integer ns UTC


def test_a_csv_mixing_iso_times_and_integer_ns(tmp_path: Path) -> None:
    df = pd.DataFrame({"ticker": [A, B], "entry_time": [_iso(10), ns(20)], "side": ["yes", "no"], "count": [1, 1]})
    df.to_csv(tmp_path / "e.csv", index=False)
    assert [e.entry_ns for e in load_entries(tmp_path / "e.csv")] == [ns(10), ns(20)]


BAD_ROWS = [
    ({"side": "maybe"}, "row 2: side 'maybe' must be yes or no"),
    ({"ticker": ""}, "row 2: ticker is empty"),
    ({"entry_time": "not a time"}, "row 2: entry_time 'not a time' is not a time"),
    ({"count": 0}, "row 2: count 0 must be positive"),
    ({"count": -1}, "row 2: count -1 must be positive"),
    ({"count": "1.005"}, "row 2: count '1.005' must be positive with at most 2 decimals"),
    ({"count": "ten"}, "row 2: count 'ten' is not a number of contracts"),
    ({"entry_price": 1.2}, "row 2: entry_price 1.2 must be a price strictly between 0 and 1"),
    ({"entry_price": 0}, "row 2: entry_price 0.0 must be a price strictly between 0 and 1"),
    ({"entry_price": "0.12345"}, "row 2: entry_price '0.12345' must be a price strictly between 0 and 1"),
    ({"entry_price": "cheap"}, "row 2: entry_price 'cheap' is not a dollar price"),
]


@pytest.mark.parametrize(("change", "message"), BAD_ROWS, ids=[m for _, m in BAD_ROWS])
def test_every_bad_row_is_named_with_what_to_fix(change: dict[str, object], message: str) -> None:
    good = {"ticker": A, "entry_time": _iso(10), "side": "yes", "count": 1, "entry_price": 0.5}
    df = pd.DataFrame([good, {**good, **change}])
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_entries(df)


def test_missing_columns_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"lacks column\(s\) \['side', 'count'\]"):
        load_entries(pd.DataFrame({"ticker": [A], "entry_time": [1]}))
    with pytest.raises(ConfigError, match="does not exist"):
        load_entries(tmp_path / "nope.csv")


def _tape(tmp_path: Path) -> Path:
    return write_recording(
        tmp_path,
        [
            (0, created(A)),
            (0, created(B)),
            (10, ticker(A, 10, None, 0.40)),  # one-sided: no entry yet
            (20, ticker(B, 20, 0.60, 0.62)),
            (30, ticker(A, 30, 0.38, 0.40)),  # first two-sided quote of A
            (40, ticker(A, 40, 0.39, 0.41)),
            (50, ticker(B, 50, 0.61, 0.63)),
        ],
    )


def test_first_two_sided_policy_enters_each_market_once_at_its_first_two_sided_quote(tmp_path: Path) -> None:
    rec = _tape(tmp_path)
    r = replay(rec, policy=FirstTwoSided("yes", 200))
    opened = r.open_positions.set_index("ticker")
    assert opened.loc[A, "entry_ts"] == pd.Timestamp(ns(30), unit="ns", tz="UTC")
    assert opened.loc[A, "entry_price"] == 0.40  # the YES ask
    assert opened.loc[B, "entry_ts"] == pd.Timestamp(ns(20), unit="ns", tz="UTC")
    assert set(opened["count"]) == {2.0}
    no = replay(rec, policy=FirstTwoSided("no", 100, after_ns=ns(45), tickers=frozenset({B})))
    assert list(no.open_positions["ticker"]) == [B]
    row = no.open_positions.iloc[0]
    assert row["side"] == "no"
    assert row["entry_price"] == pytest.approx(1 - 0.61)  # NO ask = 1 - YES bid of the quote at 50 ms
    assert row["entry_ts"] == pd.Timestamp(ns(50), unit="ns", tz="UTC")


def test_policy_arguments_are_checked() -> None:
    with pytest.raises(ConfigError, match="side must be yes or no"):
        FirstTwoSided("up")
    with pytest.raises(ConfigError, match="count must be positive"):
        FirstTwoSided("yes", 0)


def test_entries_without_data_or_ask_are_skipped_with_a_reason(tmp_path: Path) -> None:
    rec = _tape(tmp_path)
    entries = [
        Entry(A, ns(15), "yes", 100),  # A has only an ask at 15 ms: a YES entry is fine
        Entry(B, ns(5), "yes", 100),  # before any quote of B
        Entry("KXTEST-26JAN01-NONE", ns(15), "yes", 100),  # no data at all
        Entry(A, ns(16), "no", 100),  # NO needs a YES bid: none at 16 ms
    ]
    r = replay(rec, entries=entries)
    assert any(reason.startswith("not in the data") for reason in r.skipped["reason"])
    assert len(r.open_positions) == 1  # A (yes) opened; B and A (no) could not be
    assert r.open_positions.iloc[0]["entry_price"] == 0.40


def test_every_skipped_entry_is_reported(tmp_path: Path) -> None:
    entries = [Entry(B, ns(5), "yes", 100), Entry(A, ns(16), "no", 100)]
    r = replay(_tape(tmp_path), entries=entries)
    assert sorted(r.skipped["reason"]) == ["no NO ask at entry time", "no quote at entry time"]


def test_replay_needs_entries_or_a_policy(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="give entries="):
        replay(_tape(tmp_path), stop=0.1)
