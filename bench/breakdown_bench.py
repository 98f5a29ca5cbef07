"""Where a message's time goes inside the sidecar: each stage of the ingest loop
timed alone, in this process, on the same publisher-format trade frames as B1
(a real PULL socket over ``inproc://``, frames queued before the clock starts).

This is the "why" behind B1/B2: the bare ``recv()`` is one stage of many, and
each of the others is Python work per message. ``floor`` is the least a Python
sidecar could do and still count anything (receive, decode with msgspec, one
dict increment); ``core ingest`` is the compiled core's batch entry alone
(``TelemetryState.ingest``: decode + apply, batches of ``SIDECAR_BATCH_MAX`` frames,
no socket); ``drain`` is the real loop's drain after its blocking receive, both
implementations (drains.py): ``core`` (the core receives through pyzmq's libzmq and
hands each frame to its batch ingest: the sidecar's choice whenever that libzmq is
usable) and ``Python`` (the fallback: pyzmq ``recv`` per frame, then the same core
batch ingest).
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable
from typing import Any

import zmq
from sender import encode_frames, trade_messages


def _queued_socket(context: zmq.Context, frames: list[bytes], endpoint: str) -> zmq.Socket:
    """A PULL socket with every frame already queued (inproc: no I/O thread)."""
    pull = context.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVHWM, 0)
    pull.bind(endpoint)
    push = context.socket(zmq.PUSH)
    push.setsockopt(zmq.SNDHWM, 0)
    push.connect(endpoint)
    for frame in frames:
        push.send(frame)
    push.close(linger=-1)
    return pull


def settle(state: Any) -> None:
    """Pay the analytics' deferred work (batched side windows, pending ticks), which
    otherwise waits for a reader or a bound, so a stage counts all of it."""
    if state.analytics is not None:
        state.analytics.flush_trades()
        state.analytics.fold_ticks()


def drain_all(settings: Any, sock: zmq.Socket, events: int, context: zmq.Context, python: bool = False) -> Any:
    """The real ingest loop's drain (the one it chose; ``python``: the Python drain)
    over ``events`` queued frames, deferred work paid; returns the state."""
    from metrics_sidecar.drains import PythonDrain
    from metrics_sidecar.ingest import IngestLoop
    from metrics_sidecar.state import TelemetryState

    loop = IngestLoop(settings.model_copy(update={"rcvhwm": 10_000_000}), TelemetryState(settings), context)
    drain = PythonDrain(loop.state, loop.intake, loop.settings) if python else loop.drain
    while sum(loop.state.received.values()) < events:
        drain(sock)
    settle(loop.state)
    return loop.state


def _best_us(stage: Callable[[], object], n: int, repeats: int, setup: Callable[[], object] | None = None) -> float:
    best = float("inf")
    for _ in range(repeats):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        stage()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def run(events: int, repeats: int) -> dict[str, Any]:
    from metrics_sidecar.decode import _decoder, decode
    from metrics_sidecar.settings import Settings
    from metrics_sidecar.state import TelemetryState

    frames = encode_frames(trade_messages(events, 10, uuid.uuid4().hex[:12]), 1)
    context = zmq.Context()
    sockets: list[zmq.Socket] = []
    out: dict[str, float] = {}

    def fresh() -> zmq.Socket:
        sock = _queued_socket(context, frames, f"inproc://breakdown-{uuid.uuid4().hex}")
        sockets.append(sock)
        return sock

    def recv_stage(copy: bool) -> Callable[[], None]:
        def stage() -> None:
            recv = sockets[-1].recv
            if copy:
                for _ in range(events):
                    recv(zmq.NOBLOCK)
            else:
                for _ in range(events):
                    frame = recv(zmq.NOBLOCK, copy=False)
                    frame.more  # noqa: B018 - the flag the sidecar reads
                    frame.bytes  # noqa: B018
        return stage

    out["recv (bare)"] = _best_us(recv_stage(True), events, repeats, fresh)
    out["recv + RCVMORE + bytes"] = _best_us(recv_stage(False), events, repeats, fresh)

    def floor() -> None:
        recv, dec, counts = sockets[-1].recv, _decoder.decode, {"trade": 0}
        for _ in range(events):
            counts[dec(recv(zmq.NOBLOCK)).kind] += 1

    out["floor: recv + msgspec + dict +1"] = _best_us(floor, events, repeats, fresh)
    out["decode"] = _best_us(lambda: [decode(f) for f in frames], events, repeats)

    decoded = [decode(f) for f in frames]
    # The scaling benchmark's stream: trades and ticks alternating over 10 symbols.
    mixed = [decode(f) for f in encode_frames(trade_messages(events, 10, uuid.uuid4().hex[:12], ticks=True), 1)]
    for analytics in (False, True):
        settings = Settings.model_validate({"analytics": analytics})

        def apply_all(s: Settings = settings, stream: list[Any] = decoded) -> None:
            state = TelemetryState(s)
            apply, end_batch, size = state.apply, state.end_batch, s.batch_max
            for i, event in enumerate(stream, 1):
                event.recv_ts = event.ts_s
                apply(event)
                if i % size == 0:
                    end_batch()  # as the ingest loop does after each drain
            settle(state)

        def ingest_all(s: Settings = settings) -> None:
            state = TelemetryState(s)
            size = s.batch_max
            with state.lock:
                for k in range(0, len(frames), size):
                    chunk = frames[k:k + size]
                    state.ingest(chunk, [time.time()] * len(chunk), None, True, s.max_message_bytes)
                    state.end_batch()
            settle(state)

        on_off = "on" if analytics else "off"
        out[f"core ingest: decode + apply per batch (analytics {on_off})"] = _best_us(ingest_all, events, repeats)
        out[f"state.apply (analytics {on_off})"] = _best_us(apply_all, events, repeats)
        out[f"state.apply, trades+ticks (analytics {on_off})"] = _best_us(
            functools.partial(apply_all, settings, mixed), events, repeats)

        for python in (True, False):
            def drain(s: Settings = settings, py: bool = python) -> None:
                drain_all(s, sockets[-1], events, context, py)

            name = "Python" if python else "core"
            out[f"drain, {name}: receive + core ingest (analytics {on_off})"] = _best_us(drain, events, repeats, fresh)

    for sock in sockets:
        sock.close(linger=0)
    context.term()
    return {"events": events, "repeats": repeats, "us_per_event": out}
