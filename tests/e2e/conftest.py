from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from support.procs import Service, start_sidecar


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[Service]:
    service = start_sidecar(tmp_path / "sidecar")
    yield service
    service.kill()


@pytest.fixture
def push(sidecar: Service) -> Iterator[zmq.Socket]:
    """A plain pyzmq PUSH socket (not our publisher) connected to the sidecar."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(sidecar.zmq)
    yield sock
    sock.close()
    ctx.term()
