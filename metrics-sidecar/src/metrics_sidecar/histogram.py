"""The hop-latency histograms, kept by the compiled core (``core/src/hops.rs``):
for every hop of every message type, the classic buckets, sum and count, the
native (schema 3) buckets, the exact-quantile sample ring, the per-bucket
exemplar and the two-slot peak; the negative-sample counts; and
``trade_latency_seconds``. One core call per applied event does all of it
(``observe_event``), and the core writes these families of the text exposition.

This module names things for the Python side: the bucket defaults, the hop and
type names (the core's order), which hops cross clocks, and ``HopLatency``, the
read API by name that the exposition, the snapshot and the tests use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._core import HOP_NAMES, KIND_NAMES, NATIVE_SCHEMA, NATIVE_ZERO_THRESHOLD, HopHistograms

__all__ = ["DEFAULT_BUCKETS", "HOPS", "HOP_CLOCKS", "MESSAGE_TYPES", "NATIVE_SCHEMA", "NATIVE_ZERO_THRESHOLD",
           "PEAK_SLOT_SECONDS", "HistogramCounts", "HopLatency"]

# 50 us ... 5 s in a 1-2-5 progression: fine enough that histogram_quantile()
# interpolation error stays within one step at every scale a hop can live at.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.00005, 0.0001, 0.0002, 0.0005,
    0.001, 0.002, 0.005,
    0.01, 0.02, 0.05,
    0.1, 0.2, 0.5,
    1.0, 2.0, 5.0,
)

MESSAGE_TYPES: tuple[str, ...] = tuple(KIND_NAMES)  # ("trade", "tick", "heartbeat")
HOPS: tuple[str, ...] = tuple(HOP_NAMES)  # ("event_to_send", "send_to_receive", "receive_to_apply", "event_to_apply")
KIND_INDEX: dict[str, int] = {kind: i for i, kind in enumerate(MESSAGE_TYPES)}
HOP_INDEX: dict[str, int] = {hop: i for i, hop in enumerate(HOPS)}
# Whether a hop's two timestamps come from one clock or two (docs/metrics.md "Clock skew"):
# ts and sent_ts are both the producer's (but a tick's ts is its feed's, the exchange's
# clock); recv and apply both the sidecar's.
_CROSS_HOPS = ("send_to_receive", "event_to_apply")
HOP_CLOCKS: dict[tuple[str, str], str] = {
    (hop, kind): "cross" if hop in _CROSS_HOPS or (hop, kind) == ("event_to_send", "tick") else "same"
    for hop in HOPS for kind in MESSAGE_TYPES}
PEAK_SLOT_SECONDS = 15.0  # hop_latency_max_seconds: max over the last 15-30 s (two slots; the core's)


@dataclass(frozen=True, slots=True)
class HistogramCounts:
    """A copy of one classic histogram: per-bucket counts (last: +Inf, not cumulative)."""

    counts: list[int]
    sum: float
    count: int


class HopLatency:
    """The core's hop histograms, read by name. ``observe_event`` and ``would_overflow``
    are the core's own methods (the per-event path pays no Python wrapper)."""

    __slots__ = ("bounds", "core", "observe_event", "would_overflow")

    def __init__(self, bounds: tuple[float, ...], ring_size: int, hop_max: float) -> None:
        self.bounds = bounds
        self.core = HopHistograms(bounds=list(bounds), ring_size=ring_size, hop_max=hop_max,
                                  clocks=[HOP_CLOCKS[hop, kind] for kind in MESSAGE_TYPES for hop in HOPS])
        self.observe_event = self.core.observe_event
        self.would_overflow = self.core.would_overflow

    def histogram(self, hop: str, kind: str) -> HistogramCounts:
        return HistogramCounts(*self.core.histogram(HOP_INDEX[hop], KIND_INDEX[kind]))

    def trade_latency(self) -> HistogramCounts:
        return HistogramCounts(*self.core.trade_latency())

    def window_max(self, hop: str, kind: str) -> float | None:
        """The largest sample of the last 15-30 s (as of the last event or ``roll_peaks``), or None."""
        return self.core.window_max(HOP_INDEX[hop], KIND_INDEX[kind])

    def roll_peaks(self, now: float) -> None:
        self.core.roll_peaks(now)

    def negative(self, kind: str) -> list[int]:
        """Per hop (HOPS order), the samples of ``kind`` that came out negative."""
        return list(self.core.negative(KIND_INDEX[kind]))

    def native(self, hop: str, kind: str) -> tuple[int, dict[int, int]]:
        """(zero-bucket count, {native bucket index: count})."""
        return self.core.native(HOP_INDEX[hop], KIND_INDEX[kind])

    def samples(self, hop: str, kind: str) -> npt.NDArray[np.float64]:
        """The recent samples of one hop, oldest first (a read-only array over the core's copy)."""
        return np.frombuffer(self.core.samples(HOP_INDEX[hop], KIND_INDEX[kind]), dtype="<f8")
