"""The provisioned dashboards are well formed, generated from grafana/generate.py,
and point at the provisioned datasource. (Whether every panel shows data is
proven against a real Prometheus in test_dashboards_live.py.)"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from telemetry_testkit.grafana_model import (
    BUILTINS,
    MATCHER,
    iter_panels,
    iter_targets,
    load_dashboards,
    metric_names,
    provisioned_datasource_uid,
    referenced_variables,
)
from telemetry_testkit.procs import REPO

DASHBOARDS = load_dashboards()


def _seconds(interval: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for suffix in ("ms", "s", "m", "h"):
        if interval.endswith(suffix) and interval[: -len(suffix)].isdigit():
            return int(interval[: -len(suffix)]) * units[suffix]
    raise AssertionError(f"not a Grafana interval: {interval!r}")


def test_the_two_dashboards_exist_with_unique_uids() -> None:
    assert set(DASHBOARDS) == {"trading-overview.json", "latency-loss.json", "market-analytics.json"}
    uids = [d["uid"] for d in DASHBOARDS.values()]
    titles = [d["title"] for d in DASHBOARDS.values()]
    assert len(set(uids)) == len(uids) and len(set(titles)) == len(titles)


def test_committed_json_is_what_the_generator_produces() -> None:
    result = subprocess.run([sys.executable, "grafana/generate.py", "--check"], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_refresh_and_time_range(name: str) -> None:
    d = DASHBOARDS[name]
    assert 1 <= _seconds(d["refresh"]) <= 5
    assert d["time"] == {"from": "now-15m", "to": "now"}
    assert d["refresh"] in d["timepicker"]["refresh_intervals"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panel_ids_unique_and_grid_without_overlap(name: str) -> None:
    panels = list(iter_panels(DASHBOARDS[name]))
    ids = [p["id"] for p in panels]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids), ids
    taken: dict[tuple[int, int], str] = {}
    for p in panels:
        g = p["gridPos"]
        assert g["w"] >= 1 and g["h"] >= 1 and g["x"] >= 0 and g["x"] + g["w"] <= 24, (p["title"], g)
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in taken, f"{p['title']!r} overlaps {taken[(x, y)]!r}"
                taken[(x, y)] = p["title"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_query_uses_the_provisioned_datasource(name: str) -> None:
    uid = provisioned_datasource_uid()
    d = DASHBOARDS[name]
    n_targets = 0
    for panel in iter_panels(d):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel["targets"], f"{panel['title']!r} has no query"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]
        for t in panel["targets"]:
            assert t["datasource"]["uid"] == uid and t["expr"].strip(), panel["title"]
            n_targets += 1
    for variable in d["templating"]["list"]:
        assert variable["datasource"]["uid"] == uid, variable["name"]
    assert n_targets >= 15


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_variables_are_defined_and_only_used_as_regex(name: str) -> None:
    """So "All" (.*) and any selection are valid PromQL; checked per matcher."""
    d = DASHBOARDS[name]
    defined = {v["name"]: v for v in d["templating"]["list"]}
    for v in defined.values():
        assert v["includeAll"] and v["allValue"] == ".*", v["name"]
    for panel, target in iter_targets(d):
        expr: str = target["expr"]
        used = referenced_variables(expr)
        assert used <= set(defined) | set(BUILTINS), (panel["title"], used)
        for label, op, value in MATCHER.findall(expr):
            if "$" in value:
                assert op in ("=~", "!~"), f"{panel['title']!r}: {label}{op}\"{value}\" must be a regex matcher"


def test_main_dashboard_covers_the_issue() -> None:
    """Issue 3's list, by the metrics the overview's panels read."""
    panels: dict[str, Any] = {p["title"]: p for p in iter_panels(DASHBOARDS["trading-overview.json"])}
    read = {title: set().union(*(metric_names(t["expr"]) for t in p["targets"])) for title, p in panels.items()}
    everything = set().union(*read.values())
    for name in ["trades_total", "volume_total", "side:trades:rate1m", "side:volume:rate1m", "last_trade_ts_seconds",
                 "job:trade_latency_seconds:p50_1m", "job:trade_latency_seconds:p95_1m",
                 "job:trade_latency_seconds:p99_1m", "trade_latency_seconds_bucket", "messages_invalid_total",
                 "publisher_messages_dropped_total", "up"]:
        assert name in everything, name
    assert any(p["type"] == "heatmap" for p in panels.values())
    assert 'up{job="metrics-sidecar"}' in panels["Sidecar"]["targets"][0]["expr"]


def test_latency_dashboard_covers_issue_4() -> None:
    exprs = " ".join(t["expr"] for _, t in iter_targets(DASHBOARDS["latency-loss.json"]))
    for fragment in ["hop_type:hop_latency_seconds:p99_1m", "messages_lost_total", "producer_up",
                     "time() - max without (instance, host) (tick_last_ts_seconds", "tick_spikes_total",
                     "hop_latency_recent_seconds"]:
        assert fragment in exprs, fragment


def test_metric_names_parser() -> None:
    assert metric_names('histogram_quantile(0.99, sum by (hop, le) (rate(hop_latency_seconds_bucket{hop=~"$hop"}'
                        "[$__rate_interval])))") == {"hop_latency_seconds_bucket"}
    assert metric_names("round(job:trade_latency_seconds:p99_1m * 1e6) > 0 or vector(0)") == {
        "job:trade_latency_seconds:p99_1m"}
    assert metric_names("time() - tick_last_ts_seconds > 10") == {"tick_last_ts_seconds"}


def test_latency_panels_ask_for_exemplars() -> None:
    """The hop-latency bucket panels toggle exemplars on (a dot per recent event of a bucket); no other query does."""
    with_exemplars = {p["title"] for d in DASHBOARDS.values() for p, t in iter_targets(d) if t.get("exemplar")}
    assert with_exemplars == {"End to end (event → apply) heatmap", "p99 by hop, with exemplars"}
    for d in DASHBOARDS.values():
        for p, t in iter_targets(d):
            if t.get("exemplar"):
                assert "hop_latency_seconds_bucket" in t["expr"], p["title"]
