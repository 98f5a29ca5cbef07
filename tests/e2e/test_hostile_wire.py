"""Issue 18, the wire: one hostile message never stops ingest, never makes a
number infinite, and never makes a real trade vanish. Each test talks to a real
sidecar process (with SIDECAR_STATE_DIR, so the journal sees every value) over
real pyzmq sockets: PUSH to its PULL, DEALER to its reliable ROUTER."""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zmq

from telemetry_testkit.procs import Service, start_sidecar, wait_until
from telemetry_testkit.prom import scrape
from telemetry_testkit.reliable import total
from telemetry_testkit.sockets import push_socket
from telemetry_testkit.wire_fuzz import RouterModel, Wire, pull_outcomes
from trading_app.telemetry.reliable import ReliablePublisher

# Each test class of hostile input, and how long the fuzz test may send (CI: <= 60 s in all).
FUZZ_SECONDS = float(os.environ.get("WIRE_FUZZ_SECONDS", "20"))


@pytest.fixture
def wire_sidecar(tmp_path: Path) -> Iterator[Service]:
    service = start_sidecar(tmp_path / "sidecar", {"SIDECAR_STATE_DIR": str(tmp_path / "state"),
                                                   "SIDECAR_RELIABLE_BIND": "tcp://127.0.0.1:0"})
    yield service
    service.kill()


class Dealer:
    """A hand-made reliable client: frames exactly as a test writes them."""

    def __init__(self, endpoint: str) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDTIMEO, 10_000)  # a dead reliable loop fails the test, never hangs it
        self.sock.connect(endpoint)

    def batch(self, header: dict[str, Any], *payloads: dict[str, Any]) -> None:
        self.sock.send_multipart([b"rel1", json.dumps(header).encode(), *(json.dumps(p).encode() for p in payloads)])

    def ack(self, timeout_ms: int = 10_000) -> dict[str, Any]:
        assert self.sock.poll(timeout_ms), "no ack from the sidecar"
        kind, body = self.sock.recv_multipart()
        assert kind == b"ack1"
        return dict(json.loads(body))

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()


def metrics_when(sidecar: Service, predicate: Any, message: str, timeout: float = 15) -> dict[str, float]:
    return wait_until(lambda: (m := scrape(sidecar.http + "/metrics/")) and predicate(m) and m, timeout,
                      message=message)


def invalid(m: dict[str, float], reason: str) -> float:
    return m[f'messages_invalid_total{{reason="{reason}"}}']


def trade(qty: float = 1.0, **fields: Any) -> bytes:
    return json.dumps({"type": "trade", "side": "buy", "qty": qty, "ts": time.time(), **fields}).encode()


def assert_all_finite(m: dict[str, float]) -> None:
    """No number is infinite; counters and sums are not NaN either (some analytics
    gauges are NaN by definition while undefined, e.g. the average cost of trades
    without a price)."""
    infinite = {k: v for k, v in m.items() if math.isinf(v)}
    assert not infinite, infinite
    counters = ("_total", "_sum", "_count", "_bucket")
    nan = {k: v for k, v in m.items() if math.isnan(v) and k.split("{")[0].endswith(counters)}
    assert not nan, nan


def test_numbers_beyond_what_every_layer_holds_are_rejected_and_every_aggregate_stays_finite(
        wire_sidecar: Service) -> None:
    hostile = [trade(1e308, symbol="X"), trade(1e308, symbol="X"), trade(1, symbol="X", sent_ts=1e308),
               trade(1, symbol="X", producer="p", seq=2**64), trade(1, symbol="X", producer="p", seq=2**63),
               trade(1, symbol="X", price=1e13), trade(1e15 * 1.5, symbol="X"),
               json.dumps({"type": "tick", "symbol": "X", "price": 1, "volume": 1e16, "ts": time.time()}).encode()]
    with push_socket(wire_sidecar.zmq) as push:
        for frame in hostile:
            push.send(trade(2, symbol="X"))
            push.send(frame)
        push.send(b"[" + b",".join([trade(2, symbol="X"), *hostile]) + b"]")  # each element judged alone
        push.send(trade(1e15, symbol="X", producer="p", seq=2**63 - 1, sent_ts=time.time()))  # at the bounds
        m = metrics_when(wire_sidecar, lambda m: m.get('trades_total{side="buy",symbol="X"}') == 10,
                         "ten valid trades")
    assert invalid(m, "bad_field") == 2 * len(hostile)
    assert m['volume_total{side="buy",symbol="X"}'] == 9 * 2 + 1e15
    assert_all_finite(m)
    assert httpx.get(wire_sidecar.http + "/health").status_code == 200
    assert wire_sidecar.stop() == 0  # the journal took every accepted value: a clean exit


