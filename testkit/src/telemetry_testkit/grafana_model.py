"""Read the provisioned Grafana dashboards the way Grafana would, for tests:
every panel target, Grafana variable substitution, and the metric names a
PromQL expression reads."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import yaml

from telemetry_testkit.procs import REPO, wait_until

DASHBOARD_DIR = REPO / "grafana" / "dashboards"
DATASOURCE_DIR = REPO / "grafana" / "provisioning" / "datasources"
RULES_DIR = REPO / "prometheus" / "rules"

# What Grafana substitutes for its built-in variables, at the 15 min default range.
BUILTINS = {"__rate_interval": "1m", "__interval": "1s", "__interval_ms": "1000", "__range": "15m",
            "__range_s": "900", "__range_ms": "900000"}
VAR_REF = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
             "group_right", "inf", "nan", "Inf", "NaN"}


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARD_DIR.glob("*.json"))}


def provisioned_datasource_uid() -> str:
    sources = [ds for path in sorted(DATASOURCE_DIR.glob("*.y*ml"))
               for ds in (yaml.safe_load(path.read_text()) or {}).get("datasources", [])]
    assert len(sources) == 1, sources
    return str(sources[0]["uid"])


def iter_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def iter_targets(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in iter_panels(dashboard):
        if panel.get("type") != "row":
            for target in panel.get("targets", []):
                yield panel, target


def variable_query(variable: dict[str, Any]) -> str:
    query = variable.get("query")
    return str(query.get("query") if isinstance(query, dict) else query)


def referenced_variables(expr: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in VAR_REF.finditer(expr)}


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace Grafana variables ($x, ${x}, ${x:fmt}, [[x]]); unknown ones raise KeyError."""
    merged = {**BUILTINS, **values}
    return VAR_REF.sub(lambda m: merged[next(g for g in m.groups() if g)], expr)


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (not functions, keywords or labels)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*", s):
        rest = s[m.end():].lstrip()
        if not rest.startswith("(") and m.group() not in _KEYWORDS:
            names.add(m.group())
    return names


def rules() -> list[dict[str, Any]]:
    """Every rule in prometheus/rules/*.yml, with the file it came from."""
    out: list[dict[str, Any]] = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend({**rule, "file": path.name} for rule in group["rules"])
    return out


def wait_all_have_data(query: Callable[[str], list[dict[str, Any]]], exprs: dict[str, str],
                       timeout: float) -> None:
    """Poll until every expression (where -> PromQL) returns at least one finite
    sample through ``query``; fail naming the ones that never did (the panels
    that would say "No data")."""
    pending = dict(exprs)

    def round_trip() -> bool:
        for where, expr in list(pending.items()):
            if any(math.isfinite(float(r["value"][1])) for r in query(expr)):
                del pending[where]
        return not pending

    try:
        wait_until(round_trip, timeout, 0.25, "every panel query to return data")
    except AssertionError:
        raise AssertionError("panels that would show 'No data':\n" +
                             "\n".join(f"  {w}: {e}" for w, e in pending.items())) from None
