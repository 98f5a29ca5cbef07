"""Prometheus exposition of the analytics, computed at scrape time: each symbol's
rings are copied under ``state.lock`` (memcpy-cheap, one symbol per acquisition)
and reduced with numpy after the lock is released, so a scrape never holds up
ingest for the maths.

Statistics that are undefined (a volatility from fewer than two returns, a VWAP
without volume, a drawdown of an empty window) are exported as NaN, as
prometheus_client does for a summary without observations: the series exists
from the first event on, and a dashboard shows a gap rather than a made-up 0.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .analytics.views import side_analytics, symbol_analytics
from .state import TelemetryState

NAN = math.nan


def _value(x: float | None) -> float:
    return NAN if x is None else x


class AnalyticsCollector(Collector):
    def __init__(self, state: TelemetryState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        engine = self.state.analytics
        if engine is None:
            return
        lock = self.state.lock
        with lock:
            sides = engine.side_snapshots()
            names = engine.symbols()
            hub = engine.stream
            clients = len(hub.clients)
            dropped = dict(hub.dropped)
            sent = dict(hub.sent)
        now = time.time()
        windows = engine.windows

        trades = GaugeMetricFamily("trades_rolling", "Trades in the last window (one-second buckets), by side",
                                   labels=["side", "window"])
        volume = GaugeMetricFamily("volume_rolling", "Sum of trade qty in the last window, by side",
                                   labels=["side", "window"])
        bursty = GaugeMetricFamily("click_burstiness_ratio",
                                   "Coefficient of variation of trade inter-arrival times in the window "
                                   "(1 = Poisson, 0 = periodic, > 1 = bursty; NaN below 2 gaps)",
                                   labels=["side", "window"])
        ewm = GaugeMetricFamily("volume_ewm", "Exponentially weighted trade volume (half-life "
                                "SIDECAR_ANALYTICS_EW_HALF_LIFE_SECONDS), by side", labels=["side"])
        for side in sides:
            stats = side_analytics(side, now, windows, engine.half_life)
            ewm.add_metric([side.side], stats.ew_volume)
            for label, tw in stats.windows.items():
                trades.add_metric([side.side, label], tw.trades)
                volume.add_metric([side.side, label], tw.volume)
                bursty.add_metric([side.side, label], _value(tw.burstiness))
        yield trades
        yield volume
        yield bursty
        yield ewm

        sma = GaugeMetricFamily("symbol_sma_price", "Simple moving average of the last N tick prices "
                                "(N = SIDECAR_ANALYTICS_SMA_TICKS)", labels=["symbol"])
        vwap = GaugeMetricFamily("symbol_vwap_price", "Volume-weighted average tick price over the window "
                                 "or the UTC-day session (NaN without volume)", labels=["symbol", "window"])
        vol = GaugeMetricFamily("symbol_volatility", "Standard deviation of log returns over the window or the "
                                "last N ticks (window=\"ticks\"); NaN below 2 returns", labels=["symbol", "window"])
        vol_y = GaugeMetricFamily("symbol_volatility_annualised", "symbol_volatility * sqrt(returns per year at "
                                  "the window's return rate)", labels=["symbol", "window"])
        drawdown = GaugeMetricFamily("symbol_max_drawdown_ratio", "Largest peak-to-trough fall inside the window, "
                                     "as a fraction of the peak (NaN: no tick in the window)",
                                     labels=["symbol", "window"])
        rate = GaugeMetricFamily("symbol_ticks_per_second", "Ticks in the window divided by its length",
                                 labels=["symbol", "window"])
        qty = GaugeMetricFamily("position_quantity", "Signed position (buys - sells)", labels=["symbol"])
        cost = GaugeMetricFamily("position_average_cost", "Average cost of the open position (NaN while flat)",
                                 labels=["symbol"])
        realized = GaugeMetricFamily("pnl_realized", "Realized PnL (average-cost method)", labels=["symbol"])
        unrealized = GaugeMetricFamily("pnl_unrealized", "Open position marked to the last tick price "
                                       "(NaN while open with no tick yet)", labels=["symbol"])
        for symbol in names:
            # One symbol at a time: the lock is held for one copy, and a scrape of many
            # symbols never holds every copy at once.
            with lock:
                snap = engine.symbol_snapshot(symbol)
            if snap is None:
                continue
            a = symbol_analytics(snap, now, windows)
            name = a.symbol
            if a.last_price is not None:
                sma.add_metric([name], _value(a.sma))
                vol.add_metric([name, "ticks"], _value(a.volatility_ticks))
                vwap.add_metric([name, "session"], _value(a.vwap_session))
                for label, w in a.windows.items():
                    vwap.add_metric([name, label], _value(w.vwap))
                    vol.add_metric([name, label], _value(w.volatility))
                    vol_y.add_metric([name, label], _value(w.volatility_annualised))
                    drawdown.add_metric([name, label], _value(w.max_drawdown))
                    rate.add_metric([name, label], w.tick_rate)
            p = a.position
            if p is not None:
                qty.add_metric([name], p.qty)
                cost.add_metric([name], _value(p.avg_cost))
                realized.add_metric([name], p.realized_pnl)
                unrealized.add_metric([name], _value(p.unrealized_pnl))
        yield from (sma, vwap, vol, vol_y, drawdown, rate, qty, cost, realized, unrealized)

        yield GaugeMetricFamily("market_stream_clients", "Connected GET /stream clients", value=clients)
        d = CounterMetricFamily("market_stream_clients_dropped", "Stream clients disconnected for not keeping up "
                                "(queue_full: pending updates hit SIDECAR_SSE_QUEUE_SIZE; slow: a write took "
                                "longer than SIDECAR_SSE_WRITE_TIMEOUT_SECONDS)", labels=["reason"])
        for reason, n in dropped.items():
            d.add_metric([reason], n)
        yield d
        events = CounterMetricFamily("market_stream_events", "Events written to stream clients, by type",
                                     labels=["type"])
        for kind, n in sent.items():
            events.add_metric([kind], n)
        yield events
