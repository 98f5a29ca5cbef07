#!/usr/bin/env python3
"""Run the whole loop on this machine, no Docker: metrics-sidecar first (so no
early click is lost), then the trading-app API and UI, then a local Prometheus
scraping all three every second and loading the project's alert rules
(prometheus/rules), when the ``prometheus`` binary is installed.

    python scripts/launch.py                       # configured ports (default 5555/8001/8000/8501/8502/9090)
    python scripts/launch.py --ports auto          # OS-chosen free ports (tests)
    python scripts/launch.py --dev                 # uvicorn --reload + Streamlit runOnSave
    python scripts/launch.py --feed sim            # also run the simulated market feed
    python scripts/launch.py --restart-on-failure  # restart metrics-sidecar when it dies

Settings come from the environment and .env exactly as the programs read them;
a flag wins over a variable and says so. Every port is checked before anything
starts. The launcher owns what it starts: a failing step stops everything
(naming the step, its port and its log), a child's death is reported with the
tail of its log, and Ctrl-C / SIGTERM stops every child.

Prints the URLs, then one JSON line ``{"event": "ready", ...}`` for programs
(and JSON lines ``started`` / ``exited`` / ``restarted`` per child).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from telemetry_devtools import promconf
from telemetry_devtools.launcher.children import Step, StepFailed, Supervisor
from telemetry_devtools.launcher.options import PORTS, LaunchError, Plan, parser, resolve
from telemetry_devtools.launcher.ports import port_taken, who_listens

REPO = Path(__file__).resolve().parent.parent  # this script's repository: its .env, the programs' cwd
BIN = Path(sys.executable).parent
MAX_RESTARTS = 5
# Exemplars on the latency panels. Not native-histograms: with it Prometheus 2.42 stores
# only the native histogram of hop_latency_seconds and drops its classic buckets, which
# every dashboard panel and recording rule reads (docs/metrics.md).
PROMETHEUS_FEATURES = "exemplar-storage"


class Interrupted(BaseException):
    """SIGTERM / SIGINT: leave whatever is running, stop every child."""


def say(text: str) -> None:
    print(text, flush=True)


def check_ports(plan: Plan, with_prometheus: bool) -> None:
    for key, flag, var, what in PORTS:
        if key == "prometheus" and not with_prometheus:
            continue
        port = plan.ports[key]
        if port and port_taken(plan.host, port):
            how = f"{flag} or {var}" if var else flag
            raise LaunchError(f"port {port} ({what}) on {plan.host} is already in use {who_listens(port)}; "
                              f"stop that process or choose another port ({how}, or --ports auto)")


def steps(plan: Plan, dev: bool, run_dir: Path) -> list[Step]:
    uvicorn = str(BIN / "uvicorn")
    host = plan.host
    if dev:
        sidecar_cmd = [uvicorn, "metrics_sidecar.http_api:create_app_from_env", "--factory", "--host", host,
                       "--port", str(plan.ports["sidecar"]), "--reload",
                       "--reload-dir", str(REPO / "metrics-sidecar" / "src")]
        api_cmd = [uvicorn, "trading_app.api:create_app", "--factory", "--host", host,
                   "--port", str(plan.ports["api"]), "--reload", "--reload-dir", str(REPO / "trading-app" / "src")]
    else:
        sidecar_cmd, api_cmd = [str(BIN / "metrics-sidecar")], [str(BIN / "trading-app-api")]
    # Default watcher (watchdog): it also watches the page modules of trading_app/ui/ (app.py's folder).
    ui_cmd = [str(BIN / "trading-app-ui"), *(["--server.runOnSave", "true"] if dev else [])]
    out = [Step("metrics-sidecar", sidecar_cmd, plan.ports["sidecar"], f"{plan.url('sidecar')}/health", 30),
           Step("trading-app-api", api_cmd, plan.ports["api"], f"{plan.url('api')}/health", 30),
           Step("trading-app-ui", ui_cmd, plan.ports["ui"], f"{plan.url('ui')}/_stcore/health", 60)]
    if plan.prometheus_bin:
        config = run_dir / "prometheus.yml"
        targets = {"metrics-sidecar": (f"{host}:{plan.ports['sidecar']}", "/metrics/"),
                   "trading-app-api": (f"{host}:{plan.ports['api']}", "/metrics")}
        if plan.ports["ui_metrics"]:  # WEBAPP_UI_METRICS_PORT=0: the UI serves no /metrics
            targets["trading-app-ui"] = (f"{host}:{plan.ports['ui_metrics']}", "/metrics")
        config.write_text(promconf.render(targets))
        out.append(Step("prometheus", [plan.prometheus_bin, f"--config.file={config}",
                                       f"--storage.tsdb.path={run_dir / 'prometheus-data'}",
                                       f"--web.listen-address={host}:{plan.ports['prometheus']}",
                                       f"--enable-feature={PROMETHEUS_FEATURES}"],
                        plan.ports["prometheus"], f"{plan.url('prometheus')}/-/ready", 30))
    return out


def announce(plan: Plan, sup: Supervisor, dev: bool, run_dir: Path) -> None:
    ui, api, sidecar, prom = (plan.url(k) for k in ("ui", "api", "sidecar", "prometheus"))
    say(f"""
