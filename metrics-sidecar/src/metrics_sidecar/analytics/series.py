"""One symbol's market data as the readers get it: a snapshot the engine copied from
the core (``core/src/analytics_series.rs`` keeps it: last price, a bounded history
ring, and a window row per second that had ticks, dropped once older than the
longest window) under ``state.lock``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rings import FloatArray
from .windows import TICK_WIDTH

SESSION_SECONDS = 86400  # the session is the UTC day (the D1 bar)


def as_rows(flat: bytes) -> FloatArray:
    """Window rows from the core's float64 bytes (no copy)."""
    return np.frombuffer(flat, dtype=np.float64).reshape(-1, TICK_WIDTH)


@dataclass(frozen=True, slots=True)
class SeriesSnapshot:
    last_price: float
    last_ts: float
    first_ts: float
    recent: FloatArray  # the last N prices, oldest first
    buckets: FloatArray  # window rows of the seconds with ticks, oldest first
    session: tuple[float, float, float]  # (day start, volume, turnover) of the newest tick's day
