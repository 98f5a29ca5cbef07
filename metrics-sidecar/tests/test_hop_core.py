"""The hop-latency histograms in the compiled core (core/src/hops.rs, text.rs), through
their Python API (histogram.HopLatency): bucket rules, the sample ring, exact quantiles,
the values as the text format writes them, and index errors as exceptions."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, SummaryMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from metrics_sidecar._core import format_value
from metrics_sidecar.histogram import HOP_CLOCKS, HOPS, MESSAGE_TYPES, HopLatency
from metrics_sidecar.textformat import fmt

HEARTBEAT = MESSAGE_TYPES.index("heartbeat")


def observe(latency: HopLatency, value: float, seq: int = 1) -> None:
    """A heartbeat received at 0 and applied at ``value``: receive_to_apply = event_to_apply = value."""
    latency.observe_event(HEARTBEAT, 0.0, None, 0.0, value, None, "p", seq)


def recent_quantiles(text: str) -> dict[str, float]:
    prefix = 'hop_latency_recent_seconds{hop="receive_to_apply",quantile="'
    return {line[len(prefix):].split('"')[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line.startswith(prefix)}


def test_le_semantics_and_cumulative_counts() -> None:
    latency = HopLatency((0.1, 1.0), 16, 1e11)
    for v in (0.05, 0.1, 0.5, 1.0, 7.0):
        observe(latency, v)
    h = latency.histogram("receive_to_apply", "heartbeat")
    assert (h.counts, h.count, h.sum) == ([2, 2, 1], 5, pytest.approx(8.65))
    text = latency.core.write_text(False, 0.0)
    assert 'hop_latency_seconds_bucket{clock="same",hop="receive_to_apply",le="1.0",type="heartbeat"} 4.0' in text
    assert 'hop_latency_seconds_count{clock="same",hop="receive_to_apply",type="heartbeat"} 5.0' in text
    assert latency.histogram("event_to_send", "heartbeat").count == 0  # no sent_ts: no send hops
    assert 'hop="event_to_send"' not in text  # a hop without samples is not exposed


def test_ring_keeps_the_last_samples_in_order() -> None:
    latency = HopLatency((0.1,), 4, 1e11)
    for v in range(6):
        observe(latency, float(v))
    assert latency.samples("receive_to_apply", "heartbeat").tolist() == [2.0, 3.0, 4.0, 5.0]
    assert latency.core.ring(HOPS.index("receive_to_apply"), HEARTBEAT) == ([4.0, 5.0, 2.0, 3.0], 2, 4)


def test_recent_quantiles_match_numpy() -> None:
    values = np.random.default_rng(7).exponential(size=501).tolist()
    latency = HopLatency((0.1,), 501, 1e11)
    for v in values:
        observe(latency, v)
    quantiles = recent_quantiles(latency.core.write_text(False, 0.0))
    assert quantiles.keys() == {"0.5", "0.95", "0.99", "0.999"}
    for q, value in quantiles.items():
        assert value == pytest.approx(float(np.percentile(values, float(q) * 100)), rel=1e-12)


def test_a_hop_that_does_not_exist_is_an_index_error() -> None:
    latency = HopLatency((0.1,), 4, 1e11)
    with pytest.raises(IndexError):
        latency.core.observe_event(3, 0.0, None, 0.0, 0.0, None, None, None)
    with pytest.raises(IndexError):
        latency.core.histogram(4, 0)
    assert latency.histogram("event_to_apply", "trade").count == 0  # nothing half-applied


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_values_are_written_as_the_python_writer_writes_them(value: float) -> None:
    assert format_value(value) == fmt(value)


@pytest.mark.parametrize("value", [5e-05, 1e16, 1e15, 0.0001, -0.0, 1.7e308, 2.0**-1074, math.pi * 1e-5])
def test_value_formatting_edges(value: float) -> None:
    assert format_value(value) == fmt(value)


def percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation (numpy's default method), as the sidecar's exposition always wrote it."""
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class _Reference(Collector):
    """prometheus_client's own families for the numbers ``latency`` holds."""

    def __init__(self, latency: HopLatency, bounds: tuple[float, ...]) -> None:
        self.latency, self.bounds = latency, bounds

    def cumulative(self, counts: list[int]) -> list[tuple[str, float]]:
        return [(le, float(sum(counts[:i + 1]))) for i, le in enumerate([*map(repr, self.bounds), "+Inf"])]

    def collect(self) -> Iterator[Metric]:
        trade = self.latency.trade_latency()
        h = HistogramMetricFamily("trade_latency_seconds", "Sidecar receive time minus trade ts")
        h.add_metric([], self.cumulative(trade.counts), trade.sum)
        yield h
        series = sorted((hop, kind) for hop in HOPS for kind in MESSAGE_TYPES
                        if self.latency.histogram(hop, kind).count)
        h = HistogramMetricFamily("hop_latency_seconds",
                                  "Latency of each hop (event, send, receive, apply), by message type",
                                  labels=["clock", "hop", "type"])
        for hop, kind in series:
            counts = self.latency.histogram(hop, kind)
            h.add_metric([HOP_CLOCKS[hop, kind], hop, kind], self.cumulative(counts.counts), counts.sum)
        yield h
        s = SummaryMetricFamily("hop_latency_recent_seconds", "Exact quantile of the most recent samples of each hop",
                                labels=["hop", "type"])
        for hop, kind in series:
            values = self.latency.samples(hop, kind)
            for q in (0.5, 0.95, 0.99, 0.999):
                s.add_sample("hop_latency_recent_seconds", {"hop": hop, "quantile": repr(q), "type": kind},
                             percentile(sorted(values.tolist()), q))
            counts = self.latency.histogram(hop, kind)
            s.add_metric([hop, kind], count_value=counts.count, sum_value=counts.sum)
        yield s
        c = CounterMetricFamily("hop_latency_negative",
                                "Hop samples that came out negative (clock skew); observed as 0 in the histogram",
                                labels=["clock", "hop", "type"])
        for hop, kind in series:
            c.add_metric([HOP_CLOCKS[hop, kind], hop, kind], self.latency.negative(kind)[HOPS.index(hop)])
        yield c
        g = GaugeMetricFamily("hop_latency_max_seconds", "Largest sample of each hop over the last 15-30 s",
                              labels=["clock", "hop", "type"])
        for hop, kind in series:
            top = self.latency.window_max(hop, kind)
            if top is not None:
                g.add_metric([HOP_CLOCKS[hop, kind], hop, kind], top)
        yield g


def test_the_core_writes_what_generate_latest_writes() -> None:
    bounds = (0.0005, 0.01, 0.25)
    latency = HopLatency(bounds, 64, 1e11)
    rng = np.random.default_rng(3)
    for i in range(50):
        kind = i % 3
        ts = 1_700_000_000.0 + i
        sent = None if i % 5 == 0 else ts + float(rng.exponential(0.004)) - 0.001  # some negative
        recv = ts + float(rng.exponential(0.01))
        latency.observe_event(kind, ts, sent, recv, recv + float(rng.exponential(0.0002)), f"e{i}", "p", i)
    text = latency.core.write_text(False, 1_700_000_049.0)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Reference(latency, bounds))
    assert text == generate_latest(registry).decode()
    assert 'le="0.0005"' in text and "hop_latency_negative_total" in text and "# {" not in text
