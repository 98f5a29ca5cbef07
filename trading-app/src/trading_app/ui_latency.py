"""The Latency page: per-hop latency percentiles over time and the latency
histogram, plus loss, drops and invalid counts. From the Prometheus HTTP API when
WEBAPP_PROMETHEUS_URL is set, otherwise from the sidecar's /metrics/."""

from __future__ import annotations

import time

import httpx
import pandas as pd
import streamlit as st
from prometheus_client.parser import text_string_to_metric_families

from trading_app.ui_common import get_settings

QUANTILES = (0.5, 0.95, 0.99)


def prometheus_range(base: str, expr: str, seconds: int = 900, step: str = "5s") -> pd.DataFrame:
    """A range query as a long frame (time, series, value); empty on any failure."""
    now = time.time()
    try:
        body = httpx.get(f"{base}/api/v1/query_range", timeout=2,
                         params={"query": expr, "start": now - seconds, "end": now, "step": step}).json()
    except (httpx.HTTPError, ValueError):
        return pd.DataFrame(columns=["time", "series", "value"])
    rows = []
    for result in body.get("data", {}).get("result", []):
        name = ",".join(f"{k}={v}" for k, v in sorted(result["metric"].items()))
        for ts, value in result["values"]:
            rows.append({"time": pd.to_datetime(float(ts), unit="s", utc=True), "series": name,
                         "value": float(value)})
    return pd.DataFrame(rows, columns=["time", "series", "value"])


def sidecar_samples(base: str) -> list[tuple[str, dict[str, str], float]]:
    try:
        text = httpx.get(f"{base}/metrics/", timeout=2).text
    except httpx.HTTPError:
        return []
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def histogram_frame(samples: list[tuple[str, dict[str, str], float]], hop: str) -> pd.DataFrame:
    """Per-bucket (not cumulative) counts of one hop, summed over message types."""
    cumulative: dict[float, float] = {}
    for name, labels, value in samples:
        if name == "hop_latency_seconds_bucket" and labels.get("hop") == hop and labels["le"] != "+Inf":
            le = float(labels["le"])
            cumulative[le] = cumulative.get(le, 0.0) + value
    bounds = sorted(cumulative)
    counts = [cumulative[b] - (cumulative[bounds[i - 1]] if i else 0.0) for i, b in enumerate(bounds)]
    return pd.DataFrame({"le_ms": [f"≤{b * 1000:g} ms" for b in bounds], "count": counts})


@st.fragment(run_every=2.0)
def latency_panel() -> None:
    settings = get_settings()
    samples = sidecar_samples(settings.sidecar_url)
    if settings.prometheus_url:
        st.caption(f"Percentiles over time from Prometheus at {settings.prometheus_url}")
        for q in QUANTILES:
            expr = (f"histogram_quantile({q}, sum by (le, hop) "
                    f"(rate(hop_latency_seconds_bucket[1m]))) * 1000")
            frame = prometheus_range(settings.prometheus_url, expr)
            st.markdown(f"**p{int(q * 100)} per hop (ms)**")
            if frame.empty:
                st.caption("No data yet.")
            else:
                st.line_chart(frame, x="time", y="value", color="series", height=220)
    else:
        st.caption("WEBAPP_PROMETHEUS_URL is not set: showing the sidecar's current view only.")
    if not samples:
        st.info("Sidecar /metrics/ not reachable.")
        return
    recent = [{"hop": labels["hop"], "type": labels["type"], "quantile": labels["quantile"],
               "ms": round(value * 1000, 4)}
              for name, labels, value in samples if name == "hop_latency_recent_seconds"]
    st.subheader("Recent exact percentiles (ms)")
    if recent:
        table = pd.DataFrame(recent).pivot_table(index=["hop", "type"], columns="quantile", values="ms")
        st.table(table)
    hops = sorted({labels["hop"] for name, labels, _ in samples if name == "hop_latency_seconds_bucket"})
    if hops:
        hop = st.selectbox("Histogram of hop", hops, key="latency_hop")
        st.bar_chart(histogram_frame(samples, hop), x="le_ms", y="count", height=240)
    st.subheader("Loss, drops, invalid")
    counts = [{"metric": name, "labels": ",".join(f"{k}={v}" for k, v in labels.items()), "value": value}
              for name, labels, value in samples
              if name in ("messages_lost_total", "messages_invalid_total", "messages_duplicate_total")
              and value > 0]
    st.table(counts or [{"metric": "no loss, duplicates or invalid messages", "labels": "", "value": 0}])


def render() -> None:
    st.title("Latency")
    latency_panel()
