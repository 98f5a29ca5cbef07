from __future__ import annotations

import numpy as np
import pytest

from metrics_sidecar.histogram import Histogram, SampleRing, percentile


def test_le_semantics_and_cumulative_counts() -> None:
    h = Histogram((0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 1.0, 7.0):
        h.observe(v)
    assert h.cumulative() == [("0.1", 2), ("1.0", 4), ("+Inf", 5)]
    assert (h.count, h.sum) == (5, pytest.approx(8.65))


def test_ring_keeps_the_last_samples_in_order() -> None:
    ring = SampleRing(4)
    for v in range(6):
        ring.add(float(v))
    assert ring.snapshot() == [2.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize("q", [0.0, 0.5, 0.95, 0.99, 1.0])
def test_percentile_matches_numpy(q: float) -> None:
    values = sorted(np.random.default_rng(7).exponential(size=501).tolist())
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q * 100)))
