"""The Market and Latency pages render (AppTest) with data from a real sidecar."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from support.procs import Service, start_sidecar, wait_until
from support.prom import scrape
from trading_app.publisher import Publisher


@pytest.fixture(scope="module")
def fed_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    sidecar = start_sidecar(tmp_path_factory.mktemp("pages"))
    try:
        with Publisher(sidecar.zmq, producer="pages", heartbeat_interval=0) as pub:
            wait_until(lambda: pub.connected, 10, message="connected")
            now = time.time()
            for i, price in enumerate((100.0, 101.0, 99.5, 102.25)):
                pub.tick("BTCUSDT", price, volume=1 + i, ts=now - 4 + i)
            pub.trade("buy", 2, symbol="BTCUSDT", price=100.0)
            wait_until(lambda: scrape(sidecar.http + "/metrics/").get('messages_received_total{type="trade"}') == 1,
                       10, message="fed")
        yield sidecar
    finally:
        sidecar.kill()


@pytest.fixture
def env(fed_sidecar: Service, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WEBAPP_SIDECAR_URL", fed_sidecar.http)
    monkeypatch.setenv("WEBAPP_PROMETHEUS_URL", "")
    monkeypatch.setenv("WEBAPP_HEARTBEAT_INTERVAL_SECONDS", "0")
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def test_market_page_shows_price_bars_analytics_and_pnl(env: None, tmp_path: Path) -> None:
    at = AppTest.from_string("from trading_app import ui_market\nui_market.render()", default_timeout=30).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Last price"] == "102.2500"
    assert metrics["Position"] == "2.00"
    assert metrics["Unrealized PnL"] == "4.50"  # 2 * (102.25 - 100)
    assert metrics["Realized PnL"] == "0.00"
    assert at.table and not at.table[0].value.empty  # the rolling-window analytics table
    assert not any("No market data" in i.value for i in at.info)


def test_latency_page_shows_recent_percentiles_and_counts(env: None) -> None:
    at = AppTest.from_string("from trading_app import ui_latency\nui_latency.render()", default_timeout=30).run()
    assert not at.exception
    assert any("sidecar's current view" in c.value for c in at.caption)
    assert at.selectbox(key="latency_hop").options  # hops with histogram data
    assert len(at.table) == 2
