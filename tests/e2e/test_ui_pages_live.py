"""The Market and Latency pages (AppTest) against a real sidecar fed through real
sockets, down to the numbers they draw:

- Market: the metrics, the analytics table, the price line and the candles carry
  exactly what the sidecar's API serves; the timeframe choice picks the bars; the
  panel is a fragment re-run every second (no page reload) and shows a new tick.
- Latency with WEBAPP_PROMETHEUS_URL set: the percentiles over time come from a
  real Prometheus scraping the sidecar (histogram_quantile: exact values for
  latencies that all fall in one known bucket), the histogram from /metrics/.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pytest
import streamlit as st
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.local_script_runner import LocalScriptRunner

from telemetry_testkit.procs import Service, start_sidecar, wait_until
from telemetry_testkit.prom import Prometheus, scrape, start_prometheus
from trading_app.telemetry.push import PushPublisher as Publisher

MARKET = "from trading_app.ui import market_page\nmarket_page.render()"
LATENCY = "from trading_app.ui import latency_page\nlatency_page.render()"
PRICES = [100.0, 101.0, 99.5, 102.25]
HOPS = ["event_to_apply", "event_to_send", "receive_to_apply", "send_to_receive"]
# Latency buckets chosen so each hop's observations all land in one bucket, with bounds
# as wide as the test's own deadlines (not a speed target): the transport and apply hops
# in (0, 20] s, the event-time hops in (30, 60] s.
BUCKETS = "20,30,60,120"
EVENT_AGE = 30.0  # trades carry an event time this far in the past: (30, 60], whatever the load adds


def chart_datasets(at: AppTest) -> list[list[pd.DataFrame]]:
    """Every dataset of each drawn chart (a layered chart has one per layer's data)."""
    return [[pa.ipc.open_stream(d.data.data).read_pandas() for d in chart.proto.datasets]
            for chart in at.get("vega_lite_chart")]


def chart_frames(at: AppTest) -> list[pd.DataFrame]:
    """The data each drawn chart plots (its alert-threshold lines, if any, left out)."""
    return [next(f for f in frames if "rule" not in f.columns) for frames in chart_datasets(at)]


def page_env(monkeypatch: pytest.MonkeyPatch, sidecar: Service, prometheus: str = "") -> None:
    monkeypatch.setenv("WEBAPP_SIDECAR_URL", sidecar.http)
    monkeypatch.setenv("WEBAPP_PROMETHEUS_URL", prometheus)
    monkeypatch.setenv("WEBAPP_HEARTBEAT_INTERVAL_SECONDS", "0")
    monkeypatch.setenv("WEBAPP_ZMQ_ADDR", sidecar.zmq)
    monkeypatch.setenv("WEBAPP_DELIVERY", "fire_and_forget")
    monkeypatch.setenv("WEBAPP_UI_METRICS_PORT", "0")
    monkeypatch.setenv("WEBAPP_PORT", "0")


@pytest.fixture
def clean_streamlit() -> Iterator[None]:
    st.cache_resource.clear()
    yield
    from trading_app.ui.app_publisher import get_publisher

    get_publisher().close()
    st.cache_resource.clear()


# -- Market -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def market_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Publisher]]:
    sidecar = start_sidecar(tmp_path_factory.mktemp("market-page"))
    pub = Publisher(sidecar.zmq, producer="market-page", heartbeat_interval=0)
    try:
        assert pub.wait_connected(10)
        now = time.time()
        for i, price in enumerate(PRICES):
            pub.tick("BTCUSDT", price, volume=1 + i, ts=now - 4 + i)
        pub.trade("buy", 2, symbol="BTCUSDT", price=100.0)
        pub.trade("sell", 0.5, symbol="BTCUSDT", price=103.0)  # realizes 0.5 * (103 - 100)
        wait_until(lambda: httpx.get(sidecar.http + "/symbols/BTCUSDT").json().get("trades") == 2, 10,
                   message="ticks and trades applied")
        yield sidecar, pub
    finally:
        pub.close()
        sidecar.kill()


def api(sidecar: Service, path: str, **params: Any) -> Any:
    return httpx.get(sidecar.http + path, params=params, timeout=10).json()


def test_market_page_draws_exactly_what_the_api_serves(market_sidecar: tuple[Service, Publisher],
                                                        monkeypatch: pytest.MonkeyPatch, clean_streamlit: None) -> None:
    sidecar, _ = market_sidecar
    page_env(monkeypatch, sidecar)
    at = AppTest.from_string(MARKET, default_timeout=30).run()
    assert not at.exception
    volatility = float(np.std(np.diff(np.log(PRICES)), ddof=1))
    vwap = sum(p * (1 + i) for i, p in enumerate(PRICES)) / 10  # 1009.5 / 10
    assert {m.label: m.value for m in at.metric} == {
        "Last price": "102.2500", "SMA (4 ticks)": "100.6875", "VWAP 1m": f"{vwap:,.4f}",
        "Volatility 1m": f"{volatility:,.6f}", "Position": "1.50", "Avg cost": "100.0000",
        "Realized PnL": "1.50", "Unrealized PnL": "3.38"}  # 1.5 * (102.25 - 100) = 3.375
    assert vwap == 100.95 and f"{volatility:,.6f}" == "0.021227"
    view = api(sidecar, "/symbols/BTCUSDT")
    table = at.table[0].value.to_dict("records")
    assert [r["window"] for r in table] == ["1m", "5m"]
    for row in table:  # fixed notation, 6 decimals (never 1e+308)
        expected = view["analytics"]["windows"][row.pop("window")]
        assert row == {k: str(v) if isinstance(v, int) else "—" if v is None else f"{v:,.6f}"
                       for k, v in expected.items()}
    price, candles = chart_frames(at)
    history = api(sidecar, "/symbols/BTCUSDT/history", limit=500)["ticks"]
    assert price[["ts", "price", "volume"]].to_dict("records") == history
    assert price["price"].tolist() == PRICES
    bars = api(sidecar, "/symbols/BTCUSDT/ohlc", timeframe="1m", limit=100)["bars"]
    columns = ["start", "end", "open", "high", "low", "close", "volume", "ticks", "vwap"]
    assert candles[columns].to_dict("records") == [{k: b[k] for k in columns} for b in bars]
    assert sum(b["ticks"] for b in bars) == 4

    at.selectbox(key="market_timeframe").set_value("1h").run()
    assert not at.exception and any(s.value == "OHLC 1h" for s in at.subheader)
    (hourly,) = api(sidecar, "/symbols/BTCUSDT/ohlc", timeframe="1h")["bars"][-1:]
    candles = chart_frames(at)[1]
    assert candles[columns].to_dict("records")[-1] == {k: hourly[k] for k in columns}
    assert hourly["start"] % 3600 == 0 and hourly["ticks"] >= 1


def test_market_panel_refreshes_every_second_in_a_fragment(market_sidecar: tuple[Service, Publisher],
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           clean_streamlit: None) -> None:
    sidecar, pub = market_sidecar
    page_env(monkeypatch, sidecar)
    messages: list[ForwardMsg] = []
    original = LocalScriptRunner.forward_msgs

    def recording(self: LocalScriptRunner) -> list[ForwardMsg]:
        out = original(self)
        messages.extend(out)
        return out

    monkeypatch.setattr(LocalScriptRunner, "forward_msgs", recording)
    at = AppTest.from_string(MARKET, default_timeout=30).run()
    assert not at.exception
    reruns = [m.auto_rerun for m in messages if m.WhichOneof("type") == "auto_rerun"]
    assert [r.interval for r in reruns] == [1.0]
    # The price metric is drawn inside that fragment: the browser re-runs only the panel.
    price_deltas = [m for m in messages if m.WhichOneof("type") == "delta"
                    and m.delta.new_element.WhichOneof("type") == "metric"
                    and m.delta.new_element.metric.label == "Last price"]
    assert price_deltas and all(m.delta.fragment_id == reruns[0].fragment_id for m in price_deltas)

    # A new tick reaches the panel on its next run.
    pub.tick("BTCUSDT", 105.5, volume=0.0)
    wait_until(lambda: api(sidecar, "/symbols/BTCUSDT")["price"] == 105.5, 10, message="new tick applied")
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Last price"], metrics["SMA (5 ticks)"], metrics["Unrealized PnL"]) == (
        "105.5000", "101.6500", "8.25")  # 508.25 / 5; 1.5 * (105.5 - 100)


