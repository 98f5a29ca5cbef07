"""B1, B2 and the ingest scaling curves: the real sidecar process against a bare
pyzmq PULL ``recv()`` loop receiving the same frames from the same sender.

The mix (issue 13: trades and ticks alternating, 1,000 symbols, analytics on
against off, <= 5 % slower) and the cost-vs-symbols curve run in this process
over the product's ingest path instead (``drain_frames``: a real PULL socket,
the PULL loop's drain, the one ingest entry), so the sender's own speed is not in
the number; on and off alternate in the same run:

    .venv/bin/python bench/ingest_bench.py --symbols 1000 --events 200000 --repeats 5

Throughput is events / (receive time of the last event - wall time of the first
send); both ends run on this host, so they share a clock. The sidecar's end is
the ``recv_ts`` of its newest event (``GET /events?limit=1``), polled only after
the sender is done, so polling does not steal CPU from ingest. Counts are then
verified exactly against ``/metrics/``: every event received, 0 lost, 0 invalid.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import zmq
from harness import Proc, scrape, start_helper, start_sidecar, summary, total, wait_until
from sender import encode_frames, trade_messages


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


MIX_TARGET = 0.05  # issue 13: analytics on at most 5 % slower than off
MIX_RATE = 200_000.0  # events/s the mix stream's timestamps are spread at (ticks move through seconds)


def mix_frames(events: int, symbols: int, rate: float = MIX_RATE, ticks: bool = True,
               end: float | None = None, instance: str | None = None) -> list[bytes]:
    """The mix stream: publisher-format frames, one event each, trades and ticks
    alternating over ``symbols`` symbols (``sender.trade_messages``; trades only
    without ``ticks``), their timestamps spread at ``rate`` events/s and ending at
    ``end`` (default now), so a symbol's ticks cross seconds as in a live feed
    (every per-second row, bar and session step runs). ``end`` and ``instance``
    fixed make the frames byte for byte the same in every process (callgrind)."""
    messages = trade_messages(events, symbols, instance or uuid.uuid4().hex[:12], ticks=ticks)
    end = time.time() if end is None else end
    for i, message in enumerate(messages):
        message["ts"] = message["sent_ts"] = end - (events - i) / rate
    return encode_frames(messages, 1)


def mix_settings(analytics: bool, symbols: int, **extra: Any) -> Any:
    """The sidecar's settings for the mix: analytics on or off, room for every
    symbol, and (the frames are reused across repeats, and callgrind is ~50x
    slower) no tick refused as stale: the age check still runs, it just passes."""
    from metrics_sidecar.settings import Settings

    return Settings.model_validate({"analytics": analytics, "max_symbols": max(1000, symbols),
                                    "tick_max_age_seconds": 1e9, **extra})


def queued(context: zmq.Context, frames: list[bytes]) -> zmq.Socket:
    """A real PULL socket (inproc) with every frame already queued."""
    from breakdown_bench import _queued_socket

    return _queued_socket(context, frames, f"inproc://mix-{uuid.uuid4().hex}")


def drain_frames(settings: Any, frames: list[bytes], context: zmq.Context) -> tuple[Any, float, float]:
    """The product's ingest path over ``frames``: queued on a real PULL socket
    (``queued``), received and handed to the one ingest entry by the real
    PULL loop's drain (``IngestLoop.drain``: the core's, or the Python fallback; one core
    call per drain) until the socket is empty. Returns the state, the
    seconds the drains took on the wall clock and in CPU time (this process's: on
    a loaded machine the wall clock also counts the waits for a core); the
    queueing and the state's creation are outside the clocks. Raises unless every
    event was applied."""
    from metrics_sidecar.ingest import IngestLoop
    from metrics_sidecar.state import TelemetryState

    pull = queued(context, frames)
    loop = IngestLoop(settings, TelemetryState(settings), context)
    state = loop.state
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        while True:
            batches = state.batches
            loop.drain(pull)
            if state.batches == batches:  # nothing was queued any more
                break
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        pull.close(linger=0)
    applied = sum(state.received.values())
    if applied != len(frames) or any(state.invalid.values()):
        raise RuntimeError(f"mix: {applied} of {len(frames)} applied, invalid {dict(state.invalid)}")
    return state, wall, cpu


def mix(events: int, repeats: int, symbols: int = 1000, rate: float = MIX_RATE) -> dict[str, Any]:
    """Issue 13's mix: the stream of ``mix_frames`` through the product's ingest
    path (``drain_frames``) with the analytics on and off, alternating within each
    repeat (which goes first alternates too), each run a fresh state. Medians of
    µs per event, wall clock and CPU time; ``slower``: on against off (target
    <= 5 %), ``slower_cpu`` the same in CPU time (less blurred by a loaded machine)."""
    frames = mix_frames(events, symbols, rate)
    context = zmq.Context()
    wall: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    try:
        order = (False, True)
        for i in range(repeats):
            for analytics in order if i % 2 == 0 else order[::-1]:
                gc.collect()
                _, took, used = drain_frames(mix_settings(analytics, symbols), frames, context)
                wall[analytics].append(took / events * 1e6)
                cpu[analytics].append(used / events * 1e6)
    finally:
        context.term()
    off, on = summary(wall[False]), summary(wall[True])
    off_cpu, on_cpu = summary(cpu[False]), summary(cpu[True])
    return {"events": events, "symbols": symbols, "rate": rate, "off_us": off, "on_us": on,
            "off_cpu_us": off_cpu, "on_cpu_us": on_cpu, "slower": on["median"] / off["median"] - 1,
            "slower_cpu": on_cpu["median"] / off_cpu["median"] - 1, "target": MIX_TARGET, "exact": True}


def scaling(log_dir: Path, events: int, repeats: int, symbol_counts: list[int],
            variants: dict[str, dict[str, str]]) -> dict[str, list[dict[str, Any]]]:
    """Ingest cost (µs per event) of the mix stream (``mix``: trades and ticks
    alternating, through the product's ingest path, in this process) as the number
    of symbols grows, per variant (``SIDECAR_*`` settings, e.g. analytics on/off).
    Variants alternate within each repeat so they see the same machine noise, in
    reversed order every other repeat; each run is a fresh state. Rows also carry
    the CPU time per event (``cpu_us_per_event``). ``log_dir`` is unused (kept for
    bench/run.py)."""
    del log_dir
    order = list(variants.items())
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    context = zmq.Context()
    try:
        for symbols in symbol_counts:
            frames = mix_frames(events, symbols)
            rates: dict[str, list[float]] = {name: [] for name in variants}
            cpu: dict[str, list[float]] = {name: [] for name in variants}
            for i in range(repeats):
                for name, env in order if i % 2 == 0 else order[::-1]:
                    fields = {k.removeprefix("SIDECAR_").lower(): v for k, v in env.items()}
                    analytics = str(fields.pop("analytics", "true")).lower() == "true"
                    gc.collect()
                    _, took, used = drain_frames(mix_settings(analytics, symbols, **fields), frames, context)
                    rates[name].append(events / took)
                    cpu[name].append(used / events * 1e6)
            for name in variants:
                rate = summary(rates[name])
                out[name].append({"symbols": symbols, "events_per_s": rate, "us_per_event": 1e6 / rate["median"],
                                  "cpu_us_per_event": summary(cpu[name]), "exact": True})
    finally:
        context.term()
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


def main() -> None:
    parser = argparse.ArgumentParser(description="issue 13's mix: analytics on against off (in process)")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--symbols", type=int, default=1000)
    args = parser.parse_args()
    result = mix(args.events, args.repeats, args.symbols)
    for clock, key, slower in (("wall", "_us", "slower"), ("cpu", "_cpu_us", "slower_cpu")):
        off, on = result["off" + key], result["on" + key]
        verdict = "met" if result[slower] <= MIX_TARGET else "NOT met"
        print(f"mix ({clock}), {args.symbols:,} symbols, {args.events:,} events x {args.repeats}: analytics off "
              f"{off['median']:.3f} µs/event (spread {off['spread']:.0%}), on {on['median']:.3f} µs/event "
              f"(spread {on['spread']:.0%}): {result[slower]:+.1%} (target <= {MIX_TARGET:.0%}: {verdict})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