def test_a_reliable_header_beyond_int64_is_counted_and_the_reliable_loop_goes_on(wire_sidecar: Service) -> None:
    dealer = Dealer(wire_sidecar.info["reliable"])
    try:
        dealer.batch({"producer": "p", "instance": "i", "seq": 1, "acked": 2**64}, {"type": "heartbeat", "ts": 1})
        dealer.batch({"producer": "p", "instance": "i", "seq": 2**64}, {"type": "heartbeat", "ts": 1})
        dealer.batch({"producer": "p", "instance": "i", "seq": 2**63 - 1}, *[json.loads(trade())] * 2)
        dealer.sock.send_multipart([b"rel1", b'{"producer":"p","instance":"i","seq":1,"acked":' + b"9" * 400 + b"}"])
        dealer.batch({"producer": "p", "instance": "i", "seq": 1, "acked": 0}, json.loads(trade(symbol="R")))
        assert dealer.ack() == {"producer": "p", "instance": "i", "acked": 1, "gap": False}
    finally:
        dealer.close()
    m = metrics_when(wire_sidecar, lambda m: m.get('trades_total{side="buy",symbol="R"}') == 1, "the next batch")
    assert invalid(m, "bad_field") == 1 + 1 + 2 + 1
    assert httpx.get(wire_sidecar.http + "/health").json()["status"] == "ok"


def test_a_forged_ack_never_makes_the_streams_next_trades_vanish(wire_sidecar: Service, tmp_path: Path) -> None:
    pub = ReliablePublisher(wire_sidecar.info["reliable"], tmp_path / "outbox.sqlite", producer="victim",
                            heartbeat_interval=0, ack_timeout=0.2)
    forger = Dealer(wire_sidecar.info["reliable"])
    try:
        for _ in range(5):
            pub.trade("buy", 1.0, symbol="V")
        wait_until(lambda: pub.unacked() == 0, 10, message="the first 5 acked")
        # Everything an attacker needs is public: producer and instance (the sidecar's /events).
        event = httpx.get(wire_sidecar.http + "/events", params={"limit": 1}).json()["events"][0]
        forged = {"producer": event["producer"], "instance": event["instance"], "seq": 2**62 + 1, "acked": 2**62}
        forger.batch(forged, json.loads(trade(symbol="V")))
        assert forger.ack() == {"producer": "victim", "instance": pub.instance, "acked": 5, "gap": True}
        for _ in range(20):
            pub.trade("buy", 1.0, symbol="V")
        wait_until(lambda: pub.unacked() == 0, 10, message="the next 20 acked")
        # A stream the sidecar has never seen: acked must be below the batch's seq (clamped otherwise).
        forger.batch({"producer": "victim", "instance": "other", "seq": 1, "acked": 2**62}, json.loads(trade()))
        assert forger.ack()["acked"] == 1
    finally:
        forger.close()
        pub.close(drain_seconds=0)
    m = metrics_when(wire_sidecar, lambda m: m.get("reliable_ack_mismatch_total") == 2, "two mismatches")
    assert m['trades_total{side="buy",symbol="V"}'] == 25  # all 20 after the forgery counted
    assert m["messages_duplicate_total"] == 0
    assert m['messages_lost_total{producer="victim"}'] == 0


def test_one_future_dated_tick_never_freezes_a_symbols_last_price(wire_sidecar: Service) -> None:
    def tick(price: float, ts: float, **fields: Any) -> bytes:
        return json.dumps({"type": "tick", "symbol": "FUT", "price": price, "ts": ts, **fields}).encode()

    now = time.time()
    with push_socket(wire_sidecar.zmq) as push:
        push.send(tick(100.0, now))
        push.send(tick(999.0, now + 365 * 86400))  # a producer whose clock is a year ahead
        push.send(tick(998.0, now, sent_ts=now + 3600))  # sent_ts is a timestamp too
        push.send(tick(997.0, (now + 3600) * 1000))  # so is a ts in milliseconds
        for i in range(1, 4):
            push.send(tick(100.0 + i, now + i * 0.001))
        m = metrics_when(wire_sidecar, lambda m: total(m, "ticks_total") == 4, "four ticks applied")
    assert invalid(m, "future_timestamp") == 3
    assert m['tick_last_price{symbol="FUT"}'] == 103.0
    assert m['ticks_out_of_order_total{symbol="FUT"}'] == 0
    assert m['tick_last_ts_seconds{symbol="FUT"}'] == pytest.approx(now + 0.003, abs=1e-6)


def test_a_producer_that_restarts_without_an_instance_is_counted_not_dropped(wire_sidecar: Service) -> None:
    with push_socket(wire_sidecar.zmq) as push:
        for run in range(3):  # three runs of one producer that never sends an instance
            for seq in range(1, 11):
                push.send(trade(symbol="RS", producer="noinst", seq=seq, event_id=f"run{run}-{seq}"))
        push.send(trade(symbol="RS", producer="reset", instance="same", seq=5000))
        push.send(trade(symbol="RS", producer="reset", instance="same", seq=3000))  # reset far behind
        push.send(trade(symbol="RS", producer="reset", instance="same", seq=3000))  # a real resend
        m = metrics_when(wire_sidecar, lambda m: m.get("messages_duplicate_total") == 1, "the resend")
    assert m['trades_total{side="buy",symbol="RS"}'] == 32
    assert m['producer_restarts_total{producer="noinst"}'] == 2
    assert m['producer_restarts_total{producer="reset"}'] == 1
    assert m['messages_lost_total{producer="noinst"}'] == 0 and m['messages_lost_total{producer="reset"}'] == 0


