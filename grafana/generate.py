"""Generate the provisioned Grafana dashboards (grafana/dashboards/*.json) from code.

Run ``.venv/bin/python grafana/generate.py`` after editing; ``--check`` exits 1
when the committed JSON differs (tests/infra runs it). Every query uses the
provisioned datasource uid and Grafana variables only in ``=~`` matchers, so a
test can evaluate each expression against a real Prometheus. A panel either
aggregates (``sum by``) or reduces per-series gauges ``without (instance, host)``,
so it shows the same on one Prometheus and on a central one fed by many hosts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "dashboards"
DATASOURCE_UID = "trading-prometheus"  # = grafana/provisioning/datasources/prometheus.yml
DS = {"type": "prometheus", "uid": DATASOURCE_UID}
REFRESH = "5s"
TIME_RANGE = {"from": "now-15m", "to": "now"}
TAGS = ["trading-telemetry"]

Json = dict[str, Any]


def target(expr: str, legend: str = "", *, heatmap: bool = False, exemplar: bool = False) -> Json:
    """``exemplar``: Grafana also asks Prometheus for the exemplars of the series the query
    reads (hop-latency buckets: the event_id, producer and seq of a recent event per bucket)."""
    t: Json = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "range": True,
               "instant": False, "editorMode": "code"}
    if exemplar:
        t["exemplar"] = True
    if heatmap:
        t["format"] = "heatmap"
        t["legendFormat"] = "{{le}}"
    return t


def across_hosts(op: str, selector: str) -> str:
    """A per-series gauge reduced over the sidecars/hosts that report it (one
    series on one host; the newest, or the worst liveness, across many)."""
    return f"{op} without (instance, host) ({selector})"


def thresholds(*steps: tuple[float | None, str]) -> Json:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}


GREEN = thresholds((None, "green"))
UP_DOWN = [{"type": "value", "options": {"1": {"text": "UP", "color": "green", "index": 0},
                                         "0": {"text": "DOWN", "color": "red", "index": 1}}}]


def stat(title: str, targets: list[Json], *, unit: str = "short", description: str = "",
         mappings: list[Json] | None = None, steps: Json = GREEN, decimals: int | None = None) -> Json:
    defaults: Json = {"unit": unit, "thresholds": steps, "mappings": mappings or [], "color": {"mode": "thresholds"}}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {"type": "stat", "title": title, "description": description, "targets": targets,
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "value", "graphMode": "none", "textMode": "value_and_name",
                        "justifyMode": "auto", "orientation": "auto", "wideLayout": True}}


def timeseries(title: str, targets: list[Json], *, unit: str = "short", description: str = "",
               bars: bool = False, steps: Json = GREEN, threshold_line: bool = False) -> Json:
    custom: Json = {"drawStyle": "bars" if bars else "line", "lineWidth": 1, "fillOpacity": 60 if bars else 10,
                    "showPoints": "never", "spanNulls": False, "axisSoftMin": 0,
                    "thresholdsStyle": {"mode": "line" if threshold_line else "off"}}
    return {"type": "timeseries", "title": title, "description": description, "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit, "custom": custom, "thresholds": steps,
                                         "color": {"mode": "palette-classic"}}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}}}


def heatmap(title: str, expr: str, *, description: str = "", exemplar: bool = False) -> Json:
    return {"type": "heatmap", "title": title, "description": description,
            "targets": [target(expr, heatmap=True, exemplar=exemplar)],
            "fieldConfig": {"defaults": {"custom": {"scaleDistribution": {"type": "linear"}}}, "overrides": []},
            "options": {"calculate": False, "cellGap": 1,
                        "color": {"mode": "scheme", "scheme": "Oranges", "scale": "exponential", "exponent": 0.5,
                                  "steps": 64, "reverse": False},
                        "yAxis": {"axisPlacement": "left", "unit": "s", "reverse": False},
                        "rowsFrame": {"layout": "auto"}, "filterValues": {"le": 1e-9},
                        "tooltip": {"mode": "single", "yHistogram": True}, "legend": {"show": True}}}


def row(title: str) -> Json:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def variable(name: str, label: str, metric: str) -> Json:
    """A multi-select query variable; "All" is the regex .* (so it also matches
    the empty symbol of seed trades)."""
    query = f"label_values({metric}, {name})"
    return {"name": name, "label": label, "type": "query", "datasource": DS, "definition": query,
            "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": [], "regex": "",
            "hide": 0}


def layout(items: list[tuple[Json, int, int]]) -> list[Json]:
    """(panel, width, height) left to right, wrapping at Grafana's 24 columns; a
    row starts a new line. Assigns ids (unique by construction) and gridPos."""
    panels: list[Json] = []
    x = y = line_h = 0
    for number, (panel, w, h) in enumerate(items, start=1):
        is_row = panel["type"] == "row"
        if is_row:
            w, h = 24, 1
        if x + w > 24 or (is_row and x):
            x, y, line_h = 0, y + line_h, 0
        placed = {"id": number, **panel, "gridPos": {"x": x, "y": y, "w": w, "h": h}}
        if not is_row:
            placed["datasource"] = DS
            for ref, t in zip("ABCDEFGH", placed["targets"], strict=False):
                t["refId"] = ref
        panels.append(placed)
        x, line_h = x + w, max(line_h, h)
    return panels


def dashboard(uid: str, title: str, description: str, variables: list[Json],
              items: list[tuple[Json, int, int]], links: list[Json]) -> Json:
    return {
        "uid": uid, "title": title, "description": description, "tags": TAGS, "timezone": "browser",
        "editable": False, "graphTooltip": 1, "schemaVersion": 39, "version": 1, "liveNow": False,
        "time": TIME_RANGE, "refresh": REFRESH,
        "timepicker": {"refresh_intervals": ["1s", "2s", "5s", "10s", "30s", "1m"]},
        "templating": {"list": variables},
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": links,
        "panels": layout(items),
    }


def link(title: str, uid: str) -> Json:
    return {"title": title, "type": "link", "url": f"/d/{uid}", "keepTime": True, "includeVars": False,
            "icon": "dashboard", "targetBlank": False, "asDropdown": False, "tags": [], "tooltip": ""}


def overview() -> Json:
    """The seed's dashboard: totals and rates per side, last trade, latency, bad input, up."""
    last_trade_steps = thresholds((None, "green"), (60, "orange"), (300, "red"))
    items: list[tuple[Json, int, int]] = [
        (stat("Trades by side", [target("sum by (side) (trades_total)", "{{side}}")],
              description="trades_total summed over symbols (seed trades have no symbol)."), 6, 5),
        (stat("Volume by side", [target("sum by (side) (volume_total)", "{{side}}")], decimals=2), 6, 5),
        (stat("Time since last trade",
              [target("time() - " + across_hosts("max", "last_trade_ts_seconds"), "since last trade")],
              unit="s", steps=last_trade_steps, decimals=1), 4, 5),
        (stat("Last trade time", [target(across_hosts("max", "last_trade_ts_seconds") + " * 1000", "last trade")],
              unit="dateTimeAsIso",
              description="Event time (ts) of the last trade the sidecar received."), 4, 5),
        (stat("Sidecar", [target(across_hosts("min", 'up{job="metrics-sidecar"}'), "sidecar")], mappings=UP_DOWN,
              steps=thresholds((None, "red"), (1, "green"))), 2, 5),
        (stat("API", [target(across_hosts("min", 'up{job="trading-app-api"}'), "api")], mappings=UP_DOWN,
              steps=thresholds((None, "red"), (1, "green"))), 2, 5),
        (timeseries("Trades per second by side", [
            target("sum by (side) (rate(trades_total[$__rate_interval]))", "{{side}}"),
            target("side:trades:rate1m", "{{side}} (1m avg)")], unit="ops"), 12, 8),
        (timeseries("Volume per second by side", [
            target("sum by (side) (rate(volume_total[$__rate_interval]))", "{{side}}"),
            target("side:volume:rate1m", "{{side}} (1m avg)")]), 12, 8),
        (timeseries("Trade latency p50 / p95 / p99 (click → sidecar, 1m)", [
            target("job:trade_latency_seconds:p50_1m", "p50"),
            target("job:trade_latency_seconds:p95_1m", "p95"),
            target("job:trade_latency_seconds:p99_1m", "p99")], unit="s",
            steps=thresholds((None, "green"), (0.1, "red")), threshold_line=True,
            description="From trade_latency_seconds; the TradeLatencyP99High alert fires above 100 ms for 30 s."),
         12, 8),
        (heatmap("Trade latency heatmap", "sum by (le) (increase(trade_latency_seconds_bucket[$__rate_interval]))",
                 description="Trades per latency bucket per interval."), 12, 8),
        (timeseries("Trades by symbol", [
            target('sum by (symbol, side) (trades_total{symbol=~"$symbol"})', "{{symbol}} {{side}}")],
            description="Totals; the seed's trades without a symbol show with an empty symbol."), 8, 8),
        (timeseries("Invalid messages by reason", [
            target("sum by (reason) (increase(messages_invalid_total[$__rate_interval]))", "{{reason}}")],
            bars=True, description="Rejected by the sidecar (docs/metrics.md lists the reasons)."), 8, 8),
        (timeseries("Dropped by the publisher", [
            target("sum by (reason) (increase(publisher_messages_dropped_total[$__rate_interval]))", "{{reason}}")],
            bars=True, description="no_peer: sidecar unreachable; hwm: send queue full; closed: at shutdown."),
         8, 8),
        (stat("Invalid (total)", [target("sum(messages_invalid_total)", "invalid")],
              steps=thresholds((None, "green"), (1, "orange"))), 6, 4),
        (stat("Dropped by publisher (total)", [target("sum(publisher_messages_dropped_total)", "dropped")],
              steps=thresholds((None, "green"), (1, "orange"))), 6, 4),
        (stat("Lost in transport (total)", [target("sum(messages_lost_total)", "lost")],
              steps=thresholds((None, "green"), (1, "red"))), 6, 4),
        (stat("Firing alerts", [target('count(ALERTS{alertstate="firing"}) or vector(0)', "firing")],
              steps=thresholds((None, "green"), (1, "red"))), 6, 4),
    ]
    return dashboard("trading-overview", "Trading overview",
                     "Trades and volume per side, last trade, click-to-sidecar latency, bad input, liveness.",
                     [variable("symbol", "Symbol", "trades_total")], items,
                     [link("Latency & loss", "latency-loss")])


