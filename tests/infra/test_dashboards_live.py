"""Every dashboard panel shows data: a real Prometheus (1 s scrape, every rule
file loaded) scrapes a real sidecar and a real trading-app API; trades (seed and
with symbols) come from the API and from a real Publisher, which also sends ticks
for two symbols (one >10 % spike) and heartbeats, plus one invalid frame. Each
panel target is evaluated through the HTTP API, with Grafana's variables
substituted, and must return a finite value. A panel that would say "No data"
fails here."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from telemetry_testkit.dashboard_stack import Stack
from telemetry_testkit.grafana_model import (
    iter_panels,
    iter_targets,
    load_dashboards,
    metric_names,
    rules,
    substitute,
    variable_query,
    wait_all_have_data,
)
from telemetry_testkit.procs import wait_until
from telemetry_testkit.prom import Prometheus

pytestmark = pytest.mark.prometheus
DASHBOARDS = load_dashboards()
DEADLINE = 25.0
# Metrics that only exist with optional parts this test does not run.
OPTIONAL_METRICS = {"probe_success", "ALERTS"}


def _evaluate_all(prom: Prometheus, exprs: dict[str, str]) -> None:
    for expr in exprs.values():
        prom.query(expr)  # an invalid expression fails here at once, with Prometheus' error
    wait_all_have_data(prom.query, exprs, DEADLINE)


def _variable_values(prom: Prometheus, dashboard: dict[str, Any]) -> dict[str, list[str]]:
    """What each label_values(metric, label) variable offers, from the real Prometheus."""
    out: dict[str, list[str]] = {}
    for variable in dashboard["templating"]["list"]:
        query = variable_query(variable)
        assert query.startswith("label_values(") and query.endswith(")"), query
        metric, label = (part.strip() for part in query[len("label_values("):-1].split(","))
        body = httpx.get(f"{prom.url}/api/v1/label/{label}/values", params={"match[]": metric}, timeout=5).json()
        assert body["status"] == "success", body
        out[variable["name"]] = sorted(body["data"])
    return out


def _panel_exprs(dashboard: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    return {f"{panel['title']} [{target['refId']}]": substitute(target["expr"], values)
            for panel, target in iter_targets(dashboard)}


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_returns_data_with_all_selected(stack: Stack, name: str) -> None:
    dashboard = DASHBOARDS[name]
    exprs = _panel_exprs(dashboard, {v["name"]: v["allValue"] for v in dashboard["templating"]["list"]})
    _evaluate_all(stack.prom, exprs)
    # Grafana asks for a range: the same expressions must be valid range queries.
    end = httpx.get(f"{stack.prom.url}/api/v1/query", params={"query": "time()"}).json()["data"]["result"][0]
    for where, expr in exprs.items():
        body = httpx.get(f"{stack.prom.url}/api/v1/query_range",
                         params={"query": expr, "start": end - 60, "end": end, "step": "1s"}, timeout=5).json()
        assert body["status"] == "success" and body["data"]["result"], (where, body)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_returns_data_with_one_value_selected(stack: Stack, name: str) -> None:
    dashboard = DASHBOARDS[name]
    offered = wait_until(lambda: (v := _variable_values(stack.prom, dashboard)) and all(v.values()) and v,
                         DEADLINE, 0.25, "every variable to offer values")
    assert offered.get("symbol", ["BTCUSDT"])[0] == "BTCUSDT"
    _evaluate_all(stack.prom, _panel_exprs(dashboard, {name: values[0] for name, values in offered.items()}))


def _by(prom: Prometheus, expr: str, *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(r["metric"].get(label, "") for label in labels): float(r["value"][1]) for r in prom.query(expr)}


def _panel_expr(dashboard: str, title: str, ref: str = "A") -> str:
    d = DASHBOARDS[dashboard]
    panel = next(p for p in iter_panels(d) if p["title"] == title)
    target = next(t for t in panel["targets"] if t["refId"] == ref)
    return substitute(target["expr"], {v["name"]: v["allValue"] for v in d["templating"]["list"]})


def test_panels_show_exactly_what_was_sent(stack: Stack) -> None:
    prom = stack.prom
    overview, latency = "trading-overview.json", "latency-loss.json"
    expected: list[tuple[str, str, tuple[str, ...], dict[tuple[str, ...], float]]] = [
        # buy: publisher seed 1 + publisher BTCUSDT 0.5 + API seed 1; sell: publisher ETHUSDT 2 + API BTCUSDT 3
        (overview, "Trades by side", ("side",), {("buy",): 3, ("sell",): 2}),
        (overview, "Volume by side", ("side",), {("buy",): 2.5, ("sell",): 5}),
        (overview, "Trades by symbol", ("symbol", "side"),
         {("", "buy"): 2, ("BTCUSDT", "buy"): 1, ("BTCUSDT", "sell"): 1, ("ETHUSDT", "sell"): 1}),
        (overview, "Invalid (total)", (), {(): 1}),
        (overview, "Lost in transport (total)", (), {(): 0}),
        (overview, "Dropped by publisher (total)", (), {(): 0}),
        (overview, "Sidecar", (), {(): 1}),
        (overview, "API", (), {(): 1}),
        (latency, "Price spikes (total)", ("symbol",), {("BTCUSDT",): 1, ("ETHUSDT",): 0}),
        (latency, "Lost messages by producer", ("producer",),
         {("dashboard-reliable",): 0, ("dashboard-test",): 0, ("trading-app-api",): 0}),
        (latency, "Producer up", ("producer",), {("dashboard-reliable",): 1, ("dashboard-test",): 1,
                                                  ("trading-app-api",): 1}),
        (latency, "Last price", ("symbol",), {("BTCUSDT",): 120.0, ("ETHUSDT",): 10.1}),
    ]
    for dashboard, title, labels, want in expected:
        expr = _panel_expr(dashboard, title)
        wait_until(lambda e=expr, ls=labels, w=want: _by(prom, e, *ls) == w, DEADLINE, 0.25,  # type: ignore[misc]
                   f"{title}: {expr} == {want}")
    # The last trade's ts was stamped inside its POST, and the query evaluates time() while it
    # runs: both bracketed by wall-clock readings, so the panel's value is known to the ms,
    # however loaded the machine is.
    before_last, after_last = stack.last_trade_window
    query_from = time.time()
    since = prom.value(_panel_expr(overview, "Time since last trade"))
    query_to = time.time()
    assert since is not None
    assert query_from - after_last - 0.001 <= since <= query_to - before_last + 0.001


def test_clock_offset_panel_shows_each_method_and_the_round_trip_error_band(stack: Stack) -> None:
    """The reliable publisher's offset comes from round trips and has a ± error band
    around it; the push publishers' one-way lower bounds have no band."""
    title = "Producer clock offset ± error bound"
    offset, upper, lower = (_panel_expr("latency-loss.json", title, ref) for ref in "ABC")
    methods = {("dashboard-reliable", "round_trip"), ("dashboard-test", "one_way"), ("trading-app-api", "one_way")}
    wait_until(lambda: set(_by(stack.prom, offset, "producer", "method")) == methods, DEADLINE, 0.25,
               f"{offset} has {methods}")
    error = 'producer_clock_offset_error_seconds{producer="dashboard-reliable"}'
    # One query, one evaluation time: the band is exactly offset ± the exported error.
    both = f"label_replace({upper}, 'edge', 'upper', '', '') or label_replace({lower}, 'edge', 'lower', '', '')"
    both += f" or label_replace(max without (instance, host) ({error}), 'edge', 'error', '', '')"
    both += f" or label_replace({offset}, 'edge', 'offset', '', '')"
    edges = _by(stack.prom, both, "producer", "edge")
    assert {producer for producer, edge in edges if edge != "offset"} == {"dashboard-reliable"}  # one-way: no band
    rel = {edge: value for (producer, edge), value in edges.items() if producer == "dashboard-reliable"}
    assert rel["error"] >= 0
    assert rel["upper"] == pytest.approx(rel["offset"] + rel["error"], abs=1e-12)
    assert rel["lower"] == pytest.approx(rel["offset"] - rel["error"], abs=1e-12)


