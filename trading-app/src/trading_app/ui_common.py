"""Shared pieces of the Streamlit pages: settings, the process-wide publisher,
and a small client for the sidecar's HTTP API."""

from __future__ import annotations

from typing import Any

import httpx
import streamlit as st

from trading_app.publisher import Publisher, make_publisher
from trading_app.settings import AppSettings

UNREACHABLE_WARNING = "Sidecar unreachable — events may be dropped. Start metrics-sidecar (see README, startup order)."


@st.cache_resource
def get_settings() -> AppSettings:
    return AppSettings.from_env()


@st.cache_resource
def get_publisher() -> Publisher:
    """One publisher per Streamlit process, shared by every session thread."""
    settings = get_settings()
    return make_publisher(settings, "ui")  # WEBAPP_DELIVERY picks the mode


def sidecar_get(path: str, **params: Any) -> Any | None:
    """GET JSON from the sidecar; None if it is down or answers an error."""
    try:
        response = httpx.get(get_settings().sidecar_url + path, params=params, timeout=0.5)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return response.json()
