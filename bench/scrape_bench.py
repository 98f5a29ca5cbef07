"""B5 and B6: ``/metrics/`` scrape time and sidecar memory as symbols grow.

B5 times a real scrape (HTTP, keep-alive client) of a real sidecar holding 10,
100 and 1,000 symbols with every metric family populated (trades both sides,
ticks from two sources). The reported time is httpx's (a Python client: at 1,000
symbols it reads a 1.5 MB body, which costs the client milliseconds of its own on
the same two cores); ``sidecar_http_raw_ms`` times the same scrapes with a minimal
client (one request on a keep-alive socket, the body read with ``recv_into`` into
one buffer), which is closer to what the sidecar itself spends and to a Go
scraper such as Prometheus (the B5 verdict in docs/benchmarks.md is taken on it: a Go
client's own cost for the body is small, httpx's is milliseconds of the same two cores;
bench/scrape_breakdown.py shows each part, the server's CPU time per scrape included).
Baseline: prometheus_client ``generate_latest`` of an equivalent registry, i.e. the
same families, label sets and series as standard Counter/Gauge/Histogram instruments
(built from the sidecar's own exposition), in-process, no HTTP. Also the sidecar's collector rendering the same state
in-process, so the ratio compares exposition with exposition.

B6 reads the sidecar's RSS (/proc) idle, and after 1,000 symbols and enough
events to fill every fixed-size window (dedup ids, samples, recent events): right
after the burst (``burst_mb``: includes the PULL queue's freed blocks, bounded by
SIDECAR_RCVHWM) and once settled (``loaded_mb``, the target's number).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx
from harness import median, percentile, rss_bytes, start_sidecar
from ingest_bench import feed
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.parser import text_string_to_metric_families
from sender import encode_frames, trade_messages


def equivalent_registry(exposition: str) -> tuple[CollectorRegistry, int]:
    """Standard instruments holding the same series as ``exposition``; (registry, series)."""
    registry = CollectorRegistry()
    series = 0
    for family in text_string_to_metric_families(exposition):
        if family.name.startswith(("process_", "python_")):
            continue  # the real collectors are added below, as in the sidecar
        reserved = {"le"} if family.type == "histogram" else set()
        labelnames = sorted({k for s in family.samples for k in s.labels if k not in reserved})
        doc = family.documentation or family.name
        if family.type == "counter":
            counter = Counter(family.name, doc, labelnames, registry=registry)
            for s in family.samples:
                if s.name.endswith("_total"):
                    (counter.labels(**s.labels) if labelnames else counter).inc(s.value)
                    series += 1
        elif family.type == "gauge":
            gauge = Gauge(family.name, doc, labelnames, registry=registry)
            for s in family.samples:
                (gauge.labels(**s.labels) if labelnames else gauge).set(s.value)
                series += 1
        elif family.type == "histogram":
            bounds = sorted({float(s.labels["le"]) for s in family.samples if "le" in s.labels} - {float("inf")})
            hist = Histogram(family.name, doc, labelnames, buckets=bounds, registry=registry)
            for s in family.samples:
                if s.name.endswith("_count"):
                    (hist.labels(**s.labels) if labelnames else hist).observe(bounds[0])
                    series += 1
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry, series


def _time_ms(call: Any, repeats: int) -> dict[str, float]:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
    return {"median": median(samples), "p95": percentile(samples, 0.95)}


class RawClient:
    """GET over one keep-alive HTTP/1.1 socket; the body (Content-Length) read into one
    preallocated buffer: as little client work per scrape as Python allows."""

    def __init__(self, base_url: str, path: str) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)))
        self.request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        self.buffer = bytearray(1 << 23)
        self.view = memoryview(self.buffer)

    def get(self) -> int:
        """One scrape; returns the body's length."""
        self.sock.sendall(self.request)
        got = 0
        while True:
            got += self.sock.recv_into(self.view[got:])
            end = self.buffer.find(b"\r\n\r\n", 0, got)
            if end >= 0:
                break
        head = bytes(self.buffer[:end]).lower()
        if not head.startswith(b"http/1.1 200"):
            raise RuntimeError(head[:200].decode(errors="replace"))
        length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
        total = end + 4 + length
        if total > len(self.buffer):
            raise RuntimeError(f"body of {length} bytes: larger than the buffer")
        while got < total:
            got += self.sock.recv_into(self.view[got:total])
        return length

    def close(self) -> None:
        self.sock.close()


