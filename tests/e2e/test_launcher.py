"""scripts/launch.py (what ``./run.sh`` runs) started for real: it refuses a bad
value and a busy port before starting anything, stops everything it started when
a later step fails or a child dies, restarts the sidecar when asked, and leaves
no process behind — every check of "no process left" is by PID."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from telemetry_testkit.procs import BIN, REPO, wait_until

LAUNCH = REPO / "scripts" / "launch.py"


class Launcher:
    """The launcher's stdout, line by line (its JSON events parsed), and stderr."""

    def __init__(self, run_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, str(LAUNCH), "--run-dir", str(run_dir), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                                     env={**os.environ, **(env or {})})
        self.lines: list[str] = []
        self.stderr = ""
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines) if line.startswith('{"event"')]

    def event(self, kind: str, timeout: float = 90.0, **match: Any) -> dict[str, Any]:
        return wait_until(lambda: next((e for e in self.events if e["event"] == kind
                                        and all(e.get(k) == v for k, v in match.items())), None),
                          timeout, 0.1, message=f"launcher event {kind} {match}; output so far: {self.lines}")

    def wait(self, timeout: float = 60.0) -> int:
        code = self.proc.wait(timeout)
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        self._pump.join(5)
        return code

    def started_pids(self) -> list[int]:
        return [e["pid"] for e in self.events if e["event"] == "started"]


@contextmanager
def launcher(run_dir: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Launcher]:
    proc = Launcher(run_dir, *args, env=env)
    try:
        yield proc
    finally:
        if proc.proc.poll() is None:
            proc.proc.kill()  # a failed test: PDEATHSIG stops its children
            proc.proc.wait()


