"""Shared pieces of the Streamlit pages: settings, the process-wide publisher and
its counters, and small clients for the sidecar's HTTP API and Prometheus."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import streamlit as st
from prometheus_client import start_http_server

from trading_app.exposition import build_registry
from trading_app.settings import AppSettings
from trading_app.telemetry.factory import make_publisher
from trading_app.telemetry.protocol import Publisher

log = logging.getLogger("trading_app.ui")

UNREACHABLE_WARNING = "Sidecar unreachable — events may be dropped. Start metrics-sidecar (see README, startup order)."
# Reliable mode drops nothing while the sidecar is away: trades wait in the outbox
# (until it is full, a refusal the page shows) and are resent when it is back.
UNREACHABLE_RELIABLE_WARNING = ("Sidecar unreachable — trades wait in the outbox and are sent when it is back "
                                "(docs/delivery.md).")
CONNECTED_TEXT = "Sidecar connected"


@st.cache_resource
def get_settings() -> AppSettings:
    return AppSettings.from_env()


@st.cache_resource
def get_publisher() -> Publisher:
    """One publisher per Streamlit process, shared by every session thread."""
    settings = get_settings()
    publisher = make_publisher(settings, "ui")  # WEBAPP_DELIVERY picks the mode
    if settings.ui_metrics_port:
        # Streamlit cannot serve /metrics itself: the UI's publisher counters (sent,
        # dropped while the sidecar is down, publish() duration) get a tiny server.
        try:
            start_http_server(settings.ui_metrics_port, addr=settings.host, registry=build_registry(publisher))
        except OSError as exc:
            log.warning("UI /metrics not served on port %s: %s", settings.ui_metrics_port, exc)
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


def sidecar_response(path: str, **params: Any) -> tuple[int, Any]:
    """(HTTP status, JSON body or None) from the sidecar; status 0 when it is
    unreachable. Lets a page tell "sidecar down" from "no such endpoint" (404)."""
    try:
        response = httpx.get(get_settings().sidecar_url + path, params=params, timeout=0.5)
    except httpx.HTTPError:
        return 0, None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


def sidecar_get(path: str, **params: Any) -> Any | None:
    """GET JSON from the sidecar; None if it is down or answers an error."""
    status, body = sidecar_response(path, **params)
    return body if status == 200 else None