def latency_loss() -> Json:
    """Issue 4: every hop's latency, loss and producers, market feeds."""
    hop_sel = 'hop=~"$hop",type=~"$type"'
    stale_steps = thresholds((None, "green"), (10, "red"))
    items: list[tuple[Json, int, int]] = [
        (row("Per-hop latency"), 24, 1),
        *[(timeseries(f"{q} by hop (1m)", [
            target(f"hop_type:hop_latency_seconds:{q.lower()}_1m{{{hop_sel}}}", "{{hop}} · {{type}}")], unit="s",
            description="event_to_send: inside the app; send_to_receive: ZeroMQ; receive_to_apply: sidecar; "
                        "event_to_apply: end to end."), 8, 8) for q in ("p50", "p95", "p99")],
        (timeseries("Exact p99 of recent samples", [
            target(across_hosts("max", f'hop_latency_recent_seconds{{{hop_sel},quantile="0.99"}}'),
                   "{{hop}} · {{type}}")], unit="s",
            description="No bucket interpolation: the exact quantile of the last SIDECAR_LATENCY_SAMPLES."), 8, 8),
        (heatmap("End to end (event → apply) heatmap",
                 'sum by (le) (increase(hop_latency_seconds_bucket{hop="event_to_apply",type=~"$type"}'
                 "[$__rate_interval]))", exemplar=True,
                 description="Dots are exemplars: a recent event of that bucket (event_id, producer, seq)."), 8, 8),
        (timeseries("publish() duration p99 (trading app)", [
            target("histogram_quantile(0.99, sum by (le) (rate(publisher_publish_duration_seconds_bucket"
                   "[$__rate_interval])))", "p99")], unit="s"), 8, 8),
        (row("Clock skew and tails"), 24, 1),
        (timeseries("p99 by hop, with exemplars", [
            target(f"histogram_quantile(0.99, sum by (le, hop, type) (rate(hop_latency_seconds_bucket{{{hop_sel}}}"
                   "[$__rate_interval])))", "{{hop}} · {{type}}", exemplar=True)], unit="s",
            description="Each dot is an exemplar: a recent event of a bucket, with its event_id, producer and seq "
                        "(hover it), to follow a spike to the exact trade or tick. Needs Prometheus with "
                        "--enable-feature=exemplar-storage."), 24, 8),
        (timeseries("Producer clock offset (estimate)", [
            target('producer_clock_offset_seconds{producer=~"$producer"}', "{{producer}} @ {{instance}}")],
            unit="s", steps=thresholds((None, "green"), (0.005, "red")), threshold_line=True,
            description="Producer clock minus sidecar clock: -min(receive - sent_ts) over the last minute, a lower "
                        "bound (true offset within + the fastest transport delay). A constant transport delay looks "
                        "like an offset. ProducerClockSkew fires above 5 ms (either sign) for 1 min."), 8, 8),
        (timeseries("Negative hop samples (clock skew) per interval", [
            target(f"sum by (hop, type, clock) (increase(hop_latency_negative_total{{{hop_sel}}}[$__rate_interval]))",
                   "{{hop}} · {{type}} ({{clock}})")], bars=True,
            description="Samples whose later timestamp came first; each is in the histogram as 0. clock=cross: "
                        "the producer's clock is ahead; clock=same: a clock stepped."), 8, 8),
        (timeseries("Max (last 15-30 s) and exact p99.9", [
            target(f"max by (hop, type) (hop_latency_max_seconds{{{hop_sel}}})", "max {{hop}} · {{type}}"),
            target(across_hosts("max", f'hop_latency_recent_seconds{{{hop_sel},quantile="0.999"}}'),
                   "p99.9 {{hop}} · {{type}}")], unit="s",
            description="The largest sample of each hop in the last 15-30 s (no sample escapes a 15 s scrape), "
                        "and the exact p99.9 of the recent samples."), 8, 8),
        (row("Loss and producers"), 24, 1),
        (stat("Lost messages by producer", [
            target('sum by (producer) (messages_lost_total{producer=~"$producer"})', "{{producer}}")],
            steps=thresholds((None, "green"), (1, "red"))), 8, 5),
        (stat("Producer up", [target(across_hosts("min", 'producer_up{producer=~"$producer"}'), "{{producer}}")],
              mappings=UP_DOWN,
              steps=thresholds((None, "red"), (1, "green"))), 8, 5),
        (stat("Since producer's last message", [
            target("time() - " + across_hosts("max", 'producer_last_seen_seconds{producer=~"$producer"}'),
                   "{{producer}}")], unit="s",
            decimals=1, steps=thresholds((None, "green"), (3, "red"))), 8, 5),
        (timeseries("Lost per interval", [
            target('sum by (producer) (increase(messages_lost_total{producer=~"$producer"}[$__rate_interval]))',
                   "{{producer}}")], bars=True), 8, 8),
        (timeseries("Received per second by type", [
            target("sum by (type) (rate(messages_received_total[$__rate_interval]))", "{{type}}")], unit="ops"),
         8, 8),
        (timeseries("Duplicates and out-of-order ticks", [
            target("sum(increase(messages_duplicate_total[$__rate_interval]))", "duplicates"),
            target('sum by (symbol) (increase(ticks_out_of_order_total{symbol=~"$symbol"}[$__rate_interval]))',
                   "out of order {{symbol}}")], bars=True), 8, 8),
        (timeseries("Publisher sent and dropped per second", [
            target("sum by (type) (rate(publisher_messages_sent_total[$__rate_interval]))", "sent {{type}}"),
            target("sum by (reason) (rate(publisher_messages_dropped_total[$__rate_interval]))",
                   "dropped {{reason}}")], unit="ops"), 24, 8),
        (row("Market feeds"), 24, 1),
        (timeseries("Feed staleness (now − newest tick)", [
            target("time() - " + across_hosts("max", 'tick_last_ts_seconds{symbol=~"$symbol"}'), "{{symbol}}")],
            unit="s",
            steps=stale_steps, threshold_line=True,
            description="The StaleFeed alert fires above 10 s."), 8, 8),
        (timeseries("Last price", [target(across_hosts("max", 'tick_last_price{symbol=~"$symbol"}'), "{{symbol}}")]),
         8, 8),
        (timeseries("Ticks per second", [
            target('sum by (symbol, source) (rate(ticks_total{symbol=~"$symbol"}[$__rate_interval]))',
                   "{{symbol}} {{source}}")], unit="ops"), 8, 8),
        (timeseries("Price spikes per interval", [
            target('sum by (symbol) (increase(tick_spikes_total{symbol=~"$symbol"}[$__rate_interval]))',
                   "{{symbol}}")], bars=True,
            description="Ticks more than SIDECAR_SPIKE_FRACTION from the previous price."), 16, 6),
        (stat("Price spikes (total)", [
            target('sum by (symbol) (tick_spikes_total{symbol=~"$symbol"})', "{{symbol}}")],
            steps=thresholds((None, "green"), (1, "orange"))), 8, 6),
    ]
    variables = [variable("hop", "Hop", "hop_latency_seconds_bucket"),
                 variable("type", "Message type", "hop_latency_seconds_bucket"),
                 variable("producer", "Producer", "producer_up"),
                 variable("symbol", "Symbol", "tick_last_ts_seconds")]
    return dashboard("latency-loss", "Latency & loss",
                     "Every hop's latency, lost/duplicate messages, producer liveness, feed staleness and spikes.",
                     variables, items, [link("Trading overview", "trading-overview")])


DASHBOARDS: dict[str, Callable[[], Json]] = {
    "trading-overview.json": overview,
    "latency-loss.json": latency_loss,
}


def render(build: Callable[[], Json]) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, build in DASHBOARDS.items():
        path = OUT_DIR / name
        text = render(build)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date (run .venv/bin/python grafana/generate.py): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
