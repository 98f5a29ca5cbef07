"""The Alerts page: Prometheus' alerts (from /api/v1/alerts), firing first, or a
plain sentence when Prometheus is not configured or not reachable."""

from __future__ import annotations

import streamlit as st

from trading_app.ui.app_settings import get_settings
from trading_app.ui.prometheus_api import alerts

NOT_CONFIGURED = "Prometheus not configured (WEBAPP_PROMETHEUS_URL is empty): no alerts to show."


def render() -> None:
    st.title("Alerts")
    alerts_panel()


@st.fragment(run_every=2.0)
def alerts_panel() -> None:
    base = get_settings().prometheus_url
    with st.container(key="alerts"):
        if not base:
            st.info(NOT_CONFIGURED)
            return
        active = alerts(base)
        if active is None:
            st.warning(f"Prometheus at {base} not reachable: alerts unknown.")
            return
        st.caption(f"From {base}/api/v1/alerts (rules: prometheus/rules/*.yml).")
        if not active:
            st.success("No alerts pending or firing.")
            return
        order = {"firing": 0, "pending": 1}
        rows = [{"alert": a["labels"].get("alertname", ""), "state": a.get("state", ""),
                 "severity": a["labels"].get("severity", ""),
                 "summary": a.get("annotations", {}).get("summary", ""), "since": a.get("activeAt", "")[:19]}
                for a in active]
        st.table(sorted(rows, key=lambda r: (order.get(r["state"], 2), r["alert"])))
