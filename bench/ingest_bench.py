"""B1, B2 and the ingest scaling curves: the real sidecar process against a bare
pyzmq PULL ``recv()`` loop receiving the same frames from the same sender.

Throughput is events / (receive time of the last event - wall time of the first
send); both ends run on this host, so they share a clock. The sidecar's end is
the ``recv_ts`` of its newest event (``GET /events?limit=1``), polled only after
the sender is done, so polling does not steal CPU from ingest. Counts are then
verified exactly against ``/metrics/``: every event received, 0 lost, 0 invalid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from harness import Proc, scrape, start_helper, start_sidecar, summary, total, wait_until


def send(log_dir: Path, endpoint: str, events: int, batch: int = 1, symbols: int = 10,
         ticks: bool = False) -> dict[str, Any]:
    """Run the sender (its own process) to completion; its result line."""
    args = [endpoint, "--events", str(events), "--batch", str(batch), "--symbols", str(symbols)]
    sender = start_helper("sender", "sender", args + (["--ticks"] if ticks else []), log_dir, ready=False)
    return sender.result(timeout=600)


def feed(sidecar: Proc, log_dir: Path, events: int, batch: int = 1, symbols: int = 10,
         ticks: bool = False) -> dict[str, Any]:
    """Send ``events`` to a running sidecar and wait until the last one is applied.
    Returns events/s and the exact counts (``exact``: all applied, none lost)."""
    before = scrape(sidecar.http + "/metrics/")
    sent = send(log_dir, sidecar.zmq, events, batch, symbols, ticks)

    def newest_is_last() -> dict[str, Any]:
        """The newest applied event if it is the sender's last one, else {} (falsy)."""
        newest = httpx.get(sidecar.http + "/events", params={"limit": 1}, timeout=10).json()["events"]
        ok = newest and newest[0].get("instance") == sent["instance"] and newest[0]["seq"] == events
        return dict(newest[0]) if ok else {}

    last = wait_until(newest_is_last, 600, 0.1, "the last event applied")
    after = scrape(sidecar.http + "/metrics/")

    def delta(name: str) -> float:
        return total(after, name) - total(before, name)

    counts = {
        "sent": events,
        "received": delta("messages_received_total"),
        "applied": delta("trades_total") + delta("ticks_total"),
        "lost": delta("messages_lost_total"),
        "invalid": delta("messages_invalid_total"),
        "duplicate": delta("messages_duplicate_total"),
        "frames": sent["frames"],
        "batches": delta("sidecar_ingest_batches_total"),
    }
    counts["lost"] += events - counts["received"]
    exact = (counts["received"] == counts["applied"] == events
             and counts["lost"] == counts["invalid"] == counts["duplicate"] == 0)
    return {"events_per_s": events / (last["recv_ts"] - sent["t0"]), "counts": counts, "exact": exact}


def bare_run(log_dir: Path, events: int, batch: int = 1, symbols: int = 10) -> float:
    """Events/s of the bare recv loop."""
    frames = -(-events // batch)
    bare = start_helper("bare-pull", "bare_pull", ["--frames", str(frames)], log_dir)
    try:
        sent = send(log_dir, bare.zmq, events, batch, symbols)
        got = bare.result(timeout=600)
    finally:
        bare.stop()
    return float(events / (got["t_last"] - sent["t0"]))


def sidecar_run(log_dir: Path, events: int, batch: int = 1, symbols: int = 10,
                env: dict[str, str] | None = None, ticks: bool = False) -> dict[str, Any]:
    """A fresh sidecar fed ``events``: events/s with its counts verified exactly."""
    sidecar = start_sidecar(log_dir, {"SIDECAR_MAX_SYMBOLS": str(max(symbols, 1000)), **(env or {})})
    try:
        return feed(sidecar, log_dir, events, batch, symbols, ticks)
    finally:
        sidecar.stop()


def compare(log_dir: Path, events: int, repeats: int, batch: int = 1, symbols: int = 10,
            env: dict[str, str] | None = None, baseline_batch: int = 1) -> dict[str, Any]:
    """Alternate baseline and sidecar runs (so both see the same noise); medians and ratio."""
    bare: list[float] = []
    side: list[float] = []
    runs: list[dict[str, Any]] = []
    for _ in range(repeats):
        bare.append(bare_run(log_dir, events, baseline_batch, symbols))
        run = sidecar_run(log_dir, events, batch, symbols, env)
        runs.append(run)
        side.append(run["events_per_s"])
    b, s = summary(bare), summary(side)
    return {"events": events, "batch": batch, "symbols": symbols, "baseline_batch": baseline_batch,
            "bare": b, "sidecar": s, "ratio": s["median"] / b["median"],
            "exact": all(r["exact"] for r in runs), "counts": runs[-1]["counts"]}


def scaling(log_dir: Path, events: int, repeats: int, symbol_counts: list[int],
            variants: dict[str, dict[str, str]]) -> dict[str, list[dict[str, Any]]]:
    """Sidecar ingest cost (us per event, trades and ticks alternating) as the
    number of symbols grows, per variant (e.g. analytics on/off). Variants
    alternate within each repeat so they see the same machine noise, in reversed
    order every other repeat."""
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    order = list(variants.items())
    for symbols in symbol_counts:
        for i in range(repeats):
            for name, env in order if i % 2 == 0 else order[::-1]:
                runs.setdefault((name, symbols), []).append(sidecar_run(log_dir, events, 1, symbols, env, ticks=True))
    out: dict[str, list[dict[str, Any]]] = {}
    for name in variants:
        for symbols in symbol_counts:
            rate = summary([r["events_per_s"] for r in runs[name, symbols]])
            out.setdefault(name, []).append({"symbols": symbols, "events_per_s": rate,
                                             "us_per_event": 1e6 / rate["median"],
                                             "exact": all(r["exact"] for r in runs[name, symbols])})
    return out


def analytics_cost(log_dir: Path, events: int, repeats: int, symbols: int = 10) -> dict[str, Any]:
    """Issue 5's budget: B1's stream (publisher-format trades, one per frame) into a
    sidecar with the analytics engine on and off, alternating, so both see the same
    noise; which one runs first alternates too, so neither always gets the warmer or
    the quieter half of a pair. ``loss`` is the throughput lost with analytics on
    (median against median)."""
    on: list[float] = []
    off: list[float] = []
    exact = True
    pair = (({"SIDECAR_ANALYTICS": "false"}, off), ({"SIDECAR_ANALYTICS": "true"}, on))
    for i in range(repeats):
        for env, rates in pair if i % 2 == 0 else pair[::-1]:
            run = sidecar_run(log_dir, events, 1, symbols, env)
            rates.append(run["events_per_s"])
            exact = exact and run["exact"]
    a, b = summary(on), summary(off)
    return {"events": events, "symbols": symbols, "on": a, "off": b, "loss": 1 - a["median"] / b["median"],
            "exact": exact}
