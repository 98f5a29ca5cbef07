"""The benchmark suite's CI smoke run: ``bench/run.py --quick`` end to end (real
sidecar, API, Pushgateway and Prometheus processes), checking that every
benchmark produced sane, exactly counted output. No speed assertions: speed
targets live in docs/benchmarks.md, measured by the full run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from telemetry_testkit.procs import REPO, require_binary

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

BENCHMARKS = ("B1", "analytics", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10", "B11", "scaling", "breakdown")


def test_quick_suite_runs_and_reports_every_benchmark(tmp_path: Path) -> None:
    require_binary("prometheus")
    require_binary("prometheus-pushgateway")
    run = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=360, cwd=REPO)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for bench_id in ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8"):
        assert f"\n{bench_id} " in run.stdout, bench_id  # the summary table has a row for each
    r = json.loads((tmp_path / "results.json").read_text())
    assert set(BENCHMARKS) <= set(r) and r["meta"]["profile"] == "quick"

    for key, events, frames in (("B1", 20_000, 20_000), ("B2", 20_000, 200)):
        b = r[key]
        assert b["exact"] is True
        assert b["counts"] == {"sent": events, "received": events, "applied": events, "lost": 0, "invalid": 0,
                               "duplicate": 0, "frames": frames, "batches": b["counts"]["batches"]}
        assert b["bare"]["median"] > 0 and b["sidecar"]["median"] > 0
        assert b["ratio"] == pytest.approx(b["sidecar"]["median"] / b["bare"]["median"])

    a = r["analytics"]
    assert a["exact"] is True and a["on"]["median"] > 0 and a["off"]["median"] > 0
    assert a["loss"] == pytest.approx(1 - a["on"]["median"] / a["off"]["median"])

    b3 = r["B3"]
    for case in ("up", "down"):
        for call in ("publish", "publish_plain", "trade", "bare_send", "spin_control"):
            assert 0 < b3[case][call]["p50"] <= b3[case][call]["p99"]
            assert [run[call]["p50"] for run in b3[case]["runs"]] != []
        assert len(b3[case]["tail_causes"]) == len(b3[case]["steal_share"]) == len(b3[case]["runs"]) == b3["repeats"]
        for repeat in b3[case]["tail_causes"]:
            assert set(repeat) == {"publish", "bare_send", "spin_control"}
            for tail in repeat.values():  # every slow call is put under exactly one cause
                assert tail["calls"] == b3["n"] and sum(tail["causes"].values()) == tail["slow"]
        assert len(b3[case]["samples"]) == 1001
    assert b3["up"]["queued"] == 3 * b3["n"]  # publish() (two kinds of dict) and trade(): all queued
    assert b3["down"]["queued"] == 0

    for row in r["B4"]:
        assert row["published"] == row["queued"] == row["applied"] == int(row["rate"] * 0.5)
        q = row["quantiles_s"]["event_to_apply"]
        assert 0 < q["0.5"] <= q["0.95"] <= q["0.99"]
        fractions = [f for _, f in row["cdf"]]
        assert fractions == sorted(fractions) and fractions[-1] <= 1.0

    for row in r["B5"]:
        assert row["exact"] is True and row["series"] > 10 * row["symbols"]
        assert row["sidecar_http_ms"]["median"] > 0 and row["prometheus_client_ms"]["median"] > 0
    assert r["B6"]["exact"] is True and 10 < r["B6"]["idle_mb"] < r["B6"]["loaded_mb"]
    if r["meta"]["analytics_setting"]:  # the same two with SIDECAR_ANALYTICS=false
        assert all(row["exact"] for row in r["B5_off"]) and r["B6_off"]["exact"] is True
        assert r["B5_off"][0]["series"] < r["B5"][0]["series"]
    assert r["B7"]["push_to_gateway"]["exact"] is True and r["B7"]["keep_alive"]["exact"] is True
    b8 = r["B8"]
    assert b8["exact"] is True and len(b8["latencies_s"]) == b8["trials"] == 2
    assert all(s > 0 for s in b8["latencies_s"])  # how soon is B8's number: its own poll has the deadline
    for rows in r["scaling"].values():
        assert all(row["exact"] and row["us_per_event"] > 0 for row in rows)
    assert all(us > 0 for us in r["breakdown"]["us_per_event"].values())
    for png in ("throughput.png", "latency_cdf.png", "publish_cdf.png"):
        assert (tmp_path / png).stat().st_size > 10_000, png


def test_timing_benchmarks_run_and_report(tmp_path: Path) -> None:
    """B9-B11 (bench/timing_bench.py, the timings functional tests no longer assert) alone,
    quick sizes: every row printed and every count exact. Their numbers are not asserted."""
    run = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--only", "B9,B10,B11",
                          "--no-plots", "--out", str(tmp_path)], capture_output=True, text=True, timeout=180, cwd=REPO)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for bench_id in ("B9", "B10", "B11"):
        assert f"\n{bench_id} " in run.stdout, bench_id
    r = json.loads((tmp_path / "results.json").read_text())
    b9 = r["B9"]
    assert b9["samples"] == 20 and b9["injected_s"] == 0.05
    assert b9["within_truth"] is True  # the sidecar's event_to_send mean lies inside the wall-clock bracket
    lo, hi = b9["truth_mean_s"]
    assert 0.05 <= lo <= b9["event_to_send_mean_s"] + 1e-6 and b9["event_to_send_mean_s"] <= hi + 1e-6
    assert b9["send_to_receive_median_s"] > 0 and b9["bare_one_way_median_s"] > 0
    b10 = r["B10"]
    assert b10["trials"] == len(b10["notice_s"]["runs"]) == len(b10["exit_s"]["runs"]) == 2
    assert all(s > 0 for s in b10["notice_s"]["runs"] + b10["exit_s"]["runs"])
    b11 = r["B11"]
    assert b11["exact"] is True and b11["events"] == 10_000
    assert len(b11["baseline_s"]["runs"]) == len(b11["stalled_s"]["runs"]) == 1
    assert b11["ratio"] == pytest.approx(b11["stalled_s"]["median"] / b11["baseline_s"]["median"])


def test_stream_benchmark_runs_and_reports(tmp_path: Path) -> None:
    """B12 (bench/stream_bench.py: tick -> /stream client, writes a flooded client gets)
    alone, quick sizes: its rows printed, every tick read, the rate caps held. Its
    numbers are not asserted."""
    run = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--only", "B12",
                          "--no-plots", "--out", str(tmp_path)], capture_output=True, text=True, timeout=180, cwd=REPO)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.count("\nB12 ") == 2  # both rows in the summary table
    b12 = json.loads((tmp_path / "results.json").read_text())["B12"]
    assert b12["trials"] == len(b12["latency_s"]["runs"]) == 10
    assert all(s > 0 for s in b12["latency_s"]["runs"]) and b12["interval_s"] == 0.05
    flood = b12["flood"]
    assert flood["caps_held"] is True and flood["ticks_sent"] > 0
    assert set(flood["writes"]) == set(flood["per_s"]) == {"slow", "default", "greedy"}
    assert flood["per_s"] == pytest.approx({k: n / flood["seconds"] for k, n in flood["writes"].items()})
