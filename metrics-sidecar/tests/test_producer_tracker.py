"""The core's producer tracker (core/src/producers.rs) through its Python face:
the ``stats`` view, the cap, and a save/restore round trip."""

from __future__ import annotations

import pytest

from metrics_sidecar.producers import LOST_MAX, OVERFLOW_LABEL, RESTART_AHEAD, RESTART_BEHIND, ProducerTracker


def test_the_constants_are_the_cores() -> None:
    assert (OVERFLOW_LABEL, RESTART_BEHIND, RESTART_AHEAD, LOST_MAX) == ("__overflow__", 1000, 2**32, 2**63 - 1)


def test_the_stats_view_reads_the_core_and_caps_labels() -> None:
    tracker = ProducerTracker(2)
    assert tracker.observe("a", "i", 1, 10.0) == ("a", False)
    assert tracker.observe("a", "i", 4, 11.0) == ("a", False)
    assert tracker.observe("a", "i", 4, 12.0) == ("a", True)
    tracker.observe("b", None, None, 13.0)
    assert tracker.observe("c", "x", 1, 14.0) == (OVERFLOW_LABEL, False)
    assert tracker.label_for("d") == OVERFLOW_LABEL
    assert list(tracker.stats) == ["a", "b", OVERFLOW_LABEL] and tracker.overflowed == 2
    a = tracker.stats["a"]
    assert (a.lost, a.received, a.last_seen, a.instances_seen, a.restarts) == (2, 2, 12.0, 1, 0)
    assert "c" not in tracker.stats and "a" in tracker.stats and len(tracker.stats) == 3
    with pytest.raises(KeyError):
        tracker.stats["c"]


def test_a_restored_tracker_is_the_saved_one() -> None:
    tracker = ProducerTracker(4, max_instances=2)
    for instance, seq in (("a", 5), ("b", 5), ("c", 5), ("b", 9)):
        tracker.observe("p", instance, seq, 1.0)
    rows = [(name, tracker.counts(name)) for name in tracker.labels()]
    assert tracker.last_seqs() == [("p", "b", 9), ("p", "c", 5)]  # "a" forgotten; an update keeps its place
    restored = ProducerTracker(4, max_instances=2)
    restored.restore(rows, tracker.last_seqs(), 7)
    assert (restored.rows(), restored.last_seqs(), restored.overflowed) == (tracker.rows(), tracker.last_seqs(), 7)
    assert restored.stats == tracker.stats and restored.stats["p"].lost == 3
