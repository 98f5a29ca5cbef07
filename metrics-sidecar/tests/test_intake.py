"""The one ingest entry (intake.py) both socket loops hand their frames to: what a frame
holds is applied, every rejection is counted by reason, and the neighbours of a bad
message are processed."""

from __future__ import annotations

import json
import logging

from metrics_sidecar import reasons
from metrics_sidecar.decode import decode
from metrics_sidecar.intake import Intake
from metrics_sidecar.ratelimit import RateLimitedLogger
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState

NOW = 1_700_000_000.0
TRADE = {"type": "trade", "side": "buy", "qty": 2, "ts": NOW, "symbol": "ABC"}
TICK = {"type": "tick", "symbol": "ABC", "price": 10.0, "ts": NOW}


def intake_for(state: TelemetryState, limit: int = 4096) -> Intake:
    return Intake(state, limit, RateLimitedLogger(logging.getLogger("test_intake"), 100))


def test_a_frame_and_a_batch_frame_are_applied_with_their_receive_time(state: TelemetryState) -> None:
    intake = intake_for(state)
    assert intake.frame(json.dumps(TRADE).encode(), NOW + 0.5) == 1
    batch = json.dumps([TRADE, {"type": "trade"}, TICK]).encode()
    assert intake.frame(batch, NOW + 1.0) == 3  # a batch frame counts its elements
    assert state.trades["buy", "ABC"] == [2, 4.0]
    assert state.received["tick"] == 1
    assert state.invalid[reasons.MISSING_FIELD] == 1  # the bad element alone; its neighbours applied
    assert [e.recv_ts for e in state.recent_events] == [NOW + 0.5, NOW + 1.0, NOW + 1.0]


def test_rejections_are_counted_by_reason(state: TelemetryState) -> None:
    intake = intake_for(state, limit=64)
    assert intake.frame(b"x" * 65, NOW) == 1
    assert intake.frame(b"not json", NOW) == 1
    intake.reject(reasons.MULTIPART, b"part")
    intake.reject(reasons.INTERNAL_ERROR)
    assert {r: n for r, n in state.invalid.items() if n} == {
        reasons.TOO_LARGE: 1, reasons.BAD_JSON: 1, reasons.MULTIPART: 1, reasons.INTERNAL_ERROR: 1}
    assert sum(state.received.values()) == 0


def test_a_reliable_stamp_overrides_the_payload_and_arrays_can_be_refused(state: TelemetryState) -> None:
    intake = intake_for(state)
    payload = json.dumps({**TRADE, "producer": "liar", "seq": 99}).encode()
    assert intake.frame(payload, NOW, ("pub", "i1", 7), arrays=False) == 1
    (event,) = state.recent_events
    assert (event.producer, event.instance, event.seq) == ("pub", "i1", 7)
    assert "liar" not in state.producers.stats
    array = json.dumps([TRADE]).encode()
    verdict = decode(array)  # not an object: the reliable channel carries one message per payload
    assert isinstance(verdict, str)
    assert intake.frame(array, NOW, ("pub", "i1", 8), arrays=False) == 1
    assert state.invalid[verdict] == 1 and state.trades["buy", "ABC"][0] == 1


def test_the_recent_events_the_core_keeps_decoded_read_back_as_the_decoder_builds_them() -> None:
    """With no consumer of event objects (analytics off, no journal) the core keeps each
    applied event as its decoded struct; read back, it is the very event decode() gives,
    with its receive time and the reliable stamp."""
    state = TelemetryState(Settings(analytics=False, events_buffer=4))
    intake = intake_for(state)
    full_trade = {**TRADE, "price": 1.5, "producer": "p", "instance": "i1", "seq": 4, "sent_ts": NOW,
                  "event_id": "e-\u00e9\\n"}
    full_tick = {**TICK, "volume": 3.0, "source": "feed-1", "bid": 9.5, "ask": 10.5, "ts": "2023-11-14T22:13:20Z"}
    heartbeat = {"type": "heartbeat", "ts": NOW * 1000, "producer": "p"}
    frames = [json.dumps(m).encode() for m in (TRADE, full_trade, full_tick, heartbeat)]
    with state.lock:
        assert intake.frames(frames, [NOW + 0.1, NOW + 0.2, NOW + 0.3, NOW + 0.4]) == 4
        assert intake.frames([frames[0]], [NOW + 0.5], [("pub", "i9", 11)], arrays=False) == 1
        recent = state.recent_events
        newest = state.recent(2)
    expected = []  # the buffer holds 4: the oldest left
    for frame, recv, stamp in ((full_trade, NOW + 0.2, None), (full_tick, NOW + 0.3, None),
                               (heartbeat, NOW + 0.4, None), (TRADE, NOW + 0.5, ("pub", "i9", 11))):
        event = decode(json.dumps(frame).encode())
        assert not isinstance(event, str)
        event.recv_ts = recv
        if stamp is not None:
            event.producer, event.instance, event.seq = stamp
        expected.append(event)
    assert recent == expected
    assert newest == expected[::-1][:2]
    assert state.received["heartbeat"] == 1 and state.trades["buy", "ABC"] == [3, 6.0]
