"""Reading what a real socket received, with a deadline."""

from __future__ import annotations

import json
from typing import Any

import zmq


def recv_json(sock: zmq.Socket, n: int, timeout_ms: int = 5000) -> list[dict[str, Any]]:
    """The next n JSON frames; fails naming how many arrived if one is late."""
    out: list[dict[str, Any]] = []
    for _ in range(n):
        assert sock.poll(timeout_ms), f"only {len(out)} of {n} messages arrived"
        out.append(json.loads(sock.recv()))
    return out
