"""The Prometheus protobuf exposition (``io.prometheus.client.MetricFamily``, length-
delimited), served when the scraper negotiates it — Prometheus does only with
``--enable-feature=native-histograms``. Every family of the text exposition is
re-encoded; ``hop_latency_seconds`` also carries its native (sparse, exponential)
buckets, so such a Prometheus stores it as a native histogram.

Hand-encoded (no protobuf dependency): the message has seven field kinds. Field
numbers are those of prometheus/client_model metrics.proto.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families

from .histogram import NATIVE_SCHEMA, NATIVE_ZERO_THRESHOLD

CONTENT_TYPE = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
_TYPES = {"counter": 0, "gauge": 1, "summary": 2, "untyped": 3, "unknown": 3, "histogram": 4}
NativeBuckets = tuple[int, dict[int, int]]  # (zero count, bucket index -> count)


def wants_protobuf(accept: str | None) -> bool:
    return accept is not None and "application/vnd.google.protobuf" in accept \
        and "io.prometheus.client.MetricFamily" in accept


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _bytes(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _double(field: int, value: float) -> bytes:
    return _key(field, 1) + struct.pack("<d", value)


def _uint(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _sint(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(_zigzag(value))


def _labels(labels: dict[str, str]) -> bytes:
    return b"".join(_bytes(1, _bytes(1, k.encode()) + _bytes(2, v.encode())) for k, v in sorted(labels.items()))


def _native(zero: int, buckets: dict[int, int]) -> bytes:
    """Schema, zero bucket, positive spans and count deltas (a new span at every gap)."""
    out = _sint(5, NATIVE_SCHEMA) + _double(6, NATIVE_ZERO_THRESHOLD) + _uint(7, zero)
    spans = b""
    deltas: list[int] = []
    previous_index: int | None = None
    previous_count = 0
    span_start, span_length = 0, 0
    for index in sorted(buckets):
        if previous_index is None or index != previous_index + 1:
            if previous_index is not None:
                spans += _bytes(12, _sint(1, span_start) + _uint(2, span_length))
            span_start = index if previous_index is None else index - previous_index - 1
            span_length = 0
        span_length += 1
        deltas.append(buckets[index] - previous_count)
        previous_count = buckets[index]
        previous_index = index
    if previous_index is not None:
        spans += _bytes(12, _sint(1, span_start) + _uint(2, span_length))
        out += spans + _bytes(13, b"".join(_varint(_zigzag(d)) for d in deltas))
    return out


def _key_of(labels: dict[str, str], drop: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k != drop))


def encode(text: str, native: dict[tuple[tuple[str, str], ...], NativeBuckets], native_family: str) -> bytes:
    """The text exposition ``text`` as delimited MetricFamily messages; the series of
    ``native_family`` whose (sorted) labels are in ``native`` get native buckets too."""
    out = bytearray()
    for family in text_string_to_metric_families(text):
        kind = _TYPES.get(family.type, 3)
        metrics: Iterable[bytes]
        if family.type in ("histogram", "summary"):
            metrics = _grouped(family.name, family.type, family.samples,
                               native if family.name == native_family else {})
        else:
            field = {0: 3, 1: 2}.get(kind, 5)  # counter, gauge, else untyped
            metrics = [_labels(s.labels) + _bytes(field, _double(1, s.value)) for s in family.samples]
        name = family.samples[0].name if family.type == "counter" and family.samples else family.name
        body = _bytes(1, name.encode()) + _bytes(2, family.documentation.encode()) + _uint(3, kind)
        body += b"".join(_bytes(4, m) for m in metrics)
        out += _varint(len(body)) + body
    return bytes(out)


def _grouped(name: str, kind: str, samples: list, native: dict[tuple[tuple[str, str], ...], NativeBuckets]
             ) -> list[bytes]:
    """One Metric per label set: a histogram's buckets, or a summary's quantiles, with count and sum."""
    drop = "le" if kind == "histogram" else "quantile"
    series: dict[tuple[tuple[str, str], ...], dict[str, object]] = {}
    for s in samples:
        entry = series.setdefault(_key_of(s.labels, drop), {"parts": [], "count": 0.0, "sum": 0.0})
        if s.name == f"{name}_count":
            entry["count"] = s.value
        elif s.name == f"{name}_sum":
            entry["sum"] = s.value
        elif drop in s.labels:
            bound = float(s.labels[drop])
            parts = entry["parts"]
            assert isinstance(parts, list)
            if kind == "histogram" and not math.isinf(bound):
                parts.append(_bytes(3, _uint(1, int(s.value)) + _double(2, bound)))
            elif kind == "summary":
                parts.append(_bytes(3, _double(1, bound) + _double(2, s.value)))
    out = []
    for key, entry in series.items():
        count, total, parts = entry["count"], entry["sum"], entry["parts"]
        assert isinstance(count, float) and isinstance(total, float) and isinstance(parts, list)
        extra = b""
        if key in native:  # the native buckets' own count (they start empty after a restart)
            zero, buckets = native[key]
            count = float(zero + sum(buckets.values()))
            extra = _native(zero, buckets)
        body = _uint(1, int(count)) + _double(2, total) + b"".join(parts) + extra
        out.append(_labels(dict(key)) + _bytes(7 if kind == "histogram" else 4, body))
    return out