def gone(pid: int) -> bool:
    """No such process, or a zombie nobody reaped (not running either way)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def assert_all_gone(pids: list[int]) -> None:
    assert pids
    wait_until(lambda: all(gone(p) for p in pids), 10, message=f"every started PID gone: {pids}")


def test_help_lists_every_option_and_its_environment_variable() -> None:
    out = subprocess.run([sys.executable, str(LAUNCH), "--help"], capture_output=True, text=True, check=True,
                         env={**os.environ, "COLUMNS": "400"}).stdout
    options = ["--ports", "--zmq-port", "--sidecar-port", "--api-port", "--ui-port", "--ui-metrics-port",
               "--prometheus-port", "--host", "--feed", "--dev", "--no-prometheus", "--restart-on-failure",
               "--run-dir"]
    # One entry per option (argparse wraps them over lines), whitespace collapsed.
    blocks = re.split(r"\n(?=  -)", out.split("options:", 1)[1])
    entries = [" ".join(block.split()) for block in blocks if block.strip()]
    lines = {e.split()[0].rstrip(","): e for e in entries}
    assert sorted(lines) == sorted(["-h", *options])
    for option, line in lines.items():
        if option != "-h":
            assert "[env: " in line, f"{option}: {line}"
    assert "[env: SIDECAR_PORT]" in lines["--sidecar-port"]
    assert "[env: WEBAPP_PORT]" in lines["--api-port"]
    assert "[env: SIDECAR_HOST, WEBAPP_HOST]" in lines["--host"]


def test_bad_value_is_the_binaries_clean_error_and_nothing_starts(tmp_path: Path) -> None:
    env = {"SIDECAR_PORT": "abc"}
    with launcher(tmp_path, "--ports", "auto", env=env) as run:
        assert run.wait() == 2
    # The sidecar itself says the same about the same value.
    own = subprocess.run([str(BIN / "metrics-sidecar")], capture_output=True, text=True, timeout=30,
                         env={**os.environ, **env})
    assert own.returncode == 2
    assert run.stderr == "launch: " + own.stderr
    assert run.stderr.startswith("launch: metrics-sidecar: invalid configuration: SIDECAR_PORT='abc': ")
    assert "Traceback" not in run.stderr
    assert run.started_pids() == []

    with launcher(tmp_path, "--ports", "auto", env={"WEBAPP_MAX_QTY": "-1"}) as run:
        assert run.wait() == 2
    assert run.stderr.startswith("launch: trading-app: invalid configuration: WEBAPP_MAX_QTY='-1': ")
    assert run.started_pids() == []


def test_busy_port_is_refused_naming_the_port_and_the_process(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", "import socket, sys, time\n"
                               "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
                               "print(s.getsockname()[1], flush=True); time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        port = int(holder.stdout.readline())
        with launcher(tmp_path, "--ports", "auto", "--api-port", str(port)) as run:
            assert run.wait() == 2
        assert run.stderr.startswith(f"launch: port {port} (trading-app API) on 127.0.0.1 is already in use "
                                     f"by pid {holder.pid} ({sys.executable} -c import socket")
        assert "(--api-port or WEBAPP_PORT, or --ports auto)" in run.stderr
        assert run.started_pids() == []
        assert holder.poll() is None  # a stranger's process is never touched
    finally:
        holder.kill()
        holder.wait()


def fake_prometheus(directory: Path) -> dict[str, str]:
    """A ``prometheus`` first on PATH that fails at start: the last step fails."""
    directory.mkdir()
    script = directory / "prometheus"
    script.write_text("#!/bin/sh\necho 'fake prometheus: refusing to start' >&2\nexit 3\n")
    script.chmod(0o755)
    return {"PATH": f"{directory}{os.pathsep}{os.environ['PATH']}"}


def test_a_failing_later_step_stops_everything_started_and_names_step_port_and_log(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with launcher(run_dir, "--ports", "auto", env=fake_prometheus(tmp_path / "bin")) as run:
        assert run.wait(150) == 1
    started = {e["name"]: e for e in run.events if e["event"] == "started"}
    assert list(started) == ["metrics-sidecar", "trading-app-api", "trading-app-ui", "prometheus"]
    prom = started["prometheus"]
    log = run_dir / "prometheus.log"
    assert prom["log"] == str(log)
    assert run.stderr.startswith(f"launch: step 'prometheus' failed: exited with code 3 before answering on port "
                                 f"{prom['port']} (port {prom['port']}, log {log})\n")
    assert "    fake prometheus: refusing to start" in run.stderr
    assert "ready" not in [e["event"] for e in run.events]
    assert_all_gone(run.started_pids())


def test_a_child_killed_with_9_is_reported_with_its_log_and_everything_stops(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with launcher(run_dir, "--ports", "auto", "--no-prometheus") as run:
        ready = run.event("ready")
        assert "  Prometheus            not started (--no-prometheus)" in run.lines
        api = ready["pids"]["trading-app-api"]
        os.kill(api, signal.SIGKILL)
        assert run.wait() == 1
    assert run.event("exited", name="trading-app-api") == {
        "event": "exited", "name": "trading-app-api", "pid": api, "returncode": -9}
    log = run_dir / "trading-app-api.log"
    report = next(line for line in run.lines if line.startswith("launch: trading-app-api"))
    assert report == f"launch: trading-app-api (pid {api}) killed by SIGKILL; last lines of {log}:"
    # Then the tail of that log (its last 15 lines), indented, exactly.
    tail = log.read_text().splitlines()[-15:]
    at = run.lines.index(report)
    assert tail and run.lines[at + 1:at + 1 + len(tail)] == [f"    {line}" for line in tail]
    assert "launch: trading-app-api died; stopping everything the launcher started" in run.stderr
    assert_all_gone(run.started_pids())


def test_restart_on_failure_restarts_the_sidecar_and_sigterm_stops_every_child(tmp_path: Path) -> None:
    # The environment names a port, the flag (--ports auto) wins and says so.
    env = {"SIDECAR_PORT": "1"}
    with launcher(tmp_path / "run", "--ports", "auto", "--no-prometheus", "--restart-on-failure", env=env) as run:
        ready = run.event("ready")
        sidecar_port = int(ready["sidecar"].rsplit(":", 1)[1])
        assert f"launch: --ports auto wins: sidecar port {sidecar_port} instead of SIDECAR_PORT=1" in run.lines
        first = ready["pids"]["metrics-sidecar"]
        assert httpx.get(ready["sidecar"] + "/health").json()["pid"] == first
        assert httpx.get(ready["api"] + "/health").json()["pid"] == ready["pids"]["trading-app-api"]

        os.kill(first, signal.SIGKILL)
        assert run.event("exited", name="metrics-sidecar")["returncode"] == -9
        second = run.event("restarted", name="metrics-sidecar")["pid"]
        assert second != first
        # The restarted sidecar is what answers, on the same port, and the API reconnects to it.
        assert httpx.get(ready["sidecar"] + "/health").json()["pid"] == second
        wait_until(lambda: httpx.get(ready["api"] + "/health").json()["sidecar_connected"], 20,
                   message="API reconnected to the restarted sidecar")
        pids = [*ready["pids"].values(), second]
        run.proc.send_signal(signal.SIGTERM)
        assert run.wait() == 0
    assert run.event("stopped")["pids"] == [ready["pids"]["trading-app-api"], ready["pids"]["trading-app-ui"],
                                            second]
    assert_all_gone(pids)



STRANGER = """
import http.server, json, os
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "pid": os.getpid()}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args): pass
server = http.server.HTTPServer(("127.0.0.1", 0), Health)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def test_a_strangers_health_answer_is_not_taken_for_the_started_process(tmp_path: Path) -> None:
    """The health check reads /health's pid: another process answering on the port
    (here a stranger's server, while the started step never binds) fails the step."""
    from telemetry_devtools.launcher.children import Step, StepFailed, Supervisor

    stranger = subprocess.Popen([sys.executable, "-c", STRANGER], stdout=subprocess.PIPE, text=True)
    try:
        assert stranger.stdout is not None
        port = int(stranger.stdout.readline())
        said: list[str] = []
        sup = Supervisor(tmp_path, dict(os.environ), REPO, said.append)
        step = Step("metrics-sidecar", [sys.executable, "-c", "import time; time.sleep(120)"], port,
                    f"http://127.0.0.1:{port}/health", 3)
        with pytest.raises(StepFailed) as failure:
            sup.start(step)
        started = json.loads(said[0])["pid"]
        assert str(failure.value).startswith(
            f"step 'metrics-sidecar' failed: no answer from http://127.0.0.1:{port}/health within 3 s; "
            f"pid {stranger.pid}, not the one started, answers there (port {port}, log {tmp_path}/metrics-sidecar.log)")
        sup.stop_all()
        assert_all_gone([started])
        assert stranger.poll() is None  # never touched
    finally:
        stranger.kill()
        stranger.wait()


