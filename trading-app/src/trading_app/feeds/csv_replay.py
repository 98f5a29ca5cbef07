"""Replay Stooq CSV files as ticks at 1x, Nx or max speed.

Event time is re-based to now. The sidecar rejects ticks older than
``SIDECAR_TICK_MAX_AGE_SECONDS`` (60 s) as ``stale``, so a tick cannot carry its
historical timestamp. Each tick's ``ts`` is the wall-clock time it is sent; the
original gaps between rows are kept by *when* rows are sent (gap / speed, or no
wait at all at max speed). The original bar time stays visible in the event id:
``csv-<run>-<SYMBOL>-<YYYYmmddTHHMMSS>-<row>``. ``<run>`` is new for each replay
so replaying the same file again is not swallowed by the sidecar's dedup.

Rows are loaded first (a few hundred bytes of memory per row): several files
merge by time, and the ETA is exact (remaining scheduled time), not a guess.
"""

from __future__ import annotations

import heapq
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from . import stooq
from .base import Feed, FeedStats, TickSink

# ``(rows done, seconds left or None)``
ProgressCallback = Callable[[int, float | None], None]


def sample_path() -> Path:
    """The sample shipped with the repository (used when no file is configured)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "testdata" / "csv" / "aapl.us.csv"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("no CSV file configured (WEBAPP_FEED_CSV_PATH / --file) and no testdata/csv sample")


def parse_speed(text: str | float | None) -> float | None:
    """``max`` (None: no waiting) or a multiplier > 0 (``60`` or ``60x``)."""
    if text is None:
        return 1.0
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        text = text.strip().lower()
        if text == "max":
            return None
        value = float(text.removesuffix("x"))
    if not value > 0 or value == float("inf"):
        raise ValueError(f"speed must be max or a multiplier > 0, got {text!r}")
    return value


def load_bars(paths: list[Path], stats: FeedStats, symbol: str | None = None) -> list[stooq.Bar]:
    """Every valid row of every file, merged by time; bad rows counted in ``stats``."""
    per_file: list[list[stooq.Bar]] = []
    for path in paths:
        name = symbol or stooq.symbol_from_path(path)
        bars: list[stooq.Bar] = []
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            for item in stooq.parse_lines(fh, name):
                if isinstance(item, str):
                    stats.skip(item)
                else:
                    bars.append(item)
        per_file.append(bars)
    # Each file is in time order already; merge keeps that order and is stable.
    return list(heapq.merge(*per_file, key=lambda b: b.at))


def schedule(bars: list[stooq.Bar], speed: float | None, max_gap: float = 0.0) -> list[float]:
    """Seconds after the start at which each bar is sent (all 0 at max speed).

    A gap is the time between consecutive bars divided by ``speed``, capped at
    ``max_gap`` when that is > 0 (a night or a weekend need not last a night).
    """
    offsets: list[float] = []
    offset = 0.0
    prev = bars[0].at if bars else None
    for bar in bars:
        if speed is not None and prev is not None:
            gap = max(0.0, (bar.at - prev).total_seconds()) / speed
            offset += min(gap, max_gap) if max_gap > 0 else gap
        offsets.append(offset)
        prev = bar.at
    return offsets


class CsvReplayFeed(Feed):
    source = "csv"

    def __init__(self, sink: TickSink, paths: list[Path], speed: float | None = 1.0, max_gap: float = 0.0,
                 symbol: str | None = None, count: int | None = None,
                 on_progress: ProgressCallback | None = None) -> None:
        super().__init__(sink, count)
        self.paths = paths
        self.speed = speed
        self.max_gap = max_gap
        self.symbol = symbol or None
        self.on_progress = on_progress
        self.run_id = uuid.uuid4().hex[:8]
        self.bars: list[stooq.Bar] = []
        self.rows_done = 0

    def load(self) -> int:
        """Parse the files (done by ``run()`` when not called first); returns the valid row count."""
        self.bars = load_bars(self.paths, self.stats, self.symbol)
        return len(self.bars)

    def event_id(self, bar: stooq.Bar) -> str:
        return f"csv-{self.run_id}-{bar.symbol}-{bar.at:%Y%m%dT%H%M%S}-{bar.row}"

    def run(self) -> None:
        if not self.bars:
            self.load()
        offsets = schedule(self.bars, self.speed, self.max_gap)
        started = time.monotonic()
        for bar, offset in zip(self.bars, offsets, strict=True):
            if self.done():
                break
            delay = started + offset - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            self.sink.emit(bar.symbol, bar.close, bar.volume, ts=time.time(), event_id=self.event_id(bar),
                           stop=self._stop)
            self.rows_done += 1
            if self.on_progress is not None:
                left = offsets[-1] - offset if self.speed is not None else None
                self.on_progress(self.rows_done, left)
