"""Tape playback: feed recorded (or synthetic) WebSocket frames into the exchange at ``speed`` × real time.

Frames are decoded with :class:`kalshikit.kalshi.messages.FrameDecoder` and applied to the exchange: ticker quotes
replace the top of the book (``OrderBook.set_top``; unknown sizes get the exchange's default), order book snapshots
and deltas update depth, trades move last price and volume, lifecycle frames create, pause, close, determine and
settle markets. Times inside lifecycle frames (open/close) are mapped onto the wall clock the same way the pacing
is, so a market closes in the simulator when it closed on the tape.

``speed`` 0 plays as fast as the WebSocket writers drain (the feed waits while any connection's queue is long).
With ``loop`` the tape starts again at the end; each pass gets a fresh source (a synthetic source makes new
markets each pass). :meth:`Feed.pause` / :meth:`Feed.resume` stop and restart the clock of the tape.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import msgspec

from kalshikit.core.events import BookDelta, BookSnapshot, Lifecycle, Quote, Trade
from kalshikit.core.grid import PriceGrid
from kalshikit.errors import KalshiKitError
from kalshikit.kalshi.messages import FrameDecoder, Malformed, Unknown
from kalshikit.sim.errors import SimError
from kalshikit.sim.exchange import Exchange, grid_from_ranges
from kalshikit.units import NS_PER_S, parse_price

log = logging.getLogger("kalshikit.sim.feed")


class TapeFrame(Protocol):
    """What the feed needs of a frame (``kalshikit.recording.format.RawFrame`` has it)."""

    @property
    def recv_ns(self) -> int: ...
    @property
    def raw(self) -> str: ...


TapeSource = Callable[[int], Iterable[TapeFrame]]  # pass number -> frames of that pass


class _LifecycleExtra(msgspec.Struct, gc=False):
    price_level_structure: str | None = None
    price_ranges: list[dict[str, str]] | None = None
    additional_metadata: dict[str, Any] | None = None


class _LifecycleFrame(msgspec.Struct, gc=False):
    msg: _LifecycleExtra = msgspec.field(default_factory=_LifecycleExtra)


_extra_decoder = msgspec.json.Decoder(_LifecycleFrame)


def _grid(extra: _LifecycleExtra) -> PriceGrid | None:
    try:
        ranges = [
            (parse_price(r["start"]), parse_price(r["end"]), parse_price(r["step"])) for r in extra.price_ranges or ()
        ]
        if ranges or extra.price_level_structure:
            return grid_from_ranges(extra.price_level_structure or "custom", ranges)
    except (KeyError, TypeError, ValueError, KalshiKitError):
        pass
    return None


class Feed:
    """Plays a tape into an exchange. Runs as one task on the simulator's event loop. ``clock_ns`` (monotonic) and
    ``sleep`` pace it; tests give it a virtual clock."""

    def __init__(
        self,
        exchange: Exchange,
        source: TapeSource,
        *,
        speed: float = 1.0,
        loop: bool = True,
        backlog: Callable[[], int] = lambda: 0,
        max_backlog: int = 20_000,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 = as fast as the clients read)")
        self.exchange = exchange
        self.source = source
        self.speed = speed
        self.loop = loop
        self.backlog = backlog
        self.max_backlog = max_backlog
        self._clock_ns = clock_ns
        self._sleep = sleep
        self.decoder = FrameDecoder()
        self.frames = 0
        self.passes = 0
        self.skipped = 0
        self.errors = 0
        self.finished = asyncio.Event()
        self._running = asyncio.Event()
        self._running.set()
        self._paused_ns = 0
        # tape time -> wall time: wall = wall0 + (tape - tape0) / speed (speed 1 when playing flat out)
        self._tape0 = 0
        self._wall0 = 0
        self._mono0 = 0

    # ------------------------------------------------------------------ control
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def to_wall(self, tape_ns: int) -> int:
        speed = self.speed or 1.0
        return self._wall0 + int((tape_ns - self._tape0) / speed) + self._paused_ns

    # ------------------------------------------------------------------ playback
    async def run(self) -> None:
        try:
            while True:
                played = await self._play(self.source(self.passes))
                self.passes += 1
                if not self.loop:
                    break
                # let the server breathe between passes; an empty tape must not spin
                await asyncio.sleep(0 if played else 0.1)
        finally:
            self.finished.set()

    async def _play(self, frames: Iterable[TapeFrame]) -> int:
        """Play one pass; returns how many frames it had."""
        first = True
        last_tape = 0
        n = 0
        for f in frames:
            n += 1
            if not self._running.is_set():
                t0 = self._clock_ns()
                await self._running.wait()
                self._paused_ns += self._clock_ns() - t0
            tape_ns = max(f.recv_ns, last_tape)
            last_tape = tape_ns
            if first:
                first = False
                self._tape0, self._wall0, self._mono0, self._paused_ns = tape_ns, time.time_ns(), self._clock_ns(), 0
            if self.speed > 0:
                due = self._mono0 + int((tape_ns - self._tape0) / self.speed) + self._paused_ns
                wait = due - self._clock_ns()
                if wait > 0:
                    await self._sleep(wait / 1e9)
            elif n % 64 == 0:
                while self.backlog() > self.max_backlog:
                    await asyncio.sleep(0.0005)
                await asyncio.sleep(0)
            self.apply(f.raw)
        return n

    def apply(self, raw: str) -> None:
        """Decode one frame and apply it to the exchange."""
        ev = self.decoder.decode(raw)
        self.frames += 1
        ex = self.exchange
        try:
            t = type(ev)
            if t is Quote:
                ex.apply_quote(ev)  # type: ignore[arg-type]
            elif t is BookDelta:
                ex.apply_delta(ev)  # type: ignore[arg-type]
            elif t is BookSnapshot:
                ex.apply_snapshot(ev)  # type: ignore[arg-type]
            elif t is Trade:
                tr: Trade = ev  # type: ignore[assignment]
                ex.apply_trade(tr.ticker, tr.yes_price, tr.count, tr.taker_side)
            elif t is Lifecycle:
                self._lifecycle(ev, raw)  # type: ignore[arg-type]
            elif t is Malformed or t is Unknown:
                self.skipped += 1
            # control replies and private frames (fill, user_order, market_position) of the recorder are not replayed
        except SimError as exc:
            self.errors += 1
            log.debug("tape frame not applied: %s", exc)

    def _lifecycle(self, ev: Lifecycle, raw: str) -> None:
        ex = self.exchange
        et = ev.event_type
        if et in ("created", "price_level_structure_updated", "metadata_updated"):
            try:
                extra = _extra_decoder.decode(raw).msg
            except (msgspec.DecodeError, msgspec.ValidationError):
                extra = _LifecycleExtra()
            meta = extra.additional_metadata or {}

            def text(key: str) -> str | None:
                v = meta.get(key)
                return v if isinstance(v, str) else None

            close = ev.close_ns
            cce = meta.get("can_close_early")
            ex.add_market(
                ev.ticker,
                event_ticker=text("event_ticker"),
                grid=_grid(extra),
                open_ns=self.to_wall(ev.open_ns) if ev.open_ns is not None else None,
                close_ns=self.to_wall(close) if close is not None else None,
                title=text("title"),
                yes_sub_title=text("yes_sub_title"),
                no_sub_title=text("no_sub_title"),
                rules_primary=text("rules_primary"),
                rules_secondary=text("rules_secondary"),
                can_close_early=cce if isinstance(cce, bool) else None,
                from_tape=True,
            )
        elif et == "activated":
            m = ex.markets.get(ev.ticker)
            if m is not None and m.status in ("initialized", "inactive"):
                ex.resume_market(ev.ticker)
        elif et == "deactivated":
            m = ex.markets.get(ev.ticker)
            if m is not None:
                if ev.is_deactivated is False and m.status == "inactive":
                    ex.resume_market(ev.ticker)
                elif ev.is_deactivated is not False and m.status == "active":
                    ex.pause_market(ev.ticker)
        elif et == "close_date_updated" and ev.close_ns is not None:
            ex.add_market(ev.ticker, close_ns=self.to_wall(ev.close_ns), from_tape=True)
        elif et == "determined" and ev.result in ("yes", "no", "scalar"):
            m = ex.markets.get(ev.ticker)
            if m is not None and not m.settled:
                ex.determine_market(ev.ticker, ev.result, ev.settlement_value)
        elif et == "settled":
            m = ex.markets.get(ev.ticker)
            if m is not None and m.status == "determined":
                ex.settle_market(ev.ticker)


def recording_source(paths: list[str]) -> TapeSource:
    """Frames of recording files/directories (merged in time order), read afresh on every pass."""
    from kalshikit.recording.reader import read_frames

    def source(_pass: int) -> Iterable[TapeFrame]:
        return read_frames(paths)

    return source


def synthetic_source(
    markets: int = 6, duration_s: float = 600.0, seed: int = 7, rate_hz: float = 2.0, sports: bool = False
) -> TapeSource:
    """The recording package's synthetic generator; each pass starts now, with new markets and seed + pass.
    ``sports``: NBA game markets (two per game, team names in titles) instead of generic ones."""
    from kalshikit.recording.synthetic import synthetic_frames

    def source(n: int) -> Iterable[TapeFrame]:
        start = time.time_ns() // NS_PER_S * NS_PER_S
        return synthetic_frames(
            markets=markets, duration_s=duration_s, seed=seed + n, start_ns=start, rate_hz=rate_hz, sports=sports
        )

    return source
