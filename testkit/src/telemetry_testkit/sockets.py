"""Reading what a real socket received, with a deadline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import zmq


def recv_json(sock: zmq.Socket, n: int, timeout_ms: int = 5000) -> list[dict[str, Any]]:
    """The next n JSON frames; fails naming how many arrived if one is late."""
    out: list[dict[str, Any]] = []
    for _ in range(n):
        assert sock.poll(timeout_ms), f"only {len(out)} of {n} messages arrived"
        out.append(json.loads(sock.recv()))
    return out


@contextmanager
def push_socket(endpoint: str, *, unbounded: bool = False) -> Iterator[zmq.Socket]:
    """A plain pyzmq PUSH socket (not our publisher) connected to ``endpoint``.
    ``unbounded``: SNDHWM 0, so a test's flood neither blocks nor drops at the sender.

    LINGER is 5 s, not 0: leaving the ``with`` block waits (in ``ctx.term()``) until
    every queued frame is handed to the kernel, so a test may count what it sent
    after the block. LINGER 0 dropped a loaded machine's backlog (CI flakes in
    test_exemplars and test_native_histograms). An absent peer costs at most 5 s."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 5000)
    if unbounded:
        sock.setsockopt(zmq.SNDHWM, 0)
    sock.connect(endpoint)
    try:
        yield sock
    finally:
        sock.close()
        ctx.term()
