"""Producer clock offset against the sidecar's clock: from one direction for
every producer, from round trips for a producer on the reliable channel.

**One way.** Each message that carries ``sent_ts`` gives ``d = recv_ts - sent_ts``:
the one-way transport delay *minus* the producer's clock offset (producer clock −
sidecar clock). The smallest ``d`` over a sliding window is the message that
waited least; its transport delay ``t_min`` is the floor of the path (tens of
µs on one host). So

    estimate = -min(d) = offset - t_min,   offset in [estimate, estimate + t_min]

a lower bound whose error (``t_min``) cannot be measured from one direction: a
constant transport delay cannot be told apart from an offset.

**Round trip** (NTP's on-wire exchange, ``clock_probe.py``): the sidecar sends a
probe at ``t1`` (its clock), the producer stamps its receipt ``t2`` and its reply
``t3`` (its clock), the sidecar receives the reply at ``t4``. Then

    offset = ((t2 - t1) + (t3 - t4)) / 2,   round trip = (t4 - t1) - (t3 - t2)

and the true offset lies within ``± round trip / 2`` of it whatever the split of
the round trip between the two directions; it is exact when both directions
take equally long. Of the samples in the window the one with the smallest round
trip is used (the tightest bound, NTP's clock filter). What it still cannot tell
apart: an asymmetric path (one direction slower by ``a``) shifts the estimate by
``a / 2``, inside the bound.

A producer with a round-trip sample in the window is exported from it; every
other producer from one direction (docs/metrics.md "Clock skew").

The window is ``SLOTS`` slots of ``SLOT_SECONDS`` (sidecar time): per slot the
sample with the smallest key (``d``, or the round trip) is kept, so a producer
costs ``SLOTS`` entries and a sample one compare. It covers the last 50-60 s.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

SLOT_SECONDS = 10.0
SLOTS = 6

Method = Literal["one_way", "round_trip"]
# One window entry: [slot index, key (smaller is better), estimated offset].
_Entry = list[float]


def _keep_smallest(windows: dict[str, deque[_Entry]], cap: int, producer: str, now: float, key: float,
                   offset: float) -> None:
    slot = now // SLOT_SECONDS
    window = windows.get(producer)
    if window is None:
        if len(windows) > cap:  # labels are capped upstream; this is a backstop
            return
        window = windows[producer] = deque(maxlen=SLOTS)
    if window and slot <= window[-1][0]:  # this slot, or a time behind it (a replay, a clock step): fold in
        last = window[-1]
        if key < last[1]:
            last[1], last[2] = key, offset
    else:
        window.append([slot, key, offset])


def _best(window: deque[_Entry], oldest: float) -> _Entry | None:
    entries = [entry for entry in window if entry[0] >= oldest]
    return min(entries, key=lambda entry: entry[1]) if entries else None


class ClockOffsets:
    """Per producer label (bounded by the producer tracker's cap): sliding-window
    best one-way and round-trip samples."""

    __slots__ = ("max_producers", "round_trips", "windows")

    def __init__(self, max_producers: int) -> None:
        self.max_producers = max_producers
        self.windows: dict[str, deque[_Entry]] = {}  # one way: key recv - sent_ts
        self.round_trips: dict[str, deque[_Entry]] = {}  # key: the round trip

    def observe(self, producer: str, sent: float, recv: float) -> None:
        delay = recv - sent
        _keep_smallest(self.windows, self.max_producers, producer, recv, delay, -delay)

    def observe_round_trip(self, producer: str, offset: float, round_trip: float, now: float) -> None:
        """One probe exchange: ``offset`` and ``round_trip`` as in the module docstring."""
        _keep_smallest(self.round_trips, self.max_producers, producer, now, round_trip, offset)

    def details(self, now: float) -> dict[str, tuple[float, Method, float | None]]:
        """producer -> (offset estimate in seconds, producer clock ahead > 0; method;
        error bound: half the round trip, None for one way), over the slots still
        inside the window at ``now``. A producer with neither is left out."""
        oldest = now // SLOT_SECONDS - (SLOTS - 1)
        out: dict[str, tuple[float, Method, float | None]] = {}
        for producer, window in self.windows.items():
            best = _best(window, oldest)
            if best is not None:
                out[producer] = (best[2], "one_way", None)
        for producer, window in self.round_trips.items():
            best = _best(window, oldest)
            if best is not None:
                out[producer] = (best[2], "round_trip", best[1] / 2)
        return out

    def estimates(self, now: float) -> dict[str, float]:
        """producer -> estimated offset (``details`` without method and bound)."""
        return {producer: offset for producer, (offset, _, _) in self.details(now).items()}
