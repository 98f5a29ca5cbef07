"""The Latency page: per-hop latency percentiles over time, the latency histogram
of one hop, and loss, drops and invalid counts.

Percentiles over time come from the Prometheus HTTP API when
WEBAPP_PROMETHEUS_URL is set (``histogram_quantile`` over ``rate(...[1m])``);
otherwise the page samples the sidecar's exact recent quantiles
(``hop_latency_recent_seconds``) on every refresh and draws what this browser
session has collected. The histogram and the counts are read directly from the
sidecar's /metrics/, the API's /metrics and this UI process' own publisher."""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from trading_app.ui.app_publisher import get_publisher
from trading_app.ui.app_settings import get_settings
from trading_app.ui.exposition_reader import Samples, exposition
from trading_app.ui.number_format import fixed
from trading_app.ui.prometheus_api import COLUMNS, prometheus_range

QUANTILES = (0.5, 0.95, 0.99)
TYPES = ("trade", "tick", "heartbeat")
HOPS = ("event_to_send", "send_to_receive", "receive_to_apply", "event_to_apply")  # docs/metrics.md
WINDOW_SECONDS = 900  # the over-time charts show the last 15 minutes
# The latency alerts of prometheus/rules/latency.yml (a test keeps these equal to the rules):
# name -> (threshold in ms, message types whose p99 chart shows it, what it measures).
ALERT_THRESHOLDS_MS = {
    "HopLatencyP99High": (50.0, ("trade", "tick", "heartbeat"), "send_to_receive, receive_to_apply"),
    "TradeLatencyP99High": (100.0, ("trade",), "click to sidecar"),
}


def histogram_frame(samples: Samples, hop: str, kind: str) -> pd.DataFrame:
    """Per-bucket (not cumulative) counts of one hop and message type."""
    cumulative = {float(labels["le"]): value for name, labels, value in samples
                  if name == "hop_latency_seconds_bucket" and labels.get("hop") == hop
                  and labels.get("type") == kind and labels["le"] != "+Inf"}
    bounds = sorted(cumulative)
    counts = [cumulative[b] - (cumulative[bounds[i - 1]] if i else 0.0) for i, b in enumerate(bounds)]
    return pd.DataFrame({"bucket": [f"≤{b * 1000:g} ms" for b in bounds], "count": counts})


MAX_COLUMN = "max (15-30 s)"  # hop_latency_max_seconds: the largest sample of the last 15-30 s


def recent_quantiles(samples: Samples, kind: str) -> pd.DataFrame:
    """(hop, quantile, ms) of the sidecar's exact recent quantiles (p50 ... p99.9) for one type."""
    rows = [{"hop": labels["hop"], "quantile": f"p{float(labels['quantile']) * 100:g}", "ms": value * 1000}
            for name, labels, value in samples
            if name == "hop_latency_recent_seconds" and labels.get("type") == kind]
    return pd.DataFrame(rows, columns=["hop", "quantile", "ms"])


def recent_table(samples: Samples, kind: str, recent: pd.DataFrame) -> pd.DataFrame:
    """Hop x (the exact recent quantiles, then the max of the last 15-30 s), in ms; a hop
    with no sample in the max's window shows NaN there."""
    table = recent.pivot_table(index="hop", columns="quantile", values="ms")
    table = table[sorted(table.columns, key=lambda q: float(str(q)[1:]))]
    maxima = {labels["hop"]: value * 1000 for name, labels, value in samples
              if name == "hop_latency_max_seconds" and labels.get("type") == kind}
    table[MAX_COLUMN] = [maxima.get(hop, math.nan) for hop in table.index]
    return table.round(4)


def _remember(kind: str, recent: pd.DataFrame) -> pd.DataFrame:
    """Append this refresh's quantiles to the session's history (no Prometheus)."""
    history: list[dict[str, Any]] = st.session_state.setdefault(f"latency_history_{kind}", [])
    now = pd.Timestamp.now(tz="UTC")
    history.extend({"time": now, "series": r.hop, "quantile": r.quantile, "value": r.ms}
                   for r in recent.itertuples())
    cutoff = now - pd.Timedelta(seconds=WINDOW_SECONDS)
    history[:] = [row for row in history if row["time"] >= cutoff]
    return pd.DataFrame(history, columns=[*COLUMNS, "quantile"])


def percentiles_over_time(kind: str, recent: pd.DataFrame) -> None:
    settings = get_settings()
    if settings.prometheus_url:
        st.caption(f"From Prometheus at {settings.prometheus_url}: histogram_quantile over rate(…[1m]), "
                   f"last {WINDOW_SECONDS // 60} min.")
    else:
        st.caption("WEBAPP_PROMETHEUS_URL is not set: the sidecar's exact recent quantiles, sampled by this page "
                   "while it is open.")
        history = _remember(kind, recent)
    for q in QUANTILES:
        label = f"p{q * 100:g}"
        st.markdown(f"**{label} per hop (ms)**")
        if settings.prometheus_url:
            frame = prometheus_range(settings.prometheus_url, (
                f'histogram_quantile({q}, sum by (le, hop) (rate(hop_latency_seconds_bucket{{type="{kind}"}}[1m])))'
                " * 1000"), WINDOW_SECONDS)
        else:
            frame = history[history["quantile"] == label][COLUMNS]
        if frame.empty:
            st.caption("No data yet.")
        else:
            st.altair_chart(percentile_chart(frame, q, kind).properties(height=200), width="stretch")


