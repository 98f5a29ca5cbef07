"""Hostile traffic through real sockets into a real sidecar process: garbage of
every kind mixed with valid frames; exact counts of both; the process never dies
and its memory stays flat; what ZeroMQ's MAXMSGSIZE does above the slack."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from metrics_sidecar import reasons
from metrics_sidecar.decode import decode, decode_batch
from telemetry_testkit.fixtures import load_messages
from telemetry_testkit.procs import Service, start_sidecar, wait_until
from telemetry_testkit.prom import scrape

LIMIT = 1024  # SIDECAR_MAX_MESSAGE_BYTES for these tests; MAXMSGSIZE is twice that


@pytest.fixture
def small_sidecar(tmp_path: Path) -> Iterator[Service]:
    service = start_sidecar(tmp_path / "sidecar", {"SIDECAR_MAX_MESSAGE_BYTES": str(LIMIT)})
    yield service
    service.kill()


class Pusher:
    """A plain PUSH socket with its monitor (to see the connection drop and come back)."""

    def __init__(self, endpoint: str) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.PUSH)
        self.sock.linger = 0
        self.sock.sndtimeo = 10_000  # a stuck sidecar fails the test instead of hanging it
        self.monitor = self.sock.get_monitor_socket()
        self.events: list[zmq.Event] = []
        self.sock.connect(endpoint)

    def next_event(self, wanted: zmq.Event, timeout: float = 10) -> None:
        """Wait for the next ``wanted`` event (events already seen do not count)."""
        seen = len(self.events)
        deadline = time.monotonic() + timeout
        while wanted not in self.events[seen:]:
            assert time.monotonic() < deadline, f"no {wanted.name}; saw {[e.name for e in self.events]}"
            if self.monitor.poll(50):
                self.events.append(zmq.Event(recv_monitor_message(self.monitor)["event"]))

    def close(self) -> None:
        self.sock.disable_monitor()
        self.monitor.close()
        self.sock.close()
        self.ctx.term()


@pytest.fixture
def pusher(small_sidecar: Service) -> Iterator[Pusher]:
    p = Pusher(small_sidecar.zmq)
    yield p
    p.close()


def trade(qty: int, seq: int | None = None) -> bytes:
    message: dict[str, object] = {"type": "trade", "side": "buy", "qty": qty, "ts": time.time()}
    if seq is not None:  # a sequenced stream: what goes missing is counted in messages_lost_total
        message.update(producer="hostile-test", instance="run-1", seq=seq)
    return json.dumps(message).encode()


def hostile_frames(rng: random.Random) -> list[tuple[bytes | list[bytes], Counter[str]]]:
    """(frame or multipart parts, the reasons it must be counted under)."""
    one = Counter
    t = b'{"type":"trade","side":"buy","qty":1,"ts":%d' % int(time.time())
    frames: list[tuple[bytes | list[bytes], Counter[str]]] = [
        (b"x" * (LIMIT + 1), one({reasons.TOO_LARGE: 1})),
        (b"{" * (2 * LIMIT), one({reasons.TOO_LARGE: 1})),  # exactly MAXMSGSIZE: still reaches the decoder path
        ([trade(1), b"junk"], one({reasons.MULTIPART: 2})),
        ([b"a", b"b", b"c"], one({reasons.MULTIPART: 3})),
        (t + b',"event_id":"\xff\xfe"}', one({reasons.BAD_JSON: 1})),
        (t + b',"\xc3":1}', one({reasons.BAD_JSON: 1})),
        (b"[1, 2, 3]", one({reasons.NOT_OBJECT: 3})),
        (b'"just a string"', one({reasons.NOT_OBJECT: 1})),
        (t + b',"x":' + b"[" * 40 + b"]" * 40 + b"}", one({reasons.TOO_DEEP: 1})),
        (t + b',"x":' + b"[" * 400 + b"]" * 400 + b"}", one({reasons.TOO_DEEP: 1})),
        (t.replace(b'"qty":1', b'"qty":NaN') + b"}", one({reasons.BAD_JSON: 1})),
        (t.replace(b'"qty":1', b'"qty":1e999') + b"}", one({reasons.NON_FINITE: 1})),
        (t.replace(b'"qty":1', b'"qty":' + b"9" * 400) + b"}", one({reasons.NON_FINITE: 1})),  # overflows a float
        (t + b',"qty":1000000}', one({reasons.DUPLICATE_KEY: 1})),
        (t + b',"q\\u0074y":1000000}', one({reasons.DUPLICATE_KEY: 1})),
        (t.replace(b'"trade"', b'"order"') + b"}", one({reasons.UNKNOWN_TYPE: 1})),
        (t.replace(b'"qty":1', b'"qty":"1"') + b"}", one({reasons.BAD_FIELD: 1})),
        (t + b',"symbol":"BTC\\n"}', one({reasons.BAD_FIELD: 1})),
        (b'[{"type":"heartbeat","ts":1700000000},{"type":"trade"},' + t + b',"qty":2}]',
         one({reasons.DUPLICATE_KEY: 1, reasons.MISSING_FIELD: 1, "heartbeat": 1})),
    ]
    for name, raw in load_messages("invalid"):
        reason = name.split("__")[0]
        frames.append((raw, one({reason: len(json.loads(raw)) if raw.startswith(b"[") else 1})))
    # Random bytes: the reasons come from the decoder in-process (test_fuzz_decode.py checks it).
    while len(frames) < 400:
        raw = rng.randbytes(rng.randint(0, LIMIT))
        results = decode_batch(raw) if raw[:1] == b"[" else [decode(raw)]
        if all(isinstance(r, str) for r in results):
            frames.append((raw, Counter(r for r in results if isinstance(r, str))))
    return frames


def send(pusher: Pusher, frame: bytes | list[bytes]) -> None:
    if isinstance(frame, list):
        pusher.sock.send_multipart(frame)
    else:
        pusher.sock.send(frame)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_mixed_garbage_and_valid_frames_are_counted_exactly(small_sidecar: Service, pusher: Pusher) -> None:
    rng = random.Random(7)
    hostile = hostile_frames(rng)
    expected: Counter[str] = Counter()
    sent_valid = volume = 0
    for round_ in range(5):
        rng.shuffle(hostile)
        for i, (frame, counts) in enumerate(hostile):
            qty = round_ * 1000 + i
            send(pusher, trade(qty))  # a valid neighbour before every hostile frame
            sent_valid += 1
            volume += qty
            send(pusher, frame)
            expected.update(counts)
    heartbeats = expected.pop("heartbeat")
    send(pusher, trade(1))
    sent_valid, volume = sent_valid + 1, volume + 1

    metrics = wait_until(lambda: (m := scrape(small_sidecar.http + "/metrics/"))
                         and m.get('messages_received_total{type="trade"}') == sent_valid and m, 30,
                         message=f"{sent_valid} valid trades")
    assert metrics['trades_total{side="buy",symbol=""}'] == sent_valid
    assert metrics['volume_total{side="buy",symbol=""}'] == volume
    assert metrics['messages_received_total{type="heartbeat"}'] == heartbeats
    got = {reason: metrics[f'messages_invalid_total{{reason="{reason}"}}'] for reason in reasons.ALL_REASONS}
    assert got == {reason: expected.get(reason, 0) for reason in reasons.ALL_REASONS}
    print(f"\n{sent_valid} valid and {sum(expected.values())} rejected, by reason: {dict(expected)}")
    assert httpx.get(small_sidecar.http + "/health").json()["loop_running"] is True
    assert small_sidecar.popen.poll() is None


def test_memory_stays_flat_under_a_hostile_flood(small_sidecar: Service, pusher: Pusher) -> None:
    """Rejected input leaves nothing behind: after a warm-up flood, three more floods
    of the same size do not grow the process (only fixed counters change)."""
    rng = random.Random(11)
    frames = [f for f, _ in hostile_frames(rng)]
    sent = 0

    def flood() -> None:
        nonlocal sent
        for _ in range(10):
            for frame in frames:
                send(pusher, frame)
            send(pusher, trade(1))
            sent += 1
        wait_until(lambda: scrape(small_sidecar.http + "/metrics/").get(
            'messages_received_total{type="trade"}') == sent, 60, message=f"{sent} trades after the flood")

    flood()
    flood()
    before = rss_kib(small_sidecar.popen.pid)
    for _ in range(3):
        flood()
    after = rss_kib(small_sidecar.popen.pid)
    print(f"\nRSS after warm-up {before} KiB, after 3 more floods of {10 * len(frames)} frames: {after} KiB")
    assert after - before < 4 * 1024, (before, after)
    assert small_sidecar.popen.poll() is None


def test_a_frame_above_maxmsgsize_costs_its_sender_the_connection_only(small_sidecar: Service,
                                                                        pusher: Pusher) -> None:
    """Up to 2 x SIDECAR_MAX_MESSAGE_BYTES a frame reaches the sidecar and is counted
    as too_large. Above, libzmq reads the length header, refuses to allocate and
    closes that TCP connection: the frame is never seen (so never counted), the
    sender reconnects, and its later frames are counted as usual."""
    pusher.next_event(zmq.Event.HANDSHAKE_SUCCEEDED)
    for qty in range(1, 51):
        send(pusher, trade(qty))
    wait_until(lambda: scrape(small_sidecar.http + "/metrics/").get('trades_total{side="buy",symbol=""}') == 50, 10,
               message="50 trades before")
    send(pusher, b"x" * (2 * LIMIT + 1))
    pusher.next_event(zmq.Event.DISCONNECTED)  # the sidecar dropped us ...
    pusher.next_event(zmq.Event.HANDSHAKE_SUCCEEDED)  # ... and we are back
    for qty in range(1, 51):
        send(pusher, trade(qty))
    metrics = wait_until(lambda: (m := scrape(small_sidecar.http + "/metrics/"))
                         and m.get('trades_total{side="buy",symbol=""}') == 100 and m, 10, message="100 trades")
    assert metrics['volume_total{side="buy",symbol=""}'] == 2 * sum(range(1, 51))
    assert sum(v for k, v in metrics.items() if k.startswith("messages_invalid_total")) == 0  # never seen
    assert small_sidecar.popen.poll() is None


def test_frames_right_behind_an_oversized_one_may_be_lost_with_the_connection(small_sidecar: Service,
                                                                               pusher: Pusher) -> None:
    """What docs/security.md warns about: frames already in the same TCP stream
    behind the oversized frame go down with the connection (between none and all
    of them, depending on timing). The sidecar survives, counts what arrives, and,
    because the stream is sequenced, counts every frame that went down as lost."""
    pusher.next_event(zmq.Event.HANDSHAKE_SUCCEEDED)
    send(pusher, trade(1, seq=1))
    send(pusher, b"x" * (2 * LIMIT + 1))
    for seq in range(2, 22):
        send(pusher, trade(1, seq=seq))
    pusher.next_event(zmq.Event.DISCONNECTED)
    pusher.next_event(zmq.Event.HANDSHAKE_SUCCEEDED)
    send(pusher, trade(1000, seq=22))
    metrics = wait_until(lambda: (m := scrape(small_sidecar.http + "/metrics/"))
                         and m.get('volume_total{side="buy",symbol=""}', 0) >= 1000 and m, 10,
                         message="the trade sent after the reconnect")
    behind = metrics['trades_total{side="buy",symbol=""}'] - 2  # less seq 1 and seq 22
    print(f"\n{20 - behind:.0f} of the 20 frames queued behind the oversized frame were lost with the connection")
    assert metrics['volume_total{side="buy",symbol=""}'] == 1001 + behind  # whole trades only, in order
    assert metrics.get('messages_lost_total{producer="hostile-test"}', 0) == 20 - behind  # every missing one counted
