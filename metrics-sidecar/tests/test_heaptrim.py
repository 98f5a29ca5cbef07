"""The idle-time heap trim: only after a busy spell, at most once per interval,
and really calling glibc's malloc_trim on this (Debian, glibc) machine."""

from __future__ import annotations

from metrics_sidecar.heaptrim import HeapTrimmer


def test_trims_only_after_busy_and_at_most_once_per_interval() -> None:
    trimmer = HeapTrimmer(interval=3600.0)
    assert trimmer._trim is not None  # glibc: the real malloc_trim
    trimmer.idle()
    assert trimmer.trims == 0  # nothing received: nothing to give back
    trimmer.busy = True
    trimmer.idle()
    assert (trimmer.trims, trimmer.busy) == (1, False)
    trimmer.busy = True
    trimmer.idle()
    assert (trimmer.trims, trimmer.busy) == (1, True)  # within the interval: wait


def test_zero_interval_trims_after_every_busy_spell() -> None:
    trimmer = HeapTrimmer(interval=0.0)
    for expected in (1, 2, 3):
        trimmer.busy = True
        trimmer.idle()
        trimmer.idle()
        assert trimmer.trims == expected
