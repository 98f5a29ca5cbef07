"""The Market analytics dashboard (market-analytics.json): the sidecar's rolling
analytics per side and symbol, positions and PnL, and the market-data stream."""

from __future__ import annotations

from dash_common import Item, across_hosts, build_dashboard, link, query, stat_panel, timeseries_panel, variable
from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import dashboard as dashboard_m


def _per(op: str, metric: str, label: str) -> str:
    return across_hosts(op, f'{metric}{{{label}=~"${label}"}}')


def market_analytics() -> dashboard_m.Dashboard:
    items: list[Item] = [
        (dashboard.Row("Trading activity per side (rolling windows, sidecar receive time)"), 24, 1),
        (timeseries_panel("Rolling volume", [query(_per("sum", "volume_rolling", "side"), "{{side}} {{window}}")],
                          description="Sum of trade qty over the last 1m / 5m (one-second buckets): volume_rolling."),
         8, 8),
        (timeseries_panel("Rolling trades", [query(_per("sum", "trades_rolling", "side"), "{{side}} {{window}}")],
                          description="Trades in the last 1m / 5m: trades_rolling."), 8, 8),
        (timeseries_panel("Exponentially weighted volume", [query(_per("sum", "volume_ewm", "side"), "{{side}}")],
                          description="sum(qty * 2^(-age / half-life)); half-life "
                                      "SIDECAR_ANALYTICS_EW_HALF_LIFE_SECONDS."), 8, 8),
        (timeseries_panel("Click burstiness (CV of inter-arrival times)", [
            query(_per("max", "click_burstiness_ratio", "side"), "{{side}} {{window}}")], unit="none",
            description="std/mean of the gaps between trades: 0 periodic, 1 Poisson, > 1 bursty. "
                        "Empty below 3 trades in the window."), 12, 8),
        (stat_panel("Volume last 5m", [query('sum by (side) (volume_rolling{side=~"$side",window="5m"})', "{{side}}")],
                    decimals=2), 6, 8),
        (stat_panel("Trades last 1m", [query('sum by (side) (trades_rolling{side=~"$side",window="1m"})', "{{side}}")]),
         6, 8),
        (dashboard.Row("Market per symbol (ticks, event time)"), 24, 1),
        (timeseries_panel("Price, SMA and VWAP", [
            query(_per("max", "tick_last_price", "symbol"), "{{symbol}} last"),
            query(_per("max", "symbol_sma_price", "symbol"), "{{symbol}} SMA(N ticks)"),
            query(_per("max", "symbol_vwap_price", "symbol"), "{{symbol}} VWAP {{window}}")],
            description="SMA over SIDECAR_ANALYTICS_SMA_TICKS ticks; VWAP over 1m, 5m and the UTC-day session."),
         12, 9),
        (timeseries_panel("Volatility (std of log returns)", [
            query(_per("max", "symbol_volatility", "symbol"), "{{symbol}} {{window}}")], unit="percentunit",
            description="Per return, over the last N ticks (window=ticks) and over 1m / 5m."), 12, 9),
        (timeseries_panel("Annualised volatility", [
            query(_per("max", "symbol_volatility_annualised", "symbol"), "{{symbol}} {{window}}")],
            unit="percentunit",
            description="volatility * sqrt(returns per year at the window's rate; 365-day year)."), 8, 8),
        (timeseries_panel("Max drawdown", [
            query(_per("max", "symbol_max_drawdown_ratio", "symbol"), "{{symbol}} {{window}}")], unit="percentunit",
            description="Largest fall from a peak inside the window, as a fraction of the peak."), 8, 8),
        (timeseries_panel("Tick rate", [
            query(_per("max", "symbol_ticks_per_second", "symbol"), "{{symbol}} {{window}}")], unit="hertz",
            description="Ticks in the window / window length."), 8, 8),
        (dashboard.Row("Position and PnL (average cost, marked to the last tick)"), 24, 1),
        (timeseries_panel("PnL by symbol", [
            query(_per("sum", "pnl_realized", "symbol"), "{{symbol}} realized"),
            query(_per("sum", "pnl_unrealized", "symbol"), "{{symbol}} unrealized")],
            description="Realized on reducing trades; unrealized = position * (last tick - average cost)."), 12, 8),
        (stat_panel("Total PnL", [
            query('sum(pnl_realized{symbol=~"$symbol"}) + sum(pnl_unrealized{symbol=~"$symbol"} > -Inf)', "total")],
            decimals=2, description="Unmarked positions (no tick yet: NaN) are left out by the > -Inf filter."),
         4, 8),
        (stat_panel("Position", [query(_per("sum", "position_quantity", "symbol"), "{{symbol}}")], decimals=4), 4, 8),
        (stat_panel("Average cost", [query(_per("max", "position_average_cost", "symbol") + " > -Inf", "{{symbol}}")],
                    decimals=4, description="Open positions only (flat: no average cost)."), 4, 8),
        (dashboard.Row("Market-data stream (GET /stream)"), 24, 1),
        (stat_panel("Stream clients", [query(across_hosts("sum", "market_stream_clients"), "clients")]), 6, 5),
        (stat_panel("Stream clients dropped", [
            query("sum by (reason) (market_stream_clients_dropped_total)", "{{reason}}")],
            steps=((None, "green"), (1, "orange")),
            description="queue_full: pending updates hit SIDECAR_SSE_QUEUE_SIZE; slow: a write timed out."), 6, 5),
        (timeseries_panel("Stream events per second", [
            query("sum by (type) (rate(market_stream_events_total[$__rate_interval]))", "{{type}}")], unit="ops"),
         12, 5),
    ]
    variables = [variable("symbol", "Symbol", "symbol_sma_price"), variable("side", "Side", "volume_rolling")]
    links = [link("Trading overview", "trading-overview"), link("Latency & loss", "latency-loss")]
    return build_dashboard("market-analytics", "Market analytics",
                           "Rolling trade activity, volatility, drawdown, positions and PnL computed in the sidecar "
                           "(docs/analytics.md).", variables, items, links)
