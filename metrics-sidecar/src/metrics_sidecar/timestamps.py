"""Normalise wire timestamps to float epoch seconds. Pure; never raises."""

from __future__ import annotations

import math
from datetime import datetime

from .schema import TS_MILLIS_BELOW, TS_SECONDS_BELOW

# Epoch seconds below 1e11 (year 5138); epoch milliseconds from 1e11 (1973) to
# 1e14. Anything larger (micro/nanoseconds) or negative is rejected rather than
# guessed: a wrong guess would silently corrupt every latency histogram.
_MS_THRESHOLD = TS_SECONDS_BELOW
_MAX_MS = TS_MILLIS_BELOW


def normalize_ts(value: object) -> float | None:
    """Return epoch seconds, or None if the value is not a usable timestamp."""
    if type(value) is float or type(value) is int:
        v = float(value)
        if not math.isfinite(v) or v < 0:
            return None
        if v < _MS_THRESHOLD:
            return v
        if v < _MAX_MS:
            return v / 1000.0
        return None
    if type(value) is str:
        return _parse_iso(value)
    return None


def _parse_iso(text: str) -> float | None:
    if len(text) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None  # no offset: ambiguous, we do not assume the sidecar's zone
    try:
        seconds = parsed.timestamp()
    except (OverflowError, ValueError):
        return None
    # The same range as numeric timestamps: "0001-01-01T00:00Z" is not an event time.
    return seconds if 0 <= seconds < _MS_THRESHOLD else None
