"""Streamlit AppTest helpers shared by the UI tests (trading-app/tests/test_ui_app.py
and tests/e2e/test_ui_sidecar_warning.py): the UI's environment pointed at ports
where nothing listens yet, and reading a rendered page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from trading_app.ui import app_publisher


@contextmanager
def ui_env(monkeypatch: pytest.MonkeyPatch, zmq_port: int, http_port: int) -> Iterator[None]:
    """The UI's settings aimed at ``zmq_port``/``http_port``; every counter is a click
    (no heartbeats), fire-and-forget delivery, no UI /metrics server (the browser test
    covers it). The publisher and settings caches are fresh inside, closed after."""
    monkeypatch.setenv("WEBAPP_ZMQ_ADDR", f"tcp://127.0.0.1:{zmq_port}")
    monkeypatch.setenv("WEBAPP_SIDECAR_URL", f"http://127.0.0.1:{http_port}")
    monkeypatch.setenv("WEBAPP_HEARTBEAT_INTERVAL_SECONDS", "0")
    monkeypatch.setenv("WEBAPP_DELIVERY", "fire_and_forget")
    monkeypatch.setenv("WEBAPP_UI_METRICS_PORT", "0")
    st.cache_resource.clear()  # get_settings/get_publisher are process-wide caches
    try:
        yield
    finally:
        app_publisher.get_publisher().close()
        st.cache_resource.clear()


def click(at: AppTest, label: str) -> AppTest:
    return next(b for b in at.button if b.label == label).click().run()


def texts(elements: Any) -> list[str]:
    return [str(e.value) for e in elements]
