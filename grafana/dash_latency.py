"""The Latency & loss dashboard (latency-loss.json)."""

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
from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import dashboard as dashboard_m


def latency_loss() -> dashboard_m.Dashboard:
    """Issue 4: every hop's latency, loss and producers, market feeds."""
    hop_sel = 'hop=~"$hop",type=~"$type"'
    offset = 'producer_clock_offset_seconds{producer=~"$producer"}'
    stale_steps = ((None, "green"), (10, "red"))
    items: list[Item] = [
        (dashboard.Row("Per-hop latency"), 24, 1),
        *[(timeseries_panel(f"{q} by hop (1m)", [
            query(f"hop_type:hop_latency_seconds:{q.lower()}_1m{{{hop_sel}}}", "{{hop}} · {{type}}")], unit="s",
            description="event_to_send: inside the app; send_to_receive: ZeroMQ; receive_to_apply: sidecar; "
                        "event_to_apply: end to end."), 8, 8) for q in ("p50", "p95", "p99")],
        (timeseries_panel("Exact p99 of recent samples", [
            query(across_hosts("max", f'hop_latency_recent_seconds{{{hop_sel},quantile="0.99"}}'),
                   "{{hop}} · {{type}}")], unit="s",
            description="No bucket interpolation: the exact quantile of the last SIDECAR_LATENCY_SAMPLES."), 8, 8),
        (heatmap_panel("End to end (event → apply) heatmap",
                 'sum by (le) (increase(hop_latency_seconds_bucket{hop="event_to_apply",type=~"$type"}'
                 "[$__rate_interval]))", exemplar=True,
                 description="Dots are exemplars: a recent event of that bucket (event_id, producer, seq)."), 8, 8),
        (timeseries_panel("publish() duration p99 (trading app)", [
            query("histogram_quantile(0.99, sum by (le) (rate(publisher_publish_duration_seconds_bucket"
                   "[$__rate_interval])))", "p99")], unit="s"), 8, 8),
        (dashboard.Row("Clock skew and tails"), 24, 1),
        (timeseries_panel("p99 by hop, with exemplars", [
            query(f"histogram_quantile(0.99, sum by (le, hop, type) (rate(hop_latency_seconds_bucket{{{hop_sel}}}"
                   "[$__rate_interval])))", "{{hop}} · {{type}}", exemplar=True)], unit="s",
            description="Each dot is an exemplar: a recent event of a bucket, with its event_id, producer and seq "
                        "(hover it), to follow a spike to the exact trade or tick. Needs Prometheus with "
                        "--enable-feature=exemplar-storage."), 24, 8),
        (timeseries_panel("Producer clock offset ± error bound", [
            query(across_hosts("max", f"{offset} * ignoring (method) group_left (method) producer_clock_offset_info"),
                  "{{producer}} ({{method}})"),
            query(across_hosts("max", f"{offset} + producer_clock_offset_error_seconds"), "{{producer}} + error"),
            query(across_hosts("max", f"{offset} - producer_clock_offset_error_seconds"), "{{producer}} − error")],
            unit="s", steps=((None, "green"), (0.005, "red")), threshold_line=True,
            description="Producer clock minus sidecar clock, per producer, with its method. round_trip "
                        "(reliable-channel probes): the true offset lies between the ± error lines (half the "
                        "probe's round trip), whatever the path's asymmetry. one_way: -min(receive - sent_ts) "
                        "over the last minute, a lower bound with no measurable error (true offset within + the "
                        "fastest transport delay; a constant transport delay looks like an offset), so no band. "
                        "ProducerClockSkew fires when |offset| - error > 5 ms (either sign) for 1 min."), 8, 8),
        (timeseries_panel("Negative hop samples (clock skew) per interval", [
            query(f"sum by (hop, type, clock) (increase(hop_latency_negative_total{{{hop_sel}}}[$__rate_interval]))",
                   "{{hop}} · {{type}} ({{clock}})")], bars=True,
            description="Samples whose later timestamp came first; each is in the histogram as 0. clock=cross: "
                        "the producer's clock is ahead; clock=same: a clock stepped."), 8, 8),
        (timeseries_panel("Max (last 15-30 s) and exact p99.9", [
            query(f"max by (hop, type) (hop_latency_max_seconds{{{hop_sel}}})", "max {{hop}} · {{type}}"),
            query(across_hosts("max", f'hop_latency_recent_seconds{{{hop_sel},quantile="0.999"}}'),
                   "p99.9 {{hop}} · {{type}}")], unit="s",
            description="The largest sample of each hop in the last 15-30 s (no sample escapes a 15 s scrape), "
                        "and the exact p99.9 of the recent samples."), 8, 8),
        (dashboard.Row("Loss and producers"), 24, 1),
        (stat_panel("Lost messages by producer", [
            query('sum by (producer) (messages_lost_total{producer=~"$producer"})', "{{producer}}")],
            steps=((None, "green"), (1, "red"))), 8, 5),
        (stat_panel("Producer up", [query(across_hosts("min", 'producer_up{producer=~"$producer"}'), "{{producer}}")],
              mappings=UP_DOWN,
              steps=((None, "red"), (1, "green"))), 8, 5),
        (stat_panel("Since producer's last message", [
            query("time() - " + across_hosts("max", 'producer_last_seen_seconds{producer=~"$producer"}'),
                   "{{producer}}")], unit="s",
            decimals=1, steps=((None, "green"), (3, "red"))), 8, 5),
        (timeseries_panel("Lost per interval", [
            query('sum by (producer) (increase(messages_lost_total{producer=~"$producer"}[$__rate_interval]))',
                   "{{producer}}")], bars=True), 8, 8),
        (timeseries_panel("Received per second by type", [
            query("sum by (type) (rate(messages_received_total[$__rate_interval]))", "{{type}}")], unit="ops"),
         8, 8),
        (timeseries_panel("Duplicates and out-of-order ticks", [
            query("sum(increase(messages_duplicate_total[$__rate_interval]))", "duplicates"),
            query('sum by (symbol) (increase(ticks_out_of_order_total{symbol=~"$symbol"}[$__rate_interval]))',
                   "out of order {{symbol}}")], bars=True), 8, 8),
        (timeseries_panel("Publisher sent and dropped per second", [
            query("sum by (type) (rate(publisher_messages_sent_total[$__rate_interval]))", "sent {{type}}"),
            query("sum by (reason) (rate(publisher_messages_dropped_total[$__rate_interval]))",
                   "dropped {{reason}}")], unit="ops"), 24, 8),
        (dashboard.Row("Market feeds"), 24, 1),
        (timeseries_panel("Feed staleness (now − newest tick)", [
            query("time() - " + across_hosts("max", 'tick_last_ts_seconds{symbol=~"$symbol"}'), "{{symbol}}")],
            unit="s",
            steps=stale_steps, threshold_line=True,
            description="The StaleFeed alert fires above 10 s."), 8, 8),
        (timeseries_panel("Last price", [
            query(across_hosts("max", 'tick_last_price{symbol=~"$symbol"}'), "{{symbol}}")]),
         8, 8),
        (timeseries_panel("Ticks per second", [
            query('sum by (symbol, source) (rate(ticks_total{symbol=~"$symbol"}[$__rate_interval]))',
                   "{{symbol}} {{source}}")], unit="ops"), 8, 8),
        (timeseries_panel("Price spikes per interval", [
            query('sum by (symbol) (increase(tick_spikes_total{symbol=~"$symbol"}[$__rate_interval]))',
                   "{{symbol}}")], bars=True,
            description="Ticks more than SIDECAR_SPIKE_FRACTION from the previous price."), 16, 6),
        (stat_panel("Price spikes (total)", [
            query('sum by (symbol) (tick_spikes_total{symbol=~"$symbol"})', "{{symbol}}")],
            steps=((None, "green"), (1, "orange"))), 8, 6),
    ]
    variables = [variable("hop", "Hop", "hop_latency_seconds_bucket"),
                 variable("type", "Message type", "hop_latency_seconds_bucket"),
                 variable("producer", "Producer", "producer_up"),
                 variable("symbol", "Symbol", "tick_last_ts_seconds")]
    return build_dashboard("latency-loss", "Latency & loss",
                     "Every hop's latency, lost/duplicate messages, producer liveness, feed staleness and spikes.",
                     variables, items, [link("Trading overview", "trading-overview")])
