"""Clock skew shown, not hidden: negative hop samples counted, producer offsets estimated,
and the recent maximum of each hop (exact numbers, a fixed clock)."""

from __future__ import annotations

import json
import time

from metrics_sidecar.clock_offset import SLOT_SECONDS, SLOTS, ClockOffsets
from metrics_sidecar.decode import decode
from metrics_sidecar.exposition import render
from metrics_sidecar.state import HOP_CLOCKS, PEAK_SLOT_SECONDS, TelemetryState

T0 = 1_700_000_000.0  # a slot boundary for both windows (divisible by 10 and 15)
# Offsets and delays below are binary fractions (2**-k): every difference is exact.
SKEW = 2.0**-4  # 62.5 ms


def apply_at(state: TelemetryState, frame: dict[str, object], recv: float, applied: float) -> None:
    event = decode(json.dumps(frame).encode())
    assert not isinstance(event, str), event
    event.recv_ts = recv
    state.clock = lambda: applied
    assert state.apply(event) is None


def test_negative_samples_are_counted_per_hop_and_observed_as_zero(state: TelemetryState) -> None:
    # Producer clock 0.05 s ahead: sent_ts after receive. ts after sent_ts: event_to_send < 0 too.
    apply_at(state, {"type": "trade", "side": "buy", "qty": 1, "ts": T0 + 2 * SKEW, "sent_ts": T0 + SKEW,
                     "producer": "p", "seq": 1}, recv=T0 + 2.0**-10, applied=T0 + 2.0**-9)
    apply_at(state, {"type": "trade", "side": "buy", "qty": 1, "ts": T0, "sent_ts": T0 + 2.0**-11,
                     "producer": "p", "seq": 2}, recv=T0 + 2.0**-10, applied=T0 + 2.0**-9)
    assert state.latency.negative("trade") == [1, 1, 0, 1]
    assert state.latency.negative("tick") == [0, 0, 0, 0]
    send_to_receive = state.latency.histogram("send_to_receive", "trade")
    assert send_to_receive.count == 2
    assert send_to_receive.counts[0] == 1  # the negative sample, as 0: the lowest bucket
    assert send_to_receive.counts[3] == 1  # 2**-11 s (0.488 ms): le="0.0005"
    assert send_to_receive.sum == 2.0**-11
    assert state.latency.window_max("send_to_receive", "trade") == 2.0**-11


def test_offset_is_minus_the_smallest_receive_minus_send_in_the_window() -> None:
    offsets = ClockOffsets(10)
    offsets.observe("p", sent=T0 + SKEW, recv=T0 + 2.0**-10)
    offsets.observe("p", sent=T0 + 1 + SKEW, recv=T0 + 1 + 2.0**-12)  # the fastest: the floor
    offsets.observe("p", sent=T0 + 2 + SKEW, recv=T0 + 2 + 2.0**-6)  # queued
    offsets.observe("q", sent=T0 + 3, recv=T0 + 3 + 2.0**-9)
    assert offsets.estimates(T0 + 5) == {"p": SKEW - 2.0**-12, "q": -(2.0**-9)}
    # The floor slides out of the window after SLOTS slots; a later sample takes over.
    later = T0 + SLOT_SECONDS * SLOTS
    offsets.observe("p", sent=later + 2.0**-7, recv=later)
    assert offsets.estimates(later) == {"p": 2.0**-7}
    assert offsets.estimates(later + SLOT_SECONDS * SLOTS) == {}


def test_exposition_shows_negatives_offsets_max_and_clock_labels(state: TelemetryState) -> None:
    now = float(int(time.time()))  # render() reads the real clock: the windows must hold this sample
    apply_at(state, {"type": "heartbeat", "ts": now + SKEW, "sent_ts": now + SKEW, "producer": "p", "seq": 1},
             recv=now + 2.0**-10, applied=now + 2.0**-9)
    text = render(state).decode()
    lines = set(text.splitlines())
    assert 'hop_latency_negative_total{clock="cross",hop="send_to_receive",type="heartbeat"} 1.0' in lines
    assert 'hop_latency_negative_total{clock="cross",hop="event_to_apply",type="heartbeat"} 1.0' in lines
    assert 'hop_latency_negative_total{clock="same",hop="receive_to_apply",type="heartbeat"} 0.0' in lines
    assert f'producer_clock_offset_seconds{{producer="p"}} {SKEW - 2.0**-10!r}' in lines
    assert f'hop_latency_max_seconds{{clock="same",hop="receive_to_apply",type="heartbeat"}} {2.0**-10!r}' in lines
    assert 'hop_latency_clock_info{clock="cross",hop="event_to_send",type="tick"} 1.0' in lines
    assert 'hop_latency_clock_info{clock="same",hop="event_to_send",type="trade"} 1.0' in lines
    assert HOP_CLOCKS["receive_to_apply", "tick"] == "same"


def test_max_covers_the_current_and_previous_slot_only(state: TelemetryState) -> None:
    def hb(seq: int, recv: float, applied: float) -> None:
        apply_at(state, {"type": "heartbeat", "ts": recv, "producer": "m", "seq": seq}, recv=recv, applied=applied)

    def receive_to_apply_max() -> float | None:
        return state.latency.window_max("receive_to_apply", "heartbeat")

    hb(1, T0, T0 + 0.25)
    hb(2, T0 + 1, T0 + 1 + 2.0**-7)
    assert receive_to_apply_max() == 0.25
    hb(3, T0 + PEAK_SLOT_SECONDS, T0 + PEAK_SLOT_SECONDS + 2.0**-6)  # next slot: the previous one still counts
    assert receive_to_apply_max() == 0.25
    state.roll_peaks(T0 + 2 * PEAK_SLOT_SECONDS)  # two slots on: the 0.25 s sample is out
    assert receive_to_apply_max() == 2.0**-6
    state.roll_peaks(T0 + 4 * PEAK_SLOT_SECONDS)
    assert receive_to_apply_max() is None
