"""The health strip at the top of every page: is the sidecar connected, the
current p99 from click to sidecar, what was lost, dropped or invalid over the
last 5 minutes, and how many alerts fire (linked to the Alerts page).

With WEBAPP_PROMETHEUS_URL set, the numbers come from Prometheus (the project's
recording rules and counters); without it, from the sidecar and this UI process,
and the strip says "Prometheus not configured" where the alerts would be."""

from __future__ import annotations

from typing import Any

import streamlit as st

from trading_app.ui.app_publisher import get_publisher
from trading_app.ui.app_settings import get_settings
from trading_app.ui.exposition_reader import exposition
from trading_app.ui.number_format import fixed
from trading_app.ui.prometheus_api import alerts, increase_exact, instant

P99_RULE = "max(job:trade_latency_seconds:p99_1m)"  # prometheus/rules/latency.yml
# name -> (counter, the scrape jobs that export it; while one of them is up, no series yet means 0)
COUNTS = {"lost": ("messages_lost_total", "metrics-sidecar"),
          "dropped": ('publisher_messages_dropped_total{type!="heartbeat"}', "trading-app-api|trading-app-ui"),
          "invalid": ("messages_invalid_total", "metrics-sidecar")}


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{fixed(seconds * 1000, 3)} ms"


def _count(base: str, metric: str, jobs: str) -> float | None:
    """The counter's growth over 5 min; 0 when its exporter is up but has no such
    series yet (nothing happened); None ("—") when the exporter is down."""
    grown = instant(base, increase_exact(metric))
    if grown is None and instant(base, f'max(up{{job=~"{jobs}"}})') == 1:
        return 0.0
    return grown


def _from_prometheus(base: str) -> tuple[str, str, int | None]:
    p99 = _ms(instant(base, P99_RULE))
    counts = {name: _count(base, metric, jobs) for name, (metric, jobs) in COUNTS.items()}
    text = " · ".join(f"{name} {'—' if n is None else fixed(n, 0)}" for name, n in counts.items())
    active = alerts(base)
    firing = None if active is None else sum(1 for a in active if a.get("state") == "firing")
    return f"p99 click→sidecar (1 min): {p99}", f"last 5 min: {text}", firing


def _from_sidecar() -> tuple[str, str]:
    samples = exposition(f"{get_settings().sidecar_url}/metrics/")
    p99 = next((value for name, labels, value in samples if name == "hop_latency_recent_seconds"
                and labels.get("hop") == "event_to_apply" and labels.get("type") == "trade"
                and labels.get("quantile") == "0.99"), None)
    lost = sum(v for n, _, v in samples if n == "messages_lost_total")
    invalid = sum(v for n, _, v in samples if n == "messages_invalid_total")
    dropped = sum(get_publisher().stats().dropped.values())
    counts = f"since start: lost {fixed(lost, 0)} · dropped by this UI {dropped} · invalid {fixed(invalid, 0)}"
    return f"p99 click→sidecar (recent trades): {_ms(p99) if samples else '—'}", counts


@st.fragment(run_every=2.0)
def health_strip(alerts_page: Any) -> None:
    base = get_settings().prometheus_url
    with st.container(key="health", border=True):
        connection, latency, counts, alerting = st.columns([2, 3, 4, 3])
        connected = get_publisher().connected
        connection.markdown(":green[**sidecar: connected**]" if connected else ":red[**sidecar: unreachable**]")
        if base:
            p99, lost, firing = _from_prometheus(base)
            latency.markdown(p99)
            counts.markdown(lost)
            if firing is None:
                alerting.markdown(f":orange[Prometheus at {base} not reachable]")
            else:
                label = f"{firing} alert{'s' if firing != 1 else ''} firing"
                alerting.page_link(alerts_page, label=label, icon=":material/notifications_active:" if firing
                                   else ":material/notifications:")
        else:
            p99, since = _from_sidecar()
            latency.markdown(p99)
            counts.markdown(since)
            alerting.page_link(alerts_page, label="Prometheus not configured", icon=":material/notifications_off:")
