"""OHLC bars on six timeframes, aligned to UTC boundaries (epoch multiples of the
timeframe: POSIX time has no leap seconds, so these are UTC minutes, hours, days).

The core keeps them (``core/src/analytics_ohlc.rs``): each finished second is folded
into the active one-minute bar, and when a minute ends its bar into the five-minute
bar being built, and so on up the ladder (each timeframe divides the next); readers
get the second in progress added. A bar is "closed" once wall time passes its end:
readers decide that lazily, so a bar closes at its boundary even when no later tick
arrives.

Bars are rows ``(start, open, high, low, close, volume, ticks, turnover)``
(turnover = sum of price * volume, so a bar's VWAP is turnover / volume, and the
daily bar's is the session VWAP); minutes without ticks produce no bar (nothing
is forward-filled).
"""

from __future__ import annotations

TIMEFRAMES: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400}
# The trading-platform spellings (M1 ... D1) name the same timeframes.
ALIASES: dict[str, str] = {"M1": "1m", "M5": "5m", "M15": "15m", "H1": "1h", "H4": "4h", "D1": "1d"}
SPANS: tuple[int, ...] = tuple(TIMEFRAMES.values())
BAR_WIDTH = 8

Bar = list[float]