def test_event_ids_are_per_producer_and_a_dedup_drop_is_never_also_loss(wire_sidecar: Service) -> None:
    with push_socket(wire_sidecar.zmq) as push:
        push.send(trade(symbol="ID", producer="a", instance="1", seq=1, event_id="order-1"))
        push.send(trade(symbol="ID", producer="b", instance="1", seq=1, event_id="order-1"))  # B's own id
        push.send(trade(symbol="ID", producer="a", instance="1", seq=2, event_id="order-1"))  # A's duplicate
        push.send(trade(symbol="ID", producer="a", instance="1", seq=3, event_id="order-3"))
        push.send(trade(symbol="ID", event_id="order-1"))  # no producer: its own id space
        m = metrics_when(wire_sidecar, lambda m: m.get('trades_total{side="buy",symbol="ID"}') == 4, "four trades")
    assert m["messages_duplicate_total"] == 1
    assert m['messages_lost_total{producer="a"}'] == 0  # the duplicate's seq 2 is not a gap


def test_log_lines_that_input_triggers_are_rate_limited(wire_sidecar: Service) -> None:
    dealer = Dealer(wire_sidecar.info["reliable"])
    started = time.monotonic()
    try:
        with push_socket(wire_sidecar.zmq) as push:
            for i in range(2000):
                push.send(b"junk %d" % i)
                push.send(trade(1e308))
                dealer.sock.send_multipart([b"rel1", b"not a header", b"{}"])
                dealer.batch({"producer": "p", "instance": "i", "seq": 1, "acked": 0}, {"type": "heartbeat",
                                                                                         "ts": time.time() + 1e6})
            push.send(trade(symbol="LOG"))
            m = metrics_when(wire_sidecar, lambda m: m.get('trades_total{side="buy",symbol="LOG"}') == 1
                             and invalid(m, "bad_field") == 2 * 2000, "every frame counted", timeout=60)
    finally:
        dealer.close()
    assert invalid(m, "bad_json") == 2000 and invalid(m, "bad_field") == 2 * 2000
    seconds = time.monotonic() - started + 2
    lines = [line for line in wire_sidecar.log().splitlines() if "rejected" in line or "header" in line]
    # 5 lines a second per loop (SIDECAR_INVALID_LOG_PER_SECOND), one "suppressed" line each second.
    assert 0 < len(lines) <= 2 * 5 * math.ceil(seconds), len(lines)


def accounted(m: dict[str, float]) -> float:
    """Messages that ended applied, rejected or as duplicates: each exactly once."""
    return total(m, "messages_received_total") + total(m, "messages_invalid_total") + m["messages_duplicate_total"]


def test_fuzzed_frames_on_pull_and_router_never_stop_ingest_and_every_message_is_accounted_for(
        wire_sidecar: Service) -> None:
    seed = random.randrange(2**32)
    wire, model = Wire(seed), RouterModel()
    expected = sent_frames = 0
    dealer = Dealer(wire_sidecar.info["reliable"])
    deadline = time.monotonic() + FUZZ_SECONDS
    try:
        with push_socket(wire_sidecar.zmq) as push:
            push.setsockopt(zmq.SNDTIMEO, 10_000)  # a dead ingest loop fails the test, never hangs it
            while time.monotonic() < deadline:
                for _ in range(50):
                    frame = wire.pull_frame()
                    push.send(frame)
                    expected += pull_outcomes(frame)
                    frames = wire.router_message()
                    dealer.sock.send_multipart(frames)
                    expected += model.outcomes(frames)
                    sent_frames += 2
            push.send(trade(symbol="FUZZOK"))
            expected += 1
            m = metrics_when(wire_sidecar, lambda m: accounted(m) >= expected
                             and m.get('trades_total{side="buy",symbol="FUZZOK"}') == 1,
                             f"seed {seed}: all counted", timeout=60)
        assert accounted(m) == expected, f"seed {seed}"
        assert m['messages_invalid_total{reason="internal_error"}'] == 0, f"seed {seed}"
        assert_all_finite(m)
        # The reliable loop still serves: a fresh stream is applied and acked.
        dealer.batch({"producer": "after", "instance": "fuzz", "seq": 1, "acked": 0}, json.loads(trade(symbol="OK2")))
        while (ack := dealer.ack())["producer"] != "after":
            pass  # acks of fuzzed batches still in the queue
        assert ack == {"producer": "after", "instance": "fuzz", "acked": 1, "gap": False}
    finally:
        dealer.close()
    assert sent_frames > 0
    assert httpx.get(wire_sidecar.http + "/health").json()["status"] == "ok"
    assert wire_sidecar.stop() == 0
