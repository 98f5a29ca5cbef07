"""Terminal progress for a replay: rows sent, rate, ETA.

On a terminal one line is redrawn in place (``\\r``) up to 10 times a second;
when stderr is a file or pipe (CI logs) a plain line is written every 5 s, so
logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def render(done: int, total: int, rate: float, eta: float | None) -> str:
    pct = 100.0 * done / total if total else 100.0
    return f"{done}/{total} rows ({pct:5.1f}%)  {rate:,.0f} rows/s  ETA {format_duration(eta)}"


class Progress:
    def __init__(self, total: int, stream: TextIO | None = None, label: str = "replay") -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.label = label
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._min_interval = 0.1 if self.tty else 5.0

    def update(self, done: int, eta: float | None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < self._min_interval:
            return
        self._last_draw = now
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        if eta is None and rate > 0:  # no schedule (max speed): extrapolate the rate
            eta = (self.total - done) / rate
        line = f"{self.label}: {render(done, self.total, rate, eta)}"
        if self.tty:
            self.stream.write(f"\r{line}\x1b[K")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self, done: int) -> None:
        self.update(done, 0.0, force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
