"""B4: send -> applied latency at fixed rates, from the real publisher in its own
process to the real sidecar, measured by the sidecar itself.

The number is the sidecar's ``event_to_apply`` hop for trades (applied minus the
trade's ``ts``, which ``Publisher.trade()`` stamps a microsecond before
``publish()`` stamps ``sent_ts``: so it is send -> applied plus ~1-2 us, i.e.
conservative). Quantiles are the exact ``hop_latency_recent_seconds`` gauges,
with ``SIDECAR_LATENCY_SAMPLES`` raised so the ring holds every sample of the run;
the CDF comes from ``hop_latency_seconds`` buckets made fine for this run
(``SIDECAR_LATENCY_BUCKETS``: 10 us steps up to 300 us).

The tail is the machine's more than the sidecar's: p99 at 10k/s lives in
``send_to_receive``, i.e. in the run-queue waits of the three threads a message
needs (the publisher's ZeroMQ I/O thread, the sidecar's, the ingest thread) when
other processes hold both cores (``perf sched timehist`` during a run shows
waits of 1-8 ms). So each run records the 1-minute load average before and
after it (``load``), to read a p99 against.

Each rate is also run with the publisher stamping every trade's ``ts`` with its
intended time on the paced schedule (``paced_publisher.py --stamp schedule``):
that run's ``event_to_apply`` is the latency corrected for coordinated omission
(``co_corrected``), measured from when a send should have happened, not from
when the stalled loop got round to it; its ``event_to_send`` is how late sends
left against the schedule.

Each run also reports what the publisher's sender thread cost (``sender``: its
share of a core over the paced run, its wake-ups a second, the CPU and the
run-queue wait per wake-up, from the kernel's schedstat), and the uncorrected
runs first measure it idle for ``IDLE_SECONDS`` (``sender_idle``): what the
hand-off's polling costs an app that publishes nothing. ``handoff_us`` is the
hand-off alone, per message: ``sent_ts`` to the sender thread taking it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

from harness import scrape, start_helper, start_sidecar, wait_until

FINE_BUCKETS: tuple[float, ...] = tuple(
    [i * 1e-5 for i in range(1, 31)]  # 10 us .. 300 us
    + [i * 5e-5 for i in range(7, 21)]  # 350 us .. 1 ms
    + [i * 5e-4 for i in range(3, 11)]  # 1.5 ms .. 5 ms
    + [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]
)
HOPS = ("event_to_apply", "event_to_send", "send_to_receive", "receive_to_apply")
IDLE_SECONDS = 1.0


def _bucket_env() -> str:
    return ",".join(f"{b:.6g}" for b in FINE_BUCKETS)


def one_rate(log_dir: Path, rate: float, seconds: float, stamp: str = "made", idle_seconds: float = 0.0,
             publisher_args: tuple[str, ...] = ()) -> dict[str, Any]:
    """One paced run; ``publisher_args`` go to ``paced_publisher.py`` as given (the A/B knobs)."""
    n = int(rate * seconds)
    load_before = os.getloadavg()[0]
    sidecar = start_sidecar(log_dir, {"SIDECAR_LATENCY_SAMPLES": str(min(max(n, 16), 1_000_000)),
                                      "SIDECAR_LATENCY_BUCKETS": _bucket_env()})
    try:
        args = [sidecar.zmq, "--rate", str(rate), "--seconds", str(seconds), "--stamp", stamp,
                "--idle-seconds", str(idle_seconds), *publisher_args]
        pub = start_helper("paced-publisher", "paced_publisher", args, log_dir, ready=False)
        sent = pub.result(timeout=seconds * 3 + idle_seconds + 60)
        metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/"))
                             and m.get('messages_received_total{type="trade"}') == sent["queued"] and m,
                             60, 0.2, "every queued trade applied")
    finally:
        sidecar.stop()
    quantiles = {hop: {q: metrics[f'hop_latency_recent_seconds{{hop="{hop}",quantile="{q}",type="trade"}}']
                       for q in ("0.5", "0.95", "0.99", "0.999")} for hop in HOPS}
    cdf = []
    count = metrics['hop_latency_seconds_count{clock="cross",hop="event_to_apply",type="trade"}']
    for bound in FINE_BUCKETS:
        le = repr(float(f"{bound:.6g}"))
        cumulative = metrics[f'hop_latency_seconds_bucket{{clock="cross",hop="event_to_apply",le="{le}",type="trade"}}']
        cdf.append((bound, cumulative / count))
    return {"rate": rate, "achieved_rate": sent["achieved_rate"], "published": sent["published"],
            "queued": sent["queued"], "applied": count, "quantiles_s": quantiles, "cdf": cdf,
            "load": [load_before, os.getloadavg()[0]], "sender": sent.get("sender"),
            "sender_idle": sent.get("sender_idle"), "sender_timer_slack_ns": sent.get("sender_timer_slack_ns"),
            "fast_poll_s": sent.get("fast_poll_s"), "hog_naps": sent.get("hog_naps"),
            "handoff_us": sent.get("handoff_us")}


def _median_run(log_dir: Path, rate: float, seconds: float, repeats: int, stamp: str,
                publisher_args: tuple[str, ...] = ()) -> dict[str, Any]:
    """The run with the median ``event_to_apply`` p99 of ``repeats`` runs, with every run's p50/p99/load
    (and, for the uncorrected runs, every run's sender thread cost, idle and paced)."""
    idle = IDLE_SECONDS if stamp == "made" and not publisher_args else 0.0
    runs = sorted((one_rate(log_dir, rate, seconds, stamp, idle, publisher_args) for _ in range(repeats)),
                  key=lambda r: r["quantiles_s"]["event_to_apply"]["0.99"])
    median = runs[len(runs) // 2]
    median["p99_runs_s"] = [r["quantiles_s"]["event_to_apply"]["0.99"] for r in runs]
    median["p50_runs_s"] = [r["quantiles_s"]["event_to_apply"]["0.5"] for r in runs]
    median["load_runs"] = [r["load"] for r in runs]
    median["sender_runs"] = [r["sender"] for r in runs]
    median["sender_idle_runs"] = [r["sender_idle"] for r in runs]
    median["handoff_us_runs"] = [r["handoff_us"] for r in runs]
    return median


def run(log_dir: Path, rates: list[float], seconds: float, repeats: int) -> list[dict[str, Any]]:
    """Per rate: the median-p99 run as today (its CDF too), under ``co_corrected`` the
    median-p99 run with ``ts`` on the schedule (coordinated-omission corrected; no CDF kept),
    and under ``direct`` the same-run baseline without the hand-off (``paced_publisher.py
    --direct``: sent in the calling thread, as before the queue; no CDF kept)."""
    out = []
    for rate in rates:
        median = _median_run(log_dir, rate, seconds, repeats, "made")
        corrected = _median_run(log_dir, rate, seconds, repeats, "schedule")
        corrected.pop("cdf")
        median["co_corrected"] = corrected
        direct = _median_run(log_dir, rate, seconds, repeats, "made", ("--direct",))
        direct.pop("cdf")
        median["direct"] = direct
        out.append(median)
    return out


def interleaved(log_dir: Path, rate: float, seconds: float, repeats: int,
                variants: dict[str, tuple[str, ...]]) -> list[dict[str, Any]]:
    """A/B of the publisher's knobs (``paced_publisher.py`` arguments per variant), the
    variants taken in turn ``repeats`` times so the shared machine's load hits each alike.
    One row per run: its p50/p99 per hop, the hand-off alone, the sender thread's cost."""
    out = []
    for repeat in range(repeats):
        for name, args in variants.items():
            r = one_rate(log_dir, rate, seconds, "made", IDLE_SECONDS, args)
            out.append({"variant": name, "repeat": repeat, "load": r["load"], "queued": r["queued"],
                        "achieved_rate": r["achieved_rate"],
                        "p50_us": {h: r["quantiles_s"][h]["0.5"] * 1e6 for h in HOPS},
                        "p99_us": {h: r["quantiles_s"][h]["0.99"] * 1e6 for h in HOPS},
                        "handoff_us": r["handoff_us"], "sender": r["sender"], "sender_idle": r["sender_idle"],
                        "sender_timer_slack_ns": r["sender_timer_slack_ns"], "fast_poll_s": r["fast_poll_s"],
                        "hog_naps": r["hog_naps"]})
            print(json.dumps(out[-1]), flush=True)
    return out


def main() -> None:
    """``python bench/latency_bench.py --variant new= --variant poll50='--fast-poll 50e-6'``:
    the interleaved A/B (docs/benchmarks.md, *B4: the hand-off*), one JSON line per run."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--variant", action="append", required=True,
                        help="NAME=ARGS: paced_publisher.py arguments for this variant (may be empty)")
    args = parser.parse_args()
    variants = {name: tuple(shlex.split(rest)) for name, _, rest in (v.partition("=") for v in args.variant)}
    with tempfile.TemporaryDirectory(prefix="b4-ab-") as logs:
        interleaved(Path(logs), args.rate, args.seconds, args.repeats, variants)


if __name__ == "__main__":
    main()
