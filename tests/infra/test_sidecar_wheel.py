"""The sidecar image's build stage without Docker (no engine on these machines):
the exact ``pip wheel`` command the Dockerfile's first stage runs builds a wheel
that carries the compiled core, and a sidecar started from that wheel alone (not
the editable install) applies a trade through the core."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx

from telemetry_testkit.procs import REPO, start_ready, wait_until
from telemetry_testkit.sockets import push_socket

SIDECAR = REPO / "metrics-sidecar"


def _stages(dockerfile: str) -> list[str]:
    return re.split(r"^FROM ", dockerfile, flags=re.M)[1:]


def test_the_dockerfile_builds_the_core_in_a_first_stage_and_ships_no_compiler() -> None:
    build, runtime = _stages((SIDECAR / "Dockerfile").read_text())
    assert "rustup" in build and "COPY core ./core" in build
    assert "pip wheel --no-deps --wheel-dir /wheels ." in build
    assert "COPY --from=0 /wheels" in runtime or "--from=0" in runtime
    assert "rustup" not in runtime and "gcc" not in runtime


def test_the_build_stages_wheel_runs_a_sidecar_with_the_compiled_core(tmp_path: Path) -> None:
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    # The build stage's command, in metrics-sidecar/ (its build context).
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(wheels), "."],
                   cwd=SIDECAR, check=True, capture_output=True, timeout=900)
    wheel, = wheels.glob("metrics_sidecar-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(re.fullmatch(r"metrics_sidecar/_core\..*\.so", n) for n in names), names
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    # PYTHONPATH puts the wheel's copy ahead of the editable install.
    env = {"PYTHONPATH": str(site), "SIDECAR_PORT": "0", "SIDECAR_ZMQ_BIND": "tcp://127.0.0.1:0",
           "SIDECAR_HOST": "127.0.0.1"}
    where = subprocess.run([sys.executable, "-c", "import metrics_sidecar._core as c; print(c.__file__)"],
                           env={**env, "PATH": "/usr/bin:/bin"}, check=True, capture_output=True, text=True)
    assert where.stdout.strip().startswith(str(site))
    sidecar = start_ready("sidecar-from-wheel", [sys.executable, "-c", "from metrics_sidecar.main import main; main()"],
                          env, tmp_path / "logs")
    try:
        with push_socket(sidecar.zmq) as sock:
            sock.send(json.dumps({"type": "trade", "side": "buy", "qty": 2.5, "ts": 1.7e9}).encode())
        text = wait_until(lambda: (t := httpx.get(f"{sidecar.http}/metrics/").text)
                          and 'trades_total{side="buy",symbol=""} 1.0' in t and t, 30,
                          message="the wheel's sidecar counted it")
        assert 'volume_total{side="buy",symbol=""} 2.5' in text
    finally:
        assert sidecar.stop() == 0
