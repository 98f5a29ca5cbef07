"""Issue 18, finding 6: TCP peers that connect to the sidecar's ZeroMQ port and
never send a byte must not take its HTTP side down, nor flood its log.

The real sidecar is started with a low open-file limit (256, the test sets it
before exec). It raises its soft limit to the hard one at start, so 300 silent
peers leave /health and /metrics/ answering; where the hard limit itself is 256,
libzmq drops the silent peers after ZMQ_HANDSHAKE_IVL (5 s), HTTP answers again,
and asyncio's "accept() out of system resource" errors are logged at most once
per 10 s instead of once per attempt."""

from __future__ import annotations

import json
import resource
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import zmq

from telemetry_testkit.procs import BIN, Service, free_port, start_ready, wait_until
from telemetry_testkit.prom import scrape

PEERS = 300
LOW = 256


def with_nofile(program: str, soft: int, hard: int) -> list[str]:
    """``program`` started with RLIMIT_NOFILE (soft, hard), set before exec."""
    limit = f"resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))"
    return [sys.executable, "-c", f"import os, resource, sys; {limit}; os.execv(sys.argv[1], sys.argv[1:])",
            str(BIN / program)]


def sidecar_with_nofile(log_dir: Path, soft: int, hard: int) -> Service:
    env = {"SIDECAR_PORT": "0", "SIDECAR_ZMQ_BIND": "tcp://127.0.0.1:0", "SIDECAR_HOST": "127.0.0.1"}
    return start_ready("metrics-sidecar", with_nofile("metrics-sidecar", soft, hard), env, log_dir)


def open_files_limit(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no 'Max open files' line")


@contextmanager
def silent_peers(endpoint: str, n: int) -> Iterator[list[socket.socket]]:
    """``n`` plain TCP connections to ``endpoint`` that never send a byte."""
    url = urlsplit(endpoint.replace("tcp://", "http://"))
    with ExitStack() as stack:
        peers = [stack.enter_context(socket.create_connection((url.hostname, url.port), timeout=10))
                 for _ in range(n)]
        yield peers


def answers(sidecar: Service) -> bool:
    try:
        return (httpx.get(sidecar.http + "/health", timeout=2).status_code == 200
                and httpx.get(sidecar.http + "/metrics/", timeout=2).status_code == 200)
    except httpx.HTTPError:
        return False


def resource_lines(sidecar: Service) -> int:
    return sum("out of system resource" in line for line in sidecar.log().splitlines())


def test_silent_peers_leave_http_answering_once_the_limit_is_raised(tmp_path: Path) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert hard > 4 * PEERS, f"this test needs a hard open-file limit above {4 * PEERS} (have {hard})"
    sidecar = sidecar_with_nofile(tmp_path, LOW, hard)
    try:
        soft, seen_hard = open_files_limit(sidecar.popen.pid)
        assert soft == seen_hard == hard  # raised at start
        with silent_peers(sidecar.zmq, PEERS):
            for _ in range(3):  # several rounds while all 300 are connected
                assert httpx.get(sidecar.http + "/health", timeout=10).status_code == 200
                assert httpx.get(sidecar.http + "/metrics/", timeout=10).status_code == 200
            # Ingest still works beside them.
            ctx = zmq.Context()
            push = ctx.socket(zmq.PUSH)
            push.setsockopt(zmq.LINGER, 0)
            push.connect(sidecar.zmq)
            push.send(json.dumps({"type": "trade", "side": "buy", "qty": 2, "ts": time.time()}).encode())
            wait_until(lambda: scrape(sidecar.http + "/metrics/").get('trades_total{side="buy",symbol=""}') == 1,
                       10, message="the trade counted beside 300 silent peers")
            push.close()
            ctx.term()
        assert resource_lines(sidecar) == 0
    finally:
        sidecar.kill()


def test_at_the_hard_limit_http_recovers_and_the_log_stays_small(tmp_path: Path) -> None:
    sidecar = sidecar_with_nofile(tmp_path, LOW, LOW)
    try:
        assert open_files_limit(sidecar.popen.pid) == (LOW, LOW)
        started = time.monotonic()
        with silent_peers(sidecar.zmq, PEERS):
            # libzmq accepts peers until every descriptor is taken (polled: its I/O
            # thread may lag behind our connects) ...
            fds = Path(f"/proc/{sidecar.popen.pid}/fd")
            wait_until(lambda: len(list(fds.iterdir())) == LOW, 20, message=f"all {LOW} descriptors taken")
            # ... so HTTP cannot accept while the peers are connected; libzmq drops them
            # after ZMQ_HANDSHAKE_IVL (5 s) and HTTP answers again, peers still open.
            wait_until(lambda: answers(sidecar), 30, interval=0.5, message="HTTP answering again")
            elapsed = time.monotonic() - started
        wait_until(lambda: answers(sidecar), 30, interval=0.5, message="HTTP answering after the peers left")
        elapsed = max(elapsed, time.monotonic() - started)
        # At most one line per 10 s (plus the first), whatever the number of failed accepts.
        # It did run out (else this test proves nothing), and logged that at most once per 10 s
        # (plus the first), whatever the number of failed accepts.
        assert 1 <= resource_lines(sidecar) <= 1 + int(elapsed / 10), sidecar.log()[-3000:]
        assert len(sidecar.log().splitlines()) < 200, sidecar.log()[-3000:]
    finally:
        sidecar.kill()


def test_the_trading_api_raises_its_open_file_limit_too(tmp_path: Path) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    env = {"WEBAPP_PORT": "0", "WEBAPP_HOST": "127.0.0.1", "WEBAPP_ZMQ_ADDR": f"tcp://127.0.0.1:{free_port()}",
           "WEBAPP_HEARTBEAT_INTERVAL_SECONDS": "0"}
    api = start_ready("trading-app-api", with_nofile("trading-app-api", LOW, hard), env, tmp_path)
    try:
        assert open_files_limit(api.popen.pid) == (hard, hard)
        assert httpx.get(api.http + "/health", timeout=10).status_code == 200
    finally:
        api.kill()
