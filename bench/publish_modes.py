"""What each delivery mode costs the caller: ``publish()`` time per call, measured
in the publishing thread against a real sidecar process, for

- ``fire_and_forget``: ``Publisher`` (PUSH, NOBLOCK) -> the sidecar's PULL;
- ``reliable``: ``ReliablePublisher`` (one SQLite INSERT, synchronous=NORMAL)
  -> the sidecar's ROUTER with durable state;
- ``reliable_full``: the same with synchronous=FULL (an fsync per publish).

Each mode runs ``--repeat`` times on a fresh sidecar; the report gives the median
of each statistic over the runs, plus the end-to-end rate (messages counted by
the sidecar per second, from the first publish to the last message counted).

    python bench/publish_modes.py [--count 50000] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from soak import scrape, start_sidecar, total  # a sibling script, not a package import

from trading_app.telemetry.protocol import Publisher
from trading_app.telemetry.push import PushPublisher
from trading_app.telemetry.reliable import ReliablePublisher

MODES = ("fire_and_forget", "reliable", "reliable_full")


def pct(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000


def one_run(mode: str, count: int, workdir: Path) -> dict[str, Any]:
    reliable = mode != "fire_and_forget"
    popen, info = start_sidecar(workdir, reliable)
    url = info["http"] + "/metrics/"
    try:
        if reliable:
            pub: Publisher = ReliablePublisher(info["reliable"], workdir / "outbox.sqlite", producer="bench",
                                               heartbeat_interval=0,
                                               synchronous="FULL" if mode == "reliable_full" else "NORMAL")
        else:
            pub = PushPublisher(info["zmq"], producer="bench", heartbeat_interval=0, sndhwm=100_000)
        pub.wait_connected(10)
        durations: list[int] = []
        accepted = 0
        clock = time.perf_counter_ns
        started = time.monotonic()
        for i in range(count):
            t = clock()
            ok = pub.trade("buy", 1.0, symbol="BENCH" if i % 2 else "MARK").queued
            durations.append(clock() - t)
            accepted += ok
        deadline = time.monotonic() + 300
        while total(scrape(url), "trades_total") < accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        delivered_in = time.monotonic() - started
        pub.close()
    finally:
        popen.terminate()
        popen.wait(10)
    durations.sort()
    mean_us = sum(durations) / len(durations) / 1000
    return {"p50_us": pct(durations, 0.5), "p90_us": pct(durations, 0.9), "p99_us": pct(durations, 0.99),
            "p999_us": pct(durations, 0.999), "max_us": durations[-1] / 1000, "mean_us": mean_us,
            "calls_per_s": 1e6 / mean_us, "accepted": accepted, "dropped": count - accepted,
            "end_to_end_per_s": accepted / delivered_in}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--full-count", type=int, default=3_000, help="count for reliable_full (an fsync each)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report: dict[str, Any] = {}
    for mode in args.modes.split(","):
        runs = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="publish-modes-") as tmp:
                runs.append(one_run(mode, args.full_count if mode == "reliable_full" else args.count, Path(tmp)))
        report[mode] = {key: round(statistics.median(r[key] for r in runs), 2) for key in runs[0]}
        report[mode]["runs"] = len(runs)
        print(mode, json.dumps(report[mode]), flush=True)
    print("| mode | p50 µs | p90 µs | p99 µs | p99.9 µs | mean µs | calls/s | dropped | end-to-end msg/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for mode, r in report.items():
        print(f"| {mode} | {r['p50_us']:.1f} | {r['p90_us']:.1f} | {r['p99_us']:.1f} | {r['p999_us']:.1f} | "
              f"{r['mean_us']:.1f} | {r['calls_per_s']:,.0f} | {r['dropped']:,.0f} | {r['end_to_end_per_s']:,.0f} |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
