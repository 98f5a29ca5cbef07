from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from telemetry_testkit.procs import Service, start_sidecar
from telemetry_testkit.sockets import push_socket


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[Service]:
    service = start_sidecar(tmp_path / "sidecar")
    yield service
    service.kill()


@pytest.fixture
def push(sidecar: Service) -> Iterator[zmq.Socket]:
    """A plain pyzmq PUSH socket (not our publisher) connected to the sidecar."""
    with push_socket(sidecar.zmq) as sock:
        yield sock
