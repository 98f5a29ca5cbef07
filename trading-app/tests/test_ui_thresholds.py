"""The Latency page's threshold lines are the alert rules' thresholds."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from trading_app.ui.latency_page import ALERT_THRESHOLDS_MS


def test_latency_chart_thresholds_are_the_alert_rules() -> None:
    """The lines the Latency page draws are the thresholds prometheus/rules/latency.yml alerts on."""
    rules = yaml.safe_load((Path(__file__).resolve().parents[2] / "prometheus" / "rules" / "latency.yml").read_text())
    alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    for name, (ms, _kinds, _what) in ALERT_THRESHOLDS_MS.items():
        threshold = float(re.search(r">\s*([0-9.]+)\s*$", alerts[name]).group(1))  # type: ignore[union-attr]
        assert threshold * 1000 == ms, name
