"""Native (schema 3) buckets of the hop histograms and their protobuf encoding."""

from __future__ import annotations

from metrics_sidecar.histogram import MESSAGE_TYPES, HopLatency
from metrics_sidecar.protobuf_exposition import _native, _sint, _uint, _varint, _zigzag, wants_protobuf


def test_values_land_in_schema_3_buckets_and_zero_in_the_zero_bucket() -> None:
    latency = HopLatency((0.1,), 8, 1e11)
    for value in (0.5, 0.05, 0.05, 0.0, 2.0**-9 * 1.01):  # heartbeats: receive_to_apply = value
        latency.observe_event(MESSAGE_TYPES.index("heartbeat"), 0.0, None, 0.0, value, None, None, None)
    # bucket i holds (2**((i-1)/8), 2**(i/8)]: 0.5 = 2**-1 is the upper bound of i=-8;
    # 0.05 = 2**-4.32: i=-34; 2**-9 * 1.01 is just above 2**(-72/8): i=-71.
    assert latency.native("receive_to_apply", "heartbeat") == (1, {-8: 1, -34: 2, -71: 1})


def test_spans_and_deltas_follow_client_model() -> None:
    encoded = _native(3, {-3: 2, -2: 1, 5: 4})
    spans = [(-3, 2), (5 - (-2) - 1, 1)]  # a new span after a gap: offset = empty buckets skipped
    deltas = [2, -1, 3]
    assert encoded.endswith(
        b"".join(b"\x62" + _varint(len(body)) + body for body in (_sint(1, o) + _uint(2, n) for o, n in spans))
        + b"\x6a" + _varint(len(deltas)) + b"".join(_varint(_zigzag(d)) for d in deltas))
    assert _uint(7, 3) in encoded  # zero count


def test_protobuf_only_when_asked_for() -> None:
    assert wants_protobuf("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
                          "encoding=delimited;q=0.8,text/plain;version=0.0.4;q=0.2")
    assert not wants_protobuf("application/openmetrics-text;version=1.0.0")
    assert not wants_protobuf(None)
