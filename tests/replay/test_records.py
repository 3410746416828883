"""Records: the same records, columns and None handling whether few (kept as objects) or many (kept as columns)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from kalshikit.replay.records import NONE, Records


@dataclass(frozen=True)
class Rec:
    ticker: str
    count: int
    price: int | None


def _records(n: int) -> tuple[Records[Rec], list[Rec]]:
    recs = [Rec(f"T{i % 7}", i, None if i % 3 == 0 else 100 + i) for i in range(n)]
    out: Records[Rec] = Records(Rec, ("count", "price"), ("ticker",))
    for r in recs:
        out.append(r)
    return out, recs


@pytest.mark.parametrize("n", [0, 1, Records.SMALL - 1, Records.SMALL, Records.SMALL + 1, 3 * Records.SMALL + 5])
def test_records_read_back_as_appended_below_and_past_the_column_threshold(n: int) -> None:
    out, recs = _records(n)
    assert len(out) == n and bool(out) == (n > 0)
    assert list(out) == recs and out == recs
    if n:
        assert out[0] == recs[0] and out[-1] == recs[-1]
    assert out.ints("count").dtype == np.int64
    assert out.ints("count").tolist() == [r.count for r in recs]
    assert out.ints("price").tolist() == [NONE if r.price is None else r.price for r in recs]
    assert out.refs("ticker") == [r.ticker for r in recs]


def test_records_refuse_an_index_out_of_range_and_an_unknown_field() -> None:
    out, _ = _records(3)
    with pytest.raises(IndexError):
        out[3]
    with pytest.raises(KeyError):
        out.ints("ticker")
    with pytest.raises(KeyError):
        out.refs("count")
