"""The PULL loop's drain, both implementations (drains.py, chosen in libzmq.py): a
real IngestLoop here, fed by a PUSH socket in another process. Exact counts with
bad frames among good ones, multipart messages (one straddling drains), batch
frames, too_large; the core's drain ends on the socket's errors as pyzmq would;
and the fallback is chosen when no libzmq can be found."""

from __future__ import annotations

import itertools
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zmq

from metrics_sidecar import libzmq, reasons
from metrics_sidecar.drains import CoreDrain, PythonDrain
from metrics_sidecar.ingest import IngestLoop
from metrics_sidecar.intake import Intake
from metrics_sidecar.ratelimit import RateLimitedLogger
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


def test_the_cores_drain_raises_what_pyzmq_would_when_the_socket_is_gone() -> None:
    lib = libzmq.load()
    assert lib is not None
    state = TelemetryState(Settings())
    intake = Intake(state, 4096, RateLimitedLogger(logging.getLogger("test"), 10))
    drain = CoreDrain(state, intake, state.settings, lib)
    context = zmq.Context()
    sock = context.socket(zmq.PULL)
    sock.bind("tcp://127.0.0.1:*")
    drain(sock)  # nothing queued: EAGAIN ends the drain quietly
    assert state.batches == 0
    term = threading.Thread(target=context.term)  # waits for the socket's close
    term.start()
    errors: list[int | None] = []

    def terminated() -> bool:
        try:
            drain(sock)
        except zmq.ZMQError as exc:
            errors.append(exc.errno)
            return True
        return False

    wait_until(terminated, 10, message="ETERM from the core's receive")
    assert errors == [zmq.ETERM]
    sock.close(linger=0)
    term.join(10)
    with pytest.raises(zmq.ZMQError) as closed:
        drain(sock)  # a closed socket's handle is never used
    assert closed.value.errno == zmq.ENOTSOCK


def libzmq_mappings() -> list[str]:
    return [line for line in Path("/proc/self/maps").read_text().splitlines()
            if Path(line.split(maxsplit=5)[-1]).name.startswith("libzmq")]


def test_the_core_opens_the_libzmq_pyzmq_loaded_and_no_second_one(caplog: pytest.LogCaptureFixture) -> None:
    before = libzmq_mappings()
    assert len({line.split(maxsplit=5)[-1] for line in before}) == 1
    path = libzmq.locate()
    assert path is not None and path == before[0].split(maxsplit=5)[-1]
    state = TelemetryState(Settings())
    intake = Intake(state, 4096, RateLimitedLogger(logging.getLogger("test"), 10))
    with caplog.at_level(logging.INFO, logger="metrics_sidecar.libzmq"):
        drain = libzmq.choose_drain(state, intake, state.settings)
    assert isinstance(drain, CoreDrain) and drain.lib.path == path
    assert libzmq_mappings() == before  # the same mappings: nothing loaded again
    assert f"PULL drain: the core's, through {path}" in caplog.text


def maps_naming(maps: Path, *paths: str) -> Path:
    """A maps file with one mapping of each of ``paths``."""
    maps.write_text("".join(f"7f00-7f01 r--p 00000000 08:01 {i} {p}\n" for i, p in enumerate(paths, 1)))
    return maps


def test_the_python_drain_is_chosen_when_no_usable_libzmq_can_be_found(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = TelemetryState(Settings())
    intake = Intake(state, 4096, RateLimitedLogger(logging.getLogger("test"), 10))
    real = Path("/proc/self/maps").read_text().splitlines()
    without = tmp_path / "without"
    without.write_text("\n".join(line for line in real if "libzmq" not in line))
    not_elf = tmp_path / "libzmq-broken.so.5"
    not_elf.write_bytes(b"not a shared object")
    # A shared object without the functions the core calls: a copy of pyzmq's libsodium.
    sodium = next(Path(line.split(maxsplit=5)[-1]) for line in real if "/libsodium" in line)
    no_functions = tmp_path / "libzmq-without-functions.so.5"
    no_functions.write_bytes(sodium.read_bytes())
    cases = {
        "none mapped": without,
        "no maps to read": tmp_path / "absent",
        "two mapped (never guess)": maps_naming(tmp_path / "two.maps", "/a/libzmq.so.5", "/b/libzmq.so.5"),
        "not a library": maps_naming(tmp_path / "elf.maps", str(not_elf)),
        "functions missing": maps_naming(tmp_path / "fn.maps", str(no_functions)),
    }
    for case, maps in cases.items():
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="metrics_sidecar.libzmq"), pytest.MonkeyPatch.context() as patch:
            patch.setattr(libzmq, "MAPS", maps)
            assert libzmq.load() is None, case
            assert isinstance(libzmq.choose_drain(state, intake, state.settings), PythonDrain), case
        assert "PULL drain: Python (the core cannot call pyzmq's libzmq)" in caplog.text, case
    assert libzmq.locate(cases["none mapped"]) is None
    assert libzmq.locate(cases["functions missing"]) == str(no_functions)
