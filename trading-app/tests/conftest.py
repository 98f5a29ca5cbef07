from __future__ import annotations

from collections.abc import Iterator

import pytest
import zmq


@pytest.fixture
def pull() -> Iterator[tuple[zmq.Socket, str]]:
    """A real PULL socket on an OS-chosen port, standing in for a sidecar's socket."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.LINGER, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    yield sock, f"tcp://127.0.0.1:{port}"
    sock.close()
    ctx.term()
