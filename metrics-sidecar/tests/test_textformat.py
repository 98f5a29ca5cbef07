"""The text writer against prometheus_client's own ``generate_latest``: the same
families give byte-identical output, hostile label values are escaped, the
special floats are spelled the Prometheus way, and a full sidecar scrape parses
and lints clean."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from metrics_sidecar.decode import Tick, Trade
from metrics_sidecar.exposition import render
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState
from metrics_sidecar.textformat import Writer, escape_label, fmt, labels

HOSTILE = 'we"ird\\sym\nbol'


def test_special_floats_and_integers() -> None:
    assert [fmt(x) for x in (math.inf, -math.inf, math.nan, 3, 0.1, -2.5, 1e-07, 12345678.0)] == [
        "+Inf", "-Inf", "NaN", "3.0", "0.1", "-2.5", "1e-07", "12345678.0"]


def test_label_escaping() -> None:
    assert escape_label(HOSTILE) == 'we\\"ird\\\\sym\\nbol'
    assert escape_label("AAPL.US") == "AAPL.US"
    assert labels([("symbol", "x"), ("side", "buy")]) == '{side="buy",symbol="x"}'
    assert labels([]) == ""


class _Reference(Collector):
    def collect(self) -> Iterator[Metric]:
        c = CounterMetricFamily("trades_total", "Trades, by side\nand symbol \\ escaped", labels=["symbol", "side"])
        c.add_metric([HOSTILE, "buy"], 3)
        c.add_metric(["", "sell"], 0)
        yield c
        g = GaugeMetricFamily("price", "A gauge", labels=["symbol"])
        g.add_metric(["A"], math.nan)
        g.add_metric(["B"], 101.25)
        yield g
        s = SummaryMetricFamily("recent_seconds", "A summary", labels=["hop"])
        s.add_sample("recent_seconds", {"hop": "x", "quantile": "0.5"}, 0.002)
        s.add_metric(["x"], count_value=6, sum_value=0.125)
        yield s


def test_byte_identical_to_generate_latest() -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Reference())
    expected = generate_latest(registry).decode()

    out = Writer()
    out.family("trades_total", "counter", "Trades, by side\nand symbol \\ escaped")
    out.series("trades_total", [("symbol", [HOSTILE, ""]), ("side", ["buy", "sell"])], [3, 0])
    out.family("price", "gauge", "A gauge")
    out.series("price", [("symbol", ["A", "B"])], [math.nan, 101.25])
    out.family("recent_seconds", "summary", "A summary")
    out.sample("recent_seconds", labels([("hop", "x"), ("quantile", "0.5")]), 0.002)
    out.sample("recent_seconds_count", '{hop="x"}', 6)
    out.sample("recent_seconds_sum", '{hop="x"}', 0.125)
    assert out.text() == expected


def test_sidecar_scrape_parses_with_exact_values() -> None:
    state = TelemetryState(Settings())
    now = time.time()
    events: list[Trade | Tick] = []
    for i in range(5):
        t = Trade(side="buy" if i % 2 else "sell", qty=1.5, ts=now, symbol="ABC", price=10.0 + i)
        k = Tick(symbol="ABC", price=10.0 + i, ts=now + i * 0.001, volume=2.0)
        events += [t, k]
    with state.lock:
        for e in events:
            e.ts_s = e.ts  # type: ignore[assignment]
            e.recv_ts = now + 0.01
            state.apply(e)
    families = {f.name: f for f in text_string_to_metric_families(render(state).decode())}
    trades = {(s.labels["side"], s.labels["symbol"]): s.value for s in families["trades"].samples}
    assert trades == {("buy", "ABC"): 2.0, ("sell", "ABC"): 3.0}
    volume = {s.labels["side"]: s.value for s in families["volume"].samples}
    assert volume == {"buy": 3.0, "sell": 4.5}
    assert [s.value for s in families["tick_last_price"].samples] == [14.0]
    assert [s.value for s in families["symbol_sma_price"].samples] == [12.0]
    assert {s.labels["window"] for s in families["symbol_vwap_price"].samples} == {"session", "1m", "5m"}
    vwap = {s.labels["window"]: s.value for s in families["symbol_vwap_price"].samples}
    assert vwap["1m"] == vwap["session"] == 12.0
    # Position, hand-computed: short 1.5 @10, covered @11 (-1.5); short @12, covered @13 (-1.5);
    # short @14, marked at the last tick 14.
    position = {f: families[f].samples[0].value for f in ("position_quantity", "pnl_realized", "pnl_unrealized")}
    assert position == {"position_quantity": -1.5, "pnl_realized": -3.0, "pnl_unrealized": 0.0}
    received = {s.labels["type"]: s.value for s in families["messages_received"].samples}
    assert received == {"trade": 5.0, "tick": 5.0, "heartbeat": 0.0}
