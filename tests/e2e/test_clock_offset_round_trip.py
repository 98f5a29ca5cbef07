"""Round-trip clock offsets on the reliable channel, with real processes: a
reliable producer and a fire-and-forget producer, both with a wall clock 50 ms
ahead (tests/e2e/skewed_producer_child.py), heartbeating into one real sidecar.

The reliable producer answers the sidecar's clock probes, so its
``producer_clock_offset_seconds`` comes from round trips (``method="round_trip"``)
and the true +50 ms must lie within the exported error bound (half the round
trip): NTP's bound holds whatever the split of the round trip between the two
directions, so this is exact, however loaded the machine (plus 1e-6 s for the
float rounding of epoch seconds). The fire-and-forget producer keeps the
one-way estimate (``method="one_way"``, no bound): 50 ms minus its fastest
transport delay, so above 0 and at most 50 ms.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from telemetry_testkit.procs import wait_until
from telemetry_testkit.reliable import RestartableSidecar

CHILD = Path(__file__).with_name("skewed_producer_child.py")
SHIFT = 0.050
FLOAT_SLACK = 1e-6  # epoch seconds near 1.8e9 are floats with a 2.4e-7 s step


@contextmanager
def skewed_producer(*args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, str(CHILD), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "CLOCK_SHIFT_SECONDS": str(SHIFT)})
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "started\n"
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # the child closes its publisher and exits
        try:
            proc.wait(20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_a_reliable_producer_50ms_ahead_is_measured_by_round_trips_within_the_bound(tmp_path: Path) -> None:
    sidecar = RestartableSidecar(tmp_path / "sidecar")
    sidecar.start()
    try:
        with skewed_producer("reliable", sidecar.reliable, "rel-ahead", str(tmp_path / "outbox.db")), \
                skewed_producer("push", sidecar.zmq, "ff-ahead"):
            rel = 'producer_clock_offset_info{method="round_trip",producer="rel-ahead"}'
            ff = 'producer_clock_offset_info{method="one_way",producer="ff-ahead"}'

            def both() -> dict[str, float] | None:
                m = sidecar.metrics()
                return m if m.get(rel) == 1 and m.get(ff) == 1 else None

            metrics = wait_until(both, 30, 0.2, message="both producers' offset estimates")
    finally:
        sidecar.stop()
    methods = {name: value for name, value in metrics.items() if name.startswith("producer_clock_offset_info")}
    assert methods == {rel: 1, ff: 1}
    bound = metrics['producer_clock_offset_error_seconds{producer="rel-ahead"}']
    offset = metrics['producer_clock_offset_seconds{producer="rel-ahead"}']
    assert bound >= 0
    assert abs(offset - SHIFT) <= bound + FLOAT_SLACK, (offset, bound)
    assert [n for n in metrics if n.startswith("producer_clock_offset_error_seconds")] == [
        'producer_clock_offset_error_seconds{producer="rel-ahead"}']  # one way has no measurable bound
    one_way = metrics['producer_clock_offset_seconds{producer="ff-ahead"}']
    assert 0 < one_way <= SHIFT + FLOAT_SLACK  # 50 ms minus the fastest transport delay in the window