# -- Latency with Prometheus ---------------------------------------------------------------
@pytest.fixture(scope="module")
def prom_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Prometheus, int]]:
    tmp: Path = tmp_path_factory.mktemp("latency-prom")
    sidecar = start_sidecar(tmp / "sidecar", {"SIDECAR_LATENCY_BUCKETS": BUCKETS})
    prom = start_prometheus(tmp / "prom", {"metrics-sidecar": (sidecar.http.removeprefix("http://"), "/metrics/")},
                            rules=False)
    pub = Publisher(sidecar.zmq, producer="latency-page", heartbeat_interval=0)
    sent = 0
    try:
        assert pub.wait_connected(10)
        prom.wait_for_targets_up()
        expr = 'histogram_quantile(0.5, sum by (le, hop) (rate(hop_latency_seconds_bucket{type="trade"}[1m])))'

        def all_hops_ready() -> bool:
            nonlocal sent
            pub.trade("buy", 1, ts=time.time() - EVENT_AGE)  # traffic between scrapes: rate() sees it
            sent += 1
            hops = {r["metric"]["hop"] for r in prom.query(expr) if math.isfinite(float(r["value"][1]))}
            return hops == set(HOPS)

        wait_until(all_hops_ready, 30, 0.2, "Prometheus to have a trade latency rate for every hop")
        wait_until(lambda: scrape(sidecar.http + "/metrics/").get('messages_received_total{type="trade"}') == sent,
                   10, message="every trade applied")
        yield sidecar, prom, sent
    finally:
        pub.close()
        prom.stop()
        sidecar.kill()


