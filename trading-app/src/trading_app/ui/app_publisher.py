"""The process-wide publisher of the UI, shared by every session thread, and the
trade counts the pages show from it."""

from __future__ import annotations

import streamlit as st

from trading_app.telemetry.factory import make_publisher
from trading_app.telemetry.protocol import Publisher
from trading_app.ui.app_settings import get_settings
from trading_app.ui.metrics_server import serve_publisher_metrics


@st.cache_resource
def get_publisher() -> Publisher:
    """One publisher per Streamlit process, shared by every session thread."""
    settings = get_settings()
    publisher = make_publisher(settings, "ui")  # WEBAPP_DELIVERY picks the mode
    serve_publisher_metrics(settings, publisher)
    # The TCP handshake takes a few ms: without this short, bounded wait the first
    # page would flash "unreachable" although the sidecar is up.
    publisher.wait_connected(0.5)
    return publisher


def trade_counts(publisher: Publisher) -> tuple[int, dict[str, int]]:
    """(trades sent, trades dropped by reason) of this process' publisher.
    Heartbeats are left out, so one click is exactly +1 in one of them."""
    stats = publisher.stats()
    dropped: dict[str, int] = {}
    for (kind, reason), n in stats.dropped.items():
        if kind == "trade":
            dropped[reason] = dropped.get(reason, 0) + n
    return int(stats.sent.get("trade", 0)), dropped
