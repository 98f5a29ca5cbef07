"""``bench/ingest_bench.py``'s mix (issue 13: trades and ticks alternating, analytics
on against off) through the product's ingest path, small: every event applied in
every run, both variants measured the same number of times, the verdict computed
from the medians. No speed is asserted."""

from __future__ import annotations

import sys

import pytest
import zmq

from telemetry_testkit.procs import REPO

sys.path.insert(0, str(REPO / "bench"))

import ingest_bench


def test_mix_runs_both_variants_and_applies_every_event() -> None:
    result = ingest_bench.mix(600, 2, symbols=7)
    assert (result["events"], result["symbols"], result["exact"]) == (600, 7, True)
    for key in ("off_us", "on_us", "off_cpu_us", "on_cpu_us"):
        assert len(result[key]["runs"]) == 2 and result[key]["median"] > 0
    assert result["slower"] == pytest.approx(result["on_us"]["median"] / result["off_us"]["median"] - 1)
    assert result["slower_cpu"] == pytest.approx(result["on_cpu_us"]["median"] / result["off_cpu_us"]["median"] - 1)


@pytest.mark.parametrize("analytics", [False, True])
def test_drain_frames_applies_the_stream_and_feeds_the_analytics(analytics: bool) -> None:
    frames = ingest_bench.mix_frames(400, 5, end=1_765_000_000.0, instance="t")
    assert frames == ingest_bench.mix_frames(400, 5, end=1_765_000_000.0, instance="t")  # same bytes
    context = zmq.Context()
    try:
        state, wall, cpu = ingest_bench.drain_frames(ingest_bench.mix_settings(analytics, 5), frames, context)
    finally:
        context.term()
    assert dict(state.received) == {"trade": 200, "tick": 200, "heartbeat": 0}
    assert wall > 0 and cpu >= 0
    if analytics:
        assert state.analytics is not None and state.analytics.core.symbols() == [f"SYM{i:05d}" for i in range(5)]
    else:
        assert state.analytics is None