def test_latency_page_reads_percentiles_from_prometheus(prom_stack: tuple[Service, Prometheus, int],
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        clean_streamlit: None) -> None:
    sidecar, prom, sent = prom_stack
    page_env(monkeypatch, sidecar, prom.url)
    at = AppTest.from_string(LATENCY, default_timeout=30).run()
    assert not at.exception
    assert any(c.value.startswith(f"From Prometheus at {prom.url}: histogram_quantile") for c in at.caption)
    assert not any(c.value == "No data yet." for c in at.caption)
    assert "latency_history_trade" not in at.session_state  # not sampled from the sidecar
    p50, p95, p99, histogram = chart_frames(at)
    # The p99 chart draws the latency alerts' thresholds (prometheus/rules/latency.yml); the others none.
    rules = [[f.to_dict("records") for f in frames if "rule" in f.columns] for frames in chart_datasets(at)]
    assert rules == [[], [], [[{"ms": 50.0, "rule": "HopLatencyP99High (send_to_receive, receive_to_apply)"},
                               {"ms": 100.0, "rule": "TradeLatencyP99High (click to sidecar)"}]], []]
    # Every observation of a hop is in one bucket, so histogram_quantile interpolates
    # inside it: lower + (upper - lower) * q. Event-time hops: (30000, 60000] ms; the
    # transport and apply hops: (0, 20000] ms.
    expected = {"event_to_send": (30000, 60000), "event_to_apply": (30000, 60000), "send_to_receive": (0, 20000),
                "receive_to_apply": (0, 20000)}
    for q, frame in ((0.5, p50), (0.95, p95), (0.99, p99)):
        assert set(frame["series"]) == set(HOPS), q
        for hop, (lower, upper) in expected.items():
            values = frame.loc[frame["series"] == hop, "value"]
            assert len(values) >= 1 and np.allclose(values, lower + (upper - lower) * q, rtol=1e-9), (q, hop, values)
    # The histogram of the selected hop (event_to_apply) is read from the sidecar's /metrics/.
    assert at.selectbox(key="latency_hop").value == "event_to_apply"
    assert histogram.to_dict("records") == [{"bucket": "≤20000 ms", "count": 0.0},
                                            {"bucket": "≤30000 ms", "count": 0.0},
                                            {"bucket": "≤60000 ms", "count": float(sent)},
                                            {"bucket": "≤120000 ms", "count": 0.0}]
    recent = at.table[0].value
    assert sorted(recent.index) == sorted(HOPS)
    # Exact recent p50: at least the event's age (applied after it was sent), and in
    # the (30000, 60000] ms bucket the histogram above put every sample in.
    assert EVENT_AGE * 1000 <= recent.loc["event_to_apply", "p50"] <= 60000  # type: ignore[operator,arg-type]
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Lost (seq gaps)"], metrics["Duplicates"], metrics["Invalid"]) == ("0", "0", "0")