def test_every_rule_loaded_healthy_and_reads_real_metrics(stack: Stack) -> None:
    """The Docker-free config (devtools/src/telemetry_devtools/promconf.py) loads every rule file, each
    rule evaluates without error, and every metric a rule reads is exposed by the
    real processes (a renamed metric would silently never alert)."""
    expected = rules()

    def healthy() -> list[dict[str, Any]] | None:
        groups = httpx.get(f"{stack.prom.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
        loaded = [r for g in groups for r in g["rules"]]
        return loaded if len(loaded) == len(expected) and all(r["health"] == "ok" for r in loaded) else None

    loaded = wait_until(healthy, DEADLINE, 0.25, "all rules evaluated ok")
    assert sorted(r["name"] for r in loaded) == sorted(r.get("record") or r["alert"] for r in expected)
    recorded = {r["record"] for r in expected if "record" in r}
    exposed = set(httpx.get(f"{stack.prom.url}/api/v1/label/__name__/values", timeout=5).json()["data"])
    for rule in expected:
        missing = metric_names(rule["expr"]) - exposed - recorded - OPTIONAL_METRICS
        assert not missing, f"{rule.get('alert') or rule['record']} ({rule['file']}) reads unknown {missing}"
    for record in recorded:  # every recording rule produces series against the real exposition
        wait_until(lambda r=record: stack.prom.query(r), DEADLINE, 0.25, f"{record} has series")  # type: ignore[misc]
