"""The Market and Latency pages render (AppTest) with data from a real sidecar."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
import zmq
from streamlit.testing.v1 import AppTest

from telemetry_testkit.procs import Service, free_port, start_sidecar, wait_until
from telemetry_testkit.prom import scrape
from trading_app.telemetry.push import PushPublisher as Publisher

MARKET = "from trading_app.ui import market_page\nmarket_page.render()"
LATENCY = "from trading_app.ui import latency_page\nlatency_page.render()"


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
            # Bad input and a seq gap, from a plain socket: the latency page counts them.
            ctx = zmq.Context()
            raw = ctx.socket(zmq.PUSH)
            raw.connect(sidecar.zmq)
            raw.send(b"{not json")
            for seq in (1, 3):  # seq 2 never arrives: one lost message
                raw.send(json.dumps({"type": "trade", "side": "sell", "qty": 1, "ts": now, "producer": "gappy",
                                     "instance": "i1", "seq": seq}).encode())
            wait_until(lambda: scrape(sidecar.http + "/metrics/").get('messages_received_total{type="trade"}') == 3,
                       10, message="fed")
            raw.close(linger=0)
            ctx.term()
        yield sidecar
    finally:
        sidecar.kill()


@pytest.fixture
def env(fed_sidecar: Service, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WEBAPP_SIDECAR_URL", fed_sidecar.http)
    monkeypatch.setenv("WEBAPP_PROMETHEUS_URL", "")
    monkeypatch.setenv("WEBAPP_HEARTBEAT_INTERVAL_SECONDS", "0")
    monkeypatch.setenv("WEBAPP_ZMQ_ADDR", fed_sidecar.zmq)
    monkeypatch.setenv("WEBAPP_DELIVERY", "fire_and_forget")
    monkeypatch.setenv("WEBAPP_UI_METRICS_PORT", "0")
    monkeypatch.setenv("WEBAPP_PORT", "0")  # no API in this test: the page must say so, not fail
    st.cache_resource.clear()
    yield
    from trading_app.ui.app_publisher import get_publisher

    get_publisher().close()
    st.cache_resource.clear()


def test_market_page_shows_price_bars_analytics_and_pnl(env: None, tmp_path: Path) -> None:
    at = AppTest.from_string(MARKET, default_timeout=30).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Last price"] == "102.2500"
    assert metrics["Position"] == "2.00"
    assert metrics["Unrealized PnL"] == "4.50"  # 2 * (102.25 - 100)
    assert metrics["Realized PnL"] == "0.00"
    assert at.table and not at.table[0].value.empty  # the rolling-window analytics table
    assert not any("No market data" in i.value for i in at.info)
    assert at.table[1].value.to_dict("records") == [  # every symbol's position (the sells have no symbol)
        {"symbol": "BTCUSDT", "position": "2", "avg cost": "100.0000", "mark": "102.2500", "realized PnL": "0.00",
         "unrealized PnL": "4.50", "total PnL": "4.50", "trades": "1", "without a price": "0"}]
    # Trades per side of the selected symbol, then the sidecar's rolling ones over all symbols.
    assert at.table[2].value.to_dict("records") == [{"side": "buy", "trades": "1", "volume": "2"}]
    sides = at.table[3].value.to_dict("records")
    assert [(r["side"], r["window"], r["trades"], r["volume"]) for r in sides] == [
        ("buy", "1m", "1", "2"), ("buy", "5m", "1", "2"), ("sell", "1m", "2", "2"), ("sell", "5m", "2", "2")]
    assert len(at.get("vega_lite_chart")) == 2  # the price line and the candles


def test_market_page_explains_missing_data(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    at = AppTest.from_string(MARKET, default_timeout=30).run()
    at.selectbox(key="market_symbol").set_value("SOLUSDT").run()  # offered, but nothing seen for it
    assert not at.exception
    assert [i.value for i in at.info] == [
        "No market data for SOLUSDT yet (is a feed running? `trading-app-feed --source sim`)."]
    monkeypatch.setenv("WEBAPP_SIDECAR_URL", f"http://127.0.0.1:{free_port()}")
    st.cache_resource.clear()
    at = AppTest.from_string(MARKET, default_timeout=30).run()
    assert not at.exception
    assert [i.value for i in at.info] == ["Sidecar unreachable: start metrics-sidecar (see README)."]


def test_latency_page_shows_percentiles_histogram_and_counts(env: None) -> None:
    at = AppTest.from_string(LATENCY, default_timeout=30).run()
    assert not at.exception
    assert any("WEBAPP_PROMETHEUS_URL is not set" in c.value for c in at.caption)
    recent = at.table[0].value
    assert sorted(recent.index) == ["event_to_apply", "event_to_send", "receive_to_apply", "send_to_receive"]
    assert list(recent.columns) == ["p50", "p95", "p99", "p99.9", "max (15-30 s)"]
    assert at.selectbox(key="latency_hop").value == "event_to_apply"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Lost (seq gaps)": "1", "Duplicates": "0", "Invalid": "1", "Dropped by this UI": "0",
                       "Dropped by the API": "—"}
    details = at.table[1].value.to_dict("records")
    assert {(r["metric"], r["labels"], r["value"]) for r in details} == {
        ("messages_lost_total", "producer=gappy", 1.0), ("messages_invalid_total", "reason=bad_json", 1.0)}
    # Without Prometheus the page samples the recent quantiles on every refresh:
    # two runs, two points per hop and quantile (4 hops x 4 quantiles).
    at.run()
    history = at.session_state["latency_history_trade"]
    assert len(history) == 2 * 4 * 4
    assert len({row["time"] for row in history}) == 2
    assert len(at.get("vega_lite_chart")) == 3 + 1  # p50, p95, p99 over time; the histogram


def test_latency_page_other_type_and_no_sidecar(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    at = AppTest.from_string(LATENCY, default_timeout=30).run()
    at.segmented_control(key="latency_type").set_value("tick").run()
    assert not at.exception
    assert any(s.value == "Per-hop percentiles over time (tick)" for s in at.subheader)
    monkeypatch.setenv("WEBAPP_SIDECAR_URL", f"http://127.0.0.1:{free_port()}")
    st.cache_resource.clear()
    at = AppTest.from_string(LATENCY, default_timeout=30).run()
    assert not at.exception
    assert [i.value for i in at.info] == ["Sidecar /metrics/ not reachable: start metrics-sidecar (see README)."]
