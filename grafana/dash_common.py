"""Typed building blocks for the provisioned dashboards, on grafana-foundation-sdk.

Every query is a Prometheus dataquery on the provisioned datasource uid, and uses
Grafana variables only in ``=~`` matchers, so a test can evaluate each expression
against a real Prometheus. A panel either aggregates (``sum by``) or reduces
per-series gauges ``without (instance, host)``, so it shows the same on one
Prometheus and on a central one fed by many hosts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grafana_foundation_sdk.builders import common, dashboard, heatmap, prometheus, stat, timeseries
from grafana_foundation_sdk.models import common as common_m
from grafana_foundation_sdk.models import dashboard as dashboard_m
from grafana_foundation_sdk.models import heatmap as heatmap_m
from grafana_foundation_sdk.models import prometheus as prometheus_m

DATASOURCE_UID = "trading-prometheus"  # = grafana/provisioning/datasources/prometheus.yml
DS = dashboard_m.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
REFRESH = "5s"
REFRESH_CHOICES = ["1s", "2s", "5s", "10s", "30s", "1m"]
TAGS = ["trading-telemetry"]

Panel = stat.Panel | timeseries.Panel | heatmap.Panel
Step = tuple[float | None, str]
# One grid item: a panel (or a row) with its width and height in Grafana's 24 columns.
Item = tuple[Panel | dashboard.Row, int, int]


def query(expr: str, legend: str = "", *, exemplar: bool = False) -> prometheus.Dataquery:
    """A range query in code mode. ``exemplar``: Grafana also asks Prometheus for the
    exemplars of the series it reads (hop-latency buckets: the event_id, producer
    and seq of a recent event per bucket)."""
    q = (prometheus.Dataquery().datasource(DS).expr(expr).legend_format(legend or "__auto").range()
         .editor_mode(prometheus_m.QueryEditorMode.CODE))
    return q.exemplar(True) if exemplar else q


def across_hosts(op: str, selector: str) -> str:
    """A per-series gauge reduced over the sidecars/hosts that report it (one
    series on one host; the newest, or the worst liveness, across many)."""
    return f"{op} without (instance, host) ({selector})"


def thresholds(*steps: Step) -> dashboard.ThresholdsConfig:
    return (dashboard.ThresholdsConfig().mode(dashboard_m.ThresholdsMode.ABSOLUTE)
            .steps([dashboard_m.Threshold(value=v, color=c) for v, c in steps]))


GREEN: tuple[Step, ...] = ((None, "green"),)
UP_DOWN: list[dashboard_m.ValueMapping] = [dashboard_m.ValueMap(options={
    "1": dashboard_m.ValueMappingResult(text="UP", color="green", index=0),
    "0": dashboard_m.ValueMappingResult(text="DOWN", color="red", index=1)})]


def _with_queries(panel: Any, queries: Sequence[prometheus.Dataquery]) -> Any:
    for ref, q in zip("ABCDEFGH", queries, strict=False):
        panel = panel.with_target(q.ref_id(ref))
    return panel


def stat_panel(title: str, queries: Sequence[prometheus.Dataquery], *, unit: str = "short", description: str = "",
               mappings: list[dashboard_m.ValueMapping] | None = None, steps: Sequence[Step] = GREEN,
               decimals: int | None = None) -> stat.Panel:
    panel = (stat.Panel().title(title).description(description).datasource(DS).unit(unit)
             .thresholds(thresholds(*steps)).mappings(mappings or [])
             .color_scheme(dashboard.FieldColor().mode(dashboard_m.FieldColorModeId.THRESHOLDS))
             .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False))
             .color_mode(common_m.BigValueColorMode.VALUE).graph_mode(common_m.BigValueGraphMode.NONE)
             .text_mode(common_m.BigValueTextMode.VALUE_AND_NAME).justify_mode(common_m.BigValueJustifyMode.AUTO)
             .orientation(common_m.VizOrientation.AUTO))
    if decimals is not None:
        panel = panel.decimals(decimals)
    result: stat.Panel = _with_queries(panel, queries)
    return result


def timeseries_panel(title: str, queries: Sequence[prometheus.Dataquery], *, unit: str = "short",
                     description: str = "", bars: bool = False, steps: Sequence[Step] = GREEN,
                     threshold_line: bool = False) -> timeseries.Panel:
    line_mode = common_m.GraphTresholdsStyleMode.LINE if threshold_line else common_m.GraphTresholdsStyleMode.OFF
    panel = (timeseries.Panel().title(title).description(description).datasource(DS).unit(unit)
             .draw_style(common_m.GraphDrawStyle.BARS if bars else common_m.GraphDrawStyle.LINE)
             .line_width(1).fill_opacity(60 if bars else 10).show_points(common_m.VisibilityMode.NEVER)
             .span_nulls(False).axis_soft_min(0)
             .thresholds_style(common.GraphThresholdsStyleConfig().mode(line_mode))
             .thresholds(thresholds(*steps))
             .color_scheme(dashboard.FieldColor().mode(dashboard_m.FieldColorModeId.PALETTE_CLASSIC))
             .legend(common.VizLegendOptions().display_mode(common_m.LegendDisplayMode.LIST)
                     .placement(common_m.LegendPlacement.BOTTOM).show_legend(True))
             .tooltip(common.VizTooltipOptions().mode(common_m.TooltipDisplayMode.MULTI)
                      .sort(common_m.SortOrder.DESCENDING)))
    result: timeseries.Panel = _with_queries(panel, queries)
    return result


def heatmap_panel(title: str, expr: str, *, description: str = "", exemplar: bool = False) -> heatmap.Panel:
    """Pre-bucketed (``le``) counts per interval; ``exemplar`` draws a recent event of a bucket as a dot."""
    bucket_query = query(expr, "{{le}}", exemplar=exemplar).format(prometheus_m.PromQueryFormat.HEATMAP)
    panel = (heatmap.Panel().title(title).description(description).datasource(DS)
             .scale_distribution(common.ScaleDistributionConfig().type(common_m.ScaleDistribution.LINEAR))
             .calculate(False).cell_gap(1)
             .color(heatmap.HeatmapColorOptions().mode(heatmap_m.HeatmapColorMode.SCHEME).scheme("Oranges")
                    .scale(heatmap_m.HeatmapColorScale.EXPONENTIAL).exponent(0.5).steps(64).reverse(False))
             .y_axis(heatmap.YAxisConfig().axis_placement(common_m.AxisPlacement.LEFT).unit("s").reverse(False))
             .rows_frame(heatmap.RowsHeatmapOptions().layout(common_m.HeatmapCellLayout.AUTO))
             .filter_values(heatmap.FilterValueRange().le(1e-9))
             .show_tooltip().show_y_histogram().show_legend())
    result: heatmap.Panel = _with_queries(panel, [bucket_query])
    return result


def variable(name: str, label: str, metric: str) -> dashboard.QueryVariable:
    """A multi-select query variable; "All" is the regex .* (so it also matches
    the empty symbol of seed trades)."""
    definition = f"label_values({metric}, {name})"
    return (dashboard.QueryVariable(name).label(label).datasource(DS)
            .query({"qryType": 1, "query": definition, "refId": "PrometheusVariableQueryEditor-VariableQuery"})
            .refresh(dashboard_m.VariableRefresh.ON_TIME_RANGE_CHANGED).include_all(True).multi(True)
            .all_value(".*").sort(dashboard_m.VariableSort.ALPHABETICAL_ASC)
            .current(dashboard_m.VariableOption(selected=True, text=["All"], value=["$__all"]))
            .regex("").hide(dashboard_m.VariableHide.DONT_HIDE))


def link(title: str, uid: str) -> dashboard.DashboardLink:
    return (dashboard.DashboardLink(title).type(dashboard_m.DashboardLinkType.LINK).url(f"/d/{uid}")
            .keep_time(True).include_vars(False).icon("dashboard").target_blank(False).as_dropdown(False)
            .tags([]).tooltip(""))


def build_dashboard(uid: str, title: str, description: str, variables: Sequence[dashboard.QueryVariable],
                    items: Sequence[Item], links: Sequence[dashboard.DashboardLink]) -> dashboard_m.Dashboard:
    """Panels placed left to right in the SDK's grid (a row starts a new line), with
    ids numbered in order (unique by construction)."""
    board = (dashboard.Dashboard(title).uid(uid).description(description).tags(TAGS).timezone("browser")
             .readonly().tooltip(dashboard_m.DashboardCursorSync.CROSSHAIR).version(1).live_now(False)
             .time("now-15m", "now").refresh(REFRESH)
             .timepicker(dashboard.TimePicker().refresh_intervals(REFRESH_CHOICES)))
    for v in variables:
        board = board.with_variable(v)
    for lnk in links:
        board = board.link(lnk)
    for number, (item, w, h) in enumerate(items, start=1):
        if isinstance(item, dashboard.Row):
            board = board.with_row(item.id(number))
        else:
            board = board.with_panel(item.id(number).span(w).height(h))
    return board.build()
