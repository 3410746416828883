"""Compact per-position records of a replay: a list-like of records kept as columns (machine ints, references).

A dense replay (re-entry after every exit) closes hundreds of thousands of positions; as Python objects each closed
position, its exit order and its entry cost a few kilobytes (every int is an object of its own). Kept as columns
they cost a few hundred bytes, and result tables are built from the columns directly. Reading an item (indexing,
iterating) makes the record object on the fly, so code that reads records one by one works unchanged.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import numpy as np

R = TypeVar("R")
NONE = -(1 << 63)  # an int column's "None"


class Records(Generic[R]):
    """Records of type ``cls`` (built with keyword arguments) whose ``ints`` fields are ``int | None`` and whose
    ``refs`` fields are anything else.

    The first ``SMALL`` records are kept as the objects themselves (a replay of a few positions, e.g. each setting
    of a sweep, pays nothing for columns); past that they move into columns, where each costs a few hundred bytes.
    """

    __slots__ = ("_cls", "_int_fields", "_ints", "_n", "_objs", "_ref_fields", "_refs")

    SMALL = 256

    def __init__(self, cls: type[R], ints: tuple[str, ...], refs: tuple[str, ...]) -> None:
        self._cls = cls
        self._int_fields = ints
        self._ref_fields = refs
        self._objs: list[R] | None = []  # None once the records are in columns
        self._ints: dict[str, array[int]] = {}
        self._refs: dict[str, list[Any]] = {}
        self._n = 0

    def append(self, rec: R) -> None:
        objs = self._objs
        if objs is not None:
            objs.append(rec)
            self._n += 1
            if self._n >= self.SMALL:
                self._to_columns(objs)
            return
        for f, col in self._ints.items():
            v = getattr(rec, f)
            col.append(NONE if v is None else v)
        for f, lst in self._refs.items():
            lst.append(getattr(rec, f))
        self._n += 1

    def _to_columns(self, objs: list[R]) -> None:
        self._ints = {f: array("q", (_int(getattr(r, f)) for r in objs)) for f in self._int_fields}
        self._refs = {f: [getattr(r, f) for r in objs] for f in self._ref_fields}
        self._objs = None

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def __getitem__(self, i: int) -> R:
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("record index out of range")
        if self._objs is not None:
            return self._objs[i]
        kw: dict[str, Any] = {f: (None if col[i] == NONE else col[i]) for f, col in self._ints.items()}
        kw.update((f, lst[i]) for f, lst in self._refs.items())
        return self._cls(**kw)

    def __iter__(self) -> Iterator[R]:
        if self._objs is not None:
            return iter(list(self._objs))
        return (self[i] for i in range(self._n))

    def __repr__(self) -> str:
        return f"<{self._n} {self._cls.__name__} records>"

    def __eq__(self, other: object) -> bool:
        """Equal to records (or a list) holding equal records in the same order."""
        if isinstance(other, Records | list):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def ints(self, field: str) -> np.ndarray[Any, Any]:
        """An int field as an int64 array (``NONE`` where the record had None); a view, do not keep it past
        appending more records."""
        if field not in self._int_fields:
            raise KeyError(field)
        if self._objs is not None:
            return np.fromiter((_int(getattr(r, field)) for r in self._objs), dtype=np.int64, count=self._n)
        return np.frombuffer(self._ints[field], dtype=np.int64) if self._n else np.zeros(0, dtype=np.int64)

    def refs(self, field: str) -> list[Any]:
        if field not in self._ref_fields:
            raise KeyError(field)
        if self._objs is not None:
            return [getattr(r, field) for r in self._objs]
        return self._refs[field]


def _int(v: int | None) -> int:
    return NONE if v is None else v


def dollars(a: np.ndarray[Any, Any], scale: int) -> np.ndarray[Any, Any]:
    """Int units to floats for display (NaN where the value was None)."""
    out = a / scale
    out[a == NONE] = np.nan
    return out