def test_reliable_mode_without_a_fixed_router_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    """In reliable mode the app publishes to SIDECAR_RELIABLE_BIND (the browser test
    test_reliable_ui.py runs that loop); the launcher must know that port."""
    for bind in ("", "tcp://127.0.0.1:0"):
        with launcher(tmp_path, "--ports", "auto",
                      env={"WEBAPP_DELIVERY": "reliable", "SIDECAR_RELIABLE_BIND": bind,
                           "SIDECAR_STATE_DIR": str(tmp_path / "state")}) as run:
            assert run.wait() == 2
        assert run.stderr == (f"launch: WEBAPP_DELIVERY=reliable needs SIDECAR_RELIABLE_BIND=tcp://HOST:PORT with "
                              f"a fixed port (got {bind!r}): the app publishes there\n")
        assert run.started_pids() == []


def test_a_bad_value_in_dot_env_is_the_same_clean_error(tmp_path: Path) -> None:
    """The launcher reads <repository>/.env as the programs do (they run there)."""
    shutil.copytree(REPO / "scripts", tmp_path / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / ".env").write_text("WEBAPP_PORT=eighty\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIDECAR_", "WEBAPP_"))}
    run = subprocess.run([sys.executable, str(tmp_path / "scripts" / "launch.py"), "--ports", "auto"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 2
    assert run.stderr.startswith("launch: trading-app: invalid configuration: WEBAPP_PORT='eighty': ")
    assert "Traceback" not in run.stderr and '"started"' not in run.stdout


def test_ctrl_c_stops_every_child(tmp_path: Path) -> None:
    with launcher(tmp_path / "run", "--ports", "auto", "--no-prometheus") as run:
        ready = run.event("ready")
        run.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert run.wait() == 0
    assert "launch: stopping every process it started" in run.lines
    assert sorted(run.event("stopped")["pids"]) == sorted(ready["pids"].values())
    assert_all_gone(list(ready["pids"].values()))


def test_the_launchers_prometheus_runs_with_exemplar_storage_and_keeps_classic_histograms(tmp_path: Path) -> None:
    """The one-command loop's real Prometheus, asked which feature flags it runs with."""
    assert shutil.which("prometheus"), "prometheus is installed on every machine the tests run on"
    with launcher(tmp_path / "run", "--ports", "auto") as run:
        ready = run.event("ready")
        flags = httpx.get(f"{ready['prometheus']}/api/v1/status/flags", timeout=10).json()
        run.proc.send_signal(signal.SIGINT)
        assert run.wait() == 0
    assert flags["status"] == "success"
    # Not native-histograms: Prometheus 2.42 would then drop the classic buckets the dashboards read.
    assert flags["data"]["enable-feature"] == "exemplar-storage"
    assert_all_gone(list(ready["pids"].values()))


def test_flags_win_over_the_environment_and_configured_links_are_kept_with_a_note(tmp_path: Path) -> None:
    """resolve() alone (no process): what the launcher would give its children."""
    from telemetry_devtools.launcher.options import parser, resolve

    environ = {"SIDECAR_ZMQ_BIND": "tcp://127.0.0.1:6001", "SIDECAR_PORT": "8101", "WEBAPP_PORT": "8100",
               "WEBAPP_ZMQ_ADDR": "tcp://127.0.0.1:7001", "WEBAPP_FEED": "csv"}
    plan = resolve(parser("").parse_args(["--api-port", "9100", "--feed", "sim"]), environ, tmp_path / ".env")
    assert (plan.ports["zmq"], plan.ports["sidecar"], plan.ports["api"]) == (6001, 8101, 9100)
    assert plan.env["WEBAPP_PORT"] == "9100" and plan.env["WEBAPP_FEED"] == "sim"
    assert plan.env["WEBAPP_ZMQ_ADDR"] == "tcp://127.0.0.1:7001"  # configured: kept, and said
    assert plan.notes == [
        "--api-port wins: api port 9100 instead of WEBAPP_PORT=8100",
        "--feed wins: sim instead of WEBAPP_FEED=csv",
        "WEBAPP_ZMQ_ADDR=tcp://127.0.0.1:7001 kept from the configuration; the launched service is at "
        "tcp://127.0.0.1:6001",
    ]
    # A flag that moves the ZeroMQ port also moves the app's link to it, and says so.
    plan = resolve(parser("").parse_args(["--zmq-port", "6500"]), environ, tmp_path / ".env")
    assert plan.env["SIDECAR_ZMQ_BIND"] == plan.env["WEBAPP_ZMQ_ADDR"] == "tcp://127.0.0.1:6500"
    assert plan.notes == ["--zmq-port wins: zmq port 6500 instead of SIDECAR_ZMQ_BIND=tcp://127.0.0.1:6001",
                          "--zmq-port wins: WEBAPP_ZMQ_ADDR=tcp://127.0.0.1:6500 instead of tcp://127.0.0.1:7001"]


def test_ui_metrics_port_0_stays_off_and_a_split_host_is_said(tmp_path: Path) -> None:
    from telemetry_devtools.launcher.options import parser, resolve

    environ = {"WEBAPP_UI_METRICS_PORT": "0", "WEBAPP_HOST": "0.0.0.0"}
    plan = resolve(parser("").parse_args([]), environ, tmp_path / ".env")
    assert plan.ports["ui_metrics"] == 0 and plan.env["WEBAPP_UI_METRICS_PORT"] == "0"  # 0 = the UI's /metrics off
    assert plan.env["WEBAPP_HOST"] == plan.env["SIDECAR_HOST"] == "127.0.0.1"
    assert plan.notes == ["every listener binds to 127.0.0.1 (SIDECAR_HOST), not WEBAPP_HOST=0.0.0.0; "
                          "use --host to choose"]
