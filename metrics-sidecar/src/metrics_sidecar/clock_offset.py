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
The windows are kept by the compiled core (``core/src/state_clock.rs``): the
state's one apply call feeds the one-way samples; the probe loop feeds the round
trips through ``observe_round_trip``.
"""

from __future__ import annotations

from typing import Literal

from . import _core

SLOT_SECONDS: float = _core.CLOCK_SLOT_SECONDS
SLOTS: int = _core.CLOCK_SLOTS

Method = Literal["one_way", "round_trip"]


class ClockOffsets(_core.ClockWindows):
    """Per producer label (bounded by the producer tracker's cap): sliding-window
    best one-way and round-trip samples. ``observe(producer, sent, recv)`` and
    ``observe_round_trip(producer, offset, round_trip, now)`` are the core's."""

    def details(self, now: float) -> dict[str, tuple[float, Method, float | None]]:
        """producer -> (offset estimate in seconds, producer clock ahead > 0; method;
        error bound: half the round trip, None for one way), over the slots still
        inside the window at ``now``. A producer with neither is left out."""
        return {producer: (offset, "one_way", None) if round_trip is None else (offset, "round_trip", round_trip / 2)
                for producer, offset, round_trip in self.rows(now)}

    def estimates(self, now: float) -> dict[str, float]:
        """producer -> estimated offset (``details`` without method and bound)."""
        return {producer: offset for producer, offset, _ in self.rows(now)}
