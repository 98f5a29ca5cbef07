"""The round-trip clock probe's sidecar side (clock_probe.py, clock_offset.py), exact
numbers with binary-fraction times: the NTP offset and bound, the smallest round
trip in the window winning, the method and bound in the exposition, and replies
that are malformed (counted as bad_field), impossible (counted) or not for the
outstanding probe (ignored). The exchange between real processes is
tests/e2e/test_clock_offset_round_trip.py."""

from __future__ import annotations

import json
import time

import msgspec
import zmq

from metrics_sidecar.clock_offset import SLOT_SECONDS, SLOTS, ClockOffsets
from metrics_sidecar.clock_probe import PROBE, ClockProbes
from metrics_sidecar.exposition import render
from metrics_sidecar.state import TelemetryState

T0 = 1_700_000_000.0
AHEAD = 2.0**-4  # the producer's clock, 62.5 ms ahead


def test_offset_is_the_ntp_midpoint_and_the_smallest_round_trip_in_the_window_wins() -> None:
    offsets = ClockOffsets(10)
    # t1 sidecar; out 2**-8 s, back 2**-6 s (asymmetric); producer 2**-10 s between t2 and t3.
    t1, out, back, hold = T0, 2.0**-8, 2.0**-6, 2.0**-10
    t2 = t1 + out + AHEAD
    t3 = t2 + hold
    t4 = t3 - AHEAD + back
    offsets.observe_round_trip("p", ((t2 - t1) + (t3 - t4)) / 2, (t4 - t1) - (t3 - t2), t4)
    offsets.observe("p", sent=T0 + AHEAD, recv=T0 + 2.0**-9)  # one way too: the round trip wins
    offset, method, bound = offsets.details(t4)["p"]
    assert (method, bound) == ("round_trip", (out + back) / 2)
    assert offset == AHEAD + (out - back) / 2  # the asymmetry shifts it by half, inside the bound
    assert bound is not None and abs(offset - AHEAD) <= bound
    offsets.observe_round_trip("p", AHEAD, 2.0**-12, T0 + 1)  # a faster exchange later: tighter
    assert offsets.details(T0 + 1)["p"] == (AHEAD, "round_trip", 2.0**-13)
    assert offsets.estimates(T0 + 1) == {"p": AHEAD}
    # Out of the window: back to the one-way estimate, then nothing.
    later = T0 + SLOT_SECONDS * SLOTS
    offsets.observe("p", sent=later + AHEAD, recv=later + 2.0**-9)
    assert offsets.details(later) == {"p": (AHEAD - 2.0**-9, "one_way", None)}


def _probes(state: TelemetryState) -> tuple[ClockProbes, zmq.Socket, zmq.Socket]:
    """A ClockProbes with a real ROUTER/DEALER pair; the DEALER is the publisher."""
    context: zmq.Context = zmq.Context.instance()
    router, dealer = context.socket(zmq.ROUTER), context.socket(zmq.DEALER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    dealer.connect(f"tcp://127.0.0.1:{port}")
    for sock in (router, dealer):
        sock.setsockopt(zmq.RCVTIMEO, 10_000)  # a failure, not a hang
    return ClockProbes(state, 10.0), router, dealer


def test_replies_are_checked_before_they_count(state: TelemetryState) -> None:
    probes, router, dealer = _probes(state)
    try:
        state.producers.label_for("p")  # the apply path made the label
        dealer.send_multipart([b"hb1", json.dumps({"type": "heartbeat", "producer": "p"}).encode()])
        ident, _, payload = router.recv_multipart()
        now = time.time()  # probes are stamped with the real clock
        probes.heard_heartbeat(ident, payload, now)
        probes.send_due(router, now)  # no probe: it has not said it answers them
        dealer.send(PROBE)
        probes.frame(ident, router.recv_multipart()[1:][1:], now)  # the bare hello: no body
        probes.send_due(router, now + 1)
        kind, body = dealer.recv_multipart()
        assert kind == PROBE and set(json.loads(body)) == {"t1"}
        t1 = float(json.loads(body)["t1"])
        with state.lock:
            assert probes.probes_sent == 1
            probes.reply(ident, [b"not json"], t1 + 1)
            probes.reply(ident, [msgspec.json.encode({"t1": t1 + 1, "t2": t1, "t3": t1})], t1 + 1)  # not ours
            assert state.clock_offsets.details(t1) == {}
            probes.reply(ident, [msgspec.json.encode({"t1": t1, "t2": t1 + 5, "t3": t1 + 1})], t1 + 1)  # t3 < t2
            assert state.invalid["bad_field"] == 2
            probes.send_due(router, now + 2)  # a new probe; the impossible reply consumed the last one
        t1 = float(json.loads(dealer.recv_multipart()[1])["t1"])
        with state.lock:
            probes.reply(ident, [msgspec.json.encode({"t1": t1, "t2": t1 + AHEAD, "t3": t1 + AHEAD})], t1)
        assert state.clock_offsets.details(t1)["p"] == (AHEAD, "round_trip", 0.0)
        text = render(state).decode()
        assert [line for line in text.splitlines() if line.startswith("producer_clock_offset")] == [
            'producer_clock_offset_seconds{producer="p"} 0.0625',
            'producer_clock_offset_info{method="round_trip",producer="p"} 1.0',
            'producer_clock_offset_error_seconds{producer="p"} 0.0']
    finally:
        router.close(0)
        dealer.close(0)
