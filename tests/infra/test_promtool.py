"""promtool over everything in prometheus/: the Docker config (and the rule files
it loads relative to itself), the rule files, the rule unit tests; plus the
conventions that keep alerts tested: every alert has a firing and a not-firing
case, every recording rule is checked, every rules file has its test file."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from telemetry_devtools import promconf
from telemetry_testkit.grafana_model import rules
from telemetry_testkit.procs import REPO, require_binary

PROM_DIR = REPO / "prometheus"
RULE_FILES = sorted((PROM_DIR / "rules").glob("*.yml"))
TEST_FILES = sorted((PROM_DIR / "tests").glob("*.yml"))
RECORD_NAME = re.compile(r"^[a-z_]+:[a-z_]+:[a-z0-9_]+$")  # level:metric:operation


def promtool(*args: str, cwd: Path = PROM_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.prometheus
def test_check_config_loads_every_rule_file_relative_to_the_config(tmp_path: Path) -> None:
    # From another directory: rule_files resolve against the config's own directory.
    result = promtool("check", "config", str(PROM_DIR / "prometheus.yml"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout, result.stdout


@pytest.mark.prometheus
def test_check_config_of_the_local_docker_free_config(tmp_path: Path) -> None:
    """The config ./run.sh renders (devtools/src/telemetry_devtools/promconf.py) loads the same rule files."""
    config = tmp_path / "prometheus.yml"
    config.write_text(promconf.render({"metrics-sidecar": ("127.0.0.1:8001", "/metrics/"),
                                       "trading-app-api": ("127.0.0.1:8000", "/metrics")}))
    result = promtool("check", "config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout, result.stdout


@pytest.mark.prometheus
def test_check_config_of_the_multi_host_agent_and_central(tmp_path: Path) -> None:
    """prometheus/agent.yml (agent mode: no rules, remote_write, host label) and
    prometheus/global.yml (the central one: every rule file)."""
    agent = promtool("check", "config", "--agent", str(PROM_DIR / "agent.yml"), cwd=tmp_path)
    assert agent.returncode == 0, agent.stdout + agent.stderr
    central = promtool("check", "config", str(PROM_DIR / "global.yml"), cwd=tmp_path)
    assert central.returncode == 0, central.stdout + central.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in central.stdout, central.stdout
    config = yaml.safe_load((PROM_DIR / "agent.yml").read_text())
    assert config["global"]["external_labels"] == {"host": "${TELEMETRY_HOST}"}
    assert [w["url"] for w in config["remote_write"]] == ["http://prometheus-central:9090/api/v1/write"]
    assert {job["job_name"] for job in config["scrape_configs"]} == {"metrics-sidecar", "trading-app-api"}


@pytest.mark.prometheus
def test_check_rules() -> None:
    result = promtool("check", "rules", *(str(p) for p in RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


@pytest.mark.prometheus
def test_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", *(str(p) for p in TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TEST_FILES), result.stdout


@pytest.mark.prometheus
def test_a_broken_expectation_fails(tmp_path: Path) -> None:
    """The unit tests can fail: the stale-feed case with the alert expected too early."""
    case = yaml.safe_load((PROM_DIR / "tests" / "market_test.yml").read_text())
    case["rule_files"] = [str(PROM_DIR / "rules" / "market.yml")]
    firing = next(t for t in case["tests"][0]["alert_rule_test"] if t["exp_alerts"])
    firing["eval_time"] = "40s"  # exactly 10 s old: not yet stale
    (tmp_path / "broken_test.yml").write_text(yaml.safe_dump(case))
    result = promtool("test", "rules", "broken_test.yml", cwd=tmp_path)
    assert result.returncode == 1 and "alertname: StaleFeed" in result.stderr, result.stdout + result.stderr


def _tests_by_rule_file() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for path in TEST_FILES:
        doc = yaml.safe_load(path.read_text())
        for rule_file in doc["rule_files"]:
            out.setdefault(Path(rule_file).name, []).extend(doc["tests"])
    return out


def test_every_rules_file_has_a_test_file() -> None:
    assert [p.stem for p in RULE_FILES] == [p.stem.removesuffix("_test") for p in TEST_FILES]
    for path in TEST_FILES:
        referenced = yaml.safe_load(path.read_text())["rule_files"]
        assert referenced == [f"../rules/{path.stem.removesuffix('_test')}.yml"], path.name


def test_every_alert_has_a_firing_and_a_not_firing_case() -> None:
    tests = _tests_by_rule_file()
    alerts = [r for r in rules() if "alert" in r]
    assert {r["alert"] for r in alerts} >= {
        "SidecarDown", "TradeLatencyP99High", "InvalidMessages", "PublisherDroppingMessages",  # issue 3
        "MessagesLost", "ProducerDown", "StaleFeed", "TickPriceSpikes", "HopLatencyP99High"}  # issue 4
    for rule in alerts:
        cases = [c for t in tests.get(rule["file"], []) for c in t.get("alert_rule_test", [])
                 if c["alertname"] == rule["alert"]]
        assert any(c["exp_alerts"] for c in cases), f"{rule['alert']}: no firing case"
        assert any(not c["exp_alerts"] for c in cases), f"{rule['alert']}: no not-firing case"


def test_every_recording_rule_is_checked_and_well_named() -> None:
    tests = _tests_by_rule_file()
    for rule in (r for r in rules() if "record" in r):
        assert RECORD_NAME.match(rule["record"]), f"{rule['record']}: not level:metric:operation"
        exprs = [c["expr"] for t in tests.get(rule["file"], []) for c in t.get("promql_expr_test", [])]
        assert any(rule["record"] in e for e in exprs), f"{rule['record']}: no promql_expr_test"


def test_alerts_have_severity_and_text() -> None:
    for rule in (r for r in rules() if "alert" in r):
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_docs_name_every_alert_recording_rule_and_dashboard() -> None:
    doc = (REPO / "docs" / "observability.md").read_text()
    for rule in rules():
        name = rule.get("alert") or rule["record"]
        assert f"`{name}`" in doc, f"{name} is not described in docs/observability.md"
    for path in sorted((REPO / "grafana" / "dashboards").glob("*.json")):
        assert path.name in doc, path.name
