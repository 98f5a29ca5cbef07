"""Rolling analytics, OHLC bars, positions and PnL, and the stream fan-out.

Write side (``engine``): O(1) plain-Python updates per event, under ``state.lock``.
Read side (``views``): numpy over copies, per request or scrape. docs/analytics.md.
"""

from .engine import AnalyticsEngine

__all__ = ["AnalyticsEngine"]
