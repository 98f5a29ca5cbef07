"""Prometheus exposition of the analytics, computed at scrape time: every
symbol's statistics come as columns from ``analytics.table.symbol_columns``
(one copy from the core through read_model.py, maths outside it) and are written
one family at a time.

Statistics that are undefined (a volatility from fewer than two returns, a VWAP
without volume, a drawdown of an empty window) are exported as NaN, as
prometheus_client does for a summary without observations: the series exists
from the first event on, and a dashboard shows a gap rather than a made-up 0.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from . import read_model
from .analytics.table import symbol_columns
from .analytics.views import side_analytics
from .textformat import LabelColumn, Writer

if TYPE_CHECKING:
    from .state import TelemetryState

NAN = math.nan


def _value(x: float | None) -> float:
    return NAN if x is None else x


def write_analytics(state: TelemetryState, out: Writer, now: float) -> None:
    engine = state.analytics
    if engine is None:
        return
    sides, (clients, dropped, sent), columns_copy = read_model.analytics_scrape(state)
    windows = engine.windows

    side_stats = [side_analytics(side, now, windows, engine.half_life) for side in sides]
    for name, doc, field in (
        ("trades_rolling", "Trades in the last window (one-second buckets), by side", "trades"),
        ("volume_rolling", "Sum of trade qty in the last window, by side", "volume"),
        ("click_burstiness_ratio", "Coefficient of variation of trade inter-arrival times in the window "
         "(1 = Poisson, 0 = periodic, > 1 = bursty; NaN below 2 gaps)", "burstiness"),
    ):
        out.family(name, "gauge", doc)
        for stats in side_stats:
            for label, tw in stats.windows.items():
                out.sample(name, f'{{side="{stats.side}",window="{label}"}}', _value(getattr(tw, field)))
    out.family("volume_ewm", "gauge", "Exponentially weighted trade volume (half-life "
               "SIDECAR_ANALYTICS_EW_HALF_LIFE_SECONDS), by side")
    for stats in side_stats:
        out.sample("volume_ewm", f'{{side="{stats.side}"}}', stats.ew_volume)

    columns, positions = symbol_columns(columns_copy, engine.windows, now)
    symbols = columns.symbols

    def by_window(label: str) -> tuple[LabelColumn, ...]:
        return ("symbol", symbols), ("window", label)

    out.family("symbol_sma_price", "gauge", "Simple moving average of the last N tick prices "
               "(N = SIDECAR_ANALYTICS_SMA_TICKS)")
    out.series("symbol_sma_price", (("symbol", symbols),), columns.sma)
    out.family("symbol_vwap_price", "gauge", "Volume-weighted average tick price over the window "
               "or the UTC-day session (NaN without volume)")
    out.series("symbol_vwap_price", by_window("session"), columns.vwap_session)
    for label, w in columns.windows.items():
        out.series("symbol_vwap_price", by_window(label), w.vwap)
    out.family("symbol_volatility", "gauge", "Standard deviation of log returns over the window or the "
               "last N ticks (window=\"ticks\"); NaN below 2 returns")
    out.series("symbol_volatility", by_window("ticks"), columns.volatility_ticks)
    for label, w in columns.windows.items():
        out.series("symbol_volatility", by_window(label), w.volatility)
    for name, doc, field in (
        ("symbol_volatility_annualised", "symbol_volatility * sqrt(returns per year at the window's return rate)",
         "volatility_annualised"),
        ("symbol_max_drawdown_ratio", "Largest peak-to-trough fall inside the window, as a fraction of the peak "
         "(NaN: no tick in the window)", "max_drawdown"),
        ("symbol_ticks_per_second", "Ticks in the window divided by its length", "tick_rate"),
    ):
        out.family(name, "gauge", doc)
        for label, w in columns.windows.items():
            out.series(name, by_window(label), getattr(w, field))

    by_position = (("symbol", positions.symbols),)
    for name, doc, field in (
        ("position_quantity", "Signed position (buys - sells)", "qty"),
        ("position_average_cost", "Average cost of the open position (NaN while flat)", "avg_cost"),
        ("pnl_realized", "Realized PnL (average-cost method)", "realized"),
        ("pnl_unrealized", "Open position marked to the last tick price (NaN while open with no tick yet)",
         "unrealized"),
    ):
        out.family(name, "gauge", doc)
        out.series(name, by_position, getattr(positions, field))

    out.family("market_stream_clients", "gauge", "Connected GET /stream clients")
    out.sample("market_stream_clients", "", clients)
    out.family("market_stream_clients_dropped_total", "counter", "Stream clients disconnected for not keeping up "
               "(queue_full: pending updates hit SIDECAR_SSE_QUEUE_SIZE; slow: a write took "
               "longer than SIDECAR_SSE_WRITE_TIMEOUT_SECONDS)")
    out.series("market_stream_clients_dropped_total", (("reason", [r for r, _ in dropped]),),
               [n for _, n in dropped])
    out.family("market_stream_events_total", "counter", "Events written to stream clients, by type")
    out.series("market_stream_events_total", (("type", [k for k, _ in sent]),), [n for _, n in sent])
