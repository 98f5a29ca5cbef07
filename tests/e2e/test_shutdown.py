"""SIGTERM to each process exits 0 within 5 s, also while its peer is down."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import httpx
import zmq

from telemetry_testkit.procs import BIN, Service, free_port, start_api, start_sidecar, wait_until


def test_sidecar_exits_zero_on_sigterm(tmp_path: Path) -> None:
    sidecar = start_sidecar(tmp_path)
    assert sidecar.stop(timeout=5) == 0
    assert "metrics-sidecar stopped" in sidecar.log()


def test_api_exits_zero_on_sigterm_with_the_sidecar_down(tmp_path: Path) -> None:
    api = start_api(tmp_path, f"tcp://127.0.0.1:{free_port()}")
    assert httpx.post(api.http + "/trade/buy", data={"qty": "1"}).status_code == 303  # a drop, not a hang
    assert api.stop(timeout=5) == 0


def test_api_exits_zero_on_sigterm_with_the_sidecar_up(tmp_path: Path, sidecar: Service) -> None:
    api = start_api(tmp_path, sidecar.zmq)
    wait_until(lambda: httpx.get(api.http + "/health").json()["sidecar_connected"], 10, message="connected")
    assert api.stop(timeout=5) == 0


def test_ui_exits_zero_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "WEBAPP_UI_PORT": str(port), "WEBAPP_ZMQ_ADDR": f"tcp://127.0.0.1:{free_port()}"}
    proc = subprocess.Popen([str(BIN / "trading-app-ui")], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/_stcore/health").status_code == 200, 60,
                   message="streamlit up")
        proc.terminate()
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_bad_setting_fails_at_start_naming_the_variable() -> None:
    for binary, key in (("metrics-sidecar", "SIDECAR_PORT"), ("trading-app-api", "WEBAPP_PORT")):
        result = subprocess.run([str(BIN / binary)], env={**os.environ, key: "not-a-port"},
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 2, (binary, result.stderr)
        assert f"{key}='not-a-port'" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_busy_port_fails_the_start_naming_the_endpoint_and_its_variable() -> None:
    with socket.socket() as http_taken, zmq.Context() as ctx, ctx.socket(zmq.PULL) as zmq_taken:
        http_taken.bind(("127.0.0.1", 0))
        http_taken.listen()
        http_port = http_taken.getsockname()[1]
        zmq_taken.bind("tcp://127.0.0.1:*")
        zmq_endpoint = zmq_taken.getsockopt_string(zmq.LAST_ENDPOINT)
        for env, named in (
            ({"SIDECAR_ZMQ_BIND": zmq_endpoint, "SIDECAR_PORT": "0"},
             f"cannot bind the ZeroMQ PULL socket to {zmq_endpoint} (SIDECAR_ZMQ_BIND)"),
            ({"SIDECAR_ZMQ_BIND": "tcp://127.0.0.1:0", "SIDECAR_PORT": str(http_port)},
             f"cannot bind HTTP to 127.0.0.1:{http_port} (SIDECAR_HOST, SIDECAR_PORT)"),
        ):
            result = subprocess.run([str(BIN / "metrics-sidecar")], env={**os.environ, **env},
                                    capture_output=True, text=True, timeout=30)
            assert result.returncode == 1, result.stderr
            assert named in result.stderr
            assert "Traceback" not in result.stderr
        zmq_taken.setsockopt(zmq.LINGER, 0)
