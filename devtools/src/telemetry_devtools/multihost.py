"""Three simulated hosts on this machine (network namespaces, netns.py):
hosts a and b each run trading-app-api, metrics-sidecar and a Prometheus agent
(prometheus/agent.yml, host label a/b); host c runs the central Prometheus
(prometheus/global.yml) that receives their remote_write and evaluates the rules.

    sudo .venv/bin/python scripts/multihost.py up     # namespaces + 7 processes
    sudo ip netns exec mh-a curl -s -X POST localhost:8000/trade/buy -H 'content-type: application/json' -d '{"qty": 1}'
    sudo ip netns exec mh-c curl -s localhost:9090/api/v1/query --data-urlencode 'query=host_side:trades:sum'
    sudo .venv/bin/python scripts/multihost.py down   # stops them, removes the namespaces

Every service keeps its default loopback port inside its own namespace; only
c's receiver (0.0.0.0:9090) is reachable over the links. tests/e2e/test_multihost.py
runs the same ``plan()``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from telemetry_devtools import REPO, netns
from telemetry_devtools.polling import wait_until

BIN = Path(sys.executable).parent
WORKDIR = REPO / ".run" / "multihost"
SCRIPT = REPO / "scripts" / "multihost.py"  # the command line around main()
# The programs' own defaults (tests/infra/test_kubernetes.py checks them against
# the settings objects): nothing on a host needs a port setting.
SIDECAR_PORT, SIDECAR_ZMQ, SIDECAR_RELIABLE = 8001, "tcp://127.0.0.1:5555", "tcp://127.0.0.1:5556"
API_PORT, AGENT_PORT, CENTRAL_PORT = 8000, 9095, 9090


@dataclass
class Proc:
    name: str  # "<host>-<service>"
    ns: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    ready_url: str = ""  # inside ns; 200 once it serves

    @property
    def command(self) -> list[str]:
        return [*netns.exec_prefix(self.ns), *self.argv]


def sidecar(topo: netns.Topology, host: str, workdir: Path, env: dict[str, str] | None = None) -> Proc:
    return Proc(f"{host}-sidecar", topo.ns(host), [str(BIN / "metrics-sidecar")],
                {"SIDECAR_RELIABLE_BIND": SIDECAR_RELIABLE, "SIDECAR_STATE_DIR": str(workdir / host / "sidecar-state"),
                 **(env or {})}, f"http://127.0.0.1:{SIDECAR_PORT}/health")


def api(topo: netns.Topology, host: str, workdir: Path, env: dict[str, str] | None = None) -> Proc:
    return Proc(f"{host}-api", topo.ns(host), [str(BIN / "trading-app-api")],
                {"WEBAPP_OUTBOX_DIR": str(workdir / host / "outbox"), **(env or {})},
                f"http://127.0.0.1:{API_PORT}/health")


def agent(topo: netns.Topology, host: str, workdir: Path, config: Path = REPO / "prometheus" / "agent.yml") -> Proc:
    return Proc(f"{host}-agent", topo.ns(host),
                ["prometheus", "--enable-feature=agent,expand-external-labels", f"--config.file={config}",
                 f"--storage.agent.path={workdir / host / 'agent'}", f"--web.listen-address=127.0.0.1:{AGENT_PORT}"],
                {"TELEMETRY_HOST": host}, f"http://127.0.0.1:{AGENT_PORT}/-/ready")


def central(topo: netns.Topology, workdir: Path, config: Path = REPO / "prometheus" / "global.yml") -> Proc:
    return Proc(f"{topo.central}-central", topo.ns(topo.central),
                ["prometheus", f"--config.file={config}", "--web.enable-remote-write-receiver",
                 f"--storage.tsdb.path={workdir / topo.central / 'tsdb'}",
                 f"--web.listen-address=0.0.0.0:{CENTRAL_PORT}"],
                {}, f"http://127.0.0.1:{CENTRAL_PORT}/-/ready")


def plan(topo: netns.Topology, workdir: Path) -> list[Proc]:
    """Every process, in start order (a sidecar before its API; the central
    Prometheus before the agents, so their first writes land)."""
    procs = [central(topo, workdir)]
    for host in topo.hosts:
        procs += [sidecar(topo, host, workdir), api(topo, host, workdir), agent(topo, host, workdir)]
    return procs


def http_ok(url: str) -> bool:
    import httpx

    return httpx.get(url, timeout=2).status_code == 200


def wait_ready(proc: Proc, popen: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    inside = netns.InNamespace(proc.ns)
    try:
        wait_until(lambda: popen.poll() is None and inside.call(http_ok, proc.ready_url), timeout, 0.1,
                   f"{proc.name} ready at {proc.ready_url}")
    finally:
        inside.close()


def cmd_up(topo: netns.Topology, workdir: Path) -> int:
    netns.up(topo)
    workdir.mkdir(parents=True, exist_ok=True)
    pids = workdir / "pids"
    started = False
    try:
        for proc in plan(topo, workdir):
            (workdir / proc.name.split("-")[0]).mkdir(parents=True, exist_ok=True)
            log = open(workdir / f"{proc.name}.log", "wb")  # noqa: SIM115 - the process keeps it
            popen = subprocess.Popen(proc.command, env={**os.environ, **proc.env}, stdout=log, stderr=log,
                                     cwd=workdir, start_new_session=True)
            with pids.open("a") as f:
                f.write(f"{popen.pid} {proc.name}\n")
            wait_ready(proc, popen)
            print(f"{proc.name:<12} pid {popen.pid:<7} {proc.ns}  {proc.ready_url}")
        started = True
    finally:
        if not started:  # whatever failed (or Ctrl-C): leave nothing behind
            print(f"up failed; see the logs in {workdir}", file=sys.stderr)
            cmd_down(topo, workdir)
    print(f"logs in {workdir}; stop with: {sys.executable} {SCRIPT} down")
    return 0


def cmd_down(topo: netns.Topology, workdir: Path) -> int:
    pids = workdir / "pids"
    entries = [line.split()[0] for line in pids.read_text().splitlines()] if pids.exists() else []
    for pid in map(int, entries):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + 10
    for pid in map(int, entries):
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    pids.unlink(missing_ok=True)
    problems = netns.down(topo)
    for problem in problems:
        print(f"could not remove {problem}", file=sys.stderr)
    return 1 if problems else 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # our child? reap it so it does not linger as a zombie
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--prefix", default="mh", help="namespace/interface name prefix (default mh)")
    parser.add_argument("--workdir", type=Path, default=WORKDIR, help="logs, pids, WALs, state")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    topo = netns.Topology(prefix=args.prefix)
    return cmd_up(topo, args.workdir) if args.action == "up" else cmd_down(topo, args.workdir)


if __name__ == "__main__":
    sys.exit(main())
