"""Rate-limited logging for input-triggered lines: a flood of garbage must not
turn into a flood of log lines (that would be a second denial of service)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLogger:
    """At most ``per_second`` lines a second, whatever the level; the rest are
    counted and summed up in one line when the next second starts."""

    def __init__(self, logger: logging.Logger, per_second: float) -> None:
        self.logger = logger
        self.per_second = per_second
        self._window_start = 0.0
        self._in_window = 0
        self.suppressed = 0

    def warning(self, msg: str, *args: object) -> None:
        self._emit(self.logger.warning, msg, args)

    def exception(self, msg: str, *args: object) -> None:
        """Like ``Logger.exception`` (call it from an ``except`` block): with the traceback."""
        self._emit(self.logger.exception, msg, args)

    def _emit(self, write: Callable[..., None], msg: str, args: tuple[object, ...]) -> None:
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            if self.suppressed:
                self.logger.warning("suppressed %d similar log lines in the last second", self.suppressed)
            self._window_start = now
            self._in_window = 0
            self.suppressed = 0
        if self._in_window < self.per_second:
            self._in_window += 1
            write(msg, *args)
        else:
            self.suppressed += 1
