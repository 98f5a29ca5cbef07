"""Producer clock offset against the sidecar's clock, from one direction only.

Each message that carries ``sent_ts`` gives ``d = recv_ts - sent_ts``: the
one-way transport delay *minus* the producer's clock offset (producer clock −
sidecar clock). The smallest ``d`` over a sliding window is the message that
waited least; its transport delay ``t_min`` is the floor of the path (tens of
µs on one host). So

    estimate = -min(d) = offset - t_min,   offset in [estimate, estimate + t_min]

The estimate is a lower bound on the true offset; its error is the fastest
transport delay in the window. From one direction a constant transport delay
cannot be told apart from an offset (docs/metrics.md "Clock skew").

The window is ``SLOTS`` slots of ``SLOT_SECONDS`` (sidecar receive time): the
minimum of each slot is kept, so a producer costs ``SLOTS`` floats and a
message one compare. The window covers the last 50-60 s.
"""

from __future__ import annotations

from collections import deque

SLOT_SECONDS = 10.0
SLOTS = 6


class ClockOffsets:
    """Per producer label (bounded by the producer tracker's cap): sliding-window
    minimum of ``recv_ts - sent_ts``."""

    __slots__ = ("max_producers", "windows")

    def __init__(self, max_producers: int) -> None:
        self.max_producers = max_producers
        # label -> deque of [slot index, minimum delay in that slot], oldest first
        self.windows: dict[str, deque[list[float]]] = {}

    def observe(self, producer: str, sent: float, recv: float) -> None:
        delay = recv - sent
        slot = recv // SLOT_SECONDS
        window = self.windows.get(producer)
        if window is None:
            if len(self.windows) > self.max_producers:  # labels are capped upstream; this is a backstop
                return
            window = self.windows[producer] = deque(maxlen=SLOTS)
        if window and window[-1][0] == slot:
            last = window[-1]
            if delay < last[1]:
                last[1] = delay
        elif not window or slot > window[-1][0]:
            window.append([slot, delay])
        else:  # a receive time behind the newest slot (a journal replay, a clock step): fold it in
            last = window[-1]
            if delay < last[1]:
                last[1] = delay

    def estimates(self, now: float) -> dict[str, float]:
        """producer -> estimated offset (seconds, producer clock ahead > 0), over the
        slots still inside the window at ``now``. A producer with none is left out."""
        oldest = now // SLOT_SECONDS - (SLOTS - 1)
        out: dict[str, float] = {}
        for producer, window in self.windows.items():
            minima = [delay for slot, delay in window if slot >= oldest]
            if minima:
                out[producer] = -min(minima)
        return out
