"""The benchmark suite (issue 6), one command:

    .venv/bin/python bench/run.py              # full: minutes; writes docs/benchmarks/
    .venv/bin/python bench/run.py --quick      # the CI smoke run: seconds, small sizes
    .venv/bin/python bench/run.py --only B1,B3 --out /tmp/b

Every benchmark runs its baseline in the same run and prints the ratio, so the
numbers hold on a noisy shared machine; repeated measurements report the median
and their spread. Results go to ``<out>/results.json`` (and, unless
``--no-plots``, the PNGs); ``--update-docs`` rewrites the results table in
docs/benchmarks.md. Targets are reported, never enforced: the exit code is 1
only when a count check failed (a lost or miscounted event is a bug, not noise).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import breakdown_bench
import ingest_bench
import latency_bench
import prometheus_bench
import publish_bench
import pushgateway_bench
import report
import scrape_bench
import stream_bench
import timing_bench
from harness import REPO, percentile

DOC = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"repeats": 1, "b1_events": 20_000, "analytics_repeats": 1, "b2_events": 20_000, "batch": 100,
              "scaling_events": 4_000, "scaling_symbols": [1000], "b3_calls": 2_000, "b3_rate": 20_000,
              "b4_rates": [10_000], "b4_seconds": 0.5, "b5_symbols": [100], "b5_scrapes": 5,
              "b6_events": 20_000, "b7_events": 50, "b8_trials": 2, "breakdown_events": 5_000, "breakdown_repeats": 1,
              "b9_samples": 20, "b10_trials": 2, "b11_events": 10_000, "b12_trials": 10, "b12_seconds": 2.0},
    "full": {"repeats": 3, "b1_events": 500_000, "analytics_repeats": 7, "b2_events": 1_000_000, "batch": 100,
             "scaling_events": 200_000, "scaling_symbols": [10, 100, 1000, 10_000], "b3_calls": 50_000,
             "b3_rate": 20_000, "b4_rates": [1_000, 10_000, 50_000, 100_000], "b4_seconds": 5.0,
             "b5_symbols": [10, 100, 1000], "b5_scrapes": 20, "b6_events": 200_000, "b7_events": 2_000,
             "b8_trials": 20, "breakdown_events": 100_000, "breakdown_repeats": 5,
             "b9_samples": 60, "b10_trials": 5, "b11_events": 40_000, "b12_trials": 40, "b12_seconds": 5.0},
}
ALL = ("B1", "analytics", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10", "B11", "B12", "scaling", "breakdown",
       "B5_off", "B6_off")
ANALYTICS_OFF = {"SIDECAR_ANALYTICS": "false"}


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def analytics_setting() -> bool:
    from metrics_sidecar.settings import Settings

    return "analytics" in Settings.model_fields


def benchmarks(p: dict[str, Any], logs: Path) -> dict[str, Callable[[], Any]]:
    n = p["repeats"]

    def scaling() -> dict[str, Any]:
        variants = ({"analytics off": ANALYTICS_OFF, "analytics on": {"SIDECAR_ANALYTICS": "true"}}
                    if analytics_setting() else {"sidecar": {}})
        return ingest_bench.scaling(logs, p["scaling_events"], n, p["scaling_symbols"], variants)

    def b3() -> dict[str, Any]:
        out = publish_bench.run(logs, p["b3_calls"], p["b3_rate"], n)
        for case in ("up", "down"):  # keep 1001 quantiles for the plot, not every sample
            out[case]["samples"] = [percentile(out[case]["samples"], i / 1000) for i in range(1001)]
        return out

    return {
        "B1": lambda: ingest_bench.compare(logs, p["b1_events"], n),
        "analytics": lambda: ingest_bench.analytics_cost(logs, p["b1_events"], max(n, p["analytics_repeats"])),
        "breakdown": lambda: breakdown_bench.run(p["breakdown_events"], p["breakdown_repeats"]),
        "B2": lambda: ingest_bench.compare(logs, p["b2_events"], n, batch=p["batch"]),
        "scaling": scaling,
        "B3": b3,
        "B4": lambda: latency_bench.run(logs, p["b4_rates"], p["b4_seconds"], n),
        "B5": lambda: scrape_bench.scrape_times(logs, p["b5_symbols"], p["b5_scrapes"]),
        "B6": lambda: scrape_bench.memory(logs, 1000, p["b6_events"]),
        # The same two with the analytics engine off, where the setting exists.
        "B5_off": lambda: scrape_bench.scrape_times(logs, p["b5_symbols"], p["b5_scrapes"], ANALYTICS_OFF),
        "B6_off": lambda: scrape_bench.memory(logs, 1000, p["b6_events"], ANALYTICS_OFF),
        "B7": lambda: pushgateway_bench.run(logs, p["b7_events"], n),
        "B8": lambda: prometheus_bench.run(logs, p["b8_trials"]),
        # The timings functional tests no longer assert (issue 16 item 6).
        "B9": lambda: timing_bench.hop_truth(logs, p["b9_samples"]),
        "B10": lambda: timing_bench.down_notice(logs, p["b10_trials"]),
        "B11": lambda: timing_bench.stalled_stream(logs, p["b11_events"], n),
        "B12": lambda: stream_bench.run(logs, p["b12_trials"], p["b12_seconds"]),
    }


def counts_exact(results: dict[str, Any]) -> list[str]:
    """Names of the benchmarks whose count checks failed."""
    bad: list[str] = [k for k in ("B1", "analytics", "B2", "B6", "B8") if k in results and not results[k]["exact"]]
    bad += [k for k in ("B6_off", "B11") if k in results and not results[k]["exact"]]
    bad += ["B12 caps"] if "B12" in results and not results["B12"]["flood"]["caps_held"] else []
    bad += [f"{k} {row['symbols']}" for k in ("B5", "B5_off") for row in results.get(k, []) if not row["exact"]]
    bad += [f"B7 {k}" for k in ("push_to_gateway", "keep_alive") if "B7" in results and not results["B7"][k]["exact"]]
    for name, rows in results.get("scaling", {}).items():
        bad += [f"scaling {name} {row['symbols']}" for row in rows if not row["exact"]]
    return bad


def update_docs(table: str) -> None:
    text = DOC.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat: the CI smoke run")
    parser.add_argument("--only", default="", help=f"comma separated subset of {','.join(ALL)}")
    parser.add_argument("--out", type=Path, help="results directory (full: docs/benchmarks; quick: a temp dir)")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--update-docs", action="store_true", help="rewrite the table in docs/benchmarks.md")
    parser.add_argument("--b4-rates", default="", help="comma separated B4 rates (trades/s), instead of the profile's")
    parser.add_argument("--repeats", type=int, help="repeats per measure, instead of the profile's")
    args = parser.parse_args(argv)

    profile = "quick" if args.quick else "full"
    out: Path = args.out or (Path(tempfile.mkdtemp(prefix="bench-quick-")) if args.quick
                             else REPO / "docs" / "benchmarks")
    out.mkdir(parents=True, exist_ok=True)
    selected = [s.strip() for s in args.only.split(",") if s.strip()] or list(ALL)
    if not analytics_setting():
        selected = [s for s in selected if not s.endswith("_off")]
    unknown = set(selected) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    command = "bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results: dict[str, Any] = {"meta": {
        "profile": profile, "command": command.strip(), "machine": machine(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_before": os.getloadavg(), "analytics_setting": analytics_setting(), "seconds": {}}}
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as logs:
        params = dict(PROFILES[profile])
        if args.b4_rates:
            params["b4_rates"] = [float(x) for x in args.b4_rates.split(",")]
        if args.repeats:
            params["repeats"] = args.repeats
        for name, run in benchmarks(params, Path(logs)).items():
            if name not in selected:
                continue
            started = time.monotonic()
            print(f"== {name} ...", flush=True)
            results[name] = run()
            results["meta"]["seconds"][name] = round(time.monotonic() - started, 1)
            for row in report.verdicts(results):
                if row["id"] == name:
                    print("   " + report.plain_table([row]), flush=True)
            for line in report.extra_lines(results, name):
                print("   " + line, flush=True)
    results["meta"]["load_after"] = os.getloadavg()
    (out / "results.json").write_text(json.dumps(results, indent=1))
    rows = report.verdicts(results)
    print("\n" + report.plain_table(rows))
    if not args.no_plots:
        for path in report.plots(results, out):
            print(f"wrote {path}")
    if args.update_docs:
        update_docs(report.markdown_table(rows) + "\n\n" + report.markdown_extras(results))
        print(f"updated {DOC}")
    print(f"results: {out / 'results.json'}")
    bad = counts_exact(results)
    if bad:
        print(f"COUNT CHECK FAILED: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
