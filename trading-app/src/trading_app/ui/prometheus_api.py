"""Small reads of Prometheus' HTTP API for the pages: one instant value, a range
as a frame, and the alerts. Every failure is an answer the page can word (never an exception)."""

from __future__ import annotations

import math
import time
from typing import Any

import httpx
import pandas as pd

TIMEOUT = 2.0
COLUMNS = ["time", "series", "value"]


def instant(base: str, expr: str) -> float | None:
    """The value of a one-sample instant query; None: no sample, NaN, or unreachable."""
    try:
        body = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=TIMEOUT).json()
        result = body["data"]["result"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    if not result:
        return None
    value = float(result[0]["value"][1])
    return value if math.isfinite(value) else None


def alerts(base: str) -> list[dict[str, Any]] | None:
    """Prometheus' active alerts (pending and firing); None when it cannot be read."""
    try:
        body = httpx.get(f"{base}/api/v1/alerts", timeout=TIMEOUT).json()
        return list(body["data"]["alerts"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def increase_exact(metric: str, window: str = "5m") -> str:
    """How much a counter grew over the window, as a whole number: now minus then
    (not increase(), which extrapolates to 1.2 for one event). A series younger
    than the window counts from 0; a counter reset counts as no growth."""
    return f"clamp_min(sum({metric}) - (sum({metric} offset {window}) or vector(0)), 0)"


def prometheus_range(base: str, expr: str, seconds: int, step: str = "5s") -> pd.DataFrame:
    """The last ``seconds`` of a range query as a long frame (time, series, value);
    empty on any failure."""
    now = time.time()
    try:
        body = httpx.get(f"{base}/api/v1/query_range", timeout=TIMEOUT,
                         params={"query": expr, "start": now - seconds, "end": now, "step": step}).json()
    except (httpx.HTTPError, ValueError):
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for result in body.get("data", {}).get("result", []):
        labels = result["metric"]
        name = labels.get("hop") or ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "value"
        for ts, value in result["values"]:
            if math.isfinite(number := float(value)):  # NaN: no sample in the rate window
                rows.append({"time": pd.to_datetime(float(ts), unit="s", utc=True), "series": name,
                             "value": number})
    return pd.DataFrame(rows, columns=COLUMNS)
