"""Shared pieces of the Streamlit pages: settings, the process-wide publisher,
and a small client for the sidecar's HTTP API."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import streamlit as st
from prometheus_client import start_http_server

from trading_app.exposition import build_registry
from trading_app.publisher import Publisher, make_publisher
from trading_app.settings import AppSettings

log = logging.getLogger("trading_app.ui")

UNREACHABLE_WARNING = "Sidecar unreachable — events may be dropped. Start metrics-sidecar (see README, startup order)."


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
    return publisher


def sidecar_get(path: str, **params: Any) -> Any | None:
    """GET JSON from the sidecar; None if it is down or answers an error."""
    try:
        response = httpx.get(get_settings().sidecar_url + path, params=params, timeout=0.5)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return response.json()