def thresholds(q: float, kind: str) -> pd.DataFrame:
    """The alert thresholds that apply to this chart (the rules alert on p99 only)."""
    rows = [{"ms": ms, "rule": f"{name} ({what})"} for name, (ms, kinds, what) in ALERT_THRESHOLDS_MS.items()
            if q == 0.99 and kind in kinds]
    return pd.DataFrame(rows, columns=["ms", "rule"])


def percentile_chart(frame: pd.DataFrame, q: float, kind: str) -> alt.LayerChart | alt.Chart:
    # Hops told apart by hue (category10), dash pattern and point shape, not shades of one colour.
    hops = alt.Scale(domain=list(HOPS), scheme="category10")
    chart = alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("time:T", title="time (UTC)", axis=alt.Axis(format="%H:%M:%S")),
        y=alt.Y("value:Q", title="ms"), color=alt.Color("series:N", title="hop", scale=hops),
        strokeDash=alt.StrokeDash("series:N", title="hop", scale=alt.Scale(domain=list(HOPS))),
        shape=alt.Shape("series:N", title="hop", scale=alt.Scale(domain=list(HOPS))))
    rules = thresholds(q, kind)
    if rules.empty:
        return chart
    lines = alt.Chart(rules).mark_rule(color="#c62828", strokeDash=[6, 3]).encode(y="ms:Q", tooltip=["rule", "ms"])
    labels = alt.Chart(rules).mark_text(align="left", dx=4, dy=-6, color="#c62828").encode(
        y="ms:Q", x=alt.value(0), text="rule:N")
    return chart + lines + labels


def histogram(samples: Samples, kind: str) -> None:
    hops = [h for h in HOPS if any(name == "hop_latency_seconds_count" and labels.get("hop") == h
                                   and labels.get("type") == kind and value for name, labels, value in samples)]
    st.subheader("Histogram")
    if not hops:
        st.caption(f"No {kind} latencies measured yet.")
        return
    hop = st.selectbox("Hop", hops, index=hops.index("event_to_apply") if "event_to_apply" in hops else 0,
                       key="latency_hop")
    frame = histogram_frame(samples, hop, kind)
    chart = alt.Chart(frame).mark_bar().encode(x=alt.X("bucket:N", sort=None, title="latency bucket"),
                                               y=alt.Y("count:Q", title=f"{kind} messages"))
    st.altair_chart(chart, width="stretch")


def _total(samples: Samples, name: str) -> float:
    return sum(value for sample, _, value in samples if sample == name)


def loss_and_drops(samples: Samples) -> None:
    """Counts since each process started: the sidecar's lost/duplicate/invalid
    messages, and what the publishers (this UI's and the API's) could not send."""
    settings = get_settings()
    api = exposition(f"http://{settings.host}:{settings.port}/metrics") if settings.port else []
    ui_dropped = sum(get_publisher().stats().dropped.values())
    st.subheader("Loss, drops, invalid")
    lost, dup, invalid, ui_drop, api_drop = st.columns(5)
    # Counts in fixed notation: 1234567, never 1.23457e+06.
    lost.metric("Lost (seq gaps)", fixed(_total(samples, "messages_lost_total"), 0))
    dup.metric("Duplicates", fixed(_total(samples, "messages_duplicate_total"), 0))
    invalid.metric("Invalid", fixed(_total(samples, "messages_invalid_total"), 0))
    ui_drop.metric("Dropped by this UI", fixed(ui_dropped, 0))
    api_drop.metric("Dropped by the API", fixed(_total(api, "publisher_messages_dropped_total"), 0) if api else "—")
    rows = [{"source": "sidecar", "metric": name, "labels": ",".join(f"{k}={v}" for k, v in labels.items()),
             "value": value}
            for name, labels, value in samples
            if name in ("messages_lost_total", "messages_invalid_total") and value > 0]
    rows += [{"source": "API", "metric": name, "labels": ",".join(f"{k}={v}" for k, v in labels.items()),
              "value": value} for name, labels, value in api if name == "publisher_messages_dropped_total" and value]
    rows += [{"source": "this UI", "metric": "publisher_messages_dropped_total", "labels": f"type={t},reason={r}",
              "value": n} for (t, r), n in get_publisher().stats().dropped.items()]
    if rows:
        st.table(rows)


@st.fragment(run_every=2.0)
def latency_panel(kind: str) -> None:
    samples = exposition(f"{get_settings().sidecar_url}/metrics/")
    if not samples:
        st.info("Sidecar /metrics/ not reachable: start metrics-sidecar (see README).")
    recent = recent_quantiles(samples, kind)
    st.subheader(f"Per-hop percentiles over time ({kind})")
    percentiles_over_time(kind, recent)
    with st.container(key="recent_quantiles"):
        st.subheader("Recent exact percentiles (ms)")
        if recent.empty:
            st.caption(f"No {kind} latencies measured yet.")
        else:
            st.table(recent_table(samples, kind, recent))
    histogram(samples, kind)
    with st.container(key="latency_counts"):
        loss_and_drops(samples)


def render() -> None:
    st.title("Latency")
    kind = st.segmented_control("Message type", TYPES, default="trade", key="latency_type") or "trade"
    latency_panel(kind)