def _in_process_state(symbols: int, events: int, analytics: bool = True) -> Any:
    """A render of the sidecar's state and registry, fed the same messages, in this process."""
    from metrics_sidecar.exposition import render

    state, process = in_process_state(symbols, events, analytics)
    return lambda: render(state, process)


def in_process_state(symbols: int, events: int, analytics: bool = True) -> tuple[Any, Any]:
    """The sidecar's state and process registry, fed the bench's messages, in this process."""
    from metrics_sidecar.decode import decode
    from metrics_sidecar.exposition import process_registry
    from metrics_sidecar.settings import Settings
    from metrics_sidecar.state import TelemetryState

    state = TelemetryState(Settings.model_validate({"max_symbols": max(symbols, 1000), "analytics": analytics}))
    with state.lock:
        for frame in encode_frames(trade_messages(events, symbols, "inprocess", ticks=True), 1):
            event = decode(frame)
            assert not isinstance(event, str), event
            event.recv_ts = time.time()
            state.apply(event)
        state.end_batch()
    return state, process_registry()


def scrape_times(log_dir: Path, symbol_counts: list[int], repeats: int,
                 env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    rows = []
    analytics = (env or {}).get("SIDECAR_ANALYTICS", "true") != "false"
    for symbols in symbol_counts:
        events = 4 * symbols  # two passes of (trade, tick): both sides, both sources
        sidecar = start_sidecar(log_dir, {"SIDECAR_MAX_SYMBOLS": str(max(symbols, 1000)), **(env or {})})
        try:
            fed = feed(sidecar, log_dir, events, symbols=symbols, ticks=True)
            with httpx.Client(timeout=30) as client:
                url = sidecar.http + "/metrics/"
                text = client.get(url).text
                http = _time_ms(lambda c=client, u=url: c.get(u).raise_for_status(), repeats)
            raw = RawClient(sidecar.http, "/metrics/")
            try:
                # The same body as httpx read, give or take a few changing digits (warm-up too).
                if abs(raw.get() - len(text.encode())) > 0.02 * len(text.encode()):
                    raise RuntimeError("the raw client read a body of another size")
                http_raw = _time_ms(raw.get, repeats)
            finally:
                raw.close()
        finally:
            sidecar.stop()
        registry, series = equivalent_registry(text)
        baseline = _time_ms(lambda r=registry: generate_latest(r), repeats)
        own = _in_process_state(symbols, events, analytics)
        in_process = _time_ms(own, repeats)
        rows.append({"symbols": symbols, "series": series, "bytes": len(text.encode()), "exact": fed["exact"],
                     "sidecar_http_ms": http, "sidecar_http_raw_ms": http_raw, "sidecar_in_process_ms": in_process,
                     "prometheus_client_ms": baseline,
                     "ratio_in_process": in_process["median"] / baseline["median"],
                     "ratio_http": http["median"] / baseline["median"],
                     "ratio_http_raw": http_raw["median"] / baseline["median"]})
    return rows


def memory(log_dir: Path, symbols: int, events: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    sidecar = start_sidecar(log_dir, {"SIDECAR_MAX_SYMBOLS": str(max(symbols, 1000)), **(env or {})})
    try:
        httpx.get(sidecar.http + "/metrics/", timeout=10)  # the exposition path is warm, as in production
        idle = rss_bytes(sidecar.popen.pid)
        fed = feed(sidecar, log_dir, events, symbols=symbols, ticks=True)
        httpx.get(sidecar.http + "/metrics/", timeout=30)
        burst = rss_bytes(sidecar.popen.pid)
        # Steady state: once idle, the sidecar hands the burst's freed queue memory back
        # (heaptrim.py); the RSS is read once it stops falling (deadline 3 s).
        loaded = _settled_rss(sidecar.popen.pid, 3.0)
    finally:
        sidecar.stop()
    return {"idle_mb": idle / 2**20, "loaded_mb": loaded / 2**20, "burst_mb": burst / 2**20, "symbols": symbols,
            "events": events, "exact": fed["exact"]}


def _settled_rss(pid: int, deadline_s: float) -> int:
    """The RSS once two reads 0.25 s apart agree within 1 MB (or at the deadline)."""
    end = time.monotonic() + deadline_s
    last = rss_bytes(pid)
    while time.monotonic() < end:
        time.sleep(0.25)
        now = rss_bytes(pid)
        if abs(now - last) < 2**20:
            return now
        last = now
    return last
