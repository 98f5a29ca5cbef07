"""Every sample of a Prometheus text exposition (the sidecar's /metrics/, the
API's /metrics), for the pages that read counters without Prometheus."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = list[tuple[str, dict[str, str], float]]


def exposition(url: str) -> Samples:
    """Every sample of a Prometheus text exposition; empty when unreachable."""
    try:
        text = httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return []
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]
