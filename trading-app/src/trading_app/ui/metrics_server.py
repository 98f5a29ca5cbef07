"""The UI process' own /metrics: Streamlit cannot serve it, so the publisher's
counters (sent, dropped while the sidecar is down, publish() duration) get a
tiny server of their own on WEBAPP_UI_METRICS_PORT."""

from __future__ import annotations

import logging

from prometheus_client import start_http_server

from trading_app.exposition import build_registry
from trading_app.settings import AppSettings
from trading_app.telemetry.protocol import Publisher

log = logging.getLogger("trading_app.ui")


def serve_publisher_metrics(settings: AppSettings, publisher: Publisher) -> None:
    """Serve the publisher's counters; WEBAPP_UI_METRICS_PORT=0 serves nothing. A port
    already taken is logged, not raised: the UI runs on without its /metrics."""
    if not settings.ui_metrics_port:
        return
    try:
        start_http_server(settings.ui_metrics_port, addr=settings.host, registry=build_registry(publisher))
    except OSError as exc:
        log.warning("UI /metrics not served on port %s: %s", settings.ui_metrics_port, exc)
