"""The Trading overview dashboard (trading-overview.json)."""

from __future__ import annotations

from dash_common import (
    UP_DOWN,
    Item,
    across_hosts,
    build_dashboard,
    heatmap_panel,
    link,
    query,
    stat_panel,
    timeseries_panel,
    variable,
)
from grafana_foundation_sdk.models import dashboard as dashboard_m


def overview() -> dashboard_m.Dashboard:
    """The seed's dashboard: totals and rates per side, last trade, latency, bad input, up."""
    last_trade_steps = ((None, "green"), (60, "orange"), (300, "red"))
    items: list[Item] = [
        (stat_panel("Trades by side", [query("sum by (side) (trades_total)", "{{side}}")],
              description="trades_total summed over symbols (seed trades have no symbol)."), 6, 5),
        (stat_panel("Volume by side", [query("sum by (side) (volume_total)", "{{side}}")], decimals=2), 6, 5),
        (stat_panel("Time since last trade",
              [query("time() - " + across_hosts("max", "last_trade_ts_seconds"), "since last trade")],
              unit="s", steps=last_trade_steps, decimals=1), 4, 5),
        (stat_panel("Last trade time", [query(across_hosts("max", "last_trade_ts_seconds") + " * 1000", "last trade")],
              unit="dateTimeAsIso",
              description="Event time (ts) of the last trade the sidecar received."), 4, 5),
        (stat_panel("Sidecar", [query(across_hosts("min", 'up{job="metrics-sidecar"}'), "sidecar")], mappings=UP_DOWN,
              steps=((None, "red"), (1, "green"))), 2, 5),
        (stat_panel("API", [query(across_hosts("min", 'up{job="trading-app-api"}'), "api")], mappings=UP_DOWN,
              steps=((None, "red"), (1, "green"))), 2, 5),
        (timeseries_panel("Trades per second by side", [
            query("sum by (side) (rate(trades_total[$__rate_interval]))", "{{side}}"),
            query("side:trades:rate1m", "{{side}} (1m avg)")], unit="ops"), 12, 8),
        (timeseries_panel("Volume per second by side", [
            query("sum by (side) (rate(volume_total[$__rate_interval]))", "{{side}}"),
            query("side:volume:rate1m", "{{side}} (1m avg)")]), 12, 8),
        (timeseries_panel("Trade latency p50 / p95 / p99 (click → sidecar, 1m)", [
            query("job:trade_latency_seconds:p50_1m", "p50"),
            query("job:trade_latency_seconds:p95_1m", "p95"),
            query("job:trade_latency_seconds:p99_1m", "p99")], unit="s",
            steps=((None, "green"), (0.1, "red")), threshold_line=True,
            description="From trade_latency_seconds; the TradeLatencyP99High alert fires above 100 ms for 30 s."),
         12, 8),
        (heatmap_panel("Trade latency heatmap",
                       "sum by (le) (increase(trade_latency_seconds_bucket[$__rate_interval]))",
                       description="Trades per latency bucket per interval."), 12, 8),
        (timeseries_panel("Trades by symbol", [
            query('sum by (symbol, side) (trades_total{symbol=~"$symbol"})', "{{symbol}} {{side}}")],
            description="Totals; the seed's trades without a symbol show with an empty symbol."), 8, 8),
        (timeseries_panel("Invalid messages by reason", [
            query("sum by (reason) (increase(messages_invalid_total[$__rate_interval]))", "{{reason}}")],
            bars=True, description="Rejected by the sidecar (docs/metrics.md lists the reasons)."), 8, 8),
        (timeseries_panel("Dropped by the publisher", [
            query("sum by (reason) (increase(publisher_messages_dropped_total[$__rate_interval]))", "{{reason}}")],
            bars=True, description="no_peer: sidecar unreachable; hwm: send queue full; closed: at shutdown."),
         8, 8),
        (stat_panel("Invalid (total)", [query("sum(messages_invalid_total)", "invalid")],
              steps=((None, "green"), (1, "orange"))), 6, 4),
        (stat_panel("Dropped by publisher (total)", [query("sum(publisher_messages_dropped_total)", "dropped")],
              steps=((None, "green"), (1, "orange"))), 6, 4),
        (stat_panel("Lost in transport (total)", [query("sum(messages_lost_total)", "lost")],
              steps=((None, "green"), (1, "red"))), 6, 4),
        (stat_panel("Firing alerts", [query('count(ALERTS{alertstate="firing"}) or vector(0)', "firing")],
              steps=((None, "green"), (1, "red"))), 6, 4),
    ]
    return build_dashboard("trading-overview", "Trading overview",
                     "Trades and volume per side, last trade, click-to-sidecar latency, bad input, liveness.",
                     [variable("symbol", "Symbol", "trades_total")], items,
                     [link("Latency & loss", "latency-loss")])