trading-telemetry is running{' (dev: hot reload)' if dev else ''}:
  UI (click Buy/Sell)   {ui}
  trading-app API       {api}/docs     metrics: {api}/metrics
  metrics-sidecar       {sidecar}/metrics/   events: {sidecar}/events
  Prometheus            {prom + '/graph' if plan.prometheus_bin else plan.prometheus_note}
  ZeroMQ                {plan.zmq_addr}
  logs                  {run_dir}/*.log
Ctrl-C stops everything.""")
    ui_metrics = f"{plan.url('ui_metrics')}/metrics" if plan.ports["ui_metrics"] else None
    say(json.dumps({
        "event": "ready", "ui": ui, "ui_metrics": ui_metrics, "api": api,
        "sidecar": sidecar, "zmq": plan.zmq_addr, "prometheus": prom if plan.prometheus_bin else None,
        "pids": {c.name: c.proc.pid for c in sup.children}, "run_dir": str(run_dir),
    }))


def supervise(sup: Supervisor, restart_sidecar: bool) -> None:
    """Until a signal: report every death; restart the sidecar when asked; any other
    death stops everything (the API and UI are the product)."""
    restarts = 0
    while True:
        for child in sup.newly_dead():
            if child.name != "metrics-sidecar":
                raise StepFailed(f"{child.name} died; stopping everything the launcher started")
            if restart_sidecar and restarts < MAX_RESTARTS:
                restarts += 1
                say(f"launch: restarting metrics-sidecar ({restarts}/{MAX_RESTARTS})")
                sup.restart(child)
            elif restart_sidecar:
                raise StepFailed(f"metrics-sidecar died {restarts + 1} times; giving up")
            else:
                say("launch: the API and UI keep running and count what they cannot send; "
                    "restart the loop, or run with --restart-on-failure")
        time.sleep(0.2)


def main() -> int:
    args = parser(__doc__ or "").parse_args()
    try:
        plan = resolve(args, dict(os.environ), REPO / ".env")
        for note in plan.notes:
            say(f"launch: {note}")
        check_ports(plan, plan.prometheus_bin is not None)
    except LaunchError as exc:
        print(f"launch: {exc}", file=sys.stderr, flush=True)
        return 2
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if args.dev:
        # Hot reload must run (and watch) this checkout's sources, even when the venv
        # holds a regular install or an editable install of another checkout.
        sources = [str(REPO / "metrics-sidecar" / "src"), str(REPO / "trading-app" / "src")]
        plan.env["PYTHONPATH"] = ":".join([*sources, *filter(None, [plan.env.get("PYTHONPATH")])])
    sup = Supervisor(run_dir, plan.env, REPO, say)

    def interrupt(*_: object) -> None:
        raise Interrupted

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    code = 0
    try:
        for step in steps(plan, args.dev, run_dir):
            sup.start(step)
        announce(plan, sup, args.dev, run_dir)
        supervise(sup, args.restart_on_failure)
    except Interrupted:
        say("launch: stopping every process it started")
    except StepFailed as exc:
        print(f"launch: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sup.stop_all()
        sup.event(event="stopped", pids=[c.proc.pid for c in sup.children])
    return code


if __name__ == "__main__":
    sys.exit(main())
