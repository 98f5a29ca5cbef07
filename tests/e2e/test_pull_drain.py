"""The PULL loop's drain, both implementations (metrics_sidecar/drains.py, chosen in
libzmq.py): a real IngestLoop here, fed by a PUSH socket in another process. Exact
counts with bad frames among good ones, multipart messages (one straddling drains),
batch frames, too_large, each frame's receive time and the test-only apply delay.
The parts that need no second process: metrics-sidecar/tests/test_pull_drain.py."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zmq

from metrics_sidecar import libzmq, reasons
from metrics_sidecar.ingest import IngestLoop
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState
from telemetry_testkit.fixtures import load_messages
from telemetry_testkit.procs import wait_until

# The sender: its own process, each message given as a list of parts (latin-1
# text on stdin, as JSON); closing waits until every frame left.
SENDER = """
import json, sys, zmq
ctx = zmq.Context()
push = ctx.socket(zmq.PUSH)
push.setsockopt(zmq.SNDHWM, 0)
push.connect(sys.argv[1])
for parts in json.load(sys.stdin):
    push.send_multipart([p.encode("latin-1") for p in parts])
push.close(linger=-1)
ctx.term()
"""


def send(endpoint: str, messages: list[list[bytes]]) -> None:
    """Sends ``messages`` (each a list of frames: more than one is a multipart
    message) from a PUSH socket in a child process, and waits until it sent them."""
    text = json.dumps([[p.decode("latin-1") for p in parts] for parts in messages])
    subprocess.run([sys.executable, "-c", SENDER, endpoint], input=text.encode(), check=True, timeout=60)


def trade(qty: float) -> bytes:
    return json.dumps({"type": "trade", "side": "buy", "qty": qty, "ts": time.time()}).encode()


@pytest.fixture(params=["core", "python"])
def drain(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Which drain the loop chooses: the core's, or, with no libzmq to be found in the
    process's maps, the Python fallback (as metrics-sidecar/tests/conftest.py)."""
    if request.param == "python":
        empty = tmp_path / "maps-without-libzmq"
        empty.write_text("")
        monkeypatch.setattr(libzmq, "MAPS", empty)
    return str(request.param)


@pytest.fixture
def make_loop(drain: str) -> Iterator[Callable[..., IngestLoop]]:
    loops: list[IngestLoop] = []

    def make(**settings: object) -> IngestLoop:
        state = TelemetryState(Settings.model_validate({"zmq_bind": "tcp://127.0.0.1:0", **settings}))
        loop = IngestLoop(state.settings, state, zmq.Context())
        assert loop.drain.name == drain
        loops.append(loop)
        loop.start()
        return loop

    yield make
    for loop in loops:
        loop.stop()
        loop.context.term()


def invalid_counts(state: TelemetryState) -> dict[str, int]:
    with state.lock:
        return {reason: n for reason, n in state.invalid.items() if n}


def test_bad_frames_among_good_ones_are_counted_exactly(make_loop: Callable[..., IngestLoop]) -> None:
    loop = make_loop(max_message_bytes=4096)
    state = loop.state
    invalid = load_messages("invalid")
    rounds = 3
    messages: list[list[bytes]] = []
    for _ in range(rounds):
        for i, (_name, raw) in enumerate(invalid):
            messages += [[trade(1)], [raw]]
            if i % 7 == 0:
                messages += [[b"x" * 4097], [trade(1), b"junk"], [json.dumps([json.loads(trade(2))] * 3).encode()]]
        messages.append([b"y" * 8000])  # too large, still under libzmq's MAXMSGSIZE (2x)
    send(loop.last_endpoint, messages)
    n_good = rounds * len(invalid)
    every_seventh = rounds * len(range(0, len(invalid), 7))
    expected: dict[str, int] = {}
    for name, raw in invalid:
        reason = name.split("__")[0]
        per_frame = len(json.loads(raw)) if raw.startswith(b"[") else 1
        expected[reason] = expected.get(reason, 0) + rounds * per_frame
    expected[reasons.TOO_LARGE] = expected.get(reasons.TOO_LARGE, 0) + every_seventh + rounds
    expected[reasons.MULTIPART] = 2 * every_seventh
    total = sum(expected.values()) + n_good + 3 * every_seventh
    wait_until(lambda: sum(state.received.values()) + sum(invalid_counts(state).values()) >= total, 20,
               message=f"{total} messages counted")
    assert invalid_counts(state) == expected
    with state.lock:
        assert state.trades["buy", ""] == [n_good + 3 * every_seventh, n_good + 6 * every_seventh]
    assert loop.running.is_set()


def test_a_multipart_message_straddles_drains_and_every_part_is_rejected(make_loop: Callable[..., IngestLoop]) -> None:
    loop = make_loop(batch_max=2)  # a 3-part message cannot fit in one drain
    state = loop.state
    send(loop.last_endpoint, [[trade(1)], [b"p1", b"p2", b"p3"], [trade(2)], [b"q1", b"q2"], [trade(3)]])
    wait_until(lambda: state.received["trade"] == 3 and invalid_counts(state), 10, message="3 trades, 5 parts")
    assert invalid_counts(state) == {reasons.MULTIPART: 5}
    with state.lock:
        assert state.trades["buy", ""] == [3, 6.0]
        assert [getattr(e, "qty", None) for e in state.recent_events] == [1, 2, 3]
        assert state.batches >= 4  # 8 frames, at most 2 a drain: p1-p3 span two drains
    assert loop.drain.in_multipart is False


def test_batch_frames_count_their_elements_against_the_budget(make_loop: Callable[..., IngestLoop]) -> None:
    loop = make_loop(batch_max=4)
    state = loop.state
    element = json.loads(trade(1))
    batches = [[json.dumps([element] * n).encode()] for n in (5, 1, 3)]
    send(loop.last_endpoint, [*batches, [b"[1]"], [trade(1)]])
    wait_until(lambda: state.received["trade"] == 10, 10, message="10 trades")
    assert invalid_counts(state) == {reasons.NOT_OBJECT: 1}
    with state.lock:
        assert state.trades["buy", ""] == [10, 10.0]
        assert 3 <= state.batches <= 5


def test_each_frame_gets_its_receive_time_and_the_test_delay_is_paid(make_loop: Callable[..., IngestLoop]) -> None:
    loop = make_loop(test_apply_delay_seconds=0.02)
    state = loop.state
    before = time.time()
    send(loop.last_endpoint, [[trade(q)] for q in (1, 2, 3)])
    wait_until(lambda: state.received["trade"] == 3, 10, message="3 trades")
    with state.lock:
        times = [e.recv_ts for e in state.recent_events]
    assert before <= times[0] and all(b - a >= 0.02 for a, b in itertools.pairwise(times))
